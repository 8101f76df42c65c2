#!/usr/bin/env bash
#! Installs what is missing, builds Captain (release) and serves the dashboard at
#! http://localhost:3000 against the local Docker engine. Settings come from CAPTAIN_*
#! environment variables (see `captain --help`), e.g. CAPTAIN_ADVERTISE_ADDR.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The proxy that serves apps is packaged on debian:bookworm-slim from the binary beside
# Captain's own.
scripts/base-image.sh
cargo build --release -p captain-proxy
export CAPTAIN_DATA_DIR="${CAPTAIN_DATA_DIR:-$PWD/data}"
exec cargo leptos serve --release
