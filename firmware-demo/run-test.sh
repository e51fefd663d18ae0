#!/usr/bin/env bash
# Builds the firmware (release), reports its section sizes and runs the
# QGA host test against it under qemu-system-riscv64. CI entry point.
#   firmware-demo/run-test.sh            build + sizes + test
#   NO_STD_CHECK=1 firmware-demo/run-test.sh   also build qga-core for thumbv7em-none-eabihf
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

target=riscv64gc-unknown-none-elf
elf="target/$target/release/qga-firmware-demo"

need_target() {
    rustup target list --installed 2>/dev/null | grep -qx "$1" || rustup target add "$1"
}
need_target "$target"
if ! command -v qemu-system-riscv64 >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq --no-install-recommends qemu-system-misc >/dev/null
    else
        echo "qemu-system-riscv64 missing: apt-get install qemu-system-misc" >&2
        exit 1
    fi
fi

cargo build --release
# Sizes of what is loaded (.text/.rodata/.data) and what is reserved
# (.bss, .stack); debug sections are not loaded.
echo "== section sizes (bytes) =="
size -A "$elf" | awk '$1 ~ /^\.(text|rodata|data|bss|stack)$/ { printf "%-8s %6d\n", $1, $2 }'

if [ "${NO_STD_CHECK:-0}" = 1 ]; then
    need_target thumbv7em-none-eabihf
    (cd .. && cargo build -p qga-core --target thumbv7em-none-eabihf --release)
fi

python3 tests/host_test.py "$elf"
