//! Hostile input: every prefix of a valid ESP packet, random bytes, and packets with a valid
//! header in front of garbage are refused with an error (never a panic) and leave the SA able to
//! open the real packet afterwards; buffers without room are refused before a sequence number is
//! spent.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::time::Instant;

use common::{ipv4_packet, keys, ALGORITHMS};
use esp::{
    Error, InboundConfig, InboundSa, IpVersion, Opened, OutboundConfig, OutboundSa, PacketBuf,
    TrafficSelector,
};
use proptest::prelude::*;

const SPI: u32 = 0x0bad_cafe;

/// Any instant will do: the SA only records it.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

fn everyone() -> Vec<TrafficSelector> {
    vec![TrafficSelector::prefix([0, 0, 0, 0].into(), 0).unwrap()]
}

fn sa_pair(algorithm: esp::Algorithm, esn: bool) -> (OutboundSa, InboundSa) {
    let (encryption, integrity) = keys(algorithm, 42);
    let mut outbound = OutboundConfig::new(SPI, algorithm);
    outbound.esn = esn;
    let mut inbound = InboundConfig::new(SPI, algorithm, everyone());
    inbound.esn = esn;
    (
        OutboundSa::new(outbound, &encryption, &integrity).unwrap(),
        InboundSa::new(inbound, &encryption, &integrity).unwrap(),
    )
}

fn sealed(outbound: &OutboundSa, inner: &[u8]) -> Vec<u8> {
    let mut buf = PacketBuf::new(2048);
    buf.fill(64, inner).unwrap();
    outbound.seal(&mut buf).unwrap();
    buf.data().to_vec()
}

#[test]
fn every_prefix_of_a_valid_packet_is_refused() {
    for algorithm in ALGORITHMS {
        for esn in [false, true] {
            let (outbound, inbound) = sa_pair(algorithm, esn);
            let inner = ipv4_packet(77, [10, 0, 0, 1], [10, 0, 0, 2]);
            let packet = sealed(&outbound, &inner);
            let mut buf = PacketBuf::new(2048);
            for len in 0..packet.len() {
                buf.fill(0, &packet[..len]).unwrap();
                let result = inbound.open(now(), &mut buf);
                assert!(
                    matches!(result, Err(Error::Truncated | Error::BadIcv)),
                    "{algorithm:?} prefix {len}: {result:?}"
                );
            }
            buf.fill(0, &packet).unwrap();
            assert_eq!(
                inbound.open(now(), &mut buf),
                Ok(Opened::Packet(IpVersion::V4))
            );
            assert_eq!(buf.data(), inner.as_slice());
            let stats = inbound.stats();
            assert_eq!(stats.packets, 1);
            assert_eq!(
                stats.malformed + stats.icv_failures,
                packet.len() as u64,
                "every refusal counted"
            );
        }
    }
}

#[test]
fn seal_refuses_buffers_without_room_for_every_transform() {
    for algorithm in ALGORITHMS {
        let (outbound, _) = sa_pair(algorithm, false);
        let inner = ipv4_packet(100, [10, 0, 0, 1], [10, 0, 0, 2]);
        let front = algorithm.header_len();
        let back = sealed(&outbound, &inner).len() - front - inner.len();
        for (headroom, tailroom) in [(front - 1, back), (front, back - 1), (0, 0)] {
            let mut buf = PacketBuf::new(headroom + inner.len() + tailroom);
            buf.fill(headroom, &inner).unwrap();
            assert_eq!(outbound.seal(&mut buf), Err(Error::BufferTooSmall));
            assert_eq!(
                buf.data(),
                inner.as_slice(),
                "a refused buffer is untouched"
            );
        }
        let mut buf = PacketBuf::new(front + inner.len() + back);
        buf.fill(front, &inner).unwrap();
        assert_eq!(outbound.seal(&mut buf).unwrap().sequence_number, 2);
        assert_eq!((buf.headroom(), buf.tailroom()), (0, 0));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_open(
        algorithm_index in 0..ALGORITHMS.len(),
        esn in any::<bool>(),
        with_our_header in any::<bool>(),
        headroom in 0usize..64,
        mut bytes in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let algorithm = ALGORITHMS[algorithm_index];
        let (outbound, inbound) = sa_pair(algorithm, esn);
        if with_our_header && bytes.len() >= 8 {
            bytes[..4].copy_from_slice(&SPI.to_be_bytes());
            bytes[4..8].copy_from_slice(&1u32.to_be_bytes());
        }
        let mut buf = PacketBuf::new(headroom + bytes.len() + 8);
        buf.fill(headroom, &bytes).unwrap();
        prop_assert!(inbound.open(now(), &mut buf).is_err());
        // The garbage did not move the window: the real first packet still opens.
        let inner = ipv4_packet(40, [10, 0, 0, 1], [10, 0, 0, 2]);
        buf = PacketBuf::new(2048);
        buf.fill(0, &sealed(&outbound, &inner)).unwrap();
        prop_assert_eq!(inbound.open(now(), &mut buf), Ok(Opened::Packet(IpVersion::V4)));
    }
}
