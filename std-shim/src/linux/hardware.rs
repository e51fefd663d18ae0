//! The memory-block commands, `guest-get-cpustats`, `guest-get-diskstats`
//! and `guest-get-load` (protocol notes 3.3), read from sysfs and procfs
//! under the platform's [`Root`]; and the sysfs helpers `vcpus` shares.

use std::io::ErrorKind;

use qga_core::platform::{
    CpuStats, DiskStats, DiskStatsInfo, Error, LoadAverage, MemoryBlock, MemoryBlockResponse,
    Result,
};

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};

use super::root::Root;
use super::sys::{os_errno, rx_errno};

const MEMORY_DIR: &str = "/sys/devices/system/memory";
const PROC_STAT: &str = "/proc/stat";
const DISKSTATS: &str = "/proc/diskstats";
const LOADAVG: &str = "/proc/loadavg";

/// `sysconf(_SC_CLK_TCK)`: USER_HZ, 100 on every Linux architecture qemu-ga
/// targets (only alpha differs), so no syscall or auxv lookup is needed.
const CLK_TCK: u64 = 100;

/// `Could not open '<path>': <strerror>`, qemu-ga's text (10.2+, its
/// `error_setg_file_open`) for the files and directories read here.
fn open_error(path: &str, errno: i32) -> Error {
    Error::errno(errno, format_args!("Could not open '{path}'"))
}

/// Opens the directory `dir`.
pub(super) fn open_dir(root: &Root, dir: &str) -> Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    rustix::fs::open(root.path(dir), flags, Mode::empty()).map_err(|e| open_error(dir, rx_errno(e)))
}

/// The number after `prefix` in a directory name (`cpu12` -> 12).
fn index_of(name: &str, prefix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?;
    digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse().ok())?
}

/// Subdirectories `<prefix><n>` of `dir`, in readdir order.
pub(super) fn indexed_dirs(root: &Root, dir: &str, prefix: &str) -> std::io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for e in std::fs::read_dir(root.path(dir))? {
        let e = e?;
        let name = e.file_name();
        if let Some(n) = name.to_str().and_then(|s| index_of(s, prefix)) {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                ids.push(n);
            }
        }
    }
    Ok(ids)
}

// ---- memory blocks ----------------------------------------------------------

/// `guest-get-memory-blocks`: `[]` without memory hotplug support, an error
/// when the directory lists no block.
pub(crate) fn memory_blocks(
    root: &Root,
    out: &mut dyn FnMut(&MemoryBlock) -> Result<()>,
) -> Result<()> {
    let Ok(ids) = indexed_dirs(root, MEMORY_DIR, "memory") else {
        return Ok(());
    };
    let mut blocks = Vec::with_capacity(ids.len());
    for phys_index in ids {
        let (online, can_offline) = read_block(root, phys_index)?;
        blocks.push(MemoryBlock {
            phys_index,
            online,
            can_offline: Some(can_offline),
        });
    }
    if blocks.is_empty() {
        return Err(Error::msg(format_args!(
            "guest reported zero memory blocks!"
        )));
    }
    blocks.iter().try_for_each(out)
}

/// (online, can-offline) of one block; no `state` file: online, fixed.
fn read_block(root: &Root, index: u64) -> Result<(bool, bool)> {
    let dir = format!("{MEMORY_DIR}/memory{index}/");
    drop(open_dir(root, &dir)?); // for qemu-ga's error if it went away
    let state = match root.read(format!("{dir}state")) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok((true, false)),
        Err(e) => return Err(sysfs_error("state", &e)),
    };
    let removable = match std::fs::read(root.path(format!("{dir}removable"))) {
        Ok(b) => b.first().is_some_and(|c| *c != b'0'),
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => return Err(sysfs_error("removable", &e)),
    };
    Ok((state.starts_with("online"), removable))
}

fn sysfs_error(file: &str, e: &std::io::Error) -> Error {
    Error::errno(os_errno(e), format_args!("open sysfs file \"{file}\""))
}

/// One entry of `guest-set-memory-blocks`; failures are responses.
pub(crate) fn set_memory_block(root: &Root, index: u64, online: bool) -> MemoryBlockResponse {
    if !root.path(MEMORY_DIR).is_dir() {
        return MemoryBlockResponse::OperationNotSupported;
    }
    let dir = root.path(format!("{MEMORY_DIR}/memory{index}"));
    if let Err(e) = std::fs::read_dir(&dir) {
        return match e.kind() {
            ErrorKind::NotFound => MemoryBlockResponse::NotFound,
            _ => MemoryBlockResponse::OperationFailed(os_errno(&e).into()),
        };
    }
    let state = match std::fs::read_to_string(dir.join("state")) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::NotFound && !online => {
            return MemoryBlockResponse::OperationNotSupported
        }
        Err(e) if e.kind() == ErrorKind::NotFound => return MemoryBlockResponse::Success,
        Err(e) => return MemoryBlockResponse::OperationFailed(os_errno(&e).into()),
    };
    if state.starts_with("online") == online {
        return MemoryBlockResponse::Success;
    }
    match std::fs::write(dir.join("state"), if online { "online" } else { "offline" }) {
        Ok(()) => MemoryBlockResponse::Success,
        Err(e) => MemoryBlockResponse::OperationFailed(os_errno(&e).into()),
    }
}

/// `guest-get-memory-block-info`: `block_size_bytes`, hexadecimal.
pub(crate) fn memory_block_size(root: &Root) -> Result<u64> {
    let text = root
        .read(format!("{MEMORY_DIR}/block_size_bytes"))
        .map_err(|e| sysfs_error("block_size_bytes", &e))?;
    Ok(u64::from_str_radix(text.trim(), 16).unwrap_or(0))
}

// ---- statistics ---------------------------------------------------------------

/// `guest-get-cpustats`: the `cpuN` lines of /proc/stat, in milliseconds.
pub(crate) fn cpu_stats(root: &Root, out: &mut dyn FnMut(&CpuStats) -> Result<()>) -> Result<()> {
    let text = root
        .read(PROC_STAT)
        .map_err(|e| open_error(PROC_STAT, os_errno(&e)))?;
    let stats: Vec<CpuStats> = text.lines().map_while(parse_cpu_line).flatten().collect();
    stats.iter().try_for_each(out)
}

/// `Some(None)`: not a per-CPU line (skipped); `None`: a malformed one
/// (qemu-ga stops there).
fn parse_cpu_line(line: &str) -> Option<Option<CpuStats>> {
    let mut f = line.split_ascii_whitespace();
    let cpu = match f.next().and_then(|n| n.strip_prefix("cpu")) {
        Some(n) if !n.is_empty() => n,
        _ => return Some(None),
    };
    let v: Vec<u64> = f.map_while(|x| x.parse().ok()).take(10).collect();
    let ms = |i: usize| v.get(i).map(|j| j * 1000 / CLK_TCK);
    Some(Some(CpuStats {
        cpu: cpu.parse().unwrap_or(0),
        user: ms(0)?,
        nice: ms(1)?,
        system: ms(2)?,
        idle: ms(3)?,
        iowait: ms(4),
        irq: ms(5),
        softirq: ms(6),
        steal: ms(7),
        guest: ms(8),
        guestnice: ms(9),
    }))
}

/// `guest-get-diskstats`: every /proc/diskstats line with >= 7 fields.
pub(crate) fn disk_stats(
    root: &Root,
    out: &mut dyn FnMut(&DiskStatsInfo<'_>) -> Result<()>,
) -> Result<()> {
    let text = root
        .read(DISKSTATS)
        .map_err(|e| open_error(DISKSTATS, os_errno(&e)))?;
    for line in text.lines() {
        if let Some(info) = parse_disk_line(line) {
            out(&info)?;
        }
    }
    Ok(())
}

/// One /proc/diskstats line; the counters present depend on the field
/// count (7: old partition format; 14, 18, 20: newer kernels).
fn parse_disk_line(line: &str) -> Option<DiskStatsInfo<'_>> {
    let mut f = line.split_ascii_whitespace();
    let (major, minor, name) = (f.next()?.parse().ok()?, f.next()?.parse().ok()?, f.next()?);
    let v: Vec<u64> = f.map_while(|x| x.parse().ok()).take(17).collect();
    let n = v.len() + 3;
    if n < 7 {
        return None;
    }
    let at = |i: usize, min: usize| v.get(i).copied().filter(|_| n >= min);
    let mut s = DiskStats::default();
    if n == 7 {
        (s.read_ios, s.read_sectors, s.write_ios, s.write_sectors) =
            (at(0, 7), at(1, 7), at(2, 7), at(3, 7));
    }
    if n >= 14 {
        (s.read_ios, s.read_merges, s.read_sectors, s.read_ticks) =
            (at(0, 14), at(1, 14), at(2, 14), at(3, 14));
        (s.write_ios, s.write_merges, s.write_sectors, s.write_ticks) =
            (at(4, 14), at(5, 14), at(6, 14), at(7, 14));
        (s.ios_pgr, s.total_ticks, s.weight_ticks) = (at(8, 14), at(9, 14), at(10, 14));
    }
    (
        s.discard_ios,
        s.discard_merges,
        s.discard_sectors,
        s.discard_ticks,
    ) = (at(11, 18), at(12, 18), at(13, 18), at(14, 18));
    (s.flush_ios, s.flush_ticks) = (at(15, 20), at(16, 20));
    Some(DiskStatsInfo {
        name,
        major,
        minor,
        stats: s,
    })
}

/// Parses the kernel's fixed-point `12.34` form (no exponent, no sign):
/// `str::parse::<f64>` would pull ~13 KiB of float-parsing tables into
/// the static binary for three small numbers.
fn decimal(s: &str) -> Option<f64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || frac.len() > 9 {
        return None;
    }
    let whole: u64 = int.parse().ok()?;
    let part: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    Some(whole as f64 + part as f64 / 10u64.pow(frac.len() as u32) as f64)
}

/// `guest-get-load`: the three averages of /proc/loadavg (`getloadavg`).
pub(crate) fn load_average(root: &Root) -> Result<LoadAverage> {
    let text = root
        .read(LOADAVG)
        .map_err(|e| Error::errno(os_errno(&e), format_args!("cannot query load average")))?;
    let mut f = text.split_ascii_whitespace().map(decimal);
    match (f.next().flatten(), f.next().flatten(), f.next().flatten()) {
        (Some(load1m), Some(load5m), Some(load15m)) => Ok(LoadAverage {
            load1m,
            load5m,
            load15m,
        }),
        _ => Err(Error::errno(
            qga_core::errno::EINVAL,
            format_args!("cannot query load average"),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testutil::temp_dir;

    #[test]
    fn decimal_parses_loadavg_numbers() {
        assert_eq!(super::decimal("0.25"), Some(0.25));
        assert_eq!(super::decimal("12.5"), Some(12.5));
        assert_eq!(super::decimal("3"), Some(3.0));
        assert_eq!(super::decimal("-1.0"), None);
        assert_eq!(super::decimal("1e3"), None);
        assert_eq!(super::decimal(".5"), None);
        // str::parse takes a sign; the kernel's numbers have none.
        assert_eq!(super::decimal("+1.5"), None);
        assert_eq!(super::decimal("1.+5"), None);
        // Up to 9 fractional digits (the kernel prints 2).
        assert_eq!(super::decimal("0.123456789"), Some(0.123_456_789));
        assert_eq!(super::decimal("0.1234567890"), None);
    }
    use super::super::testutil::put;
    use super::*;

    fn mem_tree() -> Root {
        let d = temp_dir("mem");
        put(
            &d,
            "sys/devices/system/memory/block_size_bytes",
            "8000000\n",
        );
        put(&d, "sys/devices/system/memory/memory0/state", "online\n");
        put(&d, "sys/devices/system/memory/memory0/removable", "0\n");
        put(&d, "sys/devices/system/memory/memory7/state", "offline\n");
        put(&d, "sys/devices/system/memory/memory7/removable", "1\n");
        std::fs::create_dir_all(d.join("sys/devices/system/memory/memory9")).unwrap();
        std::fs::create_dir_all(d.join("sys/devices/system/memory/power")).unwrap();
        Root::new(d)
    }

    fn get_blocks(r: &Root) -> Vec<(u64, bool, bool)> {
        let mut v = Vec::new();
        memory_blocks(r, &mut |b| {
            v.push((b.phys_index, b.online, b.can_offline.unwrap()));
            Ok(())
        })
        .unwrap();
        v.sort();
        v
    }

    #[test]
    fn memory_blocks_and_size() {
        let _fds = super::super::testutil::fd_count_guard();
        let r = mem_tree();
        assert_eq!(
            get_blocks(&r),
            [(0, true, false), (7, false, true), (9, true, false)]
        );
        assert_eq!(memory_block_size(&r), Ok(0x800_0000));
        assert_eq!(get_blocks(&Root::new(temp_dir("nomem"))), []);
        let e = memory_block_size(&Root::new(temp_dir("nomem2"))).unwrap_err();
        assert_eq!(
            e.text(),
            "open sysfs file \"block_size_bytes\": No such file or directory"
        );
    }

    #[test]
    fn set_memory_block_responses() {
        let _fds = super::super::testutil::fd_count_guard();
        use MemoryBlockResponse::*;
        let r = mem_tree();
        assert_eq!(set_memory_block(&r, 7, true), Success);
        assert_eq!(get_blocks(&r)[1], (7, true, true));
        assert_eq!(set_memory_block(&r, 0, true), Success);
        assert_eq!(set_memory_block(&r, 5, true), NotFound);
        assert_eq!(set_memory_block(&r, 9, false), OperationNotSupported);
        assert_eq!(
            set_memory_block(&Root::new(temp_dir("nomem3")), 0, true),
            OperationNotSupported
        );
    }

    #[test]
    fn cpu_stats_convert_jiffies() {
        let _fds = super::super::testutil::fd_count_guard();
        let d = temp_dir("stat");
        put(
            &d,
            "proc/stat",
            "cpu  9 9 9 9\ncpu0 100 2 300 400 5\ncpu1 1 2 3 4 5 6 7 8 9 10\nintr 1\n",
        );
        let mut v = Vec::new();
        cpu_stats(&Root::new(d), &mut |s| {
            v.push(*s);
            Ok(())
        })
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(
            (
                v[0].cpu,
                v[0].user,
                v[0].nice,
                v[0].idle,
                v[0].iowait,
                v[0].irq
            ),
            (0, 1000, 20, 4000, Some(50), None)
        );
        assert_eq!((v[1].cpu, v[1].guestnice), (1, Some(100)));
        let mut n = 0;
        cpu_stats(&Root::default(), &mut |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert!(n >= 1, "this machine's /proc/stat");
    }

    #[test]
    fn disk_stats_field_counts() {
        let _fds = super::super::testutil::fd_count_guard();
        let old = parse_disk_line("8 1 sda1 10 20 30 40").unwrap();
        assert_eq!(
            (
                old.name,
                old.stats.read_ios,
                old.stats.write_sectors,
                old.stats.read_merges
            ),
            ("sda1", Some(10), Some(40), None)
        );
        let l14 = parse_disk_line("8 0 sda 1 2 3 4 5 6 7 8 9 10 11").unwrap();
        assert_eq!(
            (
                l14.stats.read_sectors,
                l14.stats.write_ticks,
                l14.stats.weight_ticks,
                l14.stats.discard_ios
            ),
            (Some(3), Some(8), Some(11), None)
        );
        let l20 = parse_disk_line("254 0 vda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17").unwrap();
        assert_eq!(
            (
                l20.stats.discard_ticks,
                l20.stats.flush_ios,
                l20.stats.flush_ticks
            ),
            (Some(15), Some(16), Some(17))
        );
        let l18 = parse_disk_line("254 0 vda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15").unwrap();
        assert_eq!(
            (l18.stats.discard_ios, l18.stats.flush_ios),
            (Some(12), None)
        );
        let l10 = parse_disk_line("1 2 x 1 2 3 4 5 6 7").unwrap();
        assert_eq!(l10.stats, DiskStats::default());
        assert!(parse_disk_line("1 2 x 1 2 3").is_none());
        let mut n = 0;
        disk_stats(&Root::default(), &mut |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert!(n >= 1, "this machine's /proc/diskstats");
    }

    #[test]
    fn missing_proc_files_give_could_not_open() {
        let _fds = super::super::testutil::fd_count_guard();
        let r = Root::new(temp_dir("noproc"));
        let e = cpu_stats(&r, &mut |_| Ok(())).unwrap_err();
        assert_eq!(
            e.text(),
            "Could not open '/proc/stat': No such file or directory"
        );
        let e = disk_stats(&r, &mut |_| Ok(())).unwrap_err();
        assert_eq!(
            e.text(),
            "Could not open '/proc/diskstats': No such file or directory"
        );
    }

    #[test]
    fn load_average_reads_loadavg() {
        let _fds = super::super::testutil::fd_count_guard();
        let d = temp_dir("load");
        put(&d, "proc/loadavg", "0.50 1.25 2.00 1/100 42\n");
        let l = load_average(&Root::new(d)).unwrap();
        assert_eq!((l.load1m, l.load5m, l.load15m), (0.5, 1.25, 2.0));
        assert!(load_average(&Root::default()).unwrap().load1m >= 0.0);
        let e = load_average(&Root::new(temp_dir("noload"))).unwrap_err();
        assert_eq!(
            e.text(),
            "cannot query load average: No such file or directory"
        );
    }
}
