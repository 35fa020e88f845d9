//! Which routes the client installs into its TUN device: the gateway's traffic selectors
//! (its protected subnets) as IPv4 and IPv6 prefixes, never covering the gateway's own address
//! (that would send the tunnel's own packets into the tunnel).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ikev2::ts::TrafficSelector;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The smallest list of prefixes that covers `start..=end` exactly, in an address space of
/// `bits` bits (32 or 128), as (first address, prefix length).
fn range_to_prefixes(start: u128, end: u128, bits: u8) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    let mut at = start;
    while at <= end {
        // The largest block aligned at `at` that does not run past `end`.
        let mut host_bits: u8 = 0;
        while host_bits < bits {
            let mask = block_mask(host_bits + 1);
            if at & mask != 0 || at | mask > end {
                break;
            }
            host_bits += 1;
        }
        out.push((at, bits - host_bits));
        match (at | block_mask(host_bits)).checked_add(1) {
            Some(next) => at = next,
            None => break,
        }
    }
    out
}

/// The host part of a block with `host_bits` host bits.
fn block_mask(host_bits: u8) -> u128 {
    u128::MAX
        .checked_shr(128 - u32::from(host_bits))
        .filter(|_| host_bits > 0)
        .unwrap_or(0)
}

/// `start..=end` minus `gateway` (when it lies inside), as prefixes of a `bits`-bit space.
fn carve(start: u128, end: u128, gateway: Option<u128>, bits: u8) -> Vec<(u128, u8)> {
    match gateway.filter(|g| (start..=end).contains(g)) {
        Some(g) => {
            let mut out = Vec::new();
            if g > start {
                out.extend(range_to_prefixes(start, g - 1, bits));
            }
            if g < end {
                out.extend(range_to_prefixes(g + 1, end, bits));
            }
            out
        }
        None => range_to_prefixes(start, end, bits),
    }
}

/// The prefixes to route into the tunnel for these traffic selectors, with `gateway` carved out.
pub fn tunnel_routes(selectors: &[TrafficSelector], gateway: IpAddr) -> Vec<IpNet> {
    let mut routes = Vec::new();
    for ts in selectors {
        match (ts.start, ts.end) {
            (IpAddr::V4(start), IpAddr::V4(end)) => {
                let gateway = match gateway {
                    IpAddr::V4(g) => Some(u32::from(g).into()),
                    IpAddr::V6(_) => None,
                };
                let blocks = carve(u32::from(start).into(), u32::from(end).into(), gateway, 32);
                routes.extend(blocks.into_iter().filter_map(|(at, len)| {
                    let addr = Ipv4Addr::from(u32::try_from(at).ok()?);
                    Ipv4Net::new(addr, len).ok().map(IpNet::V4)
                }));
            }
            (IpAddr::V6(start), IpAddr::V6(end)) => {
                let gateway = match gateway {
                    IpAddr::V6(g) => Some(u128::from(g)),
                    IpAddr::V4(_) => None,
                };
                let blocks = carve(start.into(), end.into(), gateway, 128);
                routes.extend(blocks.into_iter().filter_map(|(at, len)| {
                    Ipv6Net::new(Ipv6Addr::from(at), len).ok().map(IpNet::V6)
                }));
            }
            _ => {}
        }
    }
    routes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(start: &str, end: &str) -> TrafficSelector {
        TrafficSelector {
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
            ..TrafficSelector::IPV4_ANY
        }
    }

    fn strings(nets: Vec<IpNet>) -> Vec<String> {
        nets.into_iter().map(|n| n.to_string()).collect()
    }

    fn v4_blocks(start: u32, end: u32) -> Vec<String> {
        range_to_prefixes(start.into(), end.into(), 32)
            .into_iter()
            .map(|(at, len)| format!("{}/{len}", Ipv4Addr::from(u32::try_from(at).unwrap())))
            .collect()
    }

    #[test]
    fn prefix_selectors_become_one_route() {
        let routes = tunnel_routes(
            &[ts("198.18.0.128", "198.18.0.255")],
            "198.18.0.1".parse().unwrap(),
        );
        assert_eq!(strings(routes), ["198.18.0.128/25"]);
    }

    #[test]
    fn gateway_address_is_carved_out() {
        let routes = tunnel_routes(&[ts("10.0.0.0", "10.0.0.7")], "10.0.0.4".parse().unwrap());
        assert_eq!(
            strings(routes),
            ["10.0.0.0/30", "10.0.0.5/32", "10.0.0.6/31"]
        );
        let all = tunnel_routes(&[TrafficSelector::IPV4_ANY], "198.18.0.1".parse().unwrap());
        assert!(all
            .iter()
            .all(|n| !n.contains(&"198.18.0.1".parse::<IpAddr>().unwrap())));
        let covered: u64 = all.iter().map(|n| 1u64 << (32 - n.prefix_len())).sum();
        assert_eq!(covered, (1u64 << 32) - 1, "everything but the gateway");
    }

    #[test]
    fn odd_ranges_split_exactly() {
        assert_eq!(
            v4_blocks(1, 6),
            ["0.0.0.1/32", "0.0.0.2/31", "0.0.0.4/31", "0.0.0.6/32"]
        );
        assert_eq!(v4_blocks(0, u32::MAX), ["0.0.0.0/0"]);
    }

    #[test]
    fn ipv6_selectors_become_ipv6_routes() {
        let protected = TrafficSelector::from_prefix("2001:2:0:2::".parse().unwrap(), 64).unwrap();
        let v4 = ts("198.18.0.128", "198.18.0.255");
        let routes = tunnel_routes(&[v4, protected], "198.18.0.1".parse().unwrap());
        assert_eq!(strings(routes), ["198.18.0.128/25", "2001:2:0:2::/64"]);
        let all = tunnel_routes(&[TrafficSelector::IPV6_ANY], "198.18.0.1".parse().unwrap());
        assert_eq!(
            strings(all),
            ["::/0"],
            "an IPv4 gateway is not carved from IPv6"
        );
    }

    #[test]
    fn an_ipv6_gateway_is_carved_out_of_ipv6_routes() {
        let gateway: IpAddr = "2001:2:0:1::2".parse().unwrap();
        let net = TrafficSelector::from_prefix("2001:2:0:1::".parse().unwrap(), 126).unwrap();
        assert_eq!(
            strings(tunnel_routes(&[net], gateway)),
            ["2001:2:0:1::/127", "2001:2:0:1::3/128"]
        );
        let all = tunnel_routes(&[TrafficSelector::IPV6_ANY], gateway);
        assert_eq!(
            all.len(),
            128,
            "one prefix per bit, /1 to /128, but the gateway's"
        );
        assert!(all.iter().all(|n| !n.contains(&gateway)));
        assert!(all
            .iter()
            .any(|n| n.contains(&"::".parse::<IpAddr>().unwrap())));
        assert!(all.iter().any(|n| n.contains(
            &"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
                .parse::<IpAddr>()
                .unwrap()
        )));
    }
}
