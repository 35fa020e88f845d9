//! Tunnels over time: the client survives a gateway restart, and SIGTERM on either side sends a
//! Delete and leaves no routes or TUN device behind.

use std::net::IpAddr;
use std::time::Duration;

use eseg_tests::{Host, Scenario};

#[test]
fn client_reconnects_after_the_gateway_restarts() {
    let mut s = Scenario::new(1, "");
    s.start_client(0, &[]);
    let core = IpAddr::V4(s.lab.addresses().core);
    let vip = s.client_vip(0);
    assert!(s.ping(Host::Client(0), core));
    // A crash, not a clean stop: no Delete reaches the client.
    s.crash_and_restart_gateway();
    assert!(
        s.wait_for_printed(0, "pcscf", 2),
        "client did not reconnect"
    );
    assert_eq!(s.client_vip(0), vip, "same service: the same virtual IP");
    assert!(
        s.ping(Host::Client(0), core),
        "client -> core after restart"
    );
    assert!(
        s.ping(Host::Core, IpAddr::V4(vip)),
        "core -> client after restart"
    );
}

#[test]
fn sigterm_on_the_client_deletes_the_sa_and_removes_tun_and_routes() {
    let mut s = Scenario::new(1, "");
    s.start_client(0, &[]);
    assert_eq!(s.gateway_status().ike_sas.len(), 1);
    let mut client = s.clients[0].take().expect("client");
    let status = client.terminate(Duration::from_secs(8)).expect("terminate");
    assert!(status.success(), "client exit: {status}");
    assert!(
        client.stderr().contains("IKE SA closed"),
        "{}",
        client.stderr()
    );
    assert!(
        Scenario::wait_until(Duration::from_secs(5), || s
            .gateway_status()
            .ike_sas
            .is_empty()),
        "the gateway still has the SA: the Delete did not arrive"
    );
    let links = s.ip(Host::Client(0), &["link", "show"]);
    assert!(!links.contains("eseg-c0"), "TUN left behind: {links}");
    let routes = s.ip(Host::Client(0), &["route", "show", "table", "all"]);
    assert!(!routes.contains("eseg-c0"), "routes left behind: {routes}");
    // And when the test is done, no namespace of the lab is left either.
    let namespaces: Vec<String> = s
        .lab
        .hosts()
        .into_iter()
        .filter_map(|h| s.lab.netns(h).ok().map(str::to_owned))
        .collect();
    drop(s);
    let listed = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let listed = String::from_utf8_lossy(&listed.stdout);
    for ns in namespaces {
        assert!(!listed.contains(&ns), "namespace {ns} left behind");
    }
}

#[test]
fn sigterm_on_the_gateway_deletes_the_sa_at_the_client_and_removes_tun() {
    let mut s = Scenario::new(1, "");
    s.start_client(0, &[]);
    let mut gateway = s.gateway.take().expect("gateway");
    let status = gateway
        .terminate(Duration::from_secs(8))
        .expect("terminate");
    assert!(status.success(), "gateway exit: {status}");
    let client_saw_delete = Scenario::wait_until(Duration::from_secs(5), || {
        s.clients[0]
            .as_ref()
            .is_some_and(|c| c.stderr().contains("PeerDeleted"))
    });
    assert!(client_saw_delete, "client did not get the Delete");
    let links = s.ip(Host::Gateway, &["link", "show"]);
    assert!(!links.contains("eseg0"), "gateway TUN left behind: {links}");
    // The client keeps its TUN device while it retries, but not the routes of the dead tunnel.
    // It logs the Delete before it removes them, so they may outlive the log line by a moment.
    let mut routes = String::new();
    let routes_removed = Scenario::wait_until(Duration::from_secs(5), || {
        routes = s.ip(Host::Client(0), &["route", "show"]);
        !routes.contains("eseg-c0")
    });
    assert!(routes_removed, "stale routes: {routes}");
}
