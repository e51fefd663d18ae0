//! `guest-get-fsinfo` and `guest-get-disks` (protocol notes 3.3).

use super::{Args, Cx, Done, Outcome};
use crate::platform::Platform;
use crate::platform::{DiskAddress, DiskInfo, FilesystemInfo, NvmeSmart};
use crate::wire::reply::ReplyWriter;

/// `guest-get-fsinfo`.
pub fn fs_info<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, filesystems(), fs_info(), |w, f| {
        write_fs(w, f);
    });
    Ok(Done::Reply)
}

fn write_fs(w: &mut ReplyWriter<'_>, f: &FilesystemInfo<'_>) {
    w.open_object();
    w.key("name");
    w.str(f.name);
    w.key("mountpoint");
    w.str(f.mountpoint);
    w.key("type");
    w.str(f.fs_type);
    w.opt_uints(&[
        ("used-bytes", f.used_bytes),
        ("total-bytes", f.total_bytes),
        ("total-bytes-privileged", f.total_bytes_privileged),
    ]);
    w.key("disk");
    w.open_array();
    for d in f.disk {
        w.element();
        write_disk(w, d);
    }
    w.close_array();
    w.close_object();
}

/// Writes a `GuestDiskAddress`.
pub fn write_disk(w: &mut ReplyWriter<'_>, d: &DiskAddress<'_>) {
    w.open_object();
    w.key("pci-controller");
    w.open_object();
    let pci = d.pci_controller;
    w.ints(&[
        ("domain", pci.domain),
        ("bus", pci.bus),
        ("slot", pci.slot),
        ("function", pci.function),
    ]);
    w.close_object();
    w.key("bus-type");
    w.str(d.bus_type);
    w.ints(&[("bus", d.bus), ("target", d.target), ("unit", d.unit)]);
    w.opt_str("serial", d.serial);
    w.opt_str("dev", d.dev);
    if let Some(c) = d.ccw_address {
        w.key("ccw-address");
        w.open_object();
        w.ints(&[
            ("cssid", c.cssid),
            ("ssid", c.ssid),
            ("subchno", c.subchno),
            ("devno", c.devno),
        ]);
        w.close_object();
    }
    w.close_object();
}

/// `guest-get-disks`.
pub fn disks<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, filesystems(), disks(), |w, d| {
        write_disk_info(w, d);
    });
    Ok(Done::Reply)
}

fn write_disk_info(w: &mut ReplyWriter<'_>, d: &DiskInfo<'_>) {
    w.open_object();
    w.key("name");
    w.str(d.name);
    w.key("partition");
    w.bool(d.partition);
    if let Some(deps) = d.dependencies {
        w.key("dependencies");
        w.open_array();
        for dep in deps {
            w.element();
            w.str(dep);
        }
        w.close_array();
    }
    if let Some(addr) = &d.address {
        w.key("address");
        write_disk(w, addr);
    }
    w.opt_str("alias", d.alias);
    if let Some(smart) = &d.smart {
        w.key("smart");
        write_nvme_smart(w, smart);
    }
    w.close_object();
}

/// The `-lo` / `-hi` member names of `GuestNVMeSmart`'s 128-bit counters.
const SMART_COUNTERS: [[&str; 2]; 10] = [
    ["data-units-read-lo", "data-units-read-hi"],
    ["data-units-written-lo", "data-units-written-hi"],
    ["host-read-commands-lo", "host-read-commands-hi"],
    ["host-write-commands-lo", "host-write-commands-hi"],
    ["controller-busy-time-lo", "controller-busy-time-hi"],
    ["power-cycles-lo", "power-cycles-hi"],
    ["power-on-hours-lo", "power-on-hours-hi"],
    ["unsafe-shutdowns-lo", "unsafe-shutdowns-hi"],
    ["media-errors-lo", "media-errors-hi"],
    [
        "number-of-error-log-entries-lo",
        "number-of-error-log-entries-hi",
    ],
];

/// `GuestDiskSmart` for `"type": "nvme"`: the union's tag, then the
/// `GuestNVMeSmart` members in schema order.
fn write_nvme_smart(w: &mut ReplyWriter<'_>, s: &NvmeSmart) {
    w.open_object();
    w.key("type");
    w.str("nvme");
    for (key, v) in [
        ("critical-warning", s.critical_warning),
        ("temperature", s.temperature),
        ("available-spare", s.available_spare),
        ("available-spare-threshold", s.available_spare_threshold),
        ("percentage-used", s.percentage_used),
    ] {
        w.key(key);
        w.int(v);
    }
    let counters = [
        s.data_units_read,
        s.data_units_written,
        s.host_read_commands,
        s.host_write_commands,
        s.controller_busy_time,
        s.power_cycles,
        s.power_on_hours,
        s.unsafe_shutdowns,
        s.media_errors,
        s.number_of_error_log_entries,
    ];
    for ([lo, hi], v) in SMART_COUNTERS.into_iter().zip(counters) {
        w.key(lo);
        w.uint(v as u64); // the low 64 bits
        w.key(hi);
        w.uint((v >> 64) as u64);
    }
    w.close_object();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::reply::Channel;

    #[test]
    fn nvme_smart_is_written_after_alias_with_split_counters() {
        let smart = NvmeSmart {
            critical_warning: 1,
            temperature: 323,
            available_spare: 100,
            available_spare_threshold: 10,
            percentage_used: 3,
            data_units_read: (7u128 << 64) | 5,
            host_write_commands: u128::from(u64::MAX),
            number_of_error_log_entries: 9,
            ..NvmeSmart::default()
        };
        let disk = DiskInfo {
            name: "/dev/nvme0n1",
            partition: false,
            dependencies: None,
            address: None,
            alias: Some("a"),
            smart: Some(smart),
        };
        let mut out = Vec::new();
        let mut ch = Channel::new(&mut out);
        let mut stage = [0u8; 64];
        let mut w = ReplyWriter::new(&mut ch, &mut stage);
        write_disk_info(&mut w, &disk);
        w.finish();
        assert!(ch.take_error().is_ok());
        let want = "{\"name\": \"/dev/nvme0n1\", \"partition\": false, \"alias\": \"a\", \
            \"smart\": {\"type\": \"nvme\", \"critical-warning\": 1, \"temperature\": 323, \
            \"available-spare\": 100, \"available-spare-threshold\": 10, \"percentage-used\": 3, \
            \"data-units-read-lo\": 5, \"data-units-read-hi\": 7, \
            \"data-units-written-lo\": 0, \"data-units-written-hi\": 0, \
            \"host-read-commands-lo\": 0, \"host-read-commands-hi\": 0, \
            \"host-write-commands-lo\": 18446744073709551615, \"host-write-commands-hi\": 0, \
            \"controller-busy-time-lo\": 0, \"controller-busy-time-hi\": 0, \
            \"power-cycles-lo\": 0, \"power-cycles-hi\": 0, \
            \"power-on-hours-lo\": 0, \"power-on-hours-hi\": 0, \
            \"unsafe-shutdowns-lo\": 0, \"unsafe-shutdowns-hi\": 0, \
            \"media-errors-lo\": 0, \"media-errors-hi\": 0, \
            \"number-of-error-log-entries-lo\": 9, \"number-of-error-log-entries-hi\": 0}}\n";
        assert_eq!(core::str::from_utf8(&out).unwrap_or(""), want);
    }
}
