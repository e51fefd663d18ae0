#!/usr/bin/env python3
"""Proof in a real Debian 12 guest that the qga package is a drop-in for
Debian's qemu-guest-agent: build a root filesystem with mmdebstrap, install
the .deb with dpkg, boot it with the virtio-serial port and check from the
host that udev and systemd run the agent, that its audit lines reach the
unit's journal, that systemd restarts it, that guest-shutdown powers off
through systemd and that `man qga` renders; then boot the same image with the
initramfs hook enabled and a root disk that appears late, and show the agent
answering from the initramfs and systemd's agent taking over.

Python 3 standard library only; the channel client is ../run.py's. Output:
`PASS`/`FAIL`/`INFO` lines and a last line `N passed, M failed`; exit status
0 only if nothing failed. See README.md in this directory.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import run as vm  # noqa: E402  (../run.py: Agent, Qmp, Results, Timeout, ...)

REPO = vm.REPO
VM_BUDGET_S = 420  # both boots, after the build (about 100 s on an idle machine)
BOOT_TIMEOUT_S = 150
PORT_DEVICE = "dev-virtio\\x2dports-org.qemu.guest_agent.0.device"
UNIT = "qga.service"


def qemu_cmd(args, work, socks, initrd, append, disk=True):
    cmd = [args.qemu, "-machine", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "512",
           "-nographic", "-no-reboot", "-monitor", "none", "-nic", "none",
           "-kernel", os.path.join(work, "vmlinuz"), "-initrd", os.path.join(work, initrd),
           "-append", append,
           "-chardev", "file,id=con0,path=%s" % socks["serial"], "-serial", "chardev:con0",
           "-qmp", "unix:%s,server=on,wait=off" % socks["qmp"],
           "-device", "virtio-serial-pci,id=vser0",
           "-chardev", "socket,id=qga0,path=%s,server=on,wait=off" % socks["qga"],
           "-device", "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0,id=qgaport",
           # A hot-plug slot for the late root disk of the second boot.
           "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1"]
    if disk:
        cmd += ["-drive", "file=%s,format=raw,if=none,id=root0" % os.path.join(work, "rootfs.img"),
                "-device", "virtio-blk-pci,drive=root0,bus=rp1"]
    return cmd


class Guest:
    """One boot: QEMU, the agent channel, QMP, and guest-exec helpers."""

    def __init__(self, args, work, res, name, initrd, append, disk=True):
        self.res = res
        self.name = name
        self.sockdir = tempfile.mkdtemp(prefix="qga-deb-sock-")
        self.socks = {"qga": os.path.join(self.sockdir, "qga.sock"),
                      "qmp": os.path.join(self.sockdir, "qmp.sock"),
                      "serial": os.path.join(work, "serial-%s.log" % name)}
        self.transcript = open(os.path.join(work, "transcript-%s.log" % name), "w")
        cmd = qemu_cmd(args, work, self.socks, initrd, append, disk)
        self.t0 = time.monotonic()
        self.qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     stdout=open(os.path.join(work, "qemu-%s.log" % name), "wb"))
        self.agent = vm.Agent(self.socks["qga"], self.transcript)
        self.agent.connect(self.t0 + 20)
        self.qmp = vm.Qmp(self.socks["qmp"], self.t0 + 20)

    def check(self, what, ok, detail=""):
        return self.res.check("%s: %s" % (self.name, what), ok, detail)

    def wait_for_agent(self, what, timeout=BOOT_TIMEOUT_S):
        t = time.monotonic()
        synced = self.agent.sync(timeout)
        detail = ("%.1fs" % (time.monotonic() - t) if synced else
                  "no reply within %ds; console tail:\n%s" % (timeout, vm.tail(self.socks["serial"])))
        return self.check(what, synced, detail)

    def exec(self, argv, timeout=60):
        """Runs argv in the guest; returns (exitcode, stdout, stderr)."""
        pid = self.agent.cmd("guest-exec", {"path": argv[0], "arg": argv[1:],
                                            "capture-output": True})["pid"]
        deadline = time.monotonic() + timeout
        while True:
            st = self.agent.cmd("guest-exec-status", {"pid": pid})
            if st.get("exited"):
                text = lambda k: vm.unb64(st.get(k, "")).decode(errors="replace")
                return st.get("exitcode"), text("out-data"), text("err-data")
            if time.monotonic() > deadline:
                raise vm.Timeout("%r still running after %ds" % (argv, timeout))
            time.sleep(0.2)

    def sh(self, script, timeout=60):
        """stdout of `sh -c script` (stderr appended), stripped."""
        code, out, err = self.exec(["/bin/sh", "-c", script], timeout)
        return code, (out + err).strip()

    def port_events_mark(self):
        """Reads QMP events so far; later port events are counted from here."""
        self.qmp.poll_events(0.3)
        return len(self.qmp.events)

    def wait_port(self, mark, states, timeout):
        """Waits until QMP reported the agent port's guest side going through
        `states` (e.g. [False, True]: closed, then opened again) after `mark`."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            self.qmp.poll_events(0.5)
            seen = [e["data"].get("open") for e in self.qmp.events[mark:]
                    if e.get("event") == "VSERPORT_CHANGE" and e["data"].get("id") == "qgaport"]
            if seen[-len(states):] == states and len(seen) >= len(states):
                return True, seen
        return False, seen

    def show(self, prop, unit=UNIT):
        return self.sh("systemctl show -p %s --value '%s'" % (prop, unit))[1]

    def stop(self):
        if self.qemu.poll() is None:
            try:
                self.qmp.execute("quit")
                self.qemu.wait(10)
            except Exception:
                self.qemu.kill()
                self.qemu.wait(10)
        self.transcript.close()
        shutil.rmtree(self.sockdir, ignore_errors=True)


# ---------------------------------------------------------------------------
# Boot 1: the installed package under systemd
# ---------------------------------------------------------------------------

def started_by_udev_and_systemd(g):
    code, status = g.sh("dpkg-query -W -f '${Status} ${Version}' qga")
    g.check("the package is installed by dpkg", status.startswith("install ok installed"), status)
    fields = g.sh("dpkg-query -W -f '${Provides}|${Conflicts}|${Replaces}' qga")[1]
    g.check("it provides, conflicts with and replaces qemu-guest-agent",
            fields == "qemu-guest-agent|qemu-guest-agent|qemu-guest-agent", fields)
    old = g.sh("dpkg-query -W -f '${db:Status-Abbrev}' qemu-guest-agent")[1]
    # Status-Abbrev: wanted state, then the real one: c = only config files left.
    g.check("dpkg -i replaced Debian's qemu-guest-agent (removed, config kept)",
            old[1:2] == "c", old)
    code, took_over = g.sh("dpkg -S /etc/qemu/fsfreeze-hook; readlink /usr/sbin/qemu-ga "
                           "/lib/systemd/system/qemu-guest-agent.service")
    g.check("its fsfreeze hook, binary and unit names are qga's now",
            took_over.split() == ["qga:", "/etc/qemu/fsfreeze-hook", "qga", "qga.service"],
            took_over)
    needs = g.sh("dpkg-query -W -f '${Status}' qga-test-needs-agent")[1]
    g.check("a package depending on qemu-guest-agent was installed by dpkg next to it",
            needs == "install ok installed", needs)
    code, owners = g.sh("dpkg -S /lib/systemd/system/qga.service /lib/udev/rules.d/60-qga.rules "
                        "/usr/sbin/qga")
    g.check("unit, rule and binary belong to the package", code == 0 and owners.count("qga:") == 3,
            owners)
    code, extra = g.sh("find /etc/systemd /etc/udev -name '*qga*'")
    g.check("nothing hand-made in /etc (no enable links, no local units)", code == 0 and extra == "",
            extra or "none")
    enabled = g.sh("systemctl is-enabled %s" % UNIT)[1]
    g.check("the unit is not enabled (static): only udev asks for it", enabled == "static", enabled)
    wanted_by = g.show("WantedBy")
    g.check("the port's device unit wants qga.service (udev's SYSTEMD_WANTS)",
            any("-vport" in u and u.strip('"').endswith(".device") for u in wanted_by.split()),
            "WantedBy=%s" % wanted_by)
    active = g.sh("systemctl is-active %s" % UNIT)[1]
    g.check("systemctl is-active qga.service", active == "active", active)
    kind = g.show("Type")
    g.check("Type=notify reached active: READY=1 arrived", kind == "notify" and active == "active",
            "Type=%s" % kind)
    main_pid = g.show("MainPID")
    ppid = g.sh("echo $PPID")[1]
    g.check("the answering agent is the unit's main process", ppid == main_pid and main_pid != "0",
            "guest-exec parent %s, MainPID %s" % (ppid, main_pid))
    return main_pid


def audit_line_in_journal(g):
    marker = "qga-audit-%08x" % random.getrandbits(32)
    g.exec(["/bin/echo", marker])
    want = 'info: guest-exec called: "/bin/echo %s"' % marker
    journal = ""
    for _ in range(20):
        journal = g.sh("journalctl -u %s -o cat --no-pager" % UNIT)[1]
        if want in journal:
            break
        time.sleep(0.5)
    g.check("the guest-exec audit line is in the unit's journal", want in journal,
            want if want in journal else "looked for %r in:\n%s" % (want, journal[-1500:]))
    prio = g.sh("journalctl -u %s -o json --no-pager | grep -F '%s'" % (UNIT, marker))[1]
    fields = [json.loads(l) for l in prio.splitlines() if l.startswith("{")]
    got = [(f.get("PRIORITY"), f.get("SYSLOG_IDENTIFIER"), f.get("SYSLOG_FACILITY"))
           for f in fields if want in f.get("MESSAGE", "")]
    g.check("it came through syslog as user.info from qga", got == [("6", "qga", "1")], repr(got))


def restart_after_kill(g, old_pid):
    mark = g.port_events_mark()
    try:
        g.agent.cmd("guest-exec", {"path": "systemctl",
                                   "arg": ["kill", "--kill-who=main", "--signal=KILL", UNIT]},
                    timeout=10)
    except (vm.Timeout, vm.AgentError) as e:
        vm.Results.info("guest-exec of systemctl kill: %s (the agent may die first)" % e)
    t = time.monotonic()
    cycled, seen = g.wait_port(mark, [False, True], 60)
    g.check("the port was closed by the killed agent and opened by a new one (QMP VSERPORT_CHANGE)",
            cycled, "open states %r after %.1fs" % (seen, time.monotonic() - t))
    g.agent.needs_sync = False
    synced = g.agent.sync(60)
    g.check("after systemctl kill --signal=KILL the agent answers again on the same connection",
            synced, "%.1fs after the kill" % (time.monotonic() - t))
    if not synced:
        return
    new_pid = g.show("MainPID")
    restarts = g.show("NRestarts")
    active = g.sh("systemctl is-active %s" % UNIT)[1]
    g.check("systemd restarted it (Restart=always): new main process",
            new_pid not in ("0", old_pid) and restarts == "1" and active == "active",
            "MainPID %s -> %s, NRestarts=%s, %s" % (old_pid, new_pid, restarts, active))


def man_page(g):
    code, text = g.sh("MANWIDTH=80 man qga")
    ok = code == 0 and "QGA(8)" in text and "--retry-path" in text and "SERVICE MANAGERS" in text
    g.check("man qga renders", ok, text[:300] if not ok else "%d lines" % len(text.splitlines()))
    code, alias = g.sh("MANWIDTH=80 man qemu-ga")
    g.check("man qemu-ga shows the same page", code == 0 and alias == text,
            "" if alias == text else alias[:300])


PERL_PING = ('use IO::Socket::UNIX; my $s = IO::Socket::UNIX->new(Peer => "/run/qga.sock") '
             'or die "connect: $!"; print $s qq({"execute":"guest-ping","id":7}\\n); '
             'my $l = <$s>; print $l;')


def socket_activation(g):
    ex = "/usr/share/doc/qga/examples"
    code, out = g.sh("cp %s/qga-unix.socket %s/qga-unix.service /etc/systemd/system/ && "
                     "systemctl daemon-reload && systemctl start qga-unix.socket" % (ex, ex))
    if not g.check("the example socket unit starts", code == 0, out):
        return
    code, reply = g.sh("perl -e '%s'" % PERL_PING)
    g.check("a client of /run/qga.sock gets the socket-activated agent's reply",
            code == 0 and '"return": {}' in reply and '"id": 7' in reply, reply)
    trig = g.show("TriggeredBy", "qga-unix.service")
    active = g.sh("systemctl is-active qga-unix.service")[1]
    g.check("qga-unix.service was started by its socket and is active (READY=1)",
            trig == "qga-unix.socket" and active == "active", "TriggeredBy=%s, %s" % (trig, active))
    g.sh("systemctl stop qga-unix.socket qga-unix.service; "
         "rm /etc/systemd/system/qga-unix.*; systemctl daemon-reload")


def shutdown_through_systemd(g):
    t0 = time.monotonic()
    try:
        reply = g.agent.request("guest-shutdown", {"mode": "powerdown"}, timeout=3, expect_reply=False)
    except (vm.Timeout, EOFError):
        reply = None
    while g.qemu.poll() is None and time.monotonic() < t0 + 90:
        g.qmp.poll_events(0.5)
    exited = g.qemu.poll() is not None
    reasons = [e.get("data", {}).get("reason") for e in g.qmp.events if e.get("event") == "SHUTDOWN"]
    g.check("guest-shutdown: no reply, QEMU exits with a guest power-off",
            reply is None and exited and reasons == ["guest-shutdown"],
            "reply %s, exited %s after %.1fs, SHUTDOWN %r" % (reply, exited, time.monotonic() - t0,
                                                              reasons))
    with open(g.socks["serial"], "rb") as f:
        console = f.read().decode(errors="replace")
    ok = "Reached target \x1b[0;1;39mpoweroff.target" in console and "reboot: Power down" in console
    g.check("the power-off went through systemd (poweroff.target reached)", ok,
            "" if ok else vm.tail(g.socks["serial"], 15))


def boot_systemd(args, work, res):
    g = Guest(args, work, res, "systemd", "initrd.plain",
              "root=/dev/vda rw console=ttyS0 quiet systemd.show_status=1 panic=-1")
    try:
        if not g.wait_for_agent("the agent answers after boot (QEMU start to first reply)"):
            return
        vm.Results.info("boot-to-first-reply %.1fs" % (g.agent.first_reply_at - g.t0))
        pid = started_by_udev_and_systemd(g)
        audit_line_in_journal(g)
        restart_after_kill(g, pid)
        man_page(g)
        socket_activation(g)
        vm.Results.info("guest: %s" % g.sh("systemd-analyze")[1].splitlines()[0])
        shutdown_through_systemd(g)
    finally:
        g.stop()


# ---------------------------------------------------------------------------
# Boot 2: the same image, qga in the initramfs, the root disk arrives late
# ---------------------------------------------------------------------------

def boot_initramfs(args, work, res):
    g = Guest(args, work, res, "initramfs", "initrd.qga",
              "root=/dev/vda rw console=ttyS0 panic=-1", disk=False)
    try:
        if not g.wait_for_agent("the agent answers while the initramfs waits for its root disk"):
            return
        # Shell built-ins only: the initramfs has no grep.
        code, where = g.sh("test -x /scripts/init-top/qga && echo initramfs-scripts; "
                           "while read -r dev mnt fs rest; do [ \"$mnt\" = / ] && echo \"/ is $fs\"; "
                           "done </proc/mounts")
        g.check("it runs in the initramfs (its scripts, no root filesystem yet)",
                "initramfs-scripts" in where and "/ is ext4" not in where, where)
        mark = g.port_events_mark()
        g.qmp.execute("blockdev-add", {"driver": "raw", "node-name": "root0",
                                       "file": {"driver": "file",
                                                "filename": os.path.join(work, "rootfs.img")}})
        r = g.qmp.execute("device_add", {"driver": "virtio-blk-pci", "drive": "root0",
                                         "bus": "rp1", "id": "vda"})
        g.check("the root disk is hot-plugged", "return" in r, json.dumps(r))
        t = time.monotonic()
        closed, seen = g.wait_port(mark, [False], 90)
        g.check("the initramfs agent closed the port before the switch to the root filesystem",
                closed, "open states %r after %.1fs" % (seen, time.monotonic() - t))
        g.agent.needs_sync = False
        if not g.wait_for_agent("an agent answers again after the switch to the root filesystem"):
            return
        reopened, seen = g.wait_port(mark, [False, True], 5)
        g.check("and the port was opened again (QMP VSERPORT_CHANGE)", reopened, "open states %r" % seen)
        main_pid = g.show("MainPID")
        ppid = g.sh("echo $PPID")[1]
        active = g.sh("systemctl is-active %s" % UNIT)[1]
        g.check("it is systemd's qga.service: the initramfs agent stepped aside",
                active == "active" and ppid == main_pid,
                "%s, guest-exec parent %s, MainPID %s" % (active, ppid, main_pid))
    finally:
        g.stop()


def build(args, work):
    deb = args.deb
    if not deb:
        if not args.qga:
            subprocess.run([os.path.join(REPO, "std-shim", "build-small.sh")], check=True)
        cmd = [os.path.join(REPO, "std-shim", "dist", "build-deb.sh")]
        cmd += [args.qga] if args.qga else []
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
        deb = out.strip().splitlines()[-1]
    vm.Results.info("package %s" % deb)
    subprocess.run([os.path.join(HERE, "build-rootfs.sh"), deb, work], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", help="build + run directory (default: a fresh temp dir, kept)")
    ap.add_argument("--deb", help="the package (default: build-small.sh + build-deb.sh)")
    ap.add_argument("--qga", help="package this agent binary instead of build-small.sh's")
    ap.add_argument("--no-build", action="store_true", help="reuse WORKDIR's image, kernel, initrds")
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--only", choices=["systemd", "initramfs"], help="run one of the two boots")
    args = ap.parse_args()

    t_start = time.monotonic()
    work = os.path.abspath(args.workdir) if args.workdir else tempfile.mkdtemp(prefix="qga-deb-")
    os.makedirs(work, exist_ok=True)
    vm.Results.info("workdir %s" % work)
    res = vm.Results()
    if not args.no_build:
        try:
            build(args, work)
        except (subprocess.CalledProcessError, OSError) as e:
            res.check("build the package and the Debian image", False, str(e))
            print("%d passed, %d failed" % (res.passed, res.failed))
            return 1
    vm.Results.info("build took %.1fs" % (time.monotonic() - t_start))

    def on_alarm(signum, frame):
        raise vm.BudgetExceeded()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(VM_BUDGET_S)
    try:
        for boot in (boot_systemd, boot_initramfs):
            if args.only and boot.__name__ != "boot_" + args.only:
                continue
            t = time.monotonic()
            try:
                boot(args, work, res)
            except vm.Timeout as e:
                res.check(boot.__name__, False, "timeout: %s" % e)
            except vm.AgentError as e:
                res.check(boot.__name__, False, "error reply: %s" % e)
            vm.Results.info("%s took %.1fs" % (boot.__name__, time.monotonic() - t))
    except vm.BudgetExceeded:
        res.check("time budget", False, "the VM part ran over %ds" % VM_BUDGET_S)
    except Exception as e:
        res.check("harness", False, "%r\n%s" % (e, traceback.format_exc()))
    finally:
        signal.alarm(0)
    vm.Results.info("total %.1fs; logs in %s" % (time.monotonic() - t_start, work))
    print("%d passed, %d failed" % (res.passed, res.failed), flush=True)
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
