//! `guest-get-vcpus`, `guest-set-vcpus`, the memory-block commands,
//! `guest-get-cpustats`, `guest-get-diskstats` and `guest-get-load`
//! (protocol notes 3.3).

use super::args::ArgResult;
use super::{need, Args, Cx, Done, Outcome};
use crate::platform::Platform;
use crate::platform::{CpuStats, DiskStats, MemoryBlockResponse};
use crate::wire::json;
use crate::wire::reply::ReplyWriter;

/// `guest-get-vcpus`; `can-offline` is always present.
pub fn vcpus<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, vcpus(), list(), |w, c| {
        w.open_object();
        w.key("online");
        w.bool(c.online);
        w.key("can-offline");
        w.bool(c.can_offline.unwrap_or(false));
        w.key("logical-id");
        w.int(c.logical_id);
        w.close_object();
    });
    Ok(Done::Reply)
}

/// `guest-set-vcpus`: validates the whole list, then applies it in order
/// and stops at the first failure; returns how many were processed (the
/// first failure itself is the error when nothing was processed).
pub fn set_vcpus<'a, P: Platform + ?Sized>(
    cx: &mut Cx<'_, P>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    let list = a.object_list("vcpus")?;
    for (i, e) in json::elements(list).enumerate() {
        a.element("vcpus", i, e, read_vcpu)?;
    }
    a.finish()?;
    let mut done = 0i64;
    for (i, e) in json::elements(list).enumerate() {
        let (id, online) = a.element("vcpus", i, e, read_vcpu)?;
        match need(cx.platform.vcpus())?.set(id, online) {
            Ok(()) => done += 1,
            Err(e) if done == 0 => return Err(e.into()),
            Err(_) => break,
        }
    }
    cx.w.int(done);
    Ok(Done::Reply)
}

fn read_vcpu<'a>(e: &mut Args<'a, '_>) -> ArgResult<'a, (i64, bool)> {
    let id = e.int("logical-id")?;
    let online = e.bool("online")?;
    e.opt_bool("can-offline")?;
    Ok((id, online))
}

/// `guest-get-memory-blocks`.
pub fn memory_blocks<'a, P: Platform + ?Sized>(
    cx: &mut Cx<'_, P>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, memory_blocks(), list(), |w, b| {
        w.open_object();
        w.key("online");
        w.bool(b.online);
        if let Some(c) = b.can_offline {
            w.key("can-offline");
            w.bool(c);
        }
        w.key("phys-index");
        w.uint(b.phys_index);
        w.close_object();
    });
    Ok(Done::Reply)
}

/// `guest-set-memory-blocks`: one response per block.
pub fn set_memory_blocks<'a, P: Platform + ?Sized>(
    cx: &mut Cx<'_, P>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    let list = a.object_list("mem-blks")?;
    for (i, e) in json::elements(list).enumerate() {
        a.element("mem-blks", i, e, read_block)?;
    }
    a.finish()?;
    cx.w.open_array();
    for (i, e) in json::elements(list).enumerate() {
        let (index, online) = a.element("mem-blks", i, e, read_block)?;
        let r = need(cx.platform.memory_blocks())?.set(index, online)?;
        cx.w.element();
        write_block_response(&mut cx.w, index, r);
    }
    cx.w.close_array();
    Ok(Done::Reply)
}

fn read_block<'a>(e: &mut Args<'a, '_>) -> ArgResult<'a, (u64, bool)> {
    let index = e.u64("phys-index")?;
    let online = e.bool("online")?;
    e.opt_bool("can-offline")?;
    Ok((index, online))
}

fn write_block_response(w: &mut ReplyWriter<'_>, index: u64, r: MemoryBlockResponse) {
    let (text, code) = match r {
        MemoryBlockResponse::Success => ("success", None),
        // qemu-ga reports the errno of the failed lookup (observed: 2).
        MemoryBlockResponse::NotFound => ("not-found", Some(i64::from(crate::errno::ENOENT))),
        MemoryBlockResponse::OperationNotSupported => ("operation-not-supported", None),
        MemoryBlockResponse::OperationFailed(c) => ("operation-failed", Some(c)),
    };
    w.open_object();
    w.key("response");
    w.str(text);
    w.opt_ints(&[("error-code", code)]);
    w.key("phys-index");
    w.uint(index);
    w.close_object();
}

/// `guest-get-memory-block-info`.
pub fn memory_block_info<'a, P: Platform + ?Sized>(
    cx: &mut Cx<'_, P>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    let size = need(cx.platform.memory_blocks())?.block_size()?;
    cx.w.open_object();
    cx.w.uints(&[("size", size)]);
    cx.w.close_object();
    Ok(Done::Reply)
}

/// `guest-get-cpustats`.
pub fn cpu_stats<'a, P: Platform + ?Sized>(
    cx: &mut Cx<'_, P>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, stats(), cpu_stats(), |w, c| {
        write_cpu(w, c);
    });
    Ok(Done::Reply)
}

fn write_cpu(w: &mut ReplyWriter<'_>, c: &CpuStats) {
    w.open_object();
    w.key("type");
    w.str("linux");
    w.ints(&[("cpu", c.cpu)]);
    w.uints(&[
        ("user", c.user),
        ("nice", c.nice),
        ("system", c.system),
        ("idle", c.idle),
    ]);
    w.opt_uints(&[
        ("iowait", c.iowait),
        ("irq", c.irq),
        ("softirq", c.softirq),
        ("steal", c.steal),
        ("guest", c.guest),
        ("guestnice", c.guestnice),
    ]);
    w.close_object();
}

/// `guest-get-diskstats`.
pub fn disk_stats<'a, P: Platform + ?Sized>(
    cx: &mut Cx<'_, P>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, stats(), disk_stats(), |w, d| {
        w.open_object();
        w.key("name");
        w.str(d.name);
        w.uints(&[("major", d.major), ("minor", d.minor)]);
        w.key("stats");
        write_disk_stats(w, &d.stats);
        w.close_object();
    });
    Ok(Done::Reply)
}

fn write_disk_stats(w: &mut ReplyWriter<'_>, s: &DiskStats) {
    w.open_object();
    w.opt_uints(&[
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
    ]);
    w.close_object();
}

/// `guest-get-load`.
pub fn load<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    a.finish()?;
    let l = need(cx.platform.stats())?.load_average()?;
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
