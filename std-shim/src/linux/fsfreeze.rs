//! `guest-fsfreeze-*` and `guest-fstrim` (protocol notes 3.3, 4.4, 4.8):
//! FIFREEZE / FITHAW / FITRIM on every mount of the mount list, the
//! fsfreeze hook around them, and the frozen state.
//!
//! The frozen state lives in memory ([`Freezer::status`] answers from
//! it); `<statedir>/qga.state.isfrozen` is its persisted copy, read once at
//! startup so a restarted agent starts frozen. While frozen nothing is
//! written to any file: the log holds its lines in memory from before the
//! first FIFREEZE until after the last FITHAW. A thaw that fails before
//! thawing anything (no mount list) leaves the state frozen.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use qga_core::platform::{Error, FsfreezeStatus, Result, StrList, TrimResult};
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::helper::{helper, ACTION_TIME};
use super::mounts::{mount_list, Mount};
use super::root::Root;
use super::sys::{fifreeze, fithaw, fitrim, rx_errno, FstrimRange};
use crate::log;

/// The frozen-state marker's name in the state directory.
pub(crate) const FROZEN_FILE: &str = "qga.state.isfrozen";

/// qemu-ga's action text for a failing hook.
const HOOK_ACTION: &str = "execute fsfreeze hook";

/// Whether `statedir` holds the frozen marker (only its existence is
/// tested, without following it: reading a file on a possibly frozen
/// filesystem could hang, notes 4.4).
pub fn marker_exists(statedir: &Path) -> bool {
    std::fs::symlink_metadata(statedir.join(FROZEN_FILE)).is_ok()
}

/// The frozen state and what freeze and thaw work with.
#[derive(Debug)]
pub(crate) struct Freezer {
    /// Holds [`FROZEN_FILE`].
    statedir: PathBuf,
    /// The fsfreeze hook, if enabled.
    pub hook: Option<PathBuf>,
    frozen: bool,
}

impl Freezer {
    /// The state a (re)started agent is in: frozen if the marker exists.
    pub(crate) fn new(statedir: PathBuf) -> Freezer {
        let frozen = marker_exists(&statedir);
        if frozen {
            log::set_frozen(true);
        }
        Freezer {
            statedir,
            hook: None,
            frozen,
        }
    }

    /// `guest-fsfreeze-status`, from memory.
    pub(crate) fn status(&self) -> FsfreezeStatus {
        match self.frozen {
            true => FsfreezeStatus::Frozen,
            false => FsfreezeStatus::Thawed,
        }
    }

    /// `guest-fsfreeze-freeze[-list]`: hook, mount list, frozen state,
    /// FIFREEZE in reverse mount order. Returns how many were frozen.
    pub(crate) fn freeze(&mut self, root: &Root, only: Option<StrList<'_>>) -> Result<i64> {
        self.run_hook("freeze")?;
        let mounts = mount_list(root)?;
        self.set_frozen(true);
        match freeze_mounts(&mounts, only) {
            Ok(0) => {
                self.set_frozen(false);
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(e) => {
                // A full thaw, hook included; its own failure is not reported.
                let _ = self.thaw(root);
                Err(e)
            }
        }
    }

    /// `guest-fsfreeze-thaw`: FITHAW on every mount until it fails, leave
    /// frozen state, then the hook. Returns how many mounts were thawed.
    pub(crate) fn thaw(&mut self, root: &Root) -> Result<i64> {
        let mounts = mount_list(root)?;
        let n = mounts.iter().filter(|m| thaw_mount(&m.path)).count();
        self.set_frozen(false);
        self.run_hook("thaw")?;
        Ok(i64::try_from(n).unwrap_or(i64::MAX))
    }

    fn marker(&self) -> PathBuf {
        self.statedir.join(FROZEN_FILE)
    }

    /// Enters or leaves frozen state: the log first holds its lines (before
    /// anything is frozen) and flushes them last (after everything thawed);
    /// the marker is created (0600, never through a link) or removed.
    /// Marker failures only weaken the restart guarantee, as in qemu-ga
    /// (which merely warns).
    fn set_frozen(&mut self, frozen: bool) {
        self.frozen = frozen;
        if frozen {
            log::set_frozen(true);
            let flags = OFlags::CREATE | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let _ = rustix::fs::open(self.marker(), flags, Mode::from_raw_mode(0o600));
        } else {
            let _ = std::fs::remove_file(self.marker());
            log::set_frozen(false);
        }
    }

    fn run_hook(&self, arg: &str) -> Result<()> {
        match &self.hook {
            Some(hook) => {
                crate::audit::fsfreeze_hook(arg);
                helper(
                    &[hook.as_os_str(), arg.as_ref()],
                    None,
                    HOOK_ACTION,
                    ACTION_TIME,
                )
            }
            None => Ok(()),
        }
    }
}

/// Freezes the (selected) mounts in reverse order; EOPNOTSUPP and EBUSY
/// (not freezable, already frozen) are skipped and not counted.
fn freeze_mounts(mounts: &[Mount], only: Option<StrList<'_>>) -> Result<i64> {
    let mut n = 0;
    for m in mounts.iter().rev() {
        let named = |p: &str| p.as_bytes() == m.path.as_os_str().as_bytes();
        if only.is_some_and(|l| !l.iter().any(named)) {
            continue;
        }
        let fd = open_dir(&m.path)
            .map_err(|e| Error::errno(rx_errno(e), format_args!("failed to open {}", m.dir)))?;
        match fifreeze(&fd) {
            Ok(()) => n += 1,
            Err(Errno::OPNOTSUPP | Errno::BUSY) => {}
            Err(e) => {
                return Err(Error::errno(
                    rx_errno(e),
                    format_args!("failed to freeze {}", m.dir),
                ))
            }
        }
    }
    Ok(n)
}

/// Thaws one mount (FITHAW until it fails); whether it thawed at least once.
fn thaw_mount(dir: &Path) -> bool {
    let Ok(fd) = open_dir(dir) else {
        return false;
    };
    let mut thawed = false;
    while fithaw(&fd).is_ok() {
        thawed = true;
    }
    thawed
}

fn open_dir(dir: &Path) -> rustix::io::Result<OwnedFd> {
    rustix::fs::open(dir, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
}

/// `guest-fstrim`: FITRIM on every mount, reported in reverse mount order.
pub(crate) fn fstrim(
    root: &Root,
    minimum: Option<i64>,
    out: &mut dyn FnMut(&TrimResult<'_>) -> Result<()>,
) -> Result<()> {
    let mounts = mount_list(root)?;
    let minlen = u64::try_from(minimum.unwrap_or(0)).unwrap_or(0);
    for m in mounts.iter().rev() {
        match trim(&m.path, minlen) {
            Ok(r) => out(&TrimResult {
                path: &m.dir,
                trimmed: Some(i64::try_from(r.len).unwrap_or(i64::MAX)),
                minimum: Some(i64::try_from(r.minlen).unwrap_or(i64::MAX)),
                error: None,
            })?,
            Err(e) => out(&TrimResult {
                path: &m.dir,
                trimmed: None,
                minimum: None,
                error: Some(e.text()),
            })?,
        }
    }
    Ok(())
}

/// Trims one mount; errors carry qemu-ga's per-path texts.
fn trim(dir: &Path, minlen: u64) -> Result<FstrimRange> {
    let fd =
        open_dir(dir).map_err(|e| Error::errno(rx_errno(e), format_args!("failed to open")))?;
    let mut range = FstrimRange {
        start: 0,
        len: u64::MAX,
        minlen,
    };
    match fitrim(&fd, &mut range) {
        Ok(()) => Ok(range),
        Err(Errno::NOTTY | Errno::OPNOTSUPP) => Err(Error::msg(format_args!("trim not supported"))),
        Err(e) => Err(Error::errno(rx_errno(e), format_args!("failed to trim"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::mounts::tests::write_mountinfo;
    use super::super::testutil::temp_dir;
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// Whether `path` is on a tmpfs (which supports neither freeze nor
    /// trim, so the ioctls can run there without touching a real disk).
    fn is_tmpfs(path: &Path) -> bool {
        const TMPFS_MAGIC: u64 = 0x0102_1994;
        rustix::fs::statfs(path).is_ok_and(|s| u64::try_from(s.f_type) == Ok(TMPFS_MAGIC))
    }

    /// A tmpfs directory for ioctl tests: never freeze a real filesystem
    /// (the VM suite freezes a real ext4 disk). Linux hosts and containers
    /// mount a tmpfs at /dev/shm; without one the test fails, not skips.
    fn tmpfs_dir(tag: &str) -> PathBuf {
        let d = PathBuf::from("/dev/shm").join(format!("qga-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        assert!(is_tmpfs(&d), "/dev/shm is not a tmpfs here");
        d
    }

    /// A root whose mountinfo lists `dirs` as ext4 on distinct devices.
    fn root_with(dirs: &[&Path]) -> Root {
        let root = temp_dir("fsroot");
        let info: String = dirs
            .iter()
            .enumerate()
            .map(|(i, d)| format!("{i} 1 254:{i} / {} rw - ext4 /dev/x{i} rw\n", d.display()))
            .collect();
        write_mountinfo(&root, &info);
        Root::new(root)
    }

    /// A hook script appending its argument to `<dir>/log`, exiting `code`
    /// when the argument is `fail_on`.
    fn hook(dir: &Path, fail_on: &str, code: i32) -> PathBuf {
        let p = dir.join("hook");
        let log = dir.join("log");
        let script = format!(
            "#!/bin/sh\necho \"$1\" >> {}\n[ \"$1\" = {fail_on} ] && {{ echo hook says no; exit {code}; }}\nexit 0\n",
            log.display()
        );
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// A freezer over a generated root, with its own state dir.
    struct Setup {
        root: Root,
        f: Freezer,
    }

    impl Setup {
        fn freeze(&mut self, only: Option<StrList<'_>>) -> Result<i64> {
            self.f.freeze(&self.root, only)
        }

        fn thaw(&mut self) -> Result<i64> {
            self.f.thaw(&self.root)
        }

        fn status(&self) -> FsfreezeStatus {
            self.f.status()
        }
    }

    fn freezer(root: Root, hook: Option<PathBuf>) -> Setup {
        let mut f = Freezer::new(temp_dir("state"));
        f.hook = hook;
        Setup { root, f }
    }

    fn log(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("log")).unwrap_or_default()
    }

    #[test]
    fn unfreezable_mounts_leave_frozen_state_again() {
        let _fds = super::super::testutil::fd_count_guard();
        let shm = tmpfs_dir("nofreeze");
        let hd = temp_dir("hook0");
        let mut f = freezer(root_with(&[&shm]), Some(hook(&hd, "none", 0)));
        // tmpfs answers FIFREEZE with EOPNOTSUPP: ignored, count 0.
        assert_eq!(f.freeze(None), Ok(0));
        assert_eq!(f.status(), FsfreezeStatus::Thawed);
        assert_eq!(log(&hd), "freeze\n", "no thaw hook when nothing froze");
        assert_eq!(f.thaw(), Ok(0));
        assert_eq!(log(&hd), "freeze\nthaw\n");
    }

    #[test]
    fn open_failure_thaws_fully_and_reports() {
        let _fds = super::super::testutil::fd_count_guard();
        let hd = temp_dir("hook1");
        let mut f = freezer(
            root_with(&[Path::new("/nonexistent/qga")]),
            Some(hook(&hd, "none", 0)),
        );
        let e = f.freeze(None).unwrap_err();
        assert_eq!(
            e.text(),
            "failed to open /nonexistent/qga: No such file or directory"
        );
        assert_eq!(log(&hd), "freeze\nthaw\n");
        assert_eq!(f.status(), FsfreezeStatus::Thawed);
    }

    #[test]
    fn list_variant_ignores_unknown_and_unlisted_mounts() {
        let _fds = super::super::testutil::fd_count_guard();
        let mut f = freezer(root_with(&[Path::new("/nonexistent/qga")]), None);
        let list = StrList::from_joined("/not/a/mount\0", 1);
        assert_eq!(
            f.freeze(Some(list)),
            Ok(0),
            "the broken mount was not selected"
        );
    }

    #[test]
    fn failing_freeze_hook_freezes_nothing() {
        let _fds = super::super::testutil::fd_count_guard();
        let hd = temp_dir("hook2");
        let mut f = freezer(
            root_with(&[Path::new("/nonexistent/qga")]),
            Some(hook(&hd, "freeze", 3)),
        );
        let e = f.freeze(None).unwrap_err();
        assert_eq!(
            e.text(),
            "child process has failed to execute fsfreeze hook: hook says no\n"
        );
        assert_eq!(log(&hd), "freeze\n");
        assert_eq!(f.status(), FsfreezeStatus::Thawed);
    }

    #[test]
    fn failing_thaw_hook_is_reported_after_leaving_frozen_state() {
        let _fds = super::super::testutil::fd_count_guard();
        let hd = temp_dir("hook3");
        let mut f = freezer(root_with(&[]), Some(hook(&hd, "thaw", 4)));
        f.f.set_frozen(true);
        assert_eq!(f.status(), FsfreezeStatus::Frozen);
        let e = f.thaw().unwrap_err();
        assert!(e
            .text()
            .starts_with("child process has failed to execute fsfreeze hook"));
        assert_eq!(f.status(), FsfreezeStatus::Thawed);
    }

    #[test]
    fn frozen_marker_persists_across_instances_and_status_is_from_memory() {
        let _fds = super::super::testutil::fd_count_guard();
        let mut f = freezer(root_with(&[]), None);
        f.f.set_frozen(true);
        let marker = f.f.statedir.join(FROZEN_FILE);
        let meta = std::fs::metadata(&marker).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let mut again = Setup {
            root: Root::new(f.root.path("/")),
            f: Freezer::new(f.f.statedir.clone()),
        };
        assert_eq!(
            again.status(),
            FsfreezeStatus::Frozen,
            "a restarted agent starts frozen"
        );
        // Status is the agent's own state, not the marker's presence.
        std::fs::remove_file(&marker).unwrap();
        assert_eq!(again.status(), FsfreezeStatus::Frozen);
        assert_eq!(again.thaw().map(|_| ()), Ok(()));
        assert_eq!(again.status(), FsfreezeStatus::Thawed);
        std::fs::write(&marker, "").unwrap();
        assert_eq!(f.status(), FsfreezeStatus::Frozen);
        f.f.set_frozen(false);
        assert!(!marker.exists());
    }

    #[test]
    fn a_thaw_that_cannot_list_mounts_stays_frozen() {
        let _fds = super::super::testutil::fd_count_guard();
        let mut f = freezer(Root::new(temp_dir("nomountinfo")), None);
        f.f.set_frozen(true);
        let e = f.thaw().unwrap_err();
        assert!(
            e.text().starts_with("failed to open mtab file"),
            "{}",
            e.text()
        );
        assert_eq!(f.status(), FsfreezeStatus::Frozen);
        assert!(f.f.statedir.join(FROZEN_FILE).exists());
        f.f.set_frozen(false);
    }

    #[test]
    fn fstrim_reports_per_path_errors_in_reverse_order() {
        let _fds = super::super::testutil::fd_count_guard();
        let shm = tmpfs_dir("trim");
        let root = root_with(&[&shm, Path::new("/nonexistent/qga")]);
        let mut got = Vec::new();
        fstrim(&root, Some(4096), &mut |r| {
            got.push((r.path.to_owned(), r.trimmed, r.error.map(str::to_owned)));
            Ok(())
        })
        .unwrap();
        let shm = shm.display().to_string();
        assert_eq!(
            got,
            [
                (
                    "/nonexistent/qga".to_owned(),
                    None,
                    Some("failed to open: No such file or directory".to_owned())
                ),
                (shm, None, Some("trim not supported".to_owned())),
            ]
        );
    }
}
