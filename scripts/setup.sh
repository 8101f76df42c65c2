#!/usr/bin/env bash
#! Installs everything Captain needs to build, run and test on a Debian 12 machine.
# Idempotent: each step is skipped when the right version is already present, so a
# second run costs seconds. Nothing is downloaded from outside apt, crates.io and npm.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10
WASM_BINDGEN_VERSION=0.2.130

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

apt_packages=(docker.io chromium chromium-driver debootstrap busybox-static openssh-server
  docker-registry iproute2 pebble openssl pkg-config ca-certificates curl wrk hyperfine)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's packages start services we manage ourselves (tests run their own sshd/registry).
  systemctl disable --now ssh docker-registry 2>/dev/null || true
fi

if ! rustup target list --installed | grep -q wasm32-unknown-unknown; then
  log "rustup: adding wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  log "cargo: installing cargo-leptos $CARGO_LEPTOS_VERSION (takes ~9 min on 2 cores)"
  cargo install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION"
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  log "cargo: installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Without --locked: its lockfile names a crate version this registry lacks.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [ ! -x node_modules/.bin/tailwindcss ] || [ ! -x node_modules/.bin/wasm-opt ] || [ package.json -nt node_modules/.installed ]; then
  log "npm: installing tailwindcss and binaryen (wasm-opt)"
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.installed
fi

scripts/dockerd.sh
log "ready"
