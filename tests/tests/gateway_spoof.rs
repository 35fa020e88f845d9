//! The gateway's inbound checks on ESP from an authenticated client, end to end: a rogue
//! initiator ([`RogueClient`]) with a real IKE SA, CHILD SA and virtual IP seals inner packets
//! by hand. A packet from its own virtual IP reaches the core; packets whose inner source is
//! another client's virtual IP or an address outside the pool are dropped and counted by the
//! gateway (<https://www.rfc-editor.org/rfc/rfc4301#section-5.2>); an ESP packet sent a second
//! time is dropped and counted as a replay (<https://www.rfc-editor.org/rfc/rfc4303#section-3.4.3>);
//! and a real client's tunnel keeps working throughout. Once with the rogue on UDP, once over
//! TPKT' on TCP port 80 (a separate receive path in the gateway).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use eseg_tests::rogue_client::{RogueClient, RogueTransport};
use eseg_tests::{Host, Scenario, TUNNEL_UP};
use netio::dataplane::status::{ChildSaStatus, StatusReport};

/// The core's UDP port the rogue sends to.
const SINK_PORT: u16 = 5099;
/// The rogue's inner source port.
const ROGUE_PORT: u16 = 40_000;
/// An address outside every lab block (TEST-NET-1, RFC 5737).
const OUTSIDE_POOL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);
/// How long a datagram that the gateway forwards may take to reach the core.
const DELIVERY: Duration = Duration::from_secs(3);

/// A UDP socket on the core host that records what reaches it.
struct CoreSink {
    addr: SocketAddrV4,
    socket: UdpSocket,
    received: Vec<(SocketAddr, Vec<u8>)>,
}

impl CoreSink {
    fn bind(s: &Scenario, addr: SocketAddrV4) -> Self {
        let socket = s
            .lab
            .run_in(Host::Core, move || UdpSocket::bind(addr))
            .expect("enter the core")
            .expect("bind the sink on the core");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        CoreSink {
            addr,
            socket,
            received: Vec::new(),
        }
    }

    /// Reads until a datagram carrying `marker` has arrived (or [`DELIVERY`] passed); returns
    /// whether it did. Everything read is kept in `received`.
    fn wait_for(&mut self, marker: &[u8]) -> bool {
        let mut buf = [0u8; 2048];
        Scenario::wait_until(DELIVERY, || {
            while let Ok((n, from)) = self.socket.recv_from(&mut buf) {
                self.received.push((from, buf[..n].to_vec()));
            }
            self.received.iter().any(|(_, p)| p == marker)
        })
    }

    /// How many datagrams carrying `payload` arrived, and from where.
    fn senders_of(&self, payload: &[u8]) -> Vec<SocketAddr> {
        self.received
            .iter()
            .filter(|(_, p)| p == payload)
            .map(|(from, _)| *from)
            .collect()
    }
}

/// The gateway's CHILD SA whose inbound SPI is `spi`.
fn child(report: &StatusReport, spi: u32) -> ChildSaStatus {
    report
        .ike_sas
        .iter()
        .flat_map(|sa| &sa.child_sas)
        .find(|c| c.spi_in == spi)
        .cloned()
        .unwrap_or_else(|| panic!("no CHILD SA with inbound SPI {spi:08x}: {report:#?}"))
}

fn udp(src: Ipv4Addr, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    lab::ipv4_udp_packet(SocketAddrV4::new(src, ROGUE_PORT), dst, payload).expect("inner packet")
}

/// Sends `payload` from `src` to the sink through the rogue's SA, without waiting.
fn send(rogue: &RogueClient, sink: &CoreSink, src: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    rogue
        .send_inner(&udp(src, sink.addr, payload))
        .unwrap_or_else(|e| panic!("send: {e}"))
}

/// Sends `payload` from the rogue's own address and waits until the core has it; returns the
/// ESP packet.
fn deliver(rogue: &RogueClient, sink: &mut CoreSink, payload: &[u8]) -> Vec<u8> {
    let esp = send(rogue, sink, rogue.virtual_ip(), payload);
    assert!(
        sink.wait_for(payload),
        "`{}` from the rogue's own address did not reach the core",
        String::from_utf8_lossy(payload)
    );
    esp
}

#[test]
fn spoofed_and_replayed_esp_over_udp_is_dropped_and_counted() {
    spoofed_and_replayed_esp_is_dropped_and_counted(RogueTransport::Udp);
}

#[test]
fn spoofed_and_replayed_esp_over_tcp_is_dropped_and_counted() {
    spoofed_and_replayed_esp_is_dropped_and_counted(RogueTransport::Tcp);
}

fn spoofed_and_replayed_esp_is_dropped_and_counted(transport: RogueTransport) {
    let mut s = Scenario::new(2, "");
    s.start_client(1, &[]);
    let a = s.lab.addresses().clone();
    let core = IpAddr::V4(a.core);
    let legit_vip = s.client_vip(1);
    let rogue = RogueClient::connect(
        &s.lab,
        Host::Client(0),
        a.clients[0],
        s.lab.gateway_outer(),
        transport,
        TUNNEL_UP,
    )
    .unwrap_or_else(|e| panic!("rogue tunnel: {e}"));
    let vip = rogue.virtual_ip();
    assert!(
        a.pool.contains(&vip),
        "{vip} is not from the pool {}",
        a.pool
    );
    assert_ne!(vip, legit_vip, "two clients got the same address");
    assert_eq!(
        s.gateway_status().tcp.opened,
        u64::from(transport == RogueTransport::Tcp),
        "TCP connections the gateway accepted"
    );
    let spi = rogue.gateway_spi();
    let mut sink = CoreSink::bind(&s, SocketAddrV4::new(a.core, SINK_PORT));
    assert!(s.ping(Host::Client(1), core), "real client before");

    // (a) From its own virtual IP: delivered, source intact.
    deliver(&rogue, &mut sink, b"own address");
    assert_eq!(
        sink.senders_of(b"own address"),
        [SocketAddr::from((vip, ROGUE_PORT))]
    );
    let before = child(&s.gateway_status(), spi);

    // (b) From another client's virtual IP and from outside the pool: dropped and counted. A
    // correctly sourced packet sent after them on the same SA shows they had their chance.
    for (src, payload) in [
        (legit_vip, &b"spoofed: other client"[..]),
        (OUTSIDE_POOL, b"spoofed: outside the pool"),
    ] {
        send(&rogue, &sink, src, payload);
    }
    deliver(&rogue, &mut sink, b"after the spoofs");
    for payload in [&b"spoofed: other client"[..], b"spoofed: outside the pool"] {
        assert!(
            sink.senders_of(payload).is_empty(),
            "{} reached the core",
            String::from_utf8_lossy(payload)
        );
    }
    let after_spoofs = child(&s.gateway_status(), spi);
    assert_eq!(
        after_spoofs.dropped_policy - before.dropped_policy,
        2,
        "policy drops: {before:?} -> {after_spoofs:?}"
    );
    assert!(
        s.ping(Host::Client(1), core),
        "real client after the spoofs"
    );

    // (c) The same ESP packet twice more: the copies are replays.
    let original = deliver(&rogue, &mut sink, b"sent once");
    rogue.send_esp(&original).expect("replay");
    rogue.send_esp(&original).expect("replay");
    deliver(&rogue, &mut sink, b"after the replays");
    assert_eq!(
        sink.senders_of(b"sent once").len(),
        1,
        "a replay reached the core"
    );
    let after_replays = child(&s.gateway_status(), spi);
    assert_eq!(
        after_replays.dropped_replay - after_spoofs.dropped_replay,
        2,
        "replay drops: {after_spoofs:?} -> {after_replays:?}"
    );
    assert_eq!(after_replays.dropped_policy, after_spoofs.dropped_policy);
    assert_eq!(
        after_replays.dropped_auth, before.dropped_auth,
        "no ICV failures"
    );

    // Each kind of drop left a (rate-limited) log line naming the sender.
    let log = s.gateway_log();
    for what in ["(spoofed)", "replayed or too old ESP sequence number"] {
        assert!(
            log.lines()
                .any(|line| line.contains(what) && line.contains(&a.clients[0].to_string())),
            "no log line for `{what}` from {}:\n{log}",
            a.clients[0]
        );
    }

    // (d) The real client's tunnel was never touched.
    assert!(
        s.ping(Host::Client(1), core),
        "real client after the replays"
    );
    assert!(
        s.ping(Host::Core, IpAddr::V4(legit_vip)),
        "core -> real client after the replays"
    );
    let report = s.gateway_status();
    let legit = report
        .ike_sas
        .iter()
        .find(|sa| sa.virtual_ip.as_deref() == Some(&legit_vip.to_string()))
        .expect("the real client's IKE SA");
    for c in &legit.child_sas {
        assert_eq!(
            (c.dropped_policy, c.dropped_replay, c.dropped_auth),
            (0, 0, 0),
            "the real client's CHILD SA lost packets: {c:?}"
        );
    }
    assert_eq!(
        report.ike_sas.len(),
        2,
        "both IKE SAs are still up: {report:#?}"
    );
}
