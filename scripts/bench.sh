#!/usr/bin/env bash
#! Prints Captain's figures: cold and warm release build times, the release WASM/JS/CSS
#! sizes (raw and gzip), the docker-kill-to-websocket latency (median of 20), and wrk
#! through Captain's proxy vs nginx vs straight to one instance, and the cluster timings
#! (join over SSH split into its phases; node death to Down and to replicas back), and
#! builds from source (log line to websocket latency; Captain vs `docker build`).
#! Figures, not pass/fail: machines are noisy, so compare runs on the same machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null

# A copy of the sources in its own folder gives a truly cold build without touching
# this checkout's target/ (which the tests share).
copy=/tmp/captain-bench
rm -rf "$copy" && mkdir -p "$copy"
git ls-files -z | xargs -0 -I{} cp --parents {} "$copy"
ln -s "$PWD/node_modules" "$copy/node_modules"

cd "$copy"
start=$(date +%s.%N)
cargo leptos build --release >/tmp/captain-bench-cold.log 2>&1
cold=$(echo "$(date +%s.%N) - $start" | bc)
touch app/src/pages/nodes.rs
start=$(date +%s.%N)
cargo leptos build --release >/tmp/captain-bench-warm.log 2>&1
warm=$(echo "$(date +%s.%N) - $start" | bc)
printf 'BENCH release build: cold %.0f s, warm (one UI file touched) %.0f s\n' "$cold" "$warm"

for f in target/site/pkg/captain.wasm target/site/pkg/captain.js target/site/pkg/captain.css; do
  raw=$(stat -c %s "$f")
  gz=$(gzip -9 -c "$f" | wc -c)
  printf 'BENCH %-28s raw %8d B  gzip %8d B  (%.0f%%)\n' "$(basename "$f")" "$raw" "$gz" "$(echo "100*$gz/$raw" | bc -l)"
done
cd - >/dev/null

# shellcheck source=scripts/build-env.sh
source scripts/build-env.sh
cargo test -q -p server --test bench_status_latency -- --ignored --nocapture 2>&1 | grep BENCH
cargo test -q -p server --test bench_apps -- --ignored --nocapture 2>&1 | grep BENCH
cargo test -q -p server --test bench_builds -- --ignored --nocapture 2>&1 | grep BENCH
cargo build -q --release -p captain-proxy -p captain-testapp
cargo test -q -p server --test bench_ingress -- --ignored --nocapture 2>&1 | grep BENCH
cargo test -q -p server --test bench_cluster -- --ignored --nocapture 2>&1 | grep BENCH
