//! `strerror` for Linux errno values, with glibc's texts, so error replies
//! read exactly like qemu-ga's `"<what failed>: <strerror>"` without libc.

/// glibc's message for `errno` (Linux numbering); `"Unknown error"` otherwise.
pub fn strerror(errno: i32) -> &'static str {
    ERRNO_TEXTS
        .iter()
        .find(|(n, _)| *n == errno)
        .map_or("Unknown error", |(_, text)| text)
}

/// The errno values a guest agent can meet, with glibc's texts.
const ERRNO_TEXTS: &[(i32, &str)] = &[
    (0, "Success"),
    (1, "Operation not permitted"),
    (2, "No such file or directory"),
    (3, "No such process"),
    (4, "Interrupted system call"),
    (5, "Input/output error"),
    (6, "No such device or address"),
    (7, "Argument list too long"),
    (8, "Exec format error"),
    (9, "Bad file descriptor"),
    (10, "No child processes"),
    (11, "Resource temporarily unavailable"),
    (12, "Cannot allocate memory"),
    (13, "Permission denied"),
    (14, "Bad address"),
    (15, "Block device required"),
    (16, "Device or resource busy"),
    (17, "File exists"),
    (18, "Invalid cross-device link"),
    (19, "No such device"),
    (20, "Not a directory"),
    (21, "Is a directory"),
    (22, "Invalid argument"),
    (23, "Too many open files in system"),
    (24, "Too many open files"),
    (25, "Inappropriate ioctl for device"),
    (26, "Text file busy"),
    (27, "File too large"),
    (28, "No space left on device"),
    (29, "Illegal seek"),
    (30, "Read-only file system"),
    (31, "Too many links"),
    (32, "Broken pipe"),
    (33, "Numerical argument out of domain"),
    (34, "Numerical result out of range"),
    (35, "Resource deadlock avoided"),
    (36, "File name too long"),
    (38, "Function not implemented"),
    (39, "Directory not empty"),
    (40, "Too many levels of symbolic links"),
    (61, "No data available"),
    (62, "Timer expired"),
    (75, "Value too large for defined data type"),
    (84, "Invalid or incomplete multibyte or wide character"),
    (95, "Operation not supported"),
    (97, "Address family not supported by protocol"),
    (98, "Address already in use"),
    (99, "Cannot assign requested address"),
    (104, "Connection reset by peer"),
    (110, "Connection timed out"),
    (111, "Connection refused"),
    (122, "Disk quota exceeded"),
];

/// No such file or directory.
pub const ENOENT: i32 = 2;
/// Input/output error.
pub const EIO: i32 = 5;
/// Bad file descriptor.
pub const EBADF: i32 = 9;
/// Resource temporarily unavailable.
pub const EAGAIN: i32 = 11;
/// Cannot allocate memory.
pub const ENOMEM: i32 = 12;
/// Permission denied.
pub const EACCES: i32 = 13;
/// Invalid argument.
pub const EINVAL: i32 = 22;
/// Too many open files.
pub const EMFILE: i32 = 24;
/// No space left on device.
pub const ENOSPC: i32 = 28;
/// File name too long.
pub const ENAMETOOLONG: i32 = 36;
/// Operation not supported.
pub const EOPNOTSUPP: i32 = 95;

#[cfg(test)]
mod tests {
    use super::strerror;

    #[test]
    fn known_and_unknown() {
        assert_eq!(strerror(2), "No such file or directory");
        assert_eq!(strerror(11), "Resource temporarily unavailable");
        assert_eq!(strerror(9999), "Unknown error");
    }
}
