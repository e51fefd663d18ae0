//! The mount list qemu-ga's fsfreeze, fstrim and fsinfo walk (protocol notes
//! 3.3, `build_fs_mount_list`): `/proc/self/mountinfo`, skipping entries
//! with major 0 unless btrfs (whose device node is then stat'ed), each
//! device once under its first mount point (10.0+).

use qga_core::platform::{Error, Result};

use super::root::Root;
use super::sys::os_errno;

/// Where the kernel lists this process's mounts.
pub(crate) const MOUNTINFO: &str = "/proc/self/mountinfo";

/// One mounted block-device filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mount {
    /// The mount point, octal escapes decoded.
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
    let text = root.read(MOUNTINFO).map_err(|e| {
        Error::errno(
            os_errno(&e),
            format_args!("failed to open mtab file: '{MOUNTINFO}'"),
        )
    })?;
    let mut mounts: Vec<Mount> = Vec::new();
    for mut m in text.lines().filter_map(parse_line) {
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

/// A btrfs mount reports major 0: take the numbers from its device node
/// (the mount source). Returns whether the mount is kept.
fn fix_btrfs(root: &Root, text: &str, m: &mut Mount) -> bool {
    if m.fs_type != "btrfs" {
        return false;
    }
    let Some(source) = source_of(text, &m.dir) else {
        return false;
    };
    match rustix::fs::stat(root.path(&source)) {
        Ok(st) if st.st_mode & 0o170000 == 0o060000 => {
            m.major = rustix::fs::major(st.st_rdev);
            m.minor = rustix::fs::minor(st.st_rdev);
            true
        }
        _ => false,
    }
}

/// The mount source (field after the fs type) of the line mounting `dir`.
fn source_of(text: &str, dir: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mount_dir = unescape(pre.split(' ').nth(4)?);
        (mount_dir == dir).then(|| unescape(post.split(' ').nth(1).unwrap_or("")))
    })
}

/// Parses `id parent maj:min root dir opts [optional...] - type source super`.
fn parse_line(line: &str) -> Option<Mount> {
    let (pre, post) = line.split_once(" - ")?;
    let mut f = pre.split(' ');
    let (maj, min) = f.nth(2)?.split_once(':')?;
    let dir = unescape(f.nth(1)?);
    let fs_type = unescape(post.split(' ').next()?);
    Some(Mount {
        dir,
        fs_type,
        major: maj.parse().ok()?,
        minor: min.parse().ok()?,
    })
}

/// Decodes the kernel's `\ooo` octal escapes (space, tab, newline, `\`).
pub(crate) fn unescape(s: &str) -> String {
    let b = s.as_bytes();
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
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::super::testutil::temp_dir;
    use super::*;

    /// Writes `mountinfo` as `<root>/proc/self/mountinfo`.
    pub(crate) fn write_mountinfo(root: &std::path::Path, mountinfo: &str) {
        let p = root.join("proc/self");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("mountinfo"), mountinfo).unwrap();
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
    }

    #[test]
    fn btrfs_takes_numbers_from_its_device_node() {
        let _fds = super::super::testutil::fd_count_guard();
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        // Any block device of this host stands in for the btrfs device.
        let Some((node, rdev)) = std::fs::read_dir("/dev").unwrap().flatten().find_map(|e| {
            let m = std::fs::metadata(e.path()).ok()?;
            m.file_type()
                .is_block_device()
                .then(|| (e.path(), m.rdev()))
        }) else {
            return;
        };
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
        std::os::unix::fs::symlink(node, dir.join("dev/disk0")).unwrap();
        let m = mount_list(&Root::new(dir)).unwrap();
        let want = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
        assert_eq!((m[0].major, m[0].minor), want);
    }

    #[test]
    fn real_mountinfo_parses() {
        let _fds = super::super::testutil::fd_count_guard();
        let m = mount_list(&Root::default()).unwrap();
        assert!(m.iter().all(|m| m.major != 0 || m.fs_type == "btrfs"));
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
        assert_eq!(unescape(r"a\040b\134c\011"), "a b\\c\t");
        assert_eq!(unescape(r"x\9y\04"), r"x\9y\04");
    }
}
