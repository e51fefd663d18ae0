#!/usr/bin/env python3
"""Proof in a real guest: boot a minimal Linux guest under QEMU (TCG) with our
static `qga` as its guest agent, and drive every command from the host over
the virtio-serial port.

Python 3 standard library only. See README.md in this directory.

Output: one `PASS <check>` / `FAIL <check>: <why>` line per check, `INFO`
lines, and a last line `N passed, M failed`. Exit status 0 only if nothing
failed. A transcript of every request and reply is written to
WORKDIR/transcript.log, the guest console to WORKDIR/serial.log.
"""

import argparse
import base64
import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

DISK_SERIAL = "QGATESTDISK"
NVME_SERIAL = "QGANVME01"
NVME_SLOT = 0x0b  # PCI slots of the NVMe controller and the virtio-scsi HBA
SCSI_SLOT = 0x0a
SCSI_ADDR = (0, 1, 2)  # channel (bus), scsi-id (target), lun (unit) of its disk
SCSI_MNT = "/mnt/scsi"
# QEMU's emulated NVMe controller (hw/nvme): composite temperature 323 K.
NVME_TEMPERATURE = 0x143
TEST_USER = "qgatest"
DATA_MNT = "/mnt/data"
KNOWN_TIME_NS = 1_893_456_000 * 10**9  # 2030-01-01T00:00:00Z
YEAR_S = 365 * 86400
FROZEN_HOLD_S = 3.0  # how long the fsfreeze check keeps the disk frozen
VM_BUDGET_S = 240  # hard cap for everything after the build
BOOT_TIMEOUT_S = 90
SHUTDOWN_TIMEOUT_S = 20
# Per guest architecture: QEMU, its machine, the console, and where the guest's
# kernel and modules are (GUEST_ROOT/boot, GUEST_ROOT/lib/modules; see
# build-initramfs.sh and fetch-arm64-guest.sh).
ARCHES = {
    "x86_64": {"qemu": "qemu-system-x86_64", "machine": ["-machine", "q35"], "console": "ttyS0",
               "guest_root": "/"},
    "aarch64": {"qemu": "qemu-system-aarch64", "machine": ["-machine", "virt"], "console": "ttyAMA0",
                "guest_root": os.path.join(REPO, "target", "arm64-guest")},
}
SSH_KEY1 = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGKw9Yk0v6sHGaEl0cCfi0i5a8XbG1U4sQW1T5X3cQbq "
            "qga-vm-test-key-1")
SSH_KEY2 = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ1e8Qf7dY2xZf2Qm9vYwXk3lq0bZkqGz7m4n3Ppd8Rx "
            "qga-vm-test-key-2")
# `mkpasswd -m sha512 -S qgavmsalt00 known-pw` (busybox); used with crypted=true.
KNOWN_HASH = ("$6$qgavmsalt00$Ex1SCAK7ctOaIOh69q1appmUmAYNUkecRvFqyLNCVcv8GfKubcUfWZ1G3vkBRPc4/"
              "mOJMf5ZLV6DhHnax92Ln1")
PLAIN_PW = "Vm-Pa55word!"
# utmpdump's text form: two users (alice twice: the earlier login counts),
# a boot record and a dead process, which are no logins.
UTMP_RECORDS = """\
[2] [00000] [~~  ] [reboot  ] [~           ] [6.1.0] [0.0.0.0        ] [2024-01-02T03:00:00,000000+00:00]
[7] [01234] [ts/0] [alice   ] [pts/0       ] [host.example] [192.0.2.1      ] [2024-01-02T03:04:05,250000+00:00]
[7] [01240] [ts/1] [bob     ] [pts/1       ] [] [0.0.0.0        ] [2024-01-02T02:00:00,000000+00:00]
[8] [00042] [ts/2] [carol   ] [pts/2       ] [] [0.0.0.0        ] [2024-01-01T00:00:00,000000+00:00]
[7] [01300] [ts/3] [alice   ] [pts/3       ] [] [0.0.0.0        ] [2024-01-02T01:30:00,500000+00:00]
"""
UTMP_USERS = [{"user": "alice", "login-time": 1704159000.5}, {"user": "bob", "login-time": 1704160800}]


class Timeout(Exception):
    pass


class BudgetExceeded(BaseException):
    """Raised by SIGALRM when the whole VM part runs over VM_BUDGET_S."""


def b64(data):
    return base64.b64encode(data).decode("ascii")


def unb64(text):
    return base64.b64decode(text.encode("ascii"))


def short(obj, limit=600):
    text = obj if isinstance(obj, str) else json.dumps(obj)
    return text if len(text) <= limit else text[:limit] + "...(%d chars)" % len(text)


# ---------------------------------------------------------------------------
# Result bookkeeping
# ---------------------------------------------------------------------------

class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.failures = []

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("PASS %s%s" % (name, (" (%s)" % detail) if detail else ""), flush=True)
        else:
            self.failed += 1
            self.failures.append(name)
            print("FAIL %s: %s" % (name, detail), flush=True)
        return ok

    @staticmethod
    def info(text):
        print("INFO %s" % text, flush=True)


# ---------------------------------------------------------------------------
# The agent channel (host end of the virtio-serial port, a Unix socket)
# ---------------------------------------------------------------------------

class AgentError(Exception):
    """An error reply: .reply holds the whole object."""

    def __init__(self, reply):
        super().__init__(short(reply))
        self.reply = reply
        err = reply.get("error") or {}
        self.cls = err.get("class")
        self.desc = err.get("desc", "")


class Agent:
    def __init__(self, path, transcript):
        self.path = path
        self.sock = None
        self.buf = b""
        self.transcript = transcript
        self.next_id = random.randint(1000, 1 << 30)
        self.first_reply_at = None
        self.needs_sync = False
        self.last_request = None

    def log(self, direction, data):
        self.transcript.write("%.3f %s %s\n" % (time.monotonic(), direction,
                                                data.decode("ascii", "backslashreplace")))
        self.transcript.flush()

    def connect(self, deadline):
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                self.sock = s
                return
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise Timeout("cannot connect to %s" % self.path)
                time.sleep(0.05)

    def send(self, data):
        self.log("->", data)
        self.sock.sendall(data)

    def _fill(self, deadline):
        """Read more bytes; False on timeout. EOFError when QEMU went away."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not data:
            raise EOFError("agent socket closed (QEMU exited?)")
        self.log("<-", data)
        self.buf += data
        return True

    def sync(self, timeout, per_try=1.0):
        """0xFF + guest-sync-delimited with fresh ids until one is answered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sid = self.next_id
            self.next_id += 1
            req = json.dumps({"execute": "guest-sync-delimited", "arguments": {"id": sid}})
            self.send(b"\xff" + req.encode())
            try_deadline = min(deadline, time.monotonic() + per_try)
            while True:
                i = self.buf.find(b"\xff")
                if i < 0:
                    self.buf = b""
                else:
                    self.buf = self.buf[i:]
                    j = self.buf.find(b"\n")
                    if j >= 0:
                        line, self.buf = self.buf[1:j], self.buf[j + 1:]
                        try:
                            reply = json.loads(line)
                        except ValueError:
                            continue
                        if self.first_reply_at is None:
                            self.first_reply_at = time.monotonic()
                        if isinstance(reply, dict) and reply.get("return") == sid:
                            self.needs_sync = False
                            return True
                        continue
                if not self._fill(try_deadline):
                    break
        return False

    def request(self, execute, arguments=None, timeout=30.0, expect_reply=True):
        """Send one command and return its reply object (dict). Raises Timeout."""
        if self.needs_sync and not self.sync(30):
            raise Timeout("agent does not answer guest-sync-delimited any more")
        rid = self.next_id
        self.next_id += 1
        msg = {"execute": execute, "id": rid}
        if arguments is not None:
            msg["arguments"] = arguments
        data = json.dumps(msg).encode() + b"\n"
        self.last_request = data.decode().strip()
        self.send(data)
        deadline = time.monotonic() + timeout
        while True:
            reply = self._next_reply(deadline)
            if reply is None:
                if expect_reply:
                    self.needs_sync = True
                raise Timeout("no reply to %s within %.0fs" % (execute, timeout))
            if "id" in reply and reply["id"] != rid:
                continue  # a stale reply to a request that timed out
            return reply

    def _next_reply(self, deadline):
        """The next reply object (a dict), skipping late sync replies and
        unparsable lines; None when nothing came before `deadline`."""
        while True:
            j = self.buf.find(b"\n")
            if j >= 0:
                line, self.buf = self.buf[:j], self.buf[j + 1:]
                line = line.strip()
                if not line or line.startswith(b"\xff"):
                    continue
                try:
                    reply = json.loads(line)
                except ValueError:
                    continue
                if isinstance(reply, dict):
                    return reply
                continue
            if not self._fill(deadline):
                return None

    def request_reply_only(self, timeout):
        """Wait for a (late) reply line to the last request without sending."""
        reply = self._next_reply(time.monotonic() + timeout)
        if reply is None:
            raise Timeout("no reply")
        return reply

    def cmd(self, execute, arguments=None, timeout=30.0):
        """The `return` value; AgentError on an error reply."""
        reply = self.request(execute, arguments, timeout)
        if "return" in reply:
            return reply["return"]
        raise AgentError(reply)


# ---------------------------------------------------------------------------
# QMP (to watch guest state, wake it up and stop it)
# ---------------------------------------------------------------------------

class Qmp:
    def __init__(self, path, deadline):
        self.sock = None
        self.buf = b""
        self.events = []
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                self.sock = s
                break
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise Timeout("cannot connect to QMP")
                time.sleep(0.05)
        self._read(time.monotonic() + 10)  # greeting
        self.execute("qmp_capabilities")

    def _read(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("QMP timeout")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise Timeout("QMP timeout")
            if not data:
                raise EOFError("QMP closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, name, arguments=None, timeout=10):
        msg = {"execute": name}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            obj = self._read(deadline)
            if "event" in obj:
                self.events.append(obj)
                continue
            if "return" in obj or "error" in obj:
                return obj

    def poll_events(self, timeout):
        """Collect events for up to `timeout` seconds (returns early on EOF)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                obj = self._read(deadline)
                if "event" in obj:
                    self.events.append(obj)
        except (Timeout, EOFError, OSError, ValueError):
            pass

    def status(self):
        r = self.execute("query-status")
        return (r.get("return") or {}).get("status")


# ---------------------------------------------------------------------------
# The suite
# ---------------------------------------------------------------------------

class Suite:
    def __init__(self, agent, qmp, qemu, res, kver, arch, serial_log):
        self.a = agent
        self.arch = arch
        self.qmp = qmp
        self.qemu = qemu
        self.res = res
        self.kver = kver
        self.serial_log = serial_log
        self.supported = {}

    # -- helpers ------------------------------------------------------------
    def run(self, name, fn):
        """Run one test function; an exception is one FAIL with the exchange."""
        try:
            fn()
        except AgentError as e:
            self.res.check(name, False, "request %s -> reply %s" % (self.a.last_request, short(e.reply)))
        except Timeout as e:
            self.res.check(name, False, "%s (request %s)" % (e, self.a.last_request))
        except (EOFError, OSError) as e:
            self.res.check(name, False, "channel lost: %s (request %s)" % (e, self.a.last_request))
        except AssertionError as e:
            self.res.check(name, False, str(e))
        except Exception as e:  # a harness bug must not hide the other results
            self.res.check(name, False, "harness exception %r\n%s" % (e, traceback.format_exc()))

    def check(self, name, ok, detail=""):
        return self.res.check(name, ok, detail)

    def read_file(self, path, limit=1 << 20):
        h = self.a.cmd("guest-file-open", {"path": path, "mode": "r"})
        data = b""
        try:
            while len(data) < limit:
                r = self.a.cmd("guest-file-read", {"handle": h, "count": 65536})
                data += unb64(r["buf-b64"])
                if r["eof"] or r["count"] == 0:
                    break
        finally:
            self.a.cmd("guest-file-close", {"handle": h})
        return data

    def exec_wait(self, path, args=(), input_data=None, timeout=20):
        req = {"path": path, "arg": list(args), "capture-output": True}
        if input_data is not None:
            req["input-data"] = b64(input_data)
        pid = self.a.cmd("guest-exec", req)["pid"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.a.cmd("guest-exec-status", {"pid": pid})
            if st.get("exited"):
                return st
            time.sleep(0.2)
        raise Timeout("%s did not exit within %ds" % (path, timeout))

    def sh(self, script, timeout=20, input_data=None):
        st = self.exec_wait("/bin/sh", ["-c", script], input_data=input_data, timeout=timeout)
        return st.get("exitcode"), unb64(st.get("out-data", "")).decode(errors="replace")

    def expect_error_reply(self, reply):
        return isinstance(reply, dict) and isinstance(reply.get("error"), dict) and \
            isinstance(reply["error"].get("class"), str) and isinstance(reply["error"].get("desc"), str)

    # -- tests ----------------------------------------------------------------
    def t_sync(self):
        r = self.a.cmd("guest-sync", {"id": 4242})
        self.check("guest-sync echoes its id", r == 4242, "return %r" % (r,))

    def t_info(self):
        r = self.a.cmd("guest-info")
        cmds = r.get("supported_commands")
        ok = isinstance(r.get("version"), str) and r["version"] and isinstance(cmds, list) and all(
            isinstance(c.get("name"), str) and isinstance(c.get("enabled"), bool)
            and isinstance(c.get("success-response"), bool) for c in cmds)
        names = {c.get("name"): c.get("enabled") for c in cmds or []}
        self.supported = names
        ok = ok and names.get("guest-sync-delimited") and names.get("guest-ping")
        self.check("guest-info shape", bool(ok), "version %r, %d commands" % (r.get("version"), len(cmds or [])))
        off = sorted(n for n, en in names.items() if not en)
        if off:
            self.res.info("guest-info lists as disabled: %s" % " ".join(off))

    def t_ping(self):
        r = self.a.cmd("guest-ping")
        self.check("guest-ping", r == {}, "return %r" % (r,))

    def t_time(self):
        t = self.a.cmd("guest-get-time")
        host = time.time_ns()
        self.check("guest-get-time", isinstance(t, int) and t > 0 and t % 1000 == 0,
                   "guest-host offset %.3fs" % ((t - host) / 1e9) if isinstance(t, int) else repr(t))

        r = self.a.cmd("guest-set-time", {"time": KNOWN_TIME_NS})
        t0 = time.monotonic()
        got = self.a.cmd("guest-get-time")
        want = KNOWN_TIME_NS + int((time.monotonic() - t0) * 1e9)
        self.check("guest-set-time to 2030-01-01, read back", r == {} and abs(got - want) < 5e9,
                   "set -> %r, get %d, off by %.3fs" % (r, got, (got - want) / 1e9))

        # No argument: the system clock from the RTC. Make the two differ
        # first, or a no-op would pass: the RTC holds 2030 (hwclock -w
        # above), and `date -s` moves only the system clock a year on.
        rtc = self.guest_rtc()
        want_rtc = (KNOWN_TIME_NS + int((time.monotonic() - t0) * 1e9)) // 10**9
        self.check("guest-set-time wrote the RTC (sysfs since_epoch)", abs(rtc - want_rtc) < 5,
                   "RTC %d, expected %d" % (rtc, want_rtc))
        code, out = self.sh("date -u -s @%d" % (want_rtc + YEAR_S))
        sys_ns, rtc = self.a.cmd("guest-get-time"), self.guest_rtc()
        self.check("system clock a year ahead of the RTC before guest-set-time {}",
                   code == 0 and abs(sys_ns // 10**9 - rtc - YEAR_S) < 5,
                   "date -s: exit %r %r; system %d, RTC %d" % (code, out, sys_ns // 10**9, rtc))
        r = self.a.cmd("guest-set-time", {}, timeout=30)
        got, rtc = self.a.cmd("guest-get-time"), self.guest_rtc()
        self.check("guest-set-time without time copies the RTC into the system clock",
                   r == {} and abs(got // 10**9 - rtc) < 3,
                   "set -> %r, system %d, RTC %d: off by %.1fs" % (r, got // 10**9, rtc, got / 1e9 - rtc))

    def guest_rtc(self):
        """The guest's RTC in seconds since the epoch, as its kernel reads it."""
        code, out = self.sh("cat /sys/class/rtc/rtc0/since_epoch")
        assert code == 0 and out.strip().isdigit(), "no RTC in sysfs: exit %r %r" % (code, out)
        return int(out)

    def t_time_restore(self):
        now = time.time_ns() // 1000 * 1000
        r = self.a.cmd("guest-set-time", {"time": now})
        got = self.a.cmd("guest-get-time")
        off = (got - time.time_ns()) / 1e9
        self.check("guest-set-time back to host time", r == {} and abs(off) < 5, "offset %.3fs" % off)

    def t_hostname(self):
        r = self.a.cmd("guest-get-host-name")
        self.check("guest-get-host-name", r.get("host-name") == "qga-vm", short(r))

    def t_osinfo(self):
        r = self.a.cmd("guest-get-osinfo")
        ok = (r.get("id") == "qga-vm-test" and r.get("kernel-release") == self.kver
              and r.get("machine") == self.arch and r.get("version-id") == "1"
              and r.get("pretty-name") == "QGA VM Test guest (busybox initramfs)")
        self.check("guest-get-osinfo", ok, short(r))

    def t_timezone(self):
        r = self.a.cmd("guest-get-timezone")
        ok = r.get("offset") == 0 and isinstance(r.get("zone", ""), str)
        self.check("guest-get-timezone", ok, short(r))

    def t_users(self):
        r = self.a.cmd("guest-get-users")
        self.check("guest-get-users without a utmp: nobody", r == [], short(r))
        # Login records written by util-linux's utmpdump (glibc's layout,
        # not the agent's idea of it) into the guest's /var/run/utmp.
        data = subprocess.run(["utmpdump", "-r"], input=UTMP_RECORDS.encode(), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, check=True).stdout
        h = self.a.cmd("guest-file-open", {"path": "/var/run/utmp", "mode": "w"})
        self.a.cmd("guest-file-write", {"handle": h, "buf-b64": b64(data)})
        self.a.cmd("guest-file-close", {"handle": h})
        r = self.a.cmd("guest-get-users")
        self.check("guest-get-users lists the utmp logins (first seen order, earliest time)",
                   r == UTMP_USERS, "%d utmp bytes -> %s" % (len(data), short(r)))
        h = self.a.cmd("guest-file-open", {"path": "/var/run/utmp", "mode": "w"})  # empty again
        self.a.cmd("guest-file-close", {"handle": h})

    def t_file(self):
        path = DATA_MNT + "/qga-vm-test.bin"
        payload = b"hello from the host\n" + bytes(range(256))
        h = self.a.cmd("guest-file-open", {"path": path, "mode": "w+"})
        self.check("guest-file-open w+ on the ext4 disk", isinstance(h, int), "handle %r" % (h,))
        w = self.a.cmd("guest-file-write", {"handle": h, "buf-b64": b64(payload)})
        self.check("guest-file-write", w.get("count") == len(payload), short(w))
        s = self.a.cmd("guest-file-seek", {"handle": h, "offset": 0, "whence": "set"})
        self.check("guest-file-seek set 0", s.get("position") == 0, short(s))
        r = self.a.cmd("guest-file-read", {"handle": h, "count": 4096})
        self.check("guest-file-read round trip", unb64(r.get("buf-b64", "")) == payload
                   and r.get("count") == len(payload), short(r))
        r = self.a.cmd("guest-file-read", {"handle": h})
        self.check("guest-file-read at EOF", r.get("count") == 0 and r.get("buf-b64") == ""
                   and r.get("eof") is True, short(r))
        c = self.a.cmd("guest-file-close", {"handle": h})
        self.check("guest-file-close", c == {}, short(c))
        data = self.read_file(path)
        self.check("guest-file reopen r reads the same bytes", data == payload, "%d bytes" % len(data))
        code, out = self.sh("sync; wc -c < %s" % path)
        self.check("file is on the disk (wc -c in the guest)", out.strip().endswith(str(len(payload))),
                   "exit %r out %r" % (code, out))

    def t_exec(self):
        st = self.exec_wait("/bin/sh", ["-c", "echo out-$((6*7)); echo err >&2; exit 3"])
        ok = (st.get("exited") is True and st.get("exitcode") == 3
              and unb64(st.get("out-data", "")) == b"out-42\n" and unb64(st.get("err-data", "")) == b"err\n")
        self.check("guest-exec capture stdout/stderr/exitcode", ok, short(st))
        st = self.exec_wait("/bin/cat", [], input_data=b"stdin data\n")
        self.check("guest-exec input-data", unb64(st.get("out-data", "")) == b"stdin data\n"
                   and st.get("exitcode") == 0, short(st))

    def vcpus(self):
        r = self.a.cmd("guest-get-vcpus")
        return {c["logical-id"]: c for c in r}, r

    def t_vcpus(self):
        cpus, raw = self.vcpus()
        ok = sorted(cpus) == [0, 1] and all(isinstance(c.get("online"), bool) for c in raw) \
            and cpus[1].get("online") is True and cpus[1].get("can-offline") is True
        self.check("guest-get-vcpus (2 cpus, cpu1 can go offline)", ok, short(raw))
        try:
            r = self.a.cmd("guest-set-vcpus", {"vcpus": [{"logical-id": 1, "online": False}]})
            cpus, raw = self.vcpus()
            sysfs = self.read_file("/sys/devices/system/cpu/cpu1/online")
            self.check("guest-set-vcpus cpu1 offline", r == 1 and cpus[1]["online"] is False
                       and sysfs.strip() == b"0", "return %r, get %s, sysfs %r" % (r, short(raw), sysfs))
        finally:
            r = self.a.cmd("guest-set-vcpus", {"vcpus": [{"logical-id": 1, "online": True}]}, timeout=60)
        cpus, raw = self.vcpus()
        self.check("guest-set-vcpus cpu1 online again", r == 1 and cpus[1]["online"] is True,
                   "return %r, get %s" % (r, short(raw)))

    def t_fsinfo(self):
        r = self.a.cmd("guest-get-fsinfo")
        ent = [f for f in r if f.get("mountpoint") == DATA_MNT]
        self.check("guest-get-fsinfo lists %s" % DATA_MNT, len(ent) == 1, short(r))
        if not ent:
            return
        f = ent[0]
        self.check("guest-get-fsinfo %s is ext4 on vda with sizes" % DATA_MNT,
                   f.get("type") == "ext4" and f.get("name") == "vda"
                   and isinstance(f.get("total-bytes"), int) and f["total-bytes"] > 0
                   and isinstance(f.get("used-bytes"), int), short(f))
        disks = f.get("disk") or []
        ok = any(d.get("serial") == DISK_SERIAL and d.get("bus-type") == "virtio" for d in disks)
        self.check("guest-get-fsinfo disk serial %s, bus-type virtio" % DISK_SERIAL, ok, short(disks))

    def t_disks(self):
        r = self.a.cmd("guest-get-disks")
        ent = [d for d in r if str(d.get("name", "")).endswith("vda")]
        ok = len(ent) == 1 and ent[0].get("partition") is False
        if ok and "address" in ent[0]:
            addr = ent[0]["address"]
            ok = addr.get("serial") == DISK_SERIAL and addr.get("bus-type") == "virtio"
        self.check("guest-get-disks lists vda (serial %s, virtio)" % DISK_SERIAL, ok, short(r))

    def blockstats(self, device):
        r = self.qmp.execute("query-blockstats")
        for b in r.get("return", []):
            if b.get("device") == device:  # the counters the SMART log is made of
                return {k: b["stats"][k] for k in ("rd_bytes", "rd_operations", "wr_bytes", "wr_operations")}
        raise AssertionError("QMP query-blockstats has no %r: %s" % (device, short(r)))

    def nvme_entry(self):
        r = self.a.cmd("guest-get-disks")
        ent = [d for d in r if d.get("name") == "/dev/nvme0n1"]
        assert len(ent) == 1, "guest-get-disks has no single /dev/nvme0n1: %s" % short(r)
        return ent[0], r

    def expected_smart(self, warning, stats):
        """What QEMU's controller reports (hw/nvme/ctrl.c nvme_smart_info):
        its block accounting for reads/writes, a fixed temperature, the
        critical-warning bits set over QMP, zero for what it does not model
        (power-on hours too: the VM runs for less than an hour)."""
        units = lambda nbytes: -(-(nbytes >> 9) // 1000)  # 1000 x 512 bytes, rounded up
        smart = {"type": "nvme", "critical-warning": warning, "temperature": NVME_TEMPERATURE,
                 "available-spare": 0, "available-spare-threshold": 0, "percentage-used": 0}
        counters = {"data-units-read": units(stats["rd_bytes"]),
                    "data-units-written": units(stats["wr_bytes"]),
                    "host-read-commands": stats["rd_operations"],
                    "host-write-commands": stats["wr_operations"]}
        for name in ("data-units-read", "data-units-written", "host-read-commands", "host-write-commands",
                     "controller-busy-time", "power-cycles", "power-on-hours", "unsafe-shutdowns",
                     "media-errors", "number-of-error-log-entries"):
            smart[name + "-lo"] = counters.get(name, 0)
            smart[name + "-hi"] = 0
        return smart

    def t_nvme(self):
        before = self.blockstats("nv")
        d, raw = self.nvme_entry()
        after = self.blockstats("nv")
        assert before == after, "guest I/O on the NVMe disk during the query: %r -> %r" % (before, after)
        addr = d.get("address") or {}
        want_addr = {"pci-controller": {"domain": 0, "bus": 0, "slot": NVME_SLOT, "function": 0},
                     "bus-type": "nvme", "bus": 0, "target": 0, "unit": 0,
                     "serial": NVME_SERIAL, "dev": "/dev/nvme0n1"}
        self.check("guest-get-disks /dev/nvme0n1 address (nvme, slot %#x, sysfs serial)" % NVME_SLOT,
                   d.get("partition") is False and d.get("dependencies") == [] and addr == want_addr, short(d))
        self.check("guest-get-disks NVMe smart = QEMU's SMART log (QMP blockstats rd %d/wr %d ops)" % (
            after["rd_operations"], after["wr_operations"]),
            d.get("smart") == self.expected_smart(0, after), "got %s, want %s" % (
                short(d.get("smart")), short(self.expected_smart(0, after))))
        others = [x.get("name") for x in raw if "smart" in x and x.get("name") != "/dev/nvme0n1"]
        self.check("guest-get-disks: smart on NVMe disks only", others == [], repr(others))
        # The log is read at each call: a warning raised on the controller
        # shows up in the next reply (bit 0: spare capacity below threshold).
        r = self.qmp.execute("qom-set", {"path": "/machine/peripheral/nvme0",
                                         "property": "smart_critical_warning", "value": 1})
        assert "return" in r, "qom-set smart_critical_warning: %s" % short(r)
        d, _ = self.nvme_entry()
        want = self.expected_smart(1, self.blockstats("nv"))
        self.check("guest-get-disks NVMe smart follows the controller (critical-warning 1)",
                   d.get("smart") == want, "got %s, want %s" % (short(d.get("smart")), short(want)))

    def t_udev_serial(self):
        """With a udev record for the disk, its ID_SERIAL is the serial (as
        with qemu-ga's libudev); without one, the sysfs serial (above)."""
        code, out = self.sh("cat /sys/block/nvme0n1/dev")
        devnum = out.strip()
        udev_serial = "QEMU NVMe Ctrl_" + NVME_SERIAL
        code, out = self.sh("mkdir -p /run/udev/data && printf 'S:disk/by-id/x\\nE:ID_SERIAL=%s\\n' > "
                            "/run/udev/data/b%s" % (udev_serial, devnum))
        try:
            d, _ = self.nvme_entry()
        finally:
            self.sh("rm -rf /run/udev")
        self.check("guest-get-disks serial from the udev record b%s" % devnum,
                   code == 0 and (d.get("address") or {}).get("serial") == udev_serial, short(d))

    def t_fsinfo_scsi(self):
        code, out = self.sh("mkdir -p %s && mount -t ext4 /dev/sda %s && readlink -f /sys/block/sda"
                            % (SCSI_MNT, SCSI_MNT))
        assert code == 0, "mounting the virtio-scsi disk failed: exit %r %r" % (code, out)
        try:
            r = self.a.cmd("guest-get-fsinfo")
        finally:
            self.sh("umount %s" % SCSI_MNT)
        m = re.search(r"/target\d+:\d+:\d+/\d+:(\d+):(\d+):(\d+)/block/sda$", out.strip())
        sysfs = tuple(int(x) for x in m.groups()) if m else None
        ent = [f for f in r if f.get("mountpoint") == SCSI_MNT]
        want = [{"pci-controller": {"domain": 0, "bus": 0, "slot": SCSI_SLOT, "function": 0},
                 "bus-type": "scsi", "bus": SCSI_ADDR[0], "target": SCSI_ADDR[1], "unit": SCSI_ADDR[2],
                 "dev": "/dev/sda"}]
        ok = sysfs == SCSI_ADDR and len(ent) == 1 and ent[0].get("name") == "sda" \
            and ent[0].get("type") == "ext4" and ent[0].get("disk") == want
        self.check("guest-get-fsinfo virtio-scsi disk: bus/target/unit %r as in sysfs %s" % (SCSI_ADDR, out.strip()),
                   ok, "got %s" % short(ent))

    def t_fsfreeze(self):
        st = self.a.cmd("guest-fsfreeze-status")
        self.check("guest-fsfreeze-status thawed at start", st == "thawed", repr(st))
        thawed = False
        writer = self.start_writer()
        offset = self.guest_clock_offset()
        try:
            n = self.a.cmd("guest-fsfreeze-freeze-list", {"mountpoints": [DATA_MNT]}, timeout=60)
            frozen_at = time.monotonic()
            self.check("guest-fsfreeze-freeze-list [%s]" % DATA_MNT, n == 1, "return %r" % (n,))
            st = self.a.cmd("guest-fsfreeze-status")
            self.check("guest-fsfreeze-status frozen", st == "frozen", repr(st))
            rep = self.a.request("guest-get-time")
            err = rep.get("error") or {}
            self.check("non-freeze-safe command rejected while frozen",
                       err.get("class") == "CommandNotFound" and "has been disabled" in err.get("desc", ""),
                       short(rep))
            p = self.a.cmd("guest-ping")
            self.check("guest-ping allowed while frozen", p == {}, short(p))
            time.sleep(max(0.0, frozen_at + FROZEN_HOLD_S - time.monotonic()))
            thaw_sent = time.monotonic()
            n = self.a.cmd("guest-fsfreeze-thaw", timeout=60)
            thawed = True
            self.check("guest-fsfreeze-thaw", n == 1, "return %r" % (n,))
            self.check_writer(writer, thaw_sent + offset)
        finally:
            if not thawed:
                try:
                    self.a.request("guest-fsfreeze-thaw", timeout=60)
                except Exception:
                    pass
        st = self.a.cmd("guest-fsfreeze-status")
        self.check("guest-fsfreeze-status thawed after thaw", st == "thawed", repr(st))
        # A write to the disk only completes if the kernel really thawed it.
        h = self.a.cmd("guest-file-open", {"path": DATA_MNT + "/after-thaw", "mode": "w"}, timeout=20)
        self.a.cmd("guest-file-write", {"handle": h, "buf-b64": b64(b"thawed\n")}, timeout=20)
        self.a.cmd("guest-file-close", {"handle": h}, timeout=20)
        code, out = self.sh("sync && cat %s/after-thaw" % DATA_MNT, timeout=20)
        self.check("disk writable after thaw", code == 0 and out == "thawed\n", "exit %r out %r" % (code, out))
        # The argument-less variant freezes every freezable mount (here only vda).
        try:
            n = self.a.cmd("guest-fsfreeze-freeze", timeout=60)
            self.check("guest-fsfreeze-freeze (all)", n == 1, "return %r" % (n,))
        finally:
            n = self.a.cmd("guest-fsfreeze-thaw", timeout=60)
        self.check("guest-fsfreeze-thaw (all)", n == 1, "return %r" % (n,))

    def start_writer(self):
        """A guest process that writes and syncs a file on the data disk in
        a loop, logging each round's start and end (guest uptime) to the
        root filesystem, which is never frozen. Returns its pid once it has
        logged a few rounds."""
        script = ("rm -f /run/writer.stop /run/writer.log; i=0; "
                  "while [ ! -e /run/writer.stop ] && [ $i -lt 600 ]; do "
                  "s=$(cut -d' ' -f1 /proc/uptime); echo $i > %s/writer.txt && sync; "
                  "echo \"$i $s $(cut -d' ' -f1 /proc/uptime)\" >> /run/writer.log; "
                  "i=$((i + 1)); sleep 0.1; done" % DATA_MNT)
        pid = self.a.cmd("guest-exec", {"path": "/bin/sh", "arg": ["-c", script]})["pid"]
        deadline = time.monotonic() + 20
        while len(self.writer_rounds()) < 3:
            assert time.monotonic() < deadline, "the writer logged no rounds"
            time.sleep(0.2)
        return pid

    def writer_rounds(self):
        """[(start, end)] of the writer's rounds, in guest uptime seconds."""
        code, out = self.sh("cat /run/writer.log 2>/dev/null; true")
        return [(float(f[1]), float(f[2])) for f in (l.split() for l in out.splitlines()) if len(f) == 3]

    def guest_clock_offset(self):
        """Guest uptime minus host monotonic time (to +-half an exec)."""
        t0 = time.monotonic()
        code, out = self.sh("cut -d' ' -f1 /proc/uptime")
        return float(out) - (t0 + time.monotonic()) / 2

    def check_writer(self, pid, thaw_guest):
        """The round in flight while frozen must have blocked >= 2 s and
        ended only after the thaw; the writer then goes on."""
        time.sleep(1)
        h = self.a.cmd("guest-file-open", {"path": "/run/writer.stop", "mode": "w"})
        self.a.cmd("guest-file-close", {"handle": h})
        deadline = time.monotonic() + 20
        while not self.a.cmd("guest-exec-status", {"pid": pid}).get("exited"):
            assert time.monotonic() < deadline, "the writer did not stop after the thaw"
            time.sleep(0.2)
        rounds = self.writer_rounds()
        start, end = max(rounds, key=lambda r: r[1] - r[0])
        later = [r for r in rounds if r[0] >= end]
        self.check("a guest write + sync to the frozen disk has not finished 2 s later",
                   end - start >= 2.0, "longest round %.2fs of %d" % (end - start, len(rounds)))
        self.check("... and finishes after the thaw, the writer going on",
                   end >= thaw_guest - 1.0 and later,
                   "round ended at %.2f, thaw sent at %.2f (guest uptime), %d rounds after"
                   % (end, thaw_guest, len(later)))

    # -- a second agent logging to the frozen disk (security, issue 10) --------
    FROZEN_PORT = "org.qemu.guest_agent.frozen"
    FROZEN_LOG = DATA_MNT + "/qga2.log"

    def second_agent(self):
        """Start a second qga on the extra port, logging to the data disk with
        -v; return (guest pid, host-side Agent)."""
        code, out = self.sh("mkdir -p /run/qga2 && rm -f %s" % self.FROZEN_LOG)
        assert code == 0, "mkdir: %r %r" % (code, out)
        pid = self.a.cmd("guest-exec", {"path": "/usr/bin/qga", "arg": [
            "-m", "virtio-serial", "-p", "/dev/virtio-ports/" + self.FROZEN_PORT,
            "-t", "/run/qga2", "-l", self.FROZEN_LOG, "-v"]})["pid"]
        a2 = Agent(self.frozen_sock, self.a.transcript)
        a2.connect(time.monotonic() + 10)
        assert a2.sync(30), "second agent does not answer"
        return pid, a2

    def log_count(self, needle):
        code, out = self.sh("grep -c '%s' %s || true" % (needle, self.FROZEN_LOG), timeout=20)
        return int(out.strip() or "0")

    def thaw_anyway(self):
        """Never leave the data disk frozen for the rest of the suite."""
        try:
            self.a.request("guest-fsfreeze-thaw", timeout=60)
        except Exception:
            pass

    def t_frozen_logging(self):
        pid, a2 = self.second_agent()
        try:
            n = a2.cmd("guest-fsfreeze-freeze-list", {"mountpoints": [DATA_MNT]}, timeout=60)
            self.check("second agent freezes %s (its log file's disk)" % DATA_MNT, n == 1, repr(n))
            before = self.log_count("host side connected")
            # A host reconnect makes -v log lines (EOF, then "connected").
            a2.sock.close()
            time.sleep(0.5)
            a2 = Agent(self.frozen_sock, self.a.transcript)
            a2.connect(time.monotonic() + 10)
            alive = a2.sync(20)
            self.check("agent logging to a frozen disk still answers", alive)
            during = self.log_count("host side connected")
            self.check("no log line reaches the frozen disk", during == before,
                       "%d lines before, %d while frozen" % (before, during))
            n = a2.cmd("guest-fsfreeze-thaw", timeout=60)
            self.check("second agent thaws", n == 1, repr(n))
            after = self.log_count("host side connected")
            self.check("lines logged while frozen appear after the thaw", after > before,
                       "%d lines before, %d after" % (before, after))
        finally:
            self.thaw_anyway()
            self.sh("kill %d" % pid)
            a2.sock.close()

    def t_sigterm_frozen(self):
        pid, a2 = self.second_agent()
        try:
            n = a2.cmd("guest-fsfreeze-freeze-list", {"mountpoints": [DATA_MNT]}, timeout=60)
            self.check("second agent freezes again", n == 1, repr(n))
            code, out = self.sh("kill -TERM %d" % pid)
            st = None
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                st = self.a.cmd("guest-exec-status", {"pid": pid})
                if st.get("exited"):
                    break
                time.sleep(0.2)
            self.check("SIGTERM while frozen: the agent exits 0",
                       bool(st and st.get("exited") and st.get("exitcode") == 0), short(st))
            code, out = self.sh("echo x > %s/after-term && sync && echo done" % DATA_MNT, timeout=15)
            self.check("SIGTERM while frozen: the disk was thawed first", out == "done\n",
                       "exit %r out %r" % (code, out))
            n = self.log_count("exiting while frozen: thawing filesystems")
            self.check("the thaw before exit is logged", n == 1, "%d lines" % n)
        finally:
            self.thaw_anyway()
            a2.sock.close()

    def t_fstrim(self):
        r = self.a.cmd("guest-fstrim", {"minimum": 0}, timeout=60)
        paths = [p for p in r.get("paths", []) if p.get("path") == DATA_MNT]
        ok = len(paths) == 1 and "error" not in paths[0] and isinstance(paths[0].get("trimmed"), int)
        self.check("guest-fstrim %s" % DATA_MNT, ok, short(r))

    def t_interfaces(self):
        r = self.a.cmd("guest-network-get-interfaces")
        lo = [i for i in r if i.get("name") == "lo"]
        ok = len(lo) == 1 and lo[0].get("hardware-address") == "00:00:00:00:00:00" and any(
            a.get("ip-address") == "127.0.0.1" and a.get("ip-address-type") == "ipv4" and a.get("prefix") == 8
            for a in lo[0].get("ip-addresses", []))
        if ok:
            stats = lo[0].get("statistics")
            ok = isinstance(stats, dict) and isinstance(stats.get("rx-bytes"), int)
        self.check("guest-network-get-interfaces lo (127.0.0.1/8, MAC 0s, statistics)", ok, short(r))

    def t_routes(self):
        r = self.a.cmd("guest-network-get-route")
        ent = [x for x in r if x.get("iface") == "lo" and x.get("destination") == "192.0.2.0"
               and x.get("version") == 4]
        ok = len(ent) == 1 and ent[0].get("mask") in (None, "255.255.255.0") \
            and isinstance(ent[0].get("metric"), int)
        self.check("guest-network-get-route has 192.0.2.0/24 dev lo", ok, short(r))

    def guest_memory_blocks(self):
        """This guest's memory blocks as its sysfs shows them (busybox sh),
        in the reply's form, and the block size; ([], None) without sysfs."""
        code, out = self.sh("cd /sys/devices/system/memory || exit 0; cat block_size_bytes; "
                            "for d in memory[0-9]*; do echo \"${d#memory} $(cat $d/state) "
                            "$(cat $d/removable 2>/dev/null || echo 0)\"; done")
        lines = out.split()
        if not lines:
            return [], None
        size, rest = int(lines[0], 16), out.splitlines()[1:]
        blocks = [{"phys-index": int(i), "online": st == "online", "can-offline": rm != "0"}
                  for i, st, rm in (l.split() for l in rest)]
        return blocks, size

    def t_memory(self):
        want, size = self.guest_memory_blocks()
        self.check("this guest has memory blocks in sysfs", want and size, "%r, size %r" % (want, size))
        r = self.a.cmd("guest-get-memory-blocks")
        by_index = lambda blocks: sorted(blocks, key=lambda b: b.get("phys-index", -1))
        self.check("guest-get-memory-blocks lists exactly the sysfs blocks", by_index(r) == by_index(want),
                   "agent %s, sysfs %s" % (short(r), short(want)))
        r = self.a.cmd("guest-get-memory-block-info")
        self.check("guest-get-memory-block-info size is block_size_bytes", r == {"size": size},
                   "agent %s, sysfs %r" % (short(r), size))

    def t_diskstats(self):
        r = self.a.cmd("guest-get-diskstats")
        ent = [d for d in r if d.get("name") == "vda"]
        ok = len(ent) == 1 and isinstance(ent[0].get("major"), int) and isinstance(ent[0].get("minor"), int) \
            and isinstance(ent[0].get("stats"), dict) and ent[0]["stats"].get("read-ios", 0) > 0
        self.check("guest-get-diskstats vda", ok, short(r))

    def t_cpustats(self):
        r = self.a.cmd("guest-get-cpustats")
        ok = isinstance(r, list) and sorted(c.get("cpu") for c in r) == [0, 1] and all(
            c.get("type") == "linux" and all(isinstance(c.get(k), int) for k in ("user", "nice", "system", "idle"))
            for c in r)
        self.check("guest-get-cpustats (2 cpus, type linux)", ok, short(r))

    def t_load(self):
        r = self.a.cmd("guest-get-load")
        ok = all(isinstance(r.get(k), (int, float)) and r[k] >= 0 for k in ("load1m", "load5m", "load15m"))
        self.check("guest-get-load", ok, short(r))

    def shadow_entry(self, user):
        text = self.read_file("/etc/shadow").decode()
        lines = text.splitlines()
        for line in lines:
            if line.split(":")[0] == user:
                return line.split(":"), lines
        return None, lines

    def verify_crypt(self, password, hashed):
        """True/False, or None when it cannot be checked here."""
        try:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import crypt  # deprecated, gone in Python 3.13
            return crypt.crypt(password, hashed) == hashed
        except ImportError:
            pass
        m = re.match(r"^\$([156])\$([^$]+)\$", hashed)
        if not m:
            return None
        method = {"1": "md5", "5": "sha256", "6": "sha512"}[m.group(1)]
        code, out = self.sh("mkpasswd -m %s -S '%s' \"$(cat)\"" % (method, m.group(2)),
                            input_data=password.encode())
        return out.strip() == hashed if code == 0 else None

    def t_password(self):
        before, lines_before = self.shadow_entry(TEST_USER)
        assert before, "test user missing from /etc/shadow: %r" % lines_before
        r = self.a.cmd("guest-set-user-password",
                       {"username": TEST_USER, "password": b64(KNOWN_HASH.encode()), "crypted": True}, timeout=30)
        after, lines = self.shadow_entry(TEST_USER)
        ok = r == {} and after is not None and after[1] == KNOWN_HASH and after[3:] == before[3:] \
            and len(lines) == len(lines_before) and lines[0] == lines_before[0]
        self.check("guest-set-user-password crypted=true lands in /etc/shadow", ok,
                   "return %r, shadow entry %r" % (r, after))

        r = self.a.cmd("guest-set-user-password",
                       {"username": TEST_USER, "password": b64(PLAIN_PW.encode()), "crypted": False}, timeout=30)
        after, lines = self.shadow_entry(TEST_USER)
        field = after[1] if after else ""
        ok = r == {} and field.startswith("$") and field != KNOWN_HASH and PLAIN_PW not in field \
            and after[3:] == before[3:]
        verified = self.verify_crypt(PLAIN_PW, field) if ok else False
        self.check("guest-set-user-password crypted=false hashes the password", ok and verified is not False,
                   "return %r, shadow field %r, crypt verification %r" % (r, field, verified))

        rep = self.a.request("guest-set-user-password",
                             {"username": "no-such-user", "password": b64(b"x"), "crypted": False})
        self.check("guest-set-user-password unknown user is an error",
                   self.expect_error_reply(rep) and rep["error"]["class"] == "GenericError", short(rep))

    def t_ssh(self):
        r = self.a.cmd("guest-ssh-add-authorized-keys", {"username": TEST_USER, "keys": [SSH_KEY1, SSH_KEY2]})
        self.check("guest-ssh-add-authorized-keys", r == {}, short(r))
        r = self.a.cmd("guest-ssh-get-authorized-keys", {"username": TEST_USER})
        self.check("guest-ssh-get-authorized-keys after add", sorted(r.get("keys") or []) == sorted([SSH_KEY1, SSH_KEY2]),
                   short(r))
        path = "/home/%s/.ssh/authorized_keys" % TEST_USER
        data = self.read_file(path).decode(errors="replace")
        self.check("authorized_keys file holds both keys, one per line",
                   sorted(data.splitlines()) == sorted([SSH_KEY1, SSH_KEY2]), repr(data))
        code, out = self.sh("stat -c '%%u:%%g:%%a' /home/%s/.ssh %s" % (TEST_USER, path))
        self.check("~/.ssh 1000:1000:700 and authorized_keys 1000:1000:600",
                   out.split() == ["1000:1000:700", "1000:1000:600"], "exit %r out %r" % (code, out))
        r = self.a.cmd("guest-ssh-remove-authorized-keys", {"username": TEST_USER, "keys": [SSH_KEY1]})
        g = self.a.cmd("guest-ssh-get-authorized-keys", {"username": TEST_USER})
        self.check("guest-ssh-remove-authorized-keys", r == {} and g.get("keys") == [SSH_KEY2],
                   "remove %s, get %s" % (short(r), short(g)))
        r = self.a.cmd("guest-ssh-add-authorized-keys", {"username": TEST_USER, "keys": [SSH_KEY1], "reset": True})
        g = self.a.cmd("guest-ssh-get-authorized-keys", {"username": TEST_USER})
        self.check("guest-ssh-add-authorized-keys reset=true", r == {} and g.get("keys") == [SSH_KEY1],
                   "add %s, get %s" % (short(r), short(g)))

    def wait_suspend_reply(self, name, timeout):
        """Send a suspend command; return its reply, or None once the guest is
        suspended (QMP) or `timeout` passed without a reply."""
        try:
            return self.a.request(name, timeout=1, expect_reply=False)
        except Timeout:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.qmp.status() == "suspended":
                return None
            try:
                return self.a.request_reply_only(timeout=0.5)
            except Timeout:
                pass
        return None

    def expected_suspend_error(self, mode, power_state):
        """The exact error reply for `mode` in this guest (no systemd, no
        pm-utils, no swap), or None when it must succeed (no reply)."""
        word = {"disk": "disk", "ram": "mem"}.get(mode)
        if word is None or word not in power_state.split():
            return {"class": "GenericError", "desc": "the requested suspend mode is not supported by the guest"}
        if mode == "disk":
            # The kernel refuses hibernation without swap. (qemu-ga 7.2 forks
            # for the write and says "child process has failed to suspend";
            # 10.1+ writes in-process with this text.)
            return {"class": "GenericError",
                    "desc": "suspend: cannot write to '/sys/power/state': No such device"}
        return None

    def t_suspend(self):
        # After an S3 cycle this guest's ACPI power-off stalls (the kernel
        # prints "reboot: Power down", QEMU keeps running), which would fail
        # the shutdown check that follows; so S3 is opt-in (QGA_VM_S3=1).
        modes = ("hybrid", "disk", "ram") if os.environ.get("QGA_VM_S3") else ("hybrid", "disk")
        code, power_state = self.sh("cat /sys/power/state; grep -c . /proc/swaps")
        lines = power_state.splitlines()
        self.check("suspend facts: no swap in this guest", code == 0 and lines[-1:] == ["1"], repr(power_state))
        for mode in modes:
            name = "guest-suspend-" + mode
            want = self.expected_suspend_error(mode, lines[0] if lines else "")
            rep = self.wait_suspend_reply(name, 15)
            if want is not None:
                self.check("%s: %s" % (name, want["desc"]), rep is not None and rep.get("error") == want,
                           "reply %s (guest /sys/power/state %r)" % (short(rep), lines[:1]))
                continue
            if rep is not None:
                self.check(name + " suspends (no reply)", False, "reply %s" % short(rep))
                continue
            # No reply: success by protocol. Wake the guest if it sleeps in S3.
            status = self.qmp.status()
            woke = ""
            if status == "suspended":
                self.qmp.execute("system_wakeup")
                woke = ", system_wakeup sent"
            alive = self.a.sync(45)
            self.check(name + " (no reply; guest %s%s)" % (status, woke), alive,
                       "agent answers again" if alive else "agent silent after %s; QMP status %s" % (
                           name, self.qmp.status()))

    def agent_restarts(self):
        try:
            with open(self.serial_log, "rb") as f:
                return f.read().count(b"qga-vm: agent exited")
        except OSError:
            return -1

    def t_no_restart(self):
        n = self.agent_restarts()
        self.check("agent never exited during the suite", n == 0, "%d restarts (see serial.log)" % n)

    def t_shutdown(self):
        self.qmp.events.clear()
        reply = None
        try:
            reply = self.a.request("guest-shutdown", {"mode": "powerdown"}, timeout=3, expect_reply=False)
        except (Timeout, EOFError, OSError):
            pass
        t0 = time.monotonic()
        deadline = t0 + (SHUTDOWN_TIMEOUT_S if reply is None else 2)
        while self.qemu.poll() is None and time.monotonic() < deadline:
            self.qmp.poll_events(0.5)
        exited = self.qemu.poll() is not None
        took = time.monotonic() - t0
        reasons = [e.get("data", {}).get("reason") for e in self.qmp.events if e.get("event") == "SHUTDOWN"]
        self.check("guest-shutdown powerdown: no reply, QEMU exits by itself",
                   reply is None and exited,
                   "reply %s, QEMU %s after %.1fs, SHUTDOWN reasons %r" % (
                       short(reply) if reply else "none", "exited (%s)" % self.qemu.returncode if exited
                       else "still running", took, reasons))
        if exited:
            self.check("guest-shutdown was a power-off, not a reset", reasons == ["guest-shutdown"],
                       "SHUTDOWN reasons %r" % (reasons,))

    def all(self):
        tests = [
            ("guest-sync", self.t_sync), ("guest-info", self.t_info), ("guest-ping", self.t_ping),
            ("guest-get/set-time", self.t_time), ("guest-set-time restore", self.t_time_restore),
            ("guest-get-host-name", self.t_hostname), ("guest-get-osinfo", self.t_osinfo),
            ("guest-get-timezone", self.t_timezone), ("guest-get-users", self.t_users),
            ("guest-file-*", self.t_file), ("guest-exec", self.t_exec),
            ("guest-get/set-vcpus", self.t_vcpus), ("guest-get-fsinfo", self.t_fsinfo),
            ("guest-get-disks", self.t_disks), ("guest-get-disks NVMe", self.t_nvme),
            ("guest-get-disks udev serial", self.t_udev_serial),
            ("guest-get-fsinfo virtio-scsi", self.t_fsinfo_scsi), ("guest-fsfreeze-*", self.t_fsfreeze),
            ("logging while frozen", self.t_frozen_logging),
            ("SIGTERM while frozen", self.t_sigterm_frozen),
            ("guest-fstrim", self.t_fstrim), ("guest-network-get-interfaces", self.t_interfaces),
            ("guest-network-get-route", self.t_routes), ("guest-get-memory-block*", self.t_memory),
            ("guest-get-diskstats", self.t_diskstats), ("guest-get-cpustats", self.t_cpustats),
            ("guest-get-load", self.t_load), ("guest-set-user-password", self.t_password),
            ("guest-ssh-*", self.t_ssh), ("agent stability", self.t_no_restart),
            ("guest-suspend-*", self.t_suspend), ("guest-shutdown", self.t_shutdown),
        ]
        for name, fn in tests:
            if self.qemu.poll() is not None and fn is not self.t_shutdown:
                self.check(name, False, "QEMU is gone (exit %s)" % self.qemu.returncode)
                continue
            self.run(name, fn)


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def pick_kernel(arg, guest_root):
    if arg:
        return arg
    boot = os.path.join(guest_root, "boot", "vmlinuz-")
    cands = [k for k in glob.glob(boot + "*")
             if os.path.isdir(os.path.join(guest_root, "lib", "modules", k[len(boot):]))]

    def key(k):
        return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", k)]
    if not cands:
        sys.exit("no %s* with modules (x86_64: apt-get install linux-image-cloud-amd64; "
                 "aarch64: std-shim/tests/vm/fetch-arm64-guest.sh)" % boot)
    return sorted(cands, key=key)[-1]


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
        return "\n".join("    | " + x for x in lines[-n:])
    except OSError as e:
        return "    | (%s)" % e


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", help="build + run directory (default: a fresh temp dir, kept)")
    ap.add_argument("--arch", choices=sorted(ARCHES), default="x86_64",
                    help="guest architecture (default x86_64; aarch64 boots Debian's arm64 cloud kernel "
                         "from fetch-arm64-guest.sh under qemu-system-aarch64 -machine virt)")
    ap.add_argument("--guest-root", help="where the guest's boot/ and lib/modules/ are "
                                         "(default: / for x86_64, target/arm64-guest for aarch64)")
    ap.add_argument("--kernel", help="kernel image (default: newest GUEST_ROOT/boot/vmlinuz-* with modules)")
    ap.add_argument("--qga", help="prebuilt static qga binary (default: build-initramfs.sh runs cargo)")
    ap.add_argument("--no-build", action="store_true", help="reuse WORKDIR/initramfs.cpio.gz and data.img")
    ap.add_argument("--qemu", help="QEMU binary (default: qemu-system-ARCH)")
    args = ap.parse_args()
    arch = ARCHES[args.arch]
    guest_root = os.path.abspath(args.guest_root or arch["guest_root"])

    t_start = time.monotonic()
    workdir = os.path.abspath(args.workdir) if args.workdir else tempfile.mkdtemp(prefix="qga-vm-")
    os.makedirs(workdir, exist_ok=True)
    kernel = pick_kernel(args.kernel, guest_root)
    kver = os.path.basename(kernel)[len("vmlinuz-"):]
    print("INFO workdir %s, arch %s, kernel %s" % (workdir, args.arch, kernel), flush=True)

    if not args.no_build:
        env = dict(os.environ, KVER=kver, ARCH=args.arch, GUEST_ROOT=guest_root)
        if args.qga:
            env["QGA_BIN"] = os.path.abspath(args.qga)
        b = subprocess.run([os.path.join(HERE, "build-initramfs.sh"), workdir], env=env, timeout=1200)
        if b.returncode != 0:
            print("FAIL build-initramfs.sh exited with %d" % b.returncode)
            print("0 passed, 1 failed")
            return 1
    print("INFO build took %.1fs" % (time.monotonic() - t_start), flush=True)

    # Unix socket paths must stay short (108 bytes): keep them in a temp dir.
    sockdir = tempfile.mkdtemp(prefix="qga-vm-sock-")
    qga_sock = os.path.join(sockdir, "qga.sock")
    qmp_sock = os.path.join(sockdir, "qmp.sock")
    qga2_sock = os.path.join(sockdir, "qga-frozen.sock")
    serial_log = os.path.join(workdir, "serial.log")
    for p in (serial_log,):
        if os.path.exists(p):
            os.unlink(p)
    cmd = [args.qemu or arch["qemu"]] + arch["machine"] + ["-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "256",
           "-nographic", "-no-reboot", "-monitor", "none", "-nic", "none",
           "-kernel", kernel, "-initrd", os.path.join(workdir, "initramfs.cpio.gz"),
           "-append", "console=%s panic=-1 quiet" % arch["console"],
           "-chardev", "file,id=con0,path=%s" % serial_log, "-serial", "chardev:con0",
           "-qmp", "unix:%s,server=on,wait=off" % qmp_sock,
           "-device", "virtio-serial-pci,id=vser0",
           "-chardev", "socket,id=qga0,path=%s,server=on,wait=off" % qga_sock,
           "-device", "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0",
           "-chardev", "socket,id=qga1,path=%s,server=on,wait=off" % qga2_sock,
           "-device", "virtserialport,bus=vser0.0,chardev=qga1,name=%s" % Suite.FROZEN_PORT,
           "-drive", "file=%s,if=none,id=disk0,format=raw,discard=unmap" % os.path.join(workdir, "data.img"),
           "-device", "virtio-blk-pci,drive=disk0,serial=%s" % DISK_SERIAL,
           "-drive", "file=%s,if=none,id=nv,format=raw" % os.path.join(workdir, "nvme.img"),
           "-device", "nvme,id=nvme0,drive=nv,serial=%s,addr=%#x" % (NVME_SERIAL, NVME_SLOT),
           "-device", "virtio-scsi-pci,id=scsi0,addr=%#x" % SCSI_SLOT,
           "-drive", "file=%s,if=none,id=sc,format=raw" % os.path.join(workdir, "scsi.img"),
           "-device", "scsi-hd,bus=scsi0.0,channel=%d,scsi-id=%d,lun=%d,drive=sc" % SCSI_ADDR]
    res = Results()
    qemu = None
    transcript = open(os.path.join(workdir, "transcript.log"), "w")

    def on_alarm(signum, frame):
        raise BudgetExceeded()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(VM_BUDGET_S)
    try:
        t0 = time.monotonic()
        qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=open(os.path.join(workdir, "qemu.log"), "wb"), stderr=subprocess.STDOUT)
        agent = Agent(qga_sock, transcript)
        agent.connect(t0 + 20)
        qmp = Qmp(qmp_sock, t0 + 20)
        synced = agent.sync(BOOT_TIMEOUT_S)
        if agent.first_reply_at is not None:
            print("INFO boot-to-first-reply %.2fs (QEMU start -> first guest-sync-delimited reply)"
                  % (agent.first_reply_at - t0), flush=True)
        if not res.check("agent answers guest-sync-delimited after boot", synced,
                         "%.2fs after QEMU start" % (time.monotonic() - t0) if synced else
                         "no reply within %ds; QEMU %s; console tail:\n%s" % (
                             BOOT_TIMEOUT_S, "running" if qemu.poll() is None else "exited", tail(serial_log))):
            raise Timeout("no agent")
        suite = Suite(agent, qmp, qemu, res, kver, args.arch, serial_log)
        suite.frozen_sock = qga2_sock
        suite.all()
    except BudgetExceeded:
        res.check("time budget", False, "the VM part ran over %ds" % VM_BUDGET_S)
    except Timeout:
        pass
    except Exception as e:
        res.check("harness", False, "%r\n%s" % (e, traceback.format_exc()))
    finally:
        signal.alarm(0)
        if qemu is not None and qemu.poll() is None:
            qemu.kill()
            try:
                qemu.wait(10)
            except subprocess.TimeoutExpired:
                pass
        transcript.close()
        shutil.rmtree(sockdir, ignore_errors=True)
    if res.failed:
        print("INFO guest console tail (%s):\n%s" % (serial_log, tail(serial_log)), flush=True)
    print("INFO transcript %s; total %.1fs" % (os.path.join(workdir, "transcript.log"),
                                              time.monotonic() - t_start), flush=True)
    print("%d passed, %d failed" % (res.passed, res.failed), flush=True)
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
