//! Stream detection: which string of a request may stream past the request
//! buffer, and the bound on a streamed request (`config::MAX_MESSAGE`).
//!
//! Only a string value directly inside the top-level `arguments` object
//! may stream, and at most one per request. The wire layer knows the
//! envelope (`arguments`) but no command: whether that member may stream
//! for the command at hand is for the dispatcher to say, from the command
//! table, when it sees [`Event::StreamStart`](super::Event::StreamStart).

use crate::config::MAX_MESSAGE;

/// Where a request stands with respect to streaming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Detect {
    /// The last top-level key was `arguments`.
    after_arguments_key: bool,
    /// The open depth-2 container is the top-level `arguments` object.
    in_arguments: bool,
    /// The last key inside `arguments` (content span in the buffer).
    key: (usize, usize),
    /// A string of this request has streamed (or is streaming).
    streamed: bool,
    /// Bytes of the request so far while it streams (stored + raw payload).
    total: u64,
}

impl Detect {
    /// A new request.
    pub(crate) const fn new() -> Detect {
        Detect {
            after_arguments_key: false,
            in_arguments: false,
            key: (0, 0),
            streamed: false,
            total: 0,
        }
    }

    /// A key `key` (content without quotes, at `span` in the buffer) was
    /// read inside a container at `depth`.
    pub(crate) fn key(&mut self, depth: usize, key: &[u8], span: (usize, usize)) {
        match depth {
            1 => self.after_arguments_key = key == crate::wire::envelope::ARGUMENTS.as_bytes(),
            2 if self.in_arguments => self.key = span,
            _ => {}
        }
    }

    /// A container opened; `depth` is the depth after it, `parent_is_object`
    /// whether it sits in an object.
    pub(crate) fn open(&mut self, depth: usize, obj: bool, parent_is_object: bool) {
        if depth == 2 {
            self.in_arguments = self.after_arguments_key && obj && parent_is_object;
        }
    }

    /// A container closed, leaving `depth` open.
    pub(crate) fn close(&mut self, depth: usize) {
        if depth < 2 {
            self.in_arguments = false;
        }
    }

    /// Whether a string value starting at `depth` may stream.
    pub(crate) fn may_stream(&self, depth: usize) -> bool {
        self.in_arguments && depth == 2 && !self.streamed
    }

    /// The stream starts with `stored` bytes of request before it; returns
    /// the streamed member's key span.
    pub(crate) fn start(&mut self, stored: usize) -> (usize, usize) {
        self.streamed = true;
        self.total = stored as u64;
        self.key
    }

    /// Counts `n` more bytes of a streaming request; `false` once the
    /// request is larger than `MAX_MESSAGE`.
    pub(crate) fn count(&mut self, n: usize) -> bool {
        self.total += n as u64;
        self.total <= MAX_MESSAGE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_members_of_top_level_arguments_stream() {
        let mut d = Detect::new();
        d.key(1, b"arguments", (2, 11));
        d.open(2, true, true);
        d.key(2, b"buf-b64", (15, 22));
        assert!(d.may_stream(2));
        assert!(!d.may_stream(3));
        assert_eq!(d.start(24), (15, 22));
        assert!(!d.may_stream(2), "one stream per request");
        let mut d = Detect::new();
        d.key(1, b"id", (2, 4));
        d.open(2, true, true);
        assert!(!d.may_stream(2));
        let mut d = Detect::new();
        d.key(1, b"arguments", (2, 11));
        d.open(2, false, true);
        assert!(!d.may_stream(2), "arguments must be an object");
        d.close(1);
        d.open(2, true, true);
        assert!(d.may_stream(2));
        d.close(1);
        assert!(!d.may_stream(2));
    }

    #[test]
    fn a_streamed_request_is_bounded() {
        let mut d = Detect::new();
        let _ = d.start(100);
        assert!(d.count(MAX_MESSAGE as usize - 100));
        assert!(!d.count(1));
    }
}
