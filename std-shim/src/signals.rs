//! SIGTERM and SIGINT: an orderly exit, handled by the main loop.
//!
//! Both signals are blocked (before any thread starts, so in every thread)
//! and wait, pending, behind a `signalfd` that the channel loop polls next
//! to the channel: no code runs in signal context, the loop wakes at once,
//! leaves and exits the orderly way: filesystems thawed first if frozen,
//! pidfile removed. The signal is never read from the `signalfd`, so it
//! stays readable for every later poll (each layer that waits sees the
//! stop). Children start with an empty mask (`posix::spawn`). qemu-ga
//! instead ignores these signals while frozen (protocol notes 4.7), which
//! leaves a frozen guest frozen when its agent is stopped or restarted.
#![forbid(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use libc::{SIGINT, SIGTERM};
use rustix::event::{poll, EventfdFlags, PollFd, PollFlags};

use crate::posix;

/// The signals that stop the agent.
const STOP_SIGNALS: [i32; 2] = [SIGTERM, SIGINT];

/// A stop request: set once by SIGTERM or SIGINT, and pollable.
#[derive(Debug)]
pub struct Stop {
    /// Readable once a stop is requested (and from then on).
    fd: OwnedFd,
    /// The signal that asked for the stop (0: none yet).
    which: AtomicI32,
    /// `fd` is a signalfd for [`STOP_SIGNALS`].
    signals: bool,
}

impl Stop {
    /// A stop request no signal sets (tests set it with [`Stop::request`]).
    pub fn new() -> io::Result<Stop> {
        let flags = EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC;
        Ok(Stop {
            fd: rustix::event::eventfd(0, flags)?,
            which: AtomicI32::new(0),
            signals: false,
        })
    }

    /// A stop request set by SIGTERM and SIGINT from now on. Call it before
    /// any thread starts: a thread that does not block them would die of
    /// them.
    pub fn install() -> io::Result<Stop> {
        Ok(Stop {
            fd: posix::signalfd(&STOP_SIGNALS)?,
            which: AtomicI32::new(0),
            signals: true,
        })
    }

    /// Requests a stop as if signal `sig` had come (a [`Stop::new`] one:
    /// an installed one is woken by the signal itself).
    pub fn request(&self, sig: i32) {
        self.which.store(sig, Ordering::SeqCst);
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// The signal that asked for the stop, if one did.
    pub fn requested(&self) -> Option<i32> {
        match self.which.load(Ordering::SeqCst) {
            0 if self.signals => {
                let sig = posix::pending(&STOP_SIGNALS)?;
                self.which.store(sig, Ordering::SeqCst);
                Some(sig)
            }
            0 => None,
            sig => Some(sig),
        }
    }

    /// Readable once a stop was requested (poll it next to other fds).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Sleeps for `d` or until a stop is requested; returns the request.
    pub fn sleep(&self, d: Duration) -> Option<i32> {
        let ts = rustix::time::Timespec::try_from(d).unwrap_or_default();
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        let _ = poll(&mut fds, Some(&ts));
        self.requested()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_request_ends_a_sleep_at_once_and_stays() {
        let _fds = crate::linux::testutil::fd_count_guard();
        let Ok(stop) = Stop::new() else {
            unreachable!("eventfd")
        };
        assert_eq!(stop.sleep(Duration::from_millis(10)), None);
        stop.request(SIGTERM);
        let t = Instant::now();
        assert_eq!(stop.sleep(Duration::from_secs(10)), Some(SIGTERM));
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(stop.requested(), Some(SIGTERM));
    }
}
