//! Traffic selectors and narrowing
//! ([RFC 7296 §2.9](https://www.rfc-editor.org/rfc/rfc7296#section-2.9), §3.13.1).
//!
//! A [`TrafficSelector`] is an address range, an IP protocol (0 = any) and a port range. The
//! responder narrows what the initiator proposes to the intersection with its configuration; a
//! client proposing `0.0.0.0/0` for its own side is narrowed to its virtual IP `/32`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// TS Type codes of RFC 7296 §3.13.1.
pub mod ts_type {
    /// IPv4 address range.
    pub const IPV4_ADDR_RANGE: u8 = 7;
    /// IPv6 address range.
    pub const IPV6_ADDR_RANGE: u8 = 8;
}

/// One traffic selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// IP protocol number, 0 for any.
    pub protocol: u8,
    /// First port.
    pub start_port: u16,
    /// Last port.
    pub end_port: u16,
    /// First address (same family as `end`).
    pub start: IpAddr,
    /// Last address.
    pub end: IpAddr,
}

impl TrafficSelector {
    /// Every IPv4 address, any protocol and port.
    pub const IPV4_ANY: TrafficSelector = TrafficSelector {
        protocol: 0,
        start_port: 0,
        end_port: u16::MAX,
        start: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        end: IpAddr::V4(Ipv4Addr::BROADCAST),
    };

    /// Every IPv6 address, any protocol and port.
    pub const IPV6_ANY: TrafficSelector = TrafficSelector {
        protocol: 0,
        start_port: 0,
        end_port: u16::MAX,
        start: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        end: IpAddr::V6(Ipv6Addr::new(
            0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
        )),
    };

    /// A prefix (`10.0.0.0/24`), any protocol and port. `None` if the prefix length is too long.
    pub fn from_prefix(addr: IpAddr, prefix_len: u8) -> Option<Self> {
        let (start, end) = match addr {
            IpAddr::V4(a) => {
                let host_bits = 32u32.checked_sub(u32::from(prefix_len))?;
                let mask = u32::MAX.checked_shl(host_bits).unwrap_or(0);
                let base = u32::from(a) & mask;
                (IpAddr::V4(base.into()), IpAddr::V4((base | !mask).into()))
            }
            IpAddr::V6(a) => {
                let host_bits = 128u32.checked_sub(u32::from(prefix_len))?;
                let mask = u128::MAX.checked_shl(host_bits).unwrap_or(0);
                let base = u128::from(a) & mask;
                (IpAddr::V6(base.into()), IpAddr::V6((base | !mask).into()))
            }
        };
        Some(TrafficSelector {
            protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start,
            end,
        })
    }

    /// A single host address, any protocol and port.
    pub fn host(addr: IpAddr) -> Self {
        TrafficSelector {
            protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start: addr,
            end: addr,
        }
    }

    /// The TS Type code for this selector's family.
    pub fn ts_type(&self) -> u8 {
        match self.start {
            IpAddr::V4(_) => ts_type::IPV4_ADDR_RANGE,
            IpAddr::V6(_) => ts_type::IPV6_ADDR_RANGE,
        }
    }

    /// Whether the ranges are well-formed (same family, start <= end).
    pub fn is_valid(&self) -> bool {
        self.start_port <= self.end_port
            && match (self.start, self.end) {
                (IpAddr::V4(s), IpAddr::V4(e)) => s <= e,
                (IpAddr::V6(s), IpAddr::V6(e)) => s <= e,
                _ => false,
            }
    }

    /// Whether `addr` lies in the address range.
    pub fn contains_addr(&self, addr: IpAddr) -> bool {
        match (self.start, self.end, addr) {
            (IpAddr::V4(s), IpAddr::V4(e), IpAddr::V4(a)) => s <= a && a <= e,
            (IpAddr::V6(s), IpAddr::V6(e), IpAddr::V6(a)) => s <= a && a <= e,
            _ => false,
        }
    }

    /// The intersection of two selectors, if not empty.
    pub fn intersect(&self, other: &TrafficSelector) -> Option<TrafficSelector> {
        let protocol = match (self.protocol, other.protocol) {
            (0, p) | (p, 0) => p,
            (a, b) if a == b => a,
            _ => return None,
        };
        let start_port = self.start_port.max(other.start_port);
        let end_port = self.end_port.min(other.end_port);
        let (start, end) = match (self.start, self.end, other.start, other.end) {
            (IpAddr::V4(s1), IpAddr::V4(e1), IpAddr::V4(s2), IpAddr::V4(e2)) => {
                (IpAddr::V4(s1.max(s2)), IpAddr::V4(e1.min(e2)))
            }
            (IpAddr::V6(s1), IpAddr::V6(e1), IpAddr::V6(s2), IpAddr::V6(e2)) => {
                (IpAddr::V6(s1.max(s2)), IpAddr::V6(e1.min(e2)))
            }
            _ => return None,
        };
        let ts = TrafficSelector {
            protocol,
            start_port,
            end_port,
            start,
            end,
        };
        ts.is_valid().then_some(ts)
    }
}

/// Narrows `proposed` to `allowed`: every non-empty pairwise intersection, without duplicates, in
/// proposal order. An empty result means TS_UNACCEPTABLE.
pub fn narrow(proposed: &[TrafficSelector], allowed: &[TrafficSelector]) -> Vec<TrafficSelector> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for p in proposed.iter().filter(|p| p.is_valid()) {
        for a in allowed {
            if let Some(ts) = p.intersect(a) {
                if !out.contains(&ts) {
                    out.push(ts);
                }
            }
        }
    }
    out
}

/// Whether every selector in `answer` lies inside some selector of `proposed` (an initiator checks
/// that the responder only narrowed, §2.9).
pub fn is_narrowing_of(answer: &[TrafficSelector], proposed: &[TrafficSelector]) -> bool {
    !answer.is_empty()
        && answer.iter().all(|ts| {
            proposed
                .iter()
                .any(|p| p.intersect(ts).as_ref() == Some(ts))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(s: &str) -> TrafficSelector {
        let (addr, len) = s.split_once('/').unwrap();
        TrafficSelector::from_prefix(addr.parse().unwrap(), len.parse().unwrap()).unwrap()
    }

    #[test]
    fn client_any_narrowed_to_virtual_ip() {
        let vip = TrafficSelector::host("10.99.2.1".parse().unwrap());
        let narrowed = narrow(&[TrafficSelector::IPV4_ANY], &[vip]);
        assert_eq!(narrowed, vec![vip]);
        assert!(is_narrowing_of(&narrowed, &[TrafficSelector::IPV4_ANY]));
        assert!(!is_narrowing_of(&[TrafficSelector::IPV4_ANY], &narrowed));
        assert!(!is_narrowing_of(&[], &narrowed));
    }

    #[test]
    fn dual_stack_client_any_narrowed_to_both_virtual_ips() {
        // A client asking for IPv4 and IPv6 proposes both wildcards; the gateway allows its two
        // inner addresses (RFC 7296 §2.9), or only the IPv4 one when it has no IPv6 pool.
        let proposed = [TrafficSelector::IPV4_ANY, TrafficSelector::IPV6_ANY];
        let vip = TrafficSelector::host("10.99.2.1".parse().unwrap());
        let vip6 = TrafficSelector::host("2001:2:0:3::2".parse().unwrap());
        let narrowed = narrow(&proposed, &[vip, vip6]);
        assert_eq!(narrowed, vec![vip, vip6]);
        assert!(is_narrowing_of(&narrowed, &proposed));
        assert_eq!(narrow(&proposed, &[vip]), vec![vip]);
        let protected6 = prefix("2001:2:0:2::/64");
        assert_eq!(
            narrow(&proposed, &[prefix("10.99.1.0/24"), protected6]),
            vec![prefix("10.99.1.0/24"), protected6]
        );
    }

    #[test]
    fn intersections() {
        let net = prefix("10.99.1.0/24");
        assert_eq!(net.start, "10.99.1.0".parse::<IpAddr>().unwrap());
        assert_eq!(net.end, "10.99.1.255".parse::<IpAddr>().unwrap());
        assert_eq!(narrow(&[prefix("10.99.0.0/16")], &[net]), vec![net]);
        assert!(narrow(&[prefix("10.98.0.0/16")], &[net]).is_empty());
        assert!(narrow(&[TrafficSelector::IPV6_ANY], &[net]).is_empty());
        let sip = TrafficSelector {
            protocol: 17,
            start_port: 5060,
            end_port: 5060,
            ..net
        };
        let any_udp = TrafficSelector {
            protocol: 17,
            ..TrafficSelector::IPV4_ANY
        };
        assert_eq!(narrow(&[any_udp], &[sip]), vec![sip]);
        let tcp = TrafficSelector { protocol: 6, ..net };
        assert!(narrow(&[tcp], &[sip]).is_empty());
        assert_eq!(prefix("0.0.0.0/0"), TrafficSelector::IPV4_ANY);
        assert_eq!(prefix("::/0"), TrafficSelector::IPV6_ANY);
        assert!(TrafficSelector::from_prefix("10.0.0.0".parse().unwrap(), 33).is_none());
        let inverted = TrafficSelector {
            start: net.end,
            end: net.start,
            ..net
        };
        assert!(narrow(&[inverted], &[TrafficSelector::IPV4_ANY]).is_empty());
    }
}
