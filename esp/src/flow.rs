//! The selector fields of an inner packet: addresses, next-layer protocol and ports, read from
//! the IPv4/IPv6 header in place (no allocation), for matching against traffic selectors
//! (<https://www.rfc-editor.org/rfc/rfc4301#section-4.4.1.1>).
//!
//! Ports are `None` ("OPAQUE") when the packet does not carry them where a selector could read
//! them: a non-initial fragment, a protocol without ports, or a transport header that is cut off
//! or lies behind more IPv6 extension headers than we walk. Such a packet matches only selectors
//! that allow every port. This is the stateless handling of non-initial fragments of
//! <https://www.rfc-editor.org/rfc/rfc4301#section-4.4.1.3> and section 7.1: fragments of a
//! port-specific flow go through an SA whose selectors allow any port, or are dropped; they are
//! never sent down an SA whose ports they might not match.
//!
//! ICMP and ICMPv6 carry no ports; their 16-bit message type (high octet) and code (low octet)
//! take the place of both ports, as IKEv2 encodes them in a selector's port range
//! (<https://www.rfc-editor.org/rfc/rfc4301#section-4.4.1.1>,
//! <https://www.rfc-editor.org/rfc/rfc7296#section-3.13.1>).

use std::net::IpAddr;

use crate::selector::{destination_address, ip_version, source_address, IpVersion};
use crate::Error;

/// IP protocol numbers whose first four transport octets are the source and destination ports.
const PORTED_PROTOCOLS: [u8; 4] = [
    6,   // TCP
    17,  // UDP
    132, // SCTP
    136, // UDP-Lite
];
/// ICMP for IPv4.
const ICMP: u8 = 1;
/// ICMP for IPv6.
const ICMPV6: u8 = 58;
/// IPv6 extension headers with the generic (next header, length in 8-octet units - 1) layout.
const IPV6_GENERIC_EXTENSIONS: [u8; 3] = [
    0,  // Hop-by-Hop Options
    43, // Routing
    60, // Destination Options
];
/// The IPv6 Fragment header.
const IPV6_FRAGMENT: u8 = 44;
/// The Authentication Header (length in 4-octet units - 2).
const AUTHENTICATION_HEADER: u8 = 51;
/// How many IPv6 extension headers we walk before calling the ports opaque.
const MAX_IPV6_EXTENSIONS: usize = 8;
/// Length of the fixed IPv6 header.
const IPV6_HEADER: usize = 40;

/// The fields of one inner packet that traffic selectors match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Inner source address.
    pub source: IpAddr,
    /// Inner destination address.
    pub destination: IpAddr,
    /// Next-layer protocol (after IPv6 extension headers).
    pub protocol: u8,
    /// Source port (ICMP: type and code); `None` when opaque.
    pub source_port: Option<u16>,
    /// Destination port (ICMP: type and code); `None` when opaque.
    pub destination_port: Option<u16>,
}

impl Flow {
    /// Reads the selector fields of an IPv4 or IPv6 packet. Only a missing fixed IP header is an
    /// error; whatever lies beyond it that cannot be read makes the ports opaque.
    pub fn of(packet: &[u8]) -> Result<Self, Error> {
        let source = source_address(packet)?;
        let destination = destination_address(packet)?;
        let (protocol, transport) = match ip_version(packet)? {
            IpVersion::V4 => ipv4_transport(packet),
            IpVersion::V6 => ipv6_transport(packet),
        };
        let ports = transport.and_then(|at| ports(protocol, packet.get(at..)?));
        Ok(Self {
            source,
            destination,
            protocol,
            source_port: ports.map(|(source, _)| source),
            destination_port: ports.map(|(_, destination)| destination),
        })
    }
}

/// The protocol and, for an unfragmented packet or a first fragment, the transport offset.
fn ipv4_transport(packet: &[u8]) -> (u8, Option<usize>) {
    let byte = |at: usize| packet.get(at).copied().unwrap_or(0);
    let protocol = byte(9);
    let header_len = usize::from(byte(0) & 0x0f) * 4;
    let fragment_offset = u16::from_be_bytes([byte(6) & 0x1f, byte(7)]);
    let transport = (fragment_offset == 0 && header_len >= 20).then_some(header_len);
    (protocol, transport)
}

/// The upper-layer protocol after the extension headers, and its offset unless opaque.
fn ipv6_transport(packet: &[u8]) -> (u8, Option<usize>) {
    let mut next = packet.get(6).copied().unwrap_or(0);
    let mut at = IPV6_HEADER;
    for _ in 0..MAX_IPV6_EXTENSIONS {
        let (Some(&following), Some(&length)) = (packet.get(at), packet.get(at + 1)) else {
            return (next, None);
        };
        match next {
            n if IPV6_GENERIC_EXTENSIONS.contains(&n) => at += (usize::from(length) + 1) * 8,
            AUTHENTICATION_HEADER => at += (usize::from(length) + 2) * 4,
            IPV6_FRAGMENT => {
                let offset_bits = packet
                    .get(at + 2..at + 4)
                    .and_then(|b| <[u8; 2]>::try_from(b).ok());
                if offset_bits.is_none_or(|b| u16::from_be_bytes(b) >> 3 != 0) {
                    return (following, None);
                }
                at += 8;
            }
            _ => return (next, Some(at)),
        }
        next = following;
    }
    if IPV6_GENERIC_EXTENSIONS.contains(&next)
        || next == AUTHENTICATION_HEADER
        || next == IPV6_FRAGMENT
    {
        (next, None)
    } else {
        (next, Some(at))
    }
}

/// Source and destination "ports" of a transport header, if the protocol has them.
fn ports(protocol: u8, transport: &[u8]) -> Option<(u16, u16)> {
    if PORTED_PROTOCOLS.contains(&protocol) {
        let bytes = transport.get(..4)?;
        let source = u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]);
        let destination = u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]);
        Some((source, destination))
    } else if protocol == ICMP || protocol == ICMPV6 {
        let type_and_code = u16::from_be_bytes([*transport.first()?, *transport.get(1)?]);
        Some((type_and_code, type_and_code))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(protocol: u8, transport: &[u8]) -> Vec<u8> {
        let mut packet = vec![0u8; 20];
        packet[0] = 0x45;
        packet[9] = protocol;
        packet[12..16].copy_from_slice(&[10, 0, 0, 1]);
        packet[16..20].copy_from_slice(&[10, 0, 0, 2]);
        packet.extend_from_slice(transport);
        packet
    }

    fn ipv6(next: u8, rest: &[u8]) -> Vec<u8> {
        let mut packet = vec![0u8; 40];
        packet[0] = 0x60;
        packet[6] = next;
        packet[23] = 1;
        packet[39] = 2;
        packet.extend_from_slice(rest);
        packet
    }

    #[test]
    fn reads_udp_ports_and_icmp_type_code_of_ipv4() {
        let flow = Flow::of(&ipv4(17, &[0x13, 0xc4, 0x27, 0x10, 0, 8, 0, 0])).unwrap();
        assert_eq!(flow.source, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(flow.destination, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(flow.protocol, 17);
        assert_eq!(flow.source_port, Some(5060));
        assert_eq!(flow.destination_port, Some(10000));
        let ping = Flow::of(&ipv4(1, &[8, 0, 0, 0])).unwrap();
        assert_eq!(ping.source_port, Some(0x0800));
        assert_eq!(ping.destination_port, Some(0x0800));
        let gre = Flow::of(&ipv4(47, &[0; 8])).unwrap();
        assert_eq!((gre.protocol, gre.source_port), (47, None));
        let cut = Flow::of(&ipv4(17, &[0x13, 0xc4, 0x27])).unwrap();
        assert_eq!(cut.destination_port, None);
    }

    #[test]
    fn non_initial_ipv4_fragments_have_opaque_ports() {
        let mut first = ipv4(17, &[0x13, 0xc4, 0x27, 0x10]);
        first[6] = 0x20; // more fragments, offset 0
        assert_eq!(Flow::of(&first).unwrap().source_port, Some(5060));
        let mut later = first.clone();
        later[7] = 1; // offset 8 octets
        let flow = Flow::of(&later).unwrap();
        assert_eq!((flow.protocol, flow.source_port), (17, None));
        let mut options = ipv4(17, &[0; 4]);
        options[0] = 0x46; // 24-octet header: the ports lie 4 octets further
        options.extend_from_slice(&[0x13, 0xc4, 0x27, 0x10]);
        assert_eq!(Flow::of(&options).unwrap().destination_port, Some(10000));
    }

    #[test]
    fn walks_ipv6_extension_headers() {
        let udp = [0x13, 0xc4, 0x27, 0x10, 0, 8, 0, 0];
        let plain = Flow::of(&ipv6(17, &udp)).unwrap();
        assert_eq!(plain.source_port, Some(5060));
        let mut hop_by_hop = vec![17, 0, 0, 0, 0, 0, 0, 0];
        hop_by_hop.extend_from_slice(&udp);
        let flow = Flow::of(&ipv6(0, &hop_by_hop)).unwrap();
        assert_eq!((flow.protocol, flow.destination_port), (17, Some(10000)));
        let mut first_fragment = vec![17, 0, 0, 1, 0, 0, 0, 7];
        first_fragment.extend_from_slice(&udp);
        assert_eq!(
            Flow::of(&ipv6(44, &first_fragment)).unwrap().source_port,
            Some(5060)
        );
        let mut later_fragment = vec![17, 0, 0, 0x18, 0, 0, 0, 7];
        later_fragment.extend_from_slice(&udp);
        let flow = Flow::of(&ipv6(44, &later_fragment)).unwrap();
        assert_eq!((flow.protocol, flow.source_port), (17, None));
        let truncated = Flow::of(&ipv6(0, &[17])).unwrap();
        assert_eq!(truncated.source_port, None);
        let ping6 = Flow::of(&ipv6(58, &[128, 0, 0, 0])).unwrap();
        assert_eq!(ping6.destination_port, Some(0x8000));
        let endless: Vec<u8> = std::iter::repeat_n([60, 0, 0, 0, 0, 0, 0, 0], 20)
            .flatten()
            .collect();
        assert_eq!(Flow::of(&ipv6(60, &endless)).unwrap().source_port, None);
        assert_eq!(Flow::of(&[0x45; 10]), Err(Error::MalformedInner));
    }
}
