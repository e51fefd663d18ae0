//! `guest-network-get-interfaces` and `guest-network-get-route` (protocol
//! notes 3.3).

use super::{Args, Cx, Done, Outcome};
use crate::platform::Platform;
use crate::platform::{InterfaceStats, NetworkInterface, NetworkRoute};
use crate::wire::reply::ReplyWriter;

/// `guest-network-get-interfaces`.
pub fn interfaces<'a, P: Platform + ?Sized>(
    cx: &mut Cx<'_, P>,
    a: &mut Args<'a, '_>,
) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, network(), interfaces(), |w, i| {
        write_interface(w, i);
    });
    Ok(Done::Reply)
}

fn write_interface(w: &mut ReplyWriter<'_>, i: &NetworkInterface<'_>) {
    w.open_object();
    w.key("name");
    w.str(i.name);
    w.opt_str("hardware-address", i.hardware_address);
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
            w.ints(&[("prefix", ip.prefix)]);
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

fn write_stats(w: &mut ReplyWriter<'_>, s: &InterfaceStats) {
    w.open_object();
    w.uints(&[
        ("rx-bytes", s.rx_bytes),
        ("rx-packets", s.rx_packets),
        ("rx-errs", s.rx_errs),
        ("rx-dropped", s.rx_dropped),
        ("tx-bytes", s.tx_bytes),
        ("tx-packets", s.tx_packets),
        ("tx-errs", s.tx_errs),
        ("tx-dropped", s.tx_dropped),
    ]);
    w.close_object();
}

/// `guest-network-get-route`.
pub fn routes<'a, P: Platform + ?Sized>(cx: &mut Cx<'_, P>, a: &mut Args<'a, '_>) -> Outcome<'a> {
    a.finish()?;
    write_list!(cx, network(), routes(), |w, r| {
        write_route(w, r);
    });
    Ok(Done::Reply)
}

fn write_route(w: &mut ReplyWriter<'_>, r: &NetworkRoute<'_>) {
    w.open_object();
    w.key("iface");
    w.str(r.iface);
    w.key("destination");
    w.str(r.destination);
    w.ints(&[("metric", r.metric), ("version", r.version)]);
    for (key, v) in [
        ("gateway", r.gateway),
        ("mask", r.mask),
        ("source", r.source),
        ("nexthop", r.nexthop),
        ("desprefixlen", r.desprefixlen),
        ("srcprefixlen", r.srcprefixlen),
    ] {
        w.opt_str(key, v);
    }
    w.opt_ints(&[
        ("irtt", r.irtt),
        ("refcnt", r.refcnt),
        ("use", r.use_),
        ("window", r.window),
        ("mtu", r.mtu),
    ]);
    w.opt_uints(&[("flags", r.flags)]);
    w.close_object();
}
