//! IPv6 inner addresses (dual stack, for IPv6 IMS cores): a gateway with `clients.pool6`, IPv6
//! DNS, P-CSCF and protected subnet hands a client started with `--ipv6` an IPv6 address besides
//! its IPv4 one, and IPv6 flows through the same tunnel both ways while IPv4 keeps working.
//! Without `--ipv6`, or without `pool6`, everything stays IPv4 only. After a reconnect the
//! client holds exactly its new IPv6 address: the old one left with the old tunnel.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use eseg_tests::{Host, Lab, Scenario};

/// The lab's gateway configuration with both families: the IPv4 plan plus the lab's IPv6 pool,
/// DNS, P-CSCF and protected subnet.
fn dual_stack_config(lab: &Lab) -> String {
    let a = lab.addresses();
    format!(
        "[gateway]\nstatus_socket = \"{status}\"\n\n\
         [clients]\npool = \"{pool}\"\npool6 = \"{pool6}\"\n\
         dns = [\"{dns}\", \"{dns6}\"]\npcscf = [\"{pcscf}\", \"{pcscf6}\"]\n\
         protected_subnets = [\"{protected}\", \"{protected6}\"]\n\n\
         [ike]\nliveness_interval_secs = 5\n",
        status = lab.workdir().join("gateway.sock").display(),
        pool = a.pool,
        pool6 = a.v6.pool,
        dns = a.dns,
        dns6 = a.v6.dns,
        pcscf = a.pcscf,
        pcscf6 = a.v6.pcscf,
        protected = a.protected,
        protected6 = a.v6.protected,
    )
}

/// The addresses client `n` printed, split by family.
fn printed_addresses(s: &Scenario, n: usize) -> (Vec<Ipv4Addr>, Vec<Ipv6Addr>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for text in s.client_printed(n, "address") {
        match text.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => v4.push(a),
            Ok(IpAddr::V6(a)) => v6.push(a),
            Err(e) => panic!("client {n} printed address={text}: {e}"),
        }
    }
    (v4, v6)
}

/// The gateway's packet counters of its only CHILD SA (in, out).
fn child_packets(s: &Scenario) -> (u64, u64) {
    let status = s.gateway_status();
    assert_eq!(status.ike_sas.len(), 1, "{status:?}");
    let child = status.ike_sas[0]
        .child_sas
        .first()
        .unwrap_or_else(|| panic!("no CHILD SA: {status:?}"));
    (child.packets_in, child.packets_out)
}

#[test]
fn dual_stack_client_gets_both_addresses_and_ipv6_flows_both_ways() {
    let mut s = Scenario::with_config_file(1, dual_stack_config);
    s.start_client(0, &["--ipv6"]);
    let a = s.lab.addresses().clone();

    let (v4, v6) = printed_addresses(&s, 0);
    assert_eq!(v4.len(), 1, "one IPv4 address: {v4:?}");
    assert_eq!(v6.len(), 1, "one IPv6 address: {v6:?}");
    let (vip, vip6) = (v4[0], v6[0]);
    assert!(a.pool.contains(&vip), "{vip} not in {}", a.pool);
    assert!(a.v6.pool.contains(&vip6), "{vip6} not in {}", a.v6.pool);
    let gateway_inner6 = Ipv6Addr::from(u128::from(a.v6.pool.network()) + 1);
    assert_ne!(vip6, gateway_inner6, "the gateway's own inner address");
    let expect = |v4: Ipv4Addr, v6: Ipv6Addr| vec![v4.to_string(), v6.to_string()];
    assert_eq!(s.client_printed(0, "dns"), expect(a.dns, a.v6.dns));
    assert_eq!(s.client_printed(0, "pcscf"), expect(a.pcscf, a.v6.pcscf));

    let link = s.ip(Host::Client(0), &["-6", "addr", "show", "dev", "eseg-c0"]);
    assert!(link.contains(&format!("{vip6}/128")), "{link}");
    let routes = s.ip(Host::Client(0), &["-6", "route", "show", "dev", "eseg-c0"]);
    assert!(routes.contains(&a.v6.protected.to_string()), "{routes}");
    let gateway_tun = s.ip(Host::Gateway, &["-6", "route", "show", "dev", "eseg0"]);
    assert!(
        gateway_tun.contains(&a.v6.pool.to_string()),
        "{gateway_tun}"
    );

    let before = child_packets(&s);
    assert!(
        s.ping(Host::Client(0), IpAddr::V6(a.v6.core)),
        "client -> core over IPv6"
    );
    assert!(
        s.ping(Host::Core, IpAddr::V6(vip6)),
        "core -> client over IPv6"
    );
    let after = child_packets(&s);
    assert!(
        after.0 >= before.0 + 6 && after.1 >= before.1 + 6,
        "six pings each way went through the CHILD SA: {before:?} -> {after:?}"
    );

    assert!(
        s.ping(Host::Client(0), IpAddr::V4(a.core)),
        "client -> core"
    );
    assert!(s.ping(Host::Core, IpAddr::V4(vip)), "core -> client");
    let status = s.gateway_status();
    assert_eq!(
        status.ike_sas[0].virtual_ip.as_deref(),
        Some(vip.to_string().as_str()),
        "{status:?}"
    );
    assert_eq!(status.ike_sas[0].state, "established", "{status:?}");
}

#[test]
fn ipv6_stays_off_unless_both_sides_ask_for_it() {
    // A pool6 gateway and a client without --ipv6: IPv4 only, as before.
    let mut s = Scenario::with_config_file(1, dual_stack_config);
    s.start_client(0, &[]);
    let a = s.lab.addresses().clone();
    let (v4, v6) = printed_addresses(&s, 0);
    assert_eq!((v4.len(), v6.len()), (1, 0), "{v4:?} {v6:?}");
    assert_eq!(s.client_printed(0, "pcscf"), vec![a.pcscf.to_string()]);
    assert!(
        s.ping(Host::Client(0), IpAddr::V4(a.core)),
        "client -> core"
    );
    assert!(
        !s.ping(Host::Client(0), IpAddr::V6(a.v6.core)),
        "no IPv6 route into the tunnel"
    );
    drop(s);

    // A client with --ipv6 and a gateway without pool6: IPv4 only, and the tunnel works.
    let mut s = Scenario::new(1, "");
    s.start_client(0, &["--ipv6"]);
    let a = s.lab.addresses().clone();
    let (v4, v6) = printed_addresses(&s, 0);
    assert_eq!((v4.len(), v6.len()), (1, 0), "{v4:?} {v6:?}");
    assert!(
        s.ping(Host::Client(0), IpAddr::V4(a.core)),
        "client -> core"
    );
    assert!(s.ping(Host::Core, IpAddr::V4(v4[0])), "core -> client");
    let routes = s.ip(Host::Client(0), &["-6", "route", "show", "dev", "eseg-c0"]);
    assert!(
        !routes.contains(&a.v6.protected.to_string()),
        "no IPv6 selectors were agreed: {routes}"
    );
}

#[test]
fn after_a_gateway_crash_the_client_holds_only_its_new_ipv6_address() {
    let mut s = Scenario::with_config_file(1, dual_stack_config);
    s.start_client(0, &["--ipv6"]);
    let a = s.lab.addresses().clone();
    assert!(s.ping(Host::Client(0), IpAddr::V6(a.v6.core)));
    s.crash_and_restart_gateway();
    // Two P-CSCF lines (IPv4 and IPv6) per tunnel.
    assert!(
        s.wait_for_printed(0, "pcscf", 4),
        "client did not reconnect"
    );
    let (_, v6) = printed_addresses(&s, 0);
    let vip6 = *v6.last().expect("an IPv6 address after the reconnect");
    let link = s.ip(
        Host::Client(0),
        &["-6", "addr", "show", "dev", "eseg-c0", "scope", "global"],
    );
    assert_eq!(
        link.matches("inet6 ").count(),
        1,
        "only the current inner address: {link}"
    );
    assert!(link.contains(&format!("{vip6}/128")), "{link}");
    let client_log = s.clients[0]
        .as_ref()
        .map(|c| c.stderr())
        .unwrap_or_default();
    assert!(
        !client_log.contains("cannot set the virtual IP"),
        "{client_log}"
    );
    assert!(
        s.ping(Host::Client(0), IpAddr::V6(a.v6.core)),
        "client -> core over IPv6 after the reconnect"
    );
    assert!(
        s.ping(Host::Core, IpAddr::V6(vip6)),
        "core -> client over IPv6 after the reconnect"
    );
}
