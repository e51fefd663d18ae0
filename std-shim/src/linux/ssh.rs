//! `guest-ssh-get/add/remove-authorized-keys` (protocol notes 3.3): the
//! user from passwd (then `getent`), `~/.ssh/authorized_keys` kept 0600 in
//! a 0700 `~/.ssh`, both owned by the user. The core validates the keys.
//!
//! The agent is root and the user owns `~/.ssh`, so nothing there is
//! followed, truncated, chowned or read by path. The home directory (set
//! by root in passwd) is opened once; below it everything goes through
//! descriptors: `.ssh` and `authorized_keys` are opened with `O_NOFOLLOW`
//! (reads also `O_NONBLOCK`), checked with `fstat`, and refused, with
//! nothing changed, when they are a link, of the wrong type, owned by
//! someone else or writable by group or others (sshd's StrictModes rules:
//! `.ssh` may belong to the user or root, `authorized_keys` only to the
//! user, so a hard link to a root file is never read). A missing `.ssh` is
//! made with `mkdirat`, then `fchown`/`fchmod` 0700 on the opened
//! descriptor. The new keys file is a temp file created
//! `O_CREAT|O_EXCL|O_NOFOLLOW` in `.ssh`, `fchown`/`fchmod` 0600, synced
//! and `renameat` over the old one, so a link planted at the final name is
//! replaced, never written through. Keys files are bytes: lines that are
//! not keys, or not UTF-8, survive add and remove byte for byte.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use qga_core::errno::strerror;
use qga_core::platform::{Error, Result, StrList};
use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Stat, Uid};
use rustix::io::Errno;

use super::root::Root;
use super::sys::{retry, rx_errno};
use super::users::{lookup, Passwd};

const SSH_DIR: &str = ".ssh";
const KEYS_FILE: &str = "authorized_keys";
/// Largest keys file read (about 2000 RSA-4096 keys); larger is refused.
pub(crate) const MAX_KEYS_FILE: u64 = 1 << 20;
/// Attempts at a fresh temp file name before giving up.
const TEMP_TRIES: u32 = 64;

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);
const READ_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY)
    .union(OFlags::CLOEXEC);
const TEMP_FLAGS: OFlags = OFlags::WRONLY
    .union(OFlags::CREATE)
    .union(OFlags::EXCL)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// A keys file as its lines, without their LF.
type Lines = Vec<Vec<u8>>;

/// `guest-ssh-get-authorized-keys`: stripped, non-comment lines, reversed
/// (non-UTF-8 bytes show as U+FFFD, as qemu-ga's JSON writer does).
pub(crate) fn get(root: &Root, user: &str, out: &mut dyn FnMut(&str) -> Result<()>) -> Result<()> {
    let pw = lookup(root, user)?;
    let missing = |e: Errno| {
        let file = pw.home.join(SSH_DIR).join(KEYS_FILE);
        let (file, why) = (file.display(), strerror(rx_errno(e)));
        Error::msg(format_args!(
            "failed to read '{file}': Failed to open file \u{201c}{file}\u{201d}: {why}"
        ))
    };
    let home = open_home(root, &pw).map_err(missing)?;
    let dir = SshDir::open(&home, &pw)?.ok_or_else(|| missing(Errno::NOENT))?;
    let lines = dir.read_keys(&pw)?.ok_or_else(|| missing(Errno::NOENT))?;
    let keys = lines
        .iter()
        .map(|l| l.trim_ascii())
        .filter(|l| !l.is_empty() && !l.starts_with(b"#"));
    let keys: Vec<_> = keys.map(String::from_utf8_lossy).collect();
    keys.iter().rev().try_for_each(|k| out(k))
}

/// `guest-ssh-add-authorized-keys`: appends keys not yet present (all of
/// the old file is dropped with `reset`, but still checked first).
pub(crate) fn add(root: &Root, user: &str, keys: StrList<'_>, reset: bool) -> Result<()> {
    let pw = lookup(root, user)?;
    let dir_path = pw.home.join(SSH_DIR);
    let home = open_home(root, &pw).map_err(|e| io_error("create directory", &dir_path, e))?;
    let dir = match SshDir::open(&home, &pw)? {
        Some(dir) => dir,
        None => SshDir::create(&home, &pw)?,
    };
    let mut lines = dir.read_keys(&pw)?.unwrap_or_default();
    if reset {
        lines.clear();
    }
    for k in keys.iter() {
        if !lines.iter().any(|l| l == k.as_bytes()) {
            lines.push(k.as_bytes().to_vec());
        }
    }
    dir.write_keys(&pw, &lines)
}

/// `guest-ssh-remove-authorized-keys`: drops exact matches; no file is fine.
pub(crate) fn remove(root: &Root, user: &str, keys: StrList<'_>) -> Result<()> {
    let pw = lookup(root, user)?;
    let Ok(home) = open_home(root, &pw) else {
        return Ok(());
    };
    let Some(dir) = SshDir::open(&home, &pw)? else {
        return Ok(());
    };
    let Some(lines) = dir.read_keys(&pw)? else {
        return Ok(());
    };
    let kept: Lines = lines
        .into_iter()
        .filter(|l| !keys.iter().any(|k| k.as_bytes() == l))
        .collect();
    dir.write_keys(&pw, &kept)
}

/// The home directory named by root's passwd entry (links in that path
/// are root's business and followed).
fn open_home(root: &Root, pw: &Passwd) -> rustix::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    retry(|| rustix::fs::open(root.path(&pw.home), flags, Mode::empty()))
}

/// `failed to <what> '<path>': <strerror>`.
fn io_error(what: &str, path: &Path, e: Errno) -> Error {
    let path = path.display();
    Error::errno(rx_errno(e), format_args!("failed to {what} '{path}'"))
}

/// Why a path under the user's control is not used.
fn refused(path: &Path, why: std::fmt::Arguments<'_>) -> Error {
    let path = path.display();
    Error::msg(format_args!("refusing to use '{path}': {why}"))
}

/// An `openat` failure of `name` in `dir`: a link or a wrong type is a
/// refusal (found with a non-following `fstatat`), anything else an I/O
/// error.
fn open_error(dir: &OwnedFd, name: &str, path: &Path, e: Errno) -> Error {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW);
    match st.map(|st| FileType::from_raw_mode(st.st_mode)) {
        Ok(FileType::Symlink) => refused(path, format_args!("it is a symbolic link")),
        Ok(_) if e == Errno::NOTDIR => refused(path, format_args!("it is not a directory")),
        _ => io_error("open", path, e),
    }
}

/// The checks on an opened `.ssh` or `authorized_keys`.
fn check(st: &Stat, pw: &Passwd, want: FileType, path: &Path) -> Result<()> {
    let ty = FileType::from_raw_mode(st.st_mode);
    let owner_ok = st.st_uid == pw.uid || (want == FileType::Directory && st.st_uid == 0);
    if ty != want {
        let what = if want == FileType::Directory {
            "directory"
        } else {
            "regular file"
        };
        return Err(refused(path, format_args!("it is not a {what}")));
    }
    if !owner_ok {
        return Err(refused(
            path,
            format_args!("it is owned by uid {}", st.st_uid),
        ));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(refused(
            path,
            format_args!("it is writable by group or others"),
        ));
    }
    Ok(())
}

/// An opened and checked `~/.ssh`.
struct SshDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl SshDir {
    /// Opens `~/.ssh`; `None` if it does not exist.
    fn open(home: &OwnedFd, pw: &Passwd) -> Result<Option<SshDir>> {
        let path = pw.home.join(SSH_DIR);
        let fd = match retry(|| rustix::fs::openat(home, SSH_DIR, DIR_FLAGS, Mode::empty())) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(open_error(home, SSH_DIR, &path, e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| io_error("stat", &path, e))?;
        check(&st, pw, FileType::Directory, &path)?;
        Ok(Some(SshDir { fd, path }))
    }

    /// Makes `~/.ssh` (0700, owned by the user) and opens it.
    fn create(home: &OwnedFd, pw: &Passwd) -> Result<SshDir> {
        let path = pw.home.join(SSH_DIR);
        let made = match rustix::fs::mkdirat(home, SSH_DIR, Mode::from_raw_mode(0o700)) {
            Ok(()) => true,
            Err(Errno::EXIST) => false,
            Err(e) => return Err(io_error("create directory", &path, e)),
        };
        let fd = retry(|| rustix::fs::openat(home, SSH_DIR, DIR_FLAGS, Mode::empty()))
            .map_err(|e| open_error(home, SSH_DIR, &path, e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| io_error("stat", &path, e))?;
        // Ours if still root's and empty; the user may have put their own in
        // its place, which is theirs to keep. Anything else is not touched.
        let ours = st.st_uid == 0 && st.st_nlink == 2;
        if made && (ours || st.st_uid == pw.uid) {
            own(&fd, pw, 0o700, &path)?;
        }
        let st = rustix::fs::fstat(&fd).map_err(|e| io_error("stat", &path, e))?;
        check(&st, pw, FileType::Directory, &path)?;
        Ok(SshDir { fd, path })
    }

    /// The keys file's lines; `None` if there is none.
    fn read_keys(&self, pw: &Passwd) -> Result<Option<Lines>> {
        let path = self.path.join(KEYS_FILE);
        let fd = match retry(|| rustix::fs::openat(&self.fd, KEYS_FILE, READ_FLAGS, Mode::empty()))
        {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(open_error(&self.fd, KEYS_FILE, &path, e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| io_error("stat", &path, e))?;
        check(&st, pw, FileType::RegularFile, &path)?;
        let mut data = Vec::new();
        std::fs::File::from(fd)
            .take(MAX_KEYS_FILE + 1)
            .read_to_end(&mut data)
            .map_err(|e| io_error("read", &path, Errno::from_io_error(&e).unwrap_or(Errno::IO)))?;
        if data.len() as u64 > MAX_KEYS_FILE {
            let why = format_args!("it is larger than {MAX_KEYS_FILE} bytes");
            return Err(refused(&path, why));
        }
        Ok(Some(split_lines(&data)))
    }

    /// Replaces the keys file with `lines` joined by LF (no trailing LF,
    /// as qemu-ga), through a temp file renamed over it.
    fn write_keys(&self, pw: &Passwd, lines: &Lines) -> Result<()> {
        let path = self.path.join(KEYS_FILE);
        let (name, fd) = self.create_temp(&path)?;
        let data = lines.join(&b'\n');
        let written = own(&fd, pw, 0o600, &path).and_then(|()| {
            let mut f = std::fs::File::from(fd);
            let fail = |e: std::io::Error| {
                io_error(
                    "write to",
                    &path,
                    Errno::from_io_error(&e).unwrap_or(Errno::IO),
                )
            };
            f.write_all(&data).map_err(fail)?;
            f.sync_all().map_err(fail)?;
            rustix::fs::renameat(&self.fd, &name, &self.fd, KEYS_FILE)
                .map_err(|e| io_error("replace", &path, e))
        });
        if written.is_err() {
            let _ = rustix::fs::unlinkat(&self.fd, &name, AtFlags::empty());
        }
        written
    }

    /// A new, empty temp file in `.ssh` (never a pre-existing name).
    fn create_temp(&self, path: &Path) -> Result<(String, OwnedFd)> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let mut last = Errno::EXIST;
        for _ in 0..TEMP_TRIES {
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            let name = format!(".{KEYS_FILE}.qga-{}-{n}", std::process::id());
            let mode = Mode::from_raw_mode(0o600);
            match retry(|| rustix::fs::openat(&self.fd, name.as_str(), TEMP_FLAGS, mode)) {
                Ok(fd) => return Ok((name, fd)),
                Err(Errno::EXIST) => last = Errno::EXIST,
                Err(e) => return Err(io_error("write to", path, e)),
            }
        }
        Err(io_error("write to", path, last))
    }
}

/// `fchown` to the user and `fchmod` to `mode`, on the descriptor.
fn own(fd: &OwnedFd, pw: &Passwd, mode: u32, path: &Path) -> Result<()> {
    let (uid, gid) = (Uid::from_raw(pw.uid), Gid::from_raw(pw.gid));
    rustix::fs::fchown(fd, Some(uid), Some(gid))
        .map_err(|e| io_error("set ownership of", path, e))?;
    rustix::fs::fchmod(fd, Mode::from_raw_mode(mode))
        .map_err(|e| io_error("set permissions of", path, e))
}

/// Lines without their LF; a final LF ends the last line (no empty one).
fn split_lines(data: &[u8]) -> Lines {
    if data.is_empty() {
        return Vec::new();
    }
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    body.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testutil::temp_dir;
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn setup() -> (Root, PathBuf) {
        let d = temp_dir("ssh");
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::create_dir_all(d.join("home/alice")).unwrap();
        std::fs::write(
            d.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nalice:x:1234:2345::/home/alice:/bin/sh\n",
        )
        .unwrap();
        (Root::new(d.clone()), d)
    }

    fn get_keys(root: &Root, user: &str) -> Result<Vec<String>> {
        let mut v = Vec::new();
        get(root, user, &mut |k| {
            v.push(k.to_owned());
            Ok(())
        })?;
        Ok(v)
    }

    #[test]
    fn add_creates_dir_and_file_with_owner_and_modes() {
        let _fds = super::super::testutil::fd_count_guard();
        let (root, d) = setup();
        add(
            &root,
            "alice",
            StrList::from_joined("ssh-rsa A\0ssh-ed25519 B\0ssh-rsa A\0", 3),
            false,
        )
        .unwrap();
        let file = d.join("home/alice/.ssh/authorized_keys");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "ssh-rsa A\nssh-ed25519 B"
        );
        let (fm, dm) = (
            std::fs::metadata(&file).unwrap(),
            std::fs::metadata(d.join("home/alice/.ssh")).unwrap(),
        );
        assert_eq!((fm.mode() & 0o777, dm.mode() & 0o777), (0o600, 0o700));
        assert_eq!((fm.uid(), fm.gid(), dm.uid()), (1234, 2345, 1234));
        assert_eq!(
            get_keys(&root, "alice").unwrap(),
            ["ssh-ed25519 B", "ssh-rsa A"]
        );
        add(&root, "alice", StrList::from_joined("ssh-rsa C\0", 1), true).unwrap();
        assert_eq!(get_keys(&root, "alice").unwrap(), ["ssh-rsa C"]);
    }

    #[test]
    fn get_skips_comments_and_blanks_and_remove_drops_matches() {
        let _fds = super::super::testutil::fd_count_guard();
        let (root, d) = setup();
        std::fs::create_dir_all(d.join("home/alice/.ssh")).unwrap();
        let file = d.join("home/alice/.ssh/authorized_keys");
        std::fs::write(&file, "# c\n  k1  \n\nk2\nk3\n").unwrap();
        std::os::unix::fs::chown(&file, Some(1234), Some(2345)).unwrap();
        assert_eq!(get_keys(&root, "alice").unwrap(), ["k3", "k2", "k1"]);
        remove(&root, "alice", StrList::from_joined("k2\0nope\0", 2)).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "# c\n  k1  \n\nk3");
    }

    #[test]
    fn errors_use_qemu_texts() {
        let _fds = super::super::testutil::fd_count_guard();
        let (root, _) = setup();
        let e = get_keys(&root, "bob").unwrap_err();
        assert_eq!(e.text(), "failed to lookup user 'bob': Success");
        let e = get_keys(&root, "alice").unwrap_err();
        assert_eq!(
            e.text(),
            "failed to read '/home/alice/.ssh/authorized_keys': Failed to open file \u{201c}/home/alice/.ssh/authorized_keys\u{201d}: No such file or directory"
        );
        remove(&root, "alice", StrList::from_joined("k\0", 1)).unwrap();
    }

    #[test]
    fn links_and_foreign_files_are_refused_and_left_alone() {
        let _fds = super::super::testutil::fd_count_guard();
        let (root, d) = setup();
        let ssh = d.join("home/alice/.ssh");
        let victim = d.join("victim");
        std::fs::write(&victim, "secret").unwrap();
        std::fs::create_dir_all(&ssh).unwrap();
        std::os::unix::fs::symlink(&victim, ssh.join("authorized_keys")).unwrap();
        let e = add(&root, "alice", StrList::from_joined("k\0", 1), true).unwrap_err();
        assert_eq!(
            e.text(),
            "refusing to use '/home/alice/.ssh/authorized_keys': it is a symbolic link"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret");
        assert!(std::fs::symlink_metadata(ssh.join("authorized_keys"))
            .unwrap()
            .is_symlink());
        std::fs::remove_file(ssh.join("authorized_keys")).unwrap();
        // A root-owned file (a hard link to a root file looks like this) is not read.
        std::fs::write(ssh.join("authorized_keys"), "root stuff").unwrap();
        let e = get_keys(&root, "alice").unwrap_err();
        assert_eq!(
            e.text(),
            "refusing to use '/home/alice/.ssh/authorized_keys': it is owned by uid 0"
        );
        std::fs::remove_dir_all(&ssh).unwrap();
        std::os::unix::fs::symlink(d.join("etc"), &ssh).unwrap();
        let e = get_keys(&root, "alice").unwrap_err();
        assert_eq!(
            e.text(),
            "refusing to use '/home/alice/.ssh': it is a symbolic link"
        );
        assert!(remove(&root, "alice", StrList::from_joined("k\0", 1)).is_err());
    }

    #[test]
    fn non_utf8_and_non_key_lines_survive_byte_for_byte() {
        let _fds = super::super::testutil::fd_count_guard();
        let (root, d) = setup();
        let ssh = d.join("home/alice/.ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        let file = ssh.join("authorized_keys");
        std::fs::write(&file, b"k1\r\n\xff\xfe junk\n# note \xe9\n").unwrap();
        std::os::unix::fs::chown(&file, Some(1234), Some(2345)).unwrap();
        add(&root, "alice", StrList::from_joined("k2\0", 1), false).unwrap();
        assert_eq!(
            std::fs::read(&file).unwrap(),
            b"k1\r\n\xff\xfe junk\n# note \xe9\nk2"
        );
        remove(&root, "alice", StrList::from_joined("k2\0", 1)).unwrap();
        assert_eq!(
            std::fs::read(&file).unwrap(),
            b"k1\r\n\xff\xfe junk\n# note \xe9"
        );
        assert_eq!(
            get_keys(&root, "alice").unwrap(),
            ["\u{fffd}\u{fffd} junk", "k1"]
        );
    }

    #[test]
    fn oversized_and_group_writable_files_are_refused() {
        let _fds = super::super::testutil::fd_count_guard();
        let (root, d) = setup();
        let ssh = d.join("home/alice/.ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        let file = ssh.join("authorized_keys");
        std::fs::write(&file, vec![b'a'; MAX_KEYS_FILE as usize + 1]).unwrap();
        std::os::unix::fs::chown(&file, Some(1234), Some(2345)).unwrap();
        let e = get_keys(&root, "alice").unwrap_err();
        assert_eq!(
            e.text(),
            "refusing to use '/home/alice/.ssh/authorized_keys': it is larger than 1048576 bytes"
        );
        std::fs::write(&file, "k").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o664)).unwrap();
        let e = add(&root, "alice", StrList::from_joined("k2\0", 1), false).unwrap_err();
        assert!(
            e.text().ends_with("it is writable by group or others"),
            "{}",
            e.text()
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"k");
    }
}
