//! Shared unit-test helpers for the Linux platform: unique temp dirs, files
//! in a test root (the sysfs/procfs `put`), a lock that keeps the fd-leak
//! test from counting descriptors other tests hold open at the same time,
//! and re-running one test in a private mount namespace.
#![allow(clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

static FDS: RwLock<()> = RwLock::new(());
static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A fresh empty directory under the system temp dir.
pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("qga-linux-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// Writes `content` to `root/rel`, creating the parent directories (a
/// sysfs or procfs file in a test root).
pub(crate) fn put(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    let parent = p.parent().unwrap_or(root);
    std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    std::fs::write(&p, content).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

/// Makes `root/rel` a symlink to `target`, creating the parent directories.
pub(crate) fn link(root: &Path, rel: &str, target: &str) {
    let p = root.join(rel);
    let parent = p.parent().unwrap_or(root);
    std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    std::os::unix::fs::symlink(target, &p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

/// Held by tests that open descriptors.
pub(crate) fn fd_count_guard() -> RwLockReadGuard<'static, ()> {
    FDS.read().unwrap_or_else(|e| e.into_inner())
}

/// Held by the test that counts descriptors.
pub(crate) fn fd_count_exclusive() -> RwLockWriteGuard<'static, ()> {
    FDS.write().unwrap_or_else(|e| e.into_inner())
}

/// The descriptors this process has open, sorted.
pub(crate) fn open_fds() -> Vec<String> {
    let dir = std::fs::read_dir("/proc/self/fd").unwrap_or_else(|e| panic!("/proc/self/fd: {e}"));
    let mut fds: Vec<String> = dir
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    fds.sort();
    fds
}

/// The environment variable that marks the re-run of one test inside its
/// private mount namespace (its value is the test's name).
const IN_NAMESPACE: &str = "QGA_TEST_IN_PRIVATE_MOUNTS";

/// Runs test `name` (as libtest names it, e.g. `linux::time::tests::x`)
/// again in a child process with private mounts (`unshare -m`), after the
/// shell script `setup` ran there as root; returns `true` in that child,
/// where the caller then does its checks against the prepared tree.
///
/// In the calling process it returns `false` once the child passed, and
/// fails the test when the child failed, did not run exactly that test, or
/// could not get a mount namespace (root and `unshare` from util-linux are
/// needed: such a test runs or fails, it never passes unrun).
pub(crate) fn in_private_mounts(name: &str, setup: &str) -> bool {
    if std::env::var(IN_NAMESPACE).is_ok_and(|v| v == name) {
        return true;
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let out = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-ec"])
        .arg(format!("{setup}\nexec \"$0\" \"$@\""))
        .arg(&exe)
        .args([name, "--exact", "--test-threads", "1", "--nocapture"])
        .env(IN_NAMESPACE, name)
        .output()
        .unwrap_or_else(|e| panic!("{name}: cannot run unshare (util-linux): {e}"));
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains(&format!("test {name} ... ok")),
        "{name} in a private mount namespace (needs root):\n{text}"
    );
    false
}
