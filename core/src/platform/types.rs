//! Values passed between the core and a platform: decoded arguments going in,
//! borrowed reply data coming out. They know no JSON; `commands` writes them.

/// `guest-shutdown`'s `mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ShutdownMode {
    /// `"powerdown"` (the default).
    Powerdown,
    /// `"halt"`.
    Halt,
    /// `"reboot"`.
    Reboot,
}

/// Which `guest-suspend-*` command was called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SuspendMode {
    /// `guest-suspend-disk` (hibernate).
    Disk,
    /// `guest-suspend-ram` (suspend to RAM).
    Ram,
    /// `guest-suspend-hybrid`.
    Hybrid,
}

/// An fopen mode string accepted by `guest-file-open`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OpenMode {
    /// `r`, `w` or `a`.
    pub base: OpenBase,
    /// A `+` was given: open for reading and writing.
    pub plus: bool,
    /// The client's spelling (`rb+`), for error texts as qemu-ga prints them.
    pub text: &'static str,
}

/// The first letter of an fopen mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OpenBase {
    /// `r`: read, file must exist.
    Read,
    /// `w`: write, create or truncate.
    Write,
    /// `a`: append, create.
    Append,
}

impl OpenMode {
    /// Parses one of qemu-ga's accepted fopen strings
    /// (`r rb w wb a ab r+ rb+ r+b w+ wb+ w+b a+ ab+ a+b`).
    pub fn parse(s: &str) -> Option<OpenMode> {
        const MODES: [&str; 15] = [
            "r", "rb", "w", "wb", "a", "ab", "r+", "rb+", "r+b", "w+", "wb+", "w+b", "a+", "ab+",
            "a+b",
        ];
        let text = MODES.into_iter().find(|m| *m == s)?;
        let (base, rest) = match s.as_bytes().split_first()? {
            (b'r', rest) => (OpenBase::Read, rest),
            (b'w', rest) => (OpenBase::Write, rest),
            (b'a', rest) => (OpenBase::Append, rest),
            _ => return None,
        };
        let plus = match rest {
            b"" | b"b" => false,
            b"+" | b"b+" | b"+b" => true,
            _ => return None,
        };
        Some(OpenMode { base, plus, text })
    }

    /// Whether the mode reads.
    pub fn reads(self) -> bool {
        self.plus || self.base == OpenBase::Read
    }

    /// Whether the mode writes.
    pub fn writes(self) -> bool {
        self.plus || self.base != OpenBase::Read
    }
}

/// `guest-file-seek`'s `whence`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Whence {
    /// From the start (`0` or `"set"`).
    Set,
    /// From the current position (`1` or `"cur"`).
    Cur,
    /// From the end (`2` or `"end"`).
    End,
}

/// `guest-exec`'s `capture-output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CaptureOutput {
    /// Absent, `false` or `"none"`: both streams to /dev/null.
    None,
    /// `"stdout"`.
    Stdout,
    /// `"stderr"`.
    Stderr,
    /// `true` or `"separated"`.
    Separated,
    /// `"merged"`: stderr joins stdout, all in `out-data`.
    Merged,
}

/// Which captured stream of a process to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OutputStream {
    /// `out-data`.
    Stdout,
    /// `err-data`.
    Stderr,
}

/// A list of strings from the request (`arg`, `env`, `mountpoints`, ...),
/// already unescaped. Entries are separated by NUL inside one buffer, so the
/// list needs no allocation; an entry never contains NUL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StrList<'a> {
    joined: &'a str,
    len: usize,
}

impl<'a> StrList<'a> {
    /// Wraps `len` NUL-terminated entries.
    pub fn from_joined(joined: &'a str, len: usize) -> StrList<'a> {
        StrList { joined, len }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries in request order.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let joined = self.joined;
        joined.split_terminator('\0')
    }
}

/// `guest-exec`'s request.
#[derive(Clone, Copy, Debug)]
pub struct ExecRequest<'a> {
    /// The program (looked up in `PATH`).
    pub path: &'a str,
    /// `arg`: the arguments after argv\[0].
    pub arg: StrList<'a>,
    /// `env`: when present, the child's whole environment.
    pub env: Option<StrList<'a>>,
    /// Whether the spool holds the child's stdin (`input-data` was given).
    pub input_in_spool: bool,
    /// What to capture.
    pub capture: CaptureOutput,
}

/// A captured stream's summary in `guest-exec-status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CapturedStream {
    /// Bytes kept (what `exec_output` can return).
    pub len: u64,
    /// More was produced than kept.
    pub truncated: bool,
}

/// `guest-exec-status`'s state of a process, before its output is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExecStatus {
    /// The process was reaped and its captured pipes reached EOF.
    pub exited: bool,
    /// Exit code on a normal exit.
    pub exitcode: Option<i64>,
    /// Signal number when killed by a signal.
    pub signal: Option<i64>,
    /// Captured stdout, when capture was requested.
    pub out: Option<CapturedStream>,
    /// Captured stderr, when capture was requested.
    pub err: Option<CapturedStream>,
}

/// `guest-get-host-name`'s reply.
#[derive(Clone, Copy, Debug)]
pub struct HostName<'a> {
    /// `host-name`.
    pub host_name: &'a str,
}

/// `guest-get-timezone`'s reply.
#[derive(Clone, Copy, Debug)]
pub struct Timezone<'a> {
    /// `zone`: the current abbreviation, e.g. `UTC`.
    pub zone: Option<&'a str>,
    /// `offset`: seconds east of UTC.
    pub offset: i64,
}

/// `guest-get-users`' entries.
#[derive(Clone, Copy, Debug)]
pub struct User<'a> {
    /// `user`.
    pub user: &'a str,
    /// `domain` (Windows only).
    pub domain: Option<&'a str>,
    /// `login-time`: seconds since the epoch, fractional.
    pub login_time: f64,
}

/// `guest-get-osinfo`'s reply; every member is optional.
#[derive(Clone, Copy, Debug, Default)]
#[allow(missing_docs)] // members are the os-release / uname fields of the same name
pub struct OsInfo<'a> {
    pub kernel_release: Option<&'a str>,
    pub kernel_version: Option<&'a str>,
    pub machine: Option<&'a str>,
    pub id: Option<&'a str>,
    pub name: Option<&'a str>,
    pub pretty_name: Option<&'a str>,
    pub version: Option<&'a str>,
    pub version_id: Option<&'a str>,
    pub variant: Option<&'a str>,
    pub variant_id: Option<&'a str>,
}

/// `guest-get-vcpus`' entries and `guest-set-vcpus`' input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LogicalProcessor {
    /// `logical-id`.
    pub logical_id: i64,
    /// `online`.
    pub online: bool,
    /// `can-offline` (always filled on output, ignored on input).
    pub can_offline: Option<bool>,
}

/// `guest-get-memory-blocks`' entries and `guest-set-memory-blocks`' input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MemoryBlock {
    /// `phys-index`.
    pub phys_index: u64,
    /// `online`.
    pub online: bool,
    /// `can-offline`.
    pub can_offline: Option<bool>,
}

/// `guest-set-memory-blocks`' per-block result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MemoryBlockResponse {
    /// `"success"`.
    Success,
    /// `"not-found"` (with `error-code` ENOENT, as qemu-ga sends it).
    NotFound,
    /// `"operation-not-supported"`.
    OperationNotSupported,
    /// `"operation-failed"` with `error-code` (an errno).
    OperationFailed(i64),
}

/// `guest-network-get-interfaces`' entries.
#[derive(Clone, Copy, Debug)]
pub struct NetworkInterface<'a> {
    /// `name`.
    pub name: &'a str,
    /// `hardware-address`, lower-case `xx:xx:...`.
    pub hardware_address: Option<&'a str>,
    /// `ip-addresses`; `None` omits the member.
    pub ip_addresses: Option<&'a [IpAddress<'a>]>,
    /// `statistics`.
    pub statistics: Option<InterfaceStats>,
}

/// One address of an interface.
#[derive(Clone, Copy, Debug)]
pub struct IpAddress<'a> {
    /// `ip-address`, in text form.
    pub ip_address: &'a str,
    /// `ip-address-type`: true for `ipv6`.
    pub ipv6: bool,
    /// `prefix`.
    pub prefix: i64,
}

/// `GuestNetworkInterfaceStat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)] // counters named as in /proc/net/dev and the schema
pub struct InterfaceStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errs: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errs: u64,
    pub tx_dropped: u64,
}

/// `GuestPCIAddress`; `-1` means unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct PciAddress {
    pub domain: i64,
    pub bus: i64,
    pub slot: i64,
    pub function: i64,
}

/// `GuestCCWAddress` (s390).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct CcwAddress {
    pub cssid: i64,
    pub ssid: i64,
    pub subchno: i64,
    pub devno: i64,
}

/// `GuestDiskAddress`.
#[derive(Clone, Copy, Debug)]
pub struct DiskAddress<'a> {
    /// `pci-controller`.
    pub pci_controller: PciAddress,
    /// `bus-type`, one of the schema's `GuestDiskBusType` names (`virtio`, `scsi`, ...).
    pub bus_type: &'a str,
    /// `bus`.
    pub bus: i64,
    /// `target`.
    pub target: i64,
    /// `unit`.
    pub unit: i64,
    /// `serial`.
    pub serial: Option<&'a str>,
    /// `dev`: the device node.
    pub dev: Option<&'a str>,
    /// `ccw-address`.
    pub ccw_address: Option<CcwAddress>,
}

/// `guest-get-fsinfo`'s entries.
#[derive(Clone, Copy, Debug)]
pub struct FilesystemInfo<'a> {
    /// `name`: the block device's sysfs name (`vda1`, `dm-0`).
    pub name: &'a str,
    /// `mountpoint`.
    pub mountpoint: &'a str,
    /// `type`.
    pub fs_type: &'a str,
    /// `used-bytes`.
    pub used_bytes: Option<u64>,
    /// `total-bytes` (what unprivileged users see).
    pub total_bytes: Option<u64>,
    /// `total-bytes-privileged`.
    pub total_bytes_privileged: Option<u64>,
    /// `disk`.
    pub disk: &'a [DiskAddress<'a>],
}

/// `guest-fstrim`'s per-path result.
#[derive(Clone, Copy, Debug)]
pub struct TrimResult<'a> {
    /// `path`.
    pub path: &'a str,
    /// `trimmed` bytes, on success.
    pub trimmed: Option<i64>,
    /// `minimum` extent length used, on success.
    pub minimum: Option<i64>,
    /// `error`, on failure.
    pub error: Option<&'a str>,
}

/// `guest-fsfreeze-status`'s reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FsfreezeStatus {
    /// `"thawed"`.
    Thawed,
    /// `"frozen"`.
    Frozen,
}

/// `guest-get-disks`' entries.
#[derive(Clone, Copy, Debug)]
pub struct DiskInfo<'a> {
    /// `name`: the device node, e.g. `/dev/vda`.
    pub name: &'a str,
    /// `partition`.
    pub partition: bool,
    /// `dependencies`: device nodes this one is built on.
    pub dependencies: Option<&'a [&'a str]>,
    /// `address`.
    pub address: Option<DiskAddress<'a>>,
    /// `alias` (device-mapper name).
    pub alias: Option<&'a str>,
    /// `smart` (`"type": "nvme"`), for NVMe disks whose SMART log was read.
    pub smart: Option<NvmeSmart>,
}

/// `GuestNVMeSmart`: the NVMe SMART / Health Information log (log page
/// 02h). Each 128-bit counter goes on the wire as a `-lo` / `-hi` pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)] // members named as in the schema
pub struct NvmeSmart {
    pub critical_warning: i64,
    /// Composite temperature in kelvins.
    pub temperature: i64,
    pub available_spare: i64,
    pub available_spare_threshold: i64,
    pub percentage_used: i64,
    pub data_units_read: u128,
    pub data_units_written: u128,
    pub host_read_commands: u128,
    pub host_write_commands: u128,
    pub controller_busy_time: u128,
    pub power_cycles: u128,
    pub power_on_hours: u128,
    pub unsafe_shutdowns: u128,
    pub media_errors: u128,
    pub number_of_error_log_entries: u128,
}

/// `GuestDiskStats`: `/proc/diskstats` counters, each optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)] // counters named as in the schema
pub struct DiskStats {
    pub read_sectors: Option<u64>,
    pub read_ios: Option<u64>,
    pub read_merges: Option<u64>,
    pub write_sectors: Option<u64>,
    pub write_ios: Option<u64>,
    pub write_merges: Option<u64>,
    pub discard_sectors: Option<u64>,
    pub discard_ios: Option<u64>,
    pub discard_merges: Option<u64>,
    pub flush_ios: Option<u64>,
    pub read_ticks: Option<u64>,
    pub write_ticks: Option<u64>,
    pub discard_ticks: Option<u64>,
    pub flush_ticks: Option<u64>,
    pub ios_pgr: Option<u64>,
    pub total_ticks: Option<u64>,
    pub weight_ticks: Option<u64>,
}

/// `guest-get-diskstats`' entries.
#[derive(Clone, Copy, Debug)]
pub struct DiskStatsInfo<'a> {
    /// `name`.
    pub name: &'a str,
    /// `major`.
    pub major: u64,
    /// `minor`.
    pub minor: u64,
    /// `stats`.
    pub stats: DiskStats,
}

/// `guest-get-cpustats`' entries (`type` = `linux`), in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)] // fields named as in /proc/stat and the schema
pub struct CpuStats {
    pub cpu: i64,
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: Option<u64>,
    pub irq: Option<u64>,
    pub softirq: Option<u64>,
    pub steal: Option<u64>,
    pub guest: Option<u64>,
    pub guestnice: Option<u64>,
}

/// `guest-get-load`'s reply.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[allow(missing_docs)]
pub struct LoadAverage {
    pub load1m: f64,
    pub load5m: f64,
    pub load15m: f64,
}

/// `guest-network-get-route`'s entries.
#[derive(Clone, Copy, Debug, Default)]
#[allow(missing_docs)] // members named as in the schema
pub struct NetworkRoute<'a> {
    pub iface: &'a str,
    pub destination: &'a str,
    pub metric: i64,
    /// 4 or 6.
    pub version: i64,
    pub gateway: Option<&'a str>,
    pub mask: Option<&'a str>,
    pub irtt: Option<i64>,
    pub flags: Option<u64>,
    pub refcnt: Option<i64>,
    pub use_: Option<i64>,
    pub window: Option<i64>,
    pub mtu: Option<i64>,
    pub desprefixlen: Option<&'a str>,
    pub source: Option<&'a str>,
    pub srcprefixlen: Option<&'a str>,
    pub nexthop: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_modes_accept_exactly_qemu_ga_set() {
        for m in [
            "r", "rb", "w", "wb", "a", "ab", "r+", "rb+", "r+b", "w+", "wb+", "w+b", "a+", "ab+",
            "a+b",
        ] {
            assert!(OpenMode::parse(m).is_some(), "{m}");
        }
        for m in ["", "x", "rw", "r++", "bb", "b", "R", "wx", "a+bb"] {
            assert!(OpenMode::parse(m).is_none(), "{m}");
        }
        let m = OpenMode::parse("r+b");
        assert_eq!(
            m,
            Some(OpenMode {
                base: OpenBase::Read,
                plus: true,
                text: "r+b"
            })
        );
        assert!(m.is_some_and(|m| m.reads() && m.writes()));
    }

    #[test]
    fn str_list_iterates_entries() {
        let l = StrList::from_joined("a\0bc\0\0", 3);
        let v: heapless::Vec<&str, 4> = l.iter().collect();
        assert_eq!(v.as_slice(), ["a", "bc", ""]);
        assert_eq!(l.len(), 3);
    }
}
