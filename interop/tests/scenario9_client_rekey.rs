//! Scenario 4, the missing direction: eseg-client itself rekeys its CHILD and IKE SAs against a
//! strongSwan gateway (`--child-lifetime-secs 8 --ike-lifetime-secs 15`; strongSwan keeps its
//! defaults of 1 h / 4 h, so every CREATE_CHILD_SA it parses is ours). Pings run every 100 ms
//! both ways through the tunnel for 25 s, across at least two CHILD rekeys and one IKE rekey.
//!
//! Asserted:
//! - the rekeys happened and were ours: strongSwan parsed CREATE_CHILD_SA requests with
//!   `N(REKEY_SA)` (CHILD) and without traffic selectors (IKE, RFC 7296 §2.18) and started none;
//!   our client logged them; strongSwan's `--list-sas` shows new IKE SPIs and new CHILD SPIs;
//! - no two consecutive pings lost in either direction: a rekey is make-before-break
//!   (<https://www.rfc-editor.org/rfc/rfc7296#section-2.8>: the new SA is installed before the
//!   old one is deleted), so no loss is expected; one packet is tolerated for scheduling on a
//!   loaded machine, the same bound as scenario 4;
//! - the old SAs are deleted on both sides: strongSwan received our Deletes and lists one IKE SA
//!   with one installed CHILD SA, our status one IKE SA (same handle) with one CHILD SA, and
//!   both agree on that CHILD SA;
//! - the virtual IP is unchanged (printed once, the same in both views).

mod common;

use std::net::IpAddr;
use std::time::Duration;

use eseg_interop::{exclusive, Charon, EsegProcess, IkeSa, PingRun, SwanctlConf};
use lab::{Host, Lab};
use netio::dataplane::status::StatusReport;

use common::{check_child_sa_pair, eseg_client_connected, eseg_client_deletes, strongswan_gateway};

const PING_INTERVAL: Duration = Duration::from_millis(100);
/// 25 s of pings: CHILD rekeys fall at about 7.2-8 s, 14.4-16 s and 21.6-24 s, the IKE rekey at
/// 13.5-15 s after the tunnel came up (rekey time minus up to a tenth of the shorter one).
const PINGS: u32 = 250;
const CHILD_LIFETIME: &str = "8";
const IKE_LIFETIME: &str = "15";

/// strongSwan's parsed CREATE_CHILD_SA requests: (CHILD rekeys, IKE rekeys). A CHILD rekey
/// carries `N(REKEY_SA)`; an IKE rekey carries SA, Ni and KE but no traffic selectors.
fn rekey_requests_parsed(log: &str) -> (usize, usize) {
    let requests: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("parsed CREATE_CHILD_SA request"))
        .collect();
    let child = requests
        .iter()
        .filter(|l| l.contains("N(REKEY_SA)"))
        .count();
    let ike = requests
        .iter()
        .filter(|l| !l.contains("N(REKEY_SA)") && !l.contains("TSi"))
        .count();
    (child, ike)
}

/// Lines of `log` containing `needle`.
fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// Waits until both sides hold exactly one established IKE SA with exactly one installed CHILD SA
/// (strongSwan lists rekeyed CHILD SAs as DELETED for a while; those do not count), and returns
/// both views.
fn wait_until_settled(ours: &EsegProcess, theirs: &Charon) -> (StatusReport, Vec<IkeSa>) {
    let mut their_sas = Vec::new();
    let status = ours
        .wait_for_status(
            "one IKE SA and one CHILD SA on both sides",
            Duration::from_secs(5),
            |status| {
                their_sas = theirs.list_sas().unwrap_or_default();
                their_sas.len() == 1
                    && their_sas[0].is_established()
                    && their_sas[0].installed_children().count() == 1
                    && status.ike_sas.len() == 1
                    && status.ike_sas[0].child_sas.len() == 1
            },
        )
        .unwrap_or_else(|e| panic!("{e}: {their_sas:?}\n{:?}", ours.status()));
    (status, their_sas)
}

#[test]
fn eseg_client_rekeys_with_strongswan_gateway() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let gateway = strongswan_gateway(&lab, &SwanctlConf::lab_gateway(lab.addresses()));
    let mut client = eseg_client_connected(
        &lab,
        &gateway,
        &[
            "--child-lifetime-secs",
            CHILD_LIFETIME,
            "--ike-lifetime-secs",
            IKE_LIFETIME,
        ],
    );
    let vip = client.virtual_ip().expect("virtual IP");
    let (ours_before, theirs_before) = wait_until_settled(&client, &gateway);

    let core = IpAddr::V4(lab.addresses().core);
    let up = PingRun::start(&lab, Host::Client(0), core, PINGS, PING_INTERVAL).expect("ping");
    let down =
        PingRun::start(&lab, Host::Core, IpAddr::V4(vip), PINGS, PING_INTERVAL).expect("ping");
    let up = up.finish().expect("ping result");
    let down = down.finish().expect("ping result");
    let our_log = client.log();
    let their_log = gateway.log();
    for (direction, report) in [("client -> core", &up), ("core -> client", &down)] {
        assert!(
            report.longest_gap <= 1,
            "{direction}: {} consecutive pings lost (of {}, {} lost in all) during our rekeys\n\
             our log:\n{our_log}\nstrongSwan log:\n{their_log}",
            report.longest_gap,
            report.sent,
            report.lost()
        );
    }

    let (child_rekeys, ike_rekeys) = rekey_requests_parsed(&their_log);
    println!(
        "scenario 9: eseg-client rekeyed {child_rekeys} CHILD and {ike_rekeys} IKE SAs; pings lost \
         client->core {} of {} (longest gap {}), core->client {} of {} (longest gap {})",
        up.lost(),
        up.sent,
        up.longest_gap,
        down.lost(),
        down.sent,
        down.longest_gap
    );
    assert!(
        child_rekeys >= 2 && ike_rekeys >= 1,
        "strongSwan parsed {child_rekeys} CHILD and {ike_rekeys} IKE rekey requests\n{their_log}"
    );
    assert_eq!(
        count(&their_log, "generating CREATE_CHILD_SA request"),
        0,
        "strongSwan started a rekey itself\n{their_log}"
    );
    assert!(
        count(&our_log, "IKE SA rekeyed") >= 1,
        "no IKE rekey in our log\n{our_log}"
    );
    assert!(
        count(&our_log, "reason=Rekeyed") >= 2,
        "fewer than two rekeyed CHILD SAs removed in our log\n{our_log}"
    );
    assert!(
        count(&their_log, "received DELETE for ESP CHILD_SA") >= 2
            && count(&their_log, "received DELETE for IKE_SA") >= 1,
        "strongSwan did not receive our Deletes of the old SAs\n{their_log}"
    );

    let (ours_after, theirs_after) = wait_until_settled(&client, &gateway);
    let (before, after) = (&theirs_before[0], &theirs_after[0]);
    assert_ne!(
        (&before.initiator_spi, &before.responder_spi),
        (&after.initiator_spi, &after.responder_spi),
        "strongSwan's IKE SA kept its SPIs"
    );
    let their_child = after.installed_children().next().expect("CHILD SA");
    let their_first_child = before.installed_children().next().expect("CHILD SA");
    assert_ne!(their_child.spi_in, their_first_child.spi_in);
    assert_ne!(their_child.spi_out, their_first_child.spi_out);
    let ike = &ours_after.ike_sas[0];
    assert_eq!(
        ike.handle, ours_before.ike_sas[0].handle,
        "our client reconnected instead of rekeying"
    );
    assert_ne!(
        ike.child_sas[0].spi_in, ours_before.ike_sas[0].child_sas[0].spi_in,
        "our CHILD SA was not rekeyed"
    );
    check_child_sa_pair(ike, their_child);

    assert_eq!(client.printed("address"), vec![vip.to_string()]);
    assert_eq!(ike.virtual_ip.as_deref(), Some(vip.to_string().as_str()));
    assert_eq!(after.remote_vips, vec![vip.to_string()]);

    eseg_client_deletes(&mut client, &gateway);
}
