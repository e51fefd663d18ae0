#!/usr/bin/env bash
# Where the static agent's bytes go: Markdown tables for the README.
#
#   std-shim/size-report.sh [plain|small] [--target TRIPLE] [-n N]
#       per section, per crate, per std/core module and the N biggest
#       functions (default 25) of the plain release build (`cargo build
#       --release`, stable) or of the release artifact (build-small.sh)
#   std-shim/size-report.sh flags [--target TRIPLE]
#       each build-small.sh lever's effect: added one by one, and left out
#       one at a time from the full set
#
# Builds without stripping into target/size-report/ (the symbol table is
# what attributes the bytes), then measures the file as `strip` leaves it
# (the same size as cargo's `strip = true`). Needs python3 and binutils (nm,
# strip; for aarch64 also binutils-aarch64-linux-gnu's strip); installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "size-report.sh: $*" >&2; exit 1; }

MODE=plain
TARGET=x86_64-unknown-linux-musl
TOP=25
while [ $# -gt 0 ]; do
    case $1 in
        plain | small | flags) MODE=$1; shift ;;
        --target) TARGET=$2; shift 2 ;;
        -n) TOP=$2; shift 2 ;;
        *) die "unknown argument $1" ;;
    esac
done
OUT=target/size-report
case $TARGET in
    x86_64-*) STRIP=strip ;;
    aarch64-*) STRIP=aarch64-linux-gnu-strip ;;
    *) die "unsupported target $TARGET" ;;
esac
command -v "$STRIP" >/dev/null || die "$STRIP missing (binutils / binutils-aarch64-linux-gnu)"

# The size of BIN once stripped.
stripped_size() {
    "$STRIP" -o "$OUT/stripped.tmp" "$1"
    wc -c <"$OUT/stripped.tmp"
}

# "FILE LOADED": the stripped size, and the bytes of BIN's loaded sections
# (code and data without .bss). The file grows in 4 KiB steps (segments
# start on page boundaries); the loaded bytes show changes below a page.
sizes() {
    printf '%s %s' "$(stripped_size "$1")" \
        "$(size -A "$1" | awk '$1 ~ /^\./ && $1 !~ /^\.(t?bss|debug|comment|symtab|strtab|shstrtab)/ { n += $2 } END { print n }')"
}

# An unstripped plain release build; prints its path.
build_plain() {
    CARGO_PROFILE_RELEASE_STRIP=false CARGO_TARGET_DIR=$OUT/plain \
        cargo build --release -p qga --target "$TARGET" >&2
    echo "$OUT/plain/$TARGET/release/qga"
}

# An unstripped build-small.sh build with levers $1 turned off; prints its path.
build_small() {
    local dir=$OUT/small-${1// /-}
    CARGO_PROFILE_RELEASE_STRIP=false QGA_SMALL_OFF=$1 QGA_SMALL_DIR=${dir%-} \
        std-shim/build-small.sh --target "$TARGET" | tail -n 1
}

report() { # BIN TITLE
    local size
    size=$(stripped_size "$1")
    echo "### $2 ($TARGET): $size bytes stripped"
    echo
    nm -S --size-sort -C "$1" | python3 "$(dirname "$0")/size-report.py" "$TOP"
    echo '| section | bytes |'
    echo '|---|---:|'
    size -A "$1" | awk '$1 ~ /^\./ && $1 !~ /^\.(debug|comment|symtab|strtab|shstrtab)/ && $2 > 0 { printf "| `%s` | %d |\n", $1, $2 }'
}

LEVERS="optimize-for-size immediate-abort fmt-debug opt-z static-reloc noseparate-code unwind-tables"

row() { # LABEL "FILE LOADED" "FILE LOADED" (this build, the one compared with)
    local f=${2% *} l=${2#* } pf=${3% *} pl=${3#* }
    echo "| $1 | $f | $((pf - f)) | $l | $((pl - l)) |"
}

flags() {
    local base all now prev off lever added=""
    base=$(sizes "$(build_plain)")
    echo "### build-small.sh levers ($TARGET)"
    echo
    echo "File: stripped bytes (4 KiB steps); loaded: bytes of code and data sections."
    echo
    echo '| levers on (added in this order) | file | saved | loaded | saved |'
    echo '|---|---:|---:|---:|---:|'
    echo "| plain stable \`cargo build --release\` | ${base% *} | | ${base#* } | |"
    prev=$(sizes "$(build_small "$LEVERS")")
    row "none: pinned nightly, std rebuilt (-Zbuild-std), opt-level s" "$prev" "$base"
    for lever in $LEVERS; do
        added="$added $lever"
        off=$(for l in $LEVERS; do case " $added " in *" $l "*) ;; *) printf '%s ' "$l" ;; esac; done)
        now=$(sizes "$(build_small "${off% }")")
        row "+$lever" "$now" "$prev"
        prev=$now
    done
    all=$prev
    echo
    echo '| all levers but | file | it saves | loaded | it saves |'
    echo '|---|---:|---:|---:|---:|'
    for lever in $LEVERS; do
        now=$(sizes "$(build_small "$lever")")
        echo "| $lever | ${now% *} | $((${now% *} - ${all% *})) | ${now#* } | $((${now#* } - ${all#* })) |"
    done
}

mkdir -p "$OUT"
case $MODE in
    plain) report "$(build_plain)" "plain release build" ;;
    small) report "$(build_small "")" "release artifact (build-small.sh)" ;;
    flags) flags ;;
esac
rm -f "$OUT/stripped.tmp"
