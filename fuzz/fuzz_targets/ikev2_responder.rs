//! Raw bytes into the IKEv2 responder.
//!
//! The first input byte picks where the rest goes:
//! - even: one datagram to a fresh responder (the IKE_SA_INIT / unknown-SPI paths);
//! - odd: a real initiator first runs IKE_SA_INIT against the responder, then the rest is
//!   delivered with the live SPIs patched into its header, reaching message-ID checks, SK
//!   decryption and IKE_AUTH handling of a half-open SA.
//!
//! Either way the responder must not panic, and must answer with at most a bounded number of
//! datagrams.
#![no_main]

use std::sync::Arc;
use std::time::Instant;

use ikev2::config::{EndpointConfig, PeerConfig};
use ikev2::crypto::Secret;
use ikev2::{Endpoint, NoAddressPool, Path};
use libfuzzer_sys::fuzz_target;

fn peer(local: &str, remote: &str) -> PeerConfig {
    PeerConfig::new(
        "fuzz",
        local.parse().unwrap(),
        remote.parse().unwrap(),
        Secret::from_slice(b"fuzz psk"),
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let server_path = Path::udp(
        "10.0.0.1:500".parse().unwrap(),
        "10.0.0.2:500".parse().unwrap(),
    );
    let config = EndpointConfig::new([3; 32], vec![Arc::new(peer("gw.example", "*"))]);
    let mut responder = Endpoint::new(config, Box::new(NoAddressPool));
    if mode % 2 == 0 {
        responder.handle_datagram(now, server_path, rest);
    } else {
        let mut initiator = Endpoint::new(
            EndpointConfig::new([4; 32], Vec::new()),
            Box::new(NoAddressPool),
        );
        let client_path = Path::udp(server_path.remote, server_path.local);
        let Ok(_) =
            initiator.initiate(now, Arc::new(peer("ue.example", "gw.example")), client_path)
        else {
            return;
        };
        let Some(init) = initiator.poll_transmit() else {
            return;
        };
        responder.handle_datagram(now, server_path, &init.data);
        let Some(reply) = responder.poll_transmit() else {
            return;
        };
        let mut message = rest.to_vec();
        if let (Some(spis), Some(live)) = (message.get_mut(..16), reply.data.get(..16)) {
            spis.copy_from_slice(live);
        }
        responder.handle_datagram(
            now,
            Path {
                remote: "10.0.0.2:4500".parse().unwrap(),
                ..server_path
            },
            &message,
        );
    }
    let mut answers = 0;
    while responder.poll_transmit().is_some() {
        answers += 1;
    }
    assert!(answers <= 1);
    while responder.poll_event().is_some() {}
    responder.handle_timeout(now + std::time::Duration::from_secs(3600));
});
