//! Scenario 4: rekeying under traffic. A ping runs every 100 ms through the tunnel while CHILD
//! and IKE SAs are rekeyed on their timers; no two consecutive pings may be lost (no gap longer
//! than one packet), and afterwards both sides hold exactly one IKE SA with one CHILD SA.
//!
//! - strongSwan initiates, as client (against eseg-gateway) and as gateway (against eseg-client):
//!   CHILD every 3 s, IKE every 8 s.
//! - eseg-gateway initiates: its shortest settable lifetimes are 60 s for both (CHILD rekey after
//!   54-60 s with its 10 % jitter), so this test runs about 70 s.
//! - Rekeys initiated by eseg-client (`--child-lifetime-secs`, `--ike-lifetime-secs`) are
//!   scenario 9 (`scenario9_client_rekey.rs`).

mod common;

use std::net::IpAddr;
use std::time::Duration;

use eseg_interop::{
    exclusive, Charon, Connection, EsegProcess, GatewaySettings, IkeSa, PingRun, SwanctlConf,
};
use lab::{Host, Lab};
use netio::dataplane::status::StatusReport;

use common::{
    bring_up, client_conf, eseg_client_connected, eseg_gateway_and_strongswan_client, gateway_conf,
    strongswan_gateway,
};

const PING_INTERVAL: Duration = Duration::from_millis(100);
const CHILD_REKEY: Duration = Duration::from_secs(3);
const IKE_REKEY: Duration = Duration::from_secs(8);

/// Pings the core from client 0 `count` times, every [`PING_INTERVAL`], while the SAs rekey; no
/// two consecutive pings may be lost. A failure shows `our_log` (eseg's side) read afterwards.
fn ping_through_rekeys(lab: &Lab, count: u32, our_log: impl Fn() -> String) {
    let core = IpAddr::V4(lab.addresses().core);
    let report = PingRun::start(lab, Host::Client(0), core, count, PING_INTERVAL)
        .expect("ping")
        .finish()
        .expect("ping result");
    let log = our_log();
    assert!(
        report.longest_gap <= 1,
        "{} consecutive pings lost (of {}, {} lost in all) during rekeying\n{log}",
        report.longest_gap,
        report.sent,
        report.lost()
    );
}

/// Exactly one established IKE SA with exactly one installed CHILD SA, on both sides. (strongSwan
/// lists a rekeyed CHILD SA as DELETED for a few seconds, `charon.delete_rekeyed_delay`; those do
/// not count.)
fn single_sa_pair(theirs: &[IkeSa], ours: &StatusReport) -> bool {
    theirs.len() == 1
        && theirs[0].is_established()
        && theirs[0].installed_children().count() == 1
        && ours.ike_sas.len() == 1
        && ours.ike_sas[0].child_sas.len() == 1
}

/// How many CREATE_CHILD_SA exchanges strongSwan started (its rekeys of either kind).
fn rekeys_started(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("generating CREATE_CHILD_SA request"))
        .count()
}

/// strongSwan's short rekey timers on connection `c`.
fn rekey_often(c: &mut Connection) {
    c.rekey_time = Some(IKE_REKEY);
    c.children[0].rekey_time = Some(CHILD_REKEY);
}

/// Waits until both sides hold [`single_sa_pair`], and returns strongSwan's SA list; a failure
/// shows both sides' lists.
fn wait_for_single_sa_pair(ours: &EsegProcess, theirs: &Charon) -> Vec<IkeSa> {
    let mut their_sas = Vec::new();
    ours.wait_for_status(
        "one IKE SA and one CHILD SA on both sides",
        Duration::from_secs(5),
        |status| {
            their_sas = theirs.list_sas().unwrap_or_default();
            single_sa_pair(&their_sas, status)
        },
    )
    .unwrap_or_else(|e| panic!("{e}: {their_sas:?}\n{:?}", ours.status()));
    their_sas
}

#[test]
fn strongswan_client_rekeys_with_eseg_gateway() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let conf = client_conf(lab.addresses(), rekey_often);
    let (gateway, client) =
        eseg_gateway_and_strongswan_client(&lab, &GatewaySettings::default(), &conf);
    bring_up("strongSwan rekeys", &client, "net", &gateway);

    ping_through_rekeys(&lab, 140, || gateway.log());
    let log = client.log();
    assert!(rekeys_started(&log) >= 4, "too few rekeys:\n{log}");
    assert!(
        log.contains("rekeyed") || log.contains("IKE_SA c[2] established"),
        "{log}"
    );
    wait_for_single_sa_pair(&gateway, &client);
}

#[test]
fn strongswan_gateway_rekeys_with_eseg_client() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let gateway = strongswan_gateway(&lab, &gateway_conf(lab.addresses(), rekey_often));
    let client = eseg_client_connected(&lab, &gateway, &[]);

    ping_through_rekeys(&lab, 140, || client.log());
    let log = gateway.log();
    assert!(rekeys_started(&log) >= 4, "too few rekeys:\n{log}");
    wait_for_single_sa_pair(&client, &gateway);
}

#[test]
fn eseg_gateway_rekeys_with_strongswan_client() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let settings = GatewaySettings {
        ike_lifetime_secs: Some(60),
        child_lifetime_secs: Some(60),
        ..GatewaySettings::default()
    };
    let (gateway, client) = eseg_gateway_and_strongswan_client(
        &lab,
        &settings,
        &SwanctlConf::lab_client(lab.addresses()),
    );
    bring_up("eseg-gateway rekeys", &client, "net", &gateway);
    let first = client.list_sas().expect("SAs");

    ping_through_rekeys(&lab, 700, || gateway.log());
    let log = client.log();
    let rekeys_received = log
        .lines()
        .filter(|l| l.contains("parsed CREATE_CHILD_SA request"))
        .count();
    assert!(
        rekeys_received >= 2,
        "eseg-gateway rekeyed neither SA:\n{log}"
    );
    let theirs = wait_for_single_sa_pair(&gateway, &client);
    assert_ne!(
        theirs[0].responder_spi, first[0].responder_spi,
        "IKE SA not rekeyed"
    );
    assert_ne!(
        theirs[0].child_sas[0].spi_in, first[0].child_sas[0].spi_in,
        "CHILD SA not rekeyed"
    );
}
