#!/bin/sh
# Fetches the arm64 test guest's parts from Debian into DIR (default
# target/arm64-guest in the workspace), for `run.py --arch aarch64`:
#
#   DIR/boot/vmlinuz-KVER        Debian's arm64 cloud kernel
#   DIR/lib/modules/KVER/        its modules, with modules.dep (depmod -b)
#   DIR/bin/busybox              busybox-static:arm64
#
# Usage: fetch-arm64-guest.sh [DIR]
#
# Adds the arm64 architecture to dpkg and refreshes apt's lists if they
# have no arm64 packages yet; installs nothing (apt-get download, dpkg-deb -x).
# Does nothing when DIR already holds the kernel the metapackage names.
set -eu

die() { echo "fetch-arm64-guest.sh: $*" >&2; exit 1; }

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
DIR=${1:-$REPO/target/arm64-guest}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

if ! apt-cache show linux-image-cloud-arm64:arm64 >/dev/null 2>&1; then
    dpkg --add-architecture arm64
    apt-get update -qq
fi
KPKG=$(apt-cache depends linux-image-cloud-arm64:arm64 | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { sub(/:arm64$/, "", $2); print $2; exit }')
[ -n "$KPKG" ] || die "cannot resolve linux-image-cloud-arm64:arm64 to a kernel package"
KVER=${KPKG#linux-image-}
if [ -f "$DIR/boot/vmlinuz-$KVER" ] && [ -f "$DIR/lib/modules/$KVER/modules.dep" ] && [ -x "$DIR/bin/busybox" ]; then
    echo "fetch-arm64-guest.sh: $DIR has kernel $KVER" >&2
    exit 0
fi

DEBS=$(mktemp -d)
chmod 755 "$DEBS" # apt-get download writes as user _apt
trap 'rm -rf "$DEBS"' EXIT
(cd "$DEBS" && apt-get download -q "$KPKG:arm64" busybox-static:arm64) >&2
for deb in "$DEBS"/*.deb; do
    dpkg-deb -x "$deb" "$DIR"
done
[ -f "$DIR/boot/vmlinuz-$KVER" ] || die "$KPKG has no /boot/vmlinuz-$KVER"
# The package's postinst would run depmod; build-initramfs.sh needs its modules.dep.
depmod -b "$DIR" "$KVER"
echo "fetch-arm64-guest.sh: kernel $KVER and busybox in $DIR" >&2
