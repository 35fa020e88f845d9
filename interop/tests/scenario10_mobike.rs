//! Scenario 10: MOBIKE ([RFC 4555](https://www.rfc-editor.org/rfc/rfc4555)). A client whose
//! outer address changes (Wi-Fi to LTE) keeps its IKE SA and its virtual IP: it tells the gateway
//! in an INFORMATIONAL exchange with UPDATE_SA_ADDRESSES, NAT detection and COOKIE2 (§3.5, §3.8)
//! and the gateway moves the SA to the address the request came from.
//!
//! The lab has no router, so the move happens on the clients' LAN: client 0 gets a second address
//! and loses its first (with `promote_secondaries`, so the new one survives and keeps the subnet
//! route). Its global IPv6 addresses are removed before anything starts: strongSwan probes every
//! candidate path after a change and takes the first that answers, and with IPv4 as the only
//! family that choice is always the same.
//!
//! kernel-libipsec cannot change the addresses of an installed ESP SA, so strongSwan replaces
//! every CHILD SA by a rekey right after the move (KNOWN-DIFFERENCES.md, D7): the IKE SA (its
//! SPIs), the virtual IP and the tunnel stay, the CHILD SPIs change.
//!
//! - baseline: strongSwan client -> strongSwan gateway, the lab method and strongSwan's behaviour;
//! - A: strongSwan client -> eseg-gateway, and the same with `[ike] mobike = false` at the
//!   gateway, where strongSwan falls back to a new IKE SA;
//! - B: eseg-client -> strongSwan gateway.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use eseg_interop::{
    exclusive, wait_until, Charon, CharonOptions, ChildSa, EsegProcess, GatewaySettings, IkeSa,
    PingRun, SwanctlConf,
};
use lab::{ifname, Host, Lab, LabAddresses};
use netio::dataplane::status::ChildSaStatus;

use common::{
    bring_up, client_conf, eseg_client_connected, eseg_client_deletes,
    eseg_gateway_and_strongswan_client, gateway_conf, ping_both_ways, strongswan_client_deletes,
    strongswan_gateway, INITIATE_LIMIT,
};

/// Offset in the clients' LAN of the address client 0 moves to (free: the next hop is at 1,
/// clients start at 10).
const ROAMED_OFFSET: u32 = 40;
/// How long the move (address events, MOBIKE exchange, CHILD SA rekey) may take.
const MOVE_LIMIT: Duration = Duration::from_secs(15);

/// The ping across a move: one every 50 ms ...
const PING_INTERVAL: Duration = Duration::from_millis(50);
/// ... for 8 s ...
const PING_COUNT: u32 = 160;
/// ... with the move after the first second.
const PING_LEAD: Duration = Duration::from_secs(1);
/// The longest run of lost pings a move may cause (3 s): the client notices the change (charon
/// at once, eseg-client within its 500 ms check), one MOBIKE exchange, one CHILD SA rekey. A
/// tunnel that does not come back loses the rest of the run (7 s).
const MAX_GAP: u32 = 60;

/// Client 0's address before and after the move.
#[derive(Debug, Clone, Copy)]
struct Move {
    old: Ipv4Addr,
    new: Ipv4Addr,
}

/// Readies client 0 for a move: keeps secondary addresses when the primary goes, and removes
/// its global IPv6 addresses (one address family, one candidate path).
fn prepare_move(lab: &Lab) -> Move {
    let a = lab.addresses();
    let dev = ifname::CLIENT;
    lab.sysctl(
        Host::Client(0),
        &[(&format!("net.ipv4.conf.{dev}.promote_secondaries"), "1")],
    )
    .expect("promote_secondaries");
    lab.exec_checked(
        Host::Client(0),
        &["ip", "-6", "addr", "flush", "dev", dev, "scope", "global"],
    )
    .expect("remove the client's IPv6 addresses");
    Move {
        old: a.clients[0],
        new: Ipv4Addr::from(u32::from(a.lan.network()) + ROAMED_OFFSET),
    }
}

/// The lab's strongSwan client configuration with MOBIKE on and any local address (so it
/// follows client 0's move).
fn roaming_client_conf(a: &LabAddresses) -> SwanctlConf {
    client_conf(a, |c| {
        c.mobike = true;
        c.local_addrs = "%any".into();
    })
}

/// Moves client 0 from `m.old` to `m.new`: the new address comes first, then the old one goes
/// (a make-before-break handover, as a phone does when LTE is up before Wi-Fi drops).
fn move_client(lab: &Lab, m: Move) {
    let len = lab.addresses().lan.prefix_len();
    let dev = ifname::CLIENT;
    let (new, old) = (format!("{}/{len}", m.new), format!("{}/{len}", m.old));
    lab.exec_checked(Host::Client(0), &["ip", "addr", "add", &new, "dev", dev])
        .expect("add the new address");
    lab.exec_checked(Host::Client(0), &["ip", "addr", "del", &old, "dev", dev])
        .expect("delete the old address");
}

/// Moves client 0 while the core pings its virtual IP, and checks that the pings came back soon:
/// the gateway must send to the new address for the replies to return.
fn move_client_under_ping(lab: &Lab, m: Move, vip: Ipv4Addr) {
    let ping = PingRun::start(lab, Host::Core, vip.into(), PING_COUNT, PING_INTERVAL)
        .expect("ping the client's virtual IP");
    std::thread::sleep(PING_LEAD);
    move_client(lab, m);
    let report = ping.finish().expect("ping across the move");
    println!(
        "ping across the move: {} of {} lost, longest gap {} x {PING_INTERVAL:?}",
        report.lost(),
        report.sent,
        report.longest_gap
    );
    assert!(
        report.longest_gap <= MAX_GAP,
        "the tunnel was down for {} pings around the move: {report:?}",
        report.longest_gap
    );
}

/// The only IKE SA of a strongSwan instance.
fn only_sa(charon: &Charon) -> IkeSa {
    let sas = charon.list_sas().expect("swanctl --list-sas");
    assert_eq!(sas.len(), 1, "{sas:?}");
    sas.into_iter().next().expect("one IKE SA")
}

/// Waits until strongSwan's only IKE SA satisfies `moved` and holds exactly one CHILD SA,
/// installed, other than the first of `before` (libipsec's rekey after the move is over), checks
/// that it is still the IKE SA `before` was, and returns it.
fn wait_for_moved_sa(charon: &Charon, before: &IkeSa, moved: impl Fn(&IkeSa) -> bool) -> IkeSa {
    let old_child_spi = before.child_sas[0].spi_in;
    let mut last = Vec::new();
    let done = wait_until(
        MOVE_LIMIT,
        "the IKE SA on the new path, CHILD SA rekeyed",
        || {
            last = charon.list_sas()?;
            Ok(matches!(&last[..], [sa] if moved(sa)
            && sa.child_sas.len() == 1
            && sa.installed_children().any(|c| c.spi_in != old_child_spi)))
        },
    );
    if let Err(e) = done {
        panic!("{e}: {last:?}\nstrongSwan log:\n{}", charon.log());
    }
    let after = last.remove(0);
    assert_same_ike_sa(before, &after);
    after
}

/// strongSwan's only CHILD SA and eseg's CHILD SA that pairs with it (SPIs mirrored).
fn child_pair(charon: &Charon, eseg: &EsegProcess) -> (ChildSa, ChildSaStatus) {
    let theirs = only_sa(charon).child_sas.remove(0);
    let report = eseg.status().expect("eseg status");
    let mine = report
        .ike_sas
        .iter()
        .flat_map(|ike| &ike.child_sas)
        .find(|c| (c.spi_in, c.spi_out) == (theirs.spi_out, theirs.spi_in))
        .cloned()
        .unwrap_or_else(|| panic!("no CHILD SA mirroring {theirs:?} in {report:?}"));
    (theirs, mine)
}

/// Pings both ways and checks that both ends counted the pings on the CHILD SA pair that
/// replaced the old one: at least three more packets each way on each side. (Counters are not
/// compared for equality as in scenario 1: pings sent around the move may be lost.)
fn ping_through_the_new_pair(lab: &Lab, vip: Ipv4Addr, charon: &Charon, eseg: &EsegProcess) {
    let (theirs_before, mine_before) = child_pair(charon, eseg);
    ping_both_ways(lab, vip);
    let (theirs, mine) = child_pair(charon, eseg);
    assert_eq!(
        theirs.spi_in, theirs_before.spi_in,
        "the CHILD SA changed during the pings"
    );
    let grown = [
        (
            "strongSwan in",
            theirs.packets_in - theirs_before.packets_in,
        ),
        (
            "strongSwan out",
            theirs.packets_out - theirs_before.packets_out,
        ),
        ("eseg in", mine.packets_in - mine_before.packets_in),
        ("eseg out", mine.packets_out - mine_before.packets_out),
    ];
    for (counter, more) in grown {
        assert!(more >= 3, "{counter} grew by {more}: {theirs:?} {mine:?}");
    }
}

/// The IKE SA is the same one: same SPIs, same virtual IPs, still established.
fn assert_same_ike_sa(before: &IkeSa, after: &IkeSa) {
    assert!(after.is_established(), "{after:?}");
    assert_eq!(
        (&after.initiator_spi, &after.responder_spi),
        (&before.initiator_spi, &before.responder_spi),
        "a new IKE SA replaced the old one"
    );
    assert_eq!(after.local_vips, before.local_vips);
    assert_eq!(after.remote_vips, before.remote_vips);
}

/// Asserts that a line of `log` holds all of `needles`; `missing` says what its absence means.
fn assert_logged(log: &str, needles: &[&str], missing: &str) {
    assert!(
        log.lines().any(|l| needles.iter().all(|n| l.contains(n))),
        "{missing}:\n{log}"
    );
}

/// The initiator's side of §3.5 as strongSwan logs it: it asked for the move with MOBIKE (not by
/// reauthenticating), sent UPDATE_SA_ADDRESSES with NAT detection and COOKIE2, and got NAT
/// detection and the COOKIE2 back.
fn assert_strongswan_initiated_mobike(log: &str) {
    assert!(
        log.contains("requesting address change using MOBIKE"),
        "strongSwan did not use MOBIKE:\n{log}"
    );
    assert!(
        !log.contains("reauthenticating IKE_SA"),
        "strongSwan reauthenticated instead of moving the SA:\n{log}"
    );
    assert_logged(
        log,
        &[
            "generating INFORMATIONAL request",
            "N(UPD_SA_ADDR)",
            "N(NATD_S_IP)",
            "N(NATD_D_IP)",
            "N(COOKIE2)",
        ],
        "no UPDATE_SA_ADDRESSES",
    );
    assert_logged(
        log,
        &[
            "parsed INFORMATIONAL response",
            "N(NATD_S_IP)",
            "N(NATD_D_IP)",
            "N(COOKIE2)",
        ],
        "the answer to UPDATE_SA_ADDRESSES lacks NAT detection or COOKIE2",
    );
}

/// The responder's side as strongSwan logs it: it moved the SA from `m.old` to `m.new` on an
/// UPDATE_SA_ADDRESSES with NAT detection.
fn assert_strongswan_moved_peer(log: &str, m: Move) {
    assert_logged(
        log,
        &[
            "parsed INFORMATIONAL request",
            "N(UPD_SA_ADDR)",
            "N(NATD_S_IP)",
            "N(NATD_D_IP)",
        ],
        "no UPDATE_SA_ADDRESSES",
    );
    assert_logged(
        log,
        &[
            "remote endpoint changed from",
            &format!("{}[", m.old),
            &format!("to {}[", m.new),
        ],
        &format!("strongSwan did not move the SA to {}", m.new),
    );
}

#[test]
fn baseline_strongswan_client_moves_with_a_strongswan_gateway() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let a = lab.addresses().clone();
    let m = prepare_move(&lab);
    let gateway = strongswan_gateway(&lab, &gateway_conf(&a, |c| c.mobike = true));
    let mut client =
        Charon::start(&lab, Host::Client(0), "c0", &CharonOptions::default()).expect("charon");
    client
        .load(&roaming_client_conf(&a))
        .expect("load the client configuration");
    let up = client
        .initiate("c", "net", INITIATE_LIMIT)
        .expect("swanctl");
    assert!(up.succeeded(), "{}", up.text());
    let (before, gateway_before) = (only_sa(&client), only_sa(&gateway));
    let vip: Ipv4Addr = before.local_vips[0].parse().expect("virtual IP");
    ping_both_ways(&lab, vip);

    move_client_under_ping(&lab, m, vip);

    wait_for_moved_sa(&client, &before, |sa| sa.local_host == m.new.to_string());
    wait_for_moved_sa(&gateway, &gateway_before, |sa| {
        sa.remote_host == m.new.to_string()
    });
    assert_strongswan_initiated_mobike(&client.log());
    assert_strongswan_moved_peer(&gateway.log(), m);
    // libipsec cannot update an ESP SA in place: strongSwan rekeys the CHILD SA instead.
    assert!(
        gateway.log().contains("queueing CHILD_REKEY task"),
        "no CHILD SA rekey after the move:\n{}",
        gateway.log()
    );
    let pair = || {
        let c = only_sa(&client).child_sas.remove(0);
        let g = only_sa(&gateway).child_sas.remove(0);
        assert_eq!((c.spi_in, c.spi_out), (g.spi_out, g.spi_in));
        (c, g)
    };
    let (c0, g0) = pair();
    ping_both_ways(&lab, vip);
    let (c, g) = pair();
    assert!(
        c.packets_out >= c0.packets_out + 3 && g.packets_out >= g0.packets_out + 3,
        "{c:?} {g:?}"
    );
}

#[test]
fn a_strongswan_client_moves_with_eseg_gateway() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let a = lab.addresses().clone();
    let m = prepare_move(&lab);
    let conf = roaming_client_conf(&a);
    let (gateway, client) =
        eseg_gateway_and_strongswan_client(&lab, &GatewaySettings::default(), &conf);
    bring_up("scenario 10 A", &client, "net", &gateway);
    let before = only_sa(&client);
    let vip: Ipv4Addr = before.local_vips[0].parse().expect("virtual IP");
    ping_both_ways(&lab, vip);
    let ours_before = gateway.status().expect("gateway status");
    assert_eq!(ours_before.ike_sas.len(), 1, "{ours_before:?}");
    let ike_before = &ours_before.ike_sas[0];
    assert_eq!(ike_before.peer, format!("{}:4500", m.old));
    assert!(
        client.log().contains("peer supports MOBIKE"),
        "eseg-gateway did not answer MOBIKE_SUPPORTED:\n{}",
        client.log()
    );

    move_client_under_ping(&lab, m, vip);

    let after = wait_for_moved_sa(&client, &before, |sa| sa.local_host == m.new.to_string());
    assert_strongswan_initiated_mobike(&client.log());
    let theirs = after.child_sas[0].clone();
    let ours = gateway
        .wait_for_status("the gateway to move the SA", MOVE_LIMIT, |r| {
            matches!(&r.ike_sas[..], [ike] if ike.peer == format!("{}:4500", m.new)
                && ike.child_sas.len() == 1
                && ike.child_sas[0].spi_in == theirs.spi_out)
        })
        .unwrap_or_else(|e| panic!("{e}\ngateway log:\n{}", gateway.log()));
    let ike = &ours.ike_sas[0];
    assert_eq!(
        ike.handle, ike_before.handle,
        "a new IKE SA replaced the old one"
    );
    assert_eq!(ike.virtual_ip, ike_before.virtual_ip);
    assert_eq!(ike.state, "established");

    ping_through_the_new_pair(&lab, vip, &client, &gateway);

    strongswan_client_deletes(&client, &gateway);
}

#[test]
fn a_without_mobike_at_eseg_gateway_strongswan_makes_a_new_ike_sa() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let a = lab.addresses().clone();
    let m = prepare_move(&lab);
    let conf = roaming_client_conf(&a);
    let settings = GatewaySettings {
        mobike: Some(false),
        ..GatewaySettings::default()
    };
    let (gateway, client) = eseg_gateway_and_strongswan_client(&lab, &settings, &conf);
    bring_up("scenario 10 A without MOBIKE", &client, "net", &gateway);
    assert!(
        !client.log().contains("peer supports MOBIKE"),
        "eseg-gateway answered MOBIKE_SUPPORTED with [ike] mobike = false:\n{}",
        client.log()
    );
    let before = only_sa(&client);
    ping_both_ways(&lab, before.local_vips[0].parse().expect("virtual IP"));
    let ours_before = gateway.status().expect("gateway status");
    assert_eq!(ours_before.ike_sas.len(), 1, "{ours_before:?}");

    move_client(&lab, m);

    let mut last = Vec::new();
    wait_until(MOVE_LIMIT, "a new IKE SA from the new address", || {
        last = client.list_sas()?;
        Ok(matches!(&last[..], [sa] if sa.is_established()
            && sa.local_host == m.new.to_string()
            && sa.installed_children().count() == 1))
    })
    .unwrap_or_else(|e| panic!("{e}: {last:?}\nstrongSwan log:\n{}", client.log()));
    let after = &last[0];
    assert_ne!(after.initiator_spi, before.initiator_spi, "{after:?}");
    assert!(
        client
            .log()
            .contains("reauthenticating IKE_SA due to address change"),
        "{}",
        client.log()
    );
    let ours = gateway
        .wait_for_status(
            "the gateway to hold the new IKE SA only",
            MOVE_LIMIT,
            |r| matches!(&r.ike_sas[..], [ike] if ike.peer == format!("{}:4500", m.new)),
        )
        .unwrap_or_else(|e| panic!("{e}\ngateway log:\n{}", gateway.log()));
    assert_ne!(ours.ike_sas[0].handle, ours_before.ike_sas[0].handle);
    let vip: Ipv4Addr = after.local_vips[0].parse().expect("virtual IP");
    ping_both_ways(&lab, vip);
}

#[test]
fn b_eseg_client_moves_with_a_strongswan_gateway() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let a = lab.addresses().clone();
    let m = prepare_move(&lab);
    let gateway = strongswan_gateway(&lab, &gateway_conf(&a, |c| c.mobike = true));
    let mut client = eseg_client_connected(&lab, &gateway, &[]);
    let vip = client.virtual_ip().expect("virtual IP");
    ping_both_ways(&lab, vip);
    let before = only_sa(&gateway);
    assert_eq!(before.remote_host, m.old.to_string());
    assert!(
        gateway.log().contains("peer supports MOBIKE"),
        "eseg-client did not offer MOBIKE:\n{}",
        gateway.log()
    );
    let ours_before = client.status().expect("client status");
    assert_eq!(ours_before.ike_sas.len(), 1, "{ours_before:?}");
    assert!(
        ours_before.ike_sas[0]
            .local
            .starts_with(&format!("{}:", m.old)),
        "{ours_before:?}"
    );

    move_client_under_ping(&lab, m, vip);

    let after = wait_for_moved_sa(&gateway, &before, |sa| sa.remote_host == m.new.to_string());
    assert_strongswan_moved_peer(&gateway.log(), m);
    let theirs = after.child_sas[0].clone();
    let ours = client
        .wait_for_status("the client to take the rekeyed CHILD SA", MOVE_LIMIT, |r| {
            matches!(&r.ike_sas[..], [ike] if ike.child_sas.len() == 1
                && ike.child_sas[0].spi_in == theirs.spi_out)
        })
        .unwrap_or_else(|e| panic!("{e}\nclient log:\n{}", client.log()));
    let ike = &ours.ike_sas[0];
    assert_eq!(
        ike.handle, ours_before.ike_sas[0].handle,
        "a new IKE SA replaced the old one"
    );
    assert_eq!(ike.virtual_ip.as_deref(), Some(vip.to_string().as_str()));
    assert!(ike.local.starts_with(&format!("{}:", m.new)), "{ike:?}");

    ping_through_the_new_pair(&lab, vip, &gateway, &client);

    eseg_client_deletes(&mut client, &gateway);
}
