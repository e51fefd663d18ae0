//! Accounts: the passwd lookup of the ssh-key commands and
//! `guest-set-user-password` (protocol notes 3.3).
//!
//! * Lookup: `/etc/passwd` first; a user not listed there (LDAP, SSSD: a
//!   static musl agent has no NSS of its own) is asked of `getent passwd
//!   NAME`, a helper with a time bound and bounded output.
//! * Passwords: `chpasswd` found via `PATH` (`-e` for a crypted password),
//!   the secret on its stdin only. A guest without `chpasswd` (BusyBox
//!   builds often lack it) gets the hash written into `/etc/shadow`
//!   directly: a crypted password as given, a clear-text one hashed by
//!   BusyBox's `mkpasswd -m sha512` (secret on stdin). Buffers holding the
//!   secret are zeroed when dropped (`zeroize`).

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use qga_core::platform::{Error, Result};
use rustix::fs::{Gid, Mode, OFlags, Uid};
use zeroize::Zeroizing;

use super::child::Exit;
use super::helper::{self, helper, ACTION_TIME, PROBE_TIME};
use super::root::Root;
use super::sys::os_errno;

/// qemu-ga's action text for a failing `chpasswd`.
const ACTION: &str = "set user password";
const SHADOW: &str = "/etc/shadow";
const PASSWD: &str = "/etc/passwd";
/// `/etc/passwd` is read up to this size (a bound, not a real limit).
const PASSWD_LIMIT: u64 = 16 << 20;

/// The passwd fields the ssh-key commands use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Passwd {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory, as the bytes of the passwd entry.
    pub home: PathBuf,
}

/// `getpwnam`: `/etc/passwd`, then `getent passwd NAME`. Not found is
/// glib's text for a lookup that found nothing (errno 0).
pub(crate) fn lookup(root: &Root, user: &str) -> Result<Passwd> {
    let fail = |e: &std::io::Error| {
        Error::errno(os_errno(e), format_args!("failed to lookup user '{user}'"))
    };
    let mut text = Vec::new();
    std::fs::File::open(root.path(PASSWD))
        .and_then(|f| f.take(PASSWD_LIMIT).read_to_end(&mut text))
        .map_err(|e| fail(&e))?;
    match find_entry(&text, user) {
        Some(pw) => Ok(pw),
        None => getent(root, user)?
            .ok_or_else(|| Error::msg(format_args!("failed to lookup user '{user}': Success"))),
    }
}

/// The entry of `user` in passwd-format `text`.
fn find_entry(text: &[u8], user: &str) -> Option<Passwd> {
    text.split(|&b| b == b'\n').find_map(|line| {
        let f: Vec<&[u8]> = line.split(|&b| b == b':').collect();
        if f.len() < 7 || f[0] != user.as_bytes() {
            return None;
        }
        let num = |v: &[u8]| std::str::from_utf8(v).ok()?.parse().ok();
        Some(Passwd {
            uid: num(f[2])?,
            gid: num(f[3])?,
            home: PathBuf::from(OsStr::from_bytes(f[5])),
        })
    })
}

/// `getent passwd NAME` for users only NSS knows; `None` when it has no
/// such user or is not installed.
fn getent(root: &Root, user: &str) -> Result<Option<Passwd>> {
    // A name starting with `-` would be an option to getent: no user has one.
    let Some(prog) = root.which("getent").filter(|_| !user.starts_with('-')) else {
        return Ok(None);
    };
    let argv = [prog.as_os_str(), OsStr::new("passwd"), OsStr::new(user)];
    match helper::run(&argv, None, true, PROBE_TIME) {
        Ok(f) if f.exit == Exit::Code(0) => Ok(find_entry(&f.output, user)),
        Ok(_) => Ok(None),
        Err(e) => Err(helper::failure_error(&e, &argv, "lookup user")),
    }
}

/// Sets `user`'s password (the core already rejected LF in it, and LF and
/// `:` in the user name).
pub(crate) fn set_user_password(
    root: &Root,
    user: &str,
    password: &[u8],
    crypted: bool,
) -> Result<()> {
    if crypted {
        check_crypted(password)?;
    }
    let mut line = Zeroizing::new(Vec::with_capacity(user.len() + password.len() + 2));
    line.extend_from_slice(user.as_bytes());
    line.push(b':');
    line.extend_from_slice(password);
    line.push(b'\n');
    match root.which("chpasswd") {
        Some(p) => {
            let e = OsStr::new("-e");
            let argv: &[&OsStr] = if crypted {
                &[p.as_os_str(), e]
            } else {
                &[p.as_os_str()]
            };
            helper(argv, Some(&line), ACTION, ACTION_TIME)
        }
        None if crypted => write_shadow(root, user, password),
        None => match root.which("mkpasswd") {
            Some(m) => write_shadow(root, user, &sha512_crypt(&m, password)?),
            None => Err(Error::errno(
                qga_core::errno::ENOENT,
                format_args!("child process has failed to {ACTION}: failed to exec 'chpasswd'"),
            )),
        },
    }
}

/// A crypt(3) hash never holds `:` (the shadow field separator) or control
/// characters; either would let the value spill into other shadow fields
/// or lines (qemu-ga passes them on to `chpasswd -e`).
fn check_crypted(hash: &[u8]) -> Result<()> {
    match hash.iter().any(|&b| b == b':' || b.is_ascii_control()) {
        true => Err(Error::msg(format_args!(
            "forbidden characters in crypted password"
        ))),
        false => Ok(()),
    }
}

/// Hashes `password` with `mkpasswd -m sha512 -P 0` (password on stdin).
fn sha512_crypt(mkpasswd: &Path, password: &[u8]) -> Result<Vec<u8>> {
    let mut argv = vec![mkpasswd.as_os_str()];
    argv.extend(["-m", "sha512", "-P", "0"].map(OsStr::new));
    let f = helper::run(&argv, Some(password), true, PROBE_TIME)
        .map_err(|e| helper::failure_error(&e, &argv, ACTION))?;
    let hash = f.output.trim_ascii();
    if f.exit != Exit::Code(0) || !hash.starts_with(b"$6$") || check_crypted(hash).is_err() {
        let what = String::from_utf8_lossy(hash);
        return Err(Error::msg(format_args!(
            "child process has failed to {ACTION}: {what}"
        )));
    }
    Ok(hash.to_vec())
}

/// Replaces `user`'s hash (field 2) and last-change day (field 3) in
/// /etc/shadow, through a temp file renamed over it (same owner and mode).
fn write_shadow(root: &Root, user: &str, hash: &[u8]) -> Result<()> {
    let fail = |e: std::io::Error| {
        Error::errno(
            os_errno(&e),
            format_args!("child process has failed to {ACTION}: {SHADOW}"),
        )
    };
    let path = root.path(SHADOW);
    let text = Zeroizing::new(std::fs::read(&path).map_err(fail)?);
    let today = super::time::realtime_ns() / 1_000_000_000 / 86400;
    let Some(out) = replace_entry(&text, user, hash, today) else {
        return Err(Error::msg(format_args!(
            "child process has failed to {ACTION}: user '{user}' does not exist"
        )));
    };
    replace_file(&path, &out).map_err(fail)
}

/// `text` with the entry of `user` given `hash` and change day `day`;
/// `None` if there is no such entry. Other lines are kept byte for byte.
fn replace_entry(text: &[u8], user: &str, hash: &[u8], day: i64) -> Option<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() + hash.len()));
    let mut found = false;
    let day = day.to_string();
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    for line in body.split(|&b| b == b'\n') {
        let mut f: Vec<&[u8]> = line.split(|&b| b == b':').collect();
        if f.len() >= 3 && f[0] == user.as_bytes() {
            (f[1], f[2], found) = (hash, day.as_bytes(), true);
        }
        out.extend_from_slice(&f.join(&b':'));
        out.push(b'\n');
    }
    found.then_some(out)
}

/// Writes `data` to `<path>+` (never through a link) with `path`'s owner
/// and mode, syncs it and renames it over `path`.
fn replace_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let st = rustix::fs::stat(path)?;
    let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push("+");
    let flags =
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::open(&tmp, flags, mode)?;
    let (uid, gid) = (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid));
    rustix::fs::fchown(&fd, Some(uid), Some(gid))?;
    rustix::fs::fchmod(&fd, mode)?;
    let mut f = std::fs::File::from(fd);
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
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
        // BusyBox's mkpasswd is the tool this path relies on (CI installs
        // busybox-static): without it the test fails rather than skip.
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox for mkpasswd (apt-get install busybox-static)");
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
        let argv = [busybox, "mkpasswd", "-m", "sha512", "-P", "0", "-S", salt].map(OsStr::new);
        let out = helper::run(&argv, Some(b"s3cret"), true, PROBE_TIME).unwrap();
        assert_eq!(out.output.trim_ascii(), hash.as_bytes());
    }

    /// A root with `etc/passwd` holding `passwd` and `usr/bin/getent` running `script`.
    fn with_getent(passwd: &str, script: &str) -> Root {
        let d = temp_dir("getent");
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::create_dir_all(d.join("usr/bin")).unwrap();
        std::fs::write(d.join("etc/passwd"), passwd).unwrap();
        let getent = d.join("usr/bin/getent");
        std::fs::write(&getent, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&getent, std::fs::Permissions::from_mode(0o755)).unwrap();
        Root::new(d)
    }

    #[test]
    fn lookup_reads_passwd_bytes_then_asks_getent() {
        let _fds = super::super::testutil::fd_count_guard();
        let script = "[ \"$1 $2\" = \"passwd ldapuser\" ] || exit 2\n\
                      (sleep 30 &)\n\
                      echo 'ldapuser:*:5001:5002:LDAP:/home/ldap/u:/bin/sh'";
        let root = with_getent("local:x:1:2:caf\u{e9}:/home/l\u{e9}:/bin/sh\n", script);
        let t = std::time::Instant::now();
        let pw = lookup(&root, "ldapuser").unwrap();
        assert_eq!(
            pw,
            Passwd {
                uid: 5001,
                gid: 5002,
                home: PathBuf::from("/home/ldap/u")
            }
        );
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "waited for the grandchild"
        );
        let local = lookup(&root, "local").unwrap();
        assert_eq!(
            local.home.as_os_str().as_bytes(),
            "/home/l\u{e9}".as_bytes()
        );
        let e = lookup(&root, "nobody-here").unwrap_err();
        assert_eq!(e.text(), "failed to lookup user 'nobody-here': Success");
        let e = lookup(&root, "-x").unwrap_err();
        assert_eq!(e.text(), "failed to lookup user '-x': Success");
    }

    #[test]
    fn lookup_with_the_real_getent() {
        let _fds = super::super::testutil::fd_count_guard();
        let d = temp_dir("realgetent");
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::create_dir_all(d.join("usr/bin")).unwrap();
        std::fs::write(d.join("etc/passwd"), "").unwrap();
        std::os::unix::fs::symlink("/usr/bin/getent", d.join("usr/bin/getent")).unwrap();
        // Not in the root's (empty) passwd: found through the host's NSS.
        let pw = lookup(&Root::new(d), "root").unwrap();
        assert_eq!((pw.uid, pw.gid), (0, 0));
        assert_eq!(pw.home, PathBuf::from("/root"));
    }

    #[test]
    fn crypted_passwords_with_separators_or_controls_are_refused() {
        let _fds = super::super::testutil::fd_count_guard();
        let d = with_chpasswd(0);
        for bad in [&b"$6$a$b:0:99999"[..], b"$6$a$b\rx", b"$6$\x7f", b"a\x00b"] {
            let e = set_user_password(&Root::new(d.clone()), "alice", bad, true).unwrap_err();
            assert_eq!(e.text(), "forbidden characters in crypted password");
        }
        assert!(!d.join("log").exists(), "chpasswd ran");
    }

    #[test]
    fn shadow_keeps_owner_mode_and_foreign_lines() {
        use std::os::unix::fs::MetadataExt;
        let _fds = super::super::testutil::fd_count_guard();
        let d = temp_dir("shadowown");
        std::fs::create_dir_all(d.join("etc")).unwrap();
        let shadow = d.join("etc/shadow");
        let text = b"root:*:1:0:99999:7:::\nx\xff:!:2::::::\nalice:!:3:0:99999:7:::\n";
        std::fs::write(&shadow, text).unwrap();
        std::os::unix::fs::chown(&shadow, Some(0), Some(42)).unwrap();
        std::fs::set_permissions(&shadow, std::fs::Permissions::from_mode(0o640)).unwrap();
        set_user_password(&Root::new(d), "alice", b"$6$s$h", true).unwrap();
        let got = std::fs::read(&shadow).unwrap();
        assert!(got.starts_with(b"root:*:1:0:99999:7:::\nx\xff:!:2::::::\nalice:$6$s$h:"));
        let m = std::fs::metadata(&shadow).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (0, 42, 0o640));
    }
}
