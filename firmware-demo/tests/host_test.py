#!/usr/bin/env python3
"""Boots the QGA firmware under qemu-system-riscv64 and talks QGA to it.

Usage: host_test.py ELF [--qemu qemu-system-riscv64] [--keep-log]

Builds nothing. QEMU's UART goes to a Unix socket in a temporary directory;
the test connects as a host client (libvirt would) and checks framing,
resync, guest-info, time, the file commands and shutdown; QMP (a second
socket) pauses the VM to make the system clock and the RTC differ. Every wait is
bounded, and QEMU is always killed at the end. Python 3 standard library
only. Prints one PASS/FAIL line per check and ends with
"N passed, N failed"; exit status 0 only when nothing failed.
"""

import argparse
import base64
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

# What the firmware implements (the capabilities src/board/mod.rs offers) ...
IMPLEMENTED = {
    "guest-get-time",
    "guest-set-time",
    "guest-shutdown",
    "guest-suspend-disk",
    "guest-suspend-ram",
    "guest-suspend-hybrid",
    "guest-file-open",
    "guest-file-close",
    "guest-file-read",
    "guest-file-write",
    "guest-file-seek",
    "guest-file-flush",
    "guest-get-vcpus",
    "guest-set-vcpus",
    "guest-get-host-name",
    "guest-get-timezone",
    "guest-get-osinfo",
}
# ... and what the core always answers itself.
BUILTIN = {"guest-sync-delimited", "guest-sync", "guest-ping", "guest-info"}

BOOT_TIMEOUT = 10.0  # socket appears and accepts
REPLY_TIMEOUT = 5.0  # one reply line
EXIT_TIMEOUT = 10.0  # QEMU exits after guest-shutdown
PAUSE = 2.0  # seconds the VM is stopped to put the system clock behind the RTC


class TestFailure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def connect(path):
    """A Unix socket connected to `path`, retried until QEMU listens."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise TestFailure(f"cannot connect to {path}")
            time.sleep(0.05)


class Qmp:
    """QEMU's monitor protocol, to stop and continue the VM."""

    def __init__(self, path):
        self.file = connect(path).makefile("rwb")
        self.file.readline()  # greeting
        self.execute("qmp_capabilities")

    def execute(self, name):
        self.file.write(json.dumps({"execute": name}).encode() + b"\n")
        self.file.flush()
        while True:
            reply = json.loads(self.file.readline())
            if "return" in reply or "error" in reply:
                check("return" in reply, f"QMP {name}: {reply}")
                return reply["return"]


class Channel:
    """A QGA client on the firmware's UART socket."""

    def __init__(self, path, qmp):
        self.sock = connect(path)
        self.qmp = qmp
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        if isinstance(data, dict):
            data = json.dumps(data).encode() + b"\n"
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestFailure(f"timed out; pending bytes {self.buf[:200]!r}")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(4096)
        except socket.timeout:
            raise TestFailure(f"timed out; pending bytes {self.buf[:200]!r}")
        if not chunk:
            raise EOFError("agent closed the channel")
        self.buf += chunk

    def read_line(self, timeout=REPLY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def skip_to_ff(self, timeout=REPLY_TIMEOUT):
        """Discards everything up to and including the next 0xFF."""
        deadline = time.monotonic() + timeout
        while b"\xff" not in self.buf:
            self.buf = b""
            self._fill(deadline)
        self.buf = self.buf.split(b"\xff", 1)[1]

    def reply(self, timeout=REPLY_TIMEOUT):
        line = self.read_line(timeout)
        try:
            return json.loads(line)
        except ValueError:
            raise TestFailure(f"reply is not JSON: {line[:200]!r}")

    def execute(self, name, arguments=None, timeout=REPLY_TIMEOUT):
        """Sends one command, returns its `return` value (error -> failure)."""
        req = {"execute": name}
        if arguments is not None:
            req["arguments"] = arguments
        self.send(req)
        r = self.reply(timeout)
        check("return" in r, f"{name}: expected a return, got {r}")
        return r["return"]

    def execute_error(self, name, arguments=None):
        req = {"execute": name}
        if arguments is not None:
            req["arguments"] = arguments
        self.send(req)
        r = self.reply()
        check("error" in r, f"{name}: expected an error, got {r}")
        return r["error"]

    def sync_delimited(self, prefix=b""):
        """0xFF + guest-sync-delimited; skips to the agent's 0xFF."""
        sync_id = random.randrange(1, 2**31)
        req = json.dumps({"execute": "guest-sync-delimited", "arguments": {"id": sync_id}})
        self.send(prefix + b"\xff" + req.encode() + b"\n")
        self.skip_to_ff()
        r = self.reply()
        check(r.get("return") == sync_id, f"sync id {sync_id}, got {r}")
        return sync_id


# ---- the checks, in order; each gets the channel --------------------------------


def t_sync_delimited(ch):
    ch.sync_delimited()


def t_resync_after_garbage(ch):
    # A lexical error inside a request, stray closers, NUL and 0xFE, then a
    # half request: the 0xFF + sync that follows must still come through.
    ch.sync_delimited(prefix=b'{"execute":"guest-pi\x01ng"}}]]garbage\x00\xfe{"execute":"guest-file-open","arguments":{"pa')


def t_sync(ch):
    check(ch.execute("guest-sync", {"id": 4242}) == 4242, "guest-sync echoes its id")


def t_ping(ch):
    check(ch.execute("guest-ping") == {}, "guest-ping returns {}")


def t_id_echo(ch):
    ch.send(b'{"execute":"guest-ping","id":"abc-1"}\n')
    r = ch.reply()
    check(r == {"return": {}, "id": "abc-1"}, f"id echoed: {r}")


def t_info(ch):
    info = ch.execute("guest-info")
    check(isinstance(info.get("version"), str), f"version: {info.get('version')}")
    cmds = {c["name"]: c for c in info["supported_commands"]}
    check(len(cmds) >= 35, f"the 35 seed commands (or more) listed, got {len(cmds)}")
    enabled = {n for n, c in cmds.items() if c["enabled"]}
    want = IMPLEMENTED | BUILTIN
    check(enabled == want, f"enabled: extra {sorted(enabled - want)}, missing {sorted(want - enabled)}")
    check(cmds["guest-shutdown"]["success-response"] is False, "guest-shutdown has no success response")


def t_unsupported(ch):
    err = ch.execute_error("guest-get-users")
    check(err.get("class") in ("GenericError", "CommandNotFound"), f"error class: {err}")


def t_get_time(ch):
    before = time.time()
    ns = ch.execute("guest-get-time")
    after = time.time()
    guest = ns / 1e9
    # QEMU starts the goldfish RTC at the host time truncated to whole
    # seconds, so the guest may lag by up to 1 s, never lead.
    check(before - 1.0 <= guest <= after + 0.05, f"guest {guest:.3f}, host {before:.3f}..{after:.3f}")
    print(f"      guest-get-time: guest - host = {guest - (before + after) / 2:+.3f} s")


def t_set_time(ch):
    check(ch.execute("guest-set-time", {"time": time.time_ns()}) == {}, "set-time returns {}")
    before = time.time()
    guest = ch.execute("guest-get-time") / 1e9
    after = time.time()
    check(before - 0.2 <= guest <= after + 0.2, f"after set: guest {guest:.3f}, host {before:.3f}..{after:.3f}")
    err = ch.execute_error("guest-set-time", {"time": -1})
    check("Invalid time" in err.get("desc", ""), f"negative time refused: {err}")


def lag(ch):
    """Host time minus guest time, in seconds (the round trip is ~ms)."""
    before = time.time()
    guest = ch.execute("guest-get-time") / 1e9
    return (before + time.time()) / 2 - guest


def t_set_time_from_rtc(ch):
    # The RTC follows the host's clock (the set above wrote it); the system
    # clock runs on QEMU's virtual clock, which stands still while the VM is
    # stopped. So a pause puts the system clock PAUSE s behind the RTC, and
    # only a real copy from the RTC brings it back.
    ch.qmp.execute("stop")
    time.sleep(PAUSE)
    ch.qmp.execute("cont")
    behind = lag(ch)
    check(PAUSE - 0.3 <= behind <= PAUSE + 0.5, f"after the pause the clock is {behind:.3f} s behind, not ~{PAUSE} s")
    check(ch.execute("guest-set-time") == {}, "set-time without time returns {}")
    after = lag(ch)
    check(abs(after) <= 0.3, f"set-time without time left the clock {after:.3f} s off the RTC (was {behind:.3f} s)")
    print(f"      system clock behind the RTC: {behind:+.3f} s paused, {after:+.3f} s after guest-set-time {{}}")


def t_system_info(ch):
    check(ch.execute("guest-get-host-name") == {"host-name": "qga-firmware"}, "host name")
    tz = ch.execute("guest-get-timezone")
    check(tz == {"zone": "UTC", "offset": 0}, f"timezone {tz}")
    vcpus = ch.execute("guest-get-vcpus")
    check(vcpus == [{"logical-id": 0, "online": True, "can-offline": False}], f"vcpus {vcpus}")
    os_info = ch.execute("guest-get-osinfo")
    check(os_info.get("machine") == "riscv64", f"osinfo {os_info}")


def t_file_round_trip(ch):
    payload = bytes(random.randrange(256) for _ in range(3000))
    handle = ch.execute("guest-file-open", {"path": "/demo.bin", "mode": "w+"})
    check(isinstance(handle, int), f"handle {handle}")
    w = ch.execute("guest-file-write", {"handle": handle, "buf-b64": base64.b64encode(payload).decode()})
    check(w.get("count") == len(payload) and w.get("eof") is False, f"write {w}")
    s = ch.execute("guest-file-seek", {"handle": handle, "offset": 0, "whence": "set"})
    check(s.get("position") == 0, f"seek {s}")
    r = ch.execute("guest-file-read", {"handle": handle, "count": 4096})
    data = base64.b64decode(r.get("buf-b64", ""))
    check(data == payload, f"read back {len(data)} bytes, first {data[:8]!r} vs {payload[:8]!r}")
    check(r.get("count") == len(payload) and r.get("eof") is True, f"read {dict(r, **{'buf-b64': '...'})}")
    check(ch.execute("guest-file-flush", {"handle": handle}) == {}, "flush")
    check(ch.execute("guest-file-close", {"handle": handle}) == {}, "close")
    err = ch.execute_error("guest-file-close", {"handle": handle})
    check(f"handle '{handle}' has not been found" in err.get("desc", ""), f"closed handle: {err}")
    # Reopen read-only: the contents stayed.
    handle = ch.execute("guest-file-open", {"path": "/demo.bin", "mode": "r"})
    r = ch.execute("guest-file-read", {"handle": handle, "count": 16})
    check(base64.b64decode(r["buf-b64"]) == payload[:16] and r["count"] == 16, f"reread {r}")
    ch.execute("guest-file-close", {"handle": handle})


def t_stack_peak(ch):
    # Last request before shutdown: the mark covers everything above.
    variant_id = ch.execute("guest-get-osinfo").get("variant-id", "")
    m = re.fullmatch(r"stack-peak-(\d+)-of-(\d+)-boot-(\d+)", variant_id)
    check(m is not None, f"variant-id {variant_id!r}")
    used, reserved, boot = int(m.group(1)), int(m.group(2)), int(m.group(3))
    print(f"      stack high-water mark: {used} of {reserved} bytes serving, {boot} at boot")
    check(used < reserved and boot < reserved, "the stack never reached its bottom")


CHECKS = [
    ("0xFF + guest-sync-delimited", t_sync_delimited),
    ("resync after garbage", t_resync_after_garbage),
    ("guest-sync", t_sync),
    ("guest-ping", t_ping),
    ("id echoed verbatim", t_id_echo),
    ("guest-info enables exactly the implemented commands", t_info),
    ("unimplemented command is an error", t_unsupported),
    ("guest-get-time within 1 s of the host", t_get_time),
    ("guest-set-time", t_set_time),
    ("guest-set-time without time copies the RTC into the system clock", t_set_time_from_rtc),
    ("host name, timezone, vcpus, osinfo", t_system_info),
    ("guest-file open/write/seek/read/close round trip", t_file_round_trip),
    ("stack high-water mark", t_stack_peak),
]


def shutdown_check(ch, qemu):
    ch.send(b'{"execute":"guest-shutdown"}\n')
    try:
        status = qemu.wait(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"QEMU still running {EXIT_TIMEOUT} s after guest-shutdown")
    check(status == 0, f"QEMU exit status {status}")
    # No reply: success-response is false for guest-shutdown.
    try:
        line = ch.read_line(timeout=1.0)
    except (EOFError, TestFailure, ConnectionError):
        return  # closed (EOF or reset) or silent: both fine
    raise TestFailure(f"unexpected reply to guest-shutdown: {line!r}")

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("elf")
    ap.add_argument("--qemu", default=os.environ.get("QEMU", "qemu-system-riscv64"))
    ap.add_argument("--keep-log", action="store_true", help="print QEMU's output even on success")
    args = ap.parse_args()
    if not os.path.isfile(args.elf):
        sys.exit(f"no such ELF: {args.elf}")
    if shutil.which(args.qemu) is None:
        sys.exit(f"{args.qemu} not found (Debian: apt-get install qemu-system-misc)")

    tmp = tempfile.mkdtemp(prefix="qga-fw-")
    sock_path = os.path.join(tmp, "qga.sock")
    qmp_path = os.path.join(tmp, "qmp.sock")
    log_path = os.path.join(tmp, "qemu.log")
    cmd = [
        args.qemu, "-machine", "virt", "-bios", "none", "-m", "64M",
        "-display", "none", "-monitor", "none",
        "-chardev", f"socket,id=qga,path={sock_path},server=on,wait=off",
        "-serial", "chardev:qga",
        "-qmp", f"unix:{qmp_path},server=on,wait=off",
        "-kernel", args.elf,
    ]  # fmt: skip
    print("$ " + " ".join(cmd))
    log = open(log_path, "wb")
    qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    passed = failed = 0
    ch = None
    try:
        try:
            ch = Channel(sock_path, Qmp(qmp_path))
        except TestFailure as e:
            print(f"FAIL connect: {e}")
            failed += 1
        else:
            for name, fn in CHECKS + [("guest-shutdown ends QEMU with status 0", None)]:
                try:
                    fn(ch) if fn else shutdown_check(ch, qemu)
                    print(f"PASS {name}")
                    passed += 1
                except (TestFailure, EOFError, OSError, KeyError, TypeError, ValueError) as e:
                    print(f"FAIL {name}: {type(e).__name__}: {e}")
                    failed += 1
                    if isinstance(e, (EOFError, OSError)) or qemu.poll() is not None:
                        break  # the channel is gone; the rest cannot run
    finally:
        if ch is not None:
            ch.close()
        if qemu.poll() is None:
            qemu.kill()
        try:
            qemu.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        log.close()
        with open(log_path, "rb") as f:
            out = f.read().decode(errors="replace").strip()
        if out and (failed or args.keep_log):
            print("---- QEMU output ----\n" + out)
        shutil.rmtree(tmp, ignore_errors=True)
    skipped = len(CHECKS) + 1 - passed - failed
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    sys.exit(1 if failed or skipped else 0)


if __name__ == "__main__":
    main()
