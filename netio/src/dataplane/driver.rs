//! The control task's core, shared by both binaries: one [`Driver`] owns the IKE engine (no lock
//! around it), the sockets IKE leaves by, and the [`SaBook`]. The binaries' loops only wait for
//! inputs (IKE datagrams, the engine's timer, signals, status requests) and call the matching
//! `handle_*` method; after each, [`Driver::flush`] sends what the engine wants sent, applies its
//! events to the data path, and hands the events back for the binary's own reactions (the
//! client configures its TUN on `VirtualIp`, reconnects on `Closed`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ikev2::events::{Event, IkeSaHandle};
use ikev2::path::{Path, Transport};
use ikev2::Endpoint;

use super::ike_sockets::IkeSockets;
use super::refusals::log_refusals;
use super::sa_book::SaBook;
use super::status::StatusReport;
use super::{Clock, IkeDatagram, Shared};

/// NAT-keepalive interval ([RFC 3948 §2.3](https://www.rfc-editor.org/rfc/rfc3948#section-2.3)
/// suggests 20 s).
pub const NAT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);

/// How often the data path's per-SA activity is reported to the engine (feeds liveness checks
/// and byte/packet lifetimes).
pub const ACTIVITY_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// The engine plus what it needs to talk to the world.
pub struct Driver {
    endpoint: Endpoint,
    sockets: Arc<IkeSockets>,
    book: SaBook,
    shared: Arc<Shared>,
    clock: Clock,
    started: Instant,
    role: &'static str,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("endpoint", &self.endpoint)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// A driver for `endpoint`; `role` names it in status reports.
    pub fn new(
        endpoint: Endpoint,
        sockets: Arc<IkeSockets>,
        shared: Arc<Shared>,
        clock: Clock,
        role: &'static str,
    ) -> Self {
        Self {
            endpoint,
            sockets,
            book: SaBook::new(Arc::clone(&shared)),
            shared,
            clock,
            started: clock(),
            role,
        }
    }

    /// The engine, for commands the binary issues itself (e.g. `initiate`).
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// The current time from the binary's clock.
    pub fn now(&self) -> Instant {
        (self.clock)()
    }

    /// Starts an IKE SA towards `path` with `peer` and records it.
    pub fn initiate(
        &mut self,
        peer: Arc<ikev2::PeerConfig>,
        path: Path,
    ) -> Result<IkeSaHandle, ikev2::CommandError> {
        let handle = self.endpoint.initiate(self.now(), peer, path)?;
        self.book.initiated(handle, path);
        Ok(handle)
    }

    /// Feeds one received IKE message to the engine.
    pub fn handle_datagram(&mut self, datagram: &IkeDatagram) {
        let path = Path::udp(datagram.local, datagram.remote);
        self.handle_message(path, &datagram.message);
    }

    /// Feeds one IKE message that arrived on any path (a TCP connection: see
    /// `dataplane::tcp_transport`) to the engine.
    pub fn handle_message(&mut self, path: Path, message: &[u8]) {
        let before = self.endpoint.counters();
        self.endpoint.handle_datagram(self.now(), path, message);
        log_refusals(&before, &self.endpoint.counters(), &path);
    }

    /// Runs the engine's due timers.
    pub fn handle_timeout(&mut self) {
        self.endpoint.handle_timeout(self.now());
    }

    /// When the engine next wants [`Driver::handle_timeout`].
    pub fn next_timeout(&self) -> Option<Instant> {
        self.endpoint.poll_timeout()
    }

    /// Sends a NAT-keepalive (one 0xFF byte to port 4500) for every IKE SA behind a NAT on our
    /// side, so the NAT keeps the mapping while the tunnel is idle. Call every
    /// [`NAT_KEEPALIVE_INTERVAL`]; TCP paths need none (the TCP connection is the mapping).
    pub fn send_nat_keepalives(&self) {
        for path in self.book.natted_paths() {
            if path.transport != Transport::Udp || !path.needs_non_esp_marker() {
                continue;
            }
            let sent = self.sockets.natt_for(path.local).map(|s| {
                s.send_from(
                    &[super::natt::NAT_KEEPALIVE],
                    path.remote,
                    super::ike_sockets::specific(path.local.ip()),
                )
            });
            if !matches!(sent, Some(Ok(_))) {
                tracing::debug!(remote = %path.remote, "cannot send NAT keepalive");
            }
        }
    }

    /// Reports the data path's per-CHILD-SA activity to the engine.
    pub fn report_activity(&mut self) {
        let now = self.now();
        for a in self.book.activity() {
            self.endpoint.report_child_activity(
                now,
                a.sa,
                a.child,
                a.last_inbound,
                a.bytes,
                a.packets,
            );
        }
    }

    /// Sends a Delete for every IKE SA (shutdown). `Closed` events follow as the peers answer.
    pub fn close_all(&mut self) {
        let now = self.now();
        for handle in self.book.handles() {
            self.book.closing(handle);
            if let Err(e) = self.endpoint.close(now, handle) {
                tracing::debug!(sa = %handle, error = %e, "close");
            }
        }
    }

    /// Closes one IKE SA.
    pub fn close(&mut self, handle: IkeSaHandle) {
        self.book.closing(handle);
        let now = self.now();
        if let Err(e) = self.endpoint.close(now, handle) {
            tracing::debug!(sa = %handle, error = %e, "close");
        }
    }

    /// Whether any IKE SA is left (established, connecting or closing).
    pub fn has_sas(&self) -> bool {
        !self.book.is_empty()
    }

    /// Sends every pending transmit, applies every pending event to the data path, and returns
    /// the events.
    pub fn flush(&mut self) -> Vec<Event> {
        while let Some(transmit) = self.endpoint.poll_transmit() {
            let sent = match transmit.path.transport {
                Transport::Udp => self.sockets.send(&transmit),
                Transport::Tcp(connection) => self
                    .shared
                    .tcp
                    .send_ike(connection, &transmit.data)
                    .map_err(std::io::Error::other),
            };
            if let Err(e) = sent {
                tracing::warn!(remote = %transmit.path.remote, error = %e, "cannot send IKE message");
            }
        }
        let now = self.now();
        let mut events = Vec::new();
        while let Some(event) = self.endpoint.poll_event() {
            self.book.apply(now, &event);
            events.push(event);
        }
        events
    }

    /// The status report.
    pub fn status(&self) -> StatusReport {
        self.book.report(self.now(), self.role, self.started)
    }
}

/// Sleeps until `deadline`, or forever when there is none (for `tokio::select!`).
pub async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}
