//! The lab itself, end to end (needs root): reachability across the topology, cleanup even after
//! a panic, parallel labs, NAT, faults and iperf3.

use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::Duration;

use lab::{Host, IperfOptions, Lab, Router};

const SHORT: Duration = Duration::from_secs(2);

fn namespace_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

fn process_alive(pid: i32) -> bool {
    // A zombie still has a /proc entry; look at its state too.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[test]
fn plain_router_forwards_between_client_and_gateway_only() {
    let lab = Lab::builder().with_router(Router::Plain).build().unwrap();
    let a = lab.addresses().clone();
    assert!(lab
        .ping(Host::Client(0), IpAddr::V4(a.gateway_outer), 1)
        .unwrap());
    assert!(lab
        .ping(Host::Gateway, IpAddr::V4(a.clients[0]), 1)
        .unwrap());
    assert!(lab
        .ping(Host::Core, IpAddr::V4(a.gateway_inner), 1)
        .unwrap());
    // Without a tunnel there is no path from a client to the core, and none the other way.
    assert!(!lab.ping(Host::Client(0), IpAddr::V4(a.core), 1).unwrap());
    assert!(!lab.ping(Host::Core, IpAddr::V4(a.clients[0]), 1).unwrap());
    // The core routes the pool to the gateway.
    let routes = lab
        .exec_checked(Host::Core, &["ip", "route"])
        .unwrap()
        .stdout;
    assert!(
        routes.contains(&format!("{} via {}", a.pool, a.gateway_inner)),
        "{routes}"
    );
}

#[test]
fn several_clients_share_a_lan_without_router() {
    let lab = Lab::builder().clients(3).build().unwrap();
    let a = lab.addresses().clone();
    assert_eq!(a.gateway_outer, a.lan_next_hop);
    for i in 0..3 {
        assert!(lab
            .ping(Host::Client(i), IpAddr::V4(a.gateway_outer), 1)
            .unwrap());
    }
    assert!(lab.netns(Host::Router).is_err());
}

#[test]
fn everything_is_removed_even_when_the_test_panics() {
    let recorded = std::sync::Mutex::new((Vec::<String>::new(), 0i32, 0i32, String::new()));
    let outcome = std::panic::catch_unwind(|| {
        let lab = Lab::builder().with_router(Router::Nat).build().unwrap();
        let pid_file = lab.workdir().join("grandchild.pid");
        let script = format!("sleep 1000 & echo $! > {}; wait", pid_file.display());
        let guard = lab.spawn(Host::Gateway, &["sh", "-c", &script]).unwrap();
        let mut grandchild = 0;
        for _ in 0..100 {
            if let Ok(text) = std::fs::read_to_string(&pid_file) {
                if let Ok(pid) = text.trim().parse() {
                    grandchild = pid;
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        {
            let mut r = recorded.lock().unwrap();
            r.0 = lab
                .hosts()
                .iter()
                .map(|h| lab.netns(*h).unwrap().to_owned())
                .collect();
            r.1 = i32::try_from(guard.pid()).unwrap();
            r.2 = grandchild;
            r.3 = lab.workdir().display().to_string();
        }
        assert!(process_alive(grandchild));
        panic!("deliberate panic inside a lab test");
    });
    assert!(outcome.is_err());
    let (names, child, grandchild, workdir) = recorded.into_inner().unwrap();
    assert_eq!(names.len(), 4);
    for name in &names {
        assert!(!namespace_exists(name), "{name} survived the panic");
    }
    assert!(!process_alive(child), "spawned process survived");
    assert!(
        grandchild > 0 && !process_alive(grandchild),
        "its child survived"
    );
    // The work directory is kept for diagnostics when a panic unwinds through the lab.
    assert!(Path::new(&workdir).exists());
    std::fs::remove_dir_all(workdir).unwrap();
}

#[test]
fn parallel_labs_do_not_collide() {
    let labs: Vec<Lab> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| s.spawn(|| Lab::builder().with_router(Router::Plain).build().unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, x) in labs.iter().enumerate() {
        for y in &labs[i + 1..] {
            assert_ne!(x.addresses().block, y.addresses().block);
            assert_ne!(
                x.netns(Host::Gateway).unwrap(),
                y.netns(Host::Gateway).unwrap()
            );
        }
    }
    std::thread::scope(|s| {
        for lab in &labs {
            s.spawn(move || {
                let gw = IpAddr::V4(lab.gateway_outer());
                assert!(lab.ping(Host::Client(0), gw, 2).unwrap());
            });
        }
    });
}

/// Sends `payload` from client 0 (UDP source port `source_port`, 0 for any) to the gateway's
/// outer address on `port`; returns what the gateway received and the source address it saw.
fn datagram_to_gateway(
    lab: &Lab,
    port: u16,
    source_port: u16,
    payload: &[u8],
) -> (Vec<u8>, SocketAddr) {
    let listen = SocketAddr::from((lab.gateway_outer(), port));
    let server = lab
        .run_in(Host::Gateway, || UdpSocket::bind(listen))
        .expect("enter the gateway namespace")
        .expect("bind on the gateway");
    server
        .set_read_timeout(Some(SHORT))
        .expect("socket timeout");
    let client = lab
        .run_in(Host::Client(0), || {
            UdpSocket::bind(("0.0.0.0", source_port))
        })
        .expect("enter the client namespace")
        .expect("bind on the client");
    client
        .send_to(payload, listen)
        .expect("send to the gateway");
    let mut buf = [0u8; 64];
    let (len, from) = server
        .recv_from(&mut buf)
        .expect("the datagram reaches the gateway");
    (buf[..len].to_vec(), from)
}

#[test]
fn nat_router_masquerades_the_client() {
    let lab = Lab::builder().with_router(Router::Nat).build().unwrap();
    let a = lab.addresses().clone();
    let (received, from) = datagram_to_gateway(&lab, 4500, 4500, b"hello");
    assert_eq!(received, b"hello");
    assert_eq!(from.ip(), IpAddr::V4(a.router_wan.unwrap()));
    // And the gateway has no route back to the clients' LAN: only NAT makes replies work.
    assert!(!lab
        .ping(Host::Gateway, IpAddr::V4(a.clients[0]), 1)
        .unwrap());
}

#[test]
fn plain_router_keeps_the_client_address() {
    let lab = Lab::builder().with_router(Router::Plain).build().unwrap();
    let a = lab.addresses().clone();
    let (received, from) = datagram_to_gateway(&lab, 500, 0, b"x");
    assert_eq!(received, b"x");
    assert_eq!(from.ip(), IpAddr::V4(a.clients[0]));
}

#[test]
fn outer_loss_drops_packets_until_removed() {
    let lab = Lab::builder().build().unwrap();
    let gw = IpAddr::V4(lab.gateway_outer());
    lab.set_outer_loss(100.0).unwrap();
    assert!(!lab.ping(Host::Client(0), gw, 2).unwrap());
    lab.set_outer_loss(0.0).unwrap();
    assert!(lab.ping(Host::Client(0), gw, 1).unwrap());
    lab.set_outer_loss(30.0).unwrap();
    let out = lab
        .exec(
            Host::Client(0),
            &[
                "ping",
                "-n",
                "-q",
                "-i",
                "0.05",
                "-W",
                "0.5",
                "-c",
                "40",
                &gw.to_string(),
            ],
        )
        .unwrap();
    let loss: f64 = out
        .stdout
        .split(',')
        .find_map(|part| part.trim().strip_suffix("% packet loss"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no loss figure in {}", out.stdout));
    // 30 % each way loses about half of the round trips; anything strictly between proves the
    // rule is random rather than all-or-nothing.
    assert!(loss > 5.0 && loss < 95.0, "loss {loss} %");
    assert!(lab.set_outer_loss(101.0).is_err());
}

/// A TCP echo service on the gateway's outer address, `port`, and a connection to it from client
/// 0. The service stops when its guard is dropped.
fn connection_to_gateway_echo(lab: &Lab, port: u16) -> (lab::ServiceGuard, TcpStream) {
    let target = SocketAddr::from((lab.gateway_outer(), port));
    let echo = lab
        .tcp_echo(Host::Gateway, target)
        .expect("TCP echo on the gateway");
    let stream = lab
        .run_in(Host::Client(0), || {
            TcpStream::connect_timeout(&target, SHORT)
        })
        .expect("enter the client namespace")
        .expect("connect to the echo service");
    (echo, stream)
}

#[test]
fn outer_tcp_reset_kills_a_connection_and_then_lets_new_ones_through() {
    let lab = Lab::builder().with_router(Router::Nat).build().unwrap();
    let (echo, mut stream) = connection_to_gateway_echo(&lab, 80);
    let target = echo.local_addr();
    stream.set_read_timeout(Some(SHORT)).unwrap();
    use std::io::{Read, Write};
    stream.write_all(b"before").unwrap();
    let mut buf = [0u8; 6];
    stream.read_exact(&mut buf).unwrap();
    let reset = lab.outer_tcp_reset(80).unwrap();
    let _ = stream.write_all(b"during");
    let read = stream.read(&mut buf);
    assert!(
        matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "expected a reset, got {read:?}"
    );
    assert!(lab
        .tcp_roundtrip(Host::Client(0), target, b"x", Duration::from_millis(300))
        .is_err());
    reset.remove().unwrap();
    lab.tcp_roundtrip(Host::Client(0), target, b"after", SHORT)
        .unwrap();
}

#[test]
fn iperf3_runs_between_two_hosts_and_its_cost_is_measurable() {
    let lab = Lab::builder().build().unwrap();
    let mut server = lab.iperf3_server(Host::Gateway, lab::IPERF3_PORT).unwrap();
    let rtts = lab
        .ping_rtts(
            Host::Client(0),
            IpAddr::V4(lab.gateway_outer()),
            5,
            Duration::from_millis(10),
        )
        .unwrap();
    assert_eq!(rtts.len(), 5);
    assert!(rtts.iter().all(|r| *r < Duration::from_secs(1)));
    let cpu_before = server.cpu_time().unwrap();
    let mut options = IperfOptions::tcp(IpAddr::V4(lab.gateway_outer()));
    options.duration = Duration::from_secs(1);
    let tcp = lab.iperf3_client(Host::Client(0), &options).unwrap();
    assert!(tcp.received_bits_per_second > 1e6, "{tcp:?}");
    assert!(tcp.retransmits.is_some());
    options.udp_bitrate = Some(10_000_000);
    options.reverse = true;
    let udp = lab.iperf3_client(Host::Client(0), &options).unwrap();
    assert!(udp.packets.unwrap_or(0) > 0, "{udp:?}");
    // Receiving a gigabit-scale TCP transfer costs the server some CPU.
    assert!(server.cpu_time().unwrap() > cpu_before);
    assert!(server.resident_memory().unwrap() > 100_000);
}

#[test]
fn udp_and_tcp_echo_services_answer_and_stop() {
    let lab = Lab::builder().build().unwrap();
    let gw = lab.gateway_outer();
    let udp = lab
        .udp_echo(Host::Gateway, SocketAddr::from((gw, 7)))
        .unwrap();
    let tcp = lab
        .tcp_echo(Host::Gateway, SocketAddr::from((gw, 7)))
        .unwrap();
    lab.udp_roundtrip(Host::Client(0), udp.local_addr(), b"ping", SHORT)
        .unwrap();
    lab.tcp_roundtrip(Host::Client(0), tcp.local_addr(), b"ping", SHORT)
        .unwrap();
    drop(tcp);
    assert!(lab
        .tcp_roundtrip(Host::Client(0), SocketAddr::from((gw, 7)), b"x", SHORT)
        .is_err());
}

#[test]
fn a_failing_command_reports_its_stderr_and_a_slow_one_times_out() {
    let lab = Lab::builder().build().unwrap();
    let err = lab
        .exec_checked(Host::Core, &["sh", "-c", "echo oops >&2; exit 3"])
        .unwrap_err();
    assert!(err.to_string().contains("oops"), "{err}");
    let err = lab
        .command(Host::Core, &["sleep", "10"])
        .unwrap()
        .timeout(Duration::from_millis(200))
        .run()
        .unwrap_err();
    assert!(matches!(err, lab::Error::Timeout { .. }), "{err}");
}

#[test]
fn killing_tcp_sockets_aborts_the_local_end_and_waiting_for_output_works() {
    let lab = Lab::builder().build().unwrap();
    let (_echo, mut stream) = connection_to_gateway_echo(&lab, 8080);
    lab.kill_tcp_sockets(Host::Client(0), &["dport", "=", ":8080"])
        .unwrap();
    use std::io::Write;
    let err = stream.write_all(b"x").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionAborted);

    let mut talker = lab
        .spawn(
            Host::Core,
            &["sh", "-c", "sleep 0.2; echo ready >&2; sleep 100"],
        )
        .unwrap();
    talker
        .wait_for_output("ready", Duration::from_secs(5))
        .unwrap();
    let mut quitter = lab.spawn(Host::Core, &["sh", "-c", "exit 4"]).unwrap();
    let err = quitter
        .wait_for_output("never", Duration::from_secs(5))
        .unwrap_err();
    assert!(err.to_string().contains("exited"), "{err}");
}

#[test]
fn cargo_bin_explains_a_missing_binary() {
    let err = lab::cargo_bin("no-such-eseg-binary").unwrap_err();
    assert!(err.to_string().contains("cargo build"), "{err}");
}

#[test]
fn capture_shows_what_crossed_the_gateways_outer_interface() {
    let lab = Lab::builder().with_router(Router::Nat).build().unwrap();
    let target = SocketAddr::from((lab.gateway_outer(), 80));
    let _echo = lab.tcp_echo(Host::Gateway, target).unwrap();
    let capture = lab
        .capture(Host::Gateway, lab::ifname::GATEWAY_OUTER, "tcp port 80")
        .unwrap();
    let frame = [0x01, 0x00, 0x00, 0x08, 0xde, 0xad, 0xbe, 0xef];
    lab.tcp_roundtrip(Host::Client(0), target, &frame, SHORT)
        .unwrap();
    let packets = capture.finish().unwrap();
    let with_data: Vec<&[u8]> = packets
        .iter()
        .filter_map(|p| p.tcp_payload())
        .filter(|p| !p.is_empty())
        .collect();
    // Once from the client, once echoed back.
    assert_eq!(
        with_data,
        vec![&frame[..], &frame[..]],
        "{} packets",
        packets.len()
    );
    assert!(packets
        .iter()
        .all(|p| p.ports().is_some_and(|(s, d)| s == 80 || d == 80)));
}

#[test]
fn a_spoofed_udp_packet_leaves_with_the_forged_source() {
    let lab = Lab::builder().build().unwrap();
    let gw = lab.gateway_outer();
    let server = lab
        .run_in(Host::Gateway, || UdpSocket::bind((gw, 7)))
        .unwrap()
        .unwrap();
    server.set_read_timeout(Some(SHORT)).unwrap();
    let forged: std::net::SocketAddrV4 =
        format!("{}:4242", lab.addresses().lan.hosts().nth(30).unwrap())
            .parse()
            .unwrap();
    lab.send_spoofed_udp(
        Host::Client(0),
        forged,
        std::net::SocketAddrV4::new(gw, 7),
        b"not me",
    )
    .unwrap();
    let mut buf = [0u8; 16];
    let (len, from) = server.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"not me");
    assert_eq!(from, SocketAddr::V4(forged));
}
