//! Each TR 33.830 firewall type blocks and allows what it should (needs root, nftables and
//! tinyproxy).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use lab::{Firewall, Host, Lab, Router, ServiceGuard};

const SHORT: Duration = Duration::from_millis(1500);

/// What a client can reach on the gateway through the router.
struct Reachability {
    udp_500: bool,
    udp_443: bool,
    tcp_80: bool,
    tcp_443: bool,
    tcp_22: bool,
}

/// Probes a lab with `firewall` from client 0, with echo services on the gateway (UDP 500 and
/// 443, TCP 80, 443 and 22), which are handed back still running: a test that needs one again
/// uses it rather than binding its port anew (a program another test thread starts at that
/// moment can hold a copy of the old listener's descriptor, and the bind fails while it does).
fn probe(firewall: Firewall) -> (Lab, Reachability, Vec<ServiceGuard>) {
    let lab = Lab::builder()
        .with_router(Router::Firewall(firewall))
        .build()
        .expect("lab operation");
    let gw = lab.gateway_outer();
    let services: Vec<ServiceGuard> = [500, 443]
        .iter()
        .map(|p| {
            lab.udp_echo(Host::Gateway, SocketAddr::from((gw, *p)))
                .expect("lab operation")
        })
        .chain([80, 443, 22].iter().map(|p| {
            lab.tcp_echo(Host::Gateway, SocketAddr::from((gw, *p)))
                .expect("lab operation")
        }))
        .collect();
    let c = Host::Client(0);
    let udp = |port: u16| {
        lab.udp_roundtrip(c, SocketAddr::from((gw, port)), b"probe", SHORT)
            .is_ok()
    };
    let tcp = |port: u16| {
        lab.tcp_roundtrip(c, SocketAddr::from((gw, port)), b"probe", SHORT)
            .is_ok()
    };
    let r = Reachability {
        udp_500: udp(500),
        udp_443: udp(443),
        tcp_80: tcp(80),
        tcp_443: tcp(443),
        tcp_22: tcp(22),
    };
    (lab, r, services)
}

#[test]
fn type_5_opens_only_ports_80_and_443() {
    let (_lab, r, _echoes) = probe(Firewall::Ports80And443);
    assert!(!r.udp_500 && !r.tcp_22);
    assert!(r.udp_443 && r.tcp_80 && r.tcp_443);
}

#[test]
fn type_6_passes_tcp_only() {
    let (_lab, r, _echoes) = probe(Firewall::TcpOnly);
    assert!(!r.udp_500 && !r.udp_443);
    assert!(r.tcp_80 && r.tcp_443 && r.tcp_22);
}

#[test]
fn type_7_passes_tcp_to_80_and_443_only() {
    let (_lab, r, _echoes) = probe(Firewall::Tcp80And443);
    assert!(!r.udp_500 && !r.udp_443 && !r.tcp_22);
    assert!(r.tcp_80 && r.tcp_443);
}

/// Sends `CONNECT target` through the proxy and returns the status line.
fn connect_via_proxy(lab: &Lab, proxy: SocketAddr, target: SocketAddr) -> (String, TcpStream) {
    let mut stream = lab
        .run_in(Host::Client(0), || {
            TcpStream::connect_timeout(&proxy, SHORT)
        })
        .expect("lab operation")
        .expect("lab operation");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("lab operation");
    write!(
        stream,
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n"
    )
    .expect("lab operation");
    let mut reader = BufReader::new(stream.try_clone().expect("lab operation"));
    let mut status = String::new();
    reader.read_line(&mut status).expect("lab operation");
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("lab operation") == 0 || line == "\r\n" {
            break;
        }
    }
    (status, stream)
}

#[test]
fn type_8_blocks_everything_but_the_proxy_which_connects_to_80_only() {
    // The probe's TCP echo services on 80 and 22 answer what the proxy connects to.
    let (lab, r, _echoes) = probe(Firewall::HttpProxyOnly);
    assert!(!r.udp_500 && !r.udp_443 && !r.tcp_80 && !r.tcp_443 && !r.tcp_22);
    let proxy = lab.proxy().expect("type 8 runs a proxy");
    let gw = lab.gateway_outer();

    let (status, mut tunnel) = connect_via_proxy(&lab, proxy, SocketAddr::from((gw, 80)));
    assert!(status.contains(" 200 "), "{status}");
    tunnel.write_all(b"through the proxy").unwrap();
    let mut echoed = [0u8; 17];
    std::io::Read::read_exact(&mut tunnel, &mut echoed).unwrap();
    assert_eq!(&echoed, b"through the proxy");

    let (status, _) = connect_via_proxy(&lab, proxy, SocketAddr::from((gw, 22)));
    assert!(
        !status.contains(" 200 "),
        "CONNECT to 22 must be refused: {status}"
    );
}

#[test]
fn rules_apply_to_ipv6_as_well() {
    let lab = Lab::builder()
        .with_router(Router::Firewall(Firewall::Tcp80And443))
        .build()
        .unwrap();
    let gw6 = lab.addresses().v6.gateway_outer;
    let _udp = lab
        .udp_echo(Host::Gateway, SocketAddr::from((gw6, 500)))
        .unwrap();
    let _tcp80 = lab
        .tcp_echo(Host::Gateway, SocketAddr::from((gw6, 80)))
        .unwrap();
    let _tcp22 = lab
        .tcp_echo(Host::Gateway, SocketAddr::from((gw6, 22)))
        .unwrap();
    let c = Host::Client(0);
    assert!(lab
        .udp_roundtrip(c, SocketAddr::from((gw6, 500)), b"ike", SHORT)
        .is_err());
    assert!(lab
        .tcp_roundtrip(c, SocketAddr::from((gw6, 22)), b"ssh", SHORT)
        .is_err());
    lab.tcp_roundtrip(c, SocketAddr::from((gw6, 80)), b"tpkt", SHORT)
        .unwrap();
}

#[test]
fn types_without_proxy_have_none() {
    let lab = Lab::builder()
        .with_router(Router::Firewall(Firewall::TcpOnly))
        .build()
        .unwrap();
    assert!(lab.proxy().is_none());
}
