//! Scenario 2: eseg-client connects to a strongSwan gateway. It gets a virtual IP, DNS and the
//! P-CSCF (scenario 9: strongSwan's pool hands out attribute 20), ping and iperf3 pass both ways,
//! and strongSwan's SA list agrees with the client's status report.

use std::net::IpAddr;
use std::time::Duration;

use eseg_interop::{
    child_sas_agree, exclusive, iperf_both_ways, Charon, CharonOptions, EsegProcess, SwanctlConf,
    PSK,
};
use lab::{Host, Lab};

#[test]
fn eseg_client_to_strongswan_gateway() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let a = lab.addresses().clone();
    let mut gateway =
        Charon::start(&lab, Host::Gateway, "gw", &CharonOptions::default()).expect("charon");
    gateway.load(&SwanctlConf::lab_gateway(&a)).expect("load");
    let mut client = EsegProcess::client(&lab, PSK, &[]).expect("eseg-client");
    client
        .wait_for_tunnel(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\nstrongSwan log:\n{}", gateway.log()));

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

    assert!(
        lab.ping(Host::Client(0), IpAddr::V4(a.core), 3).unwrap(),
        "client -> core"
    );
    assert!(
        lab.ping(Host::Core, IpAddr::V4(vip), 3).unwrap(),
        "core -> client"
    );

    let sas = gateway.list_sas().expect("gateway SAs");
    let theirs = sas[0].installed_children().next().expect("CHILD SA");
    let ours = client.status().expect("client status");
    assert_eq!(ours.ike_sas.len(), 1, "{ours:?}");
    let ike = &ours.ike_sas[0];
    assert_eq!(ike.virtual_ip.as_deref(), Some(vip.to_string().as_str()));
    let mine = ike
        .child_sas
        .iter()
        .find(|c| c.spi_in == theirs.spi_out)
        .unwrap_or_else(|| panic!("no CHILD SA with SPI {:08x}: {ike:?}", theirs.spi_out));
    child_sas_agree(mine, theirs).unwrap_or_else(|e| panic!("{e}"));

    let t = iperf_both_ways(&lab, IpAddr::V4(a.core)).expect("iperf3 both ways");
    println!(
        "scenario 2 throughput: client->core {:.0} Mbit/s, core->client {:.0} Mbit/s",
        t.upload_mbps, t.download_mbps
    );

    client
        .terminate(Duration::from_secs(10))
        .expect("eseg-client exits on SIGTERM");
    gateway
        .wait_for_no_sas(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}: the client's Delete did not reach strongSwan"));
    assert!(
        gateway.log().contains("received DELETE for IKE_SA"),
        "no Delete in strongSwan's log"
    );
}
