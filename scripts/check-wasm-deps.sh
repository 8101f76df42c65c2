#!/usr/bin/env bash
#! Fails if the browser (WASM) crate's dependency tree reaches server-only code: Docker,
#! SSH, SQLite, or tokio's networking. The boundary is a property of the dependency graph,
#! so it is checked on the graph, not by reading imports.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(cargo tree -p frontend --target wasm32-unknown-unknown -e normal --prefix none --format '{p}')
forbidden='^(bollard|russh|rusqlite|libsqlite3-sys|sqlx|mio|socket2|hyper|axum|captain-engine) v'
if found=$(grep -E "$forbidden" <<<"$tree" | sort -u) && [ -n "$found" ]; then
  echo "the WASM crate depends on server-only crates:" >&2
  echo "$found" >&2
  exit 1
fi
if grep -q '^tokio v' <<<"$tree"; then
  if cargo tree -p frontend --target wasm32-unknown-unknown -e features -i tokio 2>/dev/null | grep -q 'tokio feature "net"'; then
    echo "the WASM crate pulls in tokio with networking" >&2
    exit 1
  fi
fi
echo "WASM dependency tree is clean ($(wc -l <<<"$tree") crates)"
