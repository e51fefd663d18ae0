//! Where the platform finds the system: `/proc`, `/sys`, `/etc`, `/sbin`
//! and the `PATH` directories, all under one root. The root is `/` on a
//! guest; tests point it at a generated tree, so sysfs parsing and helper
//! programs (shutdown, chpasswd, systemctl) run without touching the host.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use super::sys::is_executable;

/// `PATH` when the agent's environment has none (glibc's default for root;
/// also where children are searched, see `child`).
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The root every system path is resolved under.
#[derive(Clone, Debug)]
pub(crate) struct Root {
    base: PathBuf,
}

impl Default for Root {
    fn default() -> Self {
        Root::new(PathBuf::from("/"))
    }
}

impl Root {
    /// A root at `base` (`/` for the real system).
    pub(crate) fn new(base: PathBuf) -> Root {
        Root { base }
    }

    /// Whether this is the real system's root (only then may the platform
    /// do irreversible things such as the `reboot` syscall).
    pub(crate) fn is_real(&self) -> bool {
        self.base == Path::new("/")
    }

    /// `abs` (an absolute system path) under the root.
    pub(crate) fn path(&self, abs: impl AsRef<Path>) -> PathBuf {
        let abs = abs.as_ref();
        self.base.join(abs.strip_prefix("/").unwrap_or(abs))
    }

    /// Reads the text file `abs` under the root.
    pub(crate) fn read(&self, abs: impl AsRef<Path>) -> io::Result<String> {
        std::fs::read_to_string(self.path(abs))
    }

    /// The first executable `prog` in the `PATH` directories (each taken
    /// under the root), as `execvp` would find it.
    pub(crate) fn which(&self, prog: &str) -> Option<PathBuf> {
        let path = std::env::var_os("PATH");
        let path = path.as_deref().unwrap_or(OsStr::new(DEFAULT_PATH));
        std::env::split_paths(path)
            .map(|dir| self.path(dir).join(prog))
            .find(|p| is_executable(p))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testutil::temp_dir;
    use super::*;

    #[test]
    fn paths_resolve_under_the_root() {
        let _fds = super::super::testutil::fd_count_guard();
        let r = Root::new("/tmp/t".into());
        assert_eq!(r.path("/proc/stat"), Path::new("/tmp/t/proc/stat"));
        assert!(!r.is_real() && Root::default().is_real());
        assert_eq!(Root::default().path("/sys"), Path::new("/sys"));
    }

    #[test]
    fn which_searches_path_under_the_root() {
        let _fds = super::super::testutil::fd_count_guard();
        let dir = temp_dir("which");
        assert_eq!(Root::new(dir.clone()).which("sh-for-which"), None);
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy("/bin/sh", bin.join("sh-for-which")).unwrap();
        let found = Root::new(dir).which("sh-for-which");
        // Found only if the test's PATH contains /bin (it always does here).
        assert!(found.is_none_or(|p| p.ends_with("bin/sh-for-which")));
        assert!(Root::default().which("sh").is_some());
    }
}
