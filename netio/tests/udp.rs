//! UDP sockets for IKE/NAT-T in a lab namespace (needs root): packet info reports the local
//! address, replies leave from a chosen source, buffers are large, IPv6 and dual-stack work,
//! the tokio wrapper does the same, and so do the batched calls (`recvmmsg`/`sendmmsg`).

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use lab::{Host, Lab};
use netio::udp::{
    AsyncUdpSocket, BatchSent, Outgoing, RecvBatch, SendBatch, UdpConfig, UdpSocket,
    DEFAULT_BUFFER_SIZE,
};

/// Polls a non-blocking socket until a datagram arrives (bounded).
fn recv_within(socket: &UdpSocket, buf: &mut [u8]) -> netio::udp::RecvMeta {
    for _ in 0..200 {
        match socket.recv(buf) {
            Ok(meta) => return meta,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no datagram within 2 s");
}

#[test]
fn gateway_socket_reports_local_address_and_answers_from_it() {
    let lab = Lab::builder().build().expect("test setup");
    let gw = lab.gateway_outer();
    let client_addr = lab.client_outer(0).expect("test setup");
    // Bound to the wildcard like a gateway; a second address on the outer link shows that the
    // socket tells which one the client used.
    lab.exec_checked(
        Host::Gateway,
        &[
            "ip",
            "addr",
            "add",
            &format!("{}/32", second(gw)),
            "dev",
            lab::ifname::GATEWAY_OUTER,
        ],
    )
    .expect("test setup");
    let server = lab
        .run_in(Host::Gateway, || {
            UdpSocket::bind(&UdpConfig::new(SocketAddr::from(([0, 0, 0, 0], 0))))
        })
        .expect("test setup")
        .expect("test setup");
    let port = server.local_addr().port();
    let client = lab
        .run_in(Host::Client(0), || {
            UdpSocket::bind(&UdpConfig::new(SocketAddr::from(([0, 0, 0, 0], 0))))
        })
        .expect("test setup")
        .expect("test setup");
    client
        .socket()
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("test setup");

    let mut buf = [0u8; 64];
    for target in [gw, second(gw)] {
        client
            .send_to(b"IKE_SA_INIT", SocketAddr::from((target, port)))
            .expect("test setup");
        let meta = recv_within(&server, &mut buf);
        assert_eq!(&buf[..meta.len], b"IKE_SA_INIT");
        assert_eq!(meta.peer.ip(), IpAddr::V4(client_addr));
        assert_eq!(meta.local_ip, Some(IpAddr::V4(target)));
        assert!(meta.ifindex.is_some_and(|i| i > 0));
        assert!(!meta.truncated);
        server
            .send_from(b"reply", meta.peer, meta.local_ip)
            .expect("test setup");
        let reply = recv_within(&client, &mut buf);
        assert_eq!(&buf[..reply.len], b"reply");
        assert_eq!(
            reply.peer,
            SocketAddr::from((target, port)),
            "reply must come from the address asked"
        );
    }
}

fn second(addr: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(addr) + 40)
}

#[test]
fn buffers_are_large_and_ports_reusable() {
    let lab = Lab::builder().build().expect("test setup");
    let (socket, again) = lab
        .run_in(Host::Gateway, || {
            let bind = SocketAddr::from(([127, 0, 0, 1], 4500));
            let first = UdpSocket::bind(&UdpConfig::new(bind)).expect("test setup");
            // Same port again after close, as a restarting gateway does.
            drop(first);
            (
                UdpSocket::bind(&UdpConfig::new(bind)),
                UdpSocket::bind(&UdpConfig::new(bind).reuse_address(false)),
            )
        })
        .expect("test setup");
    let socket = socket.expect("test setup");
    assert_eq!(socket.local_addr().port(), 4500);
    // As root SO_RCVBUFFORCE passes net.core.rmem_max; the kernel doubles the request.
    assert!(
        socket.recv_buffer_size().expect("test setup") >= DEFAULT_BUFFER_SIZE,
        "{}",
        socket.recv_buffer_size().expect("test setup")
    );
    assert!(socket.send_buffer_size().expect("test setup") >= DEFAULT_BUFFER_SIZE);
    assert!(
        again.is_err(),
        "a second socket on the same port without SO_REUSEADDR must fail"
    );
}

#[test]
fn truncation_is_reported_not_hidden() {
    let lab = Lab::builder().build().expect("test setup");
    let (server, client) = lab
        .run_in(Host::Gateway, || {
            let s = UdpSocket::bind(&UdpConfig::new(SocketAddr::from(([127, 0, 0, 1], 0))))
                .expect("test setup");
            let c = UdpSocket::bind(&UdpConfig::new(SocketAddr::from(([127, 0, 0, 1], 0))))
                .expect("test setup");
            (s, c)
        })
        .expect("test setup");
    client
        .send_to(&[7u8; 100], server.local_addr())
        .expect("test setup");
    let mut small = [0u8; 10];
    let meta = recv_within(&server, &mut small);
    assert!(meta.truncated);
    assert_eq!(meta.len, 10);
}

#[test]
fn ipv6_and_dual_stack_sockets() {
    let lab = Lab::builder().build().expect("test setup");
    let (v6, dual, v4_client, v6_client) = lab
        .run_in(Host::Gateway, || {
            let v6 = UdpSocket::bind(&UdpConfig::new(SocketAddr::from((Ipv6Addr::LOCALHOST, 0))))
                .expect("test setup");
            let dual = UdpSocket::bind(
                &UdpConfig::new(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))).only_v6(false),
            )
            .expect("test setup");
            let v4c = UdpSocket::bind(&UdpConfig::new(SocketAddr::from(([127, 0, 0, 1], 0))))
                .expect("test setup");
            let v6c = UdpSocket::bind(&UdpConfig::new(SocketAddr::from((Ipv6Addr::LOCALHOST, 0))))
                .expect("test setup");
            (v6, dual, v4c, v6c)
        })
        .expect("test setup");
    let mut buf = [0u8; 32];

    v6_client
        .send_to(b"six", v6.local_addr())
        .expect("test setup");
    let meta = recv_within(&v6, &mut buf);
    assert_eq!(meta.local_ip, Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    v6.send_from(b"back", meta.peer, meta.local_ip)
        .expect("test setup");
    let reply = recv_within(&v6_client, &mut buf);
    assert_eq!(&buf[..reply.len], b"back");

    // IPv4 on a dual-stack socket: reported as plain IPv4, answered to plain IPv4.
    let dual_v4 = SocketAddr::from(([127, 0, 0, 1], dual.local_addr().port()));
    v4_client.send_to(b"four", dual_v4).expect("test setup");
    let meta = recv_within(&dual, &mut buf);
    assert_eq!(meta.peer, v4_client.local_addr());
    assert_eq!(meta.local_ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    dual.send_from(b"mapped", meta.peer, meta.local_ip)
        .expect("test setup");
    let reply = recv_within(&v4_client, &mut buf);
    assert_eq!(&buf[..reply.len], b"mapped");
    assert_eq!(reply.peer, dual_v4);
}

#[test]
fn tokio_wrapper_receives_and_sends() {
    let lab = Lab::builder().build().expect("test setup");
    let (server, client) = lab
        .run_in(Host::Gateway, || {
            let s = UdpSocket::bind(&UdpConfig::new(SocketAddr::from(([127, 0, 0, 1], 0))))
                .expect("test setup");
            let c = UdpSocket::bind(&UdpConfig::new(SocketAddr::from(([127, 0, 0, 1], 0))))
                .expect("test setup");
            (s, c)
        })
        .expect("test setup");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test setup");
    runtime.block_on(async {
        let server = AsyncUdpSocket::new(server).expect("test setup");
        let client = AsyncUdpSocket::new(client).expect("test setup");
        let mut buf = [0u8; 32];
        client
            .send_from(b"async", server.local_addr(), None)
            .await
            .expect("test setup");
        let meta = tokio::time::timeout(Duration::from_secs(2), server.recv(&mut buf))
            .await
            .expect("test setup")
            .expect("test setup");
        assert_eq!(&buf[..meta.len], b"async");
        assert_eq!(meta.peer, client.local_addr());
        server
            .send_from(b"done", meta.peer, meta.local_ip)
            .await
            .expect("test setup");
        let meta = tokio::time::timeout(Duration::from_secs(2), client.recv(&mut buf))
            .await
            .expect("test setup")
            .expect("test setup");
        assert_eq!(&buf[..meta.len], b"done");
    });
}

/// Three wildcard-bound blocking sockets (2 s read timeout) in a fresh namespace, where all of
/// 127.0.0.0/8 is local: a sender and two receivers.
fn three_sockets(lab: &Lab) -> [UdpSocket; 3] {
    lab.run_in(Host::Gateway, || {
        [(); 3].map(|()| {
            let config = UdpConfig::new(SocketAddr::from(([0, 0, 0, 0], 0))).nonblocking(false);
            let socket = UdpSocket::bind(&config).expect("test setup");
            socket
                .socket()
                .set_read_timeout(Some(Duration::from_secs(2)))
                .expect("test setup");
            socket
        })
    })
    .expect("test setup")
}

fn loopback(last: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, last], port))
}

#[test]
fn a_send_batch_gives_each_datagram_its_peer_and_source_and_skips_refused_ones() {
    let lab = Lab::builder().build().expect("test setup");
    let [sender, a, b] = three_sockets(&lab);
    let (to_a, to_b) = (
        loopback(1, a.local_addr().port()),
        loopback(1, b.local_addr().port()),
    );
    // 41 datagrams through a batch of 16 (three sendmmsg rounds); the 70,000-byte one is more
    // than UDP can carry and is refused, the ones after it still go.
    let payloads: Vec<Vec<u8>> = (0..41u8)
        .map(|i| {
            if i == 20 {
                vec![i; 70_000]
            } else {
                vec![i; 10 + usize::from(i)]
            }
        })
        .collect();
    let datagrams = payloads.iter().enumerate().map(|(i, payload)| Outgoing {
        payload,
        peer: if i % 2 == 0 { to_a } else { to_b },
        source: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % 3) as u8))),
    });
    let mut batch = SendBatch::new(16);
    let outcome = sender.send_batch(&mut batch, datagrams);
    assert_eq!(
        outcome,
        BatchSent {
            sent: 40,
            failed: 1
        }
    );

    let mut recv = RecvBatch::new(8);
    let mut storage = vec![[0u8; 128]; 8];
    for (socket, parity) in [(&a, 0), (&b, 1)] {
        let mut expected = (0..41usize).filter(|i| i % 2 == parity && *i != 20);
        let mut seen = 0;
        while seen < 20 {
            let n = socket
                .recv_batch(&mut recv, storage.iter_mut().map(|s| &mut s[..]))
                .expect("datagrams within 2 s");
            assert!((1..=8).contains(&n), "{n}");
            assert_eq!(recv.metas().len(), n);
            for (meta, buf) in recv.metas().iter().zip(&storage) {
                let i = expected.next().expect("no more datagrams than sent");
                let meta = meta.expect("sender address");
                assert_eq!(meta.len, 10 + i);
                assert!(buf[..meta.len].iter().all(|&b| usize::from(b) == i));
                assert!(!meta.truncated);
                let source = Ipv4Addr::new(127, 0, 0, 2 + (i % 3) as u8);
                assert_eq!(
                    meta.peer,
                    SocketAddr::from((source, sender.local_addr().port()))
                );
                assert_eq!(meta.local_ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
                seen += 1;
            }
        }
        assert_eq!(expected.next(), None);
    }
}

#[test]
fn a_receive_batch_takes_what_is_queued_reports_truncation_and_times_out() {
    let lab = Lab::builder().build().expect("test setup");
    let [sender, receiver, _] = three_sockets(&lab);
    let to = loopback(1, receiver.local_addr().port());
    for i in 0..5u8 {
        sender.send_to(&[i; 100], to).expect("test setup");
    }
    // Five queued, room for four: one call takes four, the next the fifth without waiting for
    // more; a 50-byte buffer reports the 100-byte datagram as truncated.
    let mut recv = RecvBatch::new(4);
    let mut storage = [[0u8; 200]; 4];
    let n = receiver
        .recv_batch(&mut recv, storage.iter_mut().map(|s| &mut s[..]))
        .expect("test setup");
    assert_eq!(n, 4);
    assert!(recv
        .metas()
        .iter()
        .flatten()
        .all(|m| m.len == 100 && !m.truncated));
    let mut small = [0u8; 50];
    let n = receiver
        .recv_batch(&mut recv, [&mut small[..]])
        .expect("test setup");
    assert_eq!(n, 1);
    let meta = recv.metas()[0].expect("sender address");
    assert!(meta.truncated);
    assert_eq!(meta.peer.port(), sender.local_addr().port());
    assert_eq!(small, [4u8; 50]);
    // Nothing queued: the socket's read timeout ends the wait with an error, and no metadata
    // of the previous batch is left behind.
    receiver
        .socket()
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("test setup");
    let e = receiver
        .recv_batch(&mut recv, storage.iter_mut().map(|s| &mut s[..]))
        .expect_err("nothing to receive");
    assert!(
        matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{e}"
    );
    assert!(recv.metas().is_empty());
    assert_eq!(recv.capacity(), 4);
}

#[test]
fn equal_sized_runs_go_down_as_one_and_arrive_as_datagrams_or_one_coalesced_buffer() {
    let lab = Lab::builder().build().expect("test setup");
    let [sender, plain, coalescing] = three_sockets(&lab);
    coalescing
        .set_receive_coalescing(true)
        .expect("UDP_GRO (Linux >= 5.0)");
    // Ten 1,000-byte datagrams and a 300-byte one: one segmented entry per peer; the
    // 1,200-byte one after it cannot join (larger than the segment size) and goes alone.
    let payloads: Vec<Vec<u8>> = (0..12u8)
        .map(|i| match i {
            10 => vec![i; 300],
            11 => vec![i; 1_200],
            _ => vec![i; 1_000],
        })
        .collect();
    let mut batch = SendBatch::new(32);
    for receiver in [&plain, &coalescing] {
        let peer = loopback(1, receiver.local_addr().port());
        let datagrams = payloads.iter().map(|payload| Outgoing {
            payload,
            peer,
            source: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))),
        });
        assert_eq!(
            sender.send_batch(&mut batch, datagrams),
            BatchSent {
                sent: 12,
                failed: 0
            }
        );
    }

    // Without coalescing: twelve datagrams, each as sent.
    let mut recv = RecvBatch::new(16);
    let mut storage = vec![vec![0u8; 65_536]; 16];
    let mut got = Vec::new();
    while got.len() < 12 {
        let n = plain
            .recv_batch(&mut recv, storage.iter_mut().map(|s| &mut s[..]))
            .expect("datagrams within 2 s");
        for (meta, buf) in recv.metas().iter().zip(&storage).take(n) {
            let meta = meta.expect("sender address");
            assert_eq!(meta.segment_size, None);
            assert_eq!(meta.peer.ip(), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)));
            got.push(buf[..meta.len].to_vec());
        }
    }
    assert_eq!(got, payloads);

    // With coalescing: the run arrives as one buffer with its segment size, the last datagram
    // alone; splitting at the segment size gives back what was sent.
    let mut got = Vec::new();
    let mut coalesced = 0;
    while got.len() < 12 {
        let n = coalescing
            .recv_batch(&mut recv, storage.iter_mut().map(|s| &mut s[..]))
            .expect("datagrams within 2 s");
        for (meta, buf) in recv.metas().iter().zip(&storage).take(n) {
            let meta = meta.expect("sender address");
            let size = meta.segment_size.unwrap_or(meta.len);
            if meta.len > size {
                coalesced += 1;
            }
            got.extend(buf[..meta.len].chunks(size).map(<[u8]>::to_vec));
        }
    }
    assert_eq!(got, payloads);
    assert_eq!(coalesced, 1, "the run of eleven went down the stack as one");
}

#[test]
fn a_run_the_path_cannot_take_in_segments_is_sent_one_by_one() {
    let lab = Lab::builder().build().expect("test setup");
    // Segments larger than the path MTU are refused by the kernel (EINVAL); single datagrams of
    // that size are fragmented and delivered, so the run must still arrive whole.
    lab.exec_checked(Host::Gateway, &["ip", "link", "set", "lo", "mtu", "1280"])
        .expect("test setup");
    let [sender, receiver, _] = three_sockets(&lab);
    let payloads: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 1_400]).collect();
    let peer = loopback(1, receiver.local_addr().port());
    let datagrams = payloads.iter().map(|payload| Outgoing {
        payload,
        peer,
        source: None,
    });
    let outcome = sender.send_batch(&mut SendBatch::new(8), datagrams);
    assert_eq!(outcome, BatchSent { sent: 6, failed: 0 });
    let mut buf = [0u8; 2_000];
    for payload in &payloads {
        let meta = receiver.recv(&mut buf).expect("datagram within 2 s");
        assert_eq!(&buf[..meta.len], &payload[..]);
    }
}
