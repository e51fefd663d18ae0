//! Small system helpers shared by the command families: errno extraction,
//! EINTR retries, the executable test and the filesystem ioctls. Helper
//! programs are started by `child`.

use std::io;

use qga_core::errno::EIO;

/// The errno of a std I/O error (EIO when it carries none), so messages are
/// built from `strerror` and never from `io::Error`'s Display.
pub(crate) fn os_errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(EIO)
}

/// The errno of a rustix error.
pub(crate) fn rx_errno(e: rustix::io::Errno) -> i32 {
    e.raw_os_error()
}

/// Repeats `f` while it fails with EINTR.
pub(crate) fn retry<T>(mut f: impl FnMut() -> rustix::io::Result<T>) -> rustix::io::Result<T> {
    loop {
        match f() {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r,
        }
    }
}

/// Whether `path` is a regular file with an execute bit (qemu-ga's
/// `access(X_OK)` test for `/sbin/hwclock`).
pub(crate) fn is_executable(path: impl AsRef<std::path::Path>) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

// ---- filesystem ioctls (the only unsafe code of the Linux platform) --------

use rustix::fd::AsFd;
use rustix::ioctl::{opcode, NoArg, Opcode, Updater};

/// `struct fstrim_range` (linux/fs.h), FITRIM's in/out argument.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FstrimRange {
    /// First byte to trim.
    pub start: u64,
    /// Bytes to trim; on return, bytes trimmed.
    pub len: u64,
    /// Minimum extent length; on return, the length the filesystem used.
    pub minlen: u64,
}

/// `FIFREEZE = _IOWR('X', 119, int)`.
const FIFREEZE: Opcode = opcode::read_write::<core::ffi::c_int>(b'X', 119);
/// `FITHAW = _IOWR('X', 120, int)`.
const FITHAW: Opcode = opcode::read_write::<core::ffi::c_int>(b'X', 120);
/// `FITRIM = _IOWR('X', 121, struct fstrim_range)`.
const FITRIM: Opcode = opcode::read_write::<FstrimRange>(b'X', 121);

/// `ioctl(fd, FIFREEZE)`: freezes the filesystem `fd` lives on.
#[allow(unsafe_code)]
pub(crate) fn fifreeze(fd: impl AsFd) -> rustix::io::Result<()> {
    // SAFETY: FIFREEZE is the kernel's opcode (linux/fs.h) and the kernel
    // ignores its argument, so the null pointer NoArg passes is fine.
    retry(|| unsafe { rustix::ioctl::ioctl(fd.as_fd(), NoArg::<FIFREEZE>::new()) })
}

/// `ioctl(fd, FITHAW)`: thaws the filesystem `fd` lives on.
#[allow(unsafe_code)]
pub(crate) fn fithaw(fd: impl AsFd) -> rustix::io::Result<()> {
    // SAFETY: as for FIFREEZE: a valid opcode whose argument is unused.
    retry(|| unsafe { rustix::ioctl::ioctl(fd.as_fd(), NoArg::<FITHAW>::new()) })
}

/// `ioctl(fd, FITRIM, range)`: discards unused blocks; the kernel updates
/// `range` with what it did.
#[allow(unsafe_code)]
pub(crate) fn fitrim(fd: impl AsFd, range: &mut FstrimRange) -> rustix::io::Result<()> {
    // SAFETY: FITRIM's argument is a `struct fstrim_range`, which
    // `FstrimRange` mirrors (`repr(C)`, three u64); `range` is a live
    // exclusive borrow for the duration of the call.
    retry(|| unsafe {
        rustix::ioctl::ioctl(fd.as_fd(), Updater::<FITRIM, FstrimRange>::new(range))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_opcodes_match_linux_fs_h() {
        assert_eq!(FIFREEZE, 0xC004_5877);
        assert_eq!(FITHAW, 0xC004_5878);
        assert_eq!(FITRIM, 0xC018_5879);
    }

    #[test]
    fn executable_test() {
        assert!(is_executable("/bin/sh"));
        assert!(!is_executable("/etc/passwd"));
        assert!(!is_executable("/nonexistent"));
    }
}
