//! What a TCP-only firewall (TR 33.830 NIMSFW type 6) sees of a tunnel that fell back to TPKT'
//! (TR 33.830 clause 8.5.2.2): a capture on the gateway's outer interface holds only TCP
//! segments to or from port 80, and each direction's byte stream, put back together from the
//! segments, is an exact sequence of `01 00 LL LL` frames carrying IKE (behind the zero non-ESP
//! marker) and ESP.

use std::collections::BTreeMap;
use std::net::IpAddr;

use eseg_tests::{Host, Scenario};
use lab::{ifname, Firewall, Router};

/// One direction of one TCP connection: payloads by offset from the first data octet.
#[derive(Default)]
struct Direction {
    first_seq: Option<u32>,
    segments: BTreeMap<u32, Vec<u8>>,
}

impl Direction {
    /// The stream's bytes in order; panics on a hole (the capture lost a segment).
    fn reassemble(&self) -> Vec<u8> {
        let mut stream = Vec::new();
        for (offset, payload) in &self.segments {
            let offset = *offset as usize;
            assert!(
                offset <= stream.len(),
                "hole in the captured stream at {offset}"
            );
            let overlap = stream.len() - offset;
            if overlap < payload.len() {
                stream.extend_from_slice(&payload[overlap..]);
            }
        }
        stream
    }
}

/// Frames in a TPKT' stream: (IKE, ESP, keepalive) counts. Panics unless the stream is an exact
/// sequence of frames.
fn count_frames(stream: &[u8]) -> (usize, usize, usize) {
    let (mut ike, mut esp, mut keepalive) = (0, 0, 0);
    let mut rest = stream;
    while !rest.is_empty() {
        assert!(rest.len() >= 4, "stream ends inside a frame header");
        assert_eq!(&rest[..2], &[0x01, 0x00], "frame header must begin 01 00");
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        assert!(
            len >= 5 && len <= rest.len(),
            "frame length {len} out of range"
        );
        let payload = &rest[4..len];
        if payload == [0xff] {
            keepalive += 1;
        } else if payload.starts_with(&[0, 0, 0, 0]) {
            assert!(
                payload.len() >= 4 + 28,
                "IKE frame shorter than an IKE header"
            );
            ike += 1;
        } else {
            assert!(payload.len() >= 8, "ESP frame shorter than SPI + sequence");
            esp += 1;
        }
        rest = &rest[len..];
    }
    (ike, esp, keepalive)
}

#[test]
fn only_tcp_80_segments_carrying_whole_tpkt_frames() {
    let mut s = Scenario::with_router(1, Router::Firewall(Firewall::TcpOnly), "");
    let capture = s
        .lab
        .capture(Host::Gateway, ifname::GATEWAY_OUTER, "ip")
        .expect("capture on the gateway's outer interface");
    s.start_client(0, &["--udp-timeout-ms", "1000"]);
    assert_eq!(s.client_printed(0, "transport"), vec!["tcp".to_owned()]);
    let core = IpAddr::V4(s.lab.addresses().core);
    assert!(s.ping(Host::Client(0), core), "client -> core");
    let packets = capture.finish().expect("capture");

    let mut directions: BTreeMap<(u16, u16), Direction> = BTreeMap::new();
    let mut segments = 0;
    for packet in &packets {
        let ip = packet.ip_packet().expect("an IPv4 packet");
        assert_eq!(ip[9], 6, "only TCP may pass: {ip:02x?}");
        let (sport, dport) = packet.ports().expect("TCP ports");
        assert!(sport == 80 || dport == 80, "TCP {sport} -> {dport}");
        let tcp = &ip[usize::from(ip[0] & 0x0f) * 4..];
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
        let syn = tcp[13] & 0x02 != 0;
        let direction = directions.entry((sport, dport)).or_default();
        // The first data octet follows the SYN's sequence number.
        let first = *direction
            .first_seq
            .get_or_insert(if syn { seq.wrapping_add(1) } else { seq });
        let payload = packet.tcp_payload().unwrap_or_default();
        if !payload.is_empty() {
            segments += 1;
            direction
                .segments
                .entry(seq.wrapping_sub(first))
                .or_insert_with(|| payload.to_vec());
        }
    }
    assert!(segments >= 6, "too few data segments: {segments}");

    let (mut ike, mut esp) = (0, 0);
    for ((sport, dport), direction) in &directions {
        let stream = direction.reassemble();
        if stream.is_empty() {
            continue;
        }
        assert_eq!(
            &stream[..2],
            &[1, 0],
            "{sport}->{dport} starts with a TPKT' header"
        );
        let (i, e, _) = count_frames(&stream);
        ike += i;
        esp += e;
    }
    assert!(
        ike >= 4,
        "IKE_SA_INIT and IKE_AUTH both ways: {ike} IKE frames"
    );
    assert!(esp >= 6, "three pings both ways: {esp} ESP frames");
}
