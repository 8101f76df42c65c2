#!/usr/bin/env bash
#! Sourced by scripts: the compile-time environment cargo-leptos gives the server build.
# leptos reads LEPTOS_* at compile time, and cargo rebuilds a crate when a variable it
# read changes; exporting the same values lets `cargo test`/`clippy` reuse what
# `cargo leptos build` compiled instead of rebuilding leptos and everything above it.
export RUSTFLAGS="--cfg erase_components"
export LEPTOS_OUTPUT_NAME=captain LEPTOS_SITE_ROOT=target/site LEPTOS_SITE_PKG_DIR=pkg
export LEPTOS_SITE_ADDR=127.0.0.1:3000 LEPTOS_RELOAD_PORT=3001 LEPTOS_LIB_DIR=frontend
export LEPTOS_BIN_DIR=server LEPTOS_JS_MINIFY=false LEPTOS_HASH_FILES=false
# cargo-leptos appends its own --cfg erase_components: give it none of ours.
leptos_build() { env -u RUSTFLAGS cargo leptos build "$@"; }
