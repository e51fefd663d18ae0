//! A small fixed-size in-RAM file store with qemu-ga's file-handle semantics,
//! for platforms without a filesystem (firmware) and for the mock platform.
//!
//! `FILES` files of at most `SIZE` bytes each, at most `HANDLES` open at
//! once; handles count up from 1000 like qemu-ga's. Errors use qemu-ga's
//! texts with the errno a real system would give.

use super::{Error, OpenBase, OpenMode, Result, Whence};
use crate::errno::{EBADF, EINVAL, EMFILE, ENAMETOOLONG, ENOENT, ENOSPC};

/// Longest file name the store keeps.
pub const NAME_LEN: usize = 64;

/// First handle number, as in qemu-ga.
pub const FIRST_HANDLE: i64 = 1000;

struct File<const SIZE: usize> {
    name: heapless::String<NAME_LEN>,
    data: heapless::Vec<u8, SIZE>,
}

#[derive(Clone, Copy)]
struct Open {
    handle: i64,
    file: usize,
    pos: usize,
    mode: OpenMode,
}

/// The store. All storage is inline: put it in a `static` or on the stack.
pub struct MemFs<const FILES: usize, const SIZE: usize, const HANDLES: usize> {
    files: [Option<File<SIZE>>; FILES],
    open: [Option<Open>; HANDLES],
    next_handle: i64,
}

impl<const FILES: usize, const SIZE: usize, const HANDLES: usize> Default
    for MemFs<FILES, SIZE, HANDLES>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const FILES: usize, const SIZE: usize, const HANDLES: usize> MemFs<FILES, SIZE, HANDLES> {
    /// An empty store.
    pub const fn new() -> Self {
        MemFs {
            files: [const { None }; FILES],
            open: [None; HANDLES],
            next_handle: FIRST_HANDLE,
        }
    }

    /// `guest-file-open`.
    pub fn open(&mut self, path: &str, mode: OpenMode) -> Result<i64> {
        let fail = |errno| {
            Error::errno(
                errno,
                format_args!("failed to open file '{path}' (mode: '{}')", mode.text),
            )
        };
        let slot = self
            .open
            .iter()
            .position(Option::is_none)
            .ok_or_else(|| fail(EMFILE))?;
        let file = match (self.find(path), mode.base) {
            (Some(i), _) => i,
            (None, OpenBase::Read) => return Err(fail(ENOENT)),
            (None, _) => self.create(path).map_err(fail)?,
        };
        if mode.base == OpenBase::Write {
            self.file_mut(file).data.clear();
        }
        let handle = self.next_handle;
        self.next_handle += 1;
        self.open[slot] = Some(Open {
            handle,
            file,
            pos: 0,
            mode,
        });
        Ok(handle)
    }

    /// `guest-file-close`.
    pub fn close(&mut self, handle: i64) -> Result<()> {
        let slot = self.slot(handle)?;
        self.open[slot] = None;
        Ok(())
    }

    /// One read step: up to `buf.len()` bytes; 0 at the end.
    pub fn read(&mut self, handle: i64, buf: &mut [u8]) -> Result<usize> {
        let o = self.handle(handle)?;
        if !o.mode.reads() {
            return Err(Error::errno(EBADF, format_args!("failed to read file")));
        }
        let data = &self.file_mut(o.file).data;
        let n = buf.len().min(data.len().saturating_sub(o.pos));
        buf[..n].copy_from_slice(&data[o.pos..o.pos + n]);
        self.set_pos(handle, o.pos + n);
        Ok(n)
    }

    /// One write step.
    pub fn write(&mut self, handle: i64, bytes: &[u8]) -> Result<usize> {
        let o = self.handle(handle)?;
        if !o.mode.writes() {
            return Err(Error::errno(EBADF, format_args!("failed to write to file")));
        }
        let data = &mut self.file_mut(o.file).data;
        let pos = if o.mode.base == OpenBase::Append {
            data.len()
        } else {
            o.pos
        };
        let n = bytes.len().min(SIZE.saturating_sub(pos));
        if n == 0 && !bytes.is_empty() {
            return Err(Error::errno(
                ENOSPC,
                format_args!("failed to write to file"),
            ));
        }
        if data.len() < pos {
            let _ = data.resize(pos, 0);
        }
        let overlap = (data.len() - pos).min(n);
        data[pos..pos + overlap].copy_from_slice(&bytes[..overlap]);
        let _ = data.extend_from_slice(&bytes[overlap..n]);
        self.set_pos(handle, pos + n);
        Ok(n)
    }

    /// `guest-file-seek`: returns the new position.
    pub fn seek(&mut self, handle: i64, offset: i64, whence: Whence) -> Result<i64> {
        let o = self.handle(handle)?;
        let base = match whence {
            Whence::Set => 0,
            Whence::Cur => o.pos as i64,
            Whence::End => self.file_mut(o.file).data.len() as i64,
        };
        let pos = base
            .checked_add(offset)
            .filter(|p| (0..=SIZE as i64).contains(p));
        let pos = pos.ok_or_else(|| Error::errno(EINVAL, format_args!("failed to seek file")))?;
        self.set_pos(handle, pos as usize);
        Ok(pos)
    }

    /// `guest-file-flush`: nothing to do in RAM, but the handle must exist.
    pub fn flush(&mut self, handle: i64) -> Result<()> {
        self.check(handle)
    }

    /// Whether `handle` is open (qemu-ga's "not found" error otherwise).
    pub fn check(&self, handle: i64) -> Result<()> {
        self.slot(handle).map(|_| ())
    }

    /// The contents of `path`, if it exists.
    pub fn contents(&self, path: &str) -> Option<&[u8]> {
        self.find(path)
            .and_then(|i| self.files[i].as_ref())
            .map(|f| f.data.as_slice())
    }

    fn find(&self, path: &str) -> Option<usize> {
        self.files
            .iter()
            .position(|f| f.as_ref().is_some_and(|f| f.name == path))
    }

    fn create(&mut self, path: &str) -> core::result::Result<usize, i32> {
        let name = heapless::String::try_from(path).map_err(|_| ENAMETOOLONG)?;
        let i = self.files.iter().position(Option::is_none).ok_or(ENOSPC)?;
        self.files[i] = Some(File {
            name,
            data: heapless::Vec::new(),
        });
        Ok(i)
    }

    fn file_mut(&mut self, i: usize) -> &mut File<SIZE> {
        // Open entries only ever point at existing files (files are never removed).
        // Files are never removed, so an open handle's file always exists;
        // an empty slot is filled rather than trusted blindly.
        self.files[i].get_or_insert_with(|| File {
            name: heapless::String::new(),
            data: heapless::Vec::new(),
        })
    }

    fn slot(&self, handle: i64) -> Result<usize> {
        self.open
            .iter()
            .position(|o| o.is_some_and(|o| o.handle == handle))
            .ok_or_else(|| Error::handle_not_found(handle))
    }

    fn handle(&self, handle: i64) -> Result<Open> {
        let slot = self.slot(handle)?;
        self.open[slot].ok_or_else(|| Error::handle_not_found(handle))
    }

    fn set_pos(&mut self, handle: i64, pos: usize) {
        if let Some(o) = self.open.iter_mut().flatten().find(|o| o.handle == handle) {
            o.pos = pos;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Fs = MemFs<2, 16, 2>;

    fn mode(s: &str) -> OpenMode {
        OpenMode::parse(s).unwrap_or(OpenMode {
            base: OpenBase::Read,
            plus: false,
            text: "r",
        })
    }

    #[test]
    fn write_then_read_round_trip() {
        let mut fs = Fs::new();
        let h = fs.open("/a", mode("w+")).unwrap_or(0);
        assert_eq!(h, 1000);
        assert_eq!(fs.write(h, b"hello"), Ok(5));
        assert_eq!(fs.seek(h, 0, Whence::Set), Ok(0));
        let mut buf = [0u8; 8];
        assert_eq!(fs.read(h, &mut buf), Ok(5));
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(fs.read(h, &mut buf), Ok(0));
        assert_eq!(fs.check(h), Ok(()));
        assert_eq!(fs.close(h), Ok(()));
        assert!(fs.check(h).is_err());
        assert_eq!(fs.contents("/a"), Some(&b"hello"[..]));
    }

    #[test]
    fn errors_have_qemu_texts() {
        let mut fs = Fs::new();
        let e = fs
            .open("/nope", mode("r"))
            .err()
            .unwrap_or(Error::Unsupported);
        assert_eq!(
            e.text(),
            "failed to open file '/nope' (mode: 'r'): No such file or directory"
        );
        assert_eq!(
            fs.close(5)
                .err()
                .map(|e| e.text() == "handle '5' has not been found"),
            Some(true)
        );
    }

    #[test]
    fn bounds_give_errors_not_panics() {
        let mut fs = Fs::new();
        let h = fs.open("/a", mode("w")).unwrap_or(0);
        assert_eq!(fs.write(h, &[1; 20]), Ok(16));
        assert!(fs.write(h, &[1]).is_err());
        let _ = fs.open("/b", mode("w"));
        let e = fs.open("/c", mode("w")).err().unwrap_or(Error::Unsupported);
        assert!(e.text().ends_with("Too many open files"), "{}", e.text());
        assert!(fs.seek(h, -1, Whence::Set).is_err());
    }

    #[test]
    fn append_writes_at_end() {
        let mut fs = Fs::new();
        let h = fs.open("/a", mode("w")).unwrap_or(0);
        let _ = fs.write(h, b"ab");
        let _ = fs.close(h);
        let h = fs.open("/a", mode("a")).unwrap_or(0);
        let _ = fs.write(h, b"cd");
        assert_eq!(fs.contents("/a"), Some(&b"abcd"[..]));
    }
}
