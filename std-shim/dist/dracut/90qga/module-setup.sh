#!/bin/bash
# dracut module of qga (qga-rs): with QGA_INITRAMFS=yes in /etc/default/qga
# (or `dracut --add qga`), puts the static agent and the virtio-serial driver
# into the initramfs, starts it before udev and stops it before switch_root.

# shellcheck disable=SC1091
check() {
    require_binaries /usr/sbin/qga || return 1
    local QGA_INITRAMFS=no
    [ -r /etc/default/qga ] && . /etc/default/qga
    [ "$QGA_INITRAMFS" = yes ] && return 0
    # Only when asked for.
    return 255
}

depends() {
    return 0
}

installkernel() {
    instmods virtio_pci virtio_console
}

install() {
    inst_simple /usr/sbin/qga
    [ -r /etc/qemu/qemu-ga.conf ] && inst_simple /etc/qemu/qemu-ga.conf
    inst_hook pre-udev 50 "$moddir/qga-start.sh"
    inst_hook cleanup 99 "$moddir/qga-stop.sh"
}
