//! `guest-fsfreeze-*` and `guest-fstrim` (protocol notes 3.3, 4.4, 4.8):
//! FIFREEZE / FITHAW / FITRIM on every mount of the mount list, the
//! fsfreeze hook around them, and the frozen state kept as the existence of
//! `<statedir>/qga.state.isfrozen`.

use std::path::{Path, PathBuf};

use qga_core::platform::{Error, FsfreezeStatus, Result, StrList, TrimResult};
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::mounts::{mount_list, Mount};
use super::root::Root;
use super::sys::{fifreeze, fithaw, fitrim, run_helper, rx_errno, FstrimRange};

/// The frozen-state marker's name in the state directory.
pub(crate) const FROZEN_FILE: &str = "qga.state.isfrozen";

/// qemu-ga's action text for a failing hook.
const HOOK_ACTION: &str = "execute fsfreeze hook";

/// What freeze and thaw work with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Freezer<'a> {
    /// Where mountinfo is read.
    pub root: &'a Root,
    /// Holds [`FROZEN_FILE`].
    pub statedir: &'a Path,
    /// The fsfreeze hook, if enabled.
    pub hook: Option<&'a Path>,
}

impl Freezer<'_> {
    /// `guest-fsfreeze-status`: only the marker's existence is tested, as a
    /// read on a frozen filesystem could hang (notes 4.4).
    pub(crate) fn status(&self) -> FsfreezeStatus {
        if std::fs::symlink_metadata(self.marker()).is_ok() {
            FsfreezeStatus::Frozen
        } else {
            FsfreezeStatus::Thawed
        }
    }

    /// `guest-fsfreeze-freeze[-list]`: hook, mount list, frozen state,
    /// FIFREEZE in reverse mount order. Returns how many were frozen.
    pub(crate) fn freeze(&self, only: Option<StrList<'_>>) -> Result<i64> {
        self.run_hook("freeze")?;
        let mounts = mount_list(self.root)?;
        self.set_frozen(true);
        match freeze_mounts(&mounts, only) {
            Ok(0) => {
                self.set_frozen(false);
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(e) => {
                // A full thaw, hook included; its own failure is not reported.
                let _ = self.thaw();
                Err(e)
            }
        }
    }

    /// `guest-fsfreeze-thaw`: FITHAW on every mount until it fails, leave
    /// frozen state, then the hook. Returns how many mounts were thawed.
    pub(crate) fn thaw(&self) -> Result<i64> {
        let mounts = mount_list(self.root)?;
        let n = mounts.iter().filter(|m| thaw_mount(&m.dir)).count();
        self.set_frozen(false);
        self.run_hook("thaw")?;
        Ok(i64::try_from(n).unwrap_or(i64::MAX))
    }

    fn marker(&self) -> PathBuf {
        self.statedir.join(FROZEN_FILE)
    }

    /// Creates (mode 0600) or removes the marker. Failure only weakens the
    /// restart guarantee, as in qemu-ga (which merely warns).
    fn set_frozen(&self, frozen: bool) {
        if frozen {
            let flags = OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC;
            let _ = rustix::fs::open(self.marker(), flags, Mode::from_raw_mode(0o600));
        } else {
            let _ = std::fs::remove_file(self.marker());
        }
    }

    fn run_hook(&self, arg: &str) -> Result<()> {
        match self.hook {
            Some(hook) => run_helper(&[&hook.to_string_lossy(), arg], HOOK_ACTION),
            None => Ok(()),
        }
    }
}

/// Freezes the (selected) mounts in reverse order; EOPNOTSUPP and EBUSY
/// (not freezable, already frozen) are skipped and not counted.
fn freeze_mounts(mounts: &[Mount], only: Option<StrList<'_>>) -> Result<i64> {
    let mut n = 0;
    for m in mounts.iter().rev() {
        if only.is_some_and(|l| !l.iter().any(|p| p == m.dir)) {
            continue;
        }
        let fd = open_dir(&m.dir)
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
fn thaw_mount(dir: &str) -> bool {
    let Ok(fd) = open_dir(dir) else {
        return false;
    };
    let mut thawed = false;
    while fithaw(&fd).is_ok() {
        thawed = true;
    }
    thawed
}

fn open_dir(dir: &str) -> rustix::io::Result<OwnedFd> {
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
        match trim(&m.dir, minlen) {
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
fn trim(dir: &str, minlen: u64) -> Result<FstrimRange> {
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

    /// A tmpfs directory for ioctl tests, or `None` (test skipped) if the
    /// host has no tmpfs at /dev/shm: never freeze a real filesystem.
    fn tmpfs_dir(tag: &str) -> Option<PathBuf> {
        let d = PathBuf::from("/dev/shm").join(format!("qga-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&d).ok()?;
        is_tmpfs(&d).then_some(d)
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

    /// Owns what a [`Freezer`] borrows.
    struct Setup(Root, PathBuf, Option<PathBuf>);

    impl Setup {
        fn f(&self) -> Freezer<'_> {
            Freezer {
                root: &self.0,
                statedir: &self.1,
                hook: self.2.as_deref(),
            }
        }
    }

    fn freezer(root: Root, hook: Option<PathBuf>) -> Setup {
        Setup(root, temp_dir("state"), hook)
    }

    fn log(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("log")).unwrap_or_default()
    }

    #[test]
    fn unfreezable_mounts_leave_frozen_state_again() {
        let _fds = super::super::testutil::fd_count_guard();
        let Some(shm) = tmpfs_dir("nofreeze") else {
            return;
        };
        let hd = temp_dir("hook0");
        let s = freezer(root_with(&[&shm]), Some(hook(&hd, "none", 0)));
        let f = s.f();
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
        let s = freezer(
            root_with(&[Path::new("/nonexistent/qga")]),
            Some(hook(&hd, "none", 0)),
        );
        let f = s.f();
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
        let s = freezer(root_with(&[Path::new("/nonexistent/qga")]), None);
        let f = s.f();
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
        let s = freezer(
            root_with(&[Path::new("/nonexistent/qga")]),
            Some(hook(&hd, "freeze", 3)),
        );
        let f = s.f();
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
        let s = freezer(root_with(&[]), Some(hook(&hd, "thaw", 4)));
        let f = s.f();
        f.set_frozen(true);
        assert_eq!(f.status(), FsfreezeStatus::Frozen);
        let e = f.thaw().unwrap_err();
        assert!(e
            .text()
            .starts_with("child process has failed to execute fsfreeze hook"));
        assert_eq!(f.status(), FsfreezeStatus::Thawed);
    }

    #[test]
    fn frozen_marker_persists_across_instances() {
        let _fds = super::super::testutil::fd_count_guard();
        let s = freezer(root_with(&[]), None);
        let f = s.f();
        f.set_frozen(true);
        let meta = std::fs::metadata(f.statedir.join(FROZEN_FILE)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let again = Freezer {
            root: f.root,
            statedir: f.statedir,
            hook: None,
        };
        assert_eq!(
            again.status(),
            FsfreezeStatus::Frozen,
            "a restarted agent starts frozen"
        );
        assert_eq!(again.thaw().map(|_| ()), Ok(()));
        assert_eq!(f.status(), FsfreezeStatus::Thawed);
    }

    #[test]
    fn fstrim_reports_per_path_errors_in_reverse_order() {
        let _fds = super::super::testutil::fd_count_guard();
        let Some(shm) = tmpfs_dir("trim") else { return };
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
