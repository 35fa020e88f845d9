//! What a client may send: only from its own virtual IP, and to another client's virtual IP only
//! when the gateway's configuration allows it.

use std::net::IpAddr;

use eseg_tests::{Host, Scenario};

#[test]
fn spoofed_inner_source_is_dropped_and_counted() {
    let mut s = Scenario::new(1, "");
    s.start_client(0, &[]);
    let a = s.lab.addresses().clone();
    let vip = s.client_vip(0);
    // A second address on the client's TUN device that the gateway never handed out.
    let spoofed = a
        .pool
        .hosts()
        .find(|h| *h != vip && *h != a.pool.network())
        .map(|h| std::net::Ipv4Addr::from(u32::from(h) + 100))
        .expect("a spare pool address");
    s.ip(
        Host::Client(0),
        &["addr", "add", &format!("{spoofed}/32"), "dev", "eseg-c0"],
    );
    let client_drops_before = s.client_status(0).unmatched_drops;
    let spoof_ping = s
        .lab
        .exec(
            Host::Client(0),
            &[
                "ping",
                "-n",
                "-q",
                "-c",
                "3",
                "-i",
                "0.2",
                "-W",
                "1",
                "-I",
                &spoofed.to_string(),
                &a.core.to_string(),
            ],
        )
        .expect("run ping");
    assert!(
        !spoof_ping.success(),
        "spoofed packets must not reach the core"
    );
    // The client's own outbound policy (RFC 4301 §5.1: only packets from its traffic selectors,
    // i.e. its virtual IP, are protected) drops them before they reach the tunnel, and counts
    // them. The gateway's inbound check of the inner source is the second line of defence; it is
    // tested at the SA level in `esp/tests/sadb.rs` and `esp/tests/independent.rs`.
    let client_drops = s.client_status(0).unmatched_drops - client_drops_before;
    assert!(
        client_drops >= 3,
        "client counted {client_drops} dropped spoofed packets"
    );
    let gateway_policy_drops: u64 = s.gateway_status().ike_sas[0]
        .child_sas
        .iter()
        .map(|c| c.dropped_policy)
        .sum();
    assert_eq!(
        gateway_policy_drops, 0,
        "spoofed packets left the client and reached the gateway"
    );
    // The genuine address still works through the same SA.
    assert!(s.ping(Host::Client(0), IpAddr::V4(a.core)));
}

#[test]
fn two_clients_get_different_addresses_and_are_isolated() {
    let mut s = Scenario::new(2, "");
    s.start_client(0, &[]);
    s.start_client(1, &[]);
    let (vip0, vip1) = (s.client_vip(0), s.client_vip(1));
    assert_ne!(vip0, vip1);
    let core = IpAddr::V4(s.lab.addresses().core);
    assert!(s.ping(Host::Client(0), core) && s.ping(Host::Client(1), core));
    assert!(
        !s.ping(Host::Client(0), IpAddr::V4(vip1)),
        "client 0 reached client 1"
    );
    assert!(
        !s.ping(Host::Client(1), IpAddr::V4(vip0)),
        "client 1 reached client 0"
    );
    assert_eq!(s.gateway_status().ike_sas.len(), 2);
}

#[test]
fn clients_reach_each_other_when_the_config_allows_it() {
    let mut s = Scenario::new(2, "client_to_client = true");
    s.start_client(0, &[]);
    s.start_client(1, &[]);
    let (vip0, vip1) = (s.client_vip(0), s.client_vip(1));
    assert!(
        s.ping(Host::Client(0), IpAddr::V4(vip1)),
        "client 0 -> client 1"
    );
    assert!(
        s.ping(Host::Client(1), IpAddr::V4(vip0)),
        "client 1 -> client 0"
    );
}
