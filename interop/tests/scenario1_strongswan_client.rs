//! Scenario 1: a strongSwan client connects to eseg-gateway. It gets a virtual IP and DNS, ping
//! and iperf3 pass both ways, and strongSwan's SA list agrees with the gateway's status report.

mod common;

use eseg_interop::{exclusive, GatewaySettings, SwanctlConf};
use lab::Lab;

use common::{
    bring_up, check_child_sa_pair, eseg_gateway_and_strongswan_client, ping_both_ways,
    report_throughput, strongswan_client_deletes,
};

#[test]
fn strongswan_client_to_eseg_gateway() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let a = lab.addresses().clone();
    let (gateway, client) = eseg_gateway_and_strongswan_client(
        &lab,
        &GatewaySettings::default(),
        &SwanctlConf::lab_client(&a),
    );
    bring_up("scenario 1", &client, "net", &gateway);

    let sas = client.list_sas().expect("client SAs");
    assert_eq!(sas.len(), 1, "{sas:?}");
    let sa = &sas[0];
    assert!(sa.is_established(), "{sa:?}");
    assert_eq!(sa.remote_id, "gw.eseg.test");
    assert_eq!((sa.local_port, sa.remote_port), (4500, 4500));
    let vip: std::net::Ipv4Addr = sa.local_vips[0].parse().expect("virtual IP");
    assert!(a.pool.contains(&vip), "{vip} outside {}", a.pool);
    assert!(
        client.resolv_conf().contains(&a.dns.to_string()),
        "DNS: {:?}",
        client.resolv_conf()
    );
    let child = sa.installed_children().next().expect("CHILD SA").clone();
    assert_eq!(child.local_ts, vec![format!("{vip}/32")]);
    assert_eq!(child.remote_ts, vec![a.protected.to_string()]);

    ping_both_ways(&lab, vip);

    let sas = client.list_sas().expect("client SAs");
    let ours = gateway.status().expect("gateway status");
    assert_eq!(ours.ike_sas.len(), 1, "{ours:?}");
    let ike = &ours.ike_sas[0];
    assert_eq!(ike.identity, "fqdn:client.eseg.test");
    assert_eq!(ike.virtual_ip.as_deref(), Some(vip.to_string().as_str()));
    let theirs = sas[0].installed_children().next().expect("CHILD SA");
    check_child_sa_pair(ike, theirs);

    report_throughput(&lab, "scenario 1");

    strongswan_client_deletes(&client, &gateway);
}
