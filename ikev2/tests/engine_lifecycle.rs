//! The life of an SA: loss and retransmission, liveness, deletes in both directions, more
//! CHILD SAs, CHILD rekeys (with and without PFS), simultaneous rekeys and a long run.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Pair, Side, Verdict};
use ikev2::crypto::DhGroup;
use ikev2::events::ChildDeleteReason;
use ikev2::ts::TrafficSelector;
use ikev2::{ChildSaId, CloseReason, Event};

fn exchange(data: &[u8]) -> u8 {
    data.get(18).copied().unwrap_or(0)
}

/// Drops message number `n` (0-based, both directions counted together).
fn drop_nth(n: usize) -> common::Hook {
    let mut seen = 0;
    Box::new(move |_, _| {
        seen += 1;
        if seen - 1 == n {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    })
}

/// The CHILD SAs each side holds, from its events.
fn live_children(events: &[Event]) -> BTreeSet<ChildSaId> {
    let mut live = BTreeSet::new();
    for e in events {
        match e {
            Event::ChildSaInstalled(c) => {
                live.insert(c.child);
            }
            Event::ChildSaDeleted { child, .. } => {
                live.remove(child);
            }
            _ => {}
        }
    }
    live
}

/// After [`Pair::connect`] on the client's IKE SA `sa`: the client's first CHILD SA, the server's
/// IKE SA and the server's first CHILD SA.
fn first_child_sas(
    pair: &Pair,
    sa: ikev2::IkeSaHandle,
) -> (ChildSaId, ikev2::IkeSaHandle, ChildSaId) {
    let server_sa = pair.server_events[0].sa();
    (
        pair.client.child_sas(sa)[0],
        server_sa,
        pair.server.child_sas(server_sa)[0],
    )
}

/// Neither side holds a CHILD SA, by its counts and by the events it reported.
fn assert_no_child_sas_left(pair: &Pair) {
    assert_eq!(pair.client.child_sa_count(), 0, "client CHILD SAs");
    assert_eq!(pair.server.child_sa_count(), 0, "server CHILD SAs");
    assert!(
        live_children(&pair.client_events).is_empty(),
        "client events"
    );
    assert!(
        live_children(&pair.server_events).is_empty(),
        "server events"
    );
}

#[test]
fn loss_of_any_single_establishment_message_recovers() {
    for n in 0..4 {
        let mut pair = Pair::default_pair();
        pair.hook = Some(drop_nth(n));
        let sa = pair.connect();
        pair.advance(Duration::from_secs(10));
        assert!(pair.client.is_established(sa), "lost message {n}");
        assert_eq!(pair.server.child_sa_count(), 1, "lost message {n}");
        assert_eq!(
            Pair::installed(&pair.server_events).len(),
            1,
            "lost message {n}"
        );
        assert_eq!(pair.server.ike_sa_count(), 1, "lost message {n}");
    }
}

#[test]
fn vanished_peer_is_detected_by_liveness_checks() {
    let mut pair = Pair::default_pair();
    let sa = pair.connect();
    pair.hook = Some(Box::new(|_, _| Verdict::Drop));
    // DPD after 30 s idle, then 4 s * (1 + 1.8 + ... + 1.8^5) = 165 s of retransmissions.
    pair.advance(Duration::from_secs(30 + 160));
    assert!(pair.client.is_established(sa));
    pair.advance(Duration::from_secs(10));
    assert_eq!(
        Pair::closed(&pair.client_events),
        vec![&CloseReason::PeerUnreachable]
    );
    assert_eq!(
        Pair::closed(&pair.server_events),
        vec![&CloseReason::PeerUnreachable]
    );
    assert_eq!(pair.client.ike_sa_count() + pair.server.ike_sa_count(), 0);
    assert_eq!(pair.pool.in_use(), 0);
    assert!(live_children(&pair.client_events).is_empty());
    assert!(live_children(&pair.server_events).is_empty());
}

#[test]
fn esp_activity_postpones_liveness_checks() {
    let mut pair = Pair::default_pair();
    let sa = pair.connect();
    let child = pair.client.child_sas(sa)[0];
    for _ in 0..10 {
        pair.advance(Duration::from_secs(20));
        let now = pair.now;
        pair.client
            .report_child_activity(now, sa, child, Some(now), 1000, 10);
    }
    // The server's DPD ran (no ESP reports there), the client's never did.
    let informational_from = |side| {
        pair.log
            .iter()
            .filter(|(f, d)| *f == side && exchange(d) == 37)
            .count()
    };
    assert!(informational_from(Side::Server) >= 3);
    assert!(informational_from(Side::Client) <= informational_from(Side::Server));
    assert!(pair
        .client_events
        .iter()
        .all(|e| !matches!(e, Event::Closed { .. })));
}

#[test]
fn liveness_check_command_is_answered() {
    let mut pair = Pair::default_pair();
    let sa = pair.connect();
    pair.client_checks_liveness(sa);
    assert!(pair.client_saw_peer_alive());
}

#[test]
fn close_from_either_side_leaves_no_state() {
    for closer in [Side::Client, Side::Server] {
        let mut pair = Pair::default_pair();
        let sa = pair.connect();
        match closer {
            Side::Client => pair.client.close(pair.now, sa).unwrap(),
            Side::Server => {
                let server_sa = pair.server_sa();
                pair.server.close(pair.now, server_sa).unwrap();
            }
        }
        pair.drive();
        let (local, remote) = match closer {
            Side::Client => (&pair.client_events, &pair.server_events),
            Side::Server => (&pair.server_events, &pair.client_events),
        };
        assert_eq!(Pair::closed(local), vec![&CloseReason::Local]);
        assert_eq!(Pair::closed(remote), vec![&CloseReason::PeerDeleted]);
        assert_eq!(pair.client.ike_sa_count() + pair.server.ike_sa_count(), 0);
        assert_no_child_sas_left(&pair);
        assert_eq!(pair.pool.in_use(), 0);
    }
}

#[test]
fn lost_delete_request_closes_after_retransmissions() {
    let mut pair = Pair::default_pair();
    let sa = pair.connect();
    pair.hook = Some(Box::new(|_, _| Verdict::Drop));
    pair.client.close(pair.now, sa).unwrap();
    pair.advance(Duration::from_secs(170));
    assert_eq!(Pair::closed(&pair.client_events), vec![&CloseReason::Local]);
    assert_eq!(pair.client.ike_sa_count(), 0);
}

fn sip_selectors() -> (Vec<TrafficSelector>, Vec<TrafficSelector>) {
    let vip: std::net::IpAddr = "10.99.2.1".parse().unwrap();
    let pcscf: std::net::IpAddr = "10.99.1.10".parse().unwrap();
    let sip = |addr| TrafficSelector {
        protocol: 17,
        start_port: 5060,
        end_port: 5060,
        ..TrafficSelector::host(addr)
    };
    (vec![sip(vip)], vec![sip(pcscf)])
}

#[test]
fn additional_child_sa_and_deletes_in_both_directions() {
    let mut pair = Pair::default_pair();
    let sa = pair.connect();
    let (local, remote) = sip_selectors();
    pair.client
        .create_child(pair.now, sa, local.clone(), remote.clone())
        .unwrap();
    pair.drive();
    assert_eq!(pair.client.child_sa_count(), 2);
    assert_eq!(pair.server.child_sa_count(), 2);
    let sip = Pair::installed(&pair.client_events)[1];
    assert_eq!(sip.ts_local, local);
    assert_eq!(sip.ts_remote, remote);
    let sip_child = sip.child;
    // The client deletes the SIP SA, the server the first one.
    pair.client.delete_child(pair.now, sa, sip_child).unwrap();
    pair.drive();
    assert_eq!(pair.client.child_sa_count(), 1);
    assert_eq!(pair.server.child_sa_count(), 1);
    let server_sa = pair.server_events[0].sa();
    let first = pair.server.child_sas(server_sa)[0];
    pair.server
        .delete_child(pair.now, server_sa, first)
        .unwrap();
    pair.drive();
    assert_no_child_sas_left(&pair);
    assert!(pair.client.is_established(sa));
    let reasons: Vec<ChildDeleteReason> = pair
        .client_events
        .iter()
        .filter_map(|e| match e {
            Event::ChildSaDeleted { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            ChildDeleteReason::LocalDeleted,
            ChildDeleteReason::PeerDeleted
        ]
    );
}

fn rekey_once(pfs: bool) {
    let mut client = common::client_peer();
    let mut server = common::server_peer();
    if pfs {
        for peer in [&mut client, &mut server] {
            for p in &mut peer.esp_proposals {
                p.dh = vec![DhGroup::Ecp256];
            }
        }
    }
    let mut pair = Pair::with_peers(client, server);
    let sa = pair.connect();
    let old = pair.client.child_sas(sa)[0];
    pair.client.rekey_child(pair.now, sa, old).unwrap();
    pair.drive();
    assert_eq!(pair.client.child_sa_count(), 1);
    assert_eq!(pair.server.child_sa_count(), 1);
    let new = Pair::installed(&pair.client_events)[1];
    assert_eq!(new.replaces, Some(old));
    let server_new = Pair::installed(&pair.server_events)[1];
    assert_eq!(new.outbound.keys, server_new.inbound.keys);
    assert_ne!(
        new.outbound.keys,
        Pair::installed(&pair.client_events)[0].outbound.keys
    );
    // Make-before-break: installed before the old one was deleted, on both sides.
    for events in [&pair.client_events, &pair.server_events] {
        let installed = events
            .iter()
            .position(|e| matches!(e, Event::ChildSaInstalled(c) if c.replaces.is_some()));
        let deleted = events.iter().position(|e| {
            matches!(
                e,
                Event::ChildSaDeleted {
                    reason: ChildDeleteReason::Rekeyed,
                    ..
                }
            )
        });
        assert!(installed.unwrap() < deleted.unwrap());
        assert_eq!(live_children(events).len(), 1);
    }
    let exchanges: Vec<u8> = pair.log.iter().map(|(_, d)| exchange(d)).collect();
    assert_eq!(exchanges, vec![34, 34, 35, 35, 36, 36, 37, 37]);
}

#[test]
fn child_rekey_without_pfs() {
    rekey_once(false);
}

#[test]
fn child_rekey_with_pfs() {
    rekey_once(true);
}

#[test]
fn simultaneous_rekey_converges_to_one_child_sa() {
    let mut pair = Pair::default_pair();
    let sa = pair.connect();
    let (client_child, server_sa, server_child) = first_child_sas(&pair, sa);
    pair.client.rekey_child(pair.now, sa, client_child).unwrap();
    pair.server
        .rekey_child(pair.now, server_sa, server_child)
        .unwrap();
    pair.drive();
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.client.child_sa_count(), 1, "{:?}", pair.client_events);
    assert_eq!(pair.server.child_sa_count(), 1);
    let client_live = live_children(&pair.client_events);
    let server_live = live_children(&pair.server_events);
    assert_eq!(client_live.len(), 1);
    assert_eq!(server_live.len(), 1);
    // The surviving pair matches: the client's inbound SPI is the server's outbound one.
    let client_sa = Pair::installed(&pair.client_events)
        .into_iter()
        .find(|c| client_live.contains(&c.child))
        .unwrap();
    let server_sa = Pair::installed(&pair.server_events)
        .into_iter()
        .find(|c| server_live.contains(&c.child))
        .unwrap();
    assert_eq!(client_sa.inbound.spi, server_sa.outbound.spi);
    assert_eq!(client_sa.outbound.spi, server_sa.inbound.spi);
}

#[test]
fn loss_during_rekey_and_delete_recovers() {
    // Drop each message of the rekey (CREATE_CHILD_SA and its Delete) once.
    for n in 4..8 {
        let mut pair = Pair::default_pair();
        let sa = pair.connect();
        pair.hook = Some(drop_nth(n));
        let old = pair.client.child_sas(sa)[0];
        pair.client.rekey_child(pair.now, sa, old).unwrap();
        pair.advance(Duration::from_secs(10));
        assert_eq!(pair.client.child_sa_count(), 1, "lost message {n}");
        assert_eq!(pair.server.child_sa_count(), 1, "lost message {n}");
        assert_eq!(live_children(&pair.client_events).len(), 1);
        assert_eq!(live_children(&pair.server_events).len(), 1);
    }
}

#[test]
fn a_day_of_short_lifetimes_rekeys_without_gaps() {
    let mut client = common::client_peer();
    let mut server = common::server_peer();
    for peer in [&mut client, &mut server] {
        peer.lifetimes.ike_rekey = Some(Duration::from_secs(3600));
        peer.lifetimes.child_rekey = Some(Duration::from_secs(600));
        peer.lifetimes.child_hard = Some(Duration::from_secs(900));
        peer.lifetimes.jitter = Duration::from_secs(60);
    }
    let mut pair = Pair::with_peers(client, server);
    let sa = pair.connect();
    let mut minutes = 0;
    while minutes < 24 * 60 {
        pair.advance(Duration::from_secs(60));
        minutes += 1;
        // At every minute both sides hold a live, matching CHILD SA.
        let client_live = live_children(&pair.client_events);
        let server_live = live_children(&pair.server_events);
        assert!(
            !client_live.is_empty() && !server_live.is_empty(),
            "gap at minute {minutes}"
        );
        assert!(client_live.len() <= 2 && server_live.len() <= 2);
    }
    assert!(
        pair.client.is_established(sa),
        "the same handle after IKE rekeys"
    );
    assert_eq!(pair.client.ike_sa_count(), 1);
    assert_eq!(pair.server.ike_sa_count(), 1);
    let ike_rekeys = rekeyed(&pair.client_events).len();
    assert!(ike_rekeys >= 20, "only {ike_rekeys} IKE rekeys");
    let rekeys = pair
        .client_events
        .iter()
        .filter(|e| matches!(e, Event::ChildSaInstalled(c) if c.replaces.is_some()))
        .count();
    assert!(rekeys >= 100, "only {rekeys} rekeys");
    assert_eq!(pair.client.child_sa_count(), 1);
    assert_eq!(pair.server.child_sa_count(), 1);
    assert!(Pair::closed(&pair.client_events).is_empty());
    assert!(Pair::closed(&pair.server_events).is_empty());
}

#[test]
fn second_ike_sa_with_the_same_identity_kept_or_replaced() {
    for replace in [false, true] {
        let mut server = common::server_peer();
        if replace {
            server.unique = ikev2::config::UniquePolicy::Replace;
        }
        let mut pair = Pair::with_peers(common::client_peer(), server);
        pair.connect();
        pair.connect();
        assert_eq!(pair.client.ike_sa_count(), if replace { 1 } else { 2 });
        assert_eq!(pair.server.ike_sa_count(), if replace { 1 } else { 2 });
        assert_eq!(pair.pool.in_use(), if replace { 1 } else { 2 });
        if replace {
            assert_eq!(
                Pair::closed(&pair.server_events),
                vec![&CloseReason::Replaced]
            );
        }
    }
}

fn rekeyed(events: &[Event]) -> Vec<ikev2::IkeSaHandle> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::IkeSaRekeyed { sa } => Some(*sa),
            _ => None,
        })
        .collect()
}

#[test]
fn ike_sa_rekey_from_either_side_keeps_the_child_sas() {
    for side in [Side::Client, Side::Server] {
        let mut pair = Pair::default_pair();
        let sa = pair.connect();
        let server_sa = pair.server_events[0].sa();
        match side {
            Side::Client => pair.client.rekey_ike(pair.now, sa).unwrap(),
            Side::Server => pair.server.rekey_ike(pair.now, server_sa).unwrap(),
        }
        pair.drive();
        let client_rekeys = rekeyed(&pair.client_events);
        let server_rekeys = rekeyed(&pair.server_events);
        assert_eq!(client_rekeys.len(), 1, "{side:?}");
        assert_eq!(server_rekeys.len(), 1);
        // The handle stays: drivers see one IKE SA.
        let new_sa = client_rekeys[0];
        assert_eq!(new_sa, sa);
        assert!(pair.client.is_established(sa));
        assert_eq!(pair.client.ike_sa_count(), 1);
        assert_eq!(pair.server.ike_sa_count(), 1);
        assert_eq!(pair.client.child_sa_count(), 1);
        assert_eq!(pair.server.child_sa_count(), 1);
        assert!(Pair::closed(&pair.client_events).is_empty());
        assert!(Pair::closed(&pair.server_events).is_empty());
        assert_eq!(
            live_children(&pair.client_events).len(),
            1,
            "CHILD SAs survive"
        );
        // The new IKE SA works: rekey the CHILD SA over it, then close it.
        let child = pair.client.child_sas(new_sa)[0];
        pair.client.rekey_child(pair.now, new_sa, child).unwrap();
        pair.drive();
        assert_eq!(Pair::installed(&pair.server_events).len(), 2);
        pair.client.close(pair.now, new_sa).unwrap();
        pair.drive();
        assert_eq!(pair.client.ike_sa_count() + pair.server.ike_sa_count(), 0);
        assert_eq!(pair.pool.in_use(), 0);
    }
}

#[test]
fn simultaneous_ike_rekeys_converge() {
    let mut pair = Pair::default_pair();
    let sa = pair.connect();
    let server_sa = pair.server_events[0].sa();
    pair.client.rekey_ike(pair.now, sa).unwrap();
    pair.server.rekey_ike(pair.now, server_sa).unwrap();
    pair.drive();
    pair.advance(Duration::from_secs(120));
    assert_eq!(pair.client.ike_sa_count(), 1);
    assert_eq!(pair.server.ike_sa_count(), 1);
    assert_eq!(pair.client.child_sa_count(), 1);
    assert!(!rekeyed(&pair.client_events).is_empty());
    assert_eq!(
        rekeyed(&pair.client_events).len(),
        rekeyed(&pair.server_events).len()
    );
}

#[test]
fn packet_and_byte_limits_reported_by_the_data_path_trigger_a_rekey() {
    let mut client = common::client_peer();
    client.lifetimes.child_rekey_bytes = Some(1_000_000);
    let mut pair = Pair::with_peers(client, common::server_peer());
    let sa = pair.connect();
    let child = pair.client.child_sas(sa)[0];
    let now = pair.now;
    pair.client
        .report_child_activity(now, sa, child, Some(now), 600_000, 500);
    pair.advance(Duration::from_secs(1));
    assert_eq!(
        Pair::installed(&pair.client_events).len(),
        1,
        "below the limit"
    );
    let now = pair.now;
    pair.client
        .report_child_activity(now, sa, child, Some(now), 600_000, 500);
    pair.advance(Duration::from_secs(1));
    let installed = Pair::installed(&pair.client_events);
    assert_eq!(installed.len(), 2);
    assert_eq!(installed[1].replaces, Some(child));
    assert_eq!(pair.client.child_sa_count(), 1);
}

#[test]
fn child_sas_per_ike_sa_are_bounded() {
    let mut pair = Pair::default_pair();
    pair.reconfigure_server(|server_config| {
        server_config.max_child_sas_per_ike = 3;
    });
    let sa = pair.connect();
    let (local, remote) = sip_selectors();
    for _ in 0..5 {
        pair.client
            .create_child(pair.now, sa, local.clone(), remote.clone())
            .unwrap();
        pair.drive();
    }
    assert_eq!(pair.server.child_sa_count(), 3);
    assert_eq!(pair.client.child_sa_count(), 3);
    assert_eq!(pair.server.counters().child_sa_refused, 3);
    assert!(pair.client.is_established(sa));
}

#[test]
fn loss_during_ike_rekey_recovers() {
    // Messages 4..8: CREATE_CHILD_SA (IKE) request/response, Delete of the old IKE SA and its answer.
    for n in 4..8 {
        let mut pair = Pair::default_pair();
        let sa = pair.connect();
        pair.hook = Some(drop_nth(n));
        pair.client.rekey_ike(pair.now, sa).unwrap();
        pair.advance(Duration::from_secs(120));
        assert_eq!(pair.client.ike_sa_count(), 1, "lost message {n}");
        assert_eq!(pair.server.ike_sa_count(), 1, "lost message {n}");
        assert_eq!(pair.client.child_sa_count(), 1, "lost message {n}");
        assert_eq!(pair.server.child_sa_count(), 1, "lost message {n}");
        let new = rekeyed(&pair.client_events)[0];
        assert_eq!(new, sa);
        pair.client.check_liveness(pair.now, new).unwrap();
        pair.drive();
        assert!(pair
            .client_events
            .iter()
            .any(|e| matches!(e, Event::PeerAlive { sa } if *sa == new)));
    }
}

#[test]
fn hard_packet_limit_deletes_the_child_sa() {
    let mut pair = Pair::default_pair();
    let sa = pair.connect();
    let child = pair.client.child_sas(sa)[0];
    let now = pair.now;
    pair.client
        .report_child_activity(now, sa, child, Some(now), 0, 4_000_000_000);
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.client.child_sa_count(), 0);
    assert_eq!(pair.server.child_sa_count(), 0);
    assert!(pair.client_events.iter().any(|e| matches!(
        e,
        Event::ChildSaDeleted { reason: ChildDeleteReason::LocalDeleted, child: c, .. } if *c == child
    )));
}

#[test]
fn rekey_of_a_child_sa_being_deleted_gets_temporary_failure() {
    let mut pair = Pair::default_pair();
    let sa = pair.connect();
    let (client_child, server_sa, server_child) = first_child_sas(&pair, sa);
    pair.client
        .delete_child(pair.now, sa, client_child)
        .unwrap();
    pair.server
        .rekey_child(pair.now, server_sa, server_child)
        .unwrap();
    pair.drive();
    pair.advance(Duration::from_secs(60));
    assert_no_child_sas_left(&pair);
    assert_eq!(
        Pair::installed(&pair.server_events).len(),
        1,
        "no rekeyed SA was created"
    );
    assert!(pair.client.is_established(sa));
}

#[test]
fn nat_rebinding_and_migration_move_the_ike_sa() {
    let mut pair = Pair::default_pair();
    let sa = pair.connect();
    // The client's NAT mapping changes: the server follows the next authenticated message.
    pair.nat = Some("198.51.100.9".parse().unwrap());
    pair.client_checks_liveness(sa);
    let moved = pair.server_events.iter().find_map(|e| match e {
        Event::PathChanged { path, .. } => Some(*path),
        _ => None,
    });
    assert_eq!(
        moved.unwrap().remote.ip(),
        "198.51.100.9".parse::<std::net::IpAddr>().unwrap()
    );
    // A replayed request from yet another address does not move it: the cached response goes
    // back where the replay came from (RFC 7296 §2.11), the SA stays on the current path.
    let before = pair.server_events.len();
    let bogus = ikev2::Path::udp(
        "10.99.0.1:4500".parse().unwrap(),
        "203.0.113.1:4500".parse().unwrap(),
    );
    let last_request = pair
        .log
        .iter()
        .rev()
        .find(|(from, _)| *from == Side::Client)
        .unwrap()
        .1
        .clone();
    pair.server.handle_datagram(pair.now, bogus, &last_request);
    let resent = pair.server.poll_transmit().unwrap();
    assert_eq!(resent.path, bogus);
    let server_sa = pair.server_events[0].sa();
    assert_eq!(
        pair.server.path(server_sa).unwrap().remote,
        moved.unwrap().remote
    );
    pair.collect_events();
    assert_eq!(pair.server_events.len(), before);
    // The client moves to another local port on its own.
    let path = pair.client.path(sa).unwrap();
    let new_path = ikev2::Path {
        local: "10.99.0.2:4501".parse().unwrap(),
        ..path
    };
    pair.client_migrates(sa, new_path);
    assert_eq!(pair.client.path(sa), Some(new_path));
    assert!(pair.client_saw_peer_alive());
}

#[test]
fn pfs_group_asked_for_with_invalid_ke_is_used_on_retry() {
    let mut client = common::client_peer();
    let mut server = common::server_peer();
    for p in &mut client.esp_proposals {
        p.dh = vec![DhGroup::Curve25519, DhGroup::Ecp256];
    }
    for p in &mut server.esp_proposals {
        p.dh = vec![DhGroup::Ecp256];
    }
    let mut pair = Pair::with_peers(client, server);
    let sa = pair.connect();
    let old = pair.client.child_sas(sa)[0];
    pair.client.rekey_child(pair.now, sa, old).unwrap();
    pair.drive();
    assert_eq!(pair.client.child_sa_count(), 1);
    let installed = Pair::installed(&pair.server_events);
    assert_eq!(installed.len(), 2);
    assert_eq!(installed[1].replaces.map(|_| ()), Some(()));
    assert_eq!(
        pair.client.counters().child_sa_refused,
        1,
        "one INVALID_KE_PAYLOAD"
    );
}

#[test]
fn simultaneous_deletes_of_the_same_child_sa() {
    let mut pair = Pair::default_pair();
    let sa = pair.connect();
    let (client_child, server_sa, server_child) = first_child_sas(&pair, sa);
    pair.client
        .delete_child(pair.now, sa, client_child)
        .unwrap();
    pair.server
        .delete_child(pair.now, server_sa, server_child)
        .unwrap();
    pair.drive();
    assert_no_child_sas_left(&pair);
    for events in [&pair.client_events, &pair.server_events] {
        let deleted = events
            .iter()
            .filter(|e| matches!(e, Event::ChildSaDeleted { .. }))
            .count();
        assert_eq!(
            deleted, 1,
            "each side reports the CHILD SA gone exactly once"
        );
    }
    assert!(pair.client.is_established(sa));
}
