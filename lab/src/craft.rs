//! Hand-made packets for negative tests: an IPv4/UDP datagram with any source address, sent
//! through a raw socket inside a lab namespace. The kernel routes it like any other packet (into
//! a client's TUN, for instance), which is how a test checks that the gateway drops and counts
//! inner packets whose source is not the client's virtual IP.

use std::net::{SocketAddr, SocketAddrV4};

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::{Error, Result};
use crate::topology::{Host, Lab};

/// Largest UDP payload [`Lab::send_spoofed_udp`] builds (fits one unfragmented IPv4 packet).
pub const MAX_SPOOFED_PAYLOAD: usize = 65_507;

/// The Internet checksum (<https://www.rfc-editor.org/rfc/rfc1071>) over `parts`, concatenated.
fn internet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for byte in parts.iter().flat_map(|p| p.iter().copied()) {
        match odd.take() {
            Some(high) => sum += u32::from(u16::from_be_bytes([high, byte])),
            None => odd = Some(byte),
        }
    }
    if let Some(high) = odd {
        sum += u32::from(u16::from_be_bytes([high, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 packet carrying one UDP datagram from `src` to `dst`, with valid checksums
/// (<https://www.rfc-editor.org/rfc/rfc791#section-3.1>, <https://www.rfc-editor.org/rfc/rfc768>).
pub fn ipv4_udp_packet(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Result<Vec<u8>> {
    if payload.len() > MAX_SPOOFED_PAYLOAD {
        return Err(Error::Invalid(format!(
            "UDP payload of {} bytes",
            payload.len()
        )));
    }
    let udp_len = u16::try_from(8 + payload.len()).map_err(|e| Error::Invalid(e.to_string()))?;
    let total_len = udp_len
        .checked_add(20)
        .ok_or_else(|| Error::Invalid("packet too long".into()))?;
    let mut udp = Vec::with_capacity(usize::from(udp_len));
    udp.extend_from_slice(&src.port().to_be_bytes());
    udp.extend_from_slice(&dst.port().to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let pseudo = [
        &src.ip().octets()[..],
        &dst.ip().octets()[..],
        &[0, 17],
        &udp_len.to_be_bytes()[..],
    ]
    .concat();
    let udp_checksum = match internet_checksum(&[&pseudo, &udp]) {
        0 => 0xffff,
        c => c,
    };
    udp[6..8].copy_from_slice(&udp_checksum.to_be_bytes());
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total_len.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&src.ip().octets());
    ip.extend_from_slice(&dst.ip().octets());
    let header_checksum = internet_checksum(&[&ip]);
    ip[10..12].copy_from_slice(&header_checksum.to_be_bytes());
    ip.extend_from_slice(&udp);
    Ok(ip)
}

impl Lab {
    /// Sends one UDP datagram from `host` with the forged source `src` to `dst`, through a raw
    /// socket (`IPPROTO_RAW`: the packet is sent exactly as built, routed by `dst`).
    pub fn send_spoofed_udp(
        &self,
        host: Host,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        payload: &[u8],
    ) -> Result<()> {
        let packet = ipv4_udp_packet(src, dst, payload)?;
        let socket = self
            .run_in(host, || {
                Socket::new(
                    Domain::IPV4,
                    Type::RAW,
                    Some(Protocol::from(libc::IPPROTO_RAW)),
                )
            })?
            .map_err(|e| Error::io(format!("raw socket in {host}"), e))?;
        socket
            .send_to(&packet, &SocketAddr::V4(dst).into())
            .map_err(|e| Error::io(format!("send forged packet {src} -> {dst} from {host}"), e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_verify_to_zero_and_fields_are_placed() {
        let src: SocketAddrV4 = "198.18.1.66:4500".parse().unwrap();
        let dst: SocketAddrV4 = "198.18.0.130:7".parse().unwrap();
        let p = ipv4_udp_packet(src, dst, b"spoof").unwrap();
        assert_eq!(p.len(), 20 + 8 + 5);
        assert_eq!(internet_checksum(&[&p[..20]]), 0, "IPv4 header checksum");
        let pseudo = [&p[12..20], &[0, 17], &p[24..26]].concat();
        assert_eq!(internet_checksum(&[&pseudo, &p[20..]]), 0, "UDP checksum");
        assert_eq!(&p[12..16], &[198, 18, 1, 66]);
        assert_eq!(u16::from_be_bytes([p[22], p[23]]), 7);
        assert!(ipv4_udp_packet(src, dst, &vec![0; MAX_SPOOFED_PAYLOAD + 1]).is_err());
    }

    #[test]
    fn rfc1071_example_sum() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (one's complement 220d).
        assert_eq!(
            internet_checksum(&[&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]]),
            0x220d
        );
    }
}
