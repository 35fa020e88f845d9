//! The SA database: lookups, make-before-break rekeying, and workers reading while the control
//! plane writes; and one inbound SA opened from several threads at once.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant;

use common::{ipv4_packet, keys};
use esp::{
    Algorithm, Error, Flow, InboundConfig, InboundSa, IpVersion, Opened, OutboundConfig,
    OutboundSa, PacketBuf, SaDatabase, TrafficSelector, SEAL_HEADROOM,
};

/// Any instant will do: the SA only records it.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

fn address(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// A UDP flow from 192.0.2.1:4000 to `destination`:`port`.
fn udp_to(destination: &str, port: u16) -> Flow {
    Flow {
        source: address("192.0.2.1"),
        destination: address(destination),
        protocol: 17,
        source_port: Some(4000),
        destination_port: Some(port),
    }
}

/// An outbound SA and the inbound SA that opens what it seals (a loop back to ourselves).
fn pair(spi: u32, seed: u8, peer: Vec<TrafficSelector>) -> (Arc<OutboundSa>, Arc<InboundSa>) {
    let algorithm = Algorithm::AesGcm128;
    let (encryption, integrity) = keys(algorithm, seed);
    let outbound =
        OutboundSa::new(OutboundConfig::new(spi, algorithm), &encryption, &integrity).unwrap();
    let mut config = InboundConfig::new(spi, algorithm, peer);
    config.replay_window = 4096;
    let inbound = InboundSa::new(config, &encryption, &integrity).unwrap();
    (Arc::new(outbound), Arc::new(inbound))
}

fn everyone() -> Vec<TrafficSelector> {
    vec![TrafficSelector::prefix(address("0.0.0.0"), 0).unwrap()]
}

#[test]
fn outbound_lookup_prefers_hosts_then_the_narrowest_range() {
    let db = SaDatabase::new();
    let (wide, _) = pair(1, 1, everyone());
    let (narrow, _) = pair(2, 2, everyone());
    let (host, _) = pair(3, 3, everyone());
    db.update(|table| {
        table.route_outbound(
            &wide,
            &[TrafficSelector::prefix(address("10.0.0.0"), 8).unwrap()],
        );
        table.route_outbound(
            &narrow,
            &[TrafficSelector::range(address("10.1.0.0"), address("10.1.0.99")).unwrap()],
        );
        table.route_outbound(&host, &[TrafficSelector::host(address("10.1.0.7"))]);
    });
    let mut reader = db.reader();
    let table = reader.table();
    let spi_for = |text: &str| table.outbound(&udp_to(text, 53)).map(|sa| sa.spi());
    assert_eq!(spi_for("10.1.0.7"), Some(3));
    assert_eq!(spi_for("10.1.0.8"), Some(2));
    assert_eq!(spi_for("10.1.0.100"), Some(1));
    assert_eq!(spi_for("10.200.0.1"), Some(1));
    assert_eq!(spi_for("11.0.0.1"), None);
    assert_eq!(spi_for("::1"), None);
    assert_eq!(table.outbound_routes().count(), 3);

    let mut buf = PacketBuf::new(256);
    buf.fill(SEAL_HEADROOM, &ipv4_packet(40, [1, 1, 1, 1], [11, 0, 0, 1]))
        .unwrap();
    assert_eq!(table.seal(&mut buf).err(), Some(Error::NoRoute));
    buf.fill(SEAL_HEADROOM, &ipv4_packet(40, [1, 1, 1, 1], [10, 1, 0, 8]))
        .unwrap();
    let (_, sa) = table.seal(&mut buf).unwrap();
    assert_eq!(sa.spi(), 2);
    assert_eq!(
        table.open(now(), &mut buf).err(),
        Some(Error::UnknownSpi(2))
    );

    db.update(|table| table.remove_outbound(&narrow));
    assert_eq!(
        reader
            .table()
            .outbound(&udp_to("10.1.0.8", 53))
            .map(|sa| sa.spi()),
        Some(1)
    );
}

#[test]
fn rekey_is_make_before_break() {
    let db = SaDatabase::new();
    let client = [TrafficSelector::host(address("10.99.2.1"))];
    let (old_out, old_in) = pair(0x100, 1, everyone());
    db.update(|table| {
        table.insert_inbound(Arc::clone(&old_in));
        table.route_outbound(&old_out, &client);
    });
    let mut reader = db.reader();
    let inner = ipv4_packet(60, [10, 99, 1, 1], [10, 99, 2, 1]);
    let mut in_flight = PacketBuf::new(256);
    in_flight.fill(SEAL_HEADROOM, &inner).unwrap();
    assert_eq!(reader.table().seal(&mut in_flight).unwrap().1.spi(), 0x100);

    // Make: the new inbound SA first; both open.
    let (new_out, new_in) = pair(0x200, 2, everyone());
    db.update(|table| table.insert_inbound(Arc::clone(&new_in)));
    // Switch outbound in one step.
    db.update(|table| table.route_outbound(&new_out, &client));
    let mut fresh = PacketBuf::new(256);
    fresh.fill(SEAL_HEADROOM, &inner).unwrap();
    assert_eq!(reader.table().seal(&mut fresh).unwrap().1.spi(), 0x200);
    let (opened, sa) = reader.table().open(now(), &mut in_flight).unwrap();
    assert_eq!((opened, sa.spi()), (Opened::Packet(IpVersion::V4), 0x100));
    assert_eq!(in_flight.data(), inner.as_slice());
    let (opened, sa) = reader.table().open(now(), &mut fresh).unwrap();
    assert_eq!((opened, sa.spi()), (Opened::Packet(IpVersion::V4), 0x200));

    // Break: the old inbound SA goes; its late packets are unknown.
    let removed = db.update(|table| table.remove_inbound(0x100));
    assert!(Arc::ptr_eq(&removed.unwrap(), &old_in));
    let mut late = PacketBuf::new(256);
    late.fill(SEAL_HEADROOM, &inner).unwrap();
    old_out.seal(&mut late).unwrap();
    assert_eq!(
        reader.table().open(now(), &mut late).err(),
        Some(Error::UnknownSpi(0x100))
    );
    assert_eq!(db.load().inbound_len(), 1);
    assert_eq!(old_in.stats().packets, 1);
}

#[test]
fn workers_read_consistent_tables_while_the_control_plane_rekeys() {
    const WORKERS: usize = 3;
    let db = Arc::new(SaDatabase::new());
    let client = [TrafficSelector::host(address("10.99.2.1"))];
    let (first_out, first_in) = pair(1, 1, everyone());
    db.update(|table| {
        table.insert_inbound(first_in);
        table.route_outbound(&first_out, &client);
    });
    let stop = Arc::new(AtomicBool::new(false));
    let round_trips = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(WORKERS + 1));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (db, stop, round_trips, start) = (
                Arc::clone(&db),
                Arc::clone(&stop),
                Arc::clone(&round_trips),
                Arc::clone(&start),
            );
            std::thread::spawn(move || {
                let mut reader = db.reader();
                let inner = ipv4_packet(100, [10, 99, 1, 1], [10, 99, 2, 1]);
                let mut buf = PacketBuf::new(256);
                start.wait();
                while !stop.load(Ordering::Relaxed) {
                    let table = reader.table();
                    buf.fill(SEAL_HEADROOM, &inner).unwrap();
                    // One snapshot: the routed SA's inbound twin is always in it.
                    let (_, outbound) = table.seal(&mut buf).unwrap();
                    let spi = outbound.spi();
                    let (opened, inbound) = table.open(now(), &mut buf).unwrap();
                    assert_eq!(opened, Opened::Packet(IpVersion::V4));
                    assert_eq!(inbound.spi(), spi);
                    assert_eq!(buf.data(), inner.as_slice());
                    round_trips.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    start.wait();
    let mut previous = 1u32;
    for spi in 2..200u32 {
        let (out, inb) = pair(spi, spi as u8, everyone());
        db.update(|table| {
            table.insert_inbound(inb);
            table.route_outbound(&out, &client);
            table.remove_inbound(previous);
        });
        previous = spi;
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(round_trips.load(Ordering::Relaxed) > 0);
    let table = db.load();
    assert_eq!(table.inbound_len(), 1);
    assert_eq!(table.outbound(&udp_to("10.99.2.1", 53)).unwrap().spi(), 199);
}

#[test]
fn concurrent_openers_accept_each_packet_exactly_once() {
    const THREADS: usize = 4;
    const PACKETS: usize = 3000;
    let (outbound, inbound) = pair(9, 9, everyone());
    let inner = ipv4_packet(80, [10, 0, 0, 1], [10, 0, 0, 2]);
    let packets: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..PACKETS)
            .map(|_| {
                let mut buf = PacketBuf::new(256);
                buf.fill(SEAL_HEADROOM, &inner).unwrap();
                outbound.seal(&mut buf).unwrap();
                buf.data().to_vec()
            })
            .collect(),
    );
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (inbound, packets, start) = (
                Arc::clone(&inbound),
                Arc::clone(&packets),
                Arc::clone(&start),
            );
            std::thread::spawn(move || {
                let mut accepted = 0u64;
                let mut buf = PacketBuf::new(256);
                start.wait();
                // Every thread walks all packets, half of them backwards, so copies race.
                let order: Vec<usize> = if thread % 2 == 0 {
                    (0..PACKETS).collect()
                } else {
                    (0..PACKETS).rev().collect()
                };
                for index in order {
                    buf.fill(0, &packets[index]).unwrap();
                    match inbound.open(now(), &mut buf) {
                        Ok(Opened::Packet(IpVersion::V4)) => accepted += 1,
                        Err(Error::Replay) => {}
                        other => panic!("unexpected {other:?}"),
                    }
                }
                accepted
            })
        })
        .collect();
    let accepted: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(accepted, PACKETS as u64);
    let stats = inbound.stats();
    assert_eq!(stats.packets, PACKETS as u64);
    assert_eq!(stats.replay_drops, ((THREADS - 1) * PACKETS) as u64);
}

/// A UDP/IPv4 packet `source:source_port -> destination:destination_port` (unfragmented).
fn udp_packet(source: [u8; 4], source_port: u16, destination: [u8; 4], port: u16) -> Vec<u8> {
    let mut packet = ipv4_packet(60, source, destination);
    packet[6..8].copy_from_slice(&[0x40, 0]); // don't fragment, offset 0
    packet[20..22].copy_from_slice(&source_port.to_be_bytes());
    packet[22..24].copy_from_slice(&port.to_be_bytes());
    packet
}

#[test]
fn two_child_sas_to_one_address_each_get_the_packets_of_their_selectors() {
    // One client (virtual IP 10.99.2.1) with three CHILD SAs: SIP from the P-CSCF's port 5060,
    // RTP from the core's ports 10000-20000, and everything else. RFC 7296 §2.9 selectors.
    let vip = TrafficSelector::host(address("10.99.2.1"));
    let sip_local = TrafficSelector::host(address("10.99.1.5"))
        .with_ports(17, 5060, 5060)
        .unwrap();
    let rtp_local = TrafficSelector::host(address("10.99.1.9"))
        .with_ports(17, 10000, 20000)
        .unwrap();
    let anything = TrafficSelector::prefix(address("0.0.0.0"), 0).unwrap();
    let (sip, _) = pair(0x51, 1, vec![vip]);
    let (rtp, _) = pair(0x52, 2, vec![vip]);
    let (rest, _) = pair(0x53, 3, vec![vip]);
    let db = SaDatabase::new();
    db.update(|table| {
        // Installed least specific first, and RTP last: the order must not matter.
        table.route_outbound_between(&rest, &[anything], &[vip]);
        table.route_outbound_between(&sip, &[sip_local], &[vip]);
        table.route_outbound_between(&rtp, &[rtp_local], &[vip]);
    });
    let mut reader = db.reader();
    let table = reader.table();
    let seal_spi = |packet: &[u8]| {
        let mut buf = PacketBuf::new(256);
        buf.fill(SEAL_HEADROOM, packet).unwrap();
        table.seal(&mut buf).map(|(_, sa)| sa.spi())
    };
    let client = [10, 99, 2, 1];
    for (destination, port, spi) in [
        ([10, 99, 1, 5], 5060, 0x51),
        ([10, 99, 1, 9], 10000, 0x52),
        ([10, 99, 1, 9], 20000, 0x52),
        ([10, 99, 1, 9], 5060, 0x53),
        ([10, 99, 1, 5], 5061, 0x53),
        ([10, 99, 1, 6], 5060, 0x53),
    ] {
        assert_eq!(
            seal_spi(&udp_packet(destination, port, client, 40000)),
            Ok(spi),
            "UDP to {destination:?} port {port}"
        );
    }
    // TCP to the SIP port, and a non-initial fragment of SIP (opaque ports, RFC 4301
    // §4.4.1.3): neither may use the port-specific SA.
    let mut tcp = udp_packet([10, 99, 1, 5], 5060, client, 40000);
    tcp[9] = 6;
    assert_eq!(seal_spi(&tcp), Ok(0x53));
    let mut fragment = udp_packet([10, 99, 1, 5], 5060, client, 40000);
    fragment[6..8].copy_from_slice(&[0, 0xb9]);
    assert_eq!(seal_spi(&fragment), Ok(0x53));
    assert_eq!(table.outbound_routes().count(), 3);

    // Without the catch-all, unmatched packets to the client have no route.
    db.update(|table| table.remove_outbound(&rest));
    let table = reader.table();
    let mut buf = PacketBuf::new(256);
    buf.fill(SEAL_HEADROOM, &fragment).unwrap();
    assert_eq!(table.seal(&mut buf).err(), Some(Error::NoRoute));
    buf.fill(SEAL_HEADROOM, &udp_packet([10, 99, 1, 5], 5060, client, 1))
        .unwrap();
    assert_eq!(table.seal(&mut buf).unwrap().1.spi(), 0x51);

    // A rekey of the SIP SA replaces exactly its route.
    let (sip_rekeyed, _) = pair(0x61, 4, vec![vip]);
    db.update(|table| {
        table.route_outbound_between(&sip_rekeyed, &[sip_local], &[vip]);
        table.remove_outbound(&sip);
    });
    let table = reader.table();
    assert_eq!(table.outbound_routes().count(), 2);
    buf.fill(SEAL_HEADROOM, &udp_packet([10, 99, 1, 5], 5060, client, 1))
        .unwrap();
    assert_eq!(table.seal(&mut buf).unwrap().1.spi(), 0x61);
    buf.fill(SEAL_HEADROOM, &udp_packet([10, 99, 1, 9], 12000, client, 1))
        .unwrap();
    assert_eq!(table.seal(&mut buf).unwrap().1.spi(), 0x52);
}

#[test]
fn ranged_destinations_also_choose_by_protocol_and_port() {
    // The client side: two CHILD SAs towards one core subnet, one for SIP (udp/5060), one for
    // everything; the narrower one wins for its own packets only.
    let core = TrafficSelector::prefix(address("10.99.1.0"), 24).unwrap();
    let core_sip = core.with_ports(17, 5060, 5060).unwrap();
    let (sip, _) = pair(0x71, 1, vec![core_sip]);
    let (all, _) = pair(0x72, 2, vec![core]);
    let db = SaDatabase::new();
    db.update(|table| {
        table.route_outbound(&sip, &[core_sip]);
        table.route_outbound(&all, &[core]);
    });
    let mut reader = db.reader();
    let table = reader.table();
    let spi = |port| {
        table
            .outbound(&udp_to("10.99.1.5", port))
            .map(|sa| sa.spi())
    };
    assert_eq!(spi(5060), Some(0x71));
    assert_eq!(spi(5061), Some(0x72));
    assert!(table.outbound(&udp_to("10.99.2.5", 5060)).is_none());
}

#[test]
fn inbound_policy_checks_protocol_ports_and_our_selectors() {
    let algorithm = Algorithm::AesGcm128;
    let (encryption, integrity) = keys(algorithm, 7);
    let vip = TrafficSelector::host(address("10.99.2.1"));
    let mut config = InboundConfig::new(
        0x81,
        algorithm,
        vec![vip.with_ports(17, 0, u16::MAX).unwrap()],
    );
    config.local_selectors = vec![TrafficSelector::host(address("10.99.1.5"))
        .with_ports(17, 5060, 5060)
        .unwrap()];
    let inbound = InboundSa::new(config, &encryption, &integrity).unwrap();
    let outbound = OutboundSa::new(
        OutboundConfig::new(0x81, algorithm),
        &encryption,
        &integrity,
    )
    .unwrap();
    let client = [10, 99, 2, 1];
    let open = |packet: &[u8]| {
        let mut buf = PacketBuf::new(256);
        buf.fill(SEAL_HEADROOM, packet).unwrap();
        outbound.seal(&mut buf).unwrap();
        inbound.open(now(), &mut buf)
    };
    assert_eq!(
        open(&udp_packet(client, 40000, [10, 99, 1, 5], 5060)),
        Ok(Opened::Packet(IpVersion::V4))
    );
    assert_eq!(
        open(&udp_packet(client, 40000, [10, 99, 1, 5], 5061)),
        Err(Error::PolicyViolation)
    );
    assert_eq!(
        open(&udp_packet(client, 40000, [10, 99, 1, 6], 5060)),
        Err(Error::PolicyViolation)
    );
    let mut tcp = udp_packet(client, 40000, [10, 99, 1, 5], 5060);
    tcp[9] = 6;
    assert_eq!(open(&tcp), Err(Error::PolicyViolation));
    assert_eq!(
        open(&udp_packet([10, 99, 2, 2], 40000, [10, 99, 1, 5], 5060)),
        Err(Error::PolicyViolation)
    );
    assert_eq!(inbound.stats().policy_drops, 4);
}
