//! The TPKT' stream transport (TR 33.830 clause 8.5.2.3): IKE and ESP over TCP, for when a
//! firewall blocks UDP 500/4500.
//!
//! A TCP connection is just another path to an IKE SA: its IKE frames reach the control task as
//! [`TcpEvent::Ike`] with a [`Path`] whose transport is `Tcp(id)`, and the engine answers on that
//! path ([`TcpConnections::send_ike`] via the driver); its ESP frames are opened by the same
//! steps as UDP-4500 datagrams and written to TUN; ESP for an SA whose egress is
//! `Egress::Tcp(id)` is queued on that connection by the data-plane workers.
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
//! (<https://www.rfc-editor.org/rfc/rfc9329#section-6.6>).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ikev2::path::{Path, TcpConnectionId};

use super::tcp_conn::TcpCounters;
use super::tcp_stream::{serve, CloseCause, Opener, StreamContext};
use super::{Clock, Shared};
use crate::tcp::StreamOptions;
use crate::tun::TunQueue;

/// How the transport treats its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpConfig {
    /// Time from accept to the first complete frame (after which the connection counts as
    /// TPKT'); slow or silent connections are closed when it passes.
    pub first_frame_timeout: Duration,
    /// Longest time between two complete frames. Keep it above the IKE liveness interval.
    pub idle_timeout: Duration,
    /// Connections served at once; more are closed at accept and counted.
    pub max_connections: u64,
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
            max_connections: 4096,
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
                config,
                live: AtomicU64::new(0),
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
        self.ctx.live.fetch_add(1, Ordering::Relaxed);
        handle.spawn(serve(Arc::clone(&self.ctx), stream, id, Opener::Us));
        Ok(())
    }

    /// Connections being served right now (including ones not yet classified).
    pub fn live_connections(&self) -> u64 {
        self.ctx.live.load(Ordering::Relaxed)
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

/// Accepts connections until the transport stops.
async fn accept_loop(ctx: Arc<StreamContext>, listener: tokio::net::TcpListener) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors and the like: back off briefly instead of spinning.
                tracing::warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if ctx.live.load(Ordering::Relaxed) >= ctx.config.max_connections {
            TcpCounters::bump(&ctx.shared.tcp.counters.refused_over_limit);
            drop(stream);
            continue;
        }
        if let Err(e) = ctx.config.stream.apply(&stream) {
            tracing::debug!(error = %e, "cannot set TCP options");
        }
        let id = ctx.shared.tcp.fresh_id();
        ctx.live.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(serve(Arc::clone(&ctx), stream, id, Opener::Peer));
    }
}
