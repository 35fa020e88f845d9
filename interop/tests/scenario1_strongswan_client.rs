//! Scenario 1: a strongSwan client connects to eseg-gateway. It gets a virtual IP and DNS, ping
//! and iperf3 pass both ways, and strongSwan's SA list agrees with the gateway's status report.

use std::net::IpAddr;
use std::time::Duration;

use eseg_interop::{
    child_sas_agree, exclusive, iperf_both_ways, Charon, CharonOptions, EsegProcess,
    GatewaySettings, SwanctlConf,
};
use lab::{Host, Lab};

#[test]
fn strongswan_client_to_eseg_gateway() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let a = lab.addresses().clone();
    let gateway = EsegProcess::gateway(&lab, &GatewaySettings::default()).expect("eseg-gateway");
    let mut client =
        Charon::start(&lab, Host::Client(0), "c0", &CharonOptions::default()).expect("charon");
    client.load(&SwanctlConf::lab_client(&a)).expect("load");

    let up = client
        .initiate("c", "net", Duration::from_secs(10))
        .expect("swanctl");
    assert!(
        up.succeeded(),
        "{}\ngateway log:\n{}",
        up.text(),
        gateway.log()
    );

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

    assert!(
        lab.ping(Host::Client(0), IpAddr::V4(a.core), 3).unwrap(),
        "client -> core"
    );
    assert!(
        lab.ping(Host::Core, IpAddr::V4(vip), 3).unwrap(),
        "core -> client"
    );

    let sas = client.list_sas().expect("client SAs");
    let ours = gateway.status().expect("gateway status");
    assert_eq!(ours.ike_sas.len(), 1, "{ours:?}");
    let ike = &ours.ike_sas[0];
    assert_eq!(ike.identity, "fqdn:client.eseg.test");
    assert_eq!(ike.virtual_ip.as_deref(), Some(vip.to_string().as_str()));
    let theirs = sas[0].installed_children().next().expect("CHILD SA");
    let mine = ike
        .child_sas
        .iter()
        .find(|c| c.spi_in == theirs.spi_out)
        .unwrap_or_else(|| panic!("no CHILD SA with SPI {:08x}: {ike:?}", theirs.spi_out));
    child_sas_agree(mine, theirs).unwrap_or_else(|e| panic!("{e}"));

    let t = iperf_both_ways(&lab, IpAddr::V4(a.core)).expect("iperf3 both ways");
    println!(
        "scenario 1 throughput: client->core {:.0} Mbit/s, core->client {:.0} Mbit/s",
        t.upload_mbps, t.download_mbps
    );

    client.terminate_ike("c").expect("terminate");
    gateway
        .wait_for_status(
            "the gateway to drop the IKE SA",
            Duration::from_secs(5),
            |r| r.ike_sas.is_empty(),
        )
        .expect("gateway cleans up after the Delete");
}
