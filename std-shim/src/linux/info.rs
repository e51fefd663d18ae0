//! Host information: `guest-get-host-name`, `guest-get-osinfo` and
//! `guest-get-users` (utmp). `guest-get-timezone` lives in `tz`.

use std::path::Path;

use qga_core::platform::{HostName, OsInfo, Result, User};

/// Where glibc keeps the login records.
pub const DEFAULT_UTMP: &str = "/var/run/utmp";

/// The os-release files tried when `$QGA_OS_RELEASE` is unset, in order.
const OS_RELEASE_FILES: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// `guest-get-host-name`: the kernel's node name (what `gethostname` reads;
/// `uname` cannot fail, so `cannot get hostname: ...` never occurs).
pub(crate) fn host_name(out: &mut dyn FnMut(&HostName<'_>) -> Result<()>) -> Result<()> {
    let uts = rustix::system::uname();
    let name = uts.nodename().to_string_lossy();
    out(&HostName { host_name: &name })
}

/// `guest-get-osinfo`: uname plus os-release (`os_release` overrides the
/// file search, as `$QGA_OS_RELEASE` does).
pub(crate) fn os_info(
    os_release: Option<&Path>,
    out: &mut dyn FnMut(&OsInfo<'_>) -> Result<()>,
) -> Result<()> {
    let uts = rustix::system::uname();
    let (release, version, machine) = (
        uts.release().to_string_lossy(),
        uts.version().to_string_lossy(),
        uts.machine().to_string_lossy(),
    );
    let fields = match os_release {
        Some(p) => parse_os_release(p),
        None => OS_RELEASE_FILES
            .iter()
            .find_map(|p| parse_os_release(Path::new(p))),
    }
    .unwrap_or_default();
    let get = |key: &str| {
        fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    out(&OsInfo {
        kernel_release: Some(&release),
        kernel_version: Some(&version),
        machine: Some(&machine),
        id: get("ID"),
        name: get("NAME"),
        pretty_name: get("PRETTY_NAME"),
        version: get("VERSION"),
        version_id: get("VERSION_ID"),
        variant: get("VARIANT"),
        variant_id: get("VARIANT_ID"),
    })
}

/// Reads an os-release file the way qemu-ga does: as a GLib key file with
/// an implied `[os-release]` group (any malformed line or invalid UTF-8
/// rejects the whole file), each raw value passed through [`unquote`].
fn parse_os_release(path: &Path) -> Option<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut in_group = true;
    let mut fields = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            in_group = line.trim_end() == "[os-release]";
            continue;
        }
        let (key, value) = line.split_once('=')?;
        if in_group {
            fields.push((
                key.trim_end().to_string(),
                unquote(value.trim_start().trim_end_matches('\r')),
            ));
        }
    }
    Some(fields)
}

/// qemu-ga's `ga_osrelease_replace_special`, quirks included: a value not
/// starting with `"` is cut at its first space, then at its first `;` (so
/// single quotes stay); a double-quoted one loses the quotes and the
/// backslash before `$ ' " \` and a backquote. An unterminated quote leaves
/// the tail of the original in place, as the in-place C loop does.
fn unquote(value: &str) -> String {
    if !value.starts_with('"') {
        let cut = value.split(' ').next().unwrap_or("");
        return cut.split(';').next().unwrap_or("").to_string();
    }
    let b = value.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 1;
    while i < b.len() {
        match (b[i], b.get(i + 1)) {
            (b'\\', Some(b'$' | b'\'' | b'"' | b'\\' | b'`')) => i += 1,
            (b'"', _) => return String::from_utf8_lossy(&out).into_owned(),
            _ => {}
        }
        out.push(b[i]);
        i += 1;
    }
    let tail = &b[out.len()..];
    out.extend_from_slice(tail);
    String::from_utf8_lossy(&out).into_owned()
}

/// The size of glibc's `struct utmp` on x86_64 (and most 64-bit targets).
const UTMP_RECORD: usize = 384;
/// `ut_type` of a logged-in user.
const USER_PROCESS: i16 = 7;
/// Offsets in the record: `ut_type`, `ut_user[32]`, `ut_tv` (two i32).
const UT_TYPE: usize = 0;
const UT_USER: usize = 44;
const UT_USER_LEN: usize = 32;
const UT_TV: usize = 340;

/// `guest-get-users`: USER_PROCESS records of `utmp`, one entry per name in
/// first-seen order with the earliest login time. A missing file means
/// nobody is logged in (what `getutxent` reports too).
pub(crate) fn users(utmp: &Path, out: &mut dyn FnMut(&User<'_>) -> Result<()>) -> Result<()> {
    let data = std::fs::read(utmp).unwrap_or_default();
    for (user, login_time) in logged_in(&data) {
        out(&User {
            user: &user,
            domain: None,
            login_time,
        })?;
    }
    Ok(())
}

/// Parses utmp records into de-duplicated `(user, login time)` pairs.
fn logged_in(data: &[u8]) -> Vec<(String, f64)> {
    let mut users: Vec<(String, f64)> = Vec::new();
    for rec in data.chunks_exact(UTMP_RECORD) {
        if i16::from_le_bytes([rec[UT_TYPE], rec[UT_TYPE + 1]]) != USER_PROCESS {
            continue;
        }
        let (name, time) = (record_user(rec), record_time(rec));
        match users.iter_mut().find(|(n, _)| *n == name) {
            Some((_, t)) => *t = t.min(time),
            None => users.push((name, time)),
        }
    }
    users
}

/// `ut_user`, NUL-terminated or the full 32 bytes.
fn record_user(rec: &[u8]) -> String {
    let raw = &rec[UT_USER..UT_USER + UT_USER_LEN];
    let len = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..len]).into_owned()
}

/// `ut_tv` as seconds + microseconds / 1e6.
fn record_time(rec: &[u8]) -> f64 {
    let word = |at: usize| i32::from_le_bytes([rec[at], rec[at + 1], rec[at + 2], rec[at + 3]]);
    f64::from(word(UT_TV)) + f64::from(word(UT_TV + 4)) / 1_000_000.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::testutil::temp_dir;
    use super::*;

    fn collect_users(path: &Path) -> Vec<(String, f64)> {
        let mut got = Vec::new();
        users(path, &mut |u| {
            got.push((u.user.to_string(), u.login_time));
            Ok(())
        })
        .unwrap();
        got
    }

    /// Login records in `utmpdump`'s text form: type, pid, id, user, line,
    /// host, address, time. `utmpdump -r` (util-linux) turns them into
    /// glibc's binary `struct utmp`, so the test does not lean on the
    /// parser's own idea of the record layout.
    const RECORDS: &str = "\
[2] [00000] [~~  ] [reboot  ] [~           ] [6.1.0-cloud-amd64] [0.0.0.0        ] [2024-01-02T03:00:00,000000+00:00]
[7] [01234] [ts/0] [alice   ] [pts/0       ] [host.example] [192.0.2.1      ] [2024-01-02T03:04:05,250000+00:00]
[7] [01240] [ts/1] [bob     ] [pts/1       ] [] [0.0.0.0        ] [2024-01-02T02:00:00,000000+00:00]
[8] [00042] [ts/2] [carol   ] [pts/2       ] [] [0.0.0.0        ] [2024-01-01T00:00:00,000000+00:00]
[7] [01300] [ts/3] [alice   ] [pts/3       ] [] [0.0.0.0        ] [2024-01-02T01:30:00,500000+00:00]
[7] [01301] [tty1] [abcdefghijklmnopqrstuvwxyz012345] [tty1        ] [] [0.0.0.0        ] [2024-01-02T00:00:07,000000+00:00]
[6] [01302] [tty2] [LOGIN   ] [tty2        ] [] [0.0.0.0        ] [2024-01-02T00:00:08,000000+00:00]
";

    /// 2024-01-02T00:00:00Z.
    const JAN2: f64 = 1_704_153_600.0;

    /// `text` through `utmpdump -r` into a file.
    fn utmpdump(text: &str) -> std::path::PathBuf {
        use std::io::Write;
        let path = temp_dir("utmpdump").join("utmp");
        let mut child = std::process::Command::new("utmpdump")
            .arg("-r")
            .stdin(std::process::Stdio::piped())
            .stdout(std::fs::File::create(&path).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("utmpdump (util-linux)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
        path
    }

    #[test]
    fn users_deduplicated_keeping_earliest_login() {
        let path = utmpdump(RECORDS);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 7 * 384);
        let want = vec![
            ("alice".to_string(), JAN2 + 5400.5),
            ("bob".to_string(), JAN2 + 7200.0),
            ("abcdefghijklmnopqrstuvwxyz012345".to_string(), JAN2 + 7.0),
        ];
        assert_eq!(collect_users(&path), want);
    }

    /// The same records as coreutils' `who` (glibc's utmp reader) lists them.
    #[test]
    fn users_are_who_lists() {
        let path = utmpdump(RECORDS);
        let out = std::process::Command::new("who")
            .arg(&path)
            .output()
            .expect("who (coreutils)");
        let mut who: Vec<String> = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let user = line.split(' ').next().unwrap().to_string();
            if !who.contains(&user) {
                who.push(user);
            }
        }
        let ours: Vec<String> = collect_users(&path).into_iter().map(|u| u.0).collect();
        assert_eq!(ours, who);
    }

    #[test]
    fn missing_or_short_utmp_means_nobody() {
        assert!(collect_users(Path::new("/nonexistent/utmp")).is_empty());
        // A torn last record is not a login.
        let path = utmpdump(RECORDS);
        let mut data = std::fs::read(&path).unwrap();
        data.truncate(2 * 384 - 1);
        std::fs::write(&path, &data).unwrap();
        assert!(collect_users(&path).is_empty());
    }

    #[test]
    fn host_name_matches_kernel() {
        let want = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        let mut got = String::new();
        host_name(&mut |h| {
            got = h.host_name.to_string();
            Ok(())
        })
        .unwrap();
        assert_eq!(got, want.trim_end());
    }

    #[test]
    fn unquote_follows_qemu_quirks() {
        assert_eq!(unquote("plain"), "plain");
        assert_eq!(unquote("cut here"), "cut");
        assert_eq!(unquote("a;b c"), "a");
        assert_eq!(unquote("'single quoted'"), "'single");
        assert_eq!(unquote("\"double quoted\" rest"), "double quoted");
        assert_eq!(unquote(r#""keep \n, drop \$""#), r"keep \n, drop $");
        assert_eq!(unquote("\"abc"), "abcc");
        assert_eq!(unquote("\"end\\"), "end\\\\");
        assert_eq!(unquote(""), "");
    }

    const TEST_OS_RELEASE: &str = r#"# QEMU's tests/data/test-qga-os-release, plus quirks
ID=qemu-ga-test
NAME=QEMU-GA
PRETTY_NAME="QEMU Guest Agent test"
VERSION="Test version"
VERSION_ID=1
VARIANT="Unit test \"\'\$\`\\ and \\\\ etc."
VARIANT_ID=unit test
[other-group]
ID=ignored
"#;

    #[test]
    fn os_info_reads_uname_and_os_release_file() {
        let dir = temp_dir("osrel");
        let path = dir.join("os-release");
        std::fs::write(&path, TEST_OS_RELEASE).unwrap();
        let uts = rustix::system::uname();
        let mut seen = 0;
        os_info(Some(&path), &mut |i| {
            assert_eq!(i.kernel_release, uts.release().to_str().ok());
            assert_eq!(i.kernel_version, uts.version().to_str().ok());
            assert_eq!(i.machine, uts.machine().to_str().ok());
            assert_eq!(i.id, Some("qemu-ga-test"));
            assert_eq!(i.name, Some("QEMU-GA"));
            assert_eq!(i.pretty_name, Some("QEMU Guest Agent test"));
            assert_eq!(i.version, Some("Test version"));
            assert_eq!(i.version_id, Some("1"));
            assert_eq!(i.variant, Some("Unit test \"'$`\\ and \\\\ etc."));
            assert_eq!(i.variant_id, Some("unit"));
            seen += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, 1);
    }

    #[test]
    fn malformed_os_release_yields_no_fields() {
        let dir = temp_dir("osbad");
        let path = dir.join("os-release");
        std::fs::write(&path, "ID=x\nthis line is not a pair\n").unwrap();
        os_info(Some(&path), &mut |i| {
            assert!(i.id.is_none() && i.name.is_none());
            assert!(i.kernel_release.is_some());
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn system_os_release_is_found() {
        let present = OS_RELEASE_FILES.iter().any(|p| Path::new(p).exists());
        os_info(None, &mut |i| {
            assert_eq!(i.id.is_some(), present);
            Ok(())
        })
        .unwrap();
    }
}
