//! NAT detection hashes for the NAT_DETECTION_SOURCE_IP / NAT_DETECTION_DESTINATION_IP notifies
//! (<https://www.rfc-editor.org/rfc/rfc7296#section-2.23>).

use std::net::{IpAddr, SocketAddr};

use ring::digest;

/// Length of a NAT detection hash (SHA-1).
pub const NAT_DETECTION_HASH_LEN: usize = 20;

/// `SHA-1(SPIi | SPIr | IP | Port)`, the address being 4 octets for IPv4 and 16 for IPv6 and all
/// values in network order. In IKE_SA_INIT the request carries SPIr = 0.
pub fn nat_detection_hash(
    spi_i: u64,
    spi_r: u64,
    addr: SocketAddr,
) -> [u8; NAT_DETECTION_HASH_LEN] {
    let mut context = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    context.update(&spi_i.to_be_bytes());
    context.update(&spi_r.to_be_bytes());
    match addr.ip() {
        IpAddr::V4(ip) => context.update(&ip.octets()),
        IpAddr::V6(ip) => context.update(&ip.octets()),
    }
    context.update(&addr.port().to_be_bytes());
    let mut hash = [0u8; NAT_DETECTION_HASH_LEN];
    hash.copy_from_slice(context.finish().as_ref());
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_covers_every_input() {
        let base: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let reference = nat_detection_hash(1, 2, base);
        assert_ne!(reference, nat_detection_hash(3, 2, base));
        assert_ne!(reference, nat_detection_hash(1, 0, base));
        assert_ne!(
            reference,
            nat_detection_hash(1, 2, "192.0.2.2:500".parse().unwrap())
        );
        assert_ne!(
            reference,
            nat_detection_hash(1, 2, "192.0.2.1:4500".parse().unwrap())
        );
    }

    #[test]
    fn ipv6_hashes_the_16_address_octets() {
        let addr: SocketAddr = "[2001:db8::1]:4500".parse().unwrap();
        let mut input = Vec::new();
        input.extend_from_slice(&7u64.to_be_bytes());
        input.extend_from_slice(&9u64.to_be_bytes());
        input.extend_from_slice(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        input.extend_from_slice(&4500u16.to_be_bytes());
        let expected = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
        assert_eq!(nat_detection_hash(7, 9, addr).as_slice(), expected.as_ref());
    }
}
