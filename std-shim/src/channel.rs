//! The four channels (protocol notes 4.6) and the poll(2) loop that drives a
//! [`Session`] (the core's `Agent`) over them.
//!
//! * **virtio-serial** / **isa-serial** ([`Endpoint::VirtioSerial`],
//!   [`Endpoint::IsaSerial`]): one fd for the agent's life. While no host
//!   process is attached a virtio port reports `POLLHUP` and reads return EOF
//!   at once, so poll(2) cannot block; the loop then sleeps
//!   [`HOST_ABSENT_SLEEP`] (100 ms, as qemu-ga) between polls. The first data
//!   after such a gap resets the parser: a new host connection starts clean
//!   (qemu-ga keeps stale partial input, notes 6.3).
//! * **unix-listen** / **vsock-listen**: one client at a time; each accepted
//!   client gets a clean parser; a client that resets the connection or stops
//!   reading only ends that client (qemu-ga exits, notes 6.5).
//!
//! Writes loop until every byte is out and wait with poll(`POLLOUT`) on
//! `EAGAIN`. Sockets are written with `MSG_NOSIGNAL` (and Rust's runtime
//! ignores `SIGPIPE` anyway), so a vanished peer is an `EPIPE`, not a signal.
//! A fatal channel error ends [`Channel::run`] unless `--retry-path`, which
//! reopens the channel every [`RETRY_INTERVAL`]. Every wait (poll, sleep)
//! also watches the [`Stop`] request, so SIGTERM/SIGINT end the loop at
//! once, even while a write waits for a host that does not read.
//!
//! A unix-listen socket is created mode 0600 whatever the umask (only root
//! may connect: the protocol lets its peer run anything as root).

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::event::PollFlags;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SendFlags, SocketAddrUnix, SocketFlags, SocketType};

use qga_core::platform::Platform;
use qga_core::Agent;

use crate::config::Endpoint;
use crate::log;
use crate::signals::Stop;

/// Bytes read per `read(2)`, as qemu-ga.
pub const READ_CHUNK: usize = 4096;
/// Pause between polls while a virtio-serial port has no host attached.
pub const HOST_ABSENT_SLEEP: Duration = Duration::from_millis(100);
/// Pause between attempts to (re)open the channel with `--retry-path`.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// Where a virtio port's name can be found when udev made no symlink.
pub const VIRTIO_PORTS_SYSFS: &str = "/sys/class/virtio-ports";

/// What the loop drives: the core's `Agent`, or a test double.
pub trait Session {
    /// Forgets any partial request (a new client or host connection).
    fn reset(&mut self);
    /// Consumes received bytes, writing every complete reply to `out`.
    fn feed<W: embedded_io::Write>(&mut self, bytes: &[u8], out: &mut W) -> Result<(), W::Error>;
    /// Readable while the session has work besides requests (children's
    /// output to collect): the loop, waiting for requests, then calls
    /// [`Session::service`].
    fn background(&self) -> Option<BorrowedFd<'_>> {
        None
    }
    /// Does that work, without blocking.
    fn service(&mut self) {}
}

impl<P: Platform, const N: usize, const R: usize, const S: usize> Session for Agent<P, N, R, S> {
    fn reset(&mut self) {
        self.reset_parser();
    }

    fn feed<W: embedded_io::Write>(&mut self, bytes: &[u8], out: &mut W) -> Result<(), W::Error> {
        Agent::feed(self, bytes, out)
    }
}

/// Why [`Channel::run`] returned.
#[derive(Debug)]
pub enum Exit {
    /// SIGTERM or SIGINT (the signal number).
    Signal(i32),
    /// A fatal channel error (without `--retry-path`).
    Error(io::Error),
}

/// The errno [`wait`] reports when a stop was requested.
const STOPPED: Errno = Errno::CANCELED;

/// A write or poll failure on the reply side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelError(pub Errno);

impl embedded_io::Error for ChannelError {
    fn kind(&self) -> embedded_io::ErrorKind {
        use embedded_io::ErrorKind as K;
        match self.0 {
            Errno::PIPE | Errno::NOTCONN | Errno::CONNRESET => K::BrokenPipe,
            Errno::CONNABORTED => K::ConnectionAborted,
            Errno::INTR => K::Interrupted,
            Errno::NOMEM | Errno::NOBUFS => K::OutOfMemory,
            _ => K::Other,
        }
    }
}

impl std::error::Error for ChannelError {}

impl core::fmt::Display for ChannelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&log::errno_text(&io::Error::from(self.0)))
    }
}

/// The reply side of a channel: unbuffered writes straight to the fd.
#[derive(Debug)]
pub struct FdWriter<'a> {
    fd: BorrowedFd<'a>,
    socket: bool,
    stop: Option<&'a Stop>,
}

impl<'a> FdWriter<'a> {
    /// A writer for a connected socket (`send` with `MSG_NOSIGNAL`).
    pub fn socket(fd: BorrowedFd<'a>) -> Self {
        FdWriter {
            fd,
            socket: true,
            stop: None,
        }
    }

    /// A writer for a character device (`write`).
    pub fn device(fd: BorrowedFd<'a>) -> Self {
        FdWriter {
            fd,
            socket: false,
            stop: None,
        }
    }

    /// Gives up waiting for room (error `ECANCELED`) once `stop` is requested.
    pub fn with_stop(self, stop: &'a Stop) -> Self {
        FdWriter {
            stop: Some(stop),
            ..self
        }
    }

    fn write_once(&self, buf: &[u8]) -> Result<usize, Errno> {
        if self.socket {
            rustix::net::send(self.fd, buf, SendFlags::NOSIGNAL)
        } else {
            rustix::io::write(self.fd, buf)
        }
    }
}

impl embedded_io::ErrorType for FdWriter<'_> {
    type Error = ChannelError;
}

impl embedded_io::Write for FdWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ChannelError> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.write_once(buf) {
                Ok(n) => return Ok(n),
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => wait_writable(self.fd, self.stop)?,
                Err(e) => return Err(ChannelError(e)),
            }
        }
    }

    fn flush(&mut self) -> Result<(), ChannelError> {
        Ok(())
    }
}

/// Blocks until `fd` takes more bytes; a hung-up peer is `EPIPE` (a virtio
/// port without host reports `POLLHUP` and never `POLLOUT`).
fn wait_writable(fd: BorrowedFd<'_>, stop: Option<&Stop>) -> Result<(), ChannelError> {
    let (revents, _) = wait(fd, PollFlags::OUT, stop, None, None).map_err(ChannelError)?;
    if revents.contains(PollFlags::OUT) {
        Ok(())
    } else {
        Err(ChannelError(Errno::PIPE))
    }
}

/// An open channel: a device fd or a listening socket.
#[derive(Debug)]
pub struct Channel {
    endpoint: Endpoint,
    fd: OwnedFd,
}

impl Channel {
    /// Opens the channel once.
    pub fn open(endpoint: &Endpoint) -> io::Result<Channel> {
        let fd = match endpoint {
            Endpoint::VirtioSerial(path) => open_virtio(path, Path::new(VIRTIO_PORTS_SYSFS))?,
            Endpoint::IsaSerial(path) => open_serial(path)?,
            Endpoint::UnixListen(path) => listen_unix(path)?,
            Endpoint::VsockListen { cid, port } => listen_vsock(*cid, *port)?,
        };
        Ok(Channel {
            endpoint: endpoint.clone(),
            fd,
        })
    }

    /// Opens the channel; with `retry`, tries again every [`RETRY_INTERVAL`]
    /// (until `stop` is requested: then `ECANCELED`).
    pub fn open_retrying(endpoint: &Endpoint, retry: bool, stop: &Stop) -> io::Result<Channel> {
        loop {
            match Channel::open(endpoint) {
                Err(e) if retry => {
                    log::error(format_args!(
                        "error opening channel: {}; retrying",
                        log::errno_text(&e)
                    ));
                    if stop.sleep(RETRY_INTERVAL).is_some() {
                        return Err(STOPPED.into());
                    }
                }
                other => return other,
            }
        }
    }

    /// Wraps an fd opened earlier for `endpoint` (the daemon's inherited channel).
    pub fn from_fd(endpoint: &Endpoint, fd: OwnedFd) -> Channel {
        Channel {
            endpoint: endpoint.clone(),
            fd,
        }
    }

    /// The open fd (handed to the daemon child).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Serves `session` until `stop` is requested or a fatal channel error
    /// (with `retry`, never: the channel is reopened instead).
    pub fn run<S: Session>(mut self, session: &mut S, retry: bool, stop: &Stop) -> Exit {
        let mut buf = [0u8; READ_CHUNK];
        loop {
            let io = Io {
                session: &mut *session,
                buf: &mut buf,
                stop,
            };
            let err = match self.endpoint {
                Endpoint::VirtioSerial(_) | Endpoint::IsaSerial(_) => io.device(self.fd.as_fd()),
                Endpoint::UnixListen(_) | Endpoint::VsockListen { .. } => {
                    io.listener(self.fd.as_fd())
                }
            };
            if let Some(sig) = stop.requested() {
                return Exit::Signal(sig);
            }
            log::error(format_args!(
                "channel error: {}",
                log::errno_text(&io::Error::from(err))
            ));
            if !retry {
                return Exit::Error(err.into());
            }
            drop(self.fd);
            if let Some(sig) = stop.sleep(RETRY_INTERVAL) {
                return Exit::Signal(sig);
            }
            self = match Channel::open_retrying(&self.endpoint, true, stop) {
                Ok(ch) => ch,
                Err(e) => return stop.requested().map_or(Exit::Error(e), Exit::Signal),
            };
            session.reset();
        }
    }
}

/// Opens a virtio-serial port; a missing path falls back to the port of the
/// same name found in sysfs (guests without udev, vm-guest-notes).
fn open_virtio(path: &Path, sysfs: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC;
    match rustix::fs::open(path, flags, Mode::empty()) {
        Err(Errno::NOENT) => {
            let name = path.file_name().unwrap_or_default();
            let dev = find_virtio_port(sysfs, name).ok_or_else(|| io::Error::from(Errno::NOENT))?;
            log::debug(format_args!(
                "{} missing, using {}",
                path.display(),
                dev.display()
            ));
            Ok(rustix::fs::open(dev, flags, Mode::empty())?)
        }
        other => Ok(other?),
    }
}

/// `/dev/vportNpM` whose `/sys/class/virtio-ports/vportNpM/name` is `name`.
fn find_virtio_port(sysfs: &Path, name: &OsStr) -> Option<PathBuf> {
    std::fs::read_dir(sysfs).ok()?.flatten().find_map(|entry| {
        let port_name = std::fs::read(entry.path().join("name")).ok()?;
        (port_name.trim_ascii_end() == name.as_bytes())
            .then(|| Path::new("/dev").join(entry.file_name()))
    })
}

/// Opens a serial tty raw at 38400 baud (qemu-ga's settings, notes 4.6).
fn open_serial(path: &Path) -> io::Result<OwnedFd> {
    use rustix::termios::{
        self, InputModes, LocalModes, OptionalActions, OutputModes, QueueSelector, SpecialCodeIndex,
    };
    let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty())?;
    let mut tio = termios::tcgetattr(&fd)?;
    tio.input_modes -= InputModes::IGNBRK
        | InputModes::BRKINT
        | InputModes::IGNPAR
        | InputModes::PARMRK
        | InputModes::INPCK
        | InputModes::ISTRIP
        | InputModes::INLCR
        | InputModes::IGNCR
        | InputModes::ICRNL
        | InputModes::IXON
        | InputModes::IXOFF
        | InputModes::IXANY
        | InputModes::IMAXBEL;
    tio.output_modes = OutputModes::empty();
    tio.local_modes = LocalModes::empty();
    tio.set_speed(38400)?;
    tio.special_codes[SpecialCodeIndex::VMIN] = 1;
    tio.special_codes[SpecialCodeIndex::VTIME] = 0;
    termios::tcflush(&fd, QueueSelector::IFlush)?;
    termios::tcsetattr(&fd, OptionalActions::Now, &tio)?;
    Ok(fd)
}

/// Unlinks a stale socket, binds (mode 0600), listens with backlog 1.
fn listen_unix(path: &Path) -> io::Result<OwnedFd> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    // Linux gives the bound file the socket inode's mode minus the umask:
    // 0600 set here means at most 0600 there, with no window in which a
    // guest user could connect.
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o600))?;
    rustix::net::bind(&fd, &SocketAddrUnix::new(path)?)?;
    rustix::net::listen(&fd, 1)?;
    Ok(fd)
}

/// Binds and listens on `AF_VSOCK` `cid:port` with backlog 1.
fn listen_vsock(cid: u32, port: u32) -> io::Result<OwnedFd> {
    let fd = rustix::net::socket_with(
        AddressFamily::VSOCK,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    rustix::net::bind(&fd, &vsock::VsockAddr::new(cid, port))?;
    rustix::net::listen(&fd, 1)?;
    Ok(fd)
}

mod serving;
mod vsock;

use serving::{wait, Io};

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    /// Echoes each received chunk back, prefixed with `>`; counts resets.
    #[derive(Default)]
    struct Echo {
        resets: usize,
    }

    impl Session for Echo {
        fn reset(&mut self) {
            self.resets += 1;
        }
        fn feed<W: embedded_io::Write>(
            &mut self,
            bytes: &[u8],
            out: &mut W,
        ) -> Result<(), W::Error> {
            out.write_all(b">")?;
            out.write_all(bytes)?;
            out.flush()
        }
    }

    #[test]
    fn writer_writes_everything_and_waits_for_room() {
        let (a, mut b) = match UnixStream::pair() {
            Ok(p) => p,
            Err(e) => unreachable!("{e}"),
        };
        let _ = a.set_nonblocking(true);
        let big = vec![7u8; 1 << 20]; // far more than the socket buffer
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            let _ = b.read_to_end(&mut got);
            got.len()
        });
        let r = embedded_io::Write::write_all(&mut FdWriter::socket(a.as_fd()), &big);
        assert_eq!(r, Ok(()));
        drop(a);
        assert_eq!(reader.join().ok(), Some(1 << 20));
    }

    #[test]
    fn writer_reports_epipe_without_sigpipe() {
        let (a, b) = match UnixStream::pair() {
            Ok(p) => p,
            Err(e) => unreachable!("{e}"),
        };
        drop(b);
        let r = embedded_io::Write::write_all(&mut FdWriter::socket(a.as_fd()), b"x");
        assert_eq!(r, Err(ChannelError(Errno::PIPE)));
        assert_eq!(
            embedded_io::Error::kind(&ChannelError(Errno::PIPE)),
            embedded_io::ErrorKind::BrokenPipe
        );
        assert_eq!(ChannelError(Errno::PIPE).to_string(), "Broken pipe");
    }

    #[test]
    fn client_loop_serves_until_eof() {
        let (a, mut b) = match UnixStream::pair() {
            Ok(p) => p,
            Err(e) => unreachable!("{e}"),
        };
        let _ = b.write_all(b"ping");
        let _ = b.shutdown(std::net::Shutdown::Write);
        let mut echo = Echo::default();
        let stop = Stop::new().unwrap_or_else(|e| unreachable!("{e}"));
        let mut io = Io {
            session: &mut echo,
            buf: &mut [0u8; READ_CHUNK],
            stop: &stop,
        };
        io.client(a.as_fd());
        let mut got = String::new();
        drop(a);
        let _ = b.read_to_string(&mut got);
        assert_eq!(got, ">ping");
    }

    #[test]
    fn listener_serves_successive_clients_with_a_reset_each() {
        let dir = std::env::temp_dir().join(format!("qga-chan-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("sock");
        let _ = std::fs::write(&path, b"stale");
        let ch = Channel::open(&Endpoint::UnixListen(path.clone()));
        let Ok(ch) = ch else { unreachable!("{ch:?}") };
        std::thread::spawn(move || {
            let stop = Stop::new().unwrap_or_else(|e| unreachable!("{e}"));
            ch.run(&mut Echo::default(), false, &stop)
        });
        for word in ["one", "two"] {
            let mut c = UnixStream::connect(&path).unwrap_or_else(|e| unreachable!("{e}"));
            let _ = c.write_all(word.as_bytes());
            let mut reply = [0u8; 4];
            let _ = c.read_exact(&mut reply);
            assert_eq!(&reply[1..], word.as_bytes());
        }
        // A client that disconnects without reading does not stop the agent.
        let c = UnixStream::connect(&path).unwrap_or_else(|e| unreachable!("{e}"));
        let _ = (&c).write_all(b"x");
        drop(c);
        let mut c = UnixStream::connect(&path).unwrap_or_else(|e| unreachable!("{e}"));
        let _ = c.write_all(b"ok");
        let mut reply = [0u8; 3];
        assert!(c.read_exact(&mut reply).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sysfs_lookup_finds_the_named_port() {
        let dir = std::env::temp_dir().join(format!("qga-sysfs-{}", std::process::id()));
        for (port, name) in [
            ("vport0p1", "org.qemu.other"),
            ("vport1p2", "org.qemu.guest_agent.0"),
        ] {
            let _ = std::fs::create_dir_all(dir.join(port));
            let _ = std::fs::write(dir.join(port).join("name"), format!("{name}\n"));
        }
        let found = find_virtio_port(&dir, OsStr::new("org.qemu.guest_agent.0"));
        assert_eq!(found, Some(PathBuf::from("/dev/vport1p2")));
        assert_eq!(find_virtio_port(&dir, OsStr::new("nope")), None);
        assert_eq!(
            find_virtio_port(&dir.join("missing"), OsStr::new("x")),
            None
        );
        let r = open_virtio(&dir.join("nope"), &dir);
        assert_eq!(r.err().map(|e| e.kind()), Some(io::ErrorKind::NotFound));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn vsock_listener_binds_the_given_port() {
        let port = 40_000 + std::process::id() % 20_000;
        match listen_vsock(crate::config::VSOCK_ANY_CID, port) {
            Ok(fd) => {
                let addr = rustix::net::getsockname(&fd).map(|a| a.address_family());
                assert_eq!(addr, Ok(AddressFamily::VSOCK));
            }
            // No vsock transport in this kernel: the address was still accepted.
            Err(e) => assert!(matches!(e.raw_os_error(), Some(97 | 19 | 99)), "{e}"),
        }
    }

    #[test]
    fn open_errors_are_reported() {
        let missing = Endpoint::IsaSerial("/nonexistent/ttyS9".into());
        assert_eq!(
            Channel::open(&missing).err().map(|e| e.kind()),
            Some(io::ErrorKind::NotFound)
        );
        let not_tty = Endpoint::IsaSerial("/dev/null".into());
        assert!(
            Channel::open(&not_tty).is_err(),
            "tcgetattr fails on /dev/null"
        );
        let bad_dir = Endpoint::UnixListen("/nonexistent/dir/sock".into());
        assert!(Channel::open(&bad_dir).is_err());
    }

    #[test]
    fn a_stop_request_ends_the_loop_even_mid_write() {
        let _fds = crate::linux::testutil::fd_count_guard();
        let dir = std::env::temp_dir().join(format!("qga-chan-stop-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("sock");
        let ch = Channel::open(&Endpoint::UnixListen(path.clone()));
        let Ok(ch) = ch else { unreachable!("{ch:?}") };
        let stop = std::sync::Arc::new(Stop::new().unwrap_or_else(|e| unreachable!("{e}")));
        let s2 = std::sync::Arc::clone(&stop);
        let served = std::thread::spawn(move || ch.run(&mut Echo::default(), false, &s2));
        // A client that sends a lot and never reads: the agent blocks in a write.
        let mut c = UnixStream::connect(&path).unwrap_or_else(|e| unreachable!("{e}"));
        let _ = c.set_write_timeout(Some(std::time::Duration::from_secs(2)));
        let chunk = vec![b'x'; 1 << 16];
        for _ in 0..64 {
            if c.write_all(&chunk).is_err() {
                break;
            }
        }
        stop.request(15);
        let exit = served.join().ok();
        assert!(matches!(exit, Some(Exit::Signal(15))), "{exit:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
