//! The IKE SA setup load generator: one `ikev2` [`Endpoint`] acting as many clients, each a full
//! IKE_SA_INIT + IKE_AUTH with the first CHILD SA and a virtual IP (configuration payload), with a
//! bounded number in flight at once.
//!
//! Clients are spread over several source addresses of the client host: responders limit
//! half-open SAs per address (strongSwan: COOKIE from 3, refusal from 5), and real clients come
//! from many addresses. Each address has one UDP socket on an ephemeral port; IKE_SA_INIT goes to
//! the responder's port 500, everything after NAT detection to its port 4500 with the non-ESP
//! marker ([RFC 3948 §2.2](https://www.rfc-editor.org/rfc/rfc3948#section-2.2)). The established
//! SAs stay alive (no DPD, no rekeys) until the generator is dropped, so the responder's memory
//! per SA can be read while they exist; [`LoadGenerator::hold`] keeps answering the responder
//! meanwhile and counts what it asked (a DPD or rekey storm would show there).
//!
//! The generator scales with the SA count: its established initiator SAs have no timer at all, the
//! in-flight ones are in a hash map, and each wait polls a fixed set of sockets (one per source
//! address), so 100k SAs cost it memory (a few kB each) but no time per step.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eseg_interop::{CLIENT_ID, GATEWAY_ID, PSK};
use ikev2::config::Lifetimes;
use ikev2::crypto::Secret;
use ikev2::path::{IKE_PORT, NAT_T_PORT};
use ikev2::{Endpoint, EndpointConfig, Event, IkeSaHandle, NoAddressPool, Path, PeerConfig};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use serde::Serialize;

use crate::clock;
use crate::error::{Error, Result};

/// The 4-byte zero non-ESP marker in front of IKE on port 4500.
const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// Half-open SAs per source address: below strongSwan's COOKIE threshold per IP.
pub const PER_SOURCE_LIMIT: usize = 3;

/// Largest IKE message read.
const MAX_DATAGRAM: usize = 65_535;

/// Offset of the flags octet in the IKE header (RFC 7296 §3.1).
const IKE_FLAGS_OFFSET: usize = 19;

/// The Response flag (RFC 7296 §3.1).
const IKE_FLAG_RESPONSE: u8 = 0x20;

/// Longest single wait for datagrams.
const MAX_WAIT: Duration = Duration::from_millis(50);

/// What one batch of setups achieved.
#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    /// SAs asked for.
    pub requested: usize,
    /// SAs fully set up (IKE SA, CHILD SA and virtual IP).
    pub established: usize,
    /// SAs whose setup failed (refused, or given up after retransmissions).
    pub failed: usize,
    /// SAs not set up when the time limit ended the batch (in flight or never started).
    pub unfinished: usize,
    /// Wall time of the batch, seconds.
    pub elapsed_secs: f64,
    /// Setups per second.
    pub rate_per_second: f64,
    /// CPU seconds the generator itself used (it shares the machine with the responder).
    pub generator_cpu_secs: f64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Progress {
    established: bool,
    child: bool,
    address: bool,
    done: bool,
}

/// What the responder did while the generator held its SAs ([`LoadGenerator::hold`]).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Held {
    /// Seconds held.
    pub secs: f64,
    /// IKE requests the responder sent meanwhile (liveness checks, rekeys, deletes).
    pub responder_requests: u64,
    /// SAs the responder closed meanwhile.
    pub closed: usize,
}

/// Many IKE initiators in one endpoint; see the module docs.
pub struct LoadGenerator {
    endpoint: Endpoint,
    peer: Arc<PeerConfig>,
    sockets: Vec<UdpSocket>,
    /// The local address of each socket, same order.
    locals: Vec<SocketAddr>,
    by_local: HashMap<SocketAddr, usize>,
    responder: Ipv4Addr,
    pending: HashMap<IkeSaHandle, (usize, Progress)>,
    in_flight_per_source: Vec<usize>,
    alive: usize,
    /// IKE requests received from the responder so far (it initiated the exchange).
    responder_requests: u64,
    buffer: Vec<u8>,
}

impl std::fmt::Debug for LoadGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadGenerator")
            .field("sources", &self.sockets.len())
            .field("alive", &self.alive)
            .finish_non_exhaustive()
    }
}

impl LoadGenerator {
    /// A generator sending from `sockets` (bound, one per source address, created in the client's
    /// namespace) to `responder`, able to hold up to `capacity` SAs. `seed` seeds the engine.
    pub fn new(
        sockets: Vec<UdpSocket>,
        responder: Ipv4Addr,
        capacity: usize,
        seed: [u8; 32],
    ) -> Result<Self> {
        let mut by_local = HashMap::new();
        let mut locals = Vec::with_capacity(sockets.len());
        for (i, socket) in sockets.iter().enumerate() {
            socket
                .set_nonblocking(true)
                .map_err(|e| Error::io("make the load socket non-blocking", e))?;
            let local = socket
                .local_addr()
                .map_err(|e| Error::io("read the load socket's address", e))?;
            by_local.insert(local, i);
            locals.push(local);
        }
        let parse_err = |what: &str| Error::Failed(format!("load generator identity {what}"));
        let mut peer = PeerConfig::new(
            "bench",
            CLIENT_ID.parse().map_err(|_| parse_err(CLIENT_ID))?,
            GATEWAY_ID.parse().map_err(|_| parse_err(GATEWAY_ID))?,
            Secret::from_slice(PSK.as_bytes()),
        );
        peer.virtual_ip.request_ipv4 = true;
        peer.dpd_delay = None;
        // No rekeys and no expiry while the SAs are held (packet and byte limits are never
        // reached: the generator sends no ESP).
        peer.lifetimes = Lifetimes::without_timers();
        let mut config = EndpointConfig::new(seed, Vec::new());
        config.max_ike_sas = capacity.saturating_add(1000);
        config.retransmit.initial = Duration::from_secs(2);
        let sources = sockets.len();
        Ok(LoadGenerator {
            endpoint: Endpoint::new(config, Box::new(NoAddressPool)),
            peer: Arc::new(peer),
            sockets,
            locals,
            by_local,
            responder,
            pending: HashMap::new(),
            in_flight_per_source: vec![0; sources],
            alive: 0,
            responder_requests: 0,
            buffer: vec![0; MAX_DATAGRAM],
        })
    }

    /// SAs fully set up and not closed since.
    pub fn alive(&self) -> usize {
        self.alive
    }

    /// Sets up `count` more SAs with at most `concurrency` in flight (and at most
    /// [`PER_SOURCE_LIMIT`] per source address), giving up after `limit`.
    pub fn establish(&mut self, count: usize, concurrency: usize, limit: Duration) -> Batch {
        let started = clock::now();
        let cpu_before = own_cpu();
        let deadline = started + limit;
        let (mut launched, mut established, mut failed) = (0usize, 0usize, 0usize);
        let concurrency = concurrency
            .max(1)
            .min(self.sockets.len() * PER_SOURCE_LIMIT);
        loop {
            let now = clock::now();
            if established + failed >= count || now >= deadline {
                break;
            }
            while launched < count && self.pending.len() < concurrency {
                let Some(source) = self.free_source() else {
                    break;
                };
                if self.launch(now, source) {
                    launched += 1;
                } else {
                    failed += 1;
                    launched += 1;
                }
            }
            let (done, lost) = self.pump(deadline);
            established += done;
            failed += lost;
        }
        self.flush();
        let unfinished = count.saturating_sub(established + failed);
        let elapsed = clock::now()
            .saturating_duration_since(started)
            .as_secs_f64();
        Batch {
            requested: count,
            established,
            failed,
            unfinished,
            elapsed_secs: elapsed,
            rate_per_second: if elapsed > 0.0 {
                established as f64 / elapsed
            } else {
                0.0
            },
            generator_cpu_secs: own_cpu().saturating_sub(cpu_before).as_secs_f64(),
        }
    }

    /// Keeps the established SAs for `duration`, answering whatever the responder sends.
    pub fn hold(&mut self, duration: Duration) -> Held {
        let started = clock::now();
        let deadline = started + duration;
        let (alive, requests) = (self.alive, self.responder_requests);
        while clock::now() < deadline {
            self.pump(deadline);
        }
        self.flush();
        Held {
            secs: clock::now()
                .saturating_duration_since(started)
                .as_secs_f64(),
            responder_requests: self.responder_requests.saturating_sub(requests),
            closed: alive.saturating_sub(self.alive),
        }
    }

    /// One round: send what is queued, apply events, wait for datagrams (until `deadline` at
    /// most), run due timers. Returns (newly complete, newly failed) setups.
    fn pump(&mut self, deadline: Instant) -> (usize, usize) {
        self.flush();
        let progress = self.drain_events();
        self.wait_and_receive(deadline);
        let now = clock::now();
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
        progress
    }

    fn free_source(&self) -> Option<usize> {
        self.in_flight_per_source
            .iter()
            .enumerate()
            .filter(|(_, n)| **n < PER_SOURCE_LIMIT)
            .min_by_key(|(_, n)| **n)
            .map(|(i, _)| i)
    }

    fn launch(&mut self, now: Instant, source: usize) -> bool {
        let Some(&local) = self.locals.get(source) else {
            return false;
        };
        let remote = SocketAddr::V4(SocketAddrV4::new(self.responder, IKE_PORT));
        match self
            .endpoint
            .initiate(now, self.peer.clone(), Path::udp(local, remote))
        {
            Ok(handle) => {
                self.pending.insert(handle, (source, Progress::default()));
                if let Some(n) = self.in_flight_per_source.get_mut(source) {
                    *n += 1;
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Sends every queued transmit from the socket of its local address.
    fn flush(&mut self) {
        while let Some(transmit) = self.endpoint.poll_transmit() {
            let Some(socket) = self
                .by_local
                .get(&transmit.path.local)
                .and_then(|i| self.sockets.get(*i))
            else {
                continue;
            };
            let sent = if transmit.path.needs_non_esp_marker() {
                let mut framed = Vec::with_capacity(transmit.data.len() + NON_ESP_MARKER.len());
                framed.extend_from_slice(&NON_ESP_MARKER);
                framed.extend_from_slice(&transmit.data);
                socket.send_to(&framed, transmit.path.remote)
            } else {
                socket.send_to(&transmit.data, transmit.path.remote)
            };
            if let Err(e) = sent {
                if e.kind() != ErrorKind::WouldBlock {
                    eprintln!("  load generator: send: {e}");
                }
            }
        }
    }

    /// Applies engine events; returns (newly complete, newly failed) setups.
    fn drain_events(&mut self) -> (usize, usize) {
        let (mut done, mut lost) = (0, 0);
        while let Some(event) = self.endpoint.poll_event() {
            let sa = event.sa();
            let Some((source, progress)) = self.pending.get_mut(&sa) else {
                if matches!(event, Event::Closed { .. }) {
                    self.alive = self.alive.saturating_sub(1);
                }
                continue;
            };
            match event {
                Event::IkeSaEstablished { .. } => progress.established = true,
                Event::ChildSaInstalled(_) => progress.child = true,
                Event::VirtualIp { assigned, .. } => {
                    progress.address = !assigned.addresses.is_empty();
                }
                Event::Closed { .. } => progress.done = true,
                _ => {}
            }
            let complete = progress.established && progress.child && progress.address;
            if complete || progress.done {
                let source = *source;
                self.pending.remove(&sa);
                if let Some(n) = self.in_flight_per_source.get_mut(source) {
                    *n = n.saturating_sub(1);
                }
                if complete {
                    done += 1;
                    self.alive += 1;
                } else {
                    lost += 1;
                }
            }
        }
        (done, lost)
    }

    /// Waits for datagrams (until the engine's next timer, at most [`MAX_WAIT`]) and feeds them in.
    fn wait_and_receive(&mut self, deadline: Instant) {
        let now = clock::now();
        let until = self
            .endpoint
            .poll_timeout()
            .unwrap_or(deadline)
            .min(deadline)
            .min(now + MAX_WAIT);
        let wait_ms = until.saturating_duration_since(now).as_millis();
        let timeout = PollTimeout::from(u16::try_from(wait_ms).unwrap_or(u16::MAX));
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd<'_>> = self
                .sockets
                .iter()
                .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
                .collect();
            if nix::poll::poll(&mut fds, timeout).unwrap_or(0) <= 0 {
                return;
            }
            fds.iter()
                .map(|f| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
                .collect()
        };
        let now = clock::now();
        for (i, _) in ready.iter().enumerate().filter(|(_, r)| **r) {
            let (Some(socket), Some(&local)) = (self.sockets.get(i), self.locals.get(i)) else {
                continue;
            };
            while let Ok((len, remote)) = socket.recv_from(&mut self.buffer) {
                let Some(datagram) = self.buffer.get(..len) else {
                    continue;
                };
                let ike = if remote.port() == NAT_T_PORT {
                    match datagram.strip_prefix(&NON_ESP_MARKER) {
                        Some(ike) => ike,
                        None => continue,
                    }
                } else {
                    datagram
                };
                if is_request(ike) {
                    self.responder_requests += 1;
                }
                self.endpoint
                    .handle_datagram(now, Path::udp(local, remote), ike);
            }
        }
    }
}

/// Whether an IKE message is a request (its sender started the exchange).
fn is_request(ike: &[u8]) -> bool {
    ike.get(IKE_FLAGS_OFFSET)
        .is_some_and(|flags| flags & IKE_FLAG_RESPONSE == 0)
}

/// Resident memory of this process, bytes (the generator's own footprint grows with its SAs).
pub fn own_memory() -> Option<u64> {
    lab::resident_memory_of(std::process::id())
}

/// CPU time of this whole process (the generator runs on its own thread, but nothing else of
/// eseg-bench works meanwhile).
fn own_cpu() -> Duration {
    lab::cpu_time_of(std::process::id()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_told_from_responses_by_the_response_flag() {
        let mut header = [0u8; 28];
        header[IKE_FLAGS_OFFSET] = 0x08; // Initiator
        assert!(is_request(&header));
        header[IKE_FLAGS_OFFSET] = 0x20; // Response
        assert!(!is_request(&header));
        header[IKE_FLAGS_OFFSET] = 0x28;
        assert!(!is_request(&header));
        assert!(!is_request(&header[..IKE_FLAGS_OFFSET]), "truncated");
    }
}
