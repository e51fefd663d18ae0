#!/usr/bin/env bash
# Rewrites std-shim/dist/qga.8 from the --help table (std-shim/src/man.rs).
# The test man::tests::shipped_page_is_the_generated_one fails until this is run
# after a change to an option, a config key or the page's prose.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo test -q -p qga --lib man::tests::regenerate -- --ignored --exact >/dev/null
echo std-shim/dist/qga.8
