//! Hostile and broken input: tampered, truncated, replayed and misaddressed messages, and the
//! real strongSwan 5.9.8 IKE_SA_INIT request fed to the responder.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Pair, Side, Verdict};
use ikev2::config::EndpointConfig;
use ikev2::wire::{ExchangeType, Message, NotifyType, PayloadBody};
use ikev2::{Endpoint, Path};

const STRONGSWAN_INIT: &[u8] =
    include_bytes!("data/engine/strongswan-5.9.8-ike-sa-init-request.bin");
const STRONGSWAN_AUTH: &[u8] = include_bytes!("data/engine/strongswan-5.9.8-ike-auth-request.bin");

fn exchange(data: &[u8]) -> u8 {
    data.get(18).copied().unwrap_or(0)
}

/// A responder (the test server peer, 4 addresses) at the test origin, and the path a client's
/// datagrams arrive on (port 500).
fn responder_and_path() -> (Endpoint, std::time::Instant, Path) {
    let config = EndpointConfig::new([7; 32], vec![std::sync::Arc::new(common::server_peer())]);
    let server = Endpoint::new(config, Box::new(common::TestPool::new(4)));
    let path = Path::udp(
        "10.99.0.1:500".parse().unwrap(),
        "10.99.0.2:500".parse().unwrap(),
    );
    (server, common::origin(), path)
}

#[test]
fn strongswan_ike_sa_init_request_gets_a_sensible_answer() {
    let (mut server, now, path) = responder_and_path();
    server.handle_datagram(now, path, STRONGSWAN_INIT);
    let reply = server.poll_transmit().expect("an IKE_SA_INIT response");
    assert!(server.poll_transmit().is_none());
    assert_eq!(reply.path, path);
    let request = Message::parse(STRONGSWAN_INIT).unwrap();
    let response = Message::parse(&reply.data).unwrap();
    assert_eq!(response.header.exchange_type, ExchangeType::IkeSaInit);
    assert!(response.header.flags.is_response() && !response.header.flags.is_initiator());
    assert_eq!(response.header.spi_i, request.header.spi_i);
    assert_ne!(response.header.spi_r, 0);
    let mut kinds = Vec::new();
    for body in response.bodies() {
        match body {
            PayloadBody::Sa(sa) => {
                assert_eq!(sa.proposals.len(), 1);
                // strongSwan offered AES-GCM-16-256 / PRF-HMAC-SHA2-256 / x25519 only.
                let ids: Vec<(u8, u16)> = sa.proposals[0]
                    .transforms
                    .iter()
                    .map(|t| t.id.to_wire())
                    .collect();
                assert_eq!(ids, vec![(1, 20), (2, 5), (4, 31)]);
                assert_eq!(sa.proposals[0].transforms[0].key_length(), Some(256));
                kinds.push("SA");
            }
            PayloadBody::Ke(ke) => {
                assert_eq!(u16::from(ke.group), 31);
                assert_eq!(ke.data.len(), 32);
                kinds.push("KE");
            }
            PayloadBody::Nonce(n) => {
                assert!(n.data.len() >= 16);
                kinds.push("Nr");
            }
            PayloadBody::Notify(n) if n.notify_type == NotifyType::NatDetectionSourceIp => {
                kinds.push("NATD_S")
            }
            PayloadBody::Notify(n) if n.notify_type == NotifyType::NatDetectionDestinationIp => {
                kinds.push("NATD_D")
            }
            other => panic!("unexpected payload {other:?}"),
        }
    }
    assert_eq!(kinds, ["SA", "KE", "Nr", "NATD_S", "NATD_D"]);
    assert_eq!(server.half_open_count(), 1);
    // The same request again is a retransmission: the same response, no new state.
    server.handle_datagram(now, path, STRONGSWAN_INIT);
    assert_eq!(server.poll_transmit().unwrap().data, reply.data);
    assert_eq!(server.half_open_count(), 1);
    // strongSwan's IKE_AUTH from that capture was protected with other keys: dropped, counted.
    let path_4500 = Path::udp(
        "10.99.0.1:4500".parse().unwrap(),
        "10.99.0.2:4500".parse().unwrap(),
    );
    server.handle_datagram(now, path_4500, STRONGSWAN_AUTH);
    assert!(server.poll_transmit().is_none());
    assert_eq!(
        server.counters().dropped_unknown_spi + server.counters().dropped_integrity,
        1
    );
}

#[test]
fn truncated_and_garbage_input_never_panics_and_is_counted() {
    let (mut server, now, path) = responder_and_path();
    for len in 0..STRONGSWAN_INIT.len() {
        server.handle_datagram(now, path, &STRONGSWAN_INIT[..len]);
    }
    assert_eq!(
        server.counters().dropped_malformed,
        STRONGSWAN_INIT.len() as u64
    );
    assert_eq!(server.ike_sa_count(), 0);
    // Every inner length rewritten: parse errors or INVALID_SYNTAX, never a panic.
    for at in 28..STRONGSWAN_INIT.len() {
        let mut bytes = STRONGSWAN_INIT.to_vec();
        bytes[at] ^= 0xff;
        server.handle_datagram(now, path, &bytes);
        while server.poll_transmit().is_some() {}
    }
    assert!(server.ike_sa_count() <= STRONGSWAN_INIT.len());
}

#[test]
fn flipped_bit_in_sk_is_dropped_and_the_retransmission_recovers() {
    let mut pair = Pair::default_pair();
    let mut flipped = false;
    pair.hook = Some(Box::new(move |from, data| {
        if from == Side::Client && exchange(data) == 35 && !flipped {
            flipped = true;
            let last = data.len() - 20;
            data[last] ^= 0x01;
        }
        Verdict::Deliver
    }));
    let sa = pair.connect();
    assert!(!pair.client.is_established(sa));
    assert_eq!(pair.server.counters().dropped_integrity, 1);
    pair.advance(Duration::from_secs(5));
    assert!(pair.client.is_established(sa));
    assert_eq!(pair.client.counters().retransmits, 1);
}

#[test]
fn tampered_response_and_wrong_spi_are_dropped() {
    let mut pair = Pair::default_pair();
    let mut count = 0;
    pair.hook = Some(Box::new(move |from, data| {
        if from == Side::Server && exchange(data) == 35 {
            count += 1;
            match count {
                // First: flip a bit in the ICV; second: another responder SPI.
                1 => *data.last_mut().unwrap() ^= 0x80,
                2 => data[8] ^= 0x01,
                _ => {}
            }
        }
        Verdict::Deliver
    }));
    let sa = pair.connect();
    assert_eq!(pair.client.counters().dropped_integrity, 1);
    pair.advance(Duration::from_secs(5));
    assert_eq!(pair.client.counters().dropped_unknown_spi, 1);
    pair.advance(Duration::from_secs(8));
    assert!(pair.client.is_established(sa));
    // The server answered the retransmitted IKE_AUTH from its cache.
    assert_eq!(pair.server.counters().retransmitted_requests, 2);
    assert_eq!(Pair::installed(&pair.server_events).len(), 1);
}

#[test]
fn replayed_and_out_of_window_requests() {
    let mut pair = Pair::default_pair();
    let sa = pair.connect();
    let auth_request = pair
        .log
        .iter()
        .find(|(from, d)| *from == Side::Client && exchange(d) == 35)
        .unwrap()
        .1
        .clone();
    pair.client.check_liveness(pair.now, sa).unwrap();
    pair.drive();
    let before = pair.server.counters();
    // IKE_AUTH (message ID 1) replayed after the liveness check (ID 2): outside the window.
    let path = Path::udp(
        "10.99.0.1:4500".parse().unwrap(),
        "10.99.0.2:4500".parse().unwrap(),
    );
    pair.server.handle_datagram(pair.now, path, &auth_request);
    assert!(pair.server.poll_transmit().is_none());
    assert_eq!(
        pair.server.counters().dropped_message_id,
        before.dropped_message_id + 1
    );
    // The last request replayed: answered from the cache, nothing else happens.
    let dpd = pair
        .log
        .iter()
        .rev()
        .find(|(from, d)| *from == Side::Client && exchange(d) == 37)
        .unwrap()
        .1
        .clone();
    pair.server.handle_datagram(pair.now, path, &dpd);
    assert!(pair.server.poll_transmit().is_some());
    assert_eq!(
        pair.server.counters().retransmitted_requests,
        before.retransmitted_requests + 1
    );
    assert_eq!(pair.server.child_sa_count(), 1);
}

#[test]
fn ike_sa_init_errors_answered_without_state() {
    let (mut server, now, path) = responder_and_path();
    // A request without KE (payload types rewritten): INVALID_SYNTAX, no state.
    let mut message = Message::parse(STRONGSWAN_INIT).unwrap();
    message
        .payloads
        .retain(|p| !matches!(p.body, PayloadBody::Ke(_)));
    let bytes = message.emit().unwrap();
    server.handle_datagram(now, path, &bytes);
    let reply = server.poll_transmit().unwrap();
    let reply = Message::parse(&reply.data).unwrap();
    assert!(
        matches!(reply.payloads[0].body, PayloadBody::Notify(n) if n.notify_type == NotifyType::InvalidSyntax)
    );
    assert_eq!(server.ike_sa_count(), 0);
}
