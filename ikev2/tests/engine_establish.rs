//! Establishment: IKE_SA_INIT + IKE_AUTH with the first CHILD SA, initiator against responder.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Pair, Side, Verdict};
use ikev2::crypto::{DhGroup, EncrAlg, IntegAlg, PrfAlg};
use ikev2::proposal::{EspProposal, IkeProposal};
use ikev2::{CloseReason, Error, Event};

#[test]
fn connect_establishes_ike_and_child_sa_with_virtual_ip() {
    let mut pair = Pair::default_pair();
    let sa = pair.connect();
    assert!(pair.client.is_established(sa));
    assert_eq!(Pair::established(&pair.client_events), 1);
    assert_eq!(Pair::established(&pair.server_events), 1);
    let client = Pair::installed(&pair.client_events);
    let server = Pair::installed(&pair.server_events);
    assert_eq!(client.len(), 1);
    assert_eq!(server.len(), 1);
    let (c, s) = (client[0], server[0]);
    // Each side's outbound SA is the other's inbound SA, with the same keys.
    assert_eq!(c.outbound.spi, s.inbound.spi);
    assert_eq!(c.inbound.spi, s.outbound.spi);
    assert_eq!(c.outbound.keys, s.inbound.keys);
    assert_eq!(c.inbound.keys, s.outbound.keys);
    assert_ne!(c.outbound.keys, c.inbound.keys);
    assert_eq!(c.cipher, s.cipher);
    assert_eq!(c.cipher.encr(), EncrAlg::AesGcm16_256);
    // The client asked 0.0.0.0/0 and got its virtual IP /32; TSr is the protected net.
    let vip: std::net::IpAddr = "10.99.2.1".parse().unwrap();
    assert_eq!(c.ts_local, vec![ikev2::ts::TrafficSelector::host(vip)]);
    assert_eq!(s.ts_remote, c.ts_local);
    assert_eq!(s.ts_local, c.ts_remote);
    assert!(c.udp_encapsulation && s.udp_encapsulation);
    // Forced encapsulation moved IKE to port 4500.
    assert_eq!(pair.client.path(sa).unwrap().remote.port(), 4500);
    let virtual_ip = pair.client_events.iter().find_map(|e| match e {
        Event::VirtualIp { assigned, .. } => Some(assigned.clone()),
        _ => None,
    });
    let virtual_ip = virtual_ip.expect("client reports the virtual IP");
    assert_eq!(virtual_ip.addresses, vec![vip]);
    assert_eq!(
        virtual_ip.dns,
        vec!["10.99.1.53".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(
        virtual_ip.pcscf,
        vec!["10.99.1.10".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(pair.pool.in_use(), 1);
    assert_eq!(pair.server.ike_sa_count(), 1);
    assert_eq!(pair.server.child_sa_count(), 1);
    // Four messages: IKE_SA_INIT and IKE_AUTH, request and response.
    assert_eq!(pair.log.len(), 4);
}

#[test]
fn same_seeds_replay_byte_for_byte() {
    let run = || {
        let mut pair = Pair::default_pair();
        pair.connect();
        pair.log
    };
    let first = run();
    assert_eq!(first, run());
    assert_eq!(first.len(), 4);
}

fn suite_pair(ike: IkeProposal, esp: EspProposal) -> Pair {
    let mut client = common::client_peer();
    client.ike_proposals = vec![ike];
    client.esp_proposals = vec![esp];
    Pair::with_peers(client, common::server_peer())
}

#[test]
fn every_algorithm_combination_establishes() {
    let aeads = [
        EncrAlg::AesGcm16_128,
        EncrAlg::AesGcm16_256,
        EncrAlg::ChaCha20Poly1305,
    ];
    let cbcs = [EncrAlg::AesCbc128, EncrAlg::AesCbc256];
    let integs = [
        IntegAlg::HmacSha256_128,
        IntegAlg::HmacSha384_192,
        IntegAlg::HmacSha512_256,
    ];
    let prfs = [PrfAlg::HmacSha256, PrfAlg::HmacSha384, PrfAlg::HmacSha512];
    let groups = [DhGroup::Curve25519, DhGroup::Ecp256, DhGroup::Ecp384];
    let mut ciphers: Vec<(EncrAlg, Option<IntegAlg>)> = aeads.iter().map(|&e| (e, None)).collect();
    for &e in &cbcs {
        ciphers.extend(integs.iter().map(|&i| (e, Some(i))));
    }
    let mut count = 0;
    for (i, &(encr, integ)) in ciphers.iter().enumerate() {
        for (j, &prf) in prfs.iter().enumerate() {
            // Each cipher with every PRF and every group; ESP rotates through the ciphers and ESN.
            let group = groups[(i + j) % groups.len()];
            let (esp_encr, esp_integ) = ciphers[(i + j + 1) % ciphers.len()];
            let esn = (i + j) % 2 == 0;
            let ike = IkeProposal {
                encryption: vec![encr],
                integrity: integ.into_iter().collect(),
                prf: vec![prf],
                dh: vec![group],
            };
            let esp = EspProposal {
                encryption: vec![esp_encr],
                integrity: esp_integ.into_iter().collect(),
                dh: Vec::new(),
                esn: vec![esn],
            };
            let mut pair = suite_pair(ike, esp);
            let sa = pair.connect();
            assert!(
                pair.client.is_established(sa),
                "{encr:?} {integ:?} {prf:?} {group:?}"
            );
            let installed = Pair::installed(&pair.server_events);
            assert_eq!(installed.len(), 1, "{esp_encr:?} {esp_integ:?}");
            assert_eq!(installed[0].cipher.encr(), esp_encr);
            assert_eq!(installed[0].cipher.integ(), esp_integ);
            assert_eq!(installed[0].esn, esn);
            let client = Pair::installed(&pair.client_events);
            assert_eq!(client[0].outbound.keys, installed[0].inbound.keys);
            count += 1;
        }
    }
    assert_eq!(count, 9 * 3);
    for group in groups {
        let ike = IkeProposal {
            dh: vec![group],
            ..IkeProposal::defaults()[0].clone()
        };
        let mut pair = suite_pair(ike, EspProposal::defaults()[0].clone());
        let sa = pair.connect();
        assert!(pair.client.is_established(sa), "{group:?}");
    }
}

#[test]
fn invalid_ke_payload_makes_the_initiator_retry_with_the_asked_group() {
    let mut client = common::client_peer();
    // Sends a KE for x25519 first (like strongSwan), also offers ECP-256.
    client.ike_proposals[0].dh = vec![DhGroup::Curve25519, DhGroup::Ecp256];
    let mut pair = Pair::with_peers(client, common::server_peer());
    pair.reconfigure_server(|server_config| {
        server_config.ike_proposals = vec![IkeProposal {
            dh: vec![DhGroup::Ecp256],
            ..IkeProposal::defaults()[0].clone()
        }];
    });
    let sa = pair.connect();
    assert!(pair.client.is_established(sa));
    assert_eq!(pair.server.counters().invalid_ke_sent, 1);
    // INIT, INVALID_KE, INIT again, its response, AUTH request and response.
    assert_eq!(pair.log.len(), 6);
}

#[test]
fn no_proposal_chosen_closes_the_initiator() {
    let ike = IkeProposal {
        encryption: vec![EncrAlg::AesGcm16_128],
        integrity: Vec::new(),
        prf: vec![PrfAlg::HmacSha512],
        dh: vec![DhGroup::Ecp384],
    };
    let mut pair = suite_pair(ike, EspProposal::defaults()[0].clone());
    pair.reconfigure_server(|server_config| {
        server_config.ike_proposals = vec![IkeProposal {
            prf: vec![PrfAlg::HmacSha256],
            ..IkeProposal::defaults()[0].clone()
        }];
    });
    let sa = pair.connect();
    assert!(!pair.client.is_established(sa));
    assert_eq!(
        Pair::closed(&pair.client_events),
        vec![&CloseReason::Failed(Error::NoProposalChosen)]
    );
    assert_eq!(pair.server.ike_sa_count(), 0);
    assert_eq!(pair.client.ike_sa_count(), 0);
    assert_eq!(pair.server.counters().no_proposal_chosen, 1);
}

#[test]
fn esp_no_proposal_chosen_is_reported_and_the_ike_sa_deleted() {
    let esp = EspProposal {
        encryption: vec![EncrAlg::AesCbc128],
        integrity: vec![IntegAlg::HmacSha256_128],
        dh: Vec::new(),
        esn: vec![false],
    };
    let mut server = common::server_peer();
    server.esp_proposals = EspProposal::defaults()[..1].to_vec();
    let mut client = common::client_peer();
    client.esp_proposals = vec![esp];
    let mut pair = Pair::with_peers(client, server);
    pair.connect();
    assert_eq!(
        Pair::closed(&pair.client_events),
        vec![&CloseReason::Failed(Error::NoProposalChosen)]
    );
    assert_eq!(
        Pair::closed(&pair.server_events),
        vec![&CloseReason::PeerDeleted]
    );
    assert_eq!(pair.server.ike_sa_count(), 0);
    assert_eq!(pair.pool.in_use(), 0, "the address goes back to the pool");
}

#[test]
fn wrong_psk_fails_authentication_on_the_responder() {
    let mut client = common::client_peer();
    client.psk = ikev2::crypto::Secret::from_slice(b"not the right key");
    let mut pair = Pair::with_peers(client, common::server_peer());
    let sa = pair.connect();
    assert!(!pair.client.is_established(sa));
    assert_eq!(
        Pair::closed(&pair.client_events),
        vec![&CloseReason::Failed(Error::AuthenticationFailed)]
    );
    assert_eq!(
        Pair::closed(&pair.server_events),
        vec![&CloseReason::Failed(Error::AuthenticationFailed)]
    );
    assert_eq!(pair.server.counters().authentication_failed, 1);
    assert_eq!(pair.server.ike_sa_count() + pair.client.ike_sa_count(), 0);
    assert_eq!(pair.pool.in_use(), 0);
}

#[test]
fn unknown_identity_fails_authentication() {
    let mut client = common::client_peer();
    client.local_id = "intruder.example".parse().unwrap();
    let mut pair = Pair::with_peers(client, common::server_peer());
    pair.connect();
    assert_eq!(
        Pair::closed(&pair.client_events),
        vec![&CloseReason::Failed(Error::AuthenticationFailed)]
    );
}

#[test]
fn responder_with_wrong_psk_is_caught_by_the_initiator() {
    let mut server = common::server_peer();
    server.psk = ikev2::crypto::Secret::from_slice(b"server has another key");
    let mut pair = Pair::with_peers(common::client_peer(), server);
    pair.connect();
    // The responder fails to verify the initiator's AUTH first.
    assert_eq!(pair.server.counters().authentication_failed, 1);
    assert_eq!(pair.client.ike_sa_count(), 0);
}

#[test]
fn wrong_responder_identity_is_refused() {
    let mut client = common::client_peer();
    client.remote_id = "other-gw.eseg.test".parse().unwrap();
    let mut server = common::server_peer();
    server.local_id = "gw.eseg.test".parse().unwrap();
    let mut pair = Pair::with_peers(client, server);
    pair.connect();
    assert_eq!(
        Pair::closed(&pair.client_events),
        vec![&CloseReason::Failed(Error::AuthenticationFailed)]
    );
    assert_eq!(pair.client.counters().authentication_failed, 1);
}

#[test]
fn ts_unacceptable() {
    let mut client = common::client_peer();
    client.remote_ts =
        vec![ikev2::ts::TrafficSelector::from_prefix("192.168.0.0".parse().unwrap(), 16).unwrap()];
    let mut pair = Pair::with_peers(client, common::server_peer());
    pair.connect();
    assert_eq!(
        Pair::closed(&pair.client_events),
        vec![&CloseReason::Failed(Error::TsUnacceptable)]
    );
    assert_eq!(pair.server.counters().child_sa_refused, 1);
    assert_eq!(pair.pool.in_use(), 0);
}

#[test]
fn internal_address_failure_when_the_pool_is_empty() {
    let mut pair = Pair::default_pair();
    pair.pool.0.lock().unwrap().free.clear();
    pair.connect();
    assert_eq!(
        Pair::closed(&pair.client_events),
        vec![&CloseReason::Failed(Error::InternalAddressFailure)]
    );
    assert_eq!(pair.server.child_sa_count(), 0);
}

#[test]
fn cookie_demanded_above_the_half_open_threshold() {
    let mut pair = Pair::default_pair();
    pair.reconfigure_server(|server_config| {
        server_config.cookie_threshold = 0;
    });
    let sa = pair.connect();
    assert!(pair.client.is_established(sa));
    assert_eq!(pair.server.counters().cookies_sent, 1);
    assert_eq!(pair.log.len(), 6);
}

#[test]
fn half_open_limit_and_timeout() {
    let mut pair = Pair::default_pair();
    pair.reconfigure_server(|server_config| {
        server_config.max_half_open = 3;
    });
    // Drop every IKE_AUTH so the responder's SAs stay half-open.
    pair.hook = Some(Box::new(|from, data| {
        if from == Side::Client && data.get(18) == Some(&35) {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    }));
    for _ in 0..5 {
        pair.initiate();
        pair.drive();
    }
    assert_eq!(pair.server.half_open_count(), 3);
    assert_eq!(pair.server.counters().dropped_overload, 2);
    pair.advance(std::time::Duration::from_secs(31));
    assert_eq!(pair.server.ike_sa_count(), 0);
    assert!(Pair::closed(&pair.server_events)
        .iter()
        .all(|r| **r == CloseReason::HalfOpenTimeout));
}

#[test]
fn nat_is_detected_on_both_sides() {
    let mut pair = Pair::default_pair();
    pair.reconfigure_client(|config| config.force_encapsulation = false);
    pair.reconfigure_server(|config| config.force_encapsulation = false);
    pair.nat = Some("192.0.2.7".parse().unwrap());
    let sa = pair.connect();
    let nat = |events: &[Event]| {
        events.iter().find_map(|e| match e {
            Event::IkeSaEstablished {
                nat_local,
                nat_remote,
                path,
                ..
            } => Some((*nat_local, *nat_remote, path.remote.port())),
            _ => None,
        })
    };
    assert_eq!(nat(&pair.client_events), Some((true, false, 4500)));
    assert_eq!(nat(&pair.server_events), Some((false, true, 5500)));
    assert!(Pair::installed(&pair.client_events)[0].udp_encapsulation);
    assert!(pair.client.is_established(sa));
}

#[test]
fn without_nat_and_without_forcing_ike_stays_on_500() {
    let mut pair = Pair::default_pair();
    // MOBIKE would float to 4500 anyway (RFC 4555 §3.3, see engine_mobike.rs).
    pair.reconfigure_client(|config| {
        config.force_encapsulation = false;
        config.mobike = false;
    });
    pair.reconfigure_server(|config| config.force_encapsulation = false);
    let sa = pair.connect();
    assert_eq!(pair.client.path(sa).unwrap().remote.port(), 500);
    assert!(!Pair::installed(&pair.client_events)[0].udp_encapsulation);
}

#[test]
fn every_identity_type_authenticates() {
    for (client_id, pattern) in [
        ("fqdn:ue1.ims.example", "*.ims.example"),
        ("email:alice@ims.example", "*@ims.example"),
        ("ipv4:10.77.0.9", "10.77.0.9"),
        ("keyid:0011aabbccdd", "keyid:0011aabbccdd"),
    ] {
        let mut client = common::client_peer();
        client.local_id = client_id.parse().unwrap();
        let mut server = common::server_peer();
        server.remote_id = pattern.parse().unwrap();
        let mut pair = Pair::with_peers(client, server);
        let sa = pair.connect();
        assert!(pair.client.is_established(sa), "{client_id}");
        let remote = pair.server_events.iter().find_map(|e| match e {
            Event::IkeSaEstablished { remote_id, .. } => Some(remote_id.clone()),
            _ => None,
        });
        assert_eq!(remote, Some(client_id.parse().unwrap()));
    }
}

#[test]
fn peers_are_looked_up_by_identity_with_their_own_psk() {
    let special_psk = ikev2::crypto::Secret::from_slice(b"special device key");
    let mut special = common::server_peer();
    special.name = "special".into();
    special.remote_id = "special.eseg.test".parse().unwrap();
    special.psk = special_psk.clone();
    for (client_id, psk, works) in [
        ("special.eseg.test", special_psk.clone(), true),
        ("special.eseg.test", common::psk(), false),
        ("other.eseg.test", common::psk(), true),
        ("other.eseg.test", special_psk.clone(), false),
    ] {
        let mut client = common::client_peer();
        client.local_id = client_id.parse().unwrap();
        client.psk = psk;
        let mut pair = Pair::with_peers(client, common::server_peer());
        pair.reconfigure_server(|server_config| {
            server_config
                .peers
                .push(std::sync::Arc::new(special.clone()));
        });
        let sa = pair.connect();
        assert_eq!(pair.client.is_established(sa), works, "{client_id}");
    }
}

#[test]
fn cookies_expire_with_their_secret() {
    let mut pair = Pair::default_pair();
    pair.reconfigure_server(|server_config| {
        server_config.cookie_threshold = 0;
    });
    let seen_by_server = ikev2::Path::udp(pair.server_addr, pair.client_addr);
    let seen_by_client = ikev2::Path::udp(pair.client_addr, pair.server_addr);
    pair.initiate();
    let first = pair.client.poll_transmit().unwrap();
    pair.server
        .handle_datagram(pair.now, seen_by_server, &first.data);
    let cookie = pair.server.poll_transmit().unwrap();
    pair.client
        .handle_datagram(pair.now, seen_by_client, &cookie.data);
    let with_cookie = pair.client.poll_transmit().unwrap();
    // Five minutes pass; other initiators keep the responder busy, which rotates the secret.
    let other = ikev2::Path::udp(pair.server_addr, "10.99.0.3:500".parse().unwrap());
    for _ in 0..3 {
        pair.now += std::time::Duration::from_secs(130);
        pair.server.handle_datagram(pair.now, other, &first.data);
        while pair.server.poll_transmit().is_some() {}
    }
    let cookies_before = pair.server.counters().cookies_sent;
    pair.server
        .handle_datagram(pair.now, seen_by_server, &with_cookie.data);
    // The stale cookie is refused with a fresh one; no state is created.
    assert_eq!(pair.server.counters().cookies_sent, cookies_before + 1);
    assert_eq!(pair.server.half_open_count(), 0);
    // A fresh cookie is accepted.
    let fresh = pair.server.poll_transmit().unwrap();
    pair.client
        .handle_datagram(pair.now, seen_by_client, &fresh.data);
    let retry = pair.client.poll_transmit().unwrap();
    pair.server
        .handle_datagram(pair.now, seen_by_server, &retry.data);
    assert_eq!(pair.server.half_open_count(), 1);
}
