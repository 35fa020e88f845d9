//! Scenario 2: eseg-client connects to a strongSwan gateway. It gets a virtual IP, DNS and the
//! P-CSCF (scenario 9: strongSwan's pool hands out attribute 20), ping and iperf3 pass both ways,
//! and strongSwan's SA list agrees with the client's status report.

mod common;

use eseg_interop::{exclusive, SwanctlConf};
use lab::Lab;

use common::{
    check_child_sa_pair, eseg_client_connected, eseg_client_deletes, ping_both_ways,
    report_throughput, strongswan_gateway,
};

#[test]
fn eseg_client_to_strongswan_gateway() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let a = lab.addresses().clone();
    let gateway = strongswan_gateway(&lab, &SwanctlConf::lab_gateway(&a));
    let mut client = eseg_client_connected(&lab, &gateway, &[]);

    let vip = client.virtual_ip().expect("virtual IP");
    assert!(a.pool.contains(&vip), "{vip} outside {}", a.pool);
    assert_eq!(client.printed("dns"), vec![a.dns.to_string()]);
    assert_eq!(client.printed("pcscf"), vec![a.pcscf.to_string()]);

    let sas = gateway.list_sas().expect("gateway SAs");
    assert_eq!(sas.len(), 1, "{sas:?}");
    let sa = &sas[0];
    assert!(sa.is_established() && !sa.initiator, "{sa:?}");
    assert_eq!(sa.remote_id, "client.eseg.test");
    assert_eq!(sa.remote_vips, vec![vip.to_string()]);
    // We float to strongSwan's port 4500 from an ephemeral source port (KNOWN-DIFFERENCES.md).
    assert_eq!(sa.local_port, 4500, "{sa:?}");
    assert_ne!(sa.remote_port, 500, "{sa:?}");
    let child = sa.installed_children().next().expect("CHILD SA");
    assert_eq!(child.remote_ts, vec![format!("{vip}/32")]);
    assert_eq!(child.local_ts, vec![a.protected.to_string()]);

    ping_both_ways(&lab, vip);

    let sas = gateway.list_sas().expect("gateway SAs");
    let theirs = sas[0].installed_children().next().expect("CHILD SA");
    let ours = client.status().expect("client status");
    assert_eq!(ours.ike_sas.len(), 1, "{ours:?}");
    let ike = &ours.ike_sas[0];
    assert_eq!(ike.virtual_ip.as_deref(), Some(vip.to_string().as_str()));
    check_child_sa_pair(ike, theirs);

    report_throughput(&lab, "scenario 2");

    eseg_client_deletes(&mut client, &gateway);
    assert!(
        gateway.log().contains("received DELETE for IKE_SA"),
        "no Delete in strongSwan's log"
    );
}
