//! Which routes the client installs into its TUN device: the gateway's traffic selectors
//! (its protected subnets) as IPv4 prefixes, never covering the gateway's own address (that would
//! send the tunnel's own packets into the tunnel).

use std::net::{IpAddr, Ipv4Addr};

use ikev2::ts::TrafficSelector;
use ipnet::Ipv4Net;

/// The smallest list of prefixes that covers `start..=end` exactly.
fn range_to_prefixes(start: u32, end: u32) -> Vec<Ipv4Net> {
    let mut out = Vec::new();
    let mut at = u64::from(start);
    let end = u64::from(end);
    while at <= end {
        // The largest block aligned at `at` that does not run past `end`.
        let mut len: u8 = 32;
        while len > 0 {
            let size = 1u64 << (33 - u32::from(len));
            if at % size != 0 || at + size - 1 > end {
                break;
            }
            len -= 1;
        }
        let size = 1u64 << (32 - u32::from(len));
        let prefix = u32::try_from(at)
            .ok()
            .and_then(|addr| Ipv4Net::new(Ipv4Addr::from(addr), len).ok());
        out.extend(prefix);
        at += size;
    }
    out
}

/// The IPv4 prefixes to route into the tunnel for these traffic selectors, with `gateway`
/// carved out.
pub fn tunnel_routes(selectors: &[TrafficSelector], gateway: IpAddr) -> Vec<Ipv4Net> {
    let gateway = match gateway {
        IpAddr::V4(g) => Some(u32::from(g)),
        IpAddr::V6(_) => None,
    };
    let mut routes = Vec::new();
    for ts in selectors {
        let (IpAddr::V4(start), IpAddr::V4(end)) = (ts.start, ts.end) else {
            continue;
        };
        let (start, end) = (u32::from(start), u32::from(end));
        match gateway.filter(|g| (start..=end).contains(g)) {
            Some(g) => {
                if g > start {
                    routes.extend(range_to_prefixes(start, g - 1));
                }
                if g < end {
                    routes.extend(range_to_prefixes(g + 1, end));
                }
            }
            None => routes.extend(range_to_prefixes(start, end)),
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

    fn strings(nets: Vec<Ipv4Net>) -> Vec<String> {
        nets.into_iter().map(|n| n.to_string()).collect()
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
            .all(|n| !n.contains(&"198.18.0.1".parse::<Ipv4Addr>().unwrap())));
        let covered: u64 = all.iter().map(|n| 1u64 << (32 - n.prefix_len())).sum();
        assert_eq!(covered, (1u64 << 32) - 1, "everything but the gateway");
    }

    #[test]
    fn odd_ranges_split_exactly() {
        assert_eq!(
            strings(range_to_prefixes(1, 6)),
            ["0.0.0.1/32", "0.0.0.2/31", "0.0.0.4/31", "0.0.0.6/32"]
        );
        assert_eq!(strings(range_to_prefixes(0, u32::MAX)), ["0.0.0.0/0"]);
    }
}
