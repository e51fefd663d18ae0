#!/bin/sh
# dracut pre-udev hook: starts qga as a daemon that waits for its port (-r).
modprobe -q virtio_console || true
mkdir -p /run/qga-initramfs
/usr/sbin/qga -d -r -t /run/qga-initramfs -f /run/qga-initramfs/qga.pid \
    -l /run/qga-initramfs/qga.log \
    || warn "qga: the guest agent did not start in the initramfs"
