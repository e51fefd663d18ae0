//! The serving loops of a channel: a device (virtio-serial, isa-serial)
//! or a listener with one client at a time (unix-listen, vsock-listen).
//! Every wait also watches the stop request.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::SocketFlags;

use super::{ChannelError, FdWriter, Session, HOST_ABSENT_SLEEP, READ_CHUNK, STOPPED};
use crate::log;
use crate::signals::Stop;

/// poll(2) on `fd` for `events`, on the stop request and on `background`
/// (for reading), for at most `timeout` (`None`: no limit), retrying on
/// `EINTR`; [`STOPPED`] once `stop` is requested. Returns `fd`'s revents
/// (empty when only `background` woke it, or at the timeout) and whether
/// `background` is ready.
pub(super) fn wait(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    stop: Option<&Stop>,
    background: Option<BorrowedFd<'_>>,
    timeout: Option<Duration>,
) -> Result<(PollFlags, bool), Errno> {
    let timeout = timeout.map(|t| rustix::time::Timespec::try_from(t).unwrap_or_default());
    let mut fds: [PollFd<'_>; 3] = std::array::from_fn(|_| PollFd::from_borrowed_fd(fd, events));
    let mut n = 1;
    for other in [stop.map(Stop::fd), background].into_iter().flatten() {
        fds[n] = PollFd::from_borrowed_fd(other, PollFlags::IN);
        n += 1;
    }
    loop {
        match poll(&mut fds[..n], timeout.as_ref()) {
            Ok(_) if stop.is_some() && !fds[1].revents().is_empty() => return Err(STOPPED),
            Ok(_) => {
                let ready = background.is_some() && !fds[n - 1].revents().is_empty();
                return Ok((fds[0].revents(), ready));
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// What the serving loops work with.
pub(super) struct Io<'a, S> {
    pub(super) session: &'a mut S,
    pub(super) buf: &'a mut [u8; READ_CHUNK],
    pub(super) stop: &'a Stop,
}

impl<S: Session> Io<'_, S> {
    /// Sleeps for `d`, doing the session's background work as it becomes
    /// ready (a child's output is not held up while no host is attached);
    /// returns whether a stop was requested.
    fn pause(&mut self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let Some(background) = self.session.background() else {
                return self.stop.sleep(left).is_some();
            };
            match wait(background, PollFlags::IN, Some(self.stop), None, Some(left)) {
                Err(STOPPED) => return true,
                Err(_) => return self.stop.sleep(left).is_some(),
                Ok((ready, _)) if !ready.is_empty() => self.session.service(),
                Ok(_) => {}
            }
            if Instant::now() >= until {
                return self.stop.requested().is_some();
            }
        }
    }

    /// Waits until `fd` is readable (returns its revents) or a stop is
    /// requested, doing the session's background work whenever that is
    /// ready first.
    fn wait_in(&mut self, fd: BorrowedFd<'_>) -> Result<PollFlags, Errno> {
        loop {
            let background = self.session.background();
            let (revents, background) = wait(fd, PollFlags::IN, Some(self.stop), background, None)?;
            if background {
                self.session.service();
            }
            if !revents.is_empty() {
                return Ok(revents);
            }
        }
    }

    /// The device loop (virtio-serial, isa-serial); returns on a read error
    /// or a stop request.
    pub(super) fn device(mut self, fd: BorrowedFd<'_>) -> Errno {
        let mut host_present = true;
        loop {
            let revents = match self.wait_in(fd) {
                Ok(r) => r,
                Err(e) => return e,
            };
            if revents.intersects(PollFlags::ERR | PollFlags::NVAL)
                && !revents.contains(PollFlags::IN)
            {
                return Errno::IO;
            }
            let got = match revents.contains(PollFlags::IN) {
                true => rustix::io::read(fd, &mut *self.buf),
                false => Err(Errno::AGAIN),
            };
            match got {
                Ok(0) | Err(Errno::AGAIN) => {
                    if self.host_absent(&mut host_present) {
                        return STOPPED;
                    }
                }
                Ok(n) => self.device_data(fd, n, &mut host_present),
                Err(Errno::INTR) => {}
                Err(e) => return e,
            }
        }
    }

    /// No host attached: note the gap and sleep (the port would poll as
    /// ready again at once). Returns whether a stop was requested.
    fn host_absent(&mut self, host_present: &mut bool) -> bool {
        if *host_present {
            log::debug(format_args!("received EOF: host side disconnected"));
            *host_present = false;
        }
        self.pause(HOST_ABSENT_SLEEP)
    }

    fn device_data(&mut self, fd: BorrowedFd<'_>, n: usize, host_present: &mut bool) {
        if !*host_present {
            log::debug(format_args!("host side connected: parser reset"));
            self.session.reset();
            *host_present = true;
        }
        let mut out = FdWriter::device(fd).with_stop(self.stop);
        let fed = self.session.feed(&self.buf[..n], &mut out);
        self.wipe(n);
        if let Err(e) = fed {
            log::warning(format_args!("error writing reply: {e}"));
        }
    }

    /// Zeroes the `n` bytes just fed: a request's secret (a password) is
    /// not left in the read buffer until later reads overwrite it.
    fn wipe(&mut self, n: usize) {
        self.buf[..n].fill(0);
    }

    /// The listener loop: one client at a time; returns on an accept error
    /// or a stop request.
    pub(super) fn listener(mut self, listener: BorrowedFd<'_>) -> Errno {
        loop {
            if let Err(e) = self.wait_in(listener) {
                return e;
            }
            let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
            let client = match rustix::net::accept_with(listener, flags) {
                Ok(c) => c,
                Err(Errno::INTR | Errno::AGAIN | Errno::CONNABORTED) => continue,
                Err(e @ (Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)) => {
                    log::warning(format_args!("accept: {}", ChannelError(e)));
                    self.pause(HOST_ABSENT_SLEEP);
                    continue;
                }
                Err(e) => return e,
            };
            self.session.reset();
            self.client(client.as_fd());
        }
    }

    /// Serves one client until it closes, resets or stops taking replies
    /// (or a stop is requested).
    pub(super) fn client(&mut self, client: BorrowedFd<'_>) {
        loop {
            if let Err(e) = self.wait_in(client) {
                log::warning(format_args!("client poll: {}", ChannelError(e)));
                return;
            }
            let n = match rustix::io::read(client, &mut *self.buf) {
                Ok(0) => return,
                Ok(n) => n,
                Err(Errno::INTR | Errno::AGAIN) => continue,
                Err(e) => {
                    log::warning(format_args!(
                        "client read: {}; closing client",
                        ChannelError(e)
                    ));
                    return;
                }
            };
            let mut out = FdWriter::socket(client).with_stop(self.stop);
            let fed = self.session.feed(&self.buf[..n], &mut out);
            self.wipe(n);
            if let Err(e) = fed {
                log::warning(format_args!("client write: {e}; closing client"));
                return;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::OwnedFd;

    /// A session whose background work is reading one pipe.
    struct Background {
        pipe: OwnedFd,
        served: usize,
    }

    impl Session for Background {
        fn reset(&mut self) {}
        fn feed<W: embedded_io::Write>(&mut self, _: &[u8], _: &mut W) -> Result<(), W::Error> {
            Ok(())
        }
        fn background(&self) -> Option<BorrowedFd<'_>> {
            Some(self.pipe.as_fd())
        }
        fn service(&mut self) {
            let _ = rustix::io::read(&self.pipe, &mut [0u8; 64]);
            self.served += 1;
        }
    }

    /// A session that keeps everything it is fed.
    #[derive(Default)]
    struct Keeper {
        fed: Vec<u8>,
    }

    impl Session for Keeper {
        fn reset(&mut self) {}
        fn feed<W: embedded_io::Write>(&mut self, b: &[u8], _: &mut W) -> Result<(), W::Error> {
            self.fed.extend_from_slice(b);
            Ok(())
        }
        fn background(&self) -> Option<BorrowedFd<'_>> {
            None
        }
        fn service(&mut self) {}
    }

    #[test]
    fn what_was_fed_does_not_stay_in_the_read_buffer() {
        let _fds = crate::linux::testutil::fd_count_guard();
        let secret =
            br#"{"execute":"guest-set-user-password","arguments":{"password":"aHVudGVy"}}"#;
        let (stop, mut buf) = (Stop::new().unwrap(), [0u8; READ_CHUNK]);
        let mut session = Keeper::default();
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        (&theirs).write_all(secret).unwrap();
        drop(theirs);
        let mut io = Io {
            session: &mut session,
            buf: &mut buf,
            stop: &stop,
        };
        io.client(ours.as_fd());
        assert_eq!(session.fed, secret);
        assert!(
            buf.iter().all(|&b| b == 0),
            "the read buffer kept the request"
        );
        // The device loop too (a pipe for the port; the stop ends it).
        let mut session = Keeper::default();
        let (r, mut w) = std::io::pipe().unwrap();
        w.write_all(secret).unwrap();
        let io = Io {
            session: &mut session,
            buf: &mut buf,
            stop: &stop,
        };
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(300));
                stop.request(15);
            });
            assert_eq!(io.device(r.as_fd()), STOPPED);
        });
        drop(w);
        assert_eq!(session.fed, secret);
        assert!(
            buf.iter().all(|&b| b == 0),
            "the device loop kept the request"
        );
    }

    #[test]
    fn a_pause_does_background_work_and_a_stop_ends_it() {
        let _fds = crate::linux::testutil::fd_count_guard();
        let (r, mut w) = std::io::pipe().unwrap();
        w.write_all(b"x").unwrap();
        let mut session = Background {
            pipe: r.into(),
            served: 0,
        };
        let (stop, mut buf) = (Stop::new().unwrap(), [0u8; READ_CHUNK]);
        let mut io = Io {
            session: &mut session,
            buf: &mut buf,
            stop: &stop,
        };
        assert!(!io.pause(Duration::from_millis(50)));
        stop.request(15);
        let t = Instant::now();
        assert!(io.pause(Duration::from_secs(10)));
        assert!(t.elapsed() < Duration::from_secs(5));
        // One byte: served once, then nothing was ready.
        assert_eq!(session.served, 1);
    }
}
