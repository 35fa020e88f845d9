//! The basic tunnel: a client connects to the gateway on built-in timers, gets its virtual IP,
//! DNS and P-CSCF, and traffic flows both ways, including connections the core opens.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use eseg_tests::{Host, Scenario};

#[test]
fn client_gets_address_dns_pcscf_and_ping_works_both_ways() {
    let mut s = Scenario::new(1, "");
    s.start_client(0, &[]);
    let a = s.lab.addresses().clone();
    let vip = s.client_vip(0);
    assert!(a.pool.contains(&vip), "{vip} not in the pool {}", a.pool);
    assert_eq!(s.client_printed(0, "dns"), vec![a.dns.to_string()]);
    assert_eq!(s.client_printed(0, "pcscf"), vec![a.pcscf.to_string()]);
    let link = s.ip(Host::Client(0), &["-4", "addr", "show", "dev", "eseg-c0"]);
    assert!(link.contains(&format!("{vip}/32")), "{link}");
    assert!(
        s.ping(Host::Client(0), IpAddr::V4(a.core)),
        "client -> core"
    );
    assert!(s.ping(Host::Core, IpAddr::V4(vip)), "core -> client");
    let status = s.gateway_status();
    assert_eq!(status.ike_sas.len(), 1, "{status:?}");
    let child = &status.ike_sas[0].child_sas[0];
    assert!(child.packets_in >= 3 && child.packets_out >= 3, "{child:?}");
}

#[test]
fn core_opens_a_tcp_connection_to_the_client() {
    let mut s = Scenario::new(1, "");
    s.start_client(0, &[]);
    let vip = s.client_vip(0);
    let listener = s
        .lab
        .tcp_echo(Host::Client(0), SocketAddr::new(IpAddr::V4(vip), 5060))
        .expect("listener on the client's inner address");
    s.lab
        .tcp_roundtrip(
            Host::Core,
            listener.local_addr(),
            b"INVITE sip:ue@ims SIP/2.0\r\n",
            Duration::from_secs(5),
        )
        .expect("core -> client TCP round trip");
}

#[test]
fn tunnel_works_from_behind_a_nat_router() {
    let mut s = Scenario::with_router(1, lab::Router::Nat, "");
    s.start_client(0, &[]);
    let core = IpAddr::V4(s.lab.addresses().core);
    let vip = s.client_vip(0);
    assert!(s.ping(Host::Client(0), core), "client -> core");
    assert!(s.ping(Host::Core, IpAddr::V4(vip)), "core -> client");
    let status = s.gateway_status();
    let router = s
        .lab
        .addresses()
        .router_wan
        .expect("router address")
        .to_string();
    assert!(
        status.ike_sas[0].peer.starts_with(&router),
        "the gateway sees the client behind the NAT at {router}: {status:?}"
    );
}

/// The port of a peer address as the gateway's status prints it (`ip:port`).
fn mapped_port(peer: &str) -> u16 {
    peer.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in the peer address {peer:?}"))
}

#[test]
fn gateway_follows_the_client_when_its_nat_mapping_changes() {
    let mut s = Scenario::with_router(1, lab::Router::Nat, "");
    s.start_client(0, &[]);
    let a = s.lab.addresses().clone();
    let vip = IpAddr::V4(s.client_vip(0));
    let core = IpAddr::V4(a.core);
    assert!(
        s.ping(Host::Core, vip),
        "core -> client before the NAT changes"
    );
    let before = s.gateway_status().ike_sas[0].peer.clone();
    let before_port = mapped_port(&before);

    // New mappings from another port range, and the old mapping gone: the NAT forgets its
    // masqueraded connections when the address they used goes away. The range must not hold
    // the current mapping's port, or the NAT keeps it and nothing changes: masquerade keeps a
    // client's ephemeral source port (32768-60999) when it can, so 61000-61999 is outside it,
    // and 62000-62999 is the fallback should the lab ever map into that range.
    let new_ports = if (61000..=61999).contains(&before_port) {
        62000..=62999
    } else {
        61000..=61999
    };
    let wan = lab::ifname::ROUTER_WAN;
    let router_wan = format!(
        "{}/{}",
        a.router_wan.expect("router"),
        a.wan.expect("wan").prefix_len()
    );
    s.lab
        .nft(
            Host::Router,
            &format!(
                "flush chain inet eseg_nat postrouting\n\
                 add rule inet eseg_nat postrouting oifname \"{wan}\" meta l4proto udp \
                 masquerade to :{}-{}\n\
                 add rule inet eseg_nat postrouting oifname \"{wan}\" masquerade\n",
                new_ports.start(),
                new_ports.end()
            ),
        )
        .expect("new NAT rule");
    s.ip(Host::Router, &["addr", "del", &router_wan, "dev", wan]);
    s.ip(Host::Router, &["addr", "add", &router_wan, "dev", wan]);

    // The client keeps sending (ESP from the new mapping); its next liveness check is an IKE
    // message from the new address, which moves the IKE SA and with it the ESP egress.
    let followed = Scenario::wait_until(Duration::from_secs(20), || {
        let _ = s.lab.ping(Host::Client(0), core, 1);
        s.gateway_status()
            .ike_sas
            .first()
            .is_some_and(|sa| sa.peer != before)
    });
    let after = s.gateway_status().ike_sas[0].peer.clone();
    assert!(followed, "the gateway still sends to {before}");
    assert!(
        new_ports.contains(&mapped_port(&after)),
        "new mapping {after}, expected a port in {new_ports:?}"
    );
    assert!(
        s.ping(Host::Core, vip),
        "core -> client after the NAT changed"
    );
}
