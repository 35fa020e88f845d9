//! Setup and checks shared by the interop scenarios: a strongSwan peer paired with an eseg peer in
//! one lab, either way round (strongSwan client `c0` against eseg-gateway, eseg-client against a
//! strongSwan gateway `gw`), the lab's swanctl configurations with one connection edited, and the
//! comparisons of both sides' views that several scenarios make.
#![allow(dead_code)] // each scenario program uses a different part

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use eseg_interop::{
    child_sas_agree, iperf_both_ways, Charon, CharonOptions, ChildSa, Connection, EsegProcess,
    GatewaySettings, SwanctlConf, PSK,
};
use lab::{Host, Lab, LabAddresses};
use netio::dataplane::status::IkeSaStatus;

/// How long eseg-client may take to bring its tunnel up against strongSwan.
pub const TUNNEL_UP: Duration = Duration::from_secs(20);
/// How long `swanctl --initiate` may take.
pub const INITIATE_LIMIT: Duration = Duration::from_secs(10);

/// The strongSwan client configuration of the lab ([`SwanctlConf::lab_client`]) with its
/// connection `c` changed by `edit`.
pub fn client_conf(a: &LabAddresses, edit: impl FnOnce(&mut Connection)) -> SwanctlConf {
    edited(SwanctlConf::lab_client(a), "c", edit)
}

/// The strongSwan gateway configuration of the lab ([`SwanctlConf::lab_gateway`]) with its
/// connection `gw` changed by `edit`.
pub fn gateway_conf(a: &LabAddresses, edit: impl FnOnce(&mut Connection)) -> SwanctlConf {
    edited(SwanctlConf::lab_gateway(a), "gw", edit)
}

fn edited(mut conf: SwanctlConf, name: &str, edit: impl FnOnce(&mut Connection)) -> SwanctlConf {
    let connection = conf
        .connection(name)
        .unwrap_or_else(|| panic!("the lab's swanctl configuration has no connection {name}"));
    edit(connection);
    conf
}

/// eseg-gateway started with `settings`, and a strongSwan client (`c0` on client 0) with `conf`
/// loaded; nothing is initiated yet.
pub fn eseg_gateway_and_strongswan_client<'lab>(
    lab: &'lab Lab,
    settings: &GatewaySettings,
    conf: &SwanctlConf,
) -> (EsegProcess, Charon<'lab>) {
    let gateway = EsegProcess::gateway(lab, settings).expect("eseg-gateway");
    let mut client =
        Charon::start(lab, Host::Client(0), "c0", &CharonOptions::default()).expect("charon");
    client.load(conf).expect("load the client configuration");
    (gateway, client)
}

/// Initiates `child` of the strongSwan client's connection `c`; a failure names the `case` and
/// the child and shows swanctl's output and eseg-gateway's log.
pub fn bring_up(case: &str, client: &Charon, child: &str, gateway: &EsegProcess) {
    let up = client
        .initiate("c", child, INITIATE_LIMIT)
        .expect("swanctl");
    assert!(
        up.succeeded(),
        "{case}, CHILD SA {child}: {}\ngateway log:\n{}",
        up.text(),
        gateway.log()
    );
}

/// A strongSwan gateway (`gw` on the gateway host) with `conf` loaded.
pub fn strongswan_gateway<'lab>(lab: &'lab Lab, conf: &SwanctlConf) -> Charon<'lab> {
    let mut gateway =
        Charon::start(lab, Host::Gateway, "gw", &CharonOptions::default()).expect("charon");
    gateway.load(conf).expect("load the gateway configuration");
    gateway
}

/// eseg-client (the lab's identity and PSK, plus `extra` arguments) started against `gateway`,
/// once its tunnel is up; a failure shows strongSwan's log.
pub fn eseg_client_connected(lab: &Lab, gateway: &Charon, extra: &[&str]) -> EsegProcess {
    let mut client = EsegProcess::client(lab, PSK, extra).expect("eseg-client");
    client
        .wait_for_tunnel(TUNNEL_UP)
        .unwrap_or_else(|e| panic!("{e}\nstrongSwan log:\n{}", gateway.log()));
    client
}

/// The strongSwan client deletes its IKE SA `c`; eseg-gateway must drop it within 5 s.
pub fn strongswan_client_deletes(client: &Charon, gateway: &EsegProcess) {
    client.terminate_ike("c").expect("terminate");
    gateway
        .wait_for_status(
            "the gateway to drop the IKE SA",
            Duration::from_secs(5),
            |r| r.ike_sas.is_empty(),
        )
        .unwrap_or_else(|e| panic!("{e}: the client's Delete did not reach eseg-gateway"));
}

/// eseg-client exits on SIGTERM; the strongSwan gateway must drop every SA within 5 s (the
/// client's Delete reached it).
pub fn eseg_client_deletes(client: &mut EsegProcess, gateway: &Charon) {
    client
        .terminate(Duration::from_secs(10))
        .expect("eseg-client exits on SIGTERM");
    gateway
        .wait_for_no_sas(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}: the client's Delete did not reach strongSwan"));
}

/// Three pings each way through the tunnel: client 0 to the core, the core to the client's
/// virtual IP `vip`.
pub fn ping_both_ways(lab: &Lab, vip: Ipv4Addr) {
    let core = IpAddr::V4(lab.addresses().core);
    assert!(
        lab.ping(Host::Client(0), core, 3).expect("ping"),
        "client -> core"
    );
    assert!(
        lab.ping(Host::Core, IpAddr::V4(vip), 3).expect("ping"),
        "core -> client"
    );
}

/// Our CHILD SA under `ike` that pairs with strongSwan's `theirs` (our inbound SPI is its
/// outbound one) must exist and agree with it (algorithms, selectors, counters).
pub fn check_child_sa_pair(ike: &IkeSaStatus, theirs: &ChildSa) {
    let mine = ike
        .child_sas
        .iter()
        .find(|c| c.spi_in == theirs.spi_out)
        .unwrap_or_else(|| panic!("no CHILD SA with SPI {:08x}: {ike:?}", theirs.spi_out));
    child_sas_agree(mine, theirs).unwrap_or_else(|e| panic!("{e}"));
}

/// Runs iperf3 both ways through the tunnel and prints the throughput under `label`.
pub fn report_throughput(lab: &Lab, label: &str) {
    let t = iperf_both_ways(lab, IpAddr::V4(lab.addresses().core)).expect("iperf3 both ways");
    println!(
        "{label} throughput: client->core {:.0} Mbit/s, core->client {:.0} Mbit/s",
        t.upload_mbps, t.download_mbps
    );
}
