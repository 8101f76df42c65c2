#!/usr/bin/env bash
#! Runs every check and test of Captain against the real engine, node2, a registry and
#! Chromium. Installs whatever is missing first (see scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1;34m== %s ==\033[0m\n' "$*"; }

scripts/setup.sh

# shellcheck source=scripts/build-env.sh
source scripts/build-env.sh

step "format"
cargo fmt --all --check

step "lint (server side, browser side)"
cargo clippy -p captain-types -p captain-engine -p captain-testbed -p captain-proxy -p captain-testapp -p server -p end2end --all-targets -- -D warnings
cargo clippy -p app --features ssr --all-targets -- -D warnings
cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

step "the WASM crate stays free of server-only dependencies"
scripts/check-wasm-deps.sh

# Never `cargo test --workspace`: it would build leptos with ssr and hydrate together.
step "unit and integration tests (real Docker engine, node2, sshd)"
cargo test -p captain-types
cargo test -p app --features ssr
cargo test -p captain-testbed
cargo test -p captain-engine
cargo test -p captain-proxy
cargo build -p captain-proxy -p captain-testapp # packaged into images by the ingress tests
cargo test -p server

step "browser tests (headless Chromium)"
leptos_build
cargo test -p end2end -- --ignored --test-threads=1

step "all tests passed"
