//! The [`Endpoint`]: every IKE SA of one engine instance, and the sans-IO driver contract.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::config::{EndpointConfig, PeerConfig, UniquePolicy};
use crate::counters::Counters;
use crate::cp::AddressPool;
use crate::crypto::CookieSecrets;
use crate::error::Error;
use crate::events::{ChildSaId, CloseReason, Event, IkeSaHandle};
use crate::path::{Path, Transmit};
use crate::sa::established::Command;
use crate::sa::init::{self, Responded};
use crate::sa::{Ctx, IkeSa, Role, Shared, State};
use crate::ts::TrafficSelector;
use crate::wire::{ExchangeType, IkeHeader, Message};

/// How long one COOKIE secret is handed out.
const COOKIE_SECRET_LIFETIME: std::time::Duration = std::time::Duration::from_secs(120);

/// Why a command could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// No IKE SA with that handle (it may have closed).
    #[error("unknown IKE SA")]
    UnknownSa,
    /// The IKE SA is not established yet (or is closing).
    #[error("IKE SA not established")]
    NotEstablished,
    /// No CHILD SA with that id in the IKE SA.
    #[error("unknown CHILD SA")]
    UnknownChild,
    /// The peer configuration cannot start an exchange (e.g. no IKE proposal).
    #[error("invalid peer configuration: {0}")]
    InvalidConfig(Error),
    /// Too many IKE SAs.
    #[error("too many IKE SAs")]
    Overloaded,
}

/// An IKEv2 endpoint: the responder for every configured peer and the initiator of the IKE SAs
/// it is told to start.
///
/// The endpoint performs no I/O and never reads the clock: the driver feeds it datagrams
/// ([`handle_datagram`](Self::handle_datagram)), timer expiries
/// ([`handle_timeout`](Self::handle_timeout)) and commands ([`initiate`](Self::initiate),
/// [`close`](Self::close), [`create_child`](Self::create_child), ...), and after each call
/// drains the outputs:
///
/// 1. [`poll_transmit`](Self::poll_transmit) until `None`: send each [`Transmit`] from
///    `path.local` to `path.remote` (adding the 4-byte non-ESP marker when
///    [`Path::needs_non_esp_marker`], or the TPKT' header on TCP);
/// 2. [`poll_event`](Self::poll_event) until `None`: install/remove ESP SAs, routes, virtual IPs;
/// 3. [`poll_timeout`](Self::poll_timeout): arm one timer; when it fires, call
///    [`handle_timeout`](Self::handle_timeout) with the current time.
///
/// Inputs must carry the bare IKE message (no marker, no TPKT'). `now` must not go backwards.
/// Randomness comes from a ChaCha20 RNG seeded from [`EndpointConfig::seed`], so the same
/// inputs with the same seed produce the same outputs byte for byte.
///
/// The data path reports ESP activity with
/// [`report_child_activity`](Self::report_child_activity): liveness checks (DPD) only run after
/// the configured idle time without inbound IKE *or* ESP traffic.
pub struct Endpoint {
    config: EndpointConfig,
    rng: ChaCha20Rng,
    pool: Box<dyn AddressPool + Send>,
    sas: BTreeMap<IkeSaHandle, IkeSa>,
    by_spi: BTreeMap<u64, IkeSaHandle>,
    /// Responder: half-open SAs by (SPIi, peer address), to recognise retransmitted IKE_SA_INIT.
    by_init: BTreeMap<(u64, std::net::SocketAddr), IkeSaHandle>,
    timers: BTreeSet<(Instant, IkeSaHandle)>,
    deadlines: BTreeMap<IkeSaHandle, Instant>,
    /// When the COOKIE secret was last replaced.
    cookie_secret_since: Option<Instant>,
    shared: Shared,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("ike_sas", &self.sas.len())
            .field("counters", &self.shared.counters)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint with `config`; `pool` hands out virtual IPs as responder
    /// ([`crate::cp::NoAddressPool`] if there are none).
    pub fn new(config: EndpointConfig, pool: Box<dyn AddressPool + Send>) -> Self {
        let mut rng = ChaCha20Rng::from_seed(config.seed);
        let cookies = CookieSecrets::generate(&mut rng);
        Endpoint {
            config,
            rng,
            pool,
            sas: BTreeMap::new(),
            by_spi: BTreeMap::new(),
            by_init: BTreeMap::new(),
            timers: BTreeSet::new(),
            deadlines: BTreeMap::new(),
            cookie_secret_since: None,
            shared: Shared {
                spawned: Vec::new(),
                next_handle: 1,
                transmits: VecDeque::new(),
                events: VecDeque::new(),
                counters: Counters::default(),
                child_spis: BTreeSet::new(),
                cookies,
            },
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Counters of what was received, sent and refused.
    pub fn counters(&self) -> Counters {
        self.shared.counters
    }

    /// IKE SAs in any state (half-open included).
    pub fn ike_sa_count(&self) -> usize {
        self.sas.len()
    }

    /// Responder IKE SAs waiting for IKE_AUTH.
    pub fn half_open_count(&self) -> usize {
        // Exactly the responder SAs waiting for IKE_AUTH are indexed by (SPIi, address).
        self.by_init.len()
    }

    /// CHILD SAs installed and not yet deleted, over all IKE SAs.
    pub fn child_sa_count(&self) -> usize {
        self.sas
            .values()
            .map(|sa| match &sa.state {
                State::Established(e) => e.children.len(),
                _ => 0,
            })
            .sum()
    }

    /// The CHILD SAs of an IKE SA.
    pub fn child_sas(&self, sa: IkeSaHandle) -> Vec<ChildSaId> {
        match self.sas.get(&sa).map(|s| &s.state) {
            Some(State::Established(e)) => e.children.keys().copied().collect(),
            _ => Vec::new(),
        }
    }

    /// Whether the IKE SA exists and is established.
    pub fn is_established(&self, sa: IkeSaHandle) -> bool {
        self.sas.get(&sa).is_some_and(IkeSa::is_established)
    }

    /// Whether MOBIKE was negotiated on an established IKE SA (RFC 4555 §3.2; also reported in
    /// [`Event::IkeSaEstablished`]). `false` for unknown or not yet established SAs.
    pub fn mobike(&self, sa: IkeSaHandle) -> bool {
        self.sas
            .get(&sa)
            .is_some_and(|s| s.is_established() && s.mobike.negotiated)
    }

    /// The path an IKE SA currently uses.
    pub fn path(&self, sa: IkeSaHandle) -> Option<Path> {
        self.sas.get(&sa).map(|s| s.path)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.shared.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.shared.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    fn fresh_spi(&mut self) -> u64 {
        loop {
            let spi = self.rng.next_u64();
            if spi != 0 && !self.by_spi.contains_key(&spi) {
                return spi;
            }
        }
    }

    fn fresh_handle(&mut self) -> IkeSaHandle {
        let handle = IkeSaHandle(self.shared.next_handle);
        self.shared.next_handle += 1;
        handle
    }

    /// The engine state an IKE SA works with at `now`: RNG, configuration, address pool, shared
    /// outputs and the SPIs in use.
    fn ctx(&mut self, now: Instant) -> Ctx<'_> {
        Ctx {
            now,
            rng: &mut self.rng,
            config: &self.config,
            pool: self.pool.as_mut(),
            shared: &mut self.shared,
            spis_in_use: &self.by_spi,
        }
    }

    /// Runs `f` on one SA with a context, then updates indexes and timers.
    fn with_sa(
        &mut self,
        now: Instant,
        handle: IkeSaHandle,
        f: impl FnOnce(&mut IkeSa, &mut Ctx<'_>),
    ) {
        let Some(mut sa) = self.sas.remove(&handle) else {
            return;
        };
        let first_event = self.shared.events.len();
        f(&mut sa, &mut self.ctx(now));
        let established = self
            .shared
            .events
            .iter()
            .skip(first_event)
            .any(|e| matches!(e, Event::IkeSaEstablished { sa: s, .. } if *s == handle));
        self.reindex(now, sa);
        for spawned in std::mem::take(&mut self.shared.spawned) {
            self.reindex(now, spawned);
        }
        if established {
            self.apply_unique_policy(now, handle);
        }
    }

    /// Puts an SA back (or forgets it if closed) and refreshes its timer.
    fn reindex(&mut self, now: Instant, sa: IkeSa) {
        let handle = sa.handle;
        if let Some(old) = self.deadlines.remove(&handle) {
            self.timers.remove(&(old, handle));
        }
        if sa.is_closed() {
            self.by_spi.remove(&sa.local_spi());
            self.by_init.remove(&(sa.spi_i, sa.initial_remote));
            return;
        }
        if sa.role == Role::Responder && !sa.is_half_open() {
            self.by_init.remove(&(sa.spi_i, sa.initial_remote));
        }
        if let Some(at) = sa.deadline(&self.config) {
            let at = at.max(now);
            self.timers.insert((at, handle));
            self.deadlines.insert(handle, at);
        }
        self.by_spi.insert(sa.local_spi(), handle);
        self.sas.insert(handle, sa);
    }

    /// [`UniquePolicy::Replace`]: close older IKE SAs with the same remote identity and peer
    /// configuration.
    fn apply_unique_policy(&mut self, now: Instant, handle: IkeSaHandle) {
        let Some(sa) = self.sas.get(&handle) else {
            return;
        };
        let (Some(peer), State::Established(e)) = (&sa.peer, &sa.state) else {
            return;
        };
        if peer.unique != UniquePolicy::Replace {
            return;
        }
        let remote = e.remote_id.clone();
        let peer = Arc::clone(peer);
        let older: Vec<IkeSaHandle> = self
            .sas
            .iter()
            .filter(|(h, other)| {
                **h != handle
                    && other.peer.as_ref().is_some_and(|p| Arc::ptr_eq(p, &peer))
                    && matches!(&other.state, State::Established(o) if o.remote_id == remote)
            })
            .map(|(h, _)| *h)
            .collect();
        for old in older {
            self.command(now, old, Command::Close(CloseReason::Replaced))
                .ok();
        }
    }

    /// Handles one received IKE message (bare, header first) that arrived on `path`.
    pub fn handle_datagram(&mut self, now: Instant, path: Path, data: &[u8]) {
        self.shared.counters.received += 1;
        let message = match Message::parse(data) {
            Ok(message) => message,
            Err(_) => {
                self.shared.counters.dropped_malformed += 1;
                return;
            }
        };
        let header = message.header;
        if header.exchange_type == ExchangeType::IkeSaInit
            && !header.flags.is_response()
            && header.spi_r == 0
            && header.message_id == 0
        {
            self.handle_init_request(now, path, data, &message, &header);
            return;
        }
        let local_spi = if header.flags.is_initiator() {
            header.spi_r
        } else {
            header.spi_i
        };
        let Some(&handle) = self.by_spi.get(&local_spi) else {
            self.shared.counters.dropped_unknown_spi += 1;
            return;
        };
        let matches = self.sas.get(&handle).is_some_and(|sa| {
            let (ours_initiator, peer_spi) = match sa.role {
                Role::Initiator => (true, header.spi_r),
                Role::Responder => (false, header.spi_i),
            };
            // The I flag names the original initiator: the peer's flag is the opposite of ours.
            ours_initiator != header.flags.is_initiator()
                && (peer_spi == sa.peer_spi()
                    || (sa.peer_spi() == 0 && header.exchange_type == ExchangeType::IkeSaInit))
        });
        if !matches {
            self.shared.counters.dropped_unknown_spi += 1;
            return;
        }
        self.with_sa(now, handle, |sa, ctx| sa.handle(ctx, path, data, &message));
    }

    fn handle_init_request(
        &mut self,
        now: Instant,
        path: Path,
        data: &[u8],
        message: &Message<'_>,
        header: &IkeHeader,
    ) {
        if let Some(&handle) = self.by_init.get(&(header.spi_i, path.remote)) {
            self.with_sa(now, handle, |sa, ctx| sa.handle(ctx, path, data, message));
            return;
        }
        // A fresh COOKIE secret every two minutes (RFC 7296 §2.6); the previous one still
        // verifies, so a cookie stays valid for two to four minutes.
        match self.cookie_secret_since {
            Some(since) if now.saturating_duration_since(since) < COOKIE_SECRET_LIFETIME => {}
            Some(_) => {
                self.shared.cookies.rotate(&mut self.rng);
                self.cookie_secret_since = Some(now);
            }
            None => self.cookie_secret_since = Some(now),
        }
        let half_open = self.half_open_count();
        if half_open >= self.config.max_half_open || self.sas.len() >= self.config.max_ike_sas {
            self.shared.counters.dropped_overload += 1;
            return;
        }
        let handle = self.fresh_handle();
        let spi_r = self.fresh_spi();
        let responded = init::respond(
            &mut self.ctx(now),
            handle,
            path,
            data,
            message,
            half_open,
            spi_r,
        );
        match responded {
            Responded::Created(sa) => {
                self.by_init.insert((header.spi_i, path.remote), handle);
                self.reindex(now, *sa);
            }
            Responded::Refused(Error::CookieRequired) => {}
            Responded::Refused(_) => self.shared.counters.dropped_malformed += 1,
        }
    }

    /// Runs every timer due at `now`: retransmissions, half-open expiry, DPD, lifetimes.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, handle)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, handle));
            self.deadlines.remove(&handle);
            self.with_sa(now, handle, |sa, ctx| sa.handle_timeout(ctx));
        }
    }

    /// Starts an IKE SA with `peer` over `path` (IKE_SA_INIT, then IKE_AUTH with the first
    /// CHILD SA). Progress arrives as events.
    pub fn initiate(
        &mut self,
        now: Instant,
        peer: Arc<PeerConfig>,
        path: Path,
    ) -> Result<IkeSaHandle, CommandError> {
        if self.sas.len() >= self.config.max_ike_sas {
            return Err(CommandError::Overloaded);
        }
        let handle = self.fresh_handle();
        let spi_i = self.fresh_spi();
        let sa = init::initiate(&mut self.ctx(now), handle, peer, path, spi_i)
            .map_err(CommandError::InvalidConfig)?;
        self.reindex(now, sa);
        Ok(handle)
    }

    fn command(
        &mut self,
        now: Instant,
        handle: IkeSaHandle,
        command: Command,
    ) -> Result<(), CommandError> {
        let sa = self.sas.get(&handle).ok_or(CommandError::UnknownSa)?;
        if !sa.is_established() {
            if let Command::Close(reason) = command {
                self.with_sa(now, handle, |sa, ctx| sa.close(ctx, reason));
                return Ok(());
            }
            return Err(CommandError::NotEstablished);
        }
        self.with_sa(now, handle, |sa, ctx| {
            if let State::Established(e) = &mut sa.state {
                e.enqueue(command);
            }
            if sa.pending.is_none() {
                crate::sa::established::start_queued(sa, ctx);
            }
            if let Some(reason) = sa.closing.take() {
                sa.close(ctx, reason);
            }
        });
        Ok(())
    }

    /// Deletes the IKE SA (INFORMATIONAL with Delete; §1.4.1). `Closed` follows when the peer
    /// answered or the retransmissions ran out. A not yet established SA closes at once.
    pub fn close(&mut self, now: Instant, sa: IkeSaHandle) -> Result<(), CommandError> {
        self.command(now, sa, Command::Close(CloseReason::Local))
    }

    /// Sends a liveness check (empty INFORMATIONAL). `PeerAlive` or `Closed{PeerUnreachable}`
    /// follows.
    pub fn check_liveness(&mut self, now: Instant, sa: IkeSaHandle) -> Result<(), CommandError> {
        self.command(now, sa, Command::Liveness)
    }

    /// Creates an additional CHILD SA (CREATE_CHILD_SA) with these traffic selectors (ours,
    /// the peer's); the peer may narrow them.
    pub fn create_child(
        &mut self,
        now: Instant,
        sa: IkeSaHandle,
        ts_local: Vec<TrafficSelector>,
        ts_remote: Vec<TrafficSelector>,
    ) -> Result<(), CommandError> {
        self.command(now, sa, Command::CreateChild(ts_local, ts_remote))
    }

    /// Rekeys a CHILD SA now (make-before-break: `ChildSaInstalled{replaces}` then
    /// `ChildSaDeleted{Rekeyed}` for the old one).
    pub fn rekey_child(
        &mut self,
        now: Instant,
        sa: IkeSaHandle,
        child: ChildSaId,
    ) -> Result<(), CommandError> {
        self.require_child(sa, child)?;
        self.command(now, sa, Command::RekeyChild(child))
    }

    /// Moves an established IKE SA to another path, e.g. a new TCP connection after a reconnect
    /// or a new local address (Wi-Fi to LTE), and tells the peer.
    ///
    /// [`Event::PathChanged`] follows at once (send ESP on the new path from now on). Then, as
    /// soon as no other request of ours is in flight (one that is keeps being retransmitted on
    /// the new path, RFC 4555 §3.5):
    /// - with MOBIKE negotiated ([`Endpoint::mobike`]) on an IKE SA we initiated (the
    ///   initiator decides on addresses, RFC 4555 §3.3), an INFORMATIONAL request with
    ///   UPDATE_SA_ADDRESSES, NAT detection for the new path and a fresh COOKIE2
    ///   ([RFC 4555 §3.5](https://www.rfc-editor.org/rfc/rfc4555#section-3.5)); the peer moves
    ///   its IKE and CHILD SAs on it;
    /// - otherwise an empty INFORMATIONAL (liveness check): the peer moves on the first
    ///   authenticated message from the new path (RFC 7296 §2.23).
    ///
    /// When the peer answers, [`Event::PeerAlive`] and [`Event::PathConfirmed`] follow; if it
    /// never does, `Closed{PeerUnreachable}`; a MOBIKE answer that is an error or lacks our
    /// COOKIE2 closes the IKE SA (`Closed{Failed}`). Calling `migrate` again before the answer
    /// announces the newest path once the window is free.
    pub fn migrate(
        &mut self,
        now: Instant,
        sa: IkeSaHandle,
        path: Path,
    ) -> Result<(), CommandError> {
        if !self.is_established(sa) {
            return Err(if self.sas.contains_key(&sa) {
                CommandError::NotEstablished
            } else {
                CommandError::UnknownSa
            });
        }
        self.with_sa(now, sa, |ike, ctx| {
            ike.path = path;
            ctx.event(Event::PathChanged {
                sa: ike.handle,
                path,
            });
        });
        self.command(now, sa, Command::AnnouncePath)
    }

    /// Rekeys the IKE SA now (§2.18); `IkeSaRekeyed` follows and the handle stays valid.
    pub fn rekey_ike(&mut self, now: Instant, sa: IkeSaHandle) -> Result<(), CommandError> {
        self.command(now, sa, Command::RekeyIke)
    }

    /// Deletes a CHILD SA (INFORMATIONAL with Delete).
    pub fn delete_child(
        &mut self,
        now: Instant,
        sa: IkeSaHandle,
        child: ChildSaId,
    ) -> Result<(), CommandError> {
        self.require_child(sa, child)?;
        self.command(now, sa, Command::DeleteChild(child))
    }

    fn require_child(&self, sa: IkeSaHandle, child: ChildSaId) -> Result<(), CommandError> {
        match self.sas.get(&sa).map(|s| &s.state) {
            None => Err(CommandError::UnknownSa),
            Some(State::Established(e)) if e.children.contains_key(&child) => Ok(()),
            Some(State::Established(_)) => Err(CommandError::UnknownChild),
            Some(_) => Err(CommandError::NotEstablished),
        }
    }

    /// Data-path report for one CHILD SA: when ESP last arrived on it, and bytes/packets carried
    /// since the last report (both directions). Feeds liveness checks and byte/packet lifetimes.
    pub fn report_child_activity(
        &mut self,
        now: Instant,
        sa: IkeSaHandle,
        child: ChildSaId,
        last_inbound: Option<Instant>,
        bytes: u64,
        packets: u64,
    ) {
        let Some(ike) = self.sas.get_mut(&sa) else {
            return;
        };
        let State::Established(e) = &mut ike.state else {
            return;
        };
        if let Some(at) = last_inbound {
            e.last_inbound = e.last_inbound.max(at);
        }
        let Some(c) = e.children.get_mut(&child) else {
            return;
        };
        c.bytes = c.bytes.saturating_add(bytes);
        c.packets = c.packets.saturating_add(packets);
        let over_bytes = e
            .lifetimes
            .child_rekey_bytes
            .is_some_and(|limit| c.bytes >= limit);
        let over_packets = e
            .lifetimes
            .child_rekey_packets
            .is_some_and(|limit| c.packets >= limit);
        if (over_bytes || over_packets) && !c.rekeyed && c.rekey_at.is_none_or(|t| t > now) {
            c.rekey_at = Some(now);
        }
        let over_hard = e
            .lifetimes
            .child_hard_bytes
            .is_some_and(|limit| c.bytes >= limit)
            || e.lifetimes
                .child_hard_packets
                .is_some_and(|limit| c.packets >= limit);
        if over_hard && !c.rekeyed {
            c.expire_at = Some(now);
        }
        let ike = self.sas.remove(&sa);
        if let Some(ike) = ike {
            self.reindex(now, ike);
        }
    }
}
