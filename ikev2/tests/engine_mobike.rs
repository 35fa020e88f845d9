//! MOBIKE (RFC 4555) between two engines in memory: negotiation in IKE_AUTH, the initiator's
//! UPDATE_SA_ADDRESSES after `migrate`, the responder moving on it (and only on it when the
//! peer is not behind a NAT), retransmitted and replayed updates, a response without our
//! COOKIE2, and `migrate` without MOBIKE. Then the responder against a scripted initiator
//! (`common::scripted`) that sends what our initiator never does: chosen COOKIE2 lengths,
//! NO_NATS_ALLOWED, ADDITIONAL_*_ADDRESS and malformed notifies.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::scripted::{Reply, Scripted};
use common::{Pair, Side, Verdict};
use ikev2::config::EndpointConfig;
use ikev2::crypto::nat_detection_hash;
use ikev2::wire::{ExchangeType, Notify, NotifyType, PayloadBody, PayloadType};
use ikev2::{CloseReason, Endpoint, Error, Event, IkeSaHandle, Path};

/// INFORMATIONAL exchange type (RFC 7296 §3.1), at octet 18 of the IKE header.
const INFORMATIONAL: u8 = 37;

fn exchange(data: &[u8]) -> u8 {
    data.get(18).copied().unwrap_or(0)
}

/// Whether an IKE message is a response (R flag, octet 19).
fn is_response(data: &[u8]) -> bool {
    data.get(19).is_some_and(|flags| flags & 0x20 != 0)
}

/// The values `$pattern` binds to `$value` in every event of `$events` it matches, in order.
macro_rules! pick {
    ($events:expr, $pattern:pat => $value:expr) => {
        $events
            .iter()
            .filter_map(|e| match e {
                $pattern => Some($value),
                _ => None,
            })
            .collect()
    };
}

/// `mobike` of every `IkeSaEstablished` in `events`.
fn negotiated(events: &[Event]) -> Vec<bool> {
    pick!(events, Event::IkeSaEstablished { mobike, .. } => *mobike)
}

fn path_changes(events: &[Event]) -> Vec<Path> {
    pick!(events, Event::PathChanged { path, .. } => *path)
}

fn confirmed_nat(events: &[Event]) -> Vec<bool> {
    pick!(events, Event::PathConfirmed { nat_local, .. } => *nat_local)
}

fn confirmed(events: &[Event]) -> Vec<(Path, bool)> {
    pick!(events, Event::PathConfirmed { path, mobike, .. } => (*path, *mobike))
}

/// A pair without forced encapsulation and without NAT: each side sees the other as not
/// behind a NAT, so a MOBIKE responder moves only on UPDATE_SA_ADDRESSES (RFC 4555 §3.8).
fn honest_pair() -> Pair {
    let mut pair = Pair::default_pair();
    pair.reconfigure_client(|config| config.force_encapsulation = false);
    pair.reconfigure_server(|config| config.force_encapsulation = false);
    pair
}

/// `pair` with an IKE SA: the pair, the client's handle and the server's.
fn connected(mut pair: Pair) -> (Pair, IkeSaHandle, IkeSaHandle) {
    let sa = pair.connect();
    let server = pair.server_sa();
    (pair, sa, server)
}

/// The client moves `sa` to its current path with the local address `local` (it "changed
/// network"); delivered until quiet. Returns the new path.
fn move_client(pair: &mut Pair, sa: IkeSaHandle, local: &str) -> Path {
    let new_path = moved(pair, sa, local);
    pair.client_migrates(sa, new_path);
    new_path
}

/// The client's current path with another local address (the client "changed network").
fn moved(pair: &Pair, sa: IkeSaHandle, local: &str) -> Path {
    Path {
        local: local.parse().unwrap(),
        ..pair.client.path(sa).unwrap()
    }
}

/// The client messages of the log that are INFORMATIONAL requests, newest last.
fn informational_requests(pair: &Pair) -> Vec<Vec<u8>> {
    pair.log
        .iter()
        .filter(|(from, d)| {
            *from == Side::Client && exchange(d) == INFORMATIONAL && !is_response(d)
        })
        .map(|(_, d)| d.clone())
        .collect()
}

#[test]
fn mobike_is_negotiated_when_both_sides_offer_it() {
    let mut pair = Pair::default_pair();
    let sa = pair.connect();
    assert_eq!(negotiated(&pair.client_events), [true]);
    assert_eq!(negotiated(&pair.server_events), [true]);
    assert!(pair.client.mobike(sa));
    assert!(pair.server.mobike(pair.server_sa()));
    assert_eq!(pair.client.counters().mobike_established, 1);
    assert_eq!(pair.server.counters().mobike_established, 1);
    // A closed SA is no MOBIKE SA any more.
    pair.client.close(pair.now, sa).unwrap();
    pair.drive();
    assert!(!pair.client.mobike(sa));
}

#[test]
fn mobike_is_not_negotiated_when_either_side_is_off() {
    for (client_on, server_on) in [(false, true), (true, false), (false, false)] {
        let mut pair = Pair::default_pair();
        pair.reconfigure_client(|config| config.mobike = client_on);
        pair.reconfigure_server(|config| config.mobike = server_on);
        let sa = pair.connect();
        assert!(pair.client.is_established(sa));
        assert_eq!(negotiated(&pair.client_events), [false]);
        assert_eq!(negotiated(&pair.server_events), [false]);
        assert!(!pair.client.mobike(sa));
        assert!(!pair.server.mobike(pair.server_sa()));
        assert_eq!(pair.server.counters().mobike_established, 0);
    }
}

#[test]
fn mobike_initiator_floats_to_4500_without_a_nat() {
    // RFC 4555 §3.3: with MOBIKE and NAT traversal on both ends, IKE moves to 4500 anyway.
    let mut pair = honest_pair();
    let sa = pair.connect();
    assert_eq!(pair.client.path(sa).unwrap().remote.port(), 4500);
    assert_eq!(
        pair.server.path(pair.server_sa()).unwrap().local.port(),
        4500
    );
    // ESP is still not encapsulated: there is no NAT and nothing forces it.
    assert!(!Pair::installed(&pair.client_events)[0].udp_encapsulation);
}

#[test]
fn migrate_sends_update_sa_addresses_and_the_responder_moves() {
    let (mut pair, sa, server) = connected(honest_pair());
    let new_path = moved(&pair, sa, "10.99.7.2:4500");
    let requests_before = informational_requests(&pair).len();
    pair.client_migrates(sa, new_path);

    // One INFORMATIONAL request went out; the responder moved to where it came from.
    assert_eq!(informational_requests(&pair).len(), requests_before + 1);
    let seen: SocketAddr = "10.99.7.2:4500".parse().unwrap();
    assert_eq!(pair.server.path(server).unwrap().remote, seen);
    assert_eq!(
        path_changes(&pair.server_events)
            .iter()
            .map(|p| p.remote)
            .collect::<Vec<_>>(),
        [seen]
    );
    assert_eq!(pair.server.counters().address_updates, 1);
    // The client learnt that the gateway followed.
    assert_eq!(path_changes(&pair.client_events), [new_path]);
    assert_eq!(confirmed(&pair.client_events), [(new_path, true)]);
    assert_eq!(confirmed_nat(&pair.client_events), [false]);
    assert_eq!(pair.client.counters().address_updates, 1);
    assert_eq!(pair.client.path(sa), Some(new_path));
    // NAT detection was redone for the new path: still no NAT either way.
    assert!(pair.client.is_established(sa) && pair.server.is_established(server));
    assert_eq!(pair.client.counters().address_updates_failed, 0);

    // Traffic goes on over the new path: a liveness check from it is answered there.
    pair.client_checks_liveness(sa);
    assert_eq!(pair.server.path(server).unwrap().remote, seen);
    assert!(pair
        .log
        .iter()
        .rev()
        .take(2)
        .all(|(_, d)| exchange(d) == INFORMATIONAL));
}

#[test]
fn a_mobike_responder_does_not_follow_an_unannounced_path_of_a_peer_not_behind_a_nat() {
    // RFC 4555 §3.8: only UPDATE_SA_ADDRESSES moves the SA when the peer is not behind a NAT.
    let (mut pair, sa, server) = connected(honest_pair());
    let before = pair.server.path(server).unwrap();
    pair.nat = Some("198.51.100.9".parse().unwrap());
    pair.client_checks_liveness(sa);
    // Answered on the path the request came in on (RFC 7296 §2.11), but not followed.
    assert!(pair.client_saw_peer_alive());
    assert_eq!(pair.server.path(server), Some(before));
    assert!(path_changes(&pair.server_events).is_empty());
}

#[test]
fn a_mobike_responder_still_follows_nat_rebinding_of_a_peer_behind_a_nat() {
    // The default forces encapsulation: the server sees the client as behind a NAT.
    let (mut pair, sa, server) = connected(Pair::default_pair());
    assert!(pair.server.mobike(server));
    pair.nat = Some("198.51.100.9".parse().unwrap());
    pair.client_checks_liveness(sa);
    let nat: IpAddr = "198.51.100.9".parse().unwrap();
    assert_eq!(pair.server.path(server).unwrap().remote.ip(), nat);
    assert_eq!(path_changes(&pair.server_events).len(), 1);
}

#[test]
fn a_retransmitted_update_gets_the_cached_response_and_a_replay_does_not_move_back() {
    let (mut pair, sa, server) = connected(honest_pair());
    // The first answer to the update is lost: the client retransmits, the server answers from
    // its cache without moving again.
    let mut dropped = false;
    pair.hook = Some(Box::new(move |from, data| {
        if from == Side::Server && exchange(data) == INFORMATIONAL && !dropped {
            dropped = true;
            return Verdict::Drop;
        }
        Verdict::Deliver
    }));
    let path_b = move_client(&mut pair, sa, "10.99.7.2:4500");
    assert!(confirmed(&pair.client_events).is_empty());
    pair.advance(Duration::from_secs(5));
    assert_eq!(confirmed(&pair.client_events), [(path_b, true)]);
    assert_eq!(pair.server.counters().retransmitted_requests, 1);
    assert_eq!(pair.server.counters().address_updates, 1);
    assert_eq!(path_changes(&pair.server_events).len(), 1);
    let update_b = informational_requests(&pair).last().unwrap().clone();

    // The client moves again, to C.
    let path_c = move_client(&mut pair, sa, "10.99.8.2:4500");
    let seen_b = Path::udp(pair.server.path(server).unwrap().local, path_b.local);
    let seen_c = pair.server.path(server).unwrap();
    assert_eq!(seen_c.remote, path_c.local);
    let update_c = informational_requests(&pair).last().unwrap().clone();

    // The update announcing B, replayed from B: outside the window, dropped.
    let before = pair.server.counters();
    pair.server.handle_datagram(pair.now, seen_b, &update_b);
    assert!(pair.server.poll_transmit().is_none());
    assert_eq!(
        pair.server.counters().dropped_message_id,
        before.dropped_message_id + 1
    );
    // The update announcing C, replayed from B: the cached answer goes to B, the SA stays on C.
    pair.server.handle_datagram(pair.now, seen_b, &update_c);
    assert_eq!(pair.server.poll_transmit().unwrap().path, seen_b);
    assert_eq!(pair.server.path(server), Some(seen_c));
    assert_eq!(pair.server.counters().address_updates, 2);
    pair.collect_events();
    assert_eq!(path_changes(&pair.server_events).len(), 2);
}

#[test]
fn a_request_in_flight_keeps_going_on_the_new_path_and_the_update_follows_it() {
    let (mut pair, sa, server) = connected(honest_pair());
    // A liveness check is in flight on the old path when the client moves.
    pair.client.check_liveness(pair.now, sa).unwrap();
    pair.hold_next = Some(Side::Client);
    pair.step();
    let path_b = move_client(&mut pair, sa, "10.99.7.2:4500");
    // The update waits for the window.
    assert!(confirmed(&pair.client_events).is_empty());
    pair.release_held();
    pair.drive();
    assert_eq!(confirmed(&pair.client_events), [(path_b, true)]);
    assert_eq!(pair.server.path(server).unwrap().remote, path_b.local);
    // Two migrations in a row: one update for the newest path after the one in flight.
    let path_c = moved(&pair, sa, "10.99.8.2:4500");
    let path_d = moved(&pair, sa, "10.99.9.2:4500");
    pair.client.migrate(pair.now, sa, path_c).unwrap();
    pair.client_migrates(sa, path_d);
    assert_eq!(pair.server.path(server).unwrap().remote, path_d.local);
    assert_eq!(pair.client.path(sa), Some(path_d));
    assert_eq!(confirmed(&pair.client_events).last(), Some(&(path_d, true)));
}

#[test]
fn migrate_without_mobike_sends_a_liveness_check_the_peer_follows() {
    let mut pair = Pair::default_pair();
    pair.reconfigure_server(|config| config.mobike = false);
    let sa = pair.connect();
    let server = pair.server_sa();
    assert!(!pair.client.mobike(sa));
    let new_path = move_client(&mut pair, sa, "10.99.7.2:4500");
    assert_eq!(pair.server.path(server).unwrap().remote, new_path.local);
    assert_eq!(confirmed(&pair.client_events), [(new_path, false)]);
    assert!(pair.client_saw_peer_alive());
    assert_eq!(pair.server.counters().address_updates, 0);
    assert_eq!(pair.client.counters().address_updates, 0);
}

#[test]
fn an_answer_without_our_cookie2_closes_the_ike_sa() {
    // Two runs with the same seeds hold the same keys and message IDs. The first answers a
    // plain liveness check; its answer, fed to the second run in place of the answer to an
    // update, authenticates but carries no COOKIE2 (RFC 4555 §3.7: the IKE SA must close).
    let mut first = honest_pair();
    let sa = first.connect();
    first.client_checks_liveness(sa);
    let plain_answer = first
        .log
        .iter()
        .rev()
        .find(|(from, d)| *from == Side::Server && exchange(d) == INFORMATIONAL)
        .unwrap()
        .1
        .clone();

    let mut second = honest_pair();
    let sa = second.connect();
    second.hook = Some(Box::new(|from, data| {
        if from == Side::Server && exchange(data) == INFORMATIONAL {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    }));
    let new_path = move_client(&mut second, sa, "10.99.7.2:4500");
    let before = second.client.counters();
    second
        .client
        .handle_datagram(second.now, new_path, &plain_answer);
    second.collect_events();
    assert_eq!(
        second.client.counters().dropped_integrity,
        before.dropped_integrity,
        "the answer authenticates"
    );
    assert_eq!(
        Pair::closed(&second.client_events),
        [&CloseReason::Failed(Error::Cookie2Mismatch)]
    );
    assert_eq!(second.client.counters().address_updates_failed, 1);
    assert!(confirmed(&second.client_events).is_empty());
    assert!(!second.client.is_established(sa));
}

#[test]
fn the_ike_sa_keeps_mobike_across_an_ike_rekey() {
    let (mut pair, sa, server) = connected(honest_pair());
    pair.client.rekey_ike(pair.now, sa).unwrap();
    pair.drive();
    assert!(pair
        .client_events
        .iter()
        .any(|e| matches!(e, Event::IkeSaRekeyed { .. })));
    assert!(pair.client.mobike(sa) && pair.server.mobike(server));
    let new_path = move_client(&mut pair, sa, "10.99.7.2:4500");
    assert_eq!(confirmed(&pair.client_events), [(new_path, true)]);
    assert_eq!(pair.server.path(server).unwrap().remote, new_path.local);
}

#[test]
fn the_client_still_decides_the_addresses_after_the_gateway_rekeys_the_ike_sa() {
    // The rekey's initiator takes the initiator role of the new IKE SA (RFC 7296 §2.18), but
    // the original initiator keeps deciding on addresses (RFC 4555 §3.3), as strongSwan does.
    let (mut pair, sa, server) = connected(honest_pair());
    pair.server.rekey_ike(pair.now, server).unwrap();
    pair.drive();
    assert!(pair
        .client_events
        .iter()
        .any(|e| matches!(e, Event::IkeSaRekeyed { .. })));
    let new_path = move_client(&mut pair, sa, "10.99.7.2:4500");
    assert_eq!(confirmed(&pair.client_events), [(new_path, true)]);
    assert_eq!(pair.server.path(server).unwrap().remote, new_path.local);
}

#[test]
fn the_client_is_not_pulled_back_by_a_late_answer_on_a_path_it_left() {
    // With forced encapsulation each side sees the other behind a NAT, so a gateway follows
    // unannounced moves; the client, which decides the addresses, must not follow the gateway.
    let (mut pair, sa, server) = connected(Pair::default_pair());
    let path_c = moved(&pair, sa, "10.99.8.2:4500");
    let path_d = moved(&pair, sa, "10.99.9.2:4500");
    pair.client.migrate(pair.now, sa, path_c).unwrap();
    pair.client_migrates(sa, path_d);
    assert_eq!(pair.client.path(sa), Some(path_d));
    assert_eq!(pair.server.path(server).unwrap().remote, path_d.local);
    assert_eq!(confirmed(&pair.client_events).last(), Some(&(path_d, true)));
}

/// A responder without forced encapsulation (so its NAT detection hashes are the real ones),
/// MOBIKE on unless `mobike` is false, and the path a scripted initiator's datagrams arrive on.
fn responder(mobike: bool) -> (Endpoint, Instant, Path) {
    let mut config = EndpointConfig::new([7; 32], vec![std::sync::Arc::new(common::server_peer())]);
    config.force_encapsulation = false;
    config.mobike = mobike;
    let server = Endpoint::new(config, Box::new(common::TestPool::new(4)));
    let path = Path::udp(
        "10.99.0.1:500".parse().unwrap(),
        "10.99.0.2:500".parse().unwrap(),
    );
    (server, common::origin(), path)
}

/// A [`responder`] with one IKE SA that a scripted initiator set up.
struct ScriptedSa {
    server: Endpoint,
    now: Instant,
    /// The path the initiator's datagrams arrive on (the server's view).
    path: Path,
    scripted: Scripted,
    /// The server's handle of the IKE SA.
    sa: IkeSaHandle,
}

impl ScriptedSa {
    /// The IKE SA set up, the initiator offering MOBIKE when `offer_mobike`; the responder's
    /// events so far are drained.
    fn establish(offer_mobike: bool) -> Self {
        let (mut server, now, path) = responder(true);
        let scripted = Scripted::establish(&mut server, now, path, offer_mobike);
        let sa = only_sa(&drain_events(&mut server));
        ScriptedSa {
            server,
            now,
            path,
            scripted,
            sa,
        }
    }

    /// An INFORMATIONAL request of the initiator carrying `bodies`, sent from `from` (the
    /// server's view), and the server's answer.
    fn informational(&mut self, from: Path, bodies: Vec<PayloadBody<'_>>) -> Reply {
        self.scripted
            .exchange(
                &mut self.server,
                self.now,
                from,
                ExchangeType::Informational,
                bodies,
            )
            .unwrap()
    }

    /// An UPDATE_SA_ADDRESSES request sent from `from` (the server's view), with honest NAT
    /// detection, the COOKIE2 `cookie` and `extra` notifies, and the server's answer.
    fn update_from(&mut self, from: Path, cookie: &[u8], extra: Vec<PayloadBody<'_>>) -> Reply {
        let (spi_i, spi_r) = (self.scripted.spi_i, self.scripted.spi_r);
        let source = nat_detection_hash(spi_i, spi_r, from.remote);
        let destination = nat_detection_hash(spi_i, spi_r, from.local);
        let mut bodies = vec![
            notify(NotifyType::UpdateSaAddresses, &[]),
            notify(NotifyType::NatDetectionSourceIp, &source),
            notify(NotifyType::NatDetectionDestinationIp, &destination),
            notify(NotifyType::Cookie2, cookie),
        ];
        bodies.extend(extra);
        self.informational(from, bodies)
    }

    /// The data paths of the `PathChanged` events the server emitted since the last call.
    fn path_changes(&mut self) -> Vec<Path> {
        path_changes(&drain_events(&mut self.server))
    }

    /// Asserts that `reply`, the server's answer on `path` (the server's view), carries the NAT
    /// detection hashes of that path's addresses as the server sends from them (RFC 7296 §2.23).
    fn assert_nat_detection_answers(&self, reply: &Reply, path: Path) {
        let hash = |address| {
            nat_detection_hash(self.scripted.spi_i, self.scripted.spi_r, address).to_vec()
        };
        assert_eq!(
            reply.notify(NotifyType::NatDetectionSourceIp),
            Some(hash(path.local))
        );
        assert_eq!(
            reply.notify(NotifyType::NatDetectionDestinationIp),
            Some(hash(path.remote))
        );
    }
}

fn drain_events(server: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| server.poll_event()).collect()
}

/// The only IKE SA of a responder.
fn only_sa(events: &[Event]) -> IkeSaHandle {
    events[0].sa()
}

fn notify(kind: NotifyType, data: &[u8]) -> PayloadBody<'_> {
    PayloadBody::Notify(Notify::new(kind, data))
}

#[test]
fn the_responder_answers_mobike_supported_only_when_offered() {
    for (offer, server_on, expected) in [
        (true, true, true),
        (false, true, false),
        (true, false, false),
    ] {
        let (mut server, now, path) = responder(server_on);
        let scripted = Scripted::establish(&mut server, now, path, offer);
        let answered = scripted
            .auth_reply
            .notify(NotifyType::MobikeSupported)
            .is_some();
        assert_eq!(answered, expected, "offer {offer}, server {server_on}");
        let events = drain_events(&mut server);
        assert!(events.iter().any(|e| matches!(
            e,
            Event::IkeSaEstablished { mobike, .. } if *mobike == expected
        )));
        assert_eq!(server.mobike(only_sa(&events)), expected);
    }
}

#[test]
fn cookie2_is_echoed_as_is_and_nat_detection_answered_in_any_informational() {
    let mut t = ScriptedSa::establish(true);
    let path = t.path;
    for length in [8, 33, 64] {
        let cookie: Vec<u8> = (0..length).map(|i| i as u8 ^ 0x5a).collect();
        let reply = t.informational(path, vec![notify(NotifyType::Cookie2, &cookie)]);
        assert_eq!(reply.notifies(), [(NotifyType::Cookie2, cookie)]);
    }
    // NAT detection in a request (no update) is answered for the response's addresses (§3.8).
    let (spi_i, spi_r) = (t.scripted.spi_i, t.scripted.spi_r);
    let source = nat_detection_hash(spi_i, spi_r, path.remote);
    let destination = nat_detection_hash(spi_i, spi_r, path.local);
    let reply = t.informational(
        path,
        vec![
            notify(NotifyType::NatDetectionSourceIp, &source),
            notify(NotifyType::NatDetectionDestinationIp, &destination),
        ],
    );
    t.assert_nat_detection_answers(&reply, path);
    // A plain liveness check gets a plain answer.
    let reply = t.informational(path, vec![]);
    assert!(reply.notifies().is_empty());
}

#[test]
fn an_update_moves_the_responder_to_the_path_it_came_on() {
    let mut t = ScriptedSa::establish(true);
    let (path, sa) = (t.path, t.sa);
    let new_path = Path::udp(path.local, "192.0.2.77:4500".parse().unwrap());
    let cookie = [0x42; 16];
    // Additional addresses are accepted and change nothing (we have one address, §3.4).
    let v4 = [192, 0, 2, 78];
    let v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let reply = t.update_from(
        new_path,
        &cookie,
        vec![
            notify(NotifyType::AdditionalIp4Address, &v4),
            notify(NotifyType::AdditionalIp6Address, &v6),
        ],
    );
    assert_eq!(reply.path, new_path, "answered on the new path");
    assert_eq!(reply.notify(NotifyType::Cookie2), Some(cookie.to_vec()));
    t.assert_nat_detection_answers(&reply, new_path);
    assert_eq!(t.server.path(sa), Some(new_path));
    assert_eq!(
        t.path_changes(),
        [new_path],
        "PathChanged for the data path"
    );
    assert_eq!(t.server.counters().address_updates, 1);

    // NO_ADDITIONAL_ADDRESSES alone is fine too.
    let reply = t.informational(
        new_path,
        vec![notify(NotifyType::NoAdditionalAddresses, &[])],
    );
    assert!(reply.notifies().is_empty());
    assert!(t.server.is_established(sa));
}

#[test]
fn no_nats_allowed_that_does_not_match_the_packet_is_refused_and_nothing_moves() {
    let mut t = ScriptedSa::establish(true);
    let (path, sa) = (t.path, t.sa);
    let new_path = Path::udp(path.local, "192.0.2.77:4500".parse().unwrap());
    // What the initiator put in its headers: source 10.0.0.5:4500 (a NAT rewrote it).
    let behind_nat = [10, 0, 0, 5, 10, 99, 0, 1, 0x11, 0x94, 0x01, 0xf4];
    let cookie = [0x17; 8];
    let reply = t.update_from(
        new_path,
        &cookie,
        vec![notify(NotifyType::NoNatsAllowed, &behind_nat)],
    );
    assert_eq!(
        reply.notifies(),
        [
            (NotifyType::UnexpectedNatDetected, Vec::new()),
            (NotifyType::Cookie2, cookie.to_vec()),
        ]
    );
    assert_eq!(u16::from(NotifyType::UnexpectedNatDetected), 41);
    assert_eq!(t.server.path(sa), Some(path));
    assert!(t.path_changes().is_empty());
    assert_eq!(t.server.counters().address_updates_failed, 1);

    // The addresses as they arrived: accepted.
    let honest = [192, 0, 2, 77, 10, 99, 0, 1, 0x11, 0x94, 0x01, 0xf4];
    let reply = t.update_from(
        new_path,
        &cookie,
        vec![notify(NotifyType::NoNatsAllowed, &honest)],
    );
    assert!(reply.notify(NotifyType::UnexpectedNatDetected).is_none());
    assert_eq!(t.server.path(sa), Some(new_path));
}

#[test]
fn malformed_mobike_notifies_get_invalid_syntax_and_are_counted() {
    let mut t = ScriptedSa::establish(true);
    let (path, sa) = (t.path, t.sa);
    let other = Path::udp(path.local, "192.0.2.77:4500".parse().unwrap());
    let short_cookie = [1u8; 7];
    let long_cookie = [2u8; 65];
    let good_cookie = [3u8; 8];
    let cases: Vec<(&str, Vec<PayloadBody<'_>>)> = vec![
        (
            "COOKIE2 of 7 octets",
            vec![notify(NotifyType::Cookie2, &short_cookie)],
        ),
        (
            "COOKIE2 of 65 octets",
            vec![notify(NotifyType::Cookie2, &long_cookie)],
        ),
        (
            "two COOKIE2",
            vec![
                notify(NotifyType::Cookie2, &good_cookie),
                notify(NotifyType::Cookie2, &good_cookie),
            ],
        ),
        (
            "NO_NATS_ALLOWED of 11 octets",
            vec![notify(NotifyType::NoNatsAllowed, &long_cookie[..11])],
        ),
        (
            "ADDITIONAL_IP4_ADDRESS of 3 octets",
            vec![notify(NotifyType::AdditionalIp4Address, &long_cookie[..3])],
        ),
        (
            "ADDITIONAL_IP6_ADDRESS of 4 octets",
            vec![notify(NotifyType::AdditionalIp6Address, &long_cookie[..4])],
        ),
        (
            "NAT_DETECTION_SOURCE_IP of 19 octets",
            vec![notify(NotifyType::NatDetectionSourceIp, &long_cookie[..19])],
        ),
    ];
    for (what, mut bodies) in cases {
        bodies.insert(0, notify(NotifyType::UpdateSaAddresses, &[]));
        let before = t.server.counters();
        let reply = t.informational(other, bodies);
        assert_eq!(
            reply.notifies(),
            [(NotifyType::InvalidSyntax, Vec::new())],
            "{what}"
        );
        assert_eq!(
            t.server.counters().dropped_malformed,
            before.dropped_malformed + 1,
            "{what}"
        );
        assert_eq!(t.server.path(sa), Some(path), "{what}: not moved");
        assert!(t.server.is_established(sa), "{what}");
    }
    // A Notify payload cut short inside the SK payload: 2 octets of body instead of at least 4.
    let truncated = [0u8, 0, 0, 6, 0, 0];
    let before = t.server.counters();
    let data = t
        .scripted
        .request_raw(ExchangeType::Informational, PayloadType::Notify, &truncated);
    let reply = t.scripted.send(&mut t.server, t.now, path, &data).unwrap();
    assert_eq!(reply.notifies(), [(NotifyType::InvalidSyntax, Vec::new())]);
    assert_eq!(
        t.server.counters().dropped_malformed,
        before.dropped_malformed + 1
    );
    assert!(t.server.is_established(sa));
    assert!(t.path_changes().is_empty());
    // The SA still works.
    let reply = t.informational(path, vec![]);
    assert!(reply.notifies().is_empty());
}

#[test]
fn an_update_on_an_ike_sa_without_mobike_is_ignored_and_counted() {
    let mut t = ScriptedSa::establish(false);
    let (path, sa) = (t.path, t.sa);
    assert!(!t.server.mobike(sa));
    let before = t.server.counters();
    let cookie = [0x33; 12];
    let reply = t.update_from(path, &cookie, vec![]);
    // Answered normally (COOKIE2 and NAT detection still echoed), no update counted.
    assert_eq!(reply.notify(NotifyType::Cookie2), Some(cookie.to_vec()));
    assert!(reply.notify(NotifyType::InvalidSyntax).is_none());
    assert_eq!(
        t.server.counters().dropped_unexpected,
        before.dropped_unexpected + 1
    );
    assert_eq!(t.server.counters().address_updates, 0);
    assert!(t.server.is_established(sa));
}

#[test]
fn an_initiator_behind_a_nat_announces_a_new_nat_mapping_it_learns_from_a_liveness_check() {
    // RFC 4555 §3.8: the client behind a NAT adds NAT detection to its liveness checks and
    // sends UPDATE_SA_ADDRESSES when the peer's view of its address changed.
    let mut pair = honest_pair();
    pair.nat = Some("198.51.100.9".parse().unwrap());
    let sa = pair.connect();
    let server = pair.server_sa();
    assert!(pair.client.mobike(sa));
    // The first check sets the baseline; the second, with the same mapping, changes nothing.
    for _ in 0..2 {
        pair.client_checks_liveness(sa);
    }
    assert_eq!(pair.client.counters().address_updates, 0);
    assert_eq!(pair.server.counters().address_updates, 0);
    // The NAT hands out a new public address: the next check notices and the client announces
    // its path again, so a responder that does not follow on its own moves too.
    pair.nat = Some("198.51.100.10".parse().unwrap());
    pair.client_checks_liveness(sa);
    assert_eq!(pair.client.counters().address_updates, 1);
    assert_eq!(pair.server.counters().address_updates, 1);
    assert_eq!(confirmed_nat(&pair.client_events), [true]);
    let nat: IpAddr = "198.51.100.10".parse().unwrap();
    assert_eq!(pair.server.path(server).unwrap().remote.ip(), nat);
    assert_eq!(
        confirmed(&pair.client_events),
        [(pair.client.path(sa).unwrap(), true)]
    );
    // Without a NAT on the client's side its liveness checks carry no NAT detection and never
    // trigger an update.
    let mut pair = honest_pair();
    let sa = pair.connect();
    for _ in 0..2 {
        pair.client_checks_liveness(sa);
    }
    assert_eq!(pair.client.counters().address_updates, 0);
}

#[test]
fn only_the_original_initiator_sends_address_updates() {
    // RFC 4555 §3.3: the initiator decides. A gateway that migrates its side of a MOBIKE SA
    // sends a liveness check from the new path, no UPDATE_SA_ADDRESSES; the client answers it
    // where it came from but keeps its own path (it does not follow the peer implicitly, even
    // though the peer looks NATed to it with forced encapsulation).
    let (mut pair, sa, server) = connected(Pair::default_pair());
    assert!(pair.server.mobike(server));
    let path = pair.server.path(server).unwrap();
    let new_path = Path {
        local: "10.99.0.5:4500".parse().unwrap(),
        ..path
    };
    pair.server.migrate(pair.now, server, new_path).unwrap();
    pair.drive();
    assert_eq!(confirmed(&pair.server_events), [(new_path, false)]);
    assert_eq!(pair.client.counters().address_updates, 0);
    assert_eq!(pair.server.counters().address_updates, 0);
    assert!(pair.client.is_established(sa));
    assert_eq!(pair.client.path(sa).unwrap().remote, path.local);
}

#[test]
fn moving_behind_a_nat_is_detected_by_both_sides_from_the_update() {
    // RFC 4555 §3.5: NAT detection is redone with the update and its answer.
    let (mut pair, sa, server) = connected(honest_pair());
    assert_eq!(confirmed_nat(&pair.client_events), Vec::<bool>::new());
    pair.nat = Some("203.0.113.44".parse().unwrap());
    let new_path = move_client(&mut pair, sa, "192.168.1.20:4500");
    assert_eq!(confirmed(&pair.client_events), [(new_path, true)]);
    assert_eq!(
        confirmed_nat(&pair.client_events),
        [true],
        "client behind NAT"
    );
    let nat: IpAddr = "203.0.113.44".parse().unwrap();
    assert_eq!(pair.server.path(server).unwrap().remote.ip(), nat);
    // A later rebinding of that NAT: the server, which now sees the client behind a NAT,
    // follows the liveness check itself, and the client announces the new mapping it learns
    // from the answer (§3.8).
    pair.nat = Some("203.0.113.45".parse().unwrap());
    pair.client_checks_liveness(sa);
    let rebound: IpAddr = "203.0.113.45".parse().unwrap();
    assert_eq!(pair.server.path(server).unwrap().remote.ip(), rebound);
    assert_eq!(path_changes(&pair.server_events).len(), 2);
    assert_eq!(pair.server.counters().address_updates, 2);
}
