//! What the gateway accepts on UDP port 4500 (RFC 3948): IKE behind the non-ESP marker, and an
//! IKE_SA_INIT request without it (strongSwan sends both); NAT keepalives are taken silently.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eseg_tests::{Host, Scenario};
use ikev2::crypto::Secret;
use ikev2::{Endpoint, EndpointConfig, IdentityPattern, NoAddressPool, Path, PeerConfig};

/// Sends a fresh IKE_SA_INIT request to `gateway` from inside the client's namespace, with or
/// without the marker, and returns the bare IKE answer (marker removed) if one came.
// Real time for a real exchange with the gateway process.
#[allow(clippy::disallowed_methods)]
fn ike_sa_init_answer(s: &Scenario, gateway: SocketAddr, marker: bool) -> Option<Vec<u8>> {
    s.lab
        .run_in(Host::Client(0), move || {
            let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
            socket.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
            let mut endpoint = Endpoint::new(
                EndpointConfig::new([7; 32], Vec::new()),
                Box::new(NoAddressPool),
            );
            let peer = PeerConfig::new(
                "gateway",
                "client.eseg.test".parse().ok()?,
                IdentityPattern::Any,
                Secret::from_slice(b"eseg-lab-demo-psk-do-not-deploy"),
            );
            let path = Path::udp(socket.local_addr().ok()?, gateway);
            endpoint
                .initiate(Instant::now(), Arc::new(peer), path)
                .ok()?;
            let request = endpoint.poll_transmit()?.data;
            let mut datagram = if marker { vec![0; 4] } else { Vec::new() };
            datagram.extend_from_slice(&request);
            // A keepalive first: the gateway must take it without answering or choking.
            socket.send_to(&[0xFF], gateway).ok()?;
            socket.send_to(&datagram, gateway).ok()?;
            let mut buf = vec![0u8; 4096];
            let n = socket.recv(&mut buf).ok()?;
            let answer = buf.get(..n)?;
            Some(
                answer
                    .strip_prefix(&[0, 0, 0, 0])
                    .unwrap_or(answer)
                    .to_vec(),
            )
        })
        .ok()
        .flatten()
}

#[test]
fn ike_sa_init_on_port_4500_is_answered_with_and_without_the_marker() {
    let s = Scenario::new(1, "");
    let gateway = SocketAddr::new(IpAddr::V4(s.lab.gateway_outer()), 4500);
    for marker in [true, false] {
        let answer = ike_sa_init_answer(&s, gateway, marker)
            .unwrap_or_else(|| panic!("no answer (marker: {marker})"));
        assert!(answer.len() > 28, "short answer: {answer:?}");
        assert_eq!(answer[18], 34, "IKE_SA_INIT (marker: {marker})");
        assert_ne!(answer[19] & 0x20, 0, "a response (marker: {marker})");
    }
}
