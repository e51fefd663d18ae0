#!/usr/bin/env bash
# Builds the release artifact: the smallest static agent.
#
#   std-shim/build-small.sh [--target TRIPLE]    (or QGA_TARGET=TRIPLE)
#
# TRIPLE is x86_64-unknown-linux-musl (default) or aarch64-unknown-linux-musl.
# The binary lands in target/small/TRIPLE/release/qga; its path is the last
# line printed. Uses the project's one pinned nightly (.ci/nightly-toolchain,
# with rust-src; `.ci/run setup` installs it) to rebuild std for size.
#
# std, core and alloc are always rebuilt from rust-src (-Zbuild-std), with
# the flags below, so LTO reaches into them. The levers (each one's effect
# is measured by `std-shim/size-report.sh flags`):
#   optimize-for-size  std's feature: its size-optimized algorithms
#   immediate-abort    panic strategy: a panic is one trap instruction; drops
#                      the panic machinery and std's backtrace printer
#   fmt-debug          -Zfmt-debug=none: Debug impls print nothing (the agent
#                      never writes Debug output to the wire or its log)
#   opt-z              opt-level z instead of the release profile's s
#   static-reloc       non-PIE static executable (no dynamic relocations)
#   noseparate-code    -z noseparate-code: no page padding between segments
#   unwind-tables      -Cforce-unwind-tables=no: no .eh_frame for Rust code
#                      (nothing unwinds or prints a backtrace after an
#                      immediate abort)
# (-Zlocation-detail=none saved 0 bytes on top of immediate-abort, so it is
# not used.) QGA_SMALL_OFF="lever ..." turns levers off (for the measurement table);
# QGA_SMALL_DIR overrides the target directory (default target/small).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "build-small.sh: $*" >&2; exit 1; }

TARGET=${QGA_TARGET:-x86_64-unknown-linux-musl}
while [ $# -gt 0 ]; do
    case $1 in
        --target) [ $# -ge 2 ] || die "--target needs a triple"; TARGET=$2; shift 2 ;;
        --target=*) TARGET=${1#--target=}; shift ;;
        *) die "unknown argument $1 (usage: $0 [--target TRIPLE])" ;;
    esac
done
case $TARGET in
    x86_64-unknown-linux-musl | aarch64-unknown-linux-musl) ;;
    *) die "unsupported target $TARGET" ;;
esac
NIGHTLY=${QGA_NIGHTLY:-$(cat .ci/nightly-toolchain)}
OUT_DIR=${QGA_SMALL_DIR:-target/small}
OFF=" ${QGA_SMALL_OFF:-} "
on() { case $OFF in *" $1 "*) return 1 ;; esac; }

rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1 ||
    die "toolchain $NIGHTLY missing (bash .ci/run setup installs it)"
# musl's C objects (crt1.o, libc.a, libunwind.a) come with a toolchain's
# rust-std for the target. The pinned nightly's dist has no musl rust-std
# (its manifest lists the musl targets as unavailable), so they come from the
# stable toolchain (`rustup target add TRIPLE`): C code, independent of the
# Rust version that links it.
CRT=$(env -u RUSTUP_TOOLCHAIN rustc --print sysroot)/lib/rustlib/$TARGET/lib/self-contained
[ -f "$CRT/libc.a" ] || die "$CRT/libc.a missing (rustup target add $TARGET)"

flags=(-L "native=$CRT")
std_features=
on optimize-for-size && std_features=optimize_for_size
on immediate-abort && flags+=(-Zunstable-options -Cpanic=immediate-abort)
on fmt-debug && flags+=(-Zfmt-debug=none)
on static-reloc && flags+=(-Crelocation-model=static)
on noseparate-code && flags+=(-Clink-arg=-znoseparate-code)
on unwind-tables && flags+=(-Cforce-unwind-tables=no)
opt=s
on opt-z && opt=z

RUSTFLAGS="${flags[*]}" CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt CARGO_TARGET_DIR=$OUT_DIR \
    cargo "+$NIGHTLY" build --release -p qga --target "$TARGET" \
    -Zbuild-std=std,panic_abort "-Zbuild-std-features=$std_features"
BIN=$OUT_DIR/$TARGET/release/qga
ls -l "$BIN" >&2
echo "$BIN"
