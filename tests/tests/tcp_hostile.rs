//! Hostile input on the gateway's TPKT' port while a real client tunnels over TCP through a
//! TCP-only firewall: random bytes, a TLS hello, an oversized length, a bad version after a
//! good frame, a truncated frame then close, a slowloris sender, and 2000 idle connections. Each
//! bad connection is closed by the gateway in bounded time, and the real client's tunnel keeps
//! working throughout (same IKE SA, pings both ways).
//!
//! And the connection limits: a flood of connections from one host takes no more than its
//! per-source share, so a client from another address still connects over TCP and tunnels; the
//! flood's connections that keep sending keepalives but never start IKE are closed after the
//! handshake timeout.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use eseg_tests::{gateway_config, Host, Scenario};
use lab::{Firewall, Router};

/// Gateway timeouts for this test: a first frame within 3 s, then a frame at least every 5 s.
/// (Every client is behind the same masquerading firewall, so one source: no per-source limit.)
const TCP_EXTRA: &str = "[tcp]\nfirst_frame_timeout_secs = 3\nidle_timeout_secs = 5\n\
                         max_connections = 3000\nmax_connections_per_source = 3000\n";

/// How long the gateway may take to close a connection it should close at once.
const PROMPT: Duration = Duration::from_secs(2);

/// Waits for the gateway to close `stream` (EOF or reset); returns how long that took, or `None`
/// if it stayed open for `limit`.
#[allow(clippy::disallowed_methods)] // A test measuring wall-clock time.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream.set_read_timeout(Some(limit)).ok()?;
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(start.elapsed())
            }
            Err(_) => return None,
        }
    }
}

fn send(target: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream =
        TcpStream::connect_timeout(&target, Duration::from_secs(3)).expect("connect to port 80");
    stream.write_all(bytes).expect("write");
    stream
}

/// Pseudo-random octets (xorshift), not starting with a TPKT' header.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    let mut out: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    out[0] = 0x5a;
    out
}

#[test]
fn hostile_connections_are_closed_and_the_real_client_keeps_working() {
    let mut s = Scenario::with_router(2, Router::Firewall(Firewall::TcpOnly), "");
    let config = gateway_config(&s.lab, "", TCP_EXTRA);
    s.lab
        .write_file("gateway.toml", config)
        .expect("gateway config");
    s.gateway = None;
    s.start_gateway();
    s.start_client(0, &["--udp-timeout-ms", "1000"]);
    assert_eq!(s.client_printed(0, "transport"), vec!["tcp".to_owned()]);
    let vip = s.client_vip(0);
    let core = IpAddr::V4(s.lab.addresses().core);
    let handle = s.client_status(0).ike_sas[0].handle;
    let target = SocketAddr::new(IpAddr::V4(s.lab.gateway_outer()), 80);

    let timings = s
        .lab
        .run_in(Host::Client(1), || {
            let mut timings = Vec::new();
            // Garbage, TLS, a length over the 16 KiB limit, and a bad version after a valid
            // keepalive frame: closed at once.
            let mut good_then_bad = vec![1, 0, 0, 5, 0xff];
            good_then_bad.extend_from_slice(&[3, 0, 0, 16]);
            for (what, bytes) in [
                ("random bytes", noise(512)),
                ("TLS hello", vec![0x16, 3, 1, 0, 0x40, 1, 0, 0, 0x3c]),
                ("oversized length", vec![1, 0, 0xff, 0xff, 0, 0, 0, 0]),
                ("bad version after a good frame", good_then_bad),
            ] {
                let mut stream = send(target, &bytes);
                timings.push((what, closed_within(&mut stream, PROMPT)));
            }
            // Truncated frame, then our close: the gateway closes its side too.
            let mut stream = send(target, &[1, 0, 0, 0x40, 0, 0, 0, 0, 1, 2, 3]);
            stream.shutdown(Shutdown::Write).expect("half-close");
            timings.push(("truncated frame", closed_within(&mut stream, PROMPT)));
            // Slowloris: a valid header, then one octet of the frame every 300 ms: it never
            // completes in time.
            let mut slow = send(target, &[1, 0, 0, 0x40]);
            let mut dribble = slow.try_clone().expect("clone");
            let writer = std::thread::spawn(move || {
                for _ in 0..30 {
                    std::thread::sleep(Duration::from_millis(300));
                    if dribble.write_all(&[0]).is_err() {
                        break;
                    }
                }
            });
            let slowloris = closed_within(&mut slow, Duration::from_secs(6));
            timings.push(("slowloris", slowloris));
            let _ = writer.join();
            timings
        })
        .expect("attacks from client 1");
    for (what, closed) in &timings {
        let took = closed.unwrap_or_else(|| panic!("{what}: the gateway kept the connection"));
        if *what == "slowloris" {
            assert!(
                took >= Duration::from_millis(2500),
                "slowloris closed too early: {took:?}"
            );
        }
    }
    assert!(
        s.ping(Host::Client(0), core),
        "client -> core after the attacks"
    );

    // 2000 idle connections: the real client is served while they are open, and all of them
    // are closed after the first-frame timeout.
    let mut idle: Vec<TcpStream> = s
        .lab
        .run_in(Host::Client(1), || {
            (0..2000)
                .map(|_| {
                    TcpStream::connect_timeout(&target, Duration::from_secs(3))
                        .expect("idle connection")
                })
                .collect()
        })
        .expect("idle flood from client 1");
    assert!(
        s.ping(Host::Client(0), core),
        "client -> core during the flood"
    );
    let sampled = idle.len().div_ceil(97);
    let closed = idle
        .iter_mut()
        .step_by(97)
        .filter_map(|c| closed_within(c, Duration::from_secs(5)))
        .count();
    assert_eq!(closed, sampled, "idle connections left open");
    let gateway = s.gateway.as_mut().expect("gateway");
    assert!(gateway.is_running(), "the gateway died");
    let rss = gateway.resident_memory().unwrap_or(0);
    assert!(rss < 256 << 20, "gateway RSS {rss} bytes after the flood");
    assert!(
        s.ping(Host::Client(0), core),
        "client -> core after the flood"
    );
    assert!(
        s.ping(Host::Core, IpAddr::V4(vip)),
        "core -> client after the flood"
    );
    assert_eq!(s.client_status(0).ike_sas[0].handle, handle, "same IKE SA");
    let log = s.gateway.as_ref().map(|g| g.stderr()).unwrap_or_default();
    for cause in [
        "not TPKT'",
        "bad framing",
        "peer closed inside a frame",
        "no complete frame in time",
    ] {
        assert!(
            log.contains(cause),
            "gateway log lacks a close for `{cause}`"
        );
    }
}

/// Limits for the flood test: 60 connections in all, 20 from one source, IKE_SA_INIT within 8 s.
const LIMITS_EXTRA: &str =
    "[tcp]\nmax_connections = 60\nmax_connections_per_source = 20\nhandshake_timeout_secs = 8\n";
/// The flood test's per-source limit.
const PER_SOURCE: usize = 20;
/// The flood test's handshake timeout.
const HANDSHAKE: Duration = Duration::from_secs(8);
/// A TPKT' frame holding one keepalive octet.
const KEEPALIVE: [u8; 5] = [1, 0, 0, 5, 0xff];

/// Whether the gateway has closed `stream` (EOF or reset), without waiting.
fn is_closed_now(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    let closed = stream.set_nonblocking(true).is_ok()
        && match stream.read(&mut buf) {
            Ok(n) => n == 0,
            Err(e) => e.kind() != ErrorKind::WouldBlock,
        };
    let _ = stream.set_nonblocking(false);
    closed
}

#[test]
#[allow(clippy::disallowed_methods)] // A test measuring wall-clock time.
fn a_flood_from_one_source_leaves_room_for_a_client_from_another() {
    // No router: each client host is its own source address.
    let mut s = Scenario::new(2, "");
    let config = gateway_config(&s.lab, "", LIMITS_EXTRA);
    s.lab
        .write_file("gateway.toml", config)
        .expect("gateway config");
    s.gateway = None;
    s.start_gateway();
    let target = SocketAddr::new(IpAddr::V4(s.lab.gateway_outer()), 80);
    let core = IpAddr::V4(s.lab.addresses().core);

    // 300 connections from client 1, each with a valid TPKT' keepalive frame: more than the
    // total limit, so without a per-source limit nobody else would get in.
    let flood_start = Instant::now();
    let mut flood: Vec<TcpStream> = s
        .lab
        .run_in(Host::Client(1), || {
            (0..300)
                .filter_map(|_| TcpStream::connect_timeout(&target, Duration::from_secs(3)).ok())
                .inspect(|mut c| {
                    let _ = c.write_all(&KEEPALIVE);
                })
                .collect()
        })
        .expect("flood from client 1");
    let opened = flood.len();
    assert!(opened > 250, "only {opened} connections opened");
    // The gateway refuses what is over the per-source limit as it accepts, and may still be
    // working through its accept queue: wait until no more than the share is open, for at most
    // half the handshake timeout (which later closes the kept ones too).
    Scenario::wait_until(HANDSHAKE / 2, || {
        flood.retain_mut(|c| !is_closed_now(c));
        flood.len() <= PER_SOURCE
    });
    assert_eq!(
        flood.len(),
        PER_SOURCE,
        "the gateway kept {} of client 1's connections",
        flood.len()
    );

    // The flood keeps its connections busy with keepalives while a client from another source
    // connects over TCP and tunnels.
    let keepalive_writers: Vec<TcpStream> = flood
        .iter()
        .map(|c| c.try_clone().expect("clone"))
        .collect();
    let keepalives = std::thread::spawn(move || {
        for _ in 0..15 {
            for mut c in &keepalive_writers {
                let _ = c.write_all(&KEEPALIVE);
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    s.start_client(0, &["--first-transport", "tcp"]);
    assert_eq!(s.client_printed(0, "transport"), vec!["tcp".to_owned()]);
    let handle = s.client_status(0).ike_sas[0].handle;
    assert!(
        s.ping(Host::Client(0), core),
        "client -> core during the flood"
    );

    // Keepalives do not keep a connection that never started IKE: all of the flood's are closed
    // once the handshake timeout has passed, and not much before.
    let deadline = flood_start + HANDSHAKE + Duration::from_secs(4);
    let mut first_closed = None;
    for c in &mut flood {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            closed_within(c, left.max(Duration::from_millis(100))).is_some(),
            "a flood connection outlived the handshake timeout"
        );
        first_closed.get_or_insert_with(|| flood_start.elapsed());
    }
    let first_closed = first_closed.unwrap_or_default();
    assert!(
        first_closed >= HANDSHAKE - Duration::from_secs(2),
        "closed after {first_closed:?}, before the handshake timeout"
    );
    let _ = keepalives.join();

    // The real client's connection proved itself and stays.
    assert!(
        s.ping(Host::Client(0), core),
        "client -> core after the flood"
    );
    let vip = s.client_vip(0);
    assert!(
        s.ping(Host::Core, IpAddr::V4(vip)),
        "core -> client after the flood"
    );
    assert_eq!(s.client_status(0).ike_sas[0].handle, handle, "same IKE SA");
    let tcp = s.gateway_status().tcp;
    assert_eq!(
        (tcp.refused_per_source, tcp.refused_over_limit),
        (u64::try_from(opened - PER_SOURCE).unwrap_or(0), 0),
        "{tcp:?}"
    );
    assert_eq!(tcp.closed_no_handshake, PER_SOURCE as u64, "{tcp:?}");
    let log = s.gateway.as_ref().map(|g| g.stderr()).unwrap_or_default();
    for needle in [
        "TCP connection refused",
        "per-source connection limit reached",
        "refused_total",
        "no IKE_SA_INIT completed in time",
    ] {
        assert!(log.contains(needle), "gateway log lacks `{needle}`");
    }
}
