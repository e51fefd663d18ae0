//! The agent as the channel loop serves it ([`Served`]): the duties that
//! follow each batch of requests, and the orderly exit.
//!
//! * While it waits for requests: guest-exec output is collected
//!   ([`LinuxPlatform::service`]) whenever a child wrote some.
//! * After each batch: a pidfile deferred because the agent started frozen
//!   is written once thawed. (The core releases the spool itself when the
//!   request that used it ends: `Spool::release`.)
//! * On exit (SIGTERM/SIGINT, a fatal channel error, an error after the
//!   agent was built): filesystems still frozen are thawed first, then the
//!   pidfile is removed.

#![forbid(unsafe_code)]

use std::io;
use std::os::fd::BorrowedFd;
use std::process::ExitCode;

use qga_core::platform::{Fsfreeze, FsfreezeStatus};
use qga_core::Agent;

use crate::channel::{Exit, Session};
use crate::daemon::PidfileSlot;
use crate::linux::LinuxPlatform;
use crate::log;

/// The agent, and what has to happen around its requests.
pub struct Served<const N: usize, const R: usize, const S: usize> {
    agent: Box<Agent<LinuxPlatform, N, R, S>>,
    pidfile: PidfileSlot,
}

impl<const N: usize, const R: usize, const S: usize> Served<N, R, S> {
    /// Wraps `agent`; writes the pidfile now unless the agent is frozen.
    pub fn new(
        agent: Box<Agent<LinuxPlatform, N, R, S>>,
        pidfile: PidfileSlot,
    ) -> io::Result<Self> {
        let mut served = Served { agent, pidfile };
        let frozen = served.frozen();
        served.pidfile.write_unless(frozen)?;
        Ok(served)
    }

    /// Frozen as far as either the session filter or the platform (which
    /// knows the filesystems) can tell: no file may be written then.
    fn frozen(&mut self) -> bool {
        self.agent.is_frozen()
            || Fsfreeze::status(self.agent.platform_mut()) == Ok(FsfreezeStatus::Frozen)
    }

    /// The orderly exit: thaws what is still frozen, then reports `exit`
    /// (the pidfile goes when `self` is dropped).
    pub fn finish(mut self, exit: Result<Exit, io::Error>) -> ExitCode {
        self.thaw_if_frozen();
        match exit {
            Ok(Exit::Signal(sig)) => {
                log::debug(format_args!("signal {sig}: exiting"));
                ExitCode::SUCCESS
            }
            Ok(Exit::Error(e)) | Err(e) => {
                log::critical(format_args!("{}", log::errno_text(&e)));
                ExitCode::FAILURE
            }
        }
    }

    /// qemu-ga's cleanup: never leave the guest frozen behind.
    fn thaw_if_frozen(&mut self) {
        let p = self.agent.platform_mut();
        if Fsfreeze::status(p) != Ok(FsfreezeStatus::Frozen) {
            return;
        }
        log::warning(format_args!("exiting while frozen: thawing filesystems"));
        match Fsfreeze::thaw(p) {
            Ok(n) => log::warning(format_args!("thawed {n} filesystems before exit")),
            Err(e) => log::critical(format_args!("thaw before exit failed: {}", e.text())),
        }
    }
}

impl<const N: usize, const R: usize, const S: usize> Session for Served<N, R, S> {
    fn reset(&mut self) {
        // A new client: a half-received request is gone, and its spool too.
        self.agent.reset_parser();
        self.agent.platform_mut().spool_release();
    }

    fn feed<W: embedded_io::Write>(&mut self, bytes: &[u8], out: &mut W) -> Result<(), W::Error> {
        let r = self.agent.feed(bytes, out);
        let frozen = self.frozen();
        if let Err(e) = self.pidfile.write_unless(frozen) {
            log::error(format_args!("pidfile: {}", log::errno_text(&e)));
        }
        r
    }

    fn background(&self) -> Option<BorrowedFd<'_>> {
        Some(self.agent.platform().background())
    }

    fn service(&mut self) {
        self.agent.platform_mut().service();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::channel::Channel;
    use crate::config::Endpoint;
    use crate::linux::testutil::{fd_count_guard, temp_dir};
    use crate::signals::Stop;
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// The state letter of process `pid` (`Z`: exited, not reaped).
    fn state(pid: &str) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(") ")?.1.chars().next()
    }

    #[test]
    fn child_output_is_collected_while_the_loop_waits_for_requests() {
        let _fds = fd_count_guard();
        let dir = temp_dir("serve-collect");
        let agent =
            Agent::<LinuxPlatform, 4096, 4096, 4096>::new(LinuxPlatform::new(dir.clone()).unwrap());
        let mut served = Served::new(Box::new(agent), PidfileSlot::new(None)).unwrap();
        let sock = dir.join("qga.sock");
        let ch = Channel::open(&Endpoint::UnixListen(sock.clone())).unwrap();
        let stop = Arc::new(Stop::new().unwrap());
        let s2 = Arc::clone(&stop);
        let loop_thread = std::thread::spawn(move || ch.run(&mut served, false, &s2));
        let mut c = UnixStream::connect(&sock).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        // 1 MB of output: far more than a pipe holds.
        let exec = r#"{"execute":"guest-exec","arguments":{"path":"/bin/sh","arg":["-c","head -c 1000000 /dev/zero"],"capture-output":true}}"#;
        c.write_all(exec.as_bytes()).unwrap();
        let mut reply = String::new();
        BufReader::new(&c).read_line(&mut reply).unwrap();
        let pid = reply.trim_start_matches(|ch: char| !ch.is_ascii_digit());
        let pid = pid.trim_end_matches(|ch: char| !ch.is_ascii_digit());
        // Nobody asks for its status: it can only finish writing (and exit)
        // if the loop reads its pipe while waiting for the next request.
        let deadline = Instant::now() + Duration::from_secs(20);
        while state(pid) != Some('Z') && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            state(pid),
            Some('Z'),
            "child {pid} blocked on its pipe: {reply}"
        );
        stop.request(15);
        assert!(matches!(
            loop_thread.join().unwrap(),
            crate::channel::Exit::Signal(15)
        ));
    }
}
