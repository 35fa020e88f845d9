//! The per-packet UDP calls of the data path allocate nothing (STYLE.md §4): a counting global
//! allocator watches `send_from` (with a source address), `send_to` and `recv` in a loop, and the
//! batched `send_batch`/`recv_batch` the data-plane workers use.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use lab::{Host, Lab};
use netio::udp::{Outgoing, RecvBatch, SendBatch, UdpConfig, UdpSocket};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call unchanged to the system allocator; only counts on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// A server and a client socket, blocking, bound in a fresh lab's gateway namespace (keep the
/// lab alive while they are used).
fn socket_pair() -> (Lab, UdpSocket, UdpSocket) {
    let lab = Lab::builder().build().expect("lab");
    let (server, client) = lab
        .run_in(Host::Gateway, || {
            let any = SocketAddr::from(([0, 0, 0, 0], 0));
            let config = UdpConfig::new(any).nonblocking(false);
            (
                UdpSocket::bind(&config).expect("bind server"),
                UdpSocket::bind(&config).expect("bind client"),
            )
        })
        .expect("run in the gateway namespace");
    (lab, server, client)
}

#[test]
fn sending_and_receiving_datagrams_does_not_allocate() {
    let (_lab, server, client) = socket_pair();
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let to_server = SocketAddr::new(loopback, server.local_addr().port());
    let mut buf = [0u8; 1500];
    // Warm up: the first receive on a thread sets up its control-message buffer.
    client.send_to(b"warm-up", to_server).unwrap();
    let meta = server.recv(&mut buf).unwrap();

    let before = allocations();
    for _ in 0..100 {
        client
            .send_from(&[0xab; 1400], to_server, Some(loopback))
            .unwrap();
        let got = server.recv(&mut buf).unwrap();
        assert_eq!(got.len, 1400);
        server.send_to(&buf[..64], meta.peer).unwrap();
        client.recv(&mut buf).unwrap();
    }
    assert_eq!(allocations() - before, 0, "allocations in the packet loop");
}

#[test]
fn batched_sending_and_receiving_does_not_allocate() {
    let (_lab, server, client) = socket_pair();
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let to_server = SocketAddr::new(loopback, server.local_addr().port());
    // The batches and buffers are made once per worker, before the packet loop.
    let mut send = SendBatch::new(8);
    let mut recv = RecvBatch::new(8);
    let payloads = [[0xab_u8; 1400]; 12];
    let mut buffers = vec![[0u8; 1500]; 8];

    let before = allocations();
    for _ in 0..50 {
        // 12 datagrams through a batch of 8: two sendmmsg calls, each with a source address.
        let outcome = client.send_batch(
            &mut send,
            payloads.iter().map(|payload| Outgoing {
                payload,
                peer: to_server,
                source: Some(loopback),
            }),
        );
        assert_eq!(outcome.sent, 12);
        let mut received = 0;
        while received < 12 {
            received += server
                .recv_batch(&mut recv, buffers.iter_mut().map(|b| &mut b[..]))
                .unwrap();
            assert!(recv.metas().iter().flatten().all(|m| m.len == 1400));
        }
        assert_eq!(received, 12);
    }
    assert_eq!(allocations() - before, 0, "allocations in the batched loop");
}
