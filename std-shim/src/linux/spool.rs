//! The spool: an anonymous memory file (memfd) that holds a large decoded
//! argument (`buf-b64`, `input-data`) while it streams in.
//!
//! The memfd is created on first use. It is only ever accessed with
//! `pread`/`pwrite`, so its file offset stays 0; that lets [`Spool::take`]
//! hand the descriptor itself to a child as stdin, which then reads from the
//! start. Handing it over (instead of a second descriptor on the same file)
//! means a later `spool_reset` for another request cannot truncate data a
//! still-running child has not read yet: the next use creates a new memfd.
//!
//! Bounded at qemu-ga's 64 MiB message size ([`MAX_SPOOL`]): a write past
//! it releases the spool and fails with qemu-ga's oversized-message text.
//! The memory goes back when the request that filled the spool ends
//! ([`Spool::release`], called by the core's `Spool::release` hook, and on
//! the next reset).

use std::os::fd::OwnedFd;

use qga_core::platform::{Error, Result};
use rustix::fs::{MemfdFlags, SeekFrom};

use super::sys::{retry, rx_errno};

/// The most the spool holds: qemu-ga's message size limit (protocol
/// notes 1.4), which no decoded argument of an accepted message exceeds.
pub const MAX_SPOOL: u64 = 64 << 20;

/// qemu-ga's error for a message over its size limit.
const TOO_LARGE: &str = "JSON token size limit exceeded";

/// The spool's memfd (once created) and the length written so far.
#[derive(Debug, Default)]
pub(crate) struct Spool {
    fd: Option<OwnedFd>,
    len: u64,
}

impl Spool {
    /// Empties the spool (a new streamed argument begins).
    pub(crate) fn reset(&mut self) -> Result<()> {
        self.release()
    }

    /// Gives the spooled bytes' memory back (truncates the memfd).
    pub(crate) fn release(&mut self) -> Result<()> {
        if let Some(fd) = &self.fd {
            rustix::fs::ftruncate(fd, 0).map_err(|e| spool_error(e, "reset"))?;
        }
        self.len = 0;
        Ok(())
    }

    /// Appends `data`; past [`MAX_SPOOL`] the spool is released and the
    /// write fails with qemu-ga's oversized-message error.
    pub(crate) fn write(&mut self, mut data: &[u8]) -> Result<()> {
        if self.len + data.len() as u64 > MAX_SPOOL {
            let _ = self.release();
            return Err(Error::msg(format_args!("{TOO_LARGE}")));
        }
        let len = self.len;
        let fd = self.fd()?;
        let mut at = len;
        while !data.is_empty() {
            let n = retry(|| rustix::io::pwrite(fd, data, at))
                .map_err(|e| spool_error(e, "write to"))?;
            at += n as u64;
            data = &data[n..];
        }
        self.len = at;
        Ok(())
    }

    /// Reads from `offset`; `Ok(0)` at the end.
    pub(crate) fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let Some(fd) = &self.fd else { return Ok(0) };
        retry(|| rustix::io::pread(fd, &mut *buf, offset)).map_err(|e| spool_error(e, "read"))
    }

    /// Gives the spooled data away as a descriptor positioned at offset 0
    /// (a child's stdin); the spool starts empty afterwards.
    pub(crate) fn take(&mut self) -> Result<OwnedFd> {
        self.fd()?;
        self.len = 0;
        let fd = self
            .fd
            .take()
            .ok_or_else(|| spool_error(rustix::io::Errno::BADF, "use"))?;
        rustix::fs::seek(&fd, SeekFrom::Start(0)).map_err(|e| spool_error(e, "rewind"))?;
        Ok(fd)
    }

    /// The memfd, created on first use.
    fn fd(&mut self) -> Result<&OwnedFd> {
        if self.fd.is_none() {
            let fd = rustix::fs::memfd_create("qga-spool", MemfdFlags::CLOEXEC)
                .map_err(|e| spool_error(e, "create"))?;
            self.fd = Some(fd);
        }
        self.fd
            .as_ref()
            .ok_or_else(|| spool_error(rustix::io::Errno::BADF, "use"))
    }
}

/// `failed to <what> spool: <strerror>`.
fn spool_error(e: rustix::io::Errno, what: &str) -> Error {
    Error::errno(rx_errno(e), format_args!("failed to {what} spool"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testutil::fd_count_guard;
    use super::*;
    use std::io::Read;

    #[test]
    fn unused_spool_reads_empty() {
        let mut s = Spool::default();
        assert_eq!(s.read(0, &mut [0; 4]).unwrap(), 0);
        s.reset().unwrap();
        assert!(s.fd.is_none(), "no memfd before the first write");
    }

    #[test]
    fn write_appends_and_read_is_positional() {
        let _g = fd_count_guard();
        let mut s = Spool::default();
        s.write(b"hello ").unwrap();
        s.write(b"world").unwrap();
        let mut buf = [0u8; 5];
        assert_eq!(s.read(6, &mut buf).unwrap(), 5);
        assert_eq!(&buf, b"world");
        assert_eq!(s.read(0, &mut buf).unwrap(), 5);
        assert_eq!(&buf, b"hello");
        assert_eq!(s.read(11, &mut buf).unwrap(), 0);
    }

    #[test]
    fn reset_truncates() {
        let _g = fd_count_guard();
        let mut s = Spool::default();
        s.write(b"long old content").unwrap();
        s.reset().unwrap();
        s.write(b"new").unwrap();
        let mut buf = [0u8; 32];
        assert_eq!(s.read(0, &mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"new");
    }

    /// The memfd's size as the kernel sees it.
    fn memfd_size(s: &Spool) -> u64 {
        s.fd.as_ref()
            .map_or(0, |fd| rustix::fs::fstat(fd).unwrap().st_size as u64)
    }

    #[test]
    fn writes_past_the_bound_fail_and_release() {
        let _g = fd_count_guard();
        let mut s = Spool::default();
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..64 {
            s.write(&chunk).unwrap();
        }
        assert_eq!(memfd_size(&s), MAX_SPOOL);
        let e = s.write(b"x").unwrap_err();
        assert_eq!(e.text(), "JSON token size limit exceeded");
        assert_eq!(memfd_size(&s), 0);
        assert_eq!(s.read(0, &mut [0; 4]).unwrap(), 0);
    }

    #[test]
    fn take_hands_over_content_from_offset_zero() {
        let _g = fd_count_guard();
        let mut s = Spool::default();
        s.write(b"stdin data").unwrap();
        let mut file = std::fs::File::from(s.take().unwrap());
        s.write(b"next").unwrap();
        let mut got = String::new();
        file.read_to_string(&mut got).unwrap();
        assert_eq!(
            got, "stdin data",
            "a new spool does not disturb the taken one"
        );
        let mut buf = [0u8; 8];
        assert_eq!(s.read(0, &mut buf).unwrap(), 4);
    }
}
