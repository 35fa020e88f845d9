//! Deterministic two-endpoint harness (in the style of quinn-proto's `tests/util.rs`): an
//! initiator ("client") and a responder ("server") `Endpoint` joined by in-memory queues, a
//! virtual clock, fixed RNG seeds, an optional NAT in front of the client, and hooks to drop,
//! tamper with or hold back messages.

#![allow(dead_code, clippy::unwrap_used)]

pub mod scripted;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ikev2::config::{EndpointConfig, PeerConfig, VirtualIpConfig};
use ikev2::crypto::Secret;
use ikev2::ts::TrafficSelector;
use ikev2::{AddressPool, Endpoint, Event, Identity, IkeSaHandle, Path, Transmit};

pub const PSK: &[u8] = b"eseg-interop-test-psk-0123456789";
pub const CLIENT_ID: &str = "client.eseg.test";
pub const SERVER_ID: &str = "gw.eseg.test";

/// Which endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// What a hook decides for one message in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Deliver,
    Drop,
}

/// A hook sees every message (sender, bytes) and may change or drop it.
pub type Hook = Box<dyn FnMut(Side, &mut Vec<u8>) -> Verdict>;

/// Shared state of [`TestPool`], inspectable after the pool moved into the endpoint.
#[derive(Debug, Default)]
pub struct PoolState {
    pub free: Vec<Ipv4Addr>,
    pub allocated: Vec<IpAddr>,
    pub released: Vec<IpAddr>,
}

/// A pool of IPv4 addresses named "pool".
#[derive(Debug, Clone)]
pub struct TestPool(pub Arc<Mutex<PoolState>>);

impl TestPool {
    pub fn new(size: u8) -> Self {
        let free = (1..=size)
            .rev()
            .map(|i| Ipv4Addr::new(10, 99, 2, i))
            .collect();
        TestPool(Arc::new(Mutex::new(PoolState {
            free,
            ..PoolState::default()
        })))
    }

    pub fn in_use(&self) -> usize {
        let state = self.0.lock().unwrap();
        state.allocated.len() - state.released.len()
    }
}

impl AddressPool for TestPool {
    fn allocate_v4(&mut self, pool: &str, _: &Identity, _: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        let mut state = self.0.lock().unwrap();
        if pool != "pool" {
            return None;
        }
        let addr = state.free.pop()?;
        state.allocated.push(addr.into());
        Some(addr)
    }

    fn allocate_v6(&mut self, _: &str, _: &Identity, _: Option<Ipv6Addr>) -> Option<Ipv6Addr> {
        None
    }

    fn release(&mut self, _: &str, address: IpAddr) {
        let mut state = self.0.lock().unwrap();
        state.released.push(address);
        if let IpAddr::V4(a) = address {
            state.free.push(a);
        }
    }
}

pub fn psk() -> Secret {
    Secret::from_slice(PSK)
}

/// The client's peer configuration: asks for a virtual IP, proposes 0.0.0.0/0 both ways.
pub fn client_peer() -> PeerConfig {
    let mut peer = PeerConfig::new(
        "gw",
        CLIENT_ID.parse().unwrap(),
        SERVER_ID.parse().unwrap(),
        psk(),
    );
    peer.virtual_ip.request_ipv4 = true;
    peer
}

/// The server's peer configuration: any `*.eseg.test`, pool "pool", DNS, protected net.
pub fn server_peer() -> PeerConfig {
    let mut peer = PeerConfig::new(
        "clients",
        SERVER_ID.parse().unwrap(),
        "*.eseg.test".parse().unwrap(),
        psk(),
    );
    peer.virtual_ip = VirtualIpConfig {
        pool: Some("pool".into()),
        dns: vec!["10.99.1.53".parse().unwrap()],
        pcscf: vec!["10.99.1.10".parse().unwrap()],
        request_ipv4: false,
        request_ipv6: false,
    };
    peer.local_ts = vec![TrafficSelector::from_prefix("10.99.1.0".parse().unwrap(), 24).unwrap()];
    peer
}

pub struct Pair {
    pub now: Instant,
    pub client: Endpoint,
    pub server: Endpoint,
    pub client_peer: Arc<PeerConfig>,
    pub pool: TestPool,
    pub client_addr: SocketAddr,
    pub server_addr: SocketAddr,
    /// The client's address as the server sees it, if a NAT is in between.
    pub nat: Option<IpAddr>,
    pub hook: Option<Hook>,
    /// Messages held back by [`Pair::hold`], by sender.
    pub held: Vec<(Side, Transmit)>,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    /// Every message delivered or dropped, in order (sender, bytes).
    pub log: Vec<(Side, Vec<u8>)>,
    pub hold_next: Option<Side>,
}

#[allow(clippy::disallowed_methods)]
pub fn origin() -> Instant {
    // The origin of virtual time; only differences from it matter, so runs are reproducible.
    Instant::now()
}

impl Pair {
    pub fn new(
        client: EndpointConfig,
        client_peer: PeerConfig,
        server: EndpointConfig,
        pool: TestPool,
    ) -> Self {
        Pair {
            now: origin(),
            client: Endpoint::new(client, Box::new(ikev2::NoAddressPool)),
            server: Endpoint::new(server, Box::new(pool.clone())),
            client_peer: Arc::new(client_peer),
            pool,
            client_addr: "10.99.0.2:500".parse().unwrap(),
            server_addr: "10.99.0.1:500".parse().unwrap(),
            nat: None,
            hook: None,
            held: Vec::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            log: Vec::new(),
            hold_next: None,
        }
    }

    /// Defaults: seeds 1 (client) and 2 (server), the peers above, a pool of 10 addresses.
    pub fn default_pair() -> Self {
        Self::with_peers(client_peer(), server_peer())
    }

    pub fn with_peers(client_peer: PeerConfig, server_peer: PeerConfig) -> Self {
        let client = EndpointConfig::new([1; 32], Vec::new());
        let server = EndpointConfig::new([2; 32], vec![Arc::new(server_peer)]);
        Self::new(client, client_peer, server, TestPool::new(10))
    }

    /// Replaces the client with a fresh endpoint (no address pool) whose configuration is the
    /// current one changed by `edit`.
    pub fn reconfigure_client(&mut self, edit: impl FnOnce(&mut EndpointConfig)) {
        let mut config = self.client.config().clone();
        edit(&mut config);
        self.client = Endpoint::new(config, Box::new(ikev2::NoAddressPool));
    }

    /// Replaces the server with a fresh endpoint (same pool) whose configuration is the current
    /// one changed by `edit`.
    pub fn reconfigure_server(&mut self, edit: impl FnOnce(&mut EndpointConfig)) {
        let mut config = self.server.config().clone();
        edit(&mut config);
        self.server = Endpoint::new(config, Box::new(self.pool.clone()));
    }

    pub fn initiate(&mut self) -> IkeSaHandle {
        let path = Path::udp(self.client_addr, self.server_addr);
        self.client
            .initiate(self.now, Arc::clone(&self.client_peer), path)
            .unwrap()
    }

    /// Initiates and drives until quiet; returns the client's handle.
    pub fn connect(&mut self) -> IkeSaHandle {
        let sa = self.initiate();
        self.drive();
        sa
    }

    fn deliver(&mut self, from: Side, transmit: Transmit) {
        let mut data = transmit.data;
        let verdict = match self.hook.as_mut() {
            Some(hook) => hook(from, &mut data),
            None => Verdict::Deliver,
        };
        self.log.push((from, data.clone()));
        if verdict == Verdict::Drop {
            return;
        }
        let path = transmit.path;
        match from {
            Side::Client => {
                let remote = match self.nat {
                    Some(ip) => SocketAddr::new(ip, path.local.port() + 1000),
                    None => path.local,
                };
                let seen = Path {
                    local: path.remote,
                    remote,
                    transport: path.transport,
                };
                self.server.handle_datagram(self.now, seen, &data);
            }
            Side::Server => {
                let local = match self.nat {
                    Some(_) => SocketAddr::new(self.client_addr.ip(), path.remote.port() - 1000),
                    None => path.remote,
                };
                let seen = Path {
                    local,
                    remote: path.local,
                    transport: path.transport,
                };
                self.client.handle_datagram(self.now, seen, &data);
            }
        }
    }

    /// Delivers everything in flight, repeatedly, without advancing time. Returns whether any
    /// message moved.
    pub fn step(&mut self) -> bool {
        let mut moved = false;
        loop {
            self.collect_events();
            let next = match self.client.poll_transmit() {
                Some(t) => Some((Side::Client, t)),
                None => self.server.poll_transmit().map(|t| (Side::Server, t)),
            };
            let Some((from, transmit)) = next else { break };
            moved = true;
            if self.hold_next == Some(from) {
                self.hold_next = None;
                self.held.push((from, transmit));
                continue;
            }
            self.deliver(from, transmit);
        }
        self.collect_events();
        moved
    }

    /// Delivers messages held back with `hold_next`.
    pub fn release_held(&mut self) {
        for (from, transmit) in std::mem::take(&mut self.held) {
            self.deliver(from, transmit);
        }
        self.step();
    }

    pub fn collect_events(&mut self) {
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
    }

    /// Delivers until nothing is in flight.
    pub fn drive(&mut self) {
        while self.step() {}
    }

    /// Advances virtual time by `duration`, firing timers and delivering messages on the way.
    pub fn advance(&mut self, duration: Duration) {
        let end = self.now + duration;
        self.drive();
        loop {
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(at) if at <= end => {
                    self.now = self.now.max(at);
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                    self.drive();
                }
                _ => break,
            }
        }
        self.now = end;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.drive();
    }

    /// The server's handle of the first IKE SA it established.
    pub fn server_sa(&self) -> IkeSaHandle {
        self.server_events
            .iter()
            .find_map(|e| match e {
                Event::IkeSaEstablished { sa, .. } => Some(*sa),
                _ => None,
            })
            .unwrap()
    }

    /// The client checks its peer's liveness on `sa`; delivered until quiet.
    pub fn client_checks_liveness(&mut self, sa: IkeSaHandle) {
        self.client.check_liveness(self.now, sa).unwrap();
        self.drive();
    }

    /// The client moves `sa` to `path`; delivered until quiet.
    pub fn client_migrates(&mut self, sa: IkeSaHandle, path: Path) {
        self.client.migrate(self.now, sa, path).unwrap();
        self.drive();
    }

    /// Whether the client has seen its peer alive (an answered liveness check).
    pub fn client_saw_peer_alive(&self) -> bool {
        self.client_events
            .iter()
            .any(|e| matches!(e, Event::PeerAlive { .. }))
    }

    pub fn established(events: &[Event]) -> usize {
        events
            .iter()
            .filter(|e| matches!(e, Event::IkeSaEstablished { .. }))
            .count()
    }

    pub fn installed(events: &[Event]) -> Vec<&ikev2::ChildSaInstalled> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::ChildSaInstalled(c) => Some(c.as_ref()),
                _ => None,
            })
            .collect()
    }

    pub fn closed(events: &[Event]) -> Vec<&ikev2::CloseReason> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Closed { reason, .. } => Some(reason),
                _ => None,
            })
            .collect()
    }
}
