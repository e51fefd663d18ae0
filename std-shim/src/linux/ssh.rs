//! `guest-ssh-get/add/remove-authorized-keys` (protocol notes 3.3): the
//! user from `/etc/passwd` (no NSS), `~/.ssh/authorized_keys` kept 0600 in
//! a 0700 `~/.ssh`, both owned by the user. The core validates the keys.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use qga_core::platform::{Error, Result, StrList};

use super::root::Root;
use super::sys::os_errno;

/// The `/etc/passwd` fields qemu-ga uses.
struct Passwd {
    uid: u32,
    gid: u32,
    home: String,
}

/// `getpwnam` over `/etc/passwd`.
fn lookup(root: &Root, user: &str) -> Result<Passwd> {
    let text = root
        .read("/etc/passwd")
        .map_err(|e| Error::errno(os_errno(&e), format_args!("failed to lookup user '{user}'")))?;
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && f[0] == user)
        .and_then(|f| {
            Some(Passwd {
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_owned(),
            })
        })
        // glib's text for a lookup that found nothing (errno 0).
        .ok_or_else(|| Error::msg(format_args!("failed to lookup user '{user}': Success")))
}

impl Passwd {
    fn ssh_dir(&self) -> String {
        format!("{}/.ssh", self.home.trim_end_matches('/'))
    }

    fn keys_file(&self) -> String {
        format!("{}/authorized_keys", self.ssh_dir())
    }
}

/// The file's lines (without a trailing empty one); `None` if unreadable.
fn read_lines(path: &PathBuf) -> std::io::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.lines().map(str::to_owned).collect())
}

/// `guest-ssh-get-authorized-keys`: stripped, non-comment lines, reversed.
pub(crate) fn get(root: &Root, user: &str, out: &mut dyn FnMut(&str) -> Result<()>) -> Result<()> {
    let pw = lookup(root, user)?;
    let file = pw.keys_file();
    let lines = read_lines(&root.path(&file)).map_err(|e| {
        let why = qga_core::errno::strerror(os_errno(&e));
        Error::msg(format_args!(
            "failed to read '{file}': Failed to open file \u{201c}{file}\u{201d}: {why}"
        ))
    })?;
    let keys: Vec<&str> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    keys.iter().rev().try_for_each(|k| out(k))
}

/// `guest-ssh-add-authorized-keys`: appends keys not yet present.
pub(crate) fn add(root: &Root, user: &str, keys: StrList<'_>, reset: bool) -> Result<()> {
    let pw = lookup(root, user)?;
    ensure_ssh_dir(root, &pw)?;
    let mut lines = match reset {
        true => Vec::new(),
        false => read_lines(&root.path(pw.keys_file())).unwrap_or_default(),
    };
    for k in keys.iter() {
        if !lines.iter().any(|l| l == k) {
            lines.push(k.to_owned());
        }
    }
    write_keys(root, &pw, &lines)
}

/// `guest-ssh-remove-authorized-keys`: drops exact matches; no file is fine.
pub(crate) fn remove(root: &Root, user: &str, keys: StrList<'_>) -> Result<()> {
    let pw = lookup(root, user)?;
    let file = pw.keys_file();
    let lines = match read_lines(&root.path(&file)) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Error::errno(
                os_errno(&e),
                format_args!("failed to read '{file}'"),
            ))
        }
    };
    let kept: Vec<String> = lines
        .into_iter()
        .filter(|l| !keys.iter().any(|k| k == l))
        .collect();
    write_keys(root, &pw, &kept)
}

/// Creates `~/.ssh` (0700, owned by the user) if it is not a directory.
fn ensure_ssh_dir(root: &Root, pw: &Passwd) -> Result<()> {
    let dir = pw.ssh_dir();
    let p = root.path(&dir);
    if p.is_dir() {
        return Ok(());
    }
    let err = |what: &str, e: std::io::Error| {
        Error::errno(
            os_errno(&e),
            format_args!("failed to {what} directory '{dir}'"),
        )
    };
    std::fs::create_dir(&p).map_err(|e| err("create", e))?;
    std::os::unix::fs::chown(&p, Some(pw.uid), Some(pw.gid))
        .map_err(|e| err("set ownership of", e))?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| err("set permissions of", e))
}

/// Writes the keys joined by LF (no trailing LF), then chown and chmod 0600.
fn write_keys(root: &Root, pw: &Passwd, lines: &[String]) -> Result<()> {
    let file = pw.keys_file();
    let p = root.path(&file);
    let err = |what: &str, e: std::io::Error| {
        Error::errno(os_errno(&e), format_args!("failed to {what} '{file}'"))
    };
    std::fs::write(&p, lines.join("\n")).map_err(|e| err("write to", e))?;
    std::os::unix::fs::chown(&p, Some(pw.uid), Some(pw.gid))
        .map_err(|e| err("set ownership of", e))?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| err("set permissions of", e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testutil::temp_dir;
    use super::*;
    use std::os::unix::fs::MetadataExt;

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
}
