//! The TPKT' connections that are open right now, by [`TcpConnectionId`]: what the control task
//! and the data-plane workers use to send on TCP.
//!
//! Each connection has an [`Outbox`]: a bounded [`tpkt::SendQueue`] that its writer task drains,
//! several frames per socket write. ESP is dropped (and counted) when the queue is past its ESP
//! limit, because the TCP path is slower than the inner traffic; IKE may use the reserve on top
//! and is never dropped while the connection lives. An IKE message that does not fit even there
//! means the peer stopped reading: the connection is closed and the IKE SA continues on the next
//! one the client opens.
//!
//! An outbox also records whether its connection has *proved itself* (see
//! [`Outbox::is_proven`]): the reader closes connections that have not done so within the
//! handshake timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ikev2::path::TcpConnectionId;
use ikev2::wire::{ExchangeType, Flags, IkeHeader, PayloadType};
use tokio::sync::Notify;
use tpkt::SendQueue;

use super::status::TcpStatus;

/// Counters of the TCP transport, across all connections.
#[derive(Debug, Default)]
pub struct TcpCounters {
    /// Connections accepted or attached.
    pub opened: AtomicU64,
    /// Connections refused because `max_connections` were open.
    pub refused_over_limit: AtomicU64,
    /// Connections refused because `max_connections_per_source` were open from their source.
    pub refused_per_source: AtomicU64,
    /// Connections closed because their first octets were not TPKT' (TLS, HTTP, RFC 9329,
    /// anything else).
    pub closed_not_tpkt: AtomicU64,
    /// Connections closed on a stream error (bad version, reserved octet, length out of range).
    pub closed_bad_framing: AtomicU64,
    /// Connections closed because no complete frame arrived in time (idle, slowloris).
    pub closed_idle: AtomicU64,
    /// Connections that ended in the middle of a frame.
    pub closed_truncated: AtomicU64,
    /// Connections closed because an IKE message found even the IKE reserve full.
    pub closed_stalled: AtomicU64,
    /// Connections closed because they had not proved themselves within the handshake timeout
    /// (no IKE_SA_INIT completed, no encrypted IKE, no authentic ESP).
    pub closed_no_handshake: AtomicU64,
    /// Frames dropped for a frame-level error (bad keepalive, too short for ESP or IKE).
    pub malformed_frames: AtomicU64,
    /// IKE frames received.
    pub ike_frames: AtomicU64,
    /// ESP frames received.
    pub esp_frames: AtomicU64,
    /// Keepalive frames received (accepted and ignored).
    pub keepalives: AtomicU64,
    /// Outgoing ESP packets dropped because the connection's send queue was full.
    pub esp_dropped_queue_full: AtomicU64,
    /// Outgoing packets (ESP or IKE) for a connection that is gone.
    pub no_connection: AtomicU64,
}

impl TcpCounters {
    /// Adds one to a counter.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters the status report shows.
    pub fn snapshot(&self) -> TcpStatus {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TcpStatus {
            opened: load(&self.opened),
            refused_over_limit: load(&self.refused_over_limit),
            refused_per_source: load(&self.refused_per_source),
            closed_not_tpkt: load(&self.closed_not_tpkt),
            closed_bad_framing: load(&self.closed_bad_framing),
            closed_idle: load(&self.closed_idle),
            closed_no_handshake: load(&self.closed_no_handshake),
            closed_truncated: load(&self.closed_truncated),
            closed_stalled: load(&self.closed_stalled),
        }
    }

    /// Connections refused at accept, for either limit.
    pub fn refused(&self) -> u64 {
        self.refused_over_limit.load(Ordering::Relaxed)
            + self.refused_per_source.load(Ordering::Relaxed)
    }
}

/// Why a send on a TCP connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TcpSendError {
    /// No open connection has this id (it closed; the client may reconnect).
    #[error("no open TCP connection {0:?}")]
    NoConnection(TcpConnectionId),
    /// The peer stopped reading: even the IKE reserve is full. The connection is being closed.
    #[error("TCP connection {0:?} stalled; closing it")]
    Stalled(TcpConnectionId),
    /// The packet cannot be framed (too long for TPKT', or not what it claims to be).
    #[error("cannot frame the packet: {0}")]
    Framing(tpkt::EncodeError),
}

/// The outgoing side of one connection: its send queue and the wake-up for its writer.
#[derive(Debug)]
pub struct Outbox {
    queue: Mutex<SendQueue<Box<[u8]>>>,
    wake: Notify,
    closing: Notify,
    closed: AtomicBool,
    proven: AtomicBool,
}

/// Whether an IKE message we send shows that its connection carries a real IKE SA: a successful
/// IKE_SA_INIT response (its first payload is SA, not an error or COOKIE notify;
/// <https://www.rfc-editor.org/rfc/rfc7296#section-1.2>), or any message protected by an IKE SA's
/// keys (first payload SK or SKF; <https://www.rfc-editor.org/rfc/rfc7296#section-3.14>).
pub fn proves_handshake(ike: &[u8]) -> bool {
    let Ok(header) = IkeHeader::parse(ike) else {
        return false;
    };
    match header.next_payload {
        PayloadType::Sa => {
            header.exchange_type == ExchangeType::IkeSaInit
                && header.flags.contains(Flags::RESPONSE)
        }
        PayloadType::Sk | PayloadType::Skf => true,
        _ => false,
    }
}

impl Outbox {
    /// An outbox whose queue holds `capacity` octets, the last `ike_reserve` for IKE only.
    pub fn new(capacity: usize, ike_reserve: usize) -> Result<Self, tpkt::ConfigError> {
        Ok(Self {
            queue: Mutex::new(SendQueue::with_capacity(capacity, ike_reserve)?),
            wake: Notify::new(),
            closing: Notify::new(),
            closed: AtomicBool::new(false),
            proven: AtomicBool::new(false),
        })
    }

    /// Records that the connection carries a real IKE SA or authentic ESP.
    pub fn mark_proven(&self) {
        self.proven.store(true, Ordering::Release);
    }

    /// Whether the connection has proved itself: we sent on it an IKE message that
    /// [`proves_handshake`], or an ESP packet that arrived on it opened under one of our SAs, or
    /// we opened it ourselves.
    pub fn is_proven(&self) -> bool {
        self.proven.load(Ordering::Acquire)
    }

    /// Moves up to `max` queued octets (whole frames or not: the stream is continuous) into
    /// `out`, replacing its contents. Returns how many.
    pub fn take_batch(&self, out: &mut Vec<u8>, max: usize) -> usize {
        out.clear();
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        while out.len() < max && !queue.is_empty() {
            let chunk = queue.chunk();
            let n = chunk.len().min(max - out.len());
            out.extend_from_slice(chunk.get(..n).unwrap_or_default());
            queue.advance(n);
        }
        out.len()
    }

    /// Waits until something was queued or the connection closed.
    pub async fn wait(&self) {
        self.wake.notified().await;
    }

    /// Waits until the connection is closed (for its reader).
    pub async fn wait_closed(&self) {
        if !self.is_closed() {
            self.closing.notified().await;
        }
    }

    /// Marks the connection closed and wakes its writer and reader.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
        self.closing.notify_one();
    }

    /// Whether [`Outbox::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn push(
        &self,
        push: impl FnOnce(&mut SendQueue<Box<[u8]>>) -> Result<(), tpkt::EncodeError>,
    ) -> Result<(), tpkt::EncodeError> {
        let result = push(&mut self.queue.lock().unwrap_or_else(PoisonError::into_inner));
        if result.is_ok() {
            self.wake.notify_one();
        }
        result
    }
}

/// Every open TPKT' connection, plus the transport's counters.
#[derive(Debug, Default)]
pub struct TcpConnections {
    open: Mutex<HashMap<TcpConnectionId, Arc<Outbox>>>,
    next_id: AtomicU64,
    /// Counters across all connections.
    pub counters: TcpCounters,
}

impl TcpConnections {
    /// A fresh connection id (never 0; the client uses fixed ids of its own).
    pub fn fresh_id(&self) -> TcpConnectionId {
        TcpConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Registers a connection's outbox, replacing (and closing) any previous one with that id.
    pub fn register(&self, id: TcpConnectionId, outbox: Arc<Outbox>) {
        let old = self.lock().insert(id, outbox);
        if let Some(old) = old {
            old.close();
        }
    }

    /// Removes a connection, but only if `outbox` is still the one registered under `id` (a
    /// reconnect may already have put a new one there).
    pub fn remove(&self, id: TcpConnectionId, outbox: &Arc<Outbox>) {
        let mut open = self.lock();
        if open.get(&id).is_some_and(|o| Arc::ptr_eq(o, outbox)) {
            open.remove(&id);
        }
    }

    /// Whether `outbox` is the one registered under `id` (not replaced by a reconnect).
    pub fn is_current(&self, id: TcpConnectionId, outbox: &Arc<Outbox>) -> bool {
        self.lock().get(&id).is_some_and(|o| Arc::ptr_eq(o, outbox))
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `id` is open.
    pub fn contains(&self, id: TcpConnectionId) -> bool {
        self.lock().contains_key(&id)
    }

    /// Queues an IKE message (bare, header first) on a connection. A connection whose peer
    /// stopped reading is closed.
    pub fn send_ike(&self, id: TcpConnectionId, ike: &[u8]) -> Result<(), TcpSendError> {
        let outbox = self.outbox(id)?;
        match outbox.push(|q| q.push_ike(ike)) {
            Ok(()) => {
                if proves_handshake(ike) {
                    outbox.mark_proven();
                }
                Ok(())
            }
            Err(tpkt::EncodeError::QueueFull { .. }) => {
                TcpCounters::bump(&self.counters.closed_stalled);
                outbox.close();
                Err(TcpSendError::Stalled(id))
            }
            Err(e) => Err(TcpSendError::Framing(e)),
        }
    }

    /// Queues a sealed ESP packet (from its SPI) on a connection; returns whether it was
    /// queued. Drops are counted: no connection, or the queue is past its ESP limit.
    pub fn send_esp(&self, id: TcpConnectionId, esp: &[u8]) -> bool {
        let Ok(outbox) = self.outbox(id) else {
            return false;
        };
        match outbox.push(|q| q.push_esp(esp)) {
            Ok(()) => true,
            Err(_) => {
                TcpCounters::bump(&self.counters.esp_dropped_queue_full);
                false
            }
        }
    }

    fn outbox(&self, id: TcpConnectionId) -> Result<Arc<Outbox>, TcpSendError> {
        let found = self.lock().get(&id).cloned();
        found.ok_or_else(|| {
            TcpCounters::bump(&self.counters.no_connection);
            TcpSendError::NoConnection(id)
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TcpConnectionId, Arc<Outbox>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esp(len: usize) -> Vec<u8> {
        let mut p = vec![0x5a; len];
        p[..4].copy_from_slice(&0x0100_0001u32.to_be_bytes());
        p
    }

    /// An IKE header (28 octets) with the given first payload, exchange type and flags.
    fn ike_header(next_payload: u8, exchange: u8, flags: u8) -> Vec<u8> {
        let mut header = vec![0x11; 16];
        header.extend_from_slice(&[next_payload, 0x20, exchange, flags, 0, 0, 0, 1, 0, 0, 0, 28]);
        header
    }

    #[test]
    fn which_ike_messages_prove_a_connection() {
        let (sa, notify, sk, skf) = (33, 41, 46, 53);
        let (ike_sa_init, informational) = (34, 37);
        let (request, response) = (0x08, 0x20);
        assert!(proves_handshake(&ike_header(sa, ike_sa_init, response)));
        assert!(
            !proves_handshake(&ike_header(notify, ike_sa_init, response)),
            "COOKIE or error"
        );
        assert!(!proves_handshake(&ike_header(sa, ike_sa_init, request)));
        assert!(proves_handshake(&ike_header(sk, informational, response)));
        assert!(proves_handshake(&ike_header(skf, 35, request)));
        assert!(
            !proves_handshake(&ike_header(notify, informational, response)),
            "unprotected"
        );
        assert!(
            !proves_handshake(&ike_header(sa, ike_sa_init, response)[..27]),
            "truncated"
        );
        assert!(!proves_handshake(&[]));
    }

    #[test]
    fn sending_a_proving_message_marks_the_outbox() {
        let connections = TcpConnections::default();
        let id = connections.fresh_id();
        let outbox = Arc::new(Outbox::new(4096, 512).unwrap());
        connections.register(id, Arc::clone(&outbox));
        connections.send_ike(id, &ike_header(41, 34, 0x20)).unwrap();
        assert!(!outbox.is_proven());
        connections.send_ike(id, &ike_header(33, 34, 0x20)).unwrap();
        assert!(outbox.is_proven());
    }

    #[test]
    fn esp_is_dropped_when_full_but_ike_uses_the_reserve() {
        let connections = TcpConnections::default();
        let id = connections.fresh_id();
        let outbox = Arc::new(Outbox::new(1024, 256).unwrap());
        connections.register(id, Arc::clone(&outbox));
        let mut queued = 0;
        while connections.send_esp(id, &esp(100)) {
            queued += 1;
        }
        assert_eq!(queued, 7, "7 frames of 104 octets fit under 768");
        assert_eq!(
            connections
                .counters
                .esp_dropped_queue_full
                .load(Ordering::Relaxed),
            1
        );
        connections.send_ike(id, &[0x11; 100]).unwrap();
        assert!(!outbox.is_closed());
        // The reserve is used up: the peer is not reading, so the connection goes.
        assert_eq!(
            connections.send_ike(id, &[0x11; 200]),
            Err(TcpSendError::Stalled(id))
        );
        assert!(outbox.is_closed());
    }

    #[test]
    fn batches_take_several_frames_and_drain_the_queue() {
        let outbox = Outbox::new(4096, 512).unwrap();
        for _ in 0..10 {
            outbox.push(|q| q.push_esp(&esp(50))).unwrap();
        }
        let mut batch = Vec::new();
        assert_eq!(outbox.take_batch(&mut batch, 300), 300);
        assert_eq!(&batch[..4], &[1, 0, 0, 54], "a TPKT' header first");
        assert_eq!(outbox.take_batch(&mut batch, 4096), 240);
        assert_eq!(outbox.take_batch(&mut batch, 4096), 0);
    }

    #[test]
    fn remove_only_takes_out_the_same_outbox() {
        let connections = TcpConnections::default();
        let id = TcpConnectionId(1);
        let first = Arc::new(Outbox::new(1024, 256).unwrap());
        let second = Arc::new(Outbox::new(1024, 256).unwrap());
        connections.register(id, Arc::clone(&first));
        connections.register(id, Arc::clone(&second));
        assert!(first.is_closed(), "a replaced connection is closed");
        assert!(!connections.is_current(id, &first));
        assert!(connections.is_current(id, &second));
        connections.remove(id, &first);
        assert!(connections.contains(id), "the reconnect stays");
        connections.remove(id, &second);
        assert!(connections.is_empty());
        assert_eq!(
            connections.send_ike(id, &[0x11; 28]),
            Err(TcpSendError::NoConnection(id))
        );
        assert!(!connections.send_esp(id, &esp(20)));
    }
}
