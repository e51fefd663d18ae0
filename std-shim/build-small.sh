#!/usr/bin/env bash
# Builds the smallest static agent: std rebuilt with the immediate-abort
# panic strategy (drops std's backtrace printer, ~360 KiB), opt-level z,
# non-PIE. Needs the rust-src component; uses RUSTC_BOOTSTRAP on stable.
# Output: target/small/x86_64-unknown-linux-musl/release/qga
set -euo pipefail
cd "$(dirname "$0")/.."
rustup component add rust-src >/dev/null 2>&1 || true
rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 || true
RUSTC_BOOTSTRAP=1 CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Crelocation-model=static" \
CARGO_TARGET_DIR=target/small \
  cargo build --release -p qga --target x86_64-unknown-linux-musl -Z build-std=std,panic_abort
ls -l target/small/x86_64-unknown-linux-musl/release/qga
