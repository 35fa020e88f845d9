//! Scenario 7: two CHILD SAs with different traffic selectors under one IKE SA, as an IMS client
//! would use them: SIP (UDP 5060) and an RTP port range (UDP 10000-20000). Each flow must travel
//! in its own CHILD SA, with both sides agreeing on SPIs and counters.
//!
//! - strongSwan client -> eseg-gateway: strongSwan asks for both (IKE_AUTH, then CREATE_CHILD_SA),
//!   with the SIP and RTP hosts different (P-CSCF, core) or the same (core, ports only).
//! - eseg-client -> strongSwan gateway: strongSwan adds the RTP CHILD SA with CREATE_CHILD_SA (as a
//!   gateway it needs subnet selectors, so both name the protected subnet).
//!
//! The gateway's two CHILD SAs share the destination address (the client's virtual IP), the
//! client's share the protected subnet: eseg must pick the outbound SA by the full selectors
//! (addresses, protocol, ports) so that neither flow leaves in the other flow's SA, which
//! strongSwan would drop (this was open bug B1).

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use eseg_interop::{exclusive, Child, GatewaySettings, IkeSa};
use lab::{Host, Lab};

use common::{
    bring_up, client_conf, eseg_client_connected, eseg_gateway_and_strongswan_client, gateway_conf,
    strongswan_gateway, INITIATE_LIMIT,
};

const SIP_PORT: u16 = 5060;
const RTP_PORT: u16 = 12000;
const RTP_RANGE: &str = "udp/10000-20000";

/// Where the two flows go: (SIP host, RTP host).
type Targets = (Ipv4Addr, Ipv4Addr);

/// Sends one datagram to each service and checks the echoes.
fn exchange(lab: &Lab, (sip, rtp): Targets) {
    for target in [
        SocketAddr::new(IpAddr::V4(sip), SIP_PORT),
        SocketAddr::new(IpAddr::V4(rtp), RTP_PORT),
    ] {
        lab.udp_roundtrip(
            Host::Client(0),
            target,
            format!("hello {target}").as_bytes(),
            Duration::from_secs(3),
        )
        .unwrap_or_else(|e| panic!("UDP to {target} through the tunnel: {e}"));
    }
}

/// strongSwan's two CHILD SAs by name: each installed, each carried traffic both ways.
fn check_children(sa: &IkeSa) {
    for name in ["sip", "rtp"] {
        let child = sa
            .installed_children()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no CHILD SA {name}: {sa:?}"));
        assert!(child.packets_in >= 1 && child.packets_out >= 1, "{child:?}");
    }
}

/// strongSwan client with CHILD SAs `sip` (`sip_ts`) and `rtp` (`rtp_ts`; `CORE` and `PCSCF` stand
/// for the lab's addresses) against eseg-gateway; SIP goes to the P-CSCF or the core.
fn strongswan_client_two_children(sip_ts: &str, rtp_ts: &str, sip_to_pcscf: bool) {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let a = lab.addresses().clone();
    let sip_ts = sip_ts
        .replace("CORE", &a.core.to_string())
        .replace("PCSCF", &a.pcscf.to_string());
    let rtp_ts = rtp_ts.replace("CORE", &a.core.to_string());
    let targets = (if sip_to_pcscf { a.pcscf } else { a.core }, a.core);
    let _echoes: Vec<_> = [(targets.0, SIP_PORT), (targets.1, RTP_PORT)]
        .into_iter()
        .map(|(host, port)| {
            lab.udp_echo(Host::Core, SocketAddr::new(IpAddr::V4(host), port))
                .expect("UDP echo in the core")
        })
        .collect();
    let conf = client_conf(&a, |c| {
        c.children = vec![
            Child::new("sip", &[], &[&sip_ts]),
            Child::new("rtp", &[], &[&rtp_ts]),
        ];
    });
    let (gateway, client) =
        eseg_gateway_and_strongswan_client(&lab, &GatewaySettings::default(), &conf);
    for child in ["sip", "rtp"] {
        bring_up("two children", &client, child, &gateway);
    }
    let sas = client.list_sas().expect("SAs");
    assert_eq!(sas.len(), 1, "both children must share one IKE SA: {sas:?}");
    exchange(&lab, targets);
    let sas = client.list_sas().expect("SAs");
    check_children(&sas[0]);
    let ours = gateway.status().expect("status");
    assert_eq!(ours.ike_sas.len(), 1, "{ours:?}");
    assert_eq!(ours.ike_sas[0].child_sas.len(), 2, "{ours:?}");
    for theirs in sas[0].installed_children() {
        let mine = ours.ike_sas[0]
            .child_sas
            .iter()
            .find(|m| m.spi_in == theirs.spi_out && m.spi_out == theirs.spi_in)
            .unwrap_or_else(|| panic!("{} not in our status: {ours:?}", theirs.name));
        assert_eq!(mine.packets_in, theirs.packets_out, "{mine:?} {theirs:?}");
        assert_eq!(mine.packets_out, theirs.packets_in, "{mine:?} {theirs:?}");
    }
}

#[test]
fn strongswan_client_opens_sip_and_rtp_children_to_different_hosts() {
    strongswan_client_two_children(
        &format!("PCSCF/32[udp/{SIP_PORT}]"),
        &format!("CORE/32[{RTP_RANGE}]"),
        true,
    );
}

#[test]
fn strongswan_client_opens_sip_and_rtp_children_to_one_host() {
    strongswan_client_two_children(
        &format!("CORE/32[udp/{SIP_PORT}]"),
        &format!("CORE/32[{RTP_RANGE}]"),
        false,
    );
}

#[test]
fn strongswan_gateway_adds_an_rtp_child_to_eseg_client() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let a = lab.addresses().clone();
    let _sip = lab
        .udp_echo(Host::Core, SocketAddr::new(IpAddr::V4(a.core), SIP_PORT))
        .unwrap();
    let _rtp = lab
        .udp_echo(Host::Core, SocketAddr::new(IpAddr::V4(a.core), RTP_PORT))
        .unwrap();
    // strongSwan (kernel-libipsec) cannot install the route of a CHILD SA whose local selector is
    // a single host other than itself, so both selectors name the protected subnet.
    let sip = format!("{}[udp/{SIP_PORT}]", a.protected);
    let rtp = format!("{}[{RTP_RANGE}]", a.protected);
    let conf = gateway_conf(&a, |c| {
        c.children = vec![
            Child::new("sip", &[&sip], &[]),
            Child::new("rtp", &[&rtp], &[]),
        ];
    });
    let gateway = strongswan_gateway(&lab, &conf);
    let client = eseg_client_connected(&lab, &gateway, &[]);
    let up = gateway
        .initiate("gw", "rtp", INITIATE_LIMIT)
        .expect("swanctl");
    assert!(up.succeeded(), "{}\n{}", up.text(), client.log());
    let sas = gateway.list_sas().expect("SAs");
    assert_eq!(sas.len(), 1, "both children must share one IKE SA: {sas:?}");
    exchange(&lab, (a.core, a.core));
    let sas = gateway.list_sas().expect("SAs");
    check_children(&sas[0]);
    let ours = client.status().expect("status");
    assert_eq!(ours.ike_sas[0].child_sas.len(), 2, "{ours:?}");
}
