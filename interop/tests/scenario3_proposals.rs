//! Scenario 3: the proposal matrix in both directions. Every combination of AES-GCM-16 128/256,
//! AES-CBC-256 with HMAC-SHA2-256 and ChaCha20-Poly1305 with x25519, ECP-256 and ECP-384 is
//! established (IKE and ESP with the same cipher), checked in strongSwan's SA list and used for
//! one ping; strongSwan's default proposal list is tried too. The side configured with exactly one
//! proposal decides; eseg offers its built-in lists. When strongSwan is the gateway and insists on
//! an ECP group, eseg-client's first KE (x25519) draws INVALID_KE_PAYLOAD and it must retry.
//! Combinations run one after another in one lab; strongSwan is reconfigured in place.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use eseg_interop::{exclusive, EsegProcess, GatewaySettings, IkeSa, SwanctlConf, PSK};
use lab::{Host, Lab};

use common::{
    bring_up, client_conf, eseg_gateway_and_strongswan_client, gateway_conf, strongswan_gateway,
    TUNNEL_UP,
};

/// (strongSwan cipher token, expected `encr-alg`, expected key size, expected `integ-alg`).
const CIPHERS: [(&str, &str, Option<u32>, Option<&str>); 4] = [
    ("aes128gcm16", "AES_GCM_16", Some(128), None),
    ("aes256gcm16", "AES_GCM_16", Some(256), None),
    (
        "aes256-sha256",
        "AES_CBC",
        Some(256),
        Some("HMAC_SHA2_256_128"),
    ),
    ("chacha20poly1305", "CHACHA20_POLY1305", None, None),
];

/// (strongSwan group token, expected `dh-group`).
const GROUPS: [(&str, &str); 3] = [
    ("x25519", "CURVE_25519"),
    ("ecp256", "ECP_256"),
    ("ecp384", "ECP_384"),
];

fn ike_proposal(cipher: &str, group: &str) -> String {
    if cipher.contains('-') {
        format!("{cipher}-{group}")
    } else {
        format!("{cipher}-prfsha256-{group}")
    }
}

fn check_algorithms(sa: &IkeSa, cipher: &(&str, &str, Option<u32>, Option<&str>), group: &str) {
    let (_, encr, keysize, integ) = *cipher;
    let what = format!("{} with {group}", cipher.0);
    assert_eq!(sa.encr_alg, encr, "{what}: IKE {sa:?}");
    assert_eq!(sa.dh_group, group, "{what}: IKE {sa:?}");
    assert_eq!(sa.integ_alg.as_deref(), integ, "{what}: IKE {sa:?}");
    let child = sa
        .installed_children()
        .next()
        .unwrap_or_else(|| panic!("{what}: no CHILD SA"));
    assert_eq!(child.encr_alg, encr, "{what}: ESP {child:?}");
    assert_eq!(child.integ_alg.as_deref(), integ, "{what}: ESP {child:?}");
    if keysize.is_some() {
        assert_eq!(child.encr_keysize, keysize, "{what}: ESP {child:?}");
        assert_eq!(sa.encr_keysize, keysize, "{what}: IKE {sa:?}");
    }
}

#[test]
fn strongswan_client_proposals_against_eseg_gateway() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let a = lab.addresses().clone();
    let (mut gateway, mut client) = eseg_gateway_and_strongswan_client(
        &lab,
        &GatewaySettings::default(),
        &SwanctlConf::lab_client(&a),
    );
    for cipher in &CIPHERS {
        for (group, group_name) in GROUPS {
            let conf = client_conf(&a, |c| {
                *c = c
                    .clone()
                    .with_proposals(&ike_proposal(cipher.0, group), cipher.0);
            });
            client.load(&conf).expect("load");
            bring_up(&format!("{} {group}", cipher.0), &client, "net", &gateway);
            let sas = client.list_sas().expect("SAs");
            check_algorithms(&sas[0], cipher, group_name);
            assert!(
                lab.ping(Host::Client(0), IpAddr::V4(a.core), 1).unwrap(),
                "{} {group}: no ping through the tunnel",
                cipher.0
            );
            client.terminate_ike("c").expect("terminate");
            gateway
                .wait_for_status("the gateway to drop the SA", Duration::from_secs(5), |r| {
                    r.ike_sas.is_empty()
                })
                .expect("gateway cleans up");
        }
    }

    // strongSwan's default proposals against a gateway that accepts only ECP-384: strongSwan's
    // first KE is for another group, so we must answer INVALID_KE_PAYLOAD and it must retry.
    gateway
        .terminate(Duration::from_secs(10))
        .expect("stop the gateway");
    let settings = GatewaySettings {
        ike_proposals: Some(vec!["aes256gcm16-prfsha256-ecp384".into()]),
        ..GatewaySettings::default()
    };
    drop(gateway);
    let gateway = EsegProcess::gateway(&lab, &settings).expect("eseg-gateway, ECP-384 only");
    let conf = client_conf(&a, |c| *c = c.clone().with_proposals("default", "default"));
    client.load(&conf).expect("load");
    bring_up("default proposals", &client, "net", &gateway);
    assert!(
        client.log().contains("N(INVAL_KE)"),
        "no INVALID_KE_PAYLOAD from eseg-gateway in strongSwan's log"
    );
    let sas = client.list_sas().expect("SAs");
    assert_eq!(sas[0].dh_group, "ECP_384", "{:?}", sas[0]);
    assert!(lab.ping(Host::Client(0), IpAddr::V4(a.core), 1).unwrap());
}

#[test]
fn eseg_client_proposals_against_strongswan_gateway() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let a = lab.addresses().clone();
    let mut gateway = strongswan_gateway(&lab, &SwanctlConf::lab_gateway(&a));
    let mut cases: Vec<(String, String)> = Vec::new();
    for cipher in &CIPHERS {
        for (group, _) in GROUPS {
            cases.push((ike_proposal(cipher.0, group), cipher.0.to_owned()));
        }
    }
    cases.push(("default".into(), "default".into()));
    for (n, (ike, esp)) in cases.iter().enumerate() {
        let conf = gateway_conf(&a, |c| *c = c.clone().with_proposals(ike, esp));
        gateway.load(&conf).expect("load");
        let log_before = gateway.log().len();
        let mut client = EsegProcess::client(&lab, PSK, &[]).expect("eseg-client");
        client
            .wait_for_tunnel(TUNNEL_UP)
            .unwrap_or_else(|e| panic!("{ike} / {esp}: {e}\n{}", gateway.log()));
        let sas = gateway.list_sas().expect("SAs");
        assert_eq!(sas.len(), 1, "{sas:?}");
        if let Some(cipher) = CIPHERS.get(n / GROUPS.len()) {
            check_algorithms(&sas[0], cipher, GROUPS[n % GROUPS.len()].1);
            let new_log = gateway.log().split_off(log_before);
            let retried = new_log.contains("N(INVAL_KE)");
            assert_eq!(
                retried,
                GROUPS[n % GROUPS.len()].0 != "x25519",
                "{ike}: INVALID_KE_PAYLOAD expected exactly when strongSwan wants an ECP group"
            );
        }
        assert!(
            lab.ping(Host::Client(0), IpAddr::V4(a.core), 1).unwrap(),
            "{ike} / {esp}: no ping through the tunnel"
        );
        client
            .terminate(Duration::from_secs(10))
            .expect("client exits");
        gateway
            .wait_for_no_sas(Duration::from_secs(5))
            .expect("strongSwan drops the SA");
    }
}
