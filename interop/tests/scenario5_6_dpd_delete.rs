//! Scenario 5 (dead peer detection) and scenario 6 (deletes), both directions.
//!
//! DPD: the peer is killed outright (SIGKILL, nothing sent); the survivor must notice within its
//! configured bound (liveness interval plus its retransmission schedule) and drop the SA.
//! Deletes: `swanctl --terminate` on strongSwan's side, SIGTERM on ours; the other side must drop
//! the SA at once.
//!
//! eseg-gateway's own DPD runs with a short `[ike]` liveness interval and retransmission schedule
//! from its configuration file; besides dropping the SAs it must give the dead client's inner
//! address back to the pool.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use eseg_interop::{exclusive, wait_until, Charon, CharonOptions, GatewaySettings, SwanctlConf};
use lab::{Host, Lab};

use common::{
    bring_up, client_conf, eseg_client_connected, eseg_gateway_and_strongswan_client, gateway_conf,
    strongswan_gateway,
};

/// strongSwan's DPD interval in these scenarios.
const DPD_DELAY: Duration = Duration::from_secs(2);
/// strongSwan notices a dead peer within: DPD interval, one more interval of timer slack, and its
/// retransmissions (1 s, 1.4 s, 1.96 s, 2.74 s with `CharonOptions::default`).
const STRONGSWAN_DPD_BOUND: Duration = Duration::from_secs(2 + 2 + 8);
/// eseg-client notices within: liveness 2 s plus 0.5 s x 1.8^n for n = 0..=3 (about 5.9 s).
const ESEG_CLIENT_DPD_BOUND: Duration = Duration::from_secs(2 + 6 + 2);

/// eseg-gateway's `ike.liveness_interval_secs` in its DPD case.
const GATEWAY_LIVENESS_SECS: u64 = 2;
/// eseg-gateway's `ike.retransmit_initial_ms` in its DPD case.
const GATEWAY_RETRANSMIT_INITIAL_MS: u64 = 500;
/// eseg-gateway's `ike.retransmit_tries` in its DPD case.
const GATEWAY_RETRANSMIT_TRIES: u32 = 3;
/// Added to eseg-gateway's computed bound: timer and scheduling delays and the 100 ms status polls
/// on a loaded 2-core machine.
const LOADED_MACHINE_SLACK: Duration = Duration::from_secs(4);

/// The longest eseg-gateway may hold a dead client with the settings above: the liveness interval,
/// then the engine's retransmission schedule, the first wait times 1.8^n for n = 0..=tries
/// (`ikev2::config::RetransmitConfig::give_up_after`, whose use the gateway's config tests check
/// for these very settings): 2 s + 0.5 s x (1 + 1.8 + 3.24 + 5.832) = 7.936 s.
fn eseg_gateway_dpd_bound() -> Duration {
    let mut wait = Duration::from_millis(GATEWAY_RETRANSMIT_INITIAL_MS);
    let mut retransmitting = Duration::ZERO;
    for _ in 0..=GATEWAY_RETRANSMIT_TRIES {
        retransmitting += wait;
        wait = wait.mul_f64(1.8);
    }
    Duration::from_secs(GATEWAY_LIVENESS_SECS) + retransmitting
}

/// Starts a stopwatch for a figure the test measures and reports.
#[allow(clippy::disallowed_methods)] // the one clock reading: how long detection really took
fn stopwatch() -> Instant {
    Instant::now()
}

/// strongSwan (`charon`, DPD every [`DPD_DELAY`]) keeps the SA while our side (`ours`, for the
/// messages) lives and answers DPD; once `kill` has killed it outright (nothing sent), strongSwan
/// drops the SA within [`STRONGSWAN_DPD_BOUND`].
fn strongswan_detects_death(charon: &Charon, ours: &str, kill: impl FnOnce()) {
    std::thread::sleep(DPD_DELAY * 3);
    assert_eq!(
        charon.list_sas().expect("strongSwan's SAs").len(),
        1,
        "SA lost while {ours} lived"
    );
    assert!(
        charon.log().contains("sending DPD request"),
        "no DPD was sent"
    );
    kill();
    charon
        .wait_for_no_sas(STRONGSWAN_DPD_BOUND)
        .unwrap_or_else(|e| panic!("{e}\n{}", charon.log()));
}

#[test]
fn strongswan_client_detects_a_dead_eseg_gateway() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let conf = client_conf(lab.addresses(), |c| c.dpd_delay = Some(DPD_DELAY));
    let (mut gateway, client) =
        eseg_gateway_and_strongswan_client(&lab, &GatewaySettings::default(), &conf);
    bring_up("DPD", &client, "net", &gateway);
    strongswan_detects_death(&client, "the gateway", || {
        gateway.kill().expect("kill eseg-gateway")
    });
    assert!(client.log().contains("giving up after"), "{}", client.log());
}

#[test]
fn eseg_client_detects_a_dead_strongswan_gateway() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let mut gateway = strongswan_gateway(&lab, &SwanctlConf::lab_gateway(lab.addresses()));
    let mut client = eseg_client_connected(&lab, &gateway, &["--liveness-secs", "2"]);
    // strongSwan answers our liveness checks: still up after a few intervals.
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        client.exited().unwrap().is_none(),
        "client quit while the gateway lived"
    );
    assert_eq!(client.status().unwrap().ike_sas.len(), 1);
    assert!(
        gateway.log().contains("parsed INFORMATIONAL request"),
        "eseg-client sent no liveness check"
    );

    gateway.kill().expect("kill charon");
    wait_until(
        ESEG_CLIENT_DPD_BOUND,
        "eseg-client to give up on the dead gateway",
        || Ok(client.exited()?.is_some()),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", client.log()));
    assert!(client.log().contains("tunnel down"), "{}", client.log());
}

#[test]
fn strongswan_gateway_detects_a_dead_eseg_client() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let conf = gateway_conf(lab.addresses(), |c| c.dpd_delay = Some(DPD_DELAY));
    let gateway = strongswan_gateway(&lab, &conf);
    let mut client = eseg_client_connected(&lab, &gateway, &[]);
    strongswan_detects_death(&gateway, "the client", || {
        client.kill().expect("kill eseg-client")
    });
}

#[test]
fn eseg_gateway_detects_a_dead_strongswan_client() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let a = lab.addresses().clone();
    // A /30 pool holds one client address (the first host is the gateway's): the client started
    // after the death gets one only if the dead client's address went back to the pool.
    let only_address = Ipv4Addr::from(u32::from(a.pool.network()) + 2);
    let settings = GatewaySettings {
        pool: Some(format!("{}/30", a.pool.network())),
        liveness_secs: GATEWAY_LIVENESS_SECS,
        retransmit_initial_ms: Some(GATEWAY_RETRANSMIT_INITIAL_MS),
        retransmit_tries: Some(GATEWAY_RETRANSMIT_TRIES),
        ..GatewaySettings::default()
    };
    let conf = SwanctlConf::lab_client(&a);
    let (gateway, mut client) = eseg_gateway_and_strongswan_client(&lab, &settings, &conf);
    bring_up("gateway DPD", &client, "net", &gateway);
    let virtual_ip = |gateway: &eseg_interop::EsegProcess| {
        let sas = gateway.status().expect("gateway status").ike_sas;
        assert_eq!(sas.len(), 1, "{sas:#?}");
        sas[0].virtual_ip.clone()
    };
    assert_eq!(virtual_ip(&gateway), Some(only_address.to_string()));
    // The gateway states the same bound, from its own settings.
    let bound = eseg_gateway_dpd_bound();
    let stated = format!("released within {:.1} s", bound.as_secs_f64());
    assert!(
        gateway.log().contains(&stated),
        "{stated}:\n{}",
        gateway.log()
    );

    // strongSwan answers the gateway's liveness checks: the SA outlives a few intervals.
    std::thread::sleep(Duration::from_secs(GATEWAY_LIVENESS_SECS * 3));
    assert_eq!(virtual_ip(&gateway), Some(only_address.to_string()));
    assert!(
        client.log().contains("parsed INFORMATIONAL request"),
        "eseg-gateway sent no liveness check:\n{}",
        client.log()
    );

    client.kill().expect("kill charon");
    let killed = stopwatch();
    gateway
        .wait_for_status(
            "eseg-gateway to drop the dead client's SAs",
            bound + LOADED_MACHINE_SLACK,
            |s| s.ike_sas.is_empty(),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", gateway.log()));
    let detected = killed.elapsed();
    eprintln!("eseg-gateway dropped the dead client {detected:?} after SIGKILL (bound {bound:?})");
    assert!(
        detected <= bound + LOADED_MACHINE_SLACK,
        "took {detected:?}, bound {bound:?} + {LOADED_MACHINE_SLACK:?}"
    );
    assert!(
        gateway
            .log()
            .contains("IKE SA closed reason=PeerUnreachable"),
        "the gateway's log does not name the reason:\n{}",
        gateway.log()
    );

    // The address is free again: a new client gets it.
    let mut again = Charon::start(&lab, Host::Client(0), "c0-again", &CharonOptions::default())
        .expect("charon");
    again.load(&conf).expect("load the client configuration");
    bring_up("after gateway DPD", &again, "net", &gateway);
    assert_eq!(virtual_ip(&gateway), Some(only_address.to_string()));
}

#[test]
fn deletes_from_either_side_are_honoured() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let a = lab.addresses().clone();

    // strongSwan gateway terminates: eseg-client (with --once) tears down and exits.
    let ss_gateway = strongswan_gateway(&lab, &SwanctlConf::lab_gateway(&a));
    let mut client = eseg_client_connected(&lab, &ss_gateway, &[]);
    ss_gateway.terminate_ike("gw").expect("swanctl --terminate");
    wait_until(
        Duration::from_secs(5),
        "eseg-client to exit after the Delete",
        || Ok(client.exited()?.is_some()),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", client.log()));
    assert!(ss_gateway.list_sas().unwrap().is_empty());
    let links = lab
        .exec_checked(Host::Client(0), &["ip", "-o", "link"])
        .unwrap()
        .stdout;
    assert!(
        !links.contains("eseg-c0"),
        "TUN device left behind: {links}"
    );
    assert!(
        ss_gateway
            .log()
            .contains("generating INFORMATIONAL request"),
        "strongSwan sent no Delete"
    );
    drop(client);
    drop(ss_gateway);

    // eseg-gateway gets SIGTERM: the strongSwan client receives a Delete and drops the SA.
    let (mut gateway, ss_client) = eseg_gateway_and_strongswan_client(
        &lab,
        &GatewaySettings::default(),
        &SwanctlConf::lab_client(&a),
    );
    bring_up("delete", &ss_client, "net", &gateway);
    assert!(lab.ping(Host::Client(0), IpAddr::V4(a.core), 1).unwrap());
    let status = gateway
        .terminate(Duration::from_secs(10))
        .expect("gateway exits");
    assert!(status.success(), "eseg-gateway exit status {status}");
    ss_client
        .wait_for_no_sas(Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("{e}\n{}", ss_client.log()));
    assert!(
        ss_client.log().contains("received DELETE for IKE_SA"),
        "{}",
        ss_client.log()
    );
}
