#!/usr/bin/env bash
# Builds the Debian 12 guest of run.py from the machine's apt sources:
#   OUT/rootfs.img    ext4 root filesystem with systemd, udev, man-db and
#                     Debian's qemu-guest-agent, which the qga .deb then
#                     replaces, installed by `dpkg -i` (its Conflicts and
#                     Replaces; its own maintainer scripts; no unit, rule or
#                     link is made by hand)
#   OUT/vmlinuz       the guest kernel (linux-image-cloud-amd64)
#   OUT/initrd.plain  the initramfs as installing the package left it
#   OUT/initrd.qga    the initramfs with qga's hook enabled (QGA_INITRAMFS=yes,
#                     update-initramfs -u in the image)
# A package that depends on qemu-guest-agent, qga-test-needs-agent, is
# installed by dpkg after qga: that works only if qga provides it. dpkg's
# output is kept in OUT/dpkg.log.
# Usage: build-rootfs.sh DEB OUT. Needs root, mmdebstrap and e2fsprogs.
set -euo pipefail
deb=$(realpath "$1")
out=$(realpath -m "$2")
mkdir -p "$out"
rm -rf "$out/rootfs" "$out/rootfs.img"
needs=$out/needs-agent
rm -rf "$needs" && mkdir -p "$needs/DEBIAN"
cat >"$needs/DEBIAN/control" <<'CONTROL'
Package: qga-test-needs-agent
Version: 1
Architecture: all
Maintainer: qga-rs tests <qga-rs@localhost>
Depends: qemu-guest-agent
Description: test package that wants a guest agent
 Installed by the VM test to show that qga provides qemu-guest-agent.
CONTROL
dpkg-deb --root-owner-group --build "$needs" "$out/needs-agent.deb" >/dev/null
export QGA_DEB=$deb QGA_OUT=$out
# Hooks run on the host with "$1" = the root directory; `chroot "$1"` runs
# inside it (mmdebstrap mounts /proc, /sys and /dev there).
mmdebstrap --quiet --variant=minbase \
    --include=systemd,systemd-sysv,udev,linux-image-cloud-amd64,e2fsprogs,man-db,qemu-guest-agent \
    --customize-hook='cp "$QGA_DEB" "$1/tmp/qga.deb"' \
    --customize-hook='chroot "$1" dpkg -i /tmp/qga.deb </dev/null >"$QGA_OUT/dpkg.log" 2>&1 \
        || { cat "$QGA_OUT/dpkg.log"; exit 1; }' \
    --customize-hook='cp "$QGA_OUT/needs-agent.deb" "$1/tmp/"' \
    --customize-hook='chroot "$1" dpkg -i /tmp/needs-agent.deb' \
    --customize-hook='rm "$1/tmp/qga.deb" "$1/tmp/needs-agent.deb"' \
    --customize-hook='cp "$1"/boot/vmlinuz-* "$QGA_OUT/vmlinuz"' \
    --customize-hook='cp "$1"/boot/initrd.img-* "$QGA_OUT/initrd.plain"' \
    --customize-hook='chroot "$1" sed -i "s/^QGA_INITRAMFS=.*/QGA_INITRAMFS=yes/" /etc/default/qga' \
    --customize-hook='chroot "$1" update-initramfs -u' \
    --customize-hook='cp "$1"/boot/initrd.img-* "$QGA_OUT/initrd.qga"' \
    --customize-hook='echo "/dev/vda / ext4 defaults 0 1" >"$1/etc/fstab"' \
    --customize-hook='echo qga-deb >"$1/etc/hostname"' \
    bookworm "$out/rootfs"
cat "$out/dpkg.log"
mke2fs -q -t ext4 -d "$out/rootfs" -F "$out/rootfs.img" 1200M
rm -rf "$out/rootfs"
ls -l "$out/rootfs.img" "$out/vmlinuz" "$out/initrd.plain" "$out/initrd.qga"
