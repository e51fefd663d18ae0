//! `guest-get-diskstats`, `guest-get-cpustats`, `guest-get-load`,
//! `guest-get-disks` and `guest-network-get-route` (newer than QEMU 2.10;
//! protocol notes 3.2, 3.3).

use embedded_io::Write;

use super::filesystem::write_disk;
use super::{opt_str, Args, Cx, Done, Outcome};
use crate::platform::{CpuStats, DiskInfo, DiskStats, NetworkRoute, Platform};
use crate::wire::reply::ReplyWriter;

fn opt_u64<W: Write>(w: &mut ReplyWriter<'_, W>, key: &str, v: Option<u64>) {
    if let Some(v) = v {
        w.key(key);
        w.uint(v);
    }
}

/// `guest-get-disks`.
pub fn disks<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, disks(), |w, d| {
        write_disk_info(w, d);
    });
    Ok(Done::Reply)
}

fn write_disk_info<W: Write>(w: &mut ReplyWriter<'_, W>, d: &DiskInfo<'_>) {
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
    opt_str(w, "alias", d.alias);
    w.close_object();
}

/// `guest-get-diskstats`.
pub fn disk_stats<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, disk_stats(), |w, d| {
        w.open_object();
        w.key("name");
        w.str(d.name);
        w.key("major");
        w.uint(d.major);
        w.key("minor");
        w.uint(d.minor);
        w.key("stats");
        write_disk_stats(w, &d.stats);
        w.close_object();
    });
    Ok(Done::Reply)
}

fn write_disk_stats<W: Write>(w: &mut ReplyWriter<'_, W>, s: &DiskStats) {
    w.open_object();
    let fields = [
        ("read-sectors", s.read_sectors),
        ("read-ios", s.read_ios),
        ("read-merges", s.read_merges),
        ("write-sectors", s.write_sectors),
        ("write-ios", s.write_ios),
        ("write-merges", s.write_merges),
        ("discard-sectors", s.discard_sectors),
        ("discard-ios", s.discard_ios),
        ("discard-merges", s.discard_merges),
        ("flush-ios", s.flush_ios),
        ("read-ticks", s.read_ticks),
        ("write-ticks", s.write_ticks),
        ("discard-ticks", s.discard_ticks),
        ("flush-ticks", s.flush_ticks),
        ("ios-pgr", s.ios_pgr),
        ("total-ticks", s.total_ticks),
        ("weight-ticks", s.weight_ticks),
    ];
    for (key, v) in fields {
        opt_u64(w, key, v);
    }
    w.close_object();
}

/// `guest-get-cpustats`.
pub fn cpu_stats<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, cpu_stats(), |w, c| {
        write_cpu(w, c);
    });
    Ok(Done::Reply)
}

fn write_cpu<W: Write>(w: &mut ReplyWriter<'_, W>, c: &CpuStats) {
    w.open_object();
    w.key("type");
    w.str("linux");
    w.key("cpu");
    w.int(c.cpu);
    for (key, v) in [
        ("user", c.user),
        ("nice", c.nice),
        ("system", c.system),
        ("idle", c.idle),
    ] {
        w.key(key);
        w.uint(v);
    }
    let optional = [
        ("iowait", c.iowait),
        ("irq", c.irq),
        ("softirq", c.softirq),
        ("steal", c.steal),
        ("guest", c.guest),
        ("guestnice", c.guestnice),
    ];
    for (key, v) in optional {
        opt_u64(w, key, v);
    }
    w.close_object();
}

/// `guest-get-load`.
pub fn load<'a, P: Platform, W: Write>(cx: &mut Cx<'_, P, W>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    a.finish()?;
    let l = cx.platform.load_average()?;
    let w = &mut cx.w;
    w.open_object();
    for (key, v) in [
        ("load1m", l.load1m),
        ("load5m", l.load5m),
        ("load15m", l.load15m),
    ] {
        w.key(key);
        w.number(v);
    }
    w.close_object();
    Ok(Done::Reply)
}

/// `guest-network-get-route`.
pub fn routes<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, network_routes(), |w, r| {
        write_route(w, r);
    });
    Ok(Done::Reply)
}

fn write_route<W: Write>(w: &mut ReplyWriter<'_, W>, r: &NetworkRoute<'_>) {
    w.open_object();
    w.key("iface");
    w.str(r.iface);
    w.key("destination");
    w.str(r.destination);
    w.key("metric");
    w.int(r.metric);
    w.key("version");
    w.int(r.version);
    for (key, v) in [
        ("gateway", r.gateway),
        ("mask", r.mask),
        ("source", r.source),
        ("nexthop", r.nexthop),
    ] {
        opt_str(w, key, v);
    }
    for (key, v) in [
        ("desprefixlen", r.desprefixlen),
        ("srcprefixlen", r.srcprefixlen),
    ] {
        opt_str(w, key, v);
    }
    for (key, v) in [
        ("irtt", r.irtt),
        ("refcnt", r.refcnt),
        ("use", r.use_),
        ("window", r.window),
        ("mtu", r.mtu),
    ] {
        super::opt_int(w, key, v);
    }
    opt_u64(w, "flags", r.flags);
    w.close_object();
}
