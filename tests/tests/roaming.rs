//! Roaming (RFC 4555 style): a client whose outer address changes, Wi-Fi -> LTE -> Wi-Fi, keeps
//! its IKE SA, its inner address and the TCP sessions inside the tunnel, on UDP and on the
//! TCP/80 rung. The lab has no second network, so the move is made on the LAN: the client gets
//! a second address, then loses its first one, and the kernel sends from the second.
//!
//! Liveness checks are set to 60 s, so only the client's own address check can explain the
//! gateway following within a few seconds; the test measures that time and the longest pause
//! of a TCP echo session that runs from the core to the client's inner address throughout.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use eseg_tests::{Host, Scenario};
use netio::dataplane::status::{IkeSaStatus, StatusReport};

/// The client's liveness interval: far longer than any move may take.
const LIVENESS_SECS: &str = "60";
/// How often the client checks its outer address in these tests.
const ROAM_CHECK_MS: &str = "200";
/// The longest the gateway may take to follow a move: check period, one IKE round trip and the
/// status polling, with a wide margin, and still far below the liveness interval.
const MOVE_LIMIT: Duration = Duration::from_secs(5);
/// How long the echo session may stall on a move before the test fails (TCP retransmits back
/// off, so a lost segment at the move may take a second or two to be resent).
const ECHO_RESUME_LIMIT: Duration = Duration::from_secs(15);
/// The client's outer address on "LTE": a free address of the LAN /26, far from the clients'.
const LTE_OFFSET: u32 = 40;
/// Where the echo session's listener sits on the client's inner address.
const ECHO_PORT: u16 = 5060;

/// How the client changes networks.
#[derive(Debug, Clone, Copy)]
enum Handover {
    /// The new address arrives, then the old one goes (a phone that brings LTE up before Wi-Fi
    /// drops).
    MakeBeforeBreak,
    /// The old address goes, the client has no route to the gateway for this long, then the
    /// new address arrives.
    BreakBeforeMake(Duration),
}

/// What one move showed.
#[derive(Debug)]
struct Move {
    /// From the moment a route to the gateway exists from the new address (the old address
    /// deleted, or the new one added after a gap) until the gateway's status shows it.
    gateway_followed: Duration,
}

/// The wall clock: these tests time real processes and packets (no engine runs here).
#[allow(clippy::disallowed_methods)]
fn wall_clock() -> Instant {
    Instant::now()
}

/// The gateway's one IKE SA.
fn only_sa(report: &StatusReport) -> IkeSaStatus {
    assert_eq!(report.ike_sas.len(), 1, "{report:?}");
    report.ike_sas[0].clone()
}

/// The IP of an outer address as the status prints it (`ip:port`).
fn ip_of(address: &str) -> IpAddr {
    address
        .rsplit_once(':')
        .and_then(|(ip, _)| ip.parse().ok())
        .unwrap_or_else(|| panic!("no IP in the address {address:?}"))
}

/// Moves the client's outer address from `from` to `to` as a network change does and waits
/// until the gateway's IKE SA shows `to`; checks that it is the same IKE SA with the same CHILD
/// SA and that the client's tunnel is unchanged.
fn move_client(s: &Scenario, from: Ipv4Addr, to: Ipv4Addr, handover: Handover) -> Move {
    let prefix = s.lab.addresses().lan.prefix_len();
    let dev = lab::ifname::CLIENT;
    let gateway_before = only_sa(&s.gateway_status());
    let client_before = only_sa(&s.client_status(0));
    assert_eq!(ip_of(&gateway_before.peer), IpAddr::V4(from));
    assert_eq!(ip_of(&client_before.local), IpAddr::V4(from));

    let add = ["addr", "add", &format!("{to}/{prefix}"), "dev", dev];
    let del = ["addr", "del", &format!("{from}/{prefix}"), "dev", dev];
    match handover {
        Handover::MakeBeforeBreak => {
            s.ip(Host::Client(0), &add);
            s.ip(Host::Client(0), &del);
        }
        Handover::BreakBeforeMake(gap) => {
            s.ip(Host::Client(0), &del);
            std::thread::sleep(gap);
            let client = s.clients[0].as_ref().expect("client running");
            assert!(
                client
                    .stderr()
                    .contains("no route to the gateway; keeping the IKE SA"),
                "the client did not notice that its route went:\n{}",
                client.stderr()
            );
            let kept = only_sa(&s.client_status(0));
            assert_eq!(kept.handle, client_before.handle, "the IKE SA is kept");
            assert_eq!(kept.state, "established");
            s.ip(Host::Client(0), &add);
        }
    }
    let moved_at = wall_clock();
    let followed = Scenario::wait_until(MOVE_LIMIT, || {
        s.gateway_status()
            .ike_sas
            .first()
            .is_some_and(|sa| ip_of(&sa.peer) == IpAddr::V4(to))
    });
    let gateway_followed = moved_at.elapsed();
    let gateway_after = only_sa(&s.gateway_status());
    assert!(
        followed,
        "the gateway did not follow {from} -> {to} within {MOVE_LIMIT:?}: {gateway_after:?}\n\
         client log:\n{}",
        s.clients[0]
            .as_ref()
            .map(|c| c.stderr())
            .unwrap_or_default()
    );
    assert_eq!(gateway_after.handle, gateway_before.handle, "same IKE SA");
    assert_eq!(gateway_after.virtual_ip, gateway_before.virtual_ip);
    assert_eq!(gateway_after.child_sas.len(), 1, "{gateway_after:?}");
    assert_eq!(
        (
            gateway_after.child_sas[0].spi_in,
            gateway_after.child_sas[0].spi_out
        ),
        (
            gateway_before.child_sas[0].spi_in,
            gateway_before.child_sas[0].spi_out
        ),
        "same CHILD SA"
    );
    let client_after = only_sa(&s.client_status(0));
    assert_eq!(client_after.handle, client_before.handle, "same IKE SA");
    assert_eq!(
        ip_of(&client_after.local),
        IpAddr::V4(to),
        "the client's status shows its new outer address"
    );
    assert_eq!(
        client_after.child_sas[0].spi_in,
        client_before.child_sas[0].spi_in
    );
    Move { gateway_followed }
}

/// A TCP session from the core to the client's inner address that echoes a counter every
/// 50 ms and records when each echo came back.
struct EchoSession {
    stream: TcpStream,
    echoed: Mutex<Vec<Instant>>,
    failure: Mutex<Option<String>>,
    stop: AtomicBool,
}

impl EchoSession {
    fn open(s: &Scenario, to: SocketAddr) -> Self {
        let stream = s
            .lab
            .run_in(Host::Core, || {
                TcpStream::connect_timeout(&to, Duration::from_secs(5))
            })
            .expect("enter the core")
            .expect("core -> client inner address: TCP connect");
        stream
            .set_read_timeout(Some(ECHO_RESUME_LIMIT))
            .expect("read timeout");
        stream.set_nodelay(true).expect("nodelay");
        EchoSession {
            stream,
            echoed: Mutex::new(Vec::new()),
            failure: Mutex::new(None),
            stop: AtomicBool::new(false),
        }
    }

    /// Echoes until stopped or until an echo fails (recorded).
    fn run(&self) {
        let mut stream = &self.stream;
        let mut counter: u64 = 0;
        while !self.stop.load(Ordering::Relaxed) {
            counter += 1;
            let sent = counter.to_be_bytes();
            let mut back = [0u8; 8];
            let result = stream
                .write_all(&sent)
                .and_then(|()| stream.read_exact(&mut back));
            match result {
                Ok(()) if back == sent => {
                    self.echoed.lock().expect("echo log").push(wall_clock());
                }
                Ok(()) => {
                    *self.failure.lock().expect("failure") =
                        Some(format!("echo {counter} came back as {back:?}"));
                    return;
                }
                Err(e) => {
                    *self.failure.lock().expect("failure") = Some(format!("echo {counter}: {e}"));
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Echoes completed after `since`.
    fn echoes_after(&self, since: Instant) -> usize {
        self.echoed
            .lock()
            .expect("echo log")
            .iter()
            .filter(|t| **t > since)
            .count()
    }

    /// The longest time between two echoes.
    fn longest_pause(&self) -> Duration {
        let echoed = self.echoed.lock().expect("echo log");
        echoed
            .windows(2)
            .map(|w| w[1].duration_since(w[0]))
            .max()
            .unwrap_or_default()
    }

    fn failure(&self) -> Option<String> {
        self.failure.lock().expect("failure").clone()
    }
}

/// Client up on `transport` with liveness far away, an echo session from the core running,
/// then Wi-Fi -> LTE -> Wi-Fi with `to_lte` and `back` as the handovers; after each move the
/// session must go on.
fn roams_and_keeps_its_sessions(transport: &str, to_lte: Handover, back: Handover) {
    let mut s = Scenario::new(1, "");
    let dev = lab::ifname::CLIENT;
    // The kernel deletes every other address of a subnet with its first one, unless told to
    // promote the next one; a phone's new network does not take the old one's addresses along.
    s.lab
        .sysctl(
            Host::Client(0),
            &[(&format!("net.ipv4.conf.{dev}.promote_secondaries"), "1")],
        )
        .expect("promote_secondaries");
    s.start_client(
        0,
        &[
            "--first-transport",
            transport,
            "--liveness-secs",
            LIVENESS_SECS,
            "--roam-check-ms",
            ROAM_CHECK_MS,
        ],
    );
    assert_eq!(s.client_printed(0, "transport"), vec![transport.to_owned()]);
    let a = s.lab.addresses().clone();
    let wifi = s.lab.client_outer(0).expect("client address");
    let lte = Ipv4Addr::from(u32::from(a.lan.network()) + LTE_OFFSET);
    assert!(a.lan.contains(&lte) && !a.clients.contains(&lte));
    let vip = s.client_vip(0);
    assert!(
        only_sa(&s.gateway_status()).mobike,
        "the gateway shows MOBIKE negotiated"
    );
    let _listener = s
        .lab
        .tcp_echo(Host::Client(0), SocketAddr::new(IpAddr::V4(vip), ECHO_PORT))
        .expect("echo listener on the client's inner address");
    let session = EchoSession::open(&s, SocketAddr::new(IpAddr::V4(vip), ECHO_PORT));

    let moves = std::thread::scope(|scope| {
        let echo = scope.spawn(|| session.run());
        let mut moves = Vec::new();
        for (from, to, handover) in [(wifi, lte, to_lte), (lte, wifi, back)] {
            // Some echoes before the move, so that the session is known to run.
            assert!(
                Scenario::wait_until(Duration::from_secs(5), || {
                    let recently = wall_clock()
                        .checked_sub(Duration::from_millis(500))
                        .unwrap_or_else(wall_clock);
                    session.echoes_after(recently) >= 3
                }),
                "the echo session does not run before {from} -> {to}: {:?}",
                session.failure()
            );
            let moved = move_client(&s, from, to, handover);
            let after_move = wall_clock();
            let resumed = Scenario::wait_until(ECHO_RESUME_LIMIT, || {
                session.echoes_after(after_move) >= 5 || session.failure().is_some()
            });
            assert!(
                resumed && session.failure().is_none(),
                "the echo session did not continue after {from} -> {to}: {:?}",
                session.failure()
            );
            eprintln!(
                "roaming over {transport}: {from} -> {to} ({handover:?}): gateway followed in {:?}",
                moved.gateway_followed
            );
            moves.push(moved);
        }
        session.stop.store(true, Ordering::Relaxed);
        echo.join().expect("echo thread");
        moves
    });
    assert_eq!(moves.len(), 2);
    assert!(session.failure().is_none(), "{:?}", session.failure());
    eprintln!(
        "roaming over {transport}: longest pause of the echo session {:?}",
        session.longest_pause()
    );

    // One tunnel all along: one address printed, one IKE SA set up, and the client said why it
    // moved.
    assert_eq!(s.client_printed(0, "address"), vec![vip.to_string()]);
    assert_eq!(
        s.client_printed(0, "transport").len(),
        1,
        "no second IKE SA"
    );
    let log = s.clients[0]
        .as_ref()
        .map(|c| c.stderr())
        .unwrap_or_default();
    for needle in [
        "local address changed; moving the IKE SA",
        "the gateway follows the new path",
    ] {
        assert!(log.contains(needle), "client log lacks `{needle}`:\n{log}");
    }
    let core = IpAddr::V4(a.core);
    assert!(
        s.ping(Host::Client(0), core),
        "client -> core after roaming"
    );
    assert!(
        s.ping(Host::Core, IpAddr::V4(vip)),
        "core -> client after roaming"
    );
}

/// How long the client has no address at all in the break-before-make tests: several address
/// checks and some TCP retransmissions of the echo session, far below the liveness interval.
const NO_ROUTE_GAP: Duration = Duration::from_secs(2);

#[test]
fn udp_tunnel_follows_the_clients_new_address_and_back() {
    roams_and_keeps_its_sessions("udp", Handover::MakeBeforeBreak, Handover::MakeBeforeBreak);
}

#[test]
fn tcp_tunnel_follows_the_clients_new_address_and_back() {
    roams_and_keeps_its_sessions("tcp", Handover::MakeBeforeBreak, Handover::MakeBeforeBreak);
}

#[test]
fn udp_tunnel_waits_out_a_time_without_any_route() {
    roams_and_keeps_its_sessions(
        "udp",
        Handover::BreakBeforeMake(NO_ROUTE_GAP),
        Handover::MakeBeforeBreak,
    );
}

#[test]
fn tcp_tunnel_waits_out_a_time_without_any_route() {
    roams_and_keeps_its_sessions(
        "tcp",
        Handover::BreakBeforeMake(NO_ROUTE_GAP),
        Handover::MakeBeforeBreak,
    );
}
