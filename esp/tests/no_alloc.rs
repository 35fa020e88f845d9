//! Zero heap allocations per packet in steady state: a counting global allocator watches a loop
//! of pooled buffers going through SA lookup, seal, lookup and open, for every transform.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use common::{ipv4_packet, ipv6_packet, keys, ALGORITHMS};
use esp::{
    BufPool, InboundConfig, InboundSa, Opened, OutboundConfig, OutboundSa, SaDatabase,
    TrafficSelector, SEAL_HEADROOM, SEAL_TAILROOM,
};

/// Counts allocations made by threads that opted in.
struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note_allocation() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the system allocator unchanged; counting has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations made by this thread while running `work`.
fn allocations_during(work: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|counting| counting.set(true));
    work();
    COUNTING.with(|counting| counting.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn steady_state_packets_do_not_allocate() {
    // The counter itself works.
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 10]))) >= 1);

    #[allow(clippy::disallowed_methods)] // any instant will do
    let now = Instant::now();
    let client_v4 = [10, 99, 2, 1];
    let client_v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let server_v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let client = vec![
        TrafficSelector::host(client_v4.into()),
        TrafficSelector::host(client_v6.into()),
    ];
    let db = SaDatabase::new();
    for (index, algorithm) in ALGORITHMS.into_iter().enumerate() {
        let (encryption, integrity) = keys(algorithm, index as u8);
        let spi = 0x1000 + index as u32;
        let mut outbound_config = OutboundConfig::new(spi, algorithm);
        outbound_config.esn = index % 2 == 0;
        let mut inbound_config = InboundConfig::new(spi, algorithm, client.clone());
        inbound_config.esn = index % 2 == 0;
        let outbound = Arc::new(OutboundSa::new(outbound_config, &encryption, &integrity).unwrap());
        let inbound = Arc::new(InboundSa::new(inbound_config, &encryption, &integrity).unwrap());
        // Each transform serves its own destination, so the lookups pick different SAs.
        let destination_v4 = [10, 99, 3, index as u8];
        let mut destination_v6 = server_v6;
        destination_v6[15] = index as u8;
        db.update(|table| {
            table.insert_inbound(inbound);
            table.route_outbound(
                &outbound,
                &[
                    TrafficSelector::host(destination_v4.into()),
                    TrafficSelector::host(destination_v6.into()),
                ],
            );
        });
    }
    let packets: Vec<Vec<u8>> = (0..ALGORITHMS.len() as u8)
        .flat_map(|index| {
            let mut destination_v6 = server_v6;
            destination_v6[15] = index;
            [
                ipv4_packet(1400, client_v4, [10, 99, 3, index]),
                ipv6_packet(1280, client_v6, destination_v6),
                ipv4_packet(64, client_v4, [10, 99, 3, index]),
            ]
        })
        .collect();

    let mut reader = db.reader();
    let mut pool = BufPool::new(SEAL_HEADROOM + 1500 + SEAL_TAILROOM, 4, 16).unwrap();
    // A gateway loops its own traffic back: what it seals for a destination it opens as if it
    // came from the client, so the inbound SA's selectors see the client's address as source.
    let mut round = |pool: &mut BufPool| {
        for packet in &packets {
            let mut buf = pool.take(SEAL_HEADROOM);
            buf.spare_mut()[..packet.len()].copy_from_slice(packet);
            buf.commit(packet.len()).unwrap();
            let table = reader.table();
            table.seal(&mut buf).unwrap();
            buf.push_front(4).unwrap().copy_from_slice(&[1, 0, 0, 0]);
            buf.pull_front(4).unwrap();
            let (opened, _) = table.open(now, &mut buf).unwrap();
            assert!(matches!(opened, Opened::Packet(_)));
            assert_eq!(buf.data(), packet.as_slice());
            pool.give(buf);
        }
    };
    // Warm up: thread-local state of the SA database reader, first packet of each SA.
    round(&mut pool);
    let allocations = allocations_during(|| {
        for _ in 0..200 {
            round(&mut pool);
        }
    });
    assert_eq!(
        allocations,
        0,
        "allocations in 200 rounds of {} packets",
        packets.len()
    );

    // A control-plane edit allocates on the control plane; the workers' next packets do not.
    let (encryption, integrity) = keys(ALGORITHMS[0], 99);
    let extra = InboundSa::new(
        InboundConfig::new(0x9999, ALGORITHMS[0], client.clone()),
        &encryption,
        &integrity,
    )
    .unwrap();
    db.update(|table| table.insert_inbound(Arc::new(extra)));
    let allocations = allocations_during(|| {
        for _ in 0..20 {
            round(&mut pool);
        }
    });
    assert_eq!(allocations, 0, "after an update");
    assert_eq!(db.load().inbound_len(), ALGORITHMS.len() + 1);
}
