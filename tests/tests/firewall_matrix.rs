//! The firewall matrix (TR 33.830 clause 4.1, issue 7): for a NAT (types 1-4) and each filtering
//! firewall type (5-8) between client and gateway, the client's transport ladder must pick the
//! expected transport (`transport=` on its stdout), and then ping, an iperf3 transfer and a
//! connection the core opens towards the client must all work.
//!
//! | router | expected rung |
//! | --- | --- |
//! | NAT (types 1-4) | udp |
//! | type 5: only ports 80/443 | tcp (UDP 500/4500 blocked) |
//! | type 6: TCP only | tcp |
//! | type 7: TCP only to 80/443 | tcp |
//! | type 8: only an HTTP proxy | proxy (direct TCP/80 times out) |

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use eseg_tests::{Host, Scenario};
use lab::{Firewall, IperfOptions, Router};

/// Short ladder timers so each test stays within a few seconds.
const LADDER_ARGS: [&str; 4] = ["--udp-timeout-ms", "1500", "--connect-timeout-ms", "1500"];

/// Brings a client up behind `router` and checks the transport and the traffic.
fn matrix_case(router: Router, expected: &str) {
    let mut s = Scenario::with_router(1, router, "");
    let proxy_url = s.lab.proxy().map(|p| format!("http://{p}"));
    let mut args: Vec<&str> = LADDER_ARGS.to_vec();
    if let Some(url) = &proxy_url {
        args.extend_from_slice(&["--proxy", url]);
    }
    s.start_client(0, &args);
    assert_eq!(
        s.client_printed(0, "transport"),
        vec![expected.to_owned()],
        "{router:?}"
    );
    let a = s.lab.addresses().clone();
    let vip = s.client_vip(0);
    assert!(
        s.ping(Host::Client(0), IpAddr::V4(a.core)),
        "client -> core"
    );
    assert!(s.ping(Host::Core, IpAddr::V4(vip)), "core -> client");

    let _server = s
        .lab
        .iperf3_server(Host::Core, 5201)
        .expect("iperf3 on core");
    let report = s
        .lab
        .iperf3_client(
            Host::Client(0),
            &IperfOptions {
                duration: Duration::from_secs(2),
                ..IperfOptions::tcp(IpAddr::V4(a.core))
            },
        )
        .expect("iperf3 client -> core through the tunnel");
    assert!(
        report.received_bytes > 500_000,
        "{router:?}: only {} bytes through the tunnel",
        report.received_bytes
    );

    let listener = s
        .lab
        .tcp_echo(Host::Client(0), SocketAddr::new(IpAddr::V4(vip), 5060))
        .expect("listener on the client's inner address");
    s.lab
        .tcp_roundtrip(
            Host::Core,
            listener.local_addr(),
            b"INVITE sip:ue@ims SIP/2.0\r\n",
            Duration::from_secs(5),
        )
        .expect("core -> client TCP round trip");
    println!(
        "{router:?}: transport {expected}, iperf3 {:.0} Mbit/s",
        report.received_bits_per_second / 1e6
    );
}

#[test]
fn nat_types_1_to_4_stay_on_udp() {
    matrix_case(Router::Nat, "udp");
}

#[test]
fn type_5_ports_80_and_443_falls_back_to_tcp() {
    matrix_case(Router::Firewall(Firewall::Ports80And443), "tcp");
}

#[test]
fn type_6_tcp_only_falls_back_to_tcp() {
    matrix_case(Router::Firewall(Firewall::TcpOnly), "tcp");
}

#[test]
fn type_7_tcp_80_and_443_falls_back_to_tcp() {
    matrix_case(Router::Firewall(Firewall::Tcp80And443), "tcp");
}

#[test]
fn type_8_http_proxy_only_goes_through_the_proxy() {
    matrix_case(Router::Firewall(Firewall::HttpProxyOnly), "proxy");
}

#[test]
fn type_7_reaches_a_gateway_listening_on_port_443() {
    let mut s = Scenario::with_router(1, Router::Firewall(Firewall::Tcp80And443), "");
    let config = eseg_tests::gateway_config(&s.lab, "", "[tcp]\nports = [80, 443]\n");
    s.lab
        .write_file("gateway.toml", config)
        .expect("gateway config");
    s.gateway = None;
    s.start_gateway();
    let mut args: Vec<&str> = LADDER_ARGS.to_vec();
    args.extend_from_slice(&["--tcp-port", "443"]);
    s.start_client(0, &args);
    assert_eq!(s.client_printed(0, "transport"), vec!["tcp".to_owned()]);
    let core = IpAddr::V4(s.lab.addresses().core);
    assert!(s.ping(Host::Client(0), core), "client -> core over TCP/443");
    // The client's IKE SA runs to the gateway's port 443.
    let peer = s.client_status(0).ike_sas[0].peer.clone();
    assert_eq!(peer, format!("{}:443", s.lab.gateway_outer()));
}
