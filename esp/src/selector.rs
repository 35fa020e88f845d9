//! Traffic selectors (address range, IP protocol, port range), and the inner-packet fields the
//! data path reads.
//!
//! An IKEv2 traffic selector names an address range, an IP protocol (0 = any) and a port range
//! (<https://www.rfc-editor.org/rfc/rfc7296#section-3.13.1>). Inbound, every decrypted packet
//! must match one of the peer's selectors on its source side and one of ours on its destination
//! side (<https://www.rfc-editor.org/rfc/rfc4301#section-5.2>), so a client cannot send with
//! another client's address or outside the ports it negotiated. Outbound, the packet's fields
//! pick the SA whose selectors match, the most specific first ([`crate::SaTable`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::Error;

/// The protocol number that means "any protocol" in a selector.
pub const ANY_PROTOCOL: u8 = 0;

/// An inclusive range of IPv4 or IPv6 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AddressRange {
    /// IPv4 addresses `start..=end`.
    V4 { start: Ipv4Addr, end: Ipv4Addr },
    /// IPv6 addresses `start..=end`.
    V6 { start: Ipv6Addr, end: Ipv6Addr },
}

/// An address range with an IP protocol (0 = any) and an inclusive port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    addresses: AddressRange,
    protocol: u8,
    start_port: u16,
    end_port: u16,
}

impl TrafficSelector {
    fn any_port(addresses: AddressRange) -> Self {
        Self {
            addresses,
            protocol: ANY_PROTOCOL,
            start_port: 0,
            end_port: u16::MAX,
        }
    }

    /// The range `start..=end`, any protocol and port; both of one family and `start <= end`.
    pub fn range(start: IpAddr, end: IpAddr) -> Result<Self, Error> {
        match (start, end) {
            (IpAddr::V4(start), IpAddr::V4(end)) if start <= end => {
                Ok(Self::any_port(AddressRange::V4 { start, end }))
            }
            (IpAddr::V6(start), IpAddr::V6(end)) if start <= end => {
                Ok(Self::any_port(AddressRange::V6 { start, end }))
            }
            _ => Err(Error::InvalidConfig(
                "selector bounds must be one family, start <= end",
            )),
        }
    }

    /// The addresses of `prefix/len`, any protocol and port.
    pub fn prefix(prefix: IpAddr, len: u8) -> Result<Self, Error> {
        match prefix {
            IpAddr::V4(address) if len <= 32 => {
                let host_bits = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                let start = u32::from(address) & !host_bits;
                Ok(Self::any_port(AddressRange::V4 {
                    start: Ipv4Addr::from(start),
                    end: Ipv4Addr::from(start | host_bits),
                }))
            }
            IpAddr::V6(address) if len <= 128 => {
                let host_bits = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                let start = u128::from(address) & !host_bits;
                Ok(Self::any_port(AddressRange::V6 {
                    start: Ipv6Addr::from(start),
                    end: Ipv6Addr::from(start | host_bits),
                }))
            }
            _ => Err(Error::InvalidConfig("prefix length too long")),
        }
    }

    /// The single address `address`, any protocol and port.
    pub fn host(address: IpAddr) -> Self {
        Self::any_port(match address {
            IpAddr::V4(address) => AddressRange::V4 {
                start: address,
                end: address,
            },
            IpAddr::V6(address) => AddressRange::V6 {
                start: address,
                end: address,
            },
        })
    }

    /// The same addresses, narrowed to IP protocol `protocol` (0 = any) and ports
    /// `start_port..=end_port` (for ICMP: type in the high octet, code in the low one).
    pub fn with_ports(self, protocol: u8, start_port: u16, end_port: u16) -> Result<Self, Error> {
        if start_port > end_port {
            return Err(Error::InvalidConfig(
                "selector ports must have start <= end",
            ));
        }
        Ok(Self {
            protocol,
            start_port,
            end_port,
            ..self
        })
    }

    /// Whether `address` lies in the address range (protocol and ports aside).
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.addresses, address) {
            (AddressRange::V4 { start, end }, IpAddr::V4(address)) => {
                (start..=end).contains(&address)
            }
            (AddressRange::V6 { start, end }, IpAddr::V6(address)) => {
                (start..=end).contains(&address)
            }
            _ => false,
        }
    }

    /// Whether one end of a packet (its address, protocol and port on this end; `None` = opaque)
    /// matches: opaque ports match only a selector that allows every port
    /// (<https://www.rfc-editor.org/rfc/rfc4301#section-4.4.1.3>).
    pub fn matches(&self, address: IpAddr, protocol: u8, port: Option<u16>) -> bool {
        self.contains(address)
            && (self.protocol == ANY_PROTOCOL || self.protocol == protocol)
            && (self.allows_all_ports()
                || port.is_some_and(|port| (self.start_port..=self.end_port).contains(&port)))
    }

    /// The single address of a one-address range.
    pub fn as_host(&self) -> Option<IpAddr> {
        match self.addresses {
            AddressRange::V4 { start, end } if start == end => Some(IpAddr::V4(start)),
            AddressRange::V6 { start, end } if start == end => Some(IpAddr::V6(start)),
            _ => None,
        }
    }

    /// Number of addresses minus one: smaller is more specific.
    pub fn span(&self) -> u128 {
        match self.addresses {
            AddressRange::V4 { start, end } => u128::from(u32::from(end) - u32::from(start)),
            AddressRange::V6 { start, end } => u128::from(end) - u128::from(start),
        }
    }

    /// The IP protocol (0 = any).
    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    /// The inclusive port range.
    pub fn ports(&self) -> (u16, u16) {
        (self.start_port, self.end_port)
    }

    /// Number of ports minus one: smaller is more specific.
    pub fn port_span(&self) -> u16 {
        self.end_port - self.start_port
    }

    /// Whether every port (and every ICMP type and code) is allowed.
    pub fn allows_all_ports(&self) -> bool {
        self.start_port == 0 && self.end_port == u16::MAX
    }
}

/// The IP version of an inner packet, from the tunnel's next header and the version nibble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// Offset and length of the source address in the IPv4 header.
const IPV4_SOURCE: usize = 12;
/// Offset of the destination address in the IPv4 header.
const IPV4_DESTINATION: usize = 16;
/// Minimum IPv4 header length.
const IPV4_MIN_HEADER: usize = 20;
/// Offset of the source address in the IPv6 header.
const IPV6_SOURCE: usize = 8;
/// Offset of the destination address in the IPv6 header.
const IPV6_DESTINATION: usize = 24;
/// IPv6 header length.
const IPV6_HEADER: usize = 40;

/// The version of an IP packet from its first nibble, checking that the fixed header is there.
pub fn ip_version(packet: &[u8]) -> Result<IpVersion, Error> {
    match packet.first().map(|byte| byte >> 4) {
        Some(4) if packet.len() >= IPV4_MIN_HEADER => Ok(IpVersion::V4),
        Some(6) if packet.len() >= IPV6_HEADER => Ok(IpVersion::V6),
        _ => Err(Error::MalformedInner),
    }
}

/// The source address of an IPv4 or IPv6 packet.
pub fn source_address(packet: &[u8]) -> Result<IpAddr, Error> {
    address_at(packet, IPV4_SOURCE, IPV6_SOURCE)
}

/// The destination address of an IPv4 or IPv6 packet.
pub fn destination_address(packet: &[u8]) -> Result<IpAddr, Error> {
    address_at(packet, IPV4_DESTINATION, IPV6_DESTINATION)
}

fn address_at(packet: &[u8], v4_offset: usize, v6_offset: usize) -> Result<IpAddr, Error> {
    match ip_version(packet)? {
        IpVersion::V4 => packet
            .get(v4_offset..v4_offset + 4)
            .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
            .map(IpAddr::from)
            .ok_or(Error::MalformedInner),
        IpVersion::V6 => packet
            .get(v6_offset..v6_offset + 16)
            .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
            .map(IpAddr::from)
            .ok_or(Error::MalformedInner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn prefixes_and_ranges_contain_what_they_should() {
        let net = TrafficSelector::prefix(v4("10.99.1.7"), 24).unwrap();
        assert!(net.contains(v4("10.99.1.0")));
        assert!(net.contains(v4("10.99.1.255")));
        assert!(!net.contains(v4("10.99.2.0")));
        assert!(!net.contains(v4("::1")));
        assert_eq!(net.span(), 255);
        let all = TrafficSelector::prefix(v4("1.2.3.4"), 0).unwrap();
        assert!(all.contains(v4("255.255.255.255")));
        let host = TrafficSelector::host(v4("10.99.2.1"));
        assert_eq!(host.as_host(), Some(v4("10.99.2.1")));
        assert!(host.contains(v4("10.99.2.1")));
        assert!(!host.contains(v4("10.99.2.2")));
        let six = TrafficSelector::prefix(v4("2001:db8::1"), 64).unwrap();
        assert!(six.contains(v4("2001:db8::ffff")));
        assert!(!six.contains(v4("2001:db9::")));
        assert!(TrafficSelector::prefix(v4("1.2.3.4"), 33).is_err());
        assert!(TrafficSelector::range(v4("1.2.3.4"), v4("1.2.3.3")).is_err());
        assert!(TrafficSelector::range(v4("1.2.3.4"), v4("::1")).is_err());
    }

    #[test]
    fn protocol_and_ports_narrow_a_selector() {
        let sip = TrafficSelector::host(v4("10.99.1.5"))
            .with_ports(17, 5060, 5060)
            .unwrap();
        assert_eq!(
            (sip.protocol(), sip.ports(), sip.port_span()),
            (17, (5060, 5060), 0)
        );
        assert!(sip.matches(v4("10.99.1.5"), 17, Some(5060)));
        assert!(!sip.matches(v4("10.99.1.5"), 17, Some(5061)));
        assert!(!sip.matches(v4("10.99.1.5"), 6, Some(5060)));
        assert!(!sip.matches(v4("10.99.1.6"), 17, Some(5060)));
        assert!(
            !sip.matches(v4("10.99.1.5"), 17, None),
            "opaque ports need an any-port selector"
        );
        let rtp = TrafficSelector::prefix(v4("10.99.1.0"), 24)
            .unwrap()
            .with_ports(17, 10000, 20000)
            .unwrap();
        assert!(rtp.matches(v4("10.99.1.9"), 17, Some(10000)));
        assert!(rtp.matches(v4("10.99.1.9"), 17, Some(20000)));
        assert!(!rtp.matches(v4("10.99.1.9"), 17, Some(9999)));
        assert!(!rtp.matches(v4("10.99.1.9"), 17, Some(20001)));
        let any_udp = TrafficSelector::host(v4("10.99.1.5"))
            .with_ports(17, 0, u16::MAX)
            .unwrap();
        assert!(any_udp.allows_all_ports());
        assert!(any_udp.matches(v4("10.99.1.5"), 17, None));
        assert!(!any_udp.matches(v4("10.99.1.5"), 1, None));
        let anything = TrafficSelector::host(v4("10.99.1.5"));
        assert!(anything.matches(v4("10.99.1.5"), 47, None));
        assert!(TrafficSelector::host(v4("10.99.1.5"))
            .with_ports(17, 2, 1)
            .is_err());
    }

    #[test]
    fn reads_addresses_of_both_versions() {
        let mut v4_packet = [0u8; 20];
        v4_packet[0] = 0x45;
        v4_packet[12..16].copy_from_slice(&[10, 0, 0, 1]);
        v4_packet[16..20].copy_from_slice(&[10, 0, 0, 2]);
        assert_eq!(source_address(&v4_packet), Ok(v4("10.0.0.1")));
        assert_eq!(destination_address(&v4_packet), Ok(v4("10.0.0.2")));
        let mut v6_packet = [0u8; 40];
        v6_packet[0] = 0x60;
        v6_packet[23] = 1;
        v6_packet[39] = 2;
        assert_eq!(source_address(&v6_packet), Ok(v4("::1")));
        assert_eq!(destination_address(&v6_packet), Ok(v4("::2")));
        for len in 0..40 {
            assert_eq!(
                source_address(&v6_packet[..len]),
                Err(Error::MalformedInner)
            );
        }
        for len in 0..20 {
            assert_eq!(ip_version(&v4_packet[..len]), Err(Error::MalformedInner));
        }
        v4_packet[0] = 0x55;
        assert_eq!(ip_version(&v4_packet), Err(Error::MalformedInner));
    }
}
