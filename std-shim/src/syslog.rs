//! A syslog client without syslog(3) or libsystemd: RFC 3164 datagrams on
//! the local socket `/dev/log` (journald, rsyslog and busybox syslogd all
//! listen there).
//!
//! A datagram is `<PRI>qga[PID]: TEXT`: facility `user` as qemu-ga's (it
//! never calls `openlog`), the TAG always [`TAG`], also when the agent runs
//! as `qemu-ga` (`journalctl -t qga` finds every line). The TIMESTAMP is left out: RFC 3164
//! §4.3.2 has the receiver add it, and it knows the local time zone, which
//! this static binary does not read for every line.
//!
//! Sending never blocks the agent: the socket is non-blocking, a datagram
//! that does not fit (`EAGAIN`, `ENOBUFS`) is dropped and counted, and the
//! count goes out in a warning of its own before the next line that fits.
//! A receiver that went away (a restarted syslog daemon) is reconnected
//! once per line. Every datagram is at most [`MAX_DATAGRAM`] bytes; a
//! longer text is cut at a character boundary and ends in [`CUT_MARK`].
#![forbid(unsafe_code)]

use std::fmt::{self, Write as _};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::net::{AddressFamily, SendFlags, SocketAddrUnix, SocketFlags, SocketType};

/// Where the system's syslog daemon listens.
pub const DEV_LOG: &str = "/dev/log";
/// The largest datagram sent (RFC 3164 §4.1: "1024 bytes or less").
pub const MAX_DATAGRAM: usize = 1024;
/// The TAG of every line.
pub const TAG: &str = "qga";
/// What ends a text that had to be cut to fit [`MAX_DATAGRAM`].
pub const CUT_MARK: &str = "...";
/// The `user` facility (syslog(3) uses it when `openlog` was not called).
const FACILITY_USER: u8 = 1;

/// Syslog severities (RFC 3164 table 2) that the agent uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// `crit` (2).
    Critical = 2,
    /// `err` (3).
    Error = 3,
    /// `warning` (4).
    Warning = 4,
    /// `notice` (5).
    Notice = 5,
    /// `info` (6).
    Info = 6,
    /// `debug` (7).
    Debug = 7,
}

/// A connection to a syslog socket.
#[derive(Debug)]
pub struct Syslog {
    path: PathBuf,
    pid: u32,
    sock: Option<OwnedFd>,
    dropped: u64,
}

impl Syslog {
    /// Connects to the datagram socket at `path`; fails when nothing
    /// listens there.
    pub fn connect(path: &Path) -> std::io::Result<Syslog> {
        let sock = Some(open(path)?);
        Ok(Syslog {
            path: path.to_path_buf(),
            pid: std::process::id(),
            sock,
            dropped: 0,
        })
    }

    /// Sends one line; drops it (and counts it) rather than wait.
    pub fn send(&mut self, severity: Severity, text: fmt::Arguments<'_>) {
        if self.dropped > 0 {
            let lost = self.dropped;
            let mut notice = Datagram::default();
            notice.format(
                Severity::Warning,
                self.pid,
                format_args!("warning: {lost} log messages dropped (syslog socket full)"),
            );
            if self.deliver(notice.bytes()) {
                self.dropped = 0;
            }
        }
        let mut datagram = Datagram::default();
        datagram.format(severity, self.pid, text);
        if !self.deliver(datagram.bytes()) {
            self.dropped += 1;
        }
    }

    /// Lines dropped since the last count went out.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// One send, and one reconnect + resend if the receiver went away.
    fn deliver(&mut self, bytes: &[u8]) -> bool {
        match self.sock.as_ref().map(|s| send(s, bytes)) {
            Some(Ok(())) => return true,
            Some(Err(Errno::AGAIN | Errno::NOBUFS | Errno::MSGSIZE)) => return false,
            _ => {}
        }
        self.sock = open(&self.path).ok();
        self.sock.as_ref().is_some_and(|s| send(s, bytes).is_ok())
    }
}

fn open(path: &Path) -> std::io::Result<OwnedFd> {
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    rustix::net::connect(&fd, &SocketAddrUnix::new(path)?)?;
    Ok(fd)
}

fn send(sock: &OwnedFd, bytes: &[u8]) -> Result<(), Errno> {
    let flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
    loop {
        match rustix::net::send(sock, bytes, flags) {
            Err(Errno::INTR) => {}
            other => return other.map(|_| ()),
        }
    }
}

/// One datagram, built in place: no allocation per line.
struct Datagram {
    buf: [u8; MAX_DATAGRAM],
    len: usize,
    cut: bool,
}

impl Default for Datagram {
    fn default() -> Self {
        Datagram {
            buf: [0; MAX_DATAGRAM],
            len: 0,
            cut: false,
        }
    }
}

impl Datagram {
    /// `<PRI>qga[PID]: TEXT`, cut to fit.
    fn format(&mut self, severity: Severity, pid: u32, text: fmt::Arguments<'_>) {
        let pri = FACILITY_USER * 8 + severity as u8;
        let _ = write!(self, "<{pri}>{TAG}[{pid}]: {text}");
        if self.cut {
            let at = floor_char_boundary(&self.buf[..self.len], MAX_DATAGRAM - CUT_MARK.len());
            self.buf[at..at + CUT_MARK.len()].copy_from_slice(CUT_MARK.as_bytes());
            self.len = at + CUT_MARK.len();
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for Datagram {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = MAX_DATAGRAM - self.len;
        let n = if s.len() <= room {
            s.len()
        } else {
            self.cut = true;
            floor_char_boundary(s.as_bytes(), room)
        };
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// The largest `i <= at` that does not split a UTF-8 sequence of `bytes`.
fn floor_char_boundary(bytes: &[u8], at: usize) -> usize {
    let mut i = at.min(bytes.len());
    while i > 0 && i < bytes.len() && (bytes[i] & 0xC0) == 0x80 {
        i -= 1;
    }
    i
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    fn receiver(tag: &str) -> (PathBuf, UnixDatagram) {
        let dir = std::env::temp_dir().join(format!("qga-syslog-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_nonblocking(true).unwrap();
        (path, rx)
    }

    fn received(rx: &UnixDatagram) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = rx.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        out
    }

    #[test]
    fn datagrams_are_rfc3164_with_user_facility() {
        let (path, rx) = receiver("format");
        let mut log = Syslog::connect(&path).unwrap();
        log.send(Severity::Info, format_args!("info: guest-ping called"));
        log.send(Severity::Critical, format_args!("critical: x {}", 1));
        log.send(Severity::Debug, format_args!("debug: y"));
        let pid = std::process::id();
        assert_eq!(
            received(&rx),
            [
                format!("<14>qga[{pid}]: info: guest-ping called"),
                format!("<10>qga[{pid}]: critical: x 1"),
                format!("<15>qga[{pid}]: debug: y"),
            ]
        );
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary_and_marked() {
        let (path, rx) = receiver("cut");
        let mut log = Syslog::connect(&path).unwrap();
        let text = "é".repeat(MAX_DATAGRAM);
        log.send(Severity::Info, format_args!("{text}"));
        let got = received(&rx);
        assert_eq!(got.len(), 1);
        let line = &got[0];
        assert!(line.len() <= MAX_DATAGRAM && line.len() > MAX_DATAGRAM - 4);
        assert!(line.ends_with(&format!("é{CUT_MARK}")), "{line}");
        let prefix = format!("<14>qga[{}]: é", std::process::id());
        assert!(line.starts_with(&prefix), "{line}");
    }

    #[test]
    fn a_full_socket_drops_and_counts_then_reports() {
        let (path, rx) = receiver("full");
        let mut log = Syslog::connect(&path).unwrap();
        let mut sent = 0;
        while log.dropped() == 0 {
            log.send(Severity::Info, format_args!("line {sent}"));
            sent += 1;
            assert!(sent < 100_000, "the socket never filled");
        }
        log.send(Severity::Info, format_args!("more"));
        assert_eq!(log.dropped(), 2, "the notice does not fit either");
        let delivered = received(&rx).len();
        assert_eq!(delivered, sent - 1);
        log.send(Severity::Info, format_args!("after"));
        let got = received(&rx);
        let pid = std::process::id();
        assert_eq!(
            got,
            [
                format!("<12>qga[{pid}]: warning: 2 log messages dropped (syslog socket full)"),
                format!("<14>qga[{pid}]: after"),
            ]
        );
        assert_eq!(log.dropped(), 0);
    }

    #[test]
    fn a_restarted_receiver_is_reconnected() {
        let (path, rx) = receiver("restart");
        let mut log = Syslog::connect(&path).unwrap();
        drop(rx);
        std::fs::remove_file(&path).unwrap();
        log.send(Severity::Info, format_args!("lost"));
        assert_eq!(log.dropped(), 1);
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_nonblocking(true).unwrap();
        log.send(Severity::Info, format_args!("back"));
        let got = received(&rx);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].ends_with("warning: 1 log messages dropped (syslog socket full)"));
        assert!(got[1].ends_with("]: back"));
    }

    #[test]
    fn connect_fails_without_a_listener() {
        let dir = std::env::temp_dir().join("qga-syslog-none/log");
        assert!(Syslog::connect(&dir).is_err());
    }

    #[test]
    fn char_boundary() {
        let s = "aé".as_bytes();
        assert_eq!(floor_char_boundary(s, 2), 1);
        assert_eq!(floor_char_boundary(s, 3), 3);
        assert_eq!(floor_char_boundary(s, 9), 3);
        assert_eq!(floor_char_boundary(s, 0), 0);
    }
}
