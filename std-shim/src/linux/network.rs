//! `guest-network-get-interfaces` and `guest-network-get-route` (protocol
//! notes 3.3). Interfaces and addresses come from an rtnetlink dump
//! (RTM_GETLINK, RTM_GETADDR: what `getifaddrs` does), the MAC from
//! `/sys/class/net/<if>/address`, counters from `/proc/net/dev`; routes
//! from `/proc/net/route` and `/proc/net/ipv6_route`.

use std::net::{Ipv4Addr, Ipv6Addr};

use qga_core::platform::{
    Error, InterfaceStats, IpAddress, NetworkInterface, NetworkRoute, Result,
};
use rustix::net::{netlink, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use super::root::Root;
use super::sys::{os_errno, retry, rx_errno};

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// NLM_F_REQUEST | NLM_F_DUMP.
const DUMP_FLAGS: u16 = 0x1 | 0x300;
const IFLA_IFNAME: u16 = 3;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// One interface being gathered.
#[derive(Debug, Default)]
struct Iface {
    name: String,
    index: u32,
    addrs: Vec<(String, bool, i64)>,
}

/// `guest-network-get-interfaces`: links in kernel order, then each address
/// appended to its interface (IPv4 aliases such as `eth0:1` appear as their
/// own interface, as with `getifaddrs`).
pub(crate) fn interfaces(
    root: &Root,
    out: &mut dyn FnMut(&NetworkInterface<'_>) -> Result<()>,
) -> Result<()> {
    let nl_err = |e| Error::errno(rx_errno(e), format_args!("getifaddrs failed"));
    let links = dump(RTM_GETLINK, RTM_NEWLINK).map_err(nl_err)?;
    let addrs = dump(RTM_GETADDR, RTM_NEWADDR).map_err(nl_err)?;
    let mut list: Vec<Iface> = links.iter().filter_map(|m| parse_link(m)).collect();
    for m in &addrs {
        add_address(&mut list, m);
    }
    let dev = root.read("/proc/net/dev").unwrap_or_default();
    for i in &list {
        let ips: Vec<IpAddress<'_>> = i
            .addrs
            .iter()
            .map(|(a, v6, p)| IpAddress {
                ip_address: a,
                ipv6: *v6,
                prefix: *p,
            })
            .collect();
        let mac = mac_address(root, &i.name);
        out(&NetworkInterface {
            name: &i.name,
            hardware_address: mac.as_deref(),
            ip_addresses: (!ips.is_empty()).then_some(&ips[..]),
            statistics: if ips.is_empty() {
                None
            } else {
                dev_stats(&dev, &i.name)
            },
        })?;
    }
    Ok(())
}

/// `/sys/class/net/<if>/address` (an alias uses its device's); an empty
/// file (no link-layer address) reads as zeros, as SIOCGIFHWADDR gives.
fn mac_address(root: &Root, name: &str) -> Option<String> {
    let dev = name.split(':').next().unwrap_or(name);
    let text = root.read(format!("/sys/class/net/{dev}/address")).ok()?;
    let mac = text.trim().to_ascii_lowercase();
    Some(if mac.is_empty() {
        "00:00:00:00:00:00".to_owned()
    } else {
        mac
    })
}

/// The counters of `name` in /proc/net/dev.
fn dev_stats(text: &str, name: &str) -> Option<InterfaceStats> {
    let rest = text.lines().find_map(|l| {
        let (n, rest) = l.trim_start().split_once(':')?;
        (n == name).then_some(rest)
    })?;
    let v: Vec<u64> = rest
        .split_ascii_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let g = |i: usize| v.get(i).copied();
    Some(InterfaceStats {
        rx_bytes: g(0)?,
        rx_packets: g(1)?,
        rx_errs: g(2)?,
        rx_dropped: g(3)?,
        tx_bytes: g(8)?,
        tx_packets: g(9)?,
        tx_errs: g(10)?,
        tx_dropped: g(11)?,
    })
}

// ---- rtnetlink ------------------------------------------------------------------

/// Sends one dump request and returns the payloads of the `want` messages.
fn dump(request: u16, want: u16) -> rustix::io::Result<Vec<Vec<u8>>> {
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None, // NETLINK_ROUTE is protocol 0
    )?;
    let mut req = [0u8; 20];
    req[0..4].copy_from_slice(&20u32.to_ne_bytes());
    req[4..6].copy_from_slice(&request.to_ne_bytes());
    req[6..8].copy_from_slice(&DUMP_FLAGS.to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    // rtgenmsg: family AF_UNSPEC (0), padded.
    let kernel = netlink::SocketAddrNetlink::new(0, 0);
    retry(|| rustix::net::sendto(&fd, &req, SendFlags::empty(), &kernel))?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let (n, _) = retry(|| rustix::net::recv(&fd, &mut buf[..], RecvFlags::empty()))?;
        if n == 0 || parse_messages(&buf[..n.min(buf.len())], want, &mut out)? {
            return Ok(out);
        }
    }
}

/// Splits one datagram into messages; `Ok(true)` at NLMSG_DONE.
fn parse_messages(mut b: &[u8], want: u16, out: &mut Vec<Vec<u8>>) -> rustix::io::Result<bool> {
    while b.len() >= 16 {
        let len = (u32_at(b, 0) as usize).clamp(16, b.len());
        let kind = u16_at(b, 4);
        let payload = &b[16..len];
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let errno = payload.get(..4).map_or(0, |_| u32_at(payload, 0) as i32);
                return Err(rustix::io::Errno::from_raw_os_error(-errno));
            }
            k if k == want => out.push(payload.to_vec()),
            _ => {}
        }
        b = b.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(false)
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |x| u16::from_ne_bytes([x[0], x[1]]))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |x| u32::from_ne_bytes([x[0], x[1], x[2], x[3]]))
}

/// The routing attributes `(type, data)` from `b`.
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut v = Vec::new();
    while b.len() >= 4 {
        let len = usize::from(u16_at(b, 0));
        if len < 4 || len > b.len() {
            break;
        }
        v.push((u16_at(b, 2) & 0x3fff, &b[4..len]));
        b = b.get(align4(len)..).unwrap_or(&[]);
    }
    v
}

fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// An RTM_NEWLINK payload: `ifinfomsg` (16 bytes) then attributes.
fn parse_link(m: &[u8]) -> Option<Iface> {
    let index = u32_at(m, 4);
    let name = attrs(m.get(16..)?)
        .into_iter()
        .find(|(t, _)| *t == IFLA_IFNAME)?
        .1;
    Some(Iface {
        name: c_string(name),
        index,
        addrs: Vec::new(),
    })
}

/// An RTM_NEWADDR payload: `ifaddrmsg` (8 bytes) then attributes.
fn add_address(list: &mut Vec<Iface>, m: &[u8]) {
    let (family, prefix, index) = (m.first().copied(), m.get(1).copied(), u32_at(m, 4));
    let (Some(family), Some(prefix)) = (family, prefix) else {
        return;
    };
    let a = attrs(m.get(8..).unwrap_or(&[]));
    let get = |t: u16| a.iter().find(|(k, _)| *k == t).map(|(_, d)| *d);
    let text = match (family, get(IFA_LOCAL).or(get(IFA_ADDRESS))) {
        (AF_INET, Some(d)) if d.len() == 4 => Ipv4Addr::new(d[0], d[1], d[2], d[3]).to_string(),
        (AF_INET6, Some(d)) => match <[u8; 16]>::try_from(d) {
            Ok(o) => Ipv6Addr::from(o).to_string(),
            Err(_) => return,
        },
        _ => return,
    };
    let link_name = list
        .iter()
        .find(|i| i.index == index)
        .map(|i| i.name.clone());
    let label = (family == AF_INET)
        .then(|| get(IFA_LABEL).map(c_string))
        .flatten();
    let Some(name) = label.or(link_name) else {
        return;
    };
    let iface = match list.iter().position(|i| i.name == name) {
        Some(p) => &mut list[p],
        None => {
            list.push(Iface {
                name,
                index,
                addrs: Vec::new(),
            });
            let last = list.len() - 1;
            &mut list[last]
        }
    };
    iface
        .addrs
        .push((text, family == AF_INET6, i64::from(prefix)));
}

// ---- routes -----------------------------------------------------------------------

/// One parsed route line, owned until it is replied.
#[derive(Debug, Default, PartialEq)]
struct Route {
    iface: String,
    dest: String,
    /// IPv4 only (IPv6 routes have `nexthop`).
    gateway: Option<String>,
    mask: Option<String>,
    source: Option<String>,
    nexthop: Option<String>,
    dest_prefix: Option<String>,
    src_prefix: Option<String>,
    nums: [i64; 6], // metric refcnt use mtu window irtt
    flags: u64,
    v6: bool,
}

/// `guest-network-get-route`: /proc/net/route then /proc/net/ipv6_route.
pub(crate) fn routes(
    root: &Root,
    out: &mut dyn FnMut(&NetworkRoute<'_>) -> Result<()>,
) -> Result<()> {
    let read = |p: &str| {
        root.read(p)
            .map_err(|e| Error::errno(os_errno(&e), format_args!("open(\"{p}\")")))
    };
    let v4 = read("/proc/net/route")?;
    let v6 = read("/proc/net/ipv6_route")?;
    let all: Vec<Route> = v4
        .lines()
        .skip(1)
        .filter_map(parse_v4)
        .chain(v6.lines().filter_map(parse_v6))
        .collect();
    for r in &all {
        out(&reply(r))?;
    }
    Ok(())
}

fn reply(r: &Route) -> NetworkRoute<'_> {
    let v4 = |x: i64| (!r.v6).then_some(x);
    NetworkRoute {
        iface: &r.iface,
        destination: &r.dest,
        metric: r.nums[0],
        version: if r.v6 { 6 } else { 4 },
        gateway: r.gateway.as_deref(),
        mask: r.mask.as_deref(),
        irtt: v4(r.nums[5]),
        flags: Some(r.flags),
        refcnt: Some(r.nums[1]),
        use_: Some(r.nums[2]),
        window: v4(r.nums[4]),
        mtu: v4(r.nums[3]),
        desprefixlen: r.dest_prefix.as_deref(),
        source: r.source.as_deref(),
        srcprefixlen: r.src_prefix.as_deref(),
        nexthop: r.nexthop.as_deref(),
    }
}

/// A host-endian hex IPv4 address, as the kernel prints it.
fn hex_v4(s: &str) -> Option<String> {
    Some(Ipv4Addr::from(u32::from_str_radix(s, 16).ok()?.to_le_bytes()).to_string())
}

fn hex_v6(s: &str) -> Option<String> {
    Some(Ipv6Addr::from(u128::from_str_radix(s, 16).ok()?).to_string())
}

/// A 32-bit word read the way qemu-ga's `sscanf` stores it in a C `int`:
/// `%x` of `ffffffff` is -1, `%d` of `4294967295` too.
fn c_int(word: u32) -> i64 {
    i64::from(word as i32)
}

/// `Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT`
/// (addresses and flags in hex, the counters in decimal).
fn parse_v4(line: &str) -> Option<Route> {
    let f: Vec<&str> = line.split_ascii_whitespace().collect();
    let n = |i: usize| {
        let v = f.get(i)?.parse::<i64>().ok()?;
        Some(c_int(v as u32)) // glibc's %d: parsed as a long, cut to an int
    };
    Some(Route {
        iface: (*f.first()?).to_owned(),
        dest: hex_v4(f.get(1)?)?,
        gateway: Some(hex_v4(f.get(2)?)?),
        mask: Some(hex_v4(f.get(7)?)?),
        flags: u64::from_str_radix(f.get(3)?, 16).ok()?,
        nums: [n(6)?, n(4)?, n(5)?, n(8)?, n(9)?, n(10)?],
        ..Route::default()
    })
}

/// `dest dest_plen src src_plen nexthop metric refcnt use flags iface`, all
/// numbers in hex. Like qemu-ga: metric, refcnt and use as C ints (so the
/// kernel's `ffffffff` metric of an unreachable route is -1), prefix
/// lengths as decimal strings, the next hop as `nexthop` (no `gateway`).
/// `flags` stays the kernel's 32-bit word; qemu-ga sign-extends it into
/// the uint64 member, so `80200001` (a local route) would read
/// 18446744071564165121 there.
fn parse_v6(line: &str) -> Option<Route> {
    let f: Vec<&str> = line.split_ascii_whitespace().collect();
    let word = |i: usize| f.get(i).and_then(|x| u32::from_str_radix(x, 16).ok());
    let n = |i: usize| word(i).map(c_int);
    let plen = |i: usize| word(i).map(|p| c_int(p).to_string());
    Some(Route {
        iface: (*f.get(9)?).to_owned(),
        dest: hex_v6(f.first()?)?,
        dest_prefix: Some(plen(1)?),
        source: Some(hex_v6(f.get(2)?)?),
        src_prefix: Some(plen(3)?),
        nexthop: Some(hex_v6(f.get(4)?)?),
        flags: word(8)?.into(),
        nums: [n(5)?, n(6)?, n(7)?, 0, 0, 0],
        v6: true,
        ..Route::default()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testutil::temp_dir;
    use super::*;

    /// An rtattr of type `t`.
    fn attr(t: u16, data: &[u8]) -> Vec<u8> {
        let mut v = ((4 + data.len()) as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(&t.to_ne_bytes());
        v.extend_from_slice(data);
        v.resize(align4(v.len()), 0);
        v
    }

    fn addr_msg(family: u8, prefix: u8, index: u32, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut m = vec![family, prefix, 0, 0];
        m.extend_from_slice(&index.to_ne_bytes());
        attrs.iter().for_each(|a| m.extend_from_slice(a));
        m
    }

    #[test]
    fn addresses_attach_by_index_and_label() {
        let _fds = super::super::testutil::fd_count_guard();
        let mut link = vec![0u8; 16];
        link[4..8].copy_from_slice(&2u32.to_ne_bytes());
        link.extend(attr(IFLA_IFNAME, b"eth0\0"));
        let mut list = vec![parse_link(&link).unwrap()];
        add_address(
            &mut list,
            &addr_msg(
                AF_INET,
                24,
                2,
                &[
                    attr(IFA_ADDRESS, &[192, 0, 2, 9]),
                    attr(IFA_LOCAL, &[192, 0, 2, 1]),
                    attr(IFA_LABEL, b"eth0\0"),
                ],
            ),
        );
        add_address(
            &mut list,
            &addr_msg(
                AF_INET,
                32,
                2,
                &[
                    attr(IFA_LOCAL, &[10, 0, 0, 1]),
                    attr(IFA_LABEL, b"eth0:1\0"),
                ],
            ),
        );
        let mut v6 = [0u8; 16];
        v6[0] = 0xfe;
        v6[1] = 0x80;
        v6[15] = 1;
        add_address(
            &mut list,
            &addr_msg(AF_INET6, 64, 2, &[attr(IFA_ADDRESS, &v6)]),
        );
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name, "eth0");
        assert_eq!(
            list[0].addrs,
            [
                ("192.0.2.1".to_owned(), false, 24),
                ("fe80::1".to_owned(), true, 64)
            ]
        );
        assert_eq!(
            (list[1].name.as_str(), list[1].addrs[0].0.as_str()),
            ("eth0:1", "10.0.0.1")
        );
    }

    #[test]
    fn netlink_errors_and_done_are_recognised() {
        let _fds = super::super::testutil::fd_count_guard();
        let mut msg = 20u32.to_ne_bytes().to_vec();
        msg.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        msg.extend_from_slice(&[0; 10]);
        msg.extend_from_slice(&(-13i32).to_ne_bytes());
        let mut out = Vec::new();
        assert_eq!(
            parse_messages(&msg, RTM_NEWADDR, &mut out),
            Err(rustix::io::Errno::ACCESS)
        );
        let mut done = 16u32.to_ne_bytes().to_vec();
        done.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        done.extend_from_slice(&[0; 10]);
        assert_eq!(parse_messages(&done, RTM_NEWADDR, &mut out), Ok(true));
    }

    #[test]
    fn interfaces_of_this_machine_include_loopback() {
        let _fds = super::super::testutil::fd_count_guard();
        let mut seen = Vec::new();
        interfaces(&Root::default(), &mut |i| {
            let ips: Vec<String> = i
                .ip_addresses
                .unwrap_or(&[])
                .iter()
                .map(|a| format!("{}/{}", a.ip_address, a.prefix))
                .collect();
            seen.push((
                i.name.to_owned(),
                i.hardware_address.map(str::to_owned),
                ips,
                i.statistics.is_some(),
            ));
            Ok(())
        })
        .unwrap();
        let lo = seen.iter().find(|s| s.0 == "lo").unwrap();
        assert_eq!(lo.1.as_deref(), Some("00:00:00:00:00:00"));
        assert!(lo.2.contains(&"127.0.0.1/8".to_owned()), "{lo:?}");
        assert!(lo.3, "loopback has an address, so statistics");
        assert!(seen.iter().all(|s| s.3 != s.2.is_empty()));
    }

    #[test]
    fn proc_net_dev_counters() {
        let _fds = super::super::testutil::fd_count_guard();
        let text = "Inter-|\n face |\n    lo:    3193      29    0    0    0     0          0         0     3194      30    1    2    0     0       0          0\n";
        let s = dev_stats(text, "lo").unwrap();
        assert_eq!(
            (
                s.rx_bytes,
                s.rx_packets,
                s.tx_bytes,
                s.tx_packets,
                s.tx_errs,
                s.tx_dropped
            ),
            (3193, 29, 3194, 30, 1, 2)
        );
        assert!(dev_stats(text, "eth0").is_none());
    }

    const ROUTE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
        eth0\t000200C0\t00000000\t0001\t2\t4294967295\t0\t00FFFFFF\t1500\t0\t0\n";
    const IPV6_ROUTE: &str = "\
        fd000000000000000000000000000000 40 00000000000000000000000000000000 00 \
        00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n\
        00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
        fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n\
        00000000000000000000000000000001 80 00000000000000000000000000000000 00 \
        00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n\
        00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
        00000000000000000000000000000000 ffffffff 00000001 ffffffff 00200200       lo\n";

    fn v4_route<'a>(dest: &'a str, gw: &'a str, mask: &'a str, nums: [i64; 6]) -> NetworkRoute<'a> {
        let [metric, refcnt, use_, mtu, window, irtt] = nums;
        NetworkRoute {
            iface: "eth0",
            destination: dest,
            metric,
            version: 4,
            gateway: Some(gw),
            mask: Some(mask),
            irtt: Some(irtt),
            flags: None,
            refcnt: Some(refcnt),
            use_: Some(use_),
            window: Some(window),
            mtu: Some(mtu),
            ..NetworkRoute::default()
        }
    }

    /// An IPv6 route: no gateway, mask, mtu, window or irtt.
    fn v6_route<'a>(
        iface: &'a str,
        dest: &'a str,
        plen: &'a str,
        hop: &'a str,
    ) -> NetworkRoute<'a> {
        NetworkRoute {
            iface,
            destination: dest,
            version: 6,
            desprefixlen: Some(plen),
            source: Some("::"),
            srcprefixlen: Some("0"),
            nexthop: Some(hop),
            ..NetworkRoute::default()
        }
    }

    /// Every field of an ipv6_route line reaches the reply (source and
    /// next hop included).
    #[test]
    fn ipv6_route_fields_all_reach_the_reply() {
        let line = "20010db8000000000000000000000000 30 20010db8000100000000000000000000 40 \
                    fe800000000000000000000000000001 00000400 00000002 00000007 00000003 eth1";
        let r = parse_v6(line).unwrap();
        assert_eq!(
            format!("{:?}", reply(&r)),
            "NetworkRoute { iface: \"eth1\", destination: \"2001:db8::\", metric: 1024, \
             version: 6, gateway: None, mask: None, irtt: None, flags: Some(3), \
             refcnt: Some(2), use_: Some(7), window: None, mtu: None, desprefixlen: Some(\"48\"), \
             source: Some(\"2001:db8:1::\"), srcprefixlen: Some(\"64\"), nexthop: Some(\"fe80::1\") }"
        );
    }

    #[test]
    fn routes_parse_both_families_like_qemu_ga() {
        let _fds = super::super::testutil::fd_count_guard();
        let d = temp_dir("routes");
        std::fs::create_dir_all(d.join("proc/net")).unwrap();
        std::fs::write(d.join("proc/net/route"), ROUTE).unwrap();
        std::fs::write(d.join("proc/net/ipv6_route"), IPV6_ROUTE).unwrap();
        let mut got = Vec::new();
        routes(&Root::new(d.clone()), &mut |r| {
            got.push(format!("{r:?}"));
            Ok(())
        })
        .unwrap();
        let want = [
            NetworkRoute {
                flags: Some(3),
                ..v4_route("0.0.0.0", "192.0.2.1", "0.0.0.0", [100, 0, 0, 0, 0, 0])
            },
            NetworkRoute {
                flags: Some(1),
                ..v4_route(
                    "192.0.2.0",
                    "0.0.0.0",
                    "255.255.255.0",
                    [0, 2, -1, 1500, 0, 0],
                )
            },
            NetworkRoute {
                metric: 256,
                flags: Some(1),
                refcnt: Some(1),
                use_: Some(0),
                ..v6_route("eth0", "fd00::", "64", "::")
            },
            NetworkRoute {
                metric: 1024,
                flags: Some(3),
                refcnt: Some(2),
                use_: Some(0),
                ..v6_route("eth0", "::", "0", "fd00::1")
            },
            NetworkRoute {
                metric: 0,
                flags: Some(0x8020_0001),
                refcnt: Some(2),
                use_: Some(0),
                ..v6_route("lo", "::1", "128", "::")
            },
            NetworkRoute {
                metric: -1,
                flags: Some(0x0020_0200),
                refcnt: Some(1),
                use_: Some(-1),
                ..v6_route("lo", "::", "0", "::")
            },
        ];
        let want: Vec<String> = want.iter().map(|r| format!("{r:?}")).collect();
        assert_eq!(got, want);
        std::fs::remove_file(d.join("proc/net/ipv6_route")).unwrap();
        let e = routes(&Root::new(d), &mut |_| Ok(())).unwrap_err();
        assert_eq!(
            e.text(),
            "open(\"/proc/net/ipv6_route\"): No such file or directory"
        );
        routes(&Root::default(), &mut |_| Ok(())).unwrap();
    }
}
