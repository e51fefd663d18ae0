//! systemd socket activation, as upstream qemu-ga accepts it (protocol
//! notes 4.3): when `$LISTEN_PID` is this process and `$LISTEN_FDS` is 1,
//! the listening socket on fd 3 is the channel; its address family picks
//! unix-listen or vsock-listen, and `-m`/`-p` are not used. More than one
//! socket, or one of another kind, is a fatal error.
//!
//! [`take`] reads and removes `LISTEN_PID`, `LISTEN_FDS` and
//! `LISTEN_FDNAMES` (so guest-exec children do not see them), and marks the
//! socket close-on-exec and non-blocking.
#![deny(unsafe_code)]

use std::fmt;
use std::os::fd::{FromRawFd, OwnedFd};

use rustix::io::FdFlags;
use rustix::net::AddressFamily;

use crate::config::{Endpoint, VSOCK_ANY_CID};

/// The first descriptor a service manager passes (`SD_LISTEN_FDS_START`).
pub const FIRST_FD: i32 = 3;
const VARS: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// A socket handed over by the service manager.
#[derive(Debug)]
pub struct Activated {
    /// The channel kind (and, for unix sockets, the bound path).
    pub endpoint: Endpoint,
    /// The listening socket.
    pub fd: OwnedFd,
}

/// Socket activation that cannot be used (fatal, exit 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActivationError {
    /// `LISTEN_FDS` above 1 (qemu-ga's text).
    TooMany,
    /// fd 3 is not a listening unix or vsock stream socket (qemu-ga's text).
    Unsupported,
}

impl fmt::Display for ActivationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActivationError::TooMany => "qemu-ga only supports listening on one socket",
            ActivationError::Unsupported => "unsupported listen fd type",
        })
    }
}

impl std::error::Error for ActivationError {}

/// The number of sockets passed to this process (`0`: not activated).
pub fn count(listen_pid: Option<&str>, listen_fds: Option<&str>, own_pid: u32) -> u32 {
    if listen_pid.and_then(|p| p.parse::<u32>().ok()) != Some(own_pid) {
        return 0;
    }
    listen_fds.and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Takes the activated socket, if any. Call it first thing in `main`,
/// before any thread starts and before anything else opens a descriptor.
pub fn take() -> Result<Option<Activated>, ActivationError> {
    let var = |name| std::env::var(name).ok();
    let n = count(
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDS").as_deref(),
        std::process::id(),
    );
    for name in VARS {
        std::env::remove_var(name);
    }
    match n {
        0 => Ok(None),
        1 => adopt(first_fd()).map(Some),
        _ => Err(ActivationError::TooMany),
    }
}

/// Owns fd 3.
#[allow(unsafe_code)]
fn first_fd() -> OwnedFd {
    // SAFETY: `LISTEN_PID` names this process and `LISTEN_FDS` is 1, so by
    // the sd_listen_fds(3) protocol the service manager passed fd 3 to this
    // very process, open. `take` runs once, at the start of `main`, before
    // anything in the process could have opened, closed or claimed fd 3, so
    // this `OwnedFd` is its only owner.
    unsafe { OwnedFd::from_raw_fd(FIRST_FD) }
}

/// Checks the socket's kind and prepares it for the listener loop.
pub fn adopt(fd: OwnedFd) -> Result<Activated, ActivationError> {
    use rustix::net::sockopt;
    let listening = sockopt::socket_type(&fd) == Ok(rustix::net::SocketType::STREAM)
        && sockopt::socket_acceptconn(&fd) == Ok(true);
    if !listening {
        return Err(ActivationError::Unsupported);
    }
    let addr = rustix::net::getsockname(&fd).map_err(|_| ActivationError::Unsupported)?;
    let endpoint = match addr.address_family() {
        AddressFamily::UNIX => {
            let unix = rustix::net::SocketAddrUnix::try_from(addr)
                .map_err(|_| ActivationError::Unsupported)?;
            let path = unix.path().map(|p| p.to_string_lossy().into_owned());
            Endpoint::UnixListen(path.unwrap_or_default().into())
        }
        // The address only matters for reopening, and an activated socket
        // belongs to the service manager: it is never reopened.
        AddressFamily::VSOCK => Endpoint::VsockListen {
            cid: VSOCK_ANY_CID,
            port: 0,
        },
        _ => return Err(ActivationError::Unsupported),
    };
    rustix::io::fcntl_setfd(&fd, FdFlags::CLOEXEC).map_err(|_| ActivationError::Unsupported)?;
    let flags = rustix::fs::fcntl_getfl(&fd).map_err(|_| ActivationError::Unsupported)?;
    rustix::fs::fcntl_setfl(&fd, flags | rustix::fs::OFlags::NONBLOCK)
        .map_err(|_| ActivationError::Unsupported)?;
    Ok(Activated { endpoint, fd })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::net::{UnixListener, UnixStream};

    #[test]
    fn count_needs_our_pid_and_a_number() {
        assert_eq!(count(Some("42"), Some("1"), 42), 1);
        assert_eq!(count(Some("42"), Some("2"), 42), 2);
        assert_eq!(count(Some("41"), Some("1"), 42), 0, "for another process");
        assert_eq!(count(None, Some("1"), 42), 0);
        assert_eq!(count(Some("42"), None, 42), 0);
        assert_eq!(count(Some("42"), Some("x"), 42), 0);
        assert_eq!(count(Some("x"), Some("1"), 42), 0);
    }

    #[test]
    fn a_unix_listener_becomes_unix_listen_with_its_path() {
        let dir = std::env::temp_dir().join(format!("qga-act-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let a = adopt(OwnedFd::from(listener)).unwrap();
        assert_eq!(a.endpoint, Endpoint::UnixListen(path.clone()));
        assert!(rustix::io::fcntl_getfd(&a.fd)
            .unwrap()
            .contains(FdFlags::CLOEXEC));
        let fl = rustix::fs::fcntl_getfl(&a.fd).unwrap();
        assert!(fl.contains(rustix::fs::OFlags::NONBLOCK));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn other_descriptors_are_refused() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert_eq!(
            adopt(OwnedFd::from(a)).err(),
            Some(ActivationError::Unsupported),
            "a connected socket is not a listener"
        );
        let file = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(
            adopt(OwnedFd::from(file)).err(),
            Some(ActivationError::Unsupported)
        );
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(
            adopt(OwnedFd::from(udp)).err(),
            Some(ActivationError::Unsupported)
        );
        assert_eq!(
            ActivationError::TooMany.to_string(),
            "qemu-ga only supports listening on one socket"
        );
    }
}
