#!/usr/bin/env bash
# Builds the Debian package qga_<version>_amd64.deb from the release
# artifact (std-shim/build-small.sh's static binary) with dpkg-deb, and
# prints the .deb's path on its last line.
#
#   std-shim/dist/build-deb.sh [BINARY [OUTDIR]]
#
# BINARY defaults to target/small/x86_64-unknown-linux-musl/release/qga,
# OUTDIR to target/deb. Needs only dpkg-deb, gzip and readelf. File dates
# come from SOURCE_DATE_EPOCH (default: the last commit), so the same inputs
# give the same package.
set -euo pipefail
dist=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$dist/../.." && pwd)
bin=${1:-$root/target/small/x86_64-unknown-linux-musl/release/qga}
out=${2:-$root/target/deb}
maintainer=${QGA_DEB_MAINTAINER:-qga-rs developers <qga-rs@localhost>}

die() { echo "build-deb.sh: $*" >&2; exit 1; }
[ -x "$bin" ] || die "no agent binary at $bin (run std-shim/build-small.sh)"
readelf -h "$bin" | grep -q 'Machine:.*X86-64' || die "$bin is not an x86-64 ELF binary"
if readelf -l "$bin" | grep -q 'Requesting program interpreter'; then
    die "$bin is dynamically linked; the package carries a static agent"
fi
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$root/Cargo.toml")
[ -n "$version" ] || die "no version in $root/Cargo.toml"
: "${SOURCE_DATE_EPOCH:=$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH

stage=$out/stage
rm -rf "$stage"
mkdir -p "$stage/DEBIAN"
put() { # MODE SOURCE DEST
    install -D -m "$1" "$2" "$stage/$3"
}
put 0755 "$bin" usr/sbin/qga
ln -s qga "$stage/usr/sbin/qemu-ga"
put 0644 "$dist/systemd/qga.service" lib/systemd/system/qga.service
ln -s qga.service "$stage/lib/systemd/system/qemu-guest-agent.service"
put 0644 "$dist/udev/60-qga.rules" lib/udev/rules.d/60-qga.rules
put 0755 "$dist/fsfreeze-hook" etc/qemu/fsfreeze-hook
mkdir -p "$stage/etc/qemu/fsfreeze-hook.d"
put 0644 "$dist/default-qga" etc/default/qga
for f in hooks/qga scripts/init-top/qga scripts/init-bottom/qga; do
    put 0755 "$dist/initramfs-tools/$f" "usr/share/initramfs-tools/$f"
done
for f in module-setup.sh qga-start.sh qga-stop.sh; do
    put 0755 "$dist/dracut/90qga/$f" "usr/lib/dracut/modules.d/90qga/$f"
done
man=$stage/usr/share/man/man8
mkdir -p "$man"
gzip -9n <"$dist/qga.8" >"$man/qga.8.gz"
ln -s qga.8.gz "$man/qemu-ga.8.gz"
doc=usr/share/doc/qga
put 0644 "$dist/debian/copyright" "$doc/copyright"
put 0644 "$dist/debian/lintian-overrides" usr/share/lintian/overrides/qga
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
printf 'qga (%s) unstable; urgency=medium\n\n  * Built from qga-rs %s by std-shim/dist/build-deb.sh.\n\n -- %s  %s\n' \
    "$version" "$commit" "$maintainer" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" |
    gzip -9n >"$stage/$doc/changelog.gz"
for f in qemu-ga.conf systemd/qga-unix.socket systemd/qga-unix.service; do
    put 0644 "$dist/$f" "$doc/examples/$(basename "$f")"
done
put 0755 "$dist/openrc/qga" "$doc/examples/openrc/qga"
put 0644 "$dist/openrc/qga.confd" "$doc/examples/openrc/qga.confd"

for f in postinst prerm postrm; do put 0755 "$dist/debian/$f" "DEBIAN/$f"; done
for f in triggers conffiles; do put 0644 "$dist/debian/$f" "DEBIAN/$f"; done
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|amd64|" -e "s|@SIZE@|$size|" \
    -e "s|@MAINTAINER@|$maintainer|" "$dist/debian/control.in" >"$stage/DEBIAN/control"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
    xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

deb=$out/qga_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
