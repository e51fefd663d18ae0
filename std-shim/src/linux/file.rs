//! `guest-file-*`: open files behind persistent integer handles.
//!
//! Files are plain unbuffered descriptors (no stdio), so qemu-ga's implicit
//! flush on a write->read switch and its zero seek on a read->write switch
//! have nothing to do: every `read`/`write` already hits the kernel at the
//! current offset, and `a`/`a+` rely on `O_APPEND` exactly as fdopen does.
//! `guest-file-flush` is therefore a handle check only (qemu-ga's `fflush`
//! never syncs to disk either).

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use qga_core::errno::{EINVAL, EMFILE};
use qga_core::platform::{Error, OpenBase, OpenMode, Result, Whence};
use rustix::fs::{Mode, OFlags, SeekFrom};

use super::sys::{retry, rx_errno};

/// At most this many files are open at once; further opens fail with EMFILE.
pub const MAX_HANDLES: usize = 64;

/// The first handle of a fresh state directory (qemu-ga's default).
const FIRST_HANDLE: i64 = 1000;

/// The state file's name inside the state directory (protocol notes 4.4).
const STATE_FILE: &str = "qga.state";

/// The permissions of a file created by `guest-file-open`, umask ignored.
const NEW_FILE_MODE: u32 = 0o666;

/// The open files and the persistent handle counter.
#[derive(Debug)]
pub(crate) struct Files {
    state_path: PathBuf,
    next_handle: i64,
    open: Vec<(i64, OwnedFd)>,
}

impl Files {
    /// Loads `<statedir>/qga.state`, creating it when missing (unless the
    /// agent starts frozen: then nothing may be written to the state dir).
    pub(crate) fn new(statedir: &Path) -> io::Result<Files> {
        let state_path = statedir.join(STATE_FILE);
        let next_handle = match std::fs::read_to_string(&state_path) {
            Ok(text) => parse_state(&text)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => FIRST_HANDLE,
            Err(e) => return Err(e),
        };
        let files = Files {
            state_path,
            next_handle,
            open: Vec::new(),
        };
        if !statedir.join("qga.state.isfrozen").exists() && !files.state_path.exists() {
            write_state(&files.state_path, next_handle)?;
        }
        Ok(files)
    }

    /// `guest-file-open`.
    pub(crate) fn open(&mut self, path: &str, mode: OpenMode) -> Result<i64> {
        let ctx = |e| {
            Error::errno(
                e,
                format_args!("failed to open file '{path}' (mode: '{}')", mode.text),
            )
        };
        if self.open.len() >= MAX_HANDLES {
            return Err(ctx(EMFILE));
        }
        let fd = open_or_create(path, mode)?;
        let handle = self.next_handle;
        self.next_handle += 1;
        write_state(&self.state_path, self.next_handle)
            .map_err(|_| Error::msg(format_args!("failed to commit persistent state to disk")))?;
        self.open.push((handle, fd));
        Ok(handle)
    }

    /// `guest-file-close`. The descriptor is closed by drop; close(2) can
    /// only fail on exotic filesystems and rustix reports that only through
    /// an unsafe call, so the error text `failed to close handle` never occurs.
    pub(crate) fn close(&mut self, handle: i64) -> Result<()> {
        let i = self.index(handle)?;
        drop(self.open.swap_remove(i));
        Ok(())
    }

    /// One `read(2)`; `Ok(0)` at end of file. A non-blocking source with no
    /// data fails with EAGAIN, as qemu-ga's does.
    pub(crate) fn read(&mut self, handle: i64, buf: &mut [u8]) -> Result<usize> {
        let fd = self.fd(handle)?;
        retry(|| rustix::io::read(fd, &mut *buf))
            .inspect_err(|_| crate::audit::file_read_failed(handle))
            .map_err(|e| Error::errno(rx_errno(e), format_args!("failed to read file")))
    }

    /// Writes all of `data` (like `fwrite`: a failure part-way is an error).
    pub(crate) fn write(&mut self, handle: i64, data: &[u8]) -> Result<usize> {
        let fd = self.fd(handle)?;
        let mut done = 0;
        while done < data.len() {
            match retry(|| rustix::io::write(fd, &data[done..])) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) => {
                    crate::audit::file_write_failed(handle);
                    return Err(Error::errno(
                        rx_errno(e),
                        format_args!("failed to write to file"),
                    ));
                }
            }
        }
        Ok(done)
    }

    /// `guest-file-seek`: returns the new offset.
    pub(crate) fn seek(&mut self, handle: i64, offset: i64, whence: Whence) -> Result<i64> {
        let fd = self.fd(handle)?;
        let err = |e| Error::errno(e, format_args!("failed to seek file"));
        let pos = match whence {
            Whence::Set => SeekFrom::Start(u64::try_from(offset).map_err(|_| err(EINVAL))?),
            Whence::Cur => SeekFrom::Current(offset),
            Whence::End => SeekFrom::End(offset),
        };
        let at = rustix::fs::seek(fd, pos).map_err(|e| err(rx_errno(e)))?;
        i64::try_from(at).map_err(|_| err(EINVAL))
    }

    /// `guest-file-flush`: nothing is buffered, so only the handle is checked.
    pub(crate) fn flush(&mut self, handle: i64) -> Result<()> {
        self.check(handle)
    }

    /// Whether `handle` is open (qemu-ga's handle-not-found error if not).
    pub(crate) fn check(&self, handle: i64) -> Result<()> {
        self.index(handle).map(|_| ())
    }

    /// The table position of `handle`.
    fn index(&self, handle: i64) -> Result<usize> {
        self.open
            .iter()
            .position(|(h, _)| *h == handle)
            .ok_or_else(|| Error::handle_not_found(handle))
    }

    /// The descriptor behind `handle`.
    fn fd(&self, handle: i64) -> Result<&OwnedFd> {
        self.index(handle).map(|i| &self.open[i].1)
    }

    /// The next handle to be given out (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn next_handle(&self) -> i64 {
        self.next_handle
    }
}

/// fopen's open(2) flags for `mode`, plus qemu-ga's NOCTTY|NONBLOCK|CLOEXEC.
fn open_flags(mode: OpenMode) -> OFlags {
    let access = match (mode.base, mode.plus) {
        (_, true) => OFlags::RDWR,
        (OpenBase::Read, false) => OFlags::RDONLY,
        _ => OFlags::WRONLY,
    };
    let create = match mode.base {
        OpenBase::Read => OFlags::empty(),
        OpenBase::Write => OFlags::CREATE | OFlags::TRUNC,
        OpenBase::Append => OFlags::CREATE | OFlags::APPEND,
    };
    access | create | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC
}

/// qemu-ga's `safe_open_or_create`: exclusive creation first, so a new file
/// can get mode 0666 whatever the umask; on EEXIST a plain open.
fn open_or_create(path: &str, mode: OpenMode) -> Result<OwnedFd> {
    let ctx = |e| {
        Error::errno(
            e,
            format_args!("failed to open file '{path}' (mode: '{}')", mode.text),
        )
    };
    let flags = open_flags(mode);
    let open = |flags| retry(|| rustix::fs::open(path, flags, Mode::from_raw_mode(NEW_FILE_MODE)));
    if !flags.contains(OFlags::CREATE) {
        return open(flags).map_err(|e| ctx(rx_errno(e)));
    }
    match open(flags | OFlags::EXCL) {
        Ok(fd) => set_new_file_mode(path, mode, fd),
        Err(rustix::io::Errno::EXIST) => open(flags - OFlags::CREATE).map_err(|e| ctx(rx_errno(e))),
        Err(e) => Err(ctx(rx_errno(e))),
    }
}

/// fchmod 0666 on a file just created; on failure it is removed again.
fn set_new_file_mode(path: &str, mode: OpenMode, fd: OwnedFd) -> Result<OwnedFd> {
    match rustix::fs::fchmod(&fd, Mode::from_raw_mode(NEW_FILE_MODE)) {
        Ok(()) => Ok(fd),
        Err(e) => {
            drop(fd);
            let _ = std::fs::remove_file(path);
            Err(Error::errno(
                rx_errno(e),
                format_args!(
                    "failed to set permission 0666 on new file '{path}' (mode: '{}')",
                    mode.text
                ),
            ))
        }
    }
}

/// Reads `fd_counter` from the key file `[global]\nfd_counter=<n>\n`.
fn parse_state(text: &str) -> io::Result<i64> {
    let value = text.lines().find_map(|l| {
        l.trim()
            .strip_prefix("fd_counter")?
            .trim_start()
            .strip_prefix('=')
    });
    match value {
        None => Ok(FIRST_HANDLE),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad fd_counter")),
    }
}

/// Writes the state file atomically (temp file + rename, as GLib does);
/// the temp file is never opened through a link.
fn write_state(path: &Path, next_handle: i64) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("state.tmp");
    let flags =
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::open(&tmp, flags, Mode::from_raw_mode(0o600))?;
    std::fs::File::from(fd)
        .write_all(format!("[global]\nfd_counter={next_handle}\n").as_bytes())?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testutil::{fd_count_guard, temp_dir};
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn m(s: &str) -> OpenMode {
        OpenMode::parse(s).unwrap()
    }

    fn files(dir: &Path) -> Files {
        Files::new(dir).unwrap()
    }

    #[test]
    fn state_file_is_created_and_counter_persists() {
        let _g = fd_count_guard();
        let dir = temp_dir("state");
        let mut f = files(&dir);
        assert_eq!(
            std::fs::read_to_string(dir.join("qga.state")).unwrap(),
            "[global]\nfd_counter=1000\n"
        );
        let path = dir.join("a").display().to_string();
        assert_eq!(f.open(&path, m("w")).unwrap(), 1000);
        assert_eq!(f.open(&path, m("r")).unwrap(), 1001);
        assert_eq!(
            std::fs::read_to_string(dir.join("qga.state")).unwrap(),
            "[global]\nfd_counter=1002\n"
        );
        drop(f);
        let mut again = files(&dir);
        assert_eq!(again.next_handle(), 1002);
        assert_eq!(again.open(&path, m("r")).unwrap(), 1002);
    }

    #[test]
    fn frozen_start_does_not_create_state() {
        let dir = temp_dir("frozen");
        std::fs::write(dir.join("qga.state.isfrozen"), "").unwrap();
        assert_eq!(files(&dir).next_handle(), 1000);
        assert!(!dir.join("qga.state").exists());
    }

    #[test]
    fn state_parser_reads_counter_and_rejects_garbage() {
        assert_eq!(parse_state("[global]\nfd_counter=1234\n").unwrap(), 1234);
        assert_eq!(parse_state("[global]\n").unwrap(), 1000);
        assert!(parse_state("[global]\nfd_counter=x\n").is_err());
    }

    #[test]
    fn state_commit_failure_is_reported() {
        let _g = fd_count_guard();
        let dir = temp_dir("commit");
        let mut f = files(&dir);
        f.state_path = dir.join("missing-dir").join("qga.state");
        let e = f
            .open(&dir.join("x").display().to_string(), m("w"))
            .unwrap_err();
        assert_eq!(e.text(), "failed to commit persistent state to disk");
    }

    #[test]
    fn write_read_seek_round_trip_and_eof() {
        let _g = fd_count_guard();
        let dir = temp_dir("rw");
        let mut f = files(&dir);
        let h = f
            .open(&dir.join("f").display().to_string(), m("w+"))
            .unwrap();
        assert_eq!(f.write(h, b"hello").unwrap(), 5);
        f.flush(h).unwrap();
        assert_eq!(f.seek(h, 0, Whence::Set).unwrap(), 0);
        let mut buf = [0u8; 2];
        assert_eq!(f.read(h, &mut buf).unwrap(), 2);
        assert_eq!(&buf, b"he");
        assert_eq!(f.seek(h, -1, Whence::End).unwrap(), 4);
        assert_eq!(f.seek(h, 1, Whence::Cur).unwrap(), 5);
        assert_eq!(f.read(h, &mut buf).unwrap(), 0);
        assert_eq!(
            f.seek(h, -1, Whence::Set).unwrap_err().text(),
            "failed to seek file: Invalid argument"
        );
        f.close(h).unwrap();
    }

    #[test]
    fn new_file_gets_0666_despite_umask_and_existing_keeps_mode() {
        let _g = fd_count_guard();
        let dir = temp_dir("mode");
        let mut f = files(&dir);
        let p = dir.join("new");
        f.open(&p.display().to_string(), m("a")).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o666
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        f.open(&p.display().to_string(), m("w")).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn w_truncates_and_a_appends() {
        let _g = fd_count_guard();
        let dir = temp_dir("trunc");
        let mut f = files(&dir);
        let p = dir.join("t");
        std::fs::write(&p, "0123456789").unwrap();
        let h = f.open(&p.display().to_string(), m("a+")).unwrap();
        let mut buf = [0u8; 3];
        assert_eq!(f.read(h, &mut buf).unwrap(), 3, "a+ reads from the start");
        f.write(h, b"X").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"0123456789X");
        f.open(&p.display().to_string(), m("wb")).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"");
    }

    #[test]
    fn open_errors_have_qemu_text() {
        let _g = fd_count_guard();
        let dir = temp_dir("openerr");
        let mut f = files(&dir);
        let p = dir.join("nope").display().to_string();
        let e = f.open(&p, m("rb+")).unwrap_err();
        assert_eq!(
            e.text(),
            format!("failed to open file '{p}' (mode: 'rb+'): No such file or directory")
        );
        assert_eq!(f.next_handle(), 1000, "failed opens use no handle");
        let e = f.open(&dir.display().to_string(), m("w")).unwrap_err();
        assert!(
            e.text().ends_with("(mode: 'w'): Is a directory"),
            "{}",
            e.text()
        );
    }

    #[test]
    fn read_only_handle_cannot_write() {
        let _g = fd_count_guard();
        let dir = temp_dir("ro");
        let mut f = files(&dir);
        let p = dir.join("r");
        std::fs::write(&p, "x").unwrap();
        let h = f.open(&p.display().to_string(), m("r")).unwrap();
        assert_eq!(
            f.write(h, b"y").unwrap_err().text(),
            "failed to write to file: Bad file descriptor"
        );
    }

    #[test]
    fn unknown_handles_are_rejected_everywhere() {
        let dir = temp_dir("unknown");
        let mut f = files(&dir);
        let text = "handle '77' has not been found";
        assert_eq!(f.read(77, &mut [0; 1]).unwrap_err().text(), text);
        assert_eq!(f.write(77, b"x").unwrap_err().text(), text);
        assert_eq!(f.seek(77, 0, Whence::Set).unwrap_err().text(), text);
        assert_eq!(f.flush(77).unwrap_err().text(), text);
        assert_eq!(f.close(77).unwrap_err().text(), text);
    }

    #[test]
    fn closed_handle_is_gone() {
        let _g = fd_count_guard();
        let dir = temp_dir("closed");
        let mut f = files(&dir);
        let h = f
            .open(&dir.join("c").display().to_string(), m("w"))
            .unwrap();
        f.close(h).unwrap();
        assert!(f.close(h).is_err());
    }

    #[test]
    fn handle_table_is_bounded() {
        let _g = fd_count_guard();
        let dir = temp_dir("bound");
        let mut f = files(&dir);
        let p = dir.join("b").display().to_string();
        std::fs::write(&p, "").unwrap();
        for _ in 0..MAX_HANDLES {
            f.open(&p, m("r+b")).unwrap();
        }
        let e = f.open(&p, m("r")).unwrap_err();
        assert_eq!(
            e.text(),
            format!("failed to open file '{p}' (mode: 'r'): Too many open files")
        );
    }

    #[test]
    fn fifo_without_data_reports_eagain() {
        let _g = fd_count_guard();
        let dir = temp_dir("fifo");
        let p = dir.join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &p,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
            0,
        )
        .unwrap();
        let mut f = files(&dir);
        // r+ on a FIFO never blocks on Linux; reading with no writer data must not hang.
        let h = f.open(&p.display().to_string(), m("r+")).unwrap();
        let e = f.read(h, &mut [0; 8]).unwrap_err();
        assert_eq!(
            e.text(),
            "failed to read file: Resource temporarily unavailable"
        );
    }
}
