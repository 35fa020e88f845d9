//! The TPKT' stream transport (TR 33.830 clause 8.5.2.3): IKE and ESP over TCP, for when a
//! firewall blocks UDP 500/4500.
//!
//! A TCP connection is just another path to an IKE SA: its IKE frames reach the control task as
//! [`TcpEvent::Ike`] with a [`Path`] whose transport is `Tcp(id)`, and the engine answers on that
//! path (the driver calls [`super::tcp_conn::TcpConnections::send_ike`]); its ESP frames are
//! opened by the same steps as UDP-4500 datagrams and written to TUN; ESP for an SA whose egress
//! is `Egress::Tcp(id)` is queued on that connection by the data-plane workers.
//!
//! The transport runs its connections as tasks on a small runtime of its own, so a thousand
//! idle connections cost a thousand small tasks, and ESP over TCP does not share a thread with
//! the control task. The gateway gives it listeners ([`TcpTransport::listen`]); the client hands
//! it the stream it connected ([`TcpTransport::attach`]) under an id of its choosing, and
//! re-attaches a new stream under the same id after a break, so its IKE SA continues
//! (<https://www.rfc-editor.org/rfc/rfc9329#section-6>).
//!
//! Keepalives: none are sent (a TCP connection keeps its NAT binding; IKE liveness checks find a
//! dead peer), and a received `0xFF` keepalive frame is accepted and ignored
//! (<https://www.rfc-editor.org/rfc/rfc9329#section-6.6>): it restarts no timer, so it cannot
//! keep a connection open.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ikev2::path::{Path, TcpConnectionId};

use super::tcp_admission::{Admission, Refusal, RefusalLog};
use super::tcp_conn::TcpCounters;
use super::tcp_stream::{serve, CloseCause, Opener, StreamContext};
use super::{Clock, Shared};
use crate::tcp::StreamOptions;
use crate::tun::TunQueue;

/// How the transport treats its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpConfig {
    /// Time from accept to the first complete IKE or ESP frame; slow or silent connections
    /// (and ones sending only keepalives) are closed when it passes.
    pub first_frame_timeout: Duration,
    /// Longest time between two complete IKE or ESP frames (keepalives do not count). Keep it
    /// above the IKE liveness interval.
    pub idle_timeout: Duration,
    /// Time from accept until the connection must have proved itself: carried a successful
    /// IKE_SA_INIT exchange, an encrypted IKE message or an authentic ESP packet (see
    /// [`super::tcp_conn::Outbox::is_proven`]). A peer that only sends keepalives or garbage IKE
    /// is closed when it passes. Does not apply to connections we opened.
    pub handshake_timeout: Duration,
    /// Connections served at once; more are closed at accept and counted.
    pub max_connections: u64,
    /// Connections served at once from one source (an IPv4 address or an IPv6 /64); more are
    /// closed at accept and counted.
    pub max_connections_per_source: u64,
    /// Bytes of each connection's send queue.
    pub send_queue_bytes: usize,
    /// Of those, the bytes only IKE may use.
    pub ike_reserve_bytes: usize,
    /// Largest frame accepted (TPKT' length field, header included).
    pub max_frame_len: u16,
    /// Socket options of every connection (`TCP_NODELAY`, keepalive, user timeout).
    pub stream: StreamOptions,
    /// Whether to send [`TcpEvent::Closed`] (the client reconnects on it; the gateway does not
    /// need it).
    pub report_closed: bool,
}

impl Default for TcpConfig {
    fn default() -> Self {
        Self {
            first_frame_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            handshake_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_connections_per_source: 256,
            send_queue_bytes: 256 * 1024,
            ike_reserve_bytes: 32 * 1024,
            max_frame_len: tpkt::DEFAULT_MAX_FRAME_LEN,
            stream: StreamOptions::default(),
            report_closed: false,
        }
    }
}

/// What the transport tells the control task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpEvent {
    /// An IKE message (bare, header first) that arrived on a connection.
    Ike {
        /// The connection's path (transport `Tcp(id)`).
        path: Path,
        /// The message.
        message: Vec<u8>,
    },
    /// A connection ended (only with [`TcpConfig::report_closed`]).
    Closed {
        /// Which.
        connection: TcpConnectionId,
        /// Why.
        cause: CloseCause,
    },
}

/// The running transport; dropping it stops every connection.
#[derive(Debug)]
pub struct TcpTransport {
    runtime: Option<tokio::runtime::Runtime>,
    ctx: Arc<StreamContext>,
}

impl TcpTransport {
    /// Starts the transport's runtime. Decrypted packets go to `tun`; IKE messages and
    /// connection ends to `events`.
    pub fn start(
        config: TcpConfig,
        shared: Arc<Shared>,
        tun: Arc<TunQueue>,
        clock: Clock,
        events: tokio::sync::mpsc::Sender<TcpEvent>,
    ) -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tcp")
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
            ctx: Arc::new(StreamContext {
                shared,
                tun,
                clock,
                events,
                admission: Admission::new(
                    config.max_connections,
                    config.max_connections_per_source,
                ),
                config,
            }),
        })
    }

    fn handle(&self) -> io::Result<&tokio::runtime::Handle> {
        self.runtime
            .as_ref()
            .map(tokio::runtime::Runtime::handle)
            .ok_or_else(|| io::Error::other("TCP transport stopped"))
    }

    /// Serves every connection accepted on `listener` (from [`crate::tcp::listen`]); returns
    /// its address.
    pub fn listen(&self, listener: std::net::TcpListener) -> io::Result<SocketAddr> {
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let handle = self.handle()?;
        let listener = {
            let _entered = handle.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        handle.spawn(accept_loop(Arc::clone(&self.ctx), listener));
        Ok(local)
    }

    /// Serves a connected stream under `id` (the client's own choice, kept across reconnects so
    /// the engine's path stays the same). A previous connection with that id is closed.
    pub fn attach(&self, id: TcpConnectionId, stream: std::net::TcpStream) -> io::Result<()> {
        self.ctx.config.stream.apply(&stream)?;
        stream.set_nonblocking(true)?;
        let handle = self.handle()?;
        let stream = {
            let _entered = handle.enter();
            tokio::net::TcpStream::from_std(stream)?
        };
        let ticket = self.ctx.admission.admit_own();
        handle.spawn(serve(Arc::clone(&self.ctx), stream, id, Opener::Us, ticket));
        Ok(())
    }

    /// Connections being served right now (including ones not yet classified).
    pub fn live_connections(&self) -> u64 {
        self.ctx.admission.live()
    }

    /// The transport's counters.
    pub fn counters(&self) -> &TcpCounters {
        &self.ctx.shared.tcp.counters
    }
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// How often refused connections are logged at most (per listener).
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Accepts connections until the transport stops. Connections over a limit are closed at once
/// (before any octet is read), counted and logged at most once per [`REFUSAL_LOG_INTERVAL`].
async fn accept_loop(ctx: Arc<StreamContext>, listener: tokio::net::TcpListener) {
    let mut refusals = RefusalLog::new(REFUSAL_LOG_INTERVAL);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: back off briefly instead of spinning.
                tracing::warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let ticket = match ctx.admission.admit(peer.ip()) {
            Ok(ticket) => ticket,
            Err(refusal) => {
                let counters = &ctx.shared.tcp.counters;
                let counter = match refusal {
                    Refusal::Total => &counters.refused_over_limit,
                    Refusal::PerSource(_) => &counters.refused_per_source,
                };
                TcpCounters::bump(counter);
                drop(stream);
                let refused_total = counters.refused();
                refusals.note((ctx.clock)(), refusal, peer.ip(), refused_total);
                continue;
            }
        };
        if let Err(e) = ctx.config.stream.apply(&stream) {
            tracing::debug!(error = %e, "cannot set TCP options");
        }
        let id = ctx.shared.tcp.fresh_id();
        tokio::spawn(serve(Arc::clone(&ctx), stream, id, Opener::Peer, ticket));
    }
}

#[cfg(test)]
mod tests {
    //! The transport over real sockets in a lab namespace (root: the TUN device the transport
    //! writes to needs one).

    use std::io::{Read as _, Write as _};
    use std::net::TcpStream;
    use std::sync::atomic::{AtomicU64, Ordering};

    use lab::{Host, Lab};
    use tokio::sync::mpsc;

    use super::*;
    use crate::tun::{Tun, TunConfig};

    const WAIT: Duration = Duration::from_secs(3);

    #[allow(clippy::disallowed_methods)] // Tests read the clock.
    fn now() -> std::time::Instant {
        std::time::Instant::now()
    }

    /// A transport listening on loopback inside a lab namespace, and that namespace's lab.
    struct Harness {
        lab: Lab,
        transport: TcpTransport,
        shared: Arc<Shared>,
        events: mpsc::Receiver<TcpEvent>,
        addr: SocketAddr,
        _tun: Tun,
    }

    impl Harness {
        fn new(config: TcpConfig) -> Self {
            let lab = Lab::builder().build().unwrap();
            let (tun, listener) = lab
                .run_in(Host::Gateway, || {
                    let mut tun = Tun::create(&TunConfig::new().name("tpkt-t0")).unwrap();
                    let queue = tun.take_queues().pop().unwrap();
                    (
                        tun,
                        queue,
                        crate::tcp::listen("127.0.0.1:0".parse().unwrap(), 64),
                    )
                })
                .map(|(tun, queue, listener)| ((tun, Arc::new(queue)), listener.unwrap()))
                .unwrap();
            let shared = Arc::new(Shared::default());
            let (tx, events) = mpsc::channel(64);
            let transport =
                TcpTransport::start(config, Arc::clone(&shared), tun.1, now, tx).unwrap();
            let addr = transport.listen(listener).unwrap();
            Harness {
                lab,
                transport,
                shared,
                events,
                addr,
                _tun: tun.0,
            }
        }

        fn connect(&self) -> TcpStream {
            self.connect_from("127.0.0.1".parse().unwrap())
        }

        /// A connection from `source` (any loopback address is ours).
        fn connect_from(&self, source: std::net::IpAddr) -> TcpStream {
            let addr = self.addr;
            let stream = self
                .lab
                .run_in(Host::Gateway, move || {
                    let socket =
                        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
                    socket.bind(&SocketAddr::new(source, 0).into())?;
                    socket.connect(&addr.into())?;
                    std::io::Result::Ok(TcpStream::from(socket))
                })
                .unwrap()
                .unwrap();
            stream.set_read_timeout(Some(WAIT)).unwrap();
            stream
        }

        fn next_event(&mut self) -> TcpEvent {
            let deadline = now() + WAIT;
            loop {
                if let Ok(event) = self.events.try_recv() {
                    return event;
                }
                assert!(now() < deadline, "no event from the transport");
                std::thread::sleep(Duration::from_millis(10));
            }
        }

        fn counter(&self, pick: fn(&TcpCounters) -> &AtomicU64) -> u64 {
            pick(&self.shared.tcp.counters).load(Ordering::Relaxed)
        }

        fn wait_for(&self, pick: fn(&TcpCounters) -> &AtomicU64, at_least: u64) -> bool {
            let deadline = now() + WAIT;
            while now() < deadline {
                if self.counter(pick) >= at_least {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            false
        }
    }

    fn ike_frame(fill: u8, len: usize) -> Vec<u8> {
        let mut frame = tpkt::ike_prefix(len).unwrap().to_vec();
        frame.extend(std::iter::repeat_n(fill, len));
        frame
    }

    /// Whether the transport closed the connection (EOF or reset) before the read timeout.
    fn closed(stream: &mut TcpStream) -> bool {
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(n) => n == 0,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }

    #[test]
    fn ike_both_ways_and_keepalives_accepted() {
        let mut h = Harness::new(TcpConfig::default());
        let mut peer = h.connect();
        // Two IKE frames and a keepalive in one write.
        let mut wire = ike_frame(0x11, 40);
        wire.extend_from_slice(&tpkt::KEEPALIVE_FRAME);
        wire.extend(ike_frame(0x22, 28));
        peer.write_all(&wire).unwrap();
        let TcpEvent::Ike { path, message } = h.next_event() else {
            panic!("expected IKE");
        };
        assert_eq!(message, vec![0x11; 40]);
        let ikev2::path::Transport::Tcp(id) = path.transport else {
            panic!("a TCP path: {path:?}");
        };
        assert_eq!(path.remote, peer.local_addr().unwrap());
        assert!(
            matches!(h.next_event(), TcpEvent::Ike { message, .. } if message == vec![0x22; 28])
        );
        assert_eq!(h.counter(|c| &c.keepalives), 1);
        // The engine's answer goes back on that connection, framed.
        h.shared.tcp.send_ike(id, &[0x33; 30]).unwrap();
        let mut answer = [0u8; 38];
        peer.read_exact(&mut answer).unwrap();
        assert_eq!(answer[..8], [1, 0, 0, 38, 0, 0, 0, 0]);
        assert_eq!(answer[8..], [0x33; 30]);
        assert_eq!(h.transport.live_connections(), 1);
    }

    #[test]
    fn garbage_oversized_and_silent_connections_are_closed_and_counted() {
        let config = TcpConfig {
            first_frame_timeout: Duration::from_millis(500),
            ..TcpConfig::default()
        };
        let h = Harness::new(config);
        let mut http = h.connect();
        http.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        assert!(closed(&mut http), "HTTP is not served");
        let mut oversized = h.connect();
        oversized
            .write_all(&[1, 0, 0xff, 0xff, 0, 0, 0, 0])
            .unwrap();
        assert!(
            closed(&mut oversized),
            "a 64 KiB frame exceeds the 16 KiB limit"
        );
        let mut silent = h.connect();
        assert!(closed(&mut silent), "silent connection");
        let mut truncated = h.connect();
        truncated.write_all(&[1, 0, 0, 64, 0, 0]).unwrap();
        truncated.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(closed(&mut truncated));
        assert!(h.wait_for(|c| &c.closed_not_tpkt, 1));
        assert!(h.wait_for(|c| &c.closed_bad_framing, 1));
        assert!(h.wait_for(|c| &c.closed_idle, 1));
        assert!(h.wait_for(|c| &c.closed_truncated, 1));
        assert!(
            h.shared.tcp.is_empty(),
            "none was ever registered for sending"
        );
    }

    #[test]
    fn connections_over_the_limit_are_refused() {
        let config = TcpConfig {
            max_connections: 3,
            ..TcpConfig::default()
        };
        let h = Harness::new(config);
        let mut open: Vec<TcpStream> = (0..3).map(|_| h.connect()).collect();
        let deadline = now() + WAIT;
        while h.transport.live_connections() < 3 && now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut refused = h.connect();
        assert!(
            closed(&mut refused),
            "the fourth connection is closed at once"
        );
        assert_eq!(h.counter(|c| &c.refused_over_limit), 1);
        // The first three are still served.
        open[0].write_all(&ike_frame(0x44, 28)).unwrap();
        assert!(h.wait_for(|c| &c.ike_frames, 1));
    }

    #[test]
    fn connections_over_the_per_source_limit_are_refused_and_others_still_served() {
        let config = TcpConfig {
            max_connections: 10,
            max_connections_per_source: 2,
            ..TcpConfig::default()
        };
        let h = Harness::new(config);
        let flooder: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let _open: Vec<TcpStream> = (0..2).map(|_| h.connect_from(flooder)).collect();
        let deadline = now() + WAIT;
        while h.transport.live_connections() < 2 && now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        for _ in 0..3 {
            let mut refused = h.connect_from(flooder);
            assert!(closed(&mut refused), "over the per-source limit: closed");
        }
        assert_eq!(h.counter(|c| &c.refused_per_source), 3);
        assert_eq!(h.counter(|c| &c.refused_over_limit), 0);
        // Another source is served while the first is at its limit.
        let mut other = h.connect_from("127.0.0.2".parse().unwrap());
        other.write_all(&ike_frame(0x77, 28)).unwrap();
        assert!(h.wait_for(|c| &c.ike_frames, 1));
        assert_eq!(h.transport.live_connections(), 3);
    }

    /// A bare IKE header (28 octets) as the engine would send it.
    fn ike_header(next_payload: u8, exchange: u8, flags: u8) -> Vec<u8> {
        let mut header = vec![0x11; 16];
        header.extend_from_slice(&[next_payload, 0x20, exchange, flags, 0, 0, 0, 0, 0, 0, 0, 28]);
        header
    }

    #[test]
    fn connections_that_do_not_complete_ike_sa_init_are_closed_after_the_handshake_timeout() {
        let config = TcpConfig {
            handshake_timeout: Duration::from_millis(800),
            ..TcpConfig::default()
        };
        let mut h = Harness::new(config);
        let start = now();
        // Three connections send an IKE_SA_INIT request and then only keepalives; we answer
        // the first with a real IKE_SA_INIT response (first payload SA), the second with a
        // notify-only one (a COOKIE or an error), the third not at all. The third sends its
        // keepalives back to back, so that the reader always has octets ready.
        let mut peers: Vec<TcpStream> = (0..3).map(|_| h.connect()).collect();
        let mut ids = Vec::new();
        for peer in &mut peers {
            peer.write_all(&ike_frame(0x21, 28)).unwrap();
            let TcpEvent::Ike { path, .. } = h.next_event() else {
                panic!("expected IKE");
            };
            let ikev2::path::Transport::Tcp(id) = path.transport else {
                panic!("a TCP path");
            };
            ids.push(id);
        }
        h.shared
            .tcp
            .send_ike(ids[0], &ike_header(33, 34, 0x20))
            .unwrap();
        h.shared
            .tcp
            .send_ike(ids[1], &ike_header(41, 34, 0x20))
            .unwrap();
        let keepalives = std::thread::scope(|scope| {
            let writers: Vec<_> = peers
                .iter()
                .zip([100, 100, 0])
                .map(|(peer, pause_ms)| {
                    let mut peer = peer.try_clone().unwrap();
                    scope.spawn(move || {
                        let mut sent = 0;
                        while now() < start + Duration::from_millis(2000)
                            && peer.write_all(&tpkt::KEEPALIVE_FRAME).is_ok()
                        {
                            sent += 1;
                            std::thread::sleep(Duration::from_millis(pause_ms));
                        }
                        sent
                    })
                })
                .collect();
            writers
                .into_iter()
                .map(|w| w.join().unwrap())
                .collect::<Vec<_>>()
        });
        assert!(keepalives[0] >= 15, "the proven connection took keepalives");
        assert!(h.wait_for(|c| &c.closed_no_handshake, 2));
        assert_eq!(h.counter(|c| &c.closed_no_handshake), 2);
        assert!(h.shared.tcp.contains(ids[0]), "the proven connection stays");
        assert!(!h.shared.tcp.contains(ids[1]) && !h.shared.tcp.contains(ids[2]));
        for peer in &mut peers[1..] {
            let mut rest = Vec::new();
            assert!(peer.read_to_end(&mut rest).is_ok(), "closed by the gateway");
        }
    }

    #[test]
    fn keepalives_alone_do_not_keep_a_connection() {
        let config = TcpConfig {
            idle_timeout: Duration::from_millis(600),
            ..TcpConfig::default()
        };
        let mut h = Harness::new(config);
        let mut peer = h.connect();
        peer.write_all(&ike_frame(0x31, 28)).unwrap();
        let TcpEvent::Ike { path, .. } = h.next_event() else {
            panic!("expected IKE");
        };
        let ikev2::path::Transport::Tcp(id) = path.transport else {
            panic!("a TCP path");
        };
        h.shared
            .tcp
            .send_ike(id, &ike_header(33, 34, 0x20))
            .unwrap();
        let start = now();
        let mut writer = peer.try_clone().unwrap();
        let keepalives = std::thread::spawn(move || {
            while now() < start + Duration::from_millis(2000)
                && writer.write_all(&tpkt::KEEPALIVE_FRAME).is_ok()
            {
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        assert!(h.wait_for(|c| &c.closed_idle, 1), "closed as idle");
        assert!(
            now() < start + Duration::from_millis(1500),
            "closed while keepalives kept coming"
        );
        assert!(!h.shared.tcp.contains(id));
        let _ = keepalives.join();
    }

    #[test]
    fn a_peer_that_stops_reading_loses_esp_first_then_the_connection() {
        let config = TcpConfig {
            send_queue_bytes: 64 * 1024,
            ike_reserve_bytes: 8 * 1024,
            ..TcpConfig::default()
        };
        let mut h = Harness::new(config);
        let mut peer = h.connect();
        peer.write_all(&ike_frame(0x55, 28)).unwrap();
        let TcpEvent::Ike { path, .. } = h.next_event() else {
            panic!("expected IKE");
        };
        let ikev2::path::Transport::Tcp(id) = path.transport else {
            panic!("a TCP path");
        };
        // The peer never reads: socket buffers fill, then the queue, then ESP is dropped. While
        // the socket has room the writer keeps moving the queue into it, so the queue is kept
        // full until the writer has made no room for 20 pauses running: only then are the
        // socket buffers (megabytes on loopback) full.
        let mut esp = vec![0xab; 1400];
        esp[..4].copy_from_slice(&[0, 0, 0x10, 0x01]);
        let deadline = now() + Duration::from_secs(20);
        let mut pauses_without_room = 0;
        while pauses_without_room < 20 {
            assert!(now() < deadline, "the socket buffers never filled");
            let mut queued = 0;
            while h.shared.tcp.send_esp(id, &esp) {
                queued += 1;
            }
            pauses_without_room = if queued == 0 {
                pauses_without_room + 1
            } else {
                0
            };
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(h.counter(|c| &c.esp_dropped_queue_full) > 0);
        assert!(
            h.shared.tcp.send_ike(id, &[0x66; 200]).is_ok(),
            "IKE still fits"
        );
        let mut stalled = false;
        for _ in 0..100 {
            if h.shared.tcp.send_ike(id, &[0x66; 1000]).is_err() {
                stalled = true;
                break;
            }
        }
        assert!(
            stalled,
            "an IKE reserve that stays full closes the connection"
        );
        assert!(h.wait_for(|c| &c.closed_stalled, 1));
        drop(peer);
    }
}
