//! `guest-get-vcpus`, `guest-set-vcpus`, the memory-block commands and
//! `guest-network-get-interfaces` (protocol notes 3.3).

use embedded_io::Write;

use super::{opt_str, Args, Cx, Done, Outcome};
use crate::platform::{InterfaceStats, MemoryBlockResponse, NetworkInterface, Platform};
use crate::wire::json;
use crate::wire::reply::ReplyWriter;

/// `guest-get-vcpus`; `can-offline` is always present.
pub fn vcpus<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, vcpus(), |w, c| {
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
pub fn set_vcpus<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
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
        match cx.platform.set_vcpu(id, online) {
            Ok(()) => done += 1,
            Err(e) if done == 0 => return Err(e.into()),
            Err(_) => break,
        }
    }
    cx.w.int(done);
    Ok(Done::Reply)
}

fn read_vcpu<'a>(e: &mut Args<'a, '_>) -> super::args::ArgResult<'a, (i64, bool)> {
    let id = e.int("logical-id")?;
    let online = e.bool("online")?;
    e.opt_bool("can-offline")?;
    Ok((id, online))
}

/// `guest-get-memory-blocks`.
pub fn memory_blocks<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, memory_blocks(), |w, b| {
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
pub fn set_memory_blocks<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
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
        let r = cx.platform.set_memory_block(index, online)?;
        cx.w.element();
        write_block_response(&mut cx.w, index, r);
    }
    cx.w.close_array();
    Ok(Done::Reply)
}

fn read_block<'a>(e: &mut Args<'a, '_>) -> super::args::ArgResult<'a, (u64, bool)> {
    let index = e.u64("phys-index")?;
    let online = e.bool("online")?;
    e.opt_bool("can-offline")?;
    Ok((index, online))
}

fn write_block_response<W: Write>(w: &mut ReplyWriter<'_, W>, index: u64, r: MemoryBlockResponse) {
    let (text, code) = match r {
        MemoryBlockResponse::Success => ("success", None),
        MemoryBlockResponse::NotFound => ("not-found", None),
        MemoryBlockResponse::OperationNotSupported => ("operation-not-supported", None),
        MemoryBlockResponse::OperationFailed(c) => ("operation-failed", Some(c)),
    };
    w.open_object();
    w.key("response");
    w.str(text);
    super::opt_int(w, "error-code", code);
    w.key("phys-index");
    w.uint(index);
    w.close_object();
}

/// `guest-get-memory-block-info`.
pub fn memory_block_info<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    let size = cx.platform.memory_block_size()?;
    cx.w.open_object();
    cx.w.key("size");
    cx.w.uint(size);
    cx.w.close_object();
    Ok(Done::Reply)
}

/// `guest-network-get-interfaces`.
pub fn interfaces<'a, P: Platform, W: Write>(
    cx: &mut Cx<'_, P, W>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, network_interfaces(), |w, i| {
        write_interface(w, i);
    });
    Ok(Done::Reply)
}

fn write_interface<W: Write>(w: &mut ReplyWriter<'_, W>, i: &NetworkInterface<'_>) {
    w.open_object();
    w.key("name");
    w.str(i.name);
    opt_str(w, "hardware-address", i.hardware_address);
    if let Some(addrs) = i.ip_addresses {
        w.key("ip-addresses");
        w.open_array();
        for ip in addrs {
            w.element();
            w.open_object();
            w.key("ip-address-type");
            w.str(if ip.ipv6 { "ipv6" } else { "ipv4" });
            w.key("ip-address");
            w.str(ip.ip_address);
            w.key("prefix");
            w.int(ip.prefix);
            w.close_object();
        }
        w.close_array();
    }
    if let Some(s) = i.statistics {
        w.key("statistics");
        write_stats(w, &s);
    }
    w.close_object();
}

fn write_stats<W: Write>(w: &mut ReplyWriter<'_, W>, s: &InterfaceStats) {
    w.open_object();
    let fields = [
        ("rx-bytes", s.rx_bytes),
        ("rx-packets", s.rx_packets),
        ("rx-errs", s.rx_errs),
        ("rx-dropped", s.rx_dropped),
        ("tx-bytes", s.tx_bytes),
        ("tx-packets", s.tx_packets),
        ("tx-errs", s.tx_errs),
        ("tx-dropped", s.tx_dropped),
    ];
    for (key, v) in fields {
        w.key(key);
        w.uint(v);
    }
    w.close_object();
}
