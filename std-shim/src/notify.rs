//! Readiness for systemd's `Type=notify` without libsystemd: one datagram,
//! `READY=1`, to the socket named by `$NOTIFY_SOCKET`, sent once the channel
//! is open (the port opened, or the socket listening), so `systemctl start`
//! returns when the host can be answered.
//!
//! [`Notifier::from_env`] takes the variable out of the environment at
//! start-up, so guest-exec children and helpers never see it.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;

use rustix::net::{AddressFamily, SendFlags, SocketAddrUnix, SocketFlags, SocketType};

/// The variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
/// The message that says "ready".
pub const READY: &[u8] = b"READY=1\n";

/// Where to say "ready", if anyone asked.
#[derive(Debug, Default)]
pub struct Notifier {
    socket: Option<OsString>,
}

impl Notifier {
    /// Takes `$NOTIFY_SOCKET` out of the environment. Call it early, before
    /// any thread is started.
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os(NOTIFY_SOCKET);
        if socket.is_some() {
            std::env::remove_var(NOTIFY_SOCKET);
        }
        Notifier { socket }
    }

    /// A notifier for the socket `name` (a path, or `@name` for the
    /// abstract namespace).
    pub fn to(name: impl Into<OsString>) -> Notifier {
        Notifier {
            socket: Some(name.into()),
        }
    }

    /// Sends `READY=1` (nothing if no one asked). A service manager that does
    /// not listen any more is not the agent's problem: the error is returned
    /// for the log, the agent goes on.
    pub fn ready(&self) -> io::Result<()> {
        let Some(name) = &self.socket else {
            return Ok(());
        };
        let addr = address(name.as_bytes())?;
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            None,
        )?;
        rustix::net::sendto(&fd, READY, SendFlags::NOSIGNAL, &addr)?;
        Ok(())
    }
}

/// `/path` or `@abstract`; systemd's other forms (vsock:) are not supported.
fn address(name: &[u8]) -> io::Result<SocketAddrUnix> {
    match name {
        [b'@', abstract_name @ ..] => Ok(SocketAddrUnix::new_abstract_name(abstract_name)?),
        [b'/', ..] => Ok(SocketAddrUnix::new(name)?),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "unsupported NOTIFY_SOCKET address",
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};

    fn recv(rx: &UnixDatagram) -> Vec<u8> {
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn ready_goes_to_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("qga-notify-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).unwrap();
        Notifier::to(path.as_os_str()).ready().unwrap();
        assert_eq!(recv(&rx), READY);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ready_goes_to_an_abstract_socket() {
        let name = format!("qga-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        Notifier::to(format!("@{name}")).ready().unwrap();
        assert_eq!(recv(&rx), READY);
    }

    #[test]
    fn nobody_asked_is_fine_and_bad_addresses_are_errors() {
        assert!(Notifier::default().ready().is_ok());
        assert!(Notifier::to("vsock:2:9").ready().is_err());
        assert!(Notifier::to("/nonexistent/notify").ready().is_err());
    }
}
