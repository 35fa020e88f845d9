//! Known-answer tests: ESP packets captured between two strongSwan 5.9.8 daemons
//! (AES-GCM-16-256, ESP-in-UDP) open with the keys strongSwan logged, and carry the ICMP echo
//! packets of a ping between the client's virtual IP and the gateway's protected subnet.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::time::Instant;

use esp::{
    Algorithm, Error, InboundConfig, InboundSa, IpVersion, Opened, PacketBuf, TrafficSelector,
};

struct CapturedSa {
    spi: u32,
    key: Vec<u8>,
    packets: Vec<Vec<u8>>,
}

fn captured() -> Vec<CapturedSa> {
    let text = include_str!("data/strongswan-5.9.8-aes256gcm.txt");
    let mut sas: Vec<CapturedSa> = Vec::new();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["sa", spi, key] => sas.push(CapturedSa {
                spi: u32::from_str_radix(spi, 16).unwrap(),
                key: hex::decode(key).unwrap(),
                packets: Vec::new(),
            }),
            ["packet", bytes] => sas
                .last_mut()
                .unwrap()
                .packets
                .push(hex::decode(bytes).unwrap()),
            other => panic!("bad test data line {other:?}"),
        }
    }
    sas
}

/// Any instant will do: the SA only records it.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

fn address(text: &str) -> std::net::IpAddr {
    text.parse().unwrap()
}

/// The peer selectors each direction was negotiated with: the client's virtual IP, and the
/// gateway's protected subnet.
fn peer_selectors(spi: u32) -> Vec<TrafficSelector> {
    match spi {
        0x1e40_a4ef => vec![TrafficSelector::host(address("10.99.2.1"))],
        _ => vec![TrafficSelector::prefix(address("10.99.1.0"), 24).unwrap()],
    }
}

fn open_sa(captured: &CapturedSa) -> InboundSa {
    let config = InboundConfig::new(
        captured.spi,
        Algorithm::AesGcm256,
        peer_selectors(captured.spi),
    );
    InboundSa::new(config, &captured.key, &[]).unwrap()
}

#[test]
fn strongswan_packets_open_to_the_ping() {
    let now = now();
    let sas = captured();
    assert_eq!(sas.len(), 2);
    for captured in &sas {
        let sa = open_sa(captured);
        assert_eq!(captured.packets.len(), 2);
        for (index, packet) in captured.packets.iter().enumerate() {
            let mut buf = PacketBuf::new(2048);
            buf.fill(4, packet).unwrap();
            assert_eq!(sa.open(now, &mut buf), Ok(Opened::Packet(IpVersion::V4)));
            let inner = buf.data();
            // IPv4, header length 20, total length 84 = the whole inner packet.
            assert_eq!(inner[0], 0x45);
            assert_eq!(u16::from_be_bytes([inner[2], inner[3]]), 84);
            assert_eq!(inner.len(), 84);
            assert_eq!(inner[9], 1, "ICMP");
            let (source, destination, icmp_type) = if captured.spi == 0x1e40_a4ef {
                ([10, 99, 2, 1], [10, 99, 1, 1], 8)
            } else {
                ([10, 99, 1, 1], [10, 99, 2, 1], 0)
            };
            assert_eq!(inner[12..16], source);
            assert_eq!(inner[16..20], destination);
            assert_eq!(
                inner[20], icmp_type,
                "echo request one way, reply the other"
            );
            // ping's payload pattern 0x10, 0x11, ... after the 16-byte timestamp.
            assert_eq!(&inner[44..48], &[0x10, 0x11, 0x12, 0x13]);
            let stats = sa.stats();
            assert_eq!(stats.packets, index as u64 + 1);
            assert_eq!(stats.bytes, 84 * (index as u64 + 1), "inner bytes");
            assert_eq!(stats.last_packet, Some(now));
        }
    }
}

#[test]
fn strongswan_packets_are_refused_when_replayed_or_tampered() {
    let now = now();
    let sas = captured();
    let captured = &sas[0];
    let sa = open_sa(captured);
    let mut buf = PacketBuf::new(2048);
    buf.fill(0, &captured.packets[0]).unwrap();
    assert!(sa.open(now, &mut buf).is_ok());
    buf.fill(0, &captured.packets[0]).unwrap();
    assert_eq!(sa.open(now, &mut buf), Err(Error::Replay));

    for byte in 4..captured.packets[1].len() {
        let mut tampered = captured.packets[1].clone();
        tampered[byte] ^= 0x01;
        buf.fill(0, &tampered).unwrap();
        let result = sa.open(now, &mut buf);
        // The sequence number field moves the packet into the window (it can be a replay), every
        // other byte breaks the ICV.
        assert!(
            matches!(result, Err(Error::BadIcv) | Err(Error::Replay)),
            "byte {byte}: {result:?}"
        );
    }
    let stats = sa.stats();
    assert_eq!(stats.packets, 1);
    assert!(stats.icv_failures >= 100);
    buf.fill(0, &captured.packets[1]).unwrap();
    assert_eq!(sa.open(now, &mut buf), Ok(Opened::Packet(IpVersion::V4)));
}

#[test]
fn strongswan_packets_from_outside_the_selectors_are_policy_drops() {
    let now = now();
    let sas = captured();
    let captured = &sas[0];
    let config = InboundConfig::new(
        captured.spi,
        Algorithm::AesGcm256,
        vec![TrafficSelector::host(address("10.99.2.2"))],
    );
    let sa = InboundSa::new(config, &captured.key, &[]).unwrap();
    let mut buf = PacketBuf::new(2048);
    buf.fill(0, &captured.packets[0]).unwrap();
    assert_eq!(sa.open(now, &mut buf), Err(Error::PolicyViolation));
    assert_eq!(sa.stats().policy_drops, 1);
}
