#!/bin/sh
# Builds the test guest for the "proof in a real guest" harness (run.py):
#
#   OUT_DIR/initramfs.cpio.gz  busybox-static + the static qga + virtio modules
#                              + /etc files + an /init that runs the agent
#   OUT_DIR/data.img           16 MiB ext4 image, attached as virtio-blk with
#                              serial=QGATESTDISK and mounted at /mnt/data
#   OUT_DIR/scsi.img           8 MiB ext4 image for a virtio-scsi disk (the
#                              suite mounts it itself, for guest-get-fsinfo)
#   OUT_DIR/nvme.img           8 MiB blank image for an NVMe disk (SMART log)
#   OUT_DIR/rootfs/            the staging tree (kept for inspection)
#
# Usage: build-initramfs.sh OUT_DIR
#
# Environment (all optional):
#   ARCH     the guest's architecture: x86_64 (default) or aarch64
#   GUEST_ROOT  where the guest's kernel and modules are: GUEST_ROOT/boot and
#            GUEST_ROOT/lib/modules (default: / for x86_64, the workspace's
#            target/arm64-guest from fetch-arm64-guest.sh for aarch64)
#   KVER     kernel version whose modules are packed (default: the newest
#            GUEST_ROOT/boot/vmlinuz-* that has GUEST_ROOT/lib/modules/KVER)
#   QGA_BIN  the static agent to pack (default: build it with
#            `cargo build --release -p qga --target ARCH-unknown-linux-musl`)
#   BUSYBOX  a static busybox for ARCH (default: GUEST_ROOT/bin/busybox, from
#            busybox-static or busybox-static:arm64)
#   QGA_VIRTIO_SYMLINK=1  make /init create /dev/virtio-ports/org.qemu.guest_agent.0
#            itself (only for running the suite against an agent that cannot
#            resolve the port through sysfs, e.g. QEMU's qemu-ga; our qga
#            must find /dev/vportNpM on its own, so CI leaves this unset)
#
# Installs nothing. Needs: busybox-static, cpio, gzip, kmod (modprobe),
# e2fsprogs (mkfs.ext4) and the kernel's modules (linux-image-cloud-amd64;
# for aarch64 what fetch-arm64-guest.sh unpacks).
set -eu

die() { echo "build-initramfs.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUT_DIR"
OUT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)

# ---- inputs -----------------------------------------------------------------
ARCH=${ARCH:-x86_64}
case $ARCH in
    x86_64) GUEST_ROOT=${GUEST_ROOT:-/} ;;
    aarch64) GUEST_ROOT=${GUEST_ROOT:-$REPO/target/arm64-guest} ;;
    *) die "unsupported ARCH $ARCH (x86_64 or aarch64)" ;;
esac
GUEST_ROOT=${GUEST_ROOT%/}
if [ -z "${KVER:-}" ]; then
    for k in $(ls -1 "$GUEST_ROOT"/boot/vmlinuz-* 2>/dev/null | sort -V -r); do
        v=${k#"$GUEST_ROOT"/boot/vmlinuz-}
        if [ -d "$GUEST_ROOT/lib/modules/$v" ]; then KVER=$v; break; fi
    done
fi
[ -n "${KVER:-}" ] || die "no $GUEST_ROOT/boot/vmlinuz-* with lib/modules/VERSION (x86_64: apt-get install linux-image-cloud-amd64; aarch64: fetch-arm64-guest.sh)"
[ -d "$GUEST_ROOT/lib/modules/$KVER" ] || die "$GUEST_ROOT/lib/modules/$KVER missing"

BUSYBOX=${BUSYBOX:-$GUEST_ROOT/bin/busybox}
[ -x "$BUSYBOX" ] || die "$BUSYBOX missing (apt-get install busybox-static, or fetch-arm64-guest.sh)"
# The applet list: from the guest's busybox if it runs here, else from the
# host's busybox-static of the same version (Debian builds every
# architecture's busybox-static from one configuration).
APPLETS_FROM=$BUSYBOX
if ! "$BUSYBOX" --list >/dev/null 2>&1; then
    bb_version() { grep -ao 'BusyBox v[0-9][^ ]*' "$1" | head -n 1; }
    [ -x /bin/busybox ] && [ "$(bb_version /bin/busybox)" = "$(bb_version "$BUSYBOX")" ] ||
        die "$BUSYBOX does not run here and /bin/busybox is not the same version (apt-get install busybox-static)"
    APPLETS_FROM=/bin/busybox
fi

if [ -z "${QGA_BIN:-}" ]; then
    echo "build-initramfs.sh: building the static agent" >&2
    (cd "$REPO" && cargo build --release -p qga --target "$ARCH-unknown-linux-musl") >&2
    QGA_BIN=${CARGO_TARGET_DIR:-$REPO/target}/$ARCH-unknown-linux-musl/release/qga
fi
[ -x "$QGA_BIN" ] || die "agent binary $QGA_BIN missing"

for tool in cpio gzip modprobe mkfs.ext4; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/sbin/$tool" ] || [ -x "/usr/sbin/$tool" ] ||
        die "$tool missing"
done
PATH=$PATH:/sbin:/usr/sbin

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$OUT/rootfs
rm -rf "$ROOT"
mkdir -p "$ROOT"
cd "$ROOT"
mkdir -p bin sbin usr/bin usr/sbin etc proc sys dev run tmp root mnt/data \
    home/qgatest lib/modules var/lib/hwclock
ln -s ../run var/run
chmod 1777 tmp
chmod 700 root

# ---- busybox: applets as symlinks -------------------------------------------
# Left out on purpose: poweroff/halt/reboot (guest-shutdown must take the
# agent's own path: /sbin/shutdown is absent, so its reboot(2) fallback),
# init/linuxrc (our /init is PID 1). busybox has no chpasswd applet, so
# guest-set-user-password exercises the agent's own /etc/shadow writer.
cp "$BUSYBOX" bin/busybox
chmod 755 bin/busybox
"$APPLETS_FROM" --list-full | while read -r applet; do
    case ${applet##*/} in
        busybox | poweroff | halt | reboot | init | linuxrc | shutdown | chpasswd) continue ;;
    esac
    dir=$(dirname "$applet")
    mkdir -p "$dir"
    [ -e "$applet" ] || ln -s /bin/busybox "$applet"
done

# ---- the agent --------------------------------------------------------------
cp "$QGA_BIN" usr/bin/qga
chmod 755 usr/bin/qga
# A dynamically linked agent (e.g. QEMU's qemu-ga, for comparison runs) needs
# its libraries and loader; our static musl qga needs none.
if ldd "$QGA_BIN" >/dev/null 2>&1; then
    ldd "$QGA_BIN" | awk '/=> \// { print $3 } /^[[:space:]]*\// { print $1 }' | while read -r lib; do
        mkdir -p ".$(dirname "$lib")"
        cp -L "$lib" ".$lib"
    done
fi
[ "${QGA_VIRTIO_SYMLINK:-}" = 1 ] && touch etc/qga-virtio-symlink

# ---- kernel modules ---------------------------------------------------------
# Flat copies in load order; /init insmods them in the order of modules.list.
: >etc/modules.list
# nvme is built into Debian's cloud kernel (then --show-depends says
# "builtin" and nothing is copied); virtio_scsi + sd_mod drive the SCSI disk.
for m in virtio_pci virtio_console virtio_blk nvme virtio_scsi sd_mod; do
    modprobe -d "$GUEST_ROOT/" --show-depends -S "$KVER" "$m" || die "modprobe --show-depends $m failed"
done | awk '$1 == "insmod" { print $2 }' | while read -r ko; do
    name=$(basename "$ko")
    case $name in
        *.ko.xz) base=${name%.xz}; xz -dc "$ko" >"lib/modules/$base" ;;
        *.ko.zst) base=${name%.zst}; zstd -qdc "$ko" >"lib/modules/$base" ;;
        *.ko.gz) base=${name%.gz}; gzip -dc "$ko" >"lib/modules/$base" ;;
        *) base=$name; cp "$ko" "lib/modules/$base" ;;
    esac
    grep -qx "$base" etc/modules.list || echo "$base" >>etc/modules.list
done
for m in virtio_ring virtio virtio_pci virtio_console virtio_blk scsi_mod virtio_scsi sd_mod; do
    grep -qx "$m.ko" etc/modules.list || die "module $m not found for $KVER (is it built in? then drop it here)"
done

# ---- /etc -------------------------------------------------------------------
cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
qgatest:x:1000:1000:QGA test user:/home/qgatest:/bin/sh
EOF
cat >etc/group <<'EOF'
root:x:0:
qgatest:x:1000:
EOF
cat >etc/shadow <<'EOF'
root:*:19000:0:99999:7:::
qgatest:!:19000:0:99999:7:::
EOF
chmod 644 etc/passwd etc/group
chmod 600 etc/shadow
cat >etc/os-release <<'EOF'
ID=qga-vm-test
NAME="QGA VM Test"
PRETTY_NAME="QGA VM Test guest (busybox initramfs)"
VERSION="1 (test)"
VERSION_ID=1
EOF
echo qga-vm >etc/hostname
# The RTC keeps UTC (QEMU's default -rtc base=utc); busybox hwclock reads this.
printf '0.0 0 0.0\n0\nUTC\n' >etc/adjtime

cat >init <<'EOF'
#!/bin/sh
# PID 1 of the QGA test guest (generated by build-initramfs.sh).
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
mount -t devtmpfs devtmpfs /dev
exec 0</dev/console 1>/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "qga-vm: /init running at $(cut -d' ' -f1 /proc/uptime)s"
while read -r m; do
    insmod "/lib/modules/$m" || echo "qga-vm: insmod $m failed"
done </etc/modules.list
hostname qga-vm
ip link set lo up
ip addr add 127.0.0.1/8 dev lo 2>/dev/null # the kernel usually adds it itself
ip route add 192.0.2.0/24 dev lo
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mount -t ext4 /dev/vda /mnt/data || echo "qga-vm: mounting /dev/vda on /mnt/data failed"
chown -R 1000:1000 /home/qgatest
chmod 755 /home/qgatest
echo "qga-vm: ports: $(cat /sys/class/virtio-ports/*/name 2>/dev/null)"
if [ -e /etc/qga-virtio-symlink ]; then
    for p in /sys/class/virtio-ports/*; do
        if [ "$(cat "$p/name")" = org.qemu.guest_agent.0 ]; then
            mkdir -p /dev/virtio-ports
            ln -sf "/dev/${p##*/}" /dev/virtio-ports/org.qemu.guest_agent.0
        fi
    done
fi
echo "qga-vm: starting the agent at $(cut -d' ' -f1 /proc/uptime)s"
while :; do
    /usr/bin/qga -t /run -v
    echo "qga-vm: agent exited with status $?, respawning in 1s"
    sleep 1
done
EOF
chmod 755 init

# ---- pack -------------------------------------------------------------------
find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -9 >"$OUT/initramfs.cpio.gz"

# ---- the data disk ----------------------------------------------------------
rm -f "$OUT/data.img"
truncate -s 16M "$OUT/data.img"
mkfs.ext4 -F -q -L qgadata "$OUT/data.img"
rm -f "$OUT/scsi.img" "$OUT/nvme.img"
truncate -s 8M "$OUT/scsi.img" "$OUT/nvme.img"
mkfs.ext4 -F -q -L qgascsi "$OUT/scsi.img"

echo "build-initramfs.sh: $OUT/initramfs.cpio.gz ($(wc -c <"$OUT/initramfs.cpio.gz") bytes, kernel $KVER), $OUT/{data,scsi,nvme}.img" >&2
