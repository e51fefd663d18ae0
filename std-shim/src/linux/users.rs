//! `guest-set-user-password` (protocol notes 3.3): `chpasswd` found via
//! `PATH` (`-e` for a crypted password), the secret on its stdin only. A
//! guest without `chpasswd` (BusyBox builds often lack it) gets the hash
//! written into `/etc/shadow` directly: a crypted password as given, a
//! clear-text one hashed by BusyBox's `mkpasswd -m sha512` (secret on stdin).

use std::io::Write;
use std::path::Path;

use qga_core::platform::{Error, Result};

use super::root::Root;
use super::sys::{os_errno, run_helper_with_input, spawn_and_collect};

/// qemu-ga's action text for a failing `chpasswd`.
const ACTION: &str = "set user password";
const SHADOW: &str = "/etc/shadow";

/// Sets `user`'s password (the core already rejected LF and `:`).
pub(crate) fn set_user_password(
    root: &Root,
    user: &str,
    password: &[u8],
    crypted: bool,
) -> Result<()> {
    let mut line = Vec::with_capacity(user.len() + password.len() + 2);
    line.extend_from_slice(user.as_bytes());
    line.push(b':');
    line.extend_from_slice(password);
    line.push(b'\n');
    match root.which("chpasswd") {
        Some(p) => {
            let prog = p.to_string_lossy();
            let argv: &[&str] = if crypted { &[&prog, "-e"] } else { &[&prog] };
            run_helper_with_input(argv, Some(&line), ACTION)
        }
        None if crypted => write_shadow(root, user, password),
        None => match root.which("mkpasswd") {
            Some(m) => write_shadow(root, user, &sha512_crypt(&m.to_string_lossy(), password)?),
            None => Err(Error::errno(
                qga_core::errno::ENOENT,
                format_args!("child process has failed to {ACTION}: failed to exec 'chpasswd'"),
            )),
        },
    }
}

/// Hashes `password` with `mkpasswd -m sha512 -P 0` (password on stdin).
fn sha512_crypt(mkpasswd: &str, password: &[u8]) -> Result<Vec<u8>> {
    let argv = [mkpasswd, "-m", "sha512", "-P", "0"];
    let fail = |what: &dyn std::fmt::Display| {
        Error::msg(format_args!("child process has failed to {ACTION}: {what}"))
    };
    let (out, status) = spawn_and_collect(&argv, Some(password)).map_err(|e| fail(&e))?;
    let hash = out.trim_ascii();
    if !status.success() || !hash.starts_with(b"$6$") || hash.contains(&b':') {
        return Err(fail(&String::from_utf8_lossy(hash)));
    }
    Ok(hash.to_vec())
}

/// Replaces `user`'s hash (field 2) and last-change day (field 3) in
/// /etc/shadow, through a temp file renamed over it (same mode).
fn write_shadow(root: &Root, user: &str, hash: &[u8]) -> Result<()> {
    let fail = |e: &std::io::Error| {
        Error::errno(
            os_errno(e),
            format_args!("child process has failed to {ACTION}: {SHADOW}"),
        )
    };
    let hash = std::str::from_utf8(hash)
        .map_err(|_| Error::msg(format_args!("forbidden characters in crypted password")))?;
    let path = root.path(SHADOW);
    let text = std::fs::read_to_string(&path).map_err(|e| fail(&e))?;
    let today = rustix::time::clock_gettime(rustix::time::ClockId::Realtime).tv_sec / 86400;
    let mut found = false;
    let mut out = String::with_capacity(text.len() + hash.len());
    for l in text.lines() {
        let mut f: Vec<&str> = l.split(':').collect();
        let day = today.to_string();
        if f.first() == Some(&user) && f.len() >= 3 {
            (f[1], f[2], found) = (hash, &day, true);
            out.push_str(&f.join(":"));
        } else {
            out.push_str(l);
        }
        out.push('\n');
    }
    if !found {
        return Err(Error::msg(format_args!(
            "child process has failed to {ACTION}: user '{user}' does not exist"
        )));
    }
    replace_file(&path, out.as_bytes()).map_err(|e| fail(&e))
}

/// Writes `data` to `<path>+` with `path`'s mode, syncs, renames over it.
fn replace_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push("+");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testutil::temp_dir;
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A root whose `usr/bin/chpasswd` records its arguments and stdin.
    fn with_chpasswd(exit: i32) -> std::path::PathBuf {
        let d = temp_dir("chpasswd");
        let bin = d.join("usr/bin");
        std::fs::create_dir_all(&bin).unwrap();
        let body = format!(
            "#!/bin/sh\necho \"args: $*\" > {0}/log\ncat >> {0}/log\nexit {exit}\n",
            d.display()
        );
        std::fs::write(bin.join("chpasswd"), body).unwrap();
        std::fs::set_permissions(bin.join("chpasswd"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        d
    }

    #[test]
    fn chpasswd_gets_the_secret_on_stdin_only() {
        let _fds = super::super::testutil::fd_count_guard();
        let d = with_chpasswd(0);
        set_user_password(&Root::new(d.clone()), "alice", b"s3cret", false).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("log")).unwrap(),
            "args: \nalice:s3cret\n"
        );
        set_user_password(&Root::new(d.clone()), "bob", b"$6$x$y", true).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("log")).unwrap(),
            "args: -e\nbob:$6$x$y\n"
        );
    }

    #[test]
    fn chpasswd_failure_is_reported() {
        let _fds = super::super::testutil::fd_count_guard();
        let d = with_chpasswd(1);
        let e = set_user_password(&Root::new(d), "alice", b"pw", false).unwrap_err();
        assert_eq!(
            e.text(),
            "child process has failed to set user password: exit status 1"
        );
    }

    #[test]
    fn without_chpasswd_crypted_goes_to_shadow() {
        let _fds = super::super::testutil::fd_count_guard();
        let d = temp_dir("shadow");
        std::fs::create_dir_all(d.join("etc")).unwrap();
        let shadow = d.join("etc/shadow");
        std::fs::write(
            &shadow,
            "root:*:19000:0:99999:7:::\nalice:!:19000:0:99999:7:::\n",
        )
        .unwrap();
        std::fs::set_permissions(&shadow, std::fs::Permissions::from_mode(0o640)).unwrap();
        let root = Root::new(d);
        set_user_password(&root, "alice", b"$6$salt$hash", true).unwrap();
        let text = std::fs::read_to_string(&shadow).unwrap();
        let alice = text.lines().nth(1).unwrap();
        assert!(
            alice.starts_with("alice:$6$salt$hash:") && alice.ends_with(":0:99999:7:::"),
            "{alice}"
        );
        assert!(text.starts_with("root:*:19000:"));
        assert_eq!(
            std::fs::metadata(&shadow).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let e = set_user_password(&root, "carol", b"$6$a$b", true).unwrap_err();
        assert_eq!(
            e.text(),
            "child process has failed to set user password: user 'carol' does not exist"
        );
        let e = set_user_password(&root, "alice", b"clear", false).unwrap_err();
        assert_eq!(
            e.text(),
            "child process has failed to set user password: failed to exec 'chpasswd': No such file or directory"
        );
    }

    #[test]
    fn without_chpasswd_clear_text_is_hashed_by_mkpasswd() {
        let _fds = super::super::testutil::fd_count_guard();
        let Some(busybox) = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
        else {
            eprintln!("skipped: no busybox for mkpasswd");
            return;
        };
        let d = temp_dir("mkpasswd");
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::create_dir_all(d.join("usr/bin")).unwrap();
        std::os::unix::fs::symlink(busybox, d.join("usr/bin/mkpasswd")).unwrap();
        std::fs::write(d.join("etc/shadow"), "alice:!:19000:0:99999:7:::\n").unwrap();
        set_user_password(&Root::new(d.clone()), "alice", b"s3cret", false).unwrap();
        let text = std::fs::read_to_string(d.join("etc/shadow")).unwrap();
        let hash = text.split(':').nth(1).unwrap();
        assert!(
            hash.starts_with("$6$") && !text.contains("s3cret"),
            "{text}"
        );
        // The hash verifies: mkpasswd with the same salt gives it again.
        let salt = hash.split('$').nth(2).unwrap();
        let (out, _) = spawn_and_collect(
            &[busybox, "mkpasswd", "-m", "sha512", "-P", "0", "-S", salt],
            Some(b"s3cret"),
        )
        .unwrap();
        assert_eq!(out.trim_ascii(), hash.as_bytes());
    }
}
