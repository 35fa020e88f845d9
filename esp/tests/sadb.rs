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
    Algorithm, Error, InboundConfig, InboundSa, IpVersion, Opened, OutboundConfig, OutboundSa,
    PacketBuf, SaDatabase, TrafficSelector, SEAL_HEADROOM,
};

/// Any instant will do: the SA only records it.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

fn address(text: &str) -> IpAddr {
    text.parse().unwrap()
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
    let spi_for = |text: &str| table.outbound(address(text)).map(|sa| sa.spi());
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
            .outbound(address("10.1.0.8"))
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
    assert_eq!(table.outbound(address("10.99.2.1")).unwrap().spi(), 199);
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
