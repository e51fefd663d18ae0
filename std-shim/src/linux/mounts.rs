//! The mount list qemu-ga's fsfreeze, fstrim and fsinfo walk (protocol notes
//! 3.3, `build_fs_mount_list`): `/proc/self/mountinfo`, skipping entries
//! with major 0 unless btrfs (whose device node is then stat'ed), each
//! device once under its first mount point (10.0+).
//!
//! Mount points are bytes end to end: the kernel escapes only space, tab,
//! newline and backslash, so a mount point may be any bytes. [`Mount::path`]
//! is the real name (what freeze and trim open); [`Mount::dir`] is its text
//! for replies, with invalid UTF-8 shown as U+FFFD as qemu-ga's JSON
//! writer does.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use qga_core::platform::{Error, Result};

use super::root::Root;
use super::sys::os_errno;

/// Where the kernel lists this process's mounts.
pub(crate) const MOUNTINFO: &str = "/proc/self/mountinfo";

/// One mounted block-device filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mount {
    /// The mount point, octal escapes decoded: the bytes to open.
    pub path: PathBuf,
    /// The mount point as text for replies (lossy).
    pub dir: String,
    /// The filesystem type.
    pub fs_type: String,
    /// The device's major number.
    pub major: u32,
    /// The device's minor number.
    pub minor: u32,
}

/// Reads and filters the mount list under `root`. Failure to read it is
/// qemu-ga's `failed to open mtab file: '<path>': <strerror>`.
pub(crate) fn mount_list(root: &Root) -> Result<Vec<Mount>> {
    let text = std::fs::read(root.path(MOUNTINFO)).map_err(|e| {
        Error::errno(
            os_errno(&e),
            format_args!("failed to open mtab file: '{MOUNTINFO}'"),
        )
    })?;
    let mut mounts: Vec<Mount> = Vec::new();
    for mut m in lines(&text).filter_map(parse_line) {
        if m.major == 0 && !fix_btrfs(root, &text, &mut m) {
            continue;
        }
        if !mounts
            .iter()
            .any(|o| (o.major, o.minor) == (m.major, m.minor))
        {
            mounts.push(m);
        }
    }
    Ok(mounts)
}

fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| b == b'\n')
}

/// A btrfs mount reports major 0: take the numbers from its device node
/// (the mount source). Returns whether the mount is kept.
fn fix_btrfs(root: &Root, text: &[u8], m: &mut Mount) -> bool {
    if m.fs_type != "btrfs" {
        return false;
    }
    let Some(source) = source_of(text, &m.path) else {
        return false;
    };
    match rustix::fs::stat(root.path(source)) {
        Ok(st) if st.st_mode & 0o170000 == 0o060000 => {
            m.major = rustix::fs::major(st.st_rdev);
            m.minor = rustix::fs::minor(st.st_rdev);
            true
        }
        _ => false,
    }
}

/// The two halves of a mountinfo line, around ` - `.
fn halves(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = line.windows(3).position(|w| w == b" - ")?;
    Some((&line[..at], &line[at + 3..]))
}

fn fields(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|&b| b == b' ')
}

/// The mount source (field after the fs type) of the line mounting `dir`.
fn source_of(text: &[u8], dir: &std::path::Path) -> Option<PathBuf> {
    lines(text).find_map(|l| {
        let (pre, post) = halves(l)?;
        let mount_dir = unescape(fields(pre).nth(4)?);
        (mount_dir == dir.as_os_str().as_bytes())
            .then(|| path(unescape(fields(post).nth(1).unwrap_or_default())))
    })
}

/// Parses `id parent maj:min root dir opts [optional...] - type source super`.
fn parse_line(line: &[u8]) -> Option<Mount> {
    let (pre, post) = halves(line)?;
    let mut f = fields(pre);
    let numbers = std::str::from_utf8(f.nth(2)?).ok()?;
    let (maj, min) = numbers.split_once(':')?;
    let dir = unescape(f.nth(1)?);
    let fs_type = unescape(fields(post).next()?);
    Some(Mount {
        dir: String::from_utf8_lossy(&dir).into_owned(),
        path: path(dir),
        fs_type: String::from_utf8_lossy(&fs_type).into_owned(),
        major: maj.parse().ok()?,
        minor: min.parse().ok()?,
    })
}

fn path(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(&bytes))
}

/// Decodes the kernel's `\ooo` octal escapes (space, tab, newline, `\`).
pub(crate) fn unescape(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(d)) => {
                let v = d.iter().fold(0u32, |a, c| a * 8 + u32::from(c - b'0'));
                out.push(v as u8);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod tests {
    use super::super::testutil::temp_dir;
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    /// Writes `mountinfo` as `<root>/proc/self/mountinfo`.
    pub(crate) fn write_mountinfo(root: &std::path::Path, mountinfo: &str) {
        super::super::testutil::put(root, "proc/self/mountinfo", mountinfo);
    }

    const SAMPLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
28 27 254:1 / /my\\040data rw,relatime shared:1 - xfs /dev/vdb rw
29 27 254:0 /srv /srv rw,relatime - ext4 /dev/vda rw
30 27 0:40 / /pool rw - btrfs /dev/fakebtrfs rw
31 27 0:41 / /gone rw - btrfs /dev/missing rw
";

    #[test]
    fn parses_skips_virtual_and_dedups() {
        let _fds = super::super::testutil::fd_count_guard();
        let dir = temp_dir("mounts");
        write_mountinfo(&dir, SAMPLE);
        let m = mount_list(&Root::new(dir)).unwrap();
        let got: Vec<(&str, &str, u32, u32)> = m
            .iter()
            .map(|m| (m.dir.as_str(), m.fs_type.as_str(), m.major, m.minor))
            .collect();
        assert_eq!(got, [("/", "ext4", 254, 0), ("/my data", "xfs", 254, 1)]);
        assert_eq!(m[1].path, PathBuf::from("/my data"));
    }

    /// A block device node at `root/dev/disk0`: made with mknod (root), or
    /// else a symlink to one of this machine's block devices.
    fn block_node(root: &std::path::Path) -> (u32, u32) {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let node = root.join("dev/disk0");
        std::fs::create_dir_all(root.join("dev")).unwrap();
        let (major, minor) = (8, 17);
        let made = rustix::fs::mknodat(
            rustix::fs::CWD,
            &node,
            rustix::fs::FileType::BlockDevice,
            rustix::fs::Mode::RUSR,
            rustix::fs::makedev(major, minor),
        );
        if made.is_ok() {
            return (major, minor);
        }
        let (host, rdev) = std::fs::read_dir("/dev")
            .unwrap()
            .flatten()
            .find_map(|e| {
                let m = std::fs::metadata(e.path()).ok()?;
                m.file_type()
                    .is_block_device()
                    .then(|| (e.path(), m.rdev()))
            })
            .unwrap_or_else(|| panic!("mknod failed ({made:?}) and /dev has no block device"));
        std::os::unix::fs::symlink(host, &node).unwrap();
        (rustix::fs::major(rdev), rustix::fs::minor(rdev))
    }

    #[test]
    fn btrfs_takes_numbers_from_its_device_node() {
        let _fds = super::super::testutil::fd_count_guard();
        let info = "30 27 0:40 / /pool rw - btrfs /dev/disk0 rw\n";
        let dir = temp_dir("btrfs");
        write_mountinfo(&dir, info);
        // The generated root has no dev/disk0 yet: the mount is skipped.
        assert_eq!(mount_list(&Root::new(dir.clone())).unwrap(), []);
        std::fs::create_dir_all(dir.join("dev")).unwrap();
        std::os::unix::fs::symlink("/dev/null", dir.join("dev/disk0")).unwrap();
        assert_eq!(
            mount_list(&Root::new(dir.clone())).unwrap(),
            [],
            "not a block device"
        );
        std::fs::remove_file(dir.join("dev/disk0")).unwrap();
        let (major, minor) = block_node(&dir);
        let want = Mount {
            path: "/pool".into(),
            dir: "/pool".into(),
            fs_type: "btrfs".into(),
            major,
            minor,
        };
        assert_eq!(mount_list(&Root::new(dir)).unwrap(), [want]);
    }

    /// Decodes findmnt's `\xHH` escapes (its raw output mode), as text.
    fn unhex(s: &str) -> String {
        String::from_utf8_lossy(&unhex_bytes(s)).into_owned()
    }

    /// Decodes findmnt's `\xHH` escapes (its raw output mode).
    fn unhex_bytes(s: &str) -> Vec<u8> {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            let hex = b
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok());
            match (
                b[i],
                b.get(i + 1),
                hex.and_then(|h| u8::from_str_radix(h, 16).ok()),
            ) {
                (b'\\', Some(b'x'), Some(v)) => (out.push(v), i += 4),
                (c, _, _) => (out.push(c), i += 1),
            };
        }
        out
    }

    /// This machine's mount list agrees with util-linux's `findmnt` (the
    /// same filter applied to its rows: block devices and btrfs, the first
    /// mount of each device).
    #[test]
    fn real_mountinfo_agrees_with_findmnt() {
        let _fds = super::super::testutil::fd_count_guard();
        let out = std::process::Command::new("findmnt")
            .args(["-rn", "-o", "TARGET,FSTYPE,MAJ:MIN,SOURCE"])
            .output()
            .expect("findmnt (util-linux)");
        assert!(out.status.success());
        let mut want: Vec<Mount> = Vec::new();
        for row in String::from_utf8_lossy(&out.stdout).lines() {
            let f: Vec<&str> = row.split(' ').collect();
            let (major, minor) = f[2].split_once(':').unwrap();
            let mut m = Mount {
                path: std::ffi::OsString::from_vec(unhex_bytes(f[0])).into(),
                dir: unhex(f[0]),
                fs_type: unhex(f[1]),
                major: major.parse().unwrap(),
                minor: minor.parse().unwrap(),
            };
            // btrfs shows 0:N; the device node (the source) has the numbers.
            let source = rustix::fs::stat(unhex(f[3]).as_str());
            if let (0, "btrfs", Ok(st)) = (m.major, m.fs_type.as_str(), source) {
                (m.major, m.minor) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
            }
            let seen = want
                .iter()
                .any(|o| (o.major, o.minor) == (m.major, m.minor));
            if m.major != 0 && !seen {
                want.push(m);
            }
        }
        assert_eq!(mount_list(&Root::default()).unwrap(), want);
    }

    #[test]
    fn missing_mountinfo_is_qemu_error() {
        let _fds = super::super::testutil::fd_count_guard();
        let e = mount_list(&Root::new(temp_dir("nomounts"))).unwrap_err();
        assert_eq!(
            e.text(),
            "failed to open mtab file: '/proc/self/mountinfo': No such file or directory"
        );
    }

    #[test]
    fn unescapes_octal() {
        let _fds = super::super::testutil::fd_count_guard();
        assert_eq!(unescape(br"a\040b\134c\011"), b"a b\\c\t");
        assert_eq!(unescape(br"x\9y\04"), br"x\9y\04");
    }

    #[test]
    fn non_utf8_mount_points_keep_their_bytes() {
        let _fds = super::super::testutil::fd_count_guard();
        let dir = temp_dir("mounts8");
        let info = b"27 1 254:3 / /mnt/caf\xe9\x5c040x rw - ext4 /dev/vdc rw\n";
        let p = dir.join("proc/self");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("mountinfo"), info).unwrap();
        let m = mount_list(&Root::new(dir)).unwrap();
        assert_eq!(m[0].path.as_os_str().as_bytes(), b"/mnt/caf\xe9 x");
        assert_eq!(m[0].dir, "/mnt/caf\u{fffd} x");
    }
}
