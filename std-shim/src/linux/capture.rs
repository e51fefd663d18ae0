//! Captured guest-exec output: one stream's pipe and kept bytes, and the
//! budget all streams of all tracked processes share ([`MAX_CAPTURE`] per
//! stream, `MAX_CAPTURE_TOTAL` in all; what does not fit is read, dropped
//! and flagged).

use std::os::fd::OwnedFd;

use qga_core::platform::CapturedStream;
use rustix::event::epoll;
use rustix::io::Errno;

use super::exec::MAX_CAPTURE;
use super::sys::retry;

/// At most this much is read from one pipe per [`Capture::pump`], so a
/// chatty child cannot keep the agent from its channel.
const PUMP_LIMIT: usize = 256 * 1024;

/// The capture bytes still free across all processes.
#[derive(Debug)]
pub(crate) struct Budget(usize);

impl Budget {
    pub(crate) fn new(bytes: usize) -> Budget {
        Budget(bytes)
    }

    /// Takes up to `want` bytes; returns how many were granted.
    pub(crate) fn take(&mut self, want: usize) -> usize {
        let granted = want.min(self.0);
        self.0 -= granted;
        granted
    }

    pub(crate) fn give(&mut self, bytes: usize) {
        self.0 += bytes;
    }
}

/// One captured stream of a child: its pipe's read end until EOF (non-
/// blocking, registered with the process table's poller), and what was
/// kept.
#[derive(Debug, Default)]
pub(crate) struct Capture {
    pub pipe: Option<OwnedFd>,
    pub stream: Stream,
}

impl Capture {
    /// Whether the pipe has not reached EOF yet.
    pub(crate) fn is_open(&self) -> bool {
        self.pipe.is_some()
    }

    /// Reads what the pipe holds now (at most [`PUMP_LIMIT`] bytes, in
    /// `buf`-sized reads); at EOF or on an error the pipe is taken off
    /// `poller` and closed.
    pub(crate) fn pump(&mut self, budget: &mut Budget, poller: &OwnedFd, buf: &mut [u8]) {
        let Some(pipe) = &self.pipe else { return };
        let mut left = PUMP_LIMIT;
        let end = loop {
            match retry(|| rustix::io::read(pipe, &mut *buf)) {
                Ok(0) => break true,
                Ok(n) => self.stream.push(&buf[..n], budget),
                Err(Errno::AGAIN) => break false,
                Err(_) => break true,
            }
            left = left.saturating_sub(buf.len());
            if left == 0 {
                break false;
            }
        };
        if end {
            let _ = epoll::delete(poller, pipe);
            self.pipe = None;
        }
    }
}

/// One captured stream's kept bytes.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    /// The bytes kept.
    pub data: Vec<u8>,
    /// More was produced than kept.
    pub truncated: bool,
}

impl Stream {
    /// Keeps what fits under [`MAX_CAPTURE`] and the budget, notes the rest
    /// as truncated.
    pub(crate) fn push(&mut self, chunk: &[u8], budget: &mut Budget) {
        let room = MAX_CAPTURE - self.data.len();
        let keep = budget.take(chunk.len().min(room));
        self.data.extend_from_slice(&chunk[..keep]);
        self.truncated |= keep < chunk.len();
    }

    /// The summary for `guest-exec-status`.
    pub(crate) fn summary(&self) -> CapturedStream {
        CapturedStream {
            len: self.data.len() as u64,
            truncated: self.truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_share_one_budget_and_flag_what_was_cut() {
        let mut budget = Budget::new(10);
        let (mut a, mut b) = (Stream::default(), Stream::default());
        a.push(b"123456", &mut budget);
        b.push(b"abcdef", &mut budget);
        assert_eq!((a.summary().len, a.truncated), (6, false));
        assert_eq!((&b.data[..], b.truncated), (&b"abcd"[..], true));
        budget.give(a.data.len());
        b.push(b"gh", &mut budget);
        assert_eq!(&b.data[..], b"abcdgh");
    }
}
