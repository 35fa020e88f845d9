//! One TPKT' connection (TR 33.830 clause 8.5.2.2), from its first octet to its close: a reader
//! that classifies the first octets, decodes frames and feeds them to the same steps as UDP 4500
//! (IKE to the control task, ESP opened in place and written to TUN), and a writer that drains
//! the connection's [`Outbox`] several frames per write.
//!
//! Memory per connection is bounded and allocated only when used: nothing but the socket and the
//! task until the first octets say TPKT', then one receive buffer of twice the largest frame;
//! the send queue and the writer exist from the first valid frame on. A connection is closed
//! when its first octets are anything but TPKT', on a stream error (bad version or reserved
//! octet, length out of range), when no complete frame arrives within the first-frame timeout
//! (then the idle timeout) — slow senders included, since only a complete IKE or ESP frame
//! restarts the clock (keepalives do not) —, when a connection the peer opened has not proved itself within the handshake timeout
//! (no IKE_SA_INIT completed, no encrypted IKE, no authentic ESP: keepalives and garbage IKE do
//! not keep a connection), or when the peer stops reading our IKE.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use esp::wire::EspHeader;
use esp::{Opened, PacketBuf};
use ikev2::path::{Path, TcpConnectionId, Transport};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tpkt::{classify, Classification, Decoder, Frame, FrameReader, CLASSIFY_PREFIX_LEN};

use super::drop_log::DropReason;
use super::tcp_admission::{Admission, Ticket};
use super::tcp_conn::{Outbox, TcpCounters};
use super::tcp_transport::{TcpConfig, TcpEvent};
use super::{Clock, Shared};
use crate::tun::TunQueue;

/// Most octets one socket write carries.
const WRITE_BATCH: usize = 64 * 1024;

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseCause {
    /// The peer closed at a frame boundary.
    PeerClosed,
    /// The peer closed in the middle of a frame.
    Truncated,
    /// The first octets were not TPKT'.
    NotTpkt(Classification),
    /// A stream-level framing error; frame boundaries are lost.
    BadFraming(tpkt::DecodeError),
    /// No complete frame within the first-frame or idle timeout.
    Idle,
    /// The peer opened the connection but did not complete IKE_SA_INIT (nor send encrypted IKE
    /// or authentic ESP) within the handshake timeout.
    NoHandshake,
    /// The peer stopped reading (an IKE message found the queue full) or the write failed.
    Stalled,
    /// The socket failed (reset, timeout).
    Error(std::io::ErrorKind),
    /// Replaced by a newer connection with the same id, or the transport stopped.
    Replaced,
}

impl std::fmt::Display for CloseCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PeerClosed => f.write_str("peer closed"),
            Self::Truncated => f.write_str("peer closed inside a frame"),
            Self::NotTpkt(c) => write!(f, "not TPKT' ({c:?})"),
            Self::BadFraming(e) => write!(f, "bad framing: {e}"),
            Self::Idle => f.write_str("no complete frame in time"),
            Self::NoHandshake => f.write_str("no IKE_SA_INIT completed in time"),
            Self::Stalled => f.write_str("peer stopped reading"),
            Self::Error(kind) => write!(f, "socket error: {kind}"),
            Self::Replaced => f.write_str("replaced"),
        }
    }
}

/// What every connection task shares.
#[derive(Debug)]
pub(crate) struct StreamContext {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tun: Arc<TunQueue>,
    pub(crate) clock: Clock,
    pub(crate) events: tokio::sync::mpsc::Sender<TcpEvent>,
    pub(crate) config: TcpConfig,
    /// The connection limits and the connections being served now (registered or not).
    pub(crate) admission: Arc<Admission>,
}

/// Who opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opener {
    /// The peer (accepted): it must send a valid frame before we send anything.
    Peer,
    /// We did (the client): we speak first, so the connection can send at once.
    Us,
}

/// Serves one connection until it ends, then reports why. Its slot (`ticket`) is freed when
/// it ends.
pub(crate) async fn serve(
    ctx: Arc<StreamContext>,
    stream: TcpStream,
    id: TcpConnectionId,
    opener: Opener,
    ticket: Ticket,
) {
    TcpCounters::bump(&ctx.shared.tcp.counters.opened);
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    let path = Path {
        local: stream.local_addr().unwrap_or(unspecified),
        remote: stream.peer_addr().unwrap_or(unspecified),
        transport: Transport::Tcp(id),
    };
    let (read_half, write_half) = stream.into_split();
    let mut connection = Connection {
        ctx: &ctx,
        path,
        id,
        write_half: Some(write_half),
        outbox: None,
        writer: None,
    };
    if opener == Opener::Us {
        connection.ensure_writer();
        if let Some(outbox) = &connection.outbox {
            outbox.mark_proven();
        }
    }
    let cause = connection.read_loop(read_half).await;
    connection.finish().await;
    count_close(&ctx.shared.tcp.counters, &cause);
    tracing::debug!(connection = id.0, remote = %path.remote, %cause, "TCP connection closed");
    drop(ticket);
    if ctx.config.report_closed {
        let _ = ctx
            .events
            .send(TcpEvent::Closed {
                connection: id,
                cause,
            })
            .await;
    }
}

fn count_close(counters: &TcpCounters, cause: &CloseCause) {
    let counter = match cause {
        CloseCause::NotTpkt(_) => &counters.closed_not_tpkt,
        CloseCause::BadFraming(_) => &counters.closed_bad_framing,
        CloseCause::Idle => &counters.closed_idle,
        CloseCause::Truncated => &counters.closed_truncated,
        CloseCause::NoHandshake => &counters.closed_no_handshake,
        _ => return,
    };
    TcpCounters::bump(counter);
}

/// The state of one connection's reader.
struct Connection<'a> {
    ctx: &'a StreamContext,
    path: Path,
    id: TcpConnectionId,
    write_half: Option<OwnedWriteHalf>,
    outbox: Option<Arc<Outbox>>,
    writer: Option<tokio::task::JoinHandle<()>>,
}

impl Connection<'_> {
    async fn read_loop(&mut self, mut read_half: OwnedReadHalf) -> CloseCause {
        let config = &self.ctx.config;
        let clock = self.ctx.clock;
        let accepted = clock();
        let mut deadline = Instant::from_std(accepted + config.first_frame_timeout);
        let handshake_by = accepted + config.handshake_timeout;
        let mut prefix = [0u8; CLASSIFY_PREFIX_LEN];
        let mut have = 0;
        loop {
            match classify(prefix.get(..have).unwrap_or_default()) {
                Classification::Tpkt => break,
                Classification::NeedMoreBytes => {}
                other => return CloseCause::NotTpkt(other),
            }
            let spare = prefix.get_mut(have..).unwrap_or_default();
            match tokio::time::timeout_at(deadline, read_half.read(spare)).await {
                Err(_) => return CloseCause::Idle,
                Ok(Ok(0)) if have == 0 => return CloseCause::PeerClosed,
                Ok(Ok(0)) => return CloseCause::Truncated,
                Ok(Ok(n)) => have += n,
                Ok(Err(e)) => return CloseCause::Error(e.kind()),
            }
        }
        let decoder = match Decoder::with_max_frame_len(config.max_frame_len) {
            Ok(d) => d,
            Err(_) => Decoder::new(),
        };
        let max_frame = decoder.max_frame_len();
        let mut reader = FrameReader::with_capacity(decoder, 2 * max_frame);
        reader.extend_from_slice(prefix.get(..have).unwrap_or_default());
        let mut esp_buf = PacketBuf::new(max_frame);
        let mut sas = self.ctx.shared.sadb.reader();
        loop {
            loop {
                match reader.next_frame() {
                    Ok(Some(frame)) => {
                        // Keepalives mean nothing on TCP and do not keep a connection.
                        if !matches!(frame, Frame::Keepalive) {
                            deadline = Instant::from_std(clock() + config.idle_timeout);
                        }
                        self.ensure_writer();
                        self.handle_frame(frame, &mut sas, &mut esp_buf);
                    }
                    Ok(None) => break,
                    Err(e) if e.skip().is_some() => {
                        TcpCounters::bump(&self.ctx.shared.tcp.counters.malformed_frames);
                    }
                    Err(e) => return CloseCause::BadFraming(e),
                }
            }
            // Checked here as well as by the timer: a peer that always has octets ready would
            // never let the timer fire.
            if !self.is_proven() && clock() >= handshake_by {
                return CloseCause::NoHandshake;
            }
            let closed = self.outbox.as_ref().map(Arc::clone);
            let read = async {
                match &closed {
                    Some(outbox) => tokio::select! {
                        r = read_half.read(reader.spare_mut()) => Some(r),
                        () = outbox.wait_closed() => None,
                    },
                    None => Some(read_half.read(reader.spare_mut()).await),
                }
            };
            let handshake_deadline = Instant::from_std(handshake_by);
            let (wake, expiry) = if !self.is_proven() && handshake_deadline < deadline {
                (handshake_deadline, CloseCause::NoHandshake)
            } else {
                (deadline, CloseCause::Idle)
            };
            match tokio::time::timeout_at(wake, read).await {
                Err(_) => match expiry {
                    // It proved itself while we waited: only the idle timeout applies now.
                    CloseCause::NoHandshake if self.is_proven() => continue,
                    cause => return cause,
                },
                Ok(None) => {
                    let current = closed
                        .as_ref()
                        .is_some_and(|o| self.ctx.shared.tcp.is_current(self.id, o));
                    return if current {
                        CloseCause::Stalled
                    } else {
                        CloseCause::Replaced
                    };
                }
                Ok(Some(Ok(0))) => {
                    return match reader.finish() {
                        Ok(()) => CloseCause::PeerClosed,
                        Err(_) => CloseCause::Truncated,
                    }
                }
                Ok(Some(Ok(n))) => reader.commit(n),
                Ok(Some(Err(e))) => return CloseCause::Error(e.kind()),
            }
        }
    }

    /// Whether the connection has proved itself ([`Outbox::is_proven`]).
    fn is_proven(&self) -> bool {
        self.outbox.as_ref().is_some_and(|o| o.is_proven())
    }

    /// Registers the connection for sending and starts its writer, once it has sent a valid
    /// frame.
    fn ensure_writer(&mut self) {
        let Some(write_half) = self.write_half.take() else {
            return;
        };
        let config = &self.ctx.config;
        let Ok(outbox) = Outbox::new(config.send_queue_bytes, config.ike_reserve_bytes) else {
            return;
        };
        let outbox = Arc::new(outbox);
        self.ctx.shared.tcp.register(self.id, Arc::clone(&outbox));
        self.writer = Some(tokio::spawn(write_loop(write_half, Arc::clone(&outbox))));
        self.outbox = Some(outbox);
    }

    fn handle_frame(
        &self,
        frame: Frame<&mut [u8]>,
        sas: &mut esp::SaReader,
        esp_buf: &mut PacketBuf,
    ) {
        let counters = &self.ctx.shared.tcp.counters;
        match frame {
            Frame::Keepalive => TcpCounters::bump(&counters.keepalives),
            Frame::Ike(message) => {
                TcpCounters::bump(&counters.ike_frames);
                let event = TcpEvent::Ike {
                    path: self.path,
                    message: message.to_vec(),
                };
                if self.ctx.events.try_send(event).is_err() {
                    self.ctx
                        .shared
                        .counters
                        .ike_dropped
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
            Frame::Esp(packet) => {
                TcpCounters::bump(&counters.esp_frames);
                if esp_buf.fill(0, packet).is_ok()
                    && open_step(self.ctx, sas, esp_buf, self.path.remote)
                {
                    if let Some(outbox) = &self.outbox {
                        outbox.mark_proven();
                    }
                }
            }
        }
    }

    /// Stops the writer and takes the connection out of the registry.
    async fn finish(&mut self) {
        if let Some(outbox) = self.outbox.take() {
            outbox.close();
            self.ctx.shared.tcp.remove(self.id, &outbox);
        }
        if let Some(writer) = self.writer.take() {
            let _ = writer.await;
        }
    }
}

/// Opens one ESP packet that came over TCP and writes it to TUN: the same checks as on UDP 4500.
/// Returns whether the packet was authentic and in policy (opened under one of our SAs).
fn open_step(
    ctx: &StreamContext,
    sas: &mut esp::SaReader,
    buf: &mut PacketBuf,
    peer: SocketAddr,
) -> bool {
    let counters = &ctx.shared.counters;
    let spi = EspHeader::new_checked(buf.data()).ok().map(|h| h.spi());
    let now = (ctx.clock)();
    match sas.table().open(now, buf) {
        Ok((Opened::Packet(_), _)) => {
            if !ctx.shared.policy.allows(buf.data()) {
                counters
                    .forbidden_destination
                    .fetch_add(1, Ordering::Relaxed);
                ctx.shared
                    .drops
                    .record(now, DropReason::ForbiddenDestination, Some(peer), spi);
            } else if ctx.tun.write(buf.data()).is_err() {
                counters.tun_write_errors.fetch_add(1, Ordering::Relaxed);
            }
            true
        }
        Ok((Opened::Dummy, _)) => true,
        Err(e) => {
            // ICV, replay, padding and policy failures are also counted per SA by `esp`; an
            // unknown SPI has no SA to count it.
            if let esp::Error::UnknownSpi(_) = e {
                counters.unknown_spi.fetch_add(1, Ordering::Relaxed);
            }
            ctx.shared
                .drops
                .record(now, DropReason::of_open_error(e), Some(peer), spi);
            false
        }
    }
}

/// Drains the outbox into the socket until the connection closes.
async fn write_loop(mut write_half: OwnedWriteHalf, outbox: Arc<Outbox>) {
    let mut batch = Vec::new();
    loop {
        if outbox.take_batch(&mut batch, WRITE_BATCH) == 0 {
            if outbox.is_closed() {
                break;
            }
            outbox.wait().await;
            continue;
        }
        if write_half.write_all(&batch).await.is_err() {
            outbox.close();
            break;
        }
    }
    let _ = write_half.shutdown().await;
}
