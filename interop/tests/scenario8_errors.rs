//! Scenario 8: failures both sides must report the same way. A wrong PSK and an unknown identity
//! end in AUTHENTICATION_FAILED (RFC 7296 §2.21.2), no common proposal in NO_PROPOSAL_CHOSEN
//! (§2.21.1); no SA is left on either side.

mod common;

use std::time::Duration;

use eseg_interop::{
    exclusive, wait_until, Connection, EsegProcess, GatewaySettings, PskSecret, SwanctlConf,
    CLIENT_ID, GATEWAY_ID, PSK,
};
use lab::Lab;

use common::{client_conf, eseg_gateway_and_strongswan_client, gateway_conf, strongswan_gateway};

const WRONG_PSK: &str = "not-the-interop-psk-9876543210";
const STRANGER: &str = "stranger.eseg.test";

/// Lower-cased with `_` removed, so `AUTHENTICATION_FAILED` and `AuthenticationFailed` match.
fn normalized(log: &str) -> String {
    log.to_lowercase().replace(['_', ' '], "")
}

/// Proposals eseg does not support (AES-CBC-128 with SHA-1, MODP-2048).
fn no_common_proposal(c: &mut Connection) {
    *c = c
        .clone()
        .with_proposals("aes128-sha1-modp2048", "aes128-sha1");
}

#[test]
fn strongswan_client_is_refused_by_eseg_gateway() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let a = lab.addresses().clone();
    let (gateway, mut client) = eseg_gateway_and_strongswan_client(
        &lab,
        &GatewaySettings::default(),
        &SwanctlConf::lab_client(&a),
    );

    let mut wrong_psk = SwanctlConf::lab_client(&a);
    wrong_psk.secrets = vec![PskSecret {
        ids: vec![GATEWAY_ID.into(), CLIENT_ID.into()],
        secret: WRONG_PSK.into(),
    }];
    let mut stranger = client_conf(&a, |c| c.local_id = STRANGER.into());
    stranger.secrets = vec![PskSecret {
        ids: vec![GATEWAY_ID.into(), STRANGER.into()],
        secret: PSK.into(),
    }];
    let no_proposal = client_conf(&a, no_common_proposal);
    // eseg-gateway's log must name each error too (an operator has to see why a client fails).
    for (case, conf, notify) in [
        ("wrong PSK", wrong_psk, "AUTHENTICATION_FAILED"),
        ("unknown identity", stranger, "AUTHENTICATION_FAILED"),
        ("no common proposal", no_proposal, "NO_PROPOSAL_CHOSEN"),
    ] {
        client.load(&conf).expect("load");
        let log_before = client.log().len();
        let gateway_log_before = gateway.log().len();
        let up = client
            .initiate("c", "net", Duration::from_secs(8))
            .expect("swanctl");
        assert!(!up.succeeded(), "{case}: the tunnel came up");
        let theirs = client.log().split_off(log_before);
        assert!(
            theirs.contains(&format!("received {notify} notify error")),
            "{case}: strongSwan did not receive {notify}:\n{theirs}"
        );
        let ours = gateway.log().split_off(gateway_log_before);
        assert!(
            normalized(&ours).contains(&normalized(notify)),
            "{case}: eseg-gateway does not report {notify}:\n{ours}"
        );
        assert!(client.list_sas().unwrap().is_empty(), "{case}");
        let status = gateway
            .wait_for_status("no SA on the gateway", Duration::from_secs(3), |r| {
                r.ike_sas.is_empty()
            })
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert!(status.ike_sas.is_empty());
    }
}

#[test]
fn eseg_client_is_refused_by_strongswan_gateway() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let a = lab.addresses().clone();
    let mut gateway = strongswan_gateway(&lab, &SwanctlConf::lab_gateway(&a));
    let no_proposal = gateway_conf(&a, no_common_proposal);
    for (case, conf, identity, psk, notify, their_reason) in [
        (
            "wrong PSK",
            SwanctlConf::lab_gateway(&a),
            CLIENT_ID,
            WRONG_PSK,
            "AUTHENTICATION_FAILED",
            "MAC mismatched",
        ),
        (
            "unknown identity",
            SwanctlConf::lab_gateway(&a),
            STRANGER,
            PSK,
            "AUTHENTICATION_FAILED",
            "no matching peer config found",
        ),
        (
            "no common proposal",
            no_proposal,
            CLIENT_ID,
            PSK,
            "NO_PROPOSAL_CHOSEN",
            "received proposals unacceptable",
        ),
    ] {
        gateway.load(&conf).expect("load");
        let log_before = gateway.log().len();
        let mut client = EsegProcess::client_as(&lab, identity, psk, &[]).expect("client");
        wait_until(Duration::from_secs(10), "eseg-client to give up", || {
            Ok(client.exited()?.is_some())
        })
        .unwrap_or_else(|e| panic!("{case}: {e}\n{}", client.log()));
        let theirs = gateway.log().split_off(log_before);
        assert!(
            theirs.contains(their_reason),
            "{case}: strongSwan log:\n{theirs}"
        );
        assert!(
            normalized(&client.log()).contains(&normalized(notify)),
            "{case}: eseg-client does not report {notify}:\n{}",
            client.log()
        );
        assert!(gateway.list_sas().unwrap().is_empty(), "{case}");
    }
}
