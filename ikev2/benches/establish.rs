//! Responder CPU per IKE SA: one full IKE_SA_INIT + IKE_AUTH (PSK, x25519, AES-GCM-256, a
//! virtual IP and one CHILD SA), as the gateway sees it.
//!
//! The initiator's two requests are recorded once; with the responder's seed fixed they are
//! valid for every fresh responder, so each iteration measures only the responder: parse,
//! proposal selection, key exchange, key derivation, AUTH check and CHILD SA keys.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ikev2::config::{EndpointConfig, PeerConfig};
use ikev2::crypto::Secret;
use ikev2::{AddressPool, Endpoint, Event, Identity, NoAddressPool, Path};

/// Hands out 10.99.2.1 forever (the bench measures the engine, not a pool).
struct OneAddress;

impl AddressPool for OneAddress {
    fn allocate_v4(&mut self, _: &str, _: &Identity, _: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        Some(Ipv4Addr::new(10, 99, 2, 1))
    }
    fn allocate_v6(&mut self, _: &str, _: &Identity, _: Option<Ipv6Addr>) -> Option<Ipv6Addr> {
        None
    }
    fn release(&mut self, _: &str, _: IpAddr) {}
}

fn responder() -> Endpoint {
    let mut peer = PeerConfig::new(
        "clients",
        "gw.eseg.test".parse().expect("identity"),
        "*.eseg.test".parse().expect("pattern"),
        Secret::from_slice(b"eseg-interop-test-psk-0123456789"),
    );
    peer.virtual_ip.pool = Some("pool".into());
    Endpoint::new(
        EndpointConfig::new([2; 32], vec![Arc::new(peer)]),
        Box::new(OneAddress),
    )
}

fn bench(c: &mut Criterion) {
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let client_path = Path::udp(
        "10.99.0.2:500".parse().expect("addr"),
        "10.99.0.1:500".parse().expect("addr"),
    );
    let server_path = Path::udp(client_path.remote, client_path.local);
    let mut peer = PeerConfig::new(
        "gw",
        "client.eseg.test".parse().expect("identity"),
        "gw.eseg.test".parse().expect("identity"),
        Secret::from_slice(b"eseg-interop-test-psk-0123456789"),
    );
    peer.virtual_ip.request_ipv4 = true;
    let mut client = Endpoint::new(
        EndpointConfig::new([1; 32], Vec::new()),
        Box::new(NoAddressPool),
    );
    let mut server = responder();
    client
        .initiate(now, Arc::new(peer), client_path)
        .expect("initiate");
    let init = client.poll_transmit().expect("IKE_SA_INIT").data;
    server.handle_datagram(now, server_path, &init);
    let reply = server.poll_transmit().expect("IKE_SA_INIT response");
    client.handle_datagram(now, client_path, &reply.data);
    let auth = client.poll_transmit().expect("IKE_AUTH");
    let auth_path = Path {
        local: auth.path.remote,
        remote: auth.path.local,
        ..auth.path
    };

    c.bench_function("responder: one IKE SA (IKE_SA_INIT + IKE_AUTH)", |b| {
        b.iter_batched(
            responder,
            |mut server| {
                server.handle_datagram(now, server_path, black_box(&init));
                black_box(server.poll_transmit());
                server.handle_datagram(now, auth_path, black_box(&auth.data));
                let response = server.poll_transmit();
                let installed = std::iter::from_fn(|| server.poll_event())
                    .any(|e| matches!(e, Event::ChildSaInstalled(_)));
                assert!(installed && response.is_some());
                server
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
