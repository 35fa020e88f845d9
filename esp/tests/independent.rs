//! Our sealed packets open with an independent implementation (RustCrypto), and packets built
//! by it open with ours, for every transform, with and without ESN, IPv4 and IPv6.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::collections::HashSet;
use std::time::Instant;

use common::{ipv4_packet, ipv6_packet, keys, reference_open, ReferenceSealer, ALGORITHMS};
use esp::{
    Algorithm, Error, InboundConfig, InboundSa, IpVersion, Opened, OutboundConfig, OutboundSa,
    PacketBuf, TrafficSelector, SEAL_HEADROOM, SEAL_TAILROOM,
};

const SPI: u32 = 0xc0ff_ee01;
const CLIENT_V4: [u8; 4] = [10, 99, 2, 1];
const SERVER_V4: [u8; 4] = [10, 99, 1, 1];
const CLIENT_V6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const SERVER_V6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// Any instant will do: the SA only records it.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

fn client_selectors() -> Vec<TrafficSelector> {
    vec![
        TrafficSelector::host(CLIENT_V4.into()),
        TrafficSelector::host(CLIENT_V6.into()),
    ]
}

/// An inbound SA (no ESN) whose traffic comes from the client, with the keys it was made with.
struct ClientSa {
    sa: InboundSa,
    algorithm: Algorithm,
    encryption: Vec<u8>,
    integrity: Vec<u8>,
}

impl ClientSa {
    /// Keys from `seed` and the SA.
    fn new(algorithm: Algorithm, seed: u8) -> Self {
        let (encryption, integrity) = keys(algorithm, seed);
        let sa = InboundSa::new(
            InboundConfig::new(SPI, algorithm, client_selectors()),
            &encryption,
            &integrity,
        )
        .unwrap();
        ClientSa {
            sa,
            algorithm,
            encryption,
            integrity,
        }
    }

    /// The reference sender of this SA, using `iv` for every packet.
    fn sealer<'a>(&'a self, iv: &'a [u8]) -> ReferenceSealer<'a> {
        ReferenceSealer {
            algorithm: self.algorithm,
            encryption_key: &self.encryption,
            integrity_key: &self.integrity,
            spi: SPI,
            esn: false,
            iv,
        }
    }
}

fn inner_packets() -> Vec<(Vec<u8>, u8)> {
    let mut packets = Vec::new();
    for len in [20, 21, 22, 23, 24, 40, 63, 64, 100, 1400, 1500] {
        packets.push((ipv4_packet(len, CLIENT_V4, SERVER_V4), 4));
    }
    for len in [40, 41, 57, 1280, 1500] {
        packets.push((ipv6_packet(len, CLIENT_V6, SERVER_V6), 41));
    }
    packets
}

#[test]
fn our_sealed_packets_open_with_rustcrypto() {
    for algorithm in ALGORITHMS {
        for esn in [false, true] {
            let (encryption, integrity) = keys(algorithm, 3);
            let mut config = OutboundConfig::new(SPI, algorithm);
            config.esn = esn;
            let sa = OutboundSa::new(config, &encryption, &integrity).unwrap();
            let mut ivs = HashSet::new();
            for (index, (inner, next_header)) in inner_packets().into_iter().enumerate() {
                let mut buf = PacketBuf::new(SEAL_HEADROOM + inner.len() + SEAL_TAILROOM);
                buf.fill(SEAL_HEADROOM, &inner).unwrap();
                let sealed = sa.seal(&mut buf).unwrap();
                assert_eq!(sealed.sequence_number, index as u64 + 1);
                assert!(buf.headroom() >= esp::MAX_TRANSPORT_PREFIX);
                let packet = buf.data();
                assert_eq!(packet.len() % 4, 0, "RFC 4303 2.4: 4-byte alignment");
                let high = esn.then_some(0);
                let opened = reference_open(algorithm, &encryption, &integrity, high, packet)
                    .unwrap_or_else(|| panic!("{algorithm:?} esn={esn} len={}", inner.len()));
                assert_eq!(opened.spi, SPI);
                assert_eq!(opened.sequence_low, index as u32 + 1);
                assert_eq!(opened.inner, inner);
                assert_eq!(opened.next_header, next_header);
                assert!(usize::from(opened.pad_length) < usize::from(algorithm.block_len()));
                if algorithm.iv_len() == 16 {
                    // RFC 3602 2.1: a CBC IV must not be predictable, so not the counter itself.
                    let counter = (index as u64 + 1).to_be_bytes();
                    assert_ne!(opened.iv[..8], counter);
                    assert_ne!(opened.iv[8..], [0; 8]);
                } else {
                    // AEAD IVs are the 64-bit sequence number (RFC 4106 3.1).
                    assert_eq!(opened.iv, (index as u64 + 1).to_be_bytes());
                }
                assert!(ivs.insert(opened.iv), "IVs never repeat");
                // One flipped bit anywhere and the reference refuses it.
                let mut tampered = packet.to_vec();
                tampered[packet.len() / 2] ^= 0x40;
                assert!(
                    reference_open(algorithm, &encryption, &integrity, high, &tampered).is_none()
                );
            }
            assert_eq!(sa.stats().packets, inner_packets().len() as u64);
        }
    }
}

#[test]
fn rustcrypto_sealed_packets_open_with_ours() {
    for algorithm in ALGORITHMS {
        for esn in [false, true] {
            let (encryption, integrity) = keys(algorithm, 9);
            let mut config = InboundConfig::new(SPI, algorithm, client_selectors());
            config.esn = esn;
            let sa = InboundSa::new(config, &encryption, &integrity).unwrap();
            let iv: Vec<u8> = (0..algorithm.iv_len() as u8).map(|i| i ^ 0x5a).collect();
            let sealer = ReferenceSealer {
                algorithm,
                encryption_key: &encryption,
                integrity_key: &integrity,
                spi: SPI,
                esn,
                iv: &iv,
            };
            for (sequence, (inner, next_header)) in (1u64..).zip(inner_packets()) {
                let packet = sealer.seal(sequence, &inner, next_header);
                let mut buf = PacketBuf::new(2048);
                buf.fill(7, &packet).unwrap();
                let version = if next_header == 4 {
                    IpVersion::V4
                } else {
                    IpVersion::V6
                };
                assert_eq!(sa.open(now(), &mut buf), Ok(Opened::Packet(version)));
                assert_eq!(buf.data(), inner.as_slice(), "{algorithm:?} esn={esn}");
            }
        }
    }
}

#[test]
fn esn_high_bits_are_authenticated_and_inferred() {
    for algorithm in ALGORITHMS {
        let (encryption, integrity) = keys(algorithm, 5);
        let mut config = InboundConfig::new(SPI, algorithm, client_selectors());
        config.esn = true;
        let sa = InboundSa::new(config, &encryption, &integrity).unwrap();
        let iv = vec![0x33; algorithm.iv_len()];
        let inner = ipv4_packet(60, CLIENT_V4, SERVER_V4);
        let sealer = ReferenceSealer {
            algorithm,
            encryption_key: &encryption,
            integrity_key: &integrity,
            spi: SPI,
            esn: true,
            iv: &iv,
        };
        let seal = |sequence: u64| sealer.seal(sequence, &inner, 4);
        let mut buf = PacketBuf::new(2048);
        // Just below the first wrap of the low half, then just after it: the receiver must
        // infer high = 1 from the window.
        for sequence in [0xffff_fff0, 0xffff_ffff, 0x1_0000_0000, 0x1_0000_0005] {
            buf.fill(0, &seal(sequence)).unwrap();
            assert_eq!(
                sa.open(now(), &mut buf),
                Ok(Opened::Packet(IpVersion::V4)),
                "{algorithm:?} {sequence:#x}"
            );
        }
        // A late packet from before the wrap still opens (it is inside the window)...
        buf.fill(0, &seal(0xffff_fff5)).unwrap();
        assert_eq!(sa.open(now(), &mut buf), Ok(Opened::Packet(IpVersion::V4)));
        // ...but a sender that kept high = 0 after the wrap fails the ICV.
        let mut config = InboundConfig::new(SPI, algorithm, client_selectors());
        config.esn = true;
        let fresh = InboundSa::new(config, &encryption, &integrity).unwrap();
        buf.fill(0, &seal(0x1_0000_0007)).unwrap();
        assert_eq!(fresh.open(now(), &mut buf), Err(Error::BadIcv));
    }
}

#[test]
fn dummy_packets_are_dropped_quietly_and_unknown_next_headers_refused() {
    for algorithm in ALGORITHMS {
        let client = ClientSa::new(algorithm, 1);
        let sa = &client.sa;
        let iv = vec![0x11; algorithm.iv_len()];
        let sealer = client.sealer(&iv);
        let mut buf = PacketBuf::new(2048);
        for (sequence, case, payload, next_header, expected) in [
            (1, "dummy", vec![0xee; 33], 59, Ok(Opened::Dummy)),
            (
                2,
                "UDP next header",
                vec![0xee; 33],
                17,
                Err(Error::UnsupportedNextHeader(17)),
            ),
            (
                3,
                "IPv4 packet labelled IPv6",
                ipv4_packet(40, CLIENT_V4, SERVER_V4),
                41,
                Err(Error::MalformedInner),
            ),
            (
                4,
                "spoofed inner source",
                ipv4_packet(40, [10, 99, 2, 2], SERVER_V4),
                4,
                Err(Error::PolicyViolation),
            ),
        ] {
            let packet = sealer.seal(sequence, &payload, next_header);
            buf.fill(0, &packet).unwrap();
            assert_eq!(sa.open(now(), &mut buf), expected, "{algorithm:?}: {case}");
        }
        let stats = sa.stats();
        assert_eq!(stats.packets, 4, "all four were authentic");
        assert_eq!(stats.policy_drops, 1);
        assert_eq!(stats.malformed, 2);
    }
}

#[test]
fn bad_padding_is_refused_after_the_icv() {
    for algorithm in ALGORITHMS {
        let client = ClientSa::new(algorithm, 2);
        let sa = &client.sa;
        let iv = vec![0x22; algorithm.iv_len()];
        let block = usize::from(algorithm.block_len());
        let inner = ipv4_packet(8 * block - 6, CLIENT_V4, SERVER_V4);
        // Pad length longer than the payload.
        let mut too_long = inner.clone();
        too_long.extend_from_slice(&[1, 2, 3, 4, 255, 4]);
        // Padding that is not 1, 2, 3, 4.
        let mut wrong_pattern = inner.clone();
        wrong_pattern.extend_from_slice(&[1, 2, 4, 3, 4, 4]);
        // The same with correct padding opens, so the two above fail only for their padding.
        let mut correct = inner.clone();
        correct.extend_from_slice(&[1, 2, 3, 4, 4, 4]);
        let mut buf = PacketBuf::new(2048);
        for (sequence, plaintext, expected) in [
            (1, too_long, Err(Error::BadPadding)),
            (2, wrong_pattern, Err(Error::BadPadding)),
            (3, correct, Ok(Opened::Packet(IpVersion::V4))),
        ] {
            let packet = client.sealer(&iv).seal_plaintext(sequence, plaintext);
            buf.fill(0, &packet).unwrap();
            assert_eq!(sa.open(now(), &mut buf), expected, "{algorithm:?}");
        }
        assert_eq!(sa.stats().padding_errors, 2);
        assert_eq!(buf.data(), inner.as_slice());
    }
}
