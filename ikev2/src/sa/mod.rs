//! One IKE SA: the state shared by every exchange (SPIs, path, keys, message IDs, the request in
//! flight and the cached response) and the exchange states themselves, one struct per state,
//! consumed on transition (the rustls `Expect*` pattern):
//!
//! ```text
//! initiator: ExpectInitResponse --> ExpectAuthResponse --AuthVerified--> Established
//! responder: (IKE_SA_INIT, init.rs) --> ExpectAuthRequest --AuthVerified--> Established
//! ```
//!
//! Message IDs follow [RFC 7296 §2.3](https://www.rfc-editor.org/rfc/rfc7296#section-2.3) with a
//! window of one in each direction: one request of ours in flight (retransmitted with
//! exponential backoff until answered or given up), and the response to the peer's last request
//! cached and resent when that request is retransmitted.

pub(crate) mod auth;
pub(crate) mod child;
pub(crate) mod create_child;
pub(crate) mod established;
pub(crate) mod init;
pub(crate) mod mobike;
pub(crate) mod rekey_ike;

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;

use crate::codec;
use crate::config::{EndpointConfig, PeerConfig};
use crate::counters::Counters;
use crate::cp::AddressPool;
use crate::crypto::{CookieSecrets, Secret, SkCipher};
use crate::error::Error;
use crate::events::{CloseReason, Event, IkeSaHandle};
use crate::path::{Path, Transmit};
use crate::proposal::IkeAlgorithms;
use crate::wire::{ExchangeType, Flags, IkeHeader, Message, Notify, NotifyType, PayloadBody};

/// How long an IKE SA replaced by a rekey waits for the peer's Delete before it goes.
const REKEYED_LINGER: std::time::Duration = std::time::Duration::from_secs(60);

/// Which end of the IKE SA we are (the original roles, §2.2; kept across rekeys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Initiator,
    Responder,
}

/// Everything the endpoint shares with the SAs while one of them runs.
pub(crate) struct Shared {
    pub(crate) transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) counters: Counters,
    /// Inbound ESP SPIs in use (unique within the endpoint).
    pub(crate) child_spis: BTreeSet<u32>,
    pub(crate) cookies: CookieSecrets,
    /// IKE SAs created while running another one (IKE rekeys), for the endpoint to adopt.
    pub(crate) spawned: Vec<IkeSa>,
    pub(crate) next_handle: u64,
}

impl Shared {
    /// A fresh inbound ESP SPI (≥ 256: lower values are reserved, RFC 4303 §2.1).
    pub(crate) fn allocate_child_spi(&mut self, rng: &mut ChaCha20Rng) -> u32 {
        loop {
            let spi = rng.next_u32();
            if spi >= 256 && self.child_spis.insert(spi) {
                return spi;
            }
        }
    }
}

/// The context an SA runs in.
pub(crate) struct Ctx<'a> {
    pub(crate) now: Instant,
    pub(crate) rng: &'a mut ChaCha20Rng,
    pub(crate) config: &'a EndpointConfig,
    pub(crate) pool: &'a mut dyn AddressPool,
    pub(crate) shared: &'a mut Shared,
    /// Local IKE SPIs in use.
    pub(crate) spis_in_use: &'a std::collections::BTreeMap<u64, IkeSaHandle>,
}

impl Ctx<'_> {
    pub(crate) fn event(&mut self, event: Event) {
        self.shared.events.push_back(event);
    }

    pub(crate) fn transmit(&mut self, path: Path, data: Vec<u8>) {
        self.shared.counters.sent += 1;
        self.shared.transmits.push_back(Transmit { path, data });
    }

    pub(crate) fn nonce(&mut self) -> Vec<u8> {
        let mut nonce = vec![0; 32];
        self.rng.fill_bytes(&mut nonce);
        nonce
    }
}

/// The negotiated IKE SA algorithms and the keys still needed after IKE_SA_INIT.
pub(crate) struct SaCrypto {
    pub(crate) algorithms: IkeAlgorithms,
    pub(crate) sk_d: Secret,
    pub(crate) outbound: SkCipher,
    pub(crate) inbound: SkCipher,
}

/// What our request in flight is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RequestKind {
    Init,
    Auth,
    Liveness,
    DeleteIke,
    DeleteChild(crate::events::ChildSaId),
    CreateChild,
    RekeyChild(crate::events::ChildSaId),
    RekeyIke,
    /// [`crate::Endpoint::migrate`]: tells the peer about this path (MOBIKE
    /// UPDATE_SA_ADDRESSES, or a liveness check it follows).
    AnnouncePath(Path),
}

/// Our request in flight.
pub(crate) struct Pending {
    pub(crate) id: u32,
    pub(crate) data: Vec<u8>,
    pub(crate) kind: RequestKind,
    pub(crate) attempts: u32,
    pub(crate) retransmit_at: Instant,
}

/// The exchange state.
pub(crate) enum State {
    InitiatorInit(Box<init::ExpectInitResponse>),
    InitiatorAuth(Box<auth::ExpectAuthResponse>),
    ResponderAuth(Box<auth::ExpectAuthRequest>),
    Established(Box<established::Established>),
    /// Replaced by a rekeyed IKE SA (the successor); only the Delete remains to be done.
    Rekeyed {
        since: Instant,
    },
    Closed,
}

/// One IKE SA.
pub(crate) struct IkeSa {
    pub(crate) handle: IkeSaHandle,
    pub(crate) role: Role,
    pub(crate) spi_i: u64,
    pub(crate) spi_r: u64,
    pub(crate) path: Path,
    /// The path the peer's request being answered arrived on: responses go back there
    /// ([RFC 7296 §2.11](https://www.rfc-editor.org/rfc/rfc7296#section-2.11)), which is
    /// `path` unless a MOBIKE SA did not follow the peer (see [`mobike::follows_implicitly`]).
    pub(crate) request_path: Path,
    /// The peer's address when the SA was created (the responder's IKE_SA_INIT index key).
    pub(crate) initial_remote: std::net::SocketAddr,
    pub(crate) peer: Option<Arc<PeerConfig>>,
    pub(crate) state: State,
    pub(crate) crypto: Option<SaCrypto>,
    pub(crate) created: Instant,
    pub(crate) nat_local: bool,
    pub(crate) nat_remote: bool,
    /// Our next request's message ID.
    pub(crate) next_request_id: u32,
    pub(crate) pending: Option<Pending>,
    /// The next request ID we expect from the peer.
    pub(crate) peer_next_id: u32,
    /// The response to the peer's last request.
    pub(crate) cached_response: Option<(u32, Vec<u8>)>,
    /// Set by a handler that decided to end the SA; acted on once the state is back in place.
    pub(crate) closing: Option<CloseReason>,
    /// MOBIKE (RFC 4555): negotiated or not, and our address update in flight.
    pub(crate) mobike: mobike::Mobike,
}

impl IkeSa {
    /// A new IKE SA created at `now`, with no keys, no NAT detected and no exchange under way;
    /// its state is `Closed` until the caller installs the first one.
    pub(crate) fn new(
        handle: IkeSaHandle,
        role: Role,
        (spi_i, spi_r): (u64, u64),
        path: Path,
        peer: Option<Arc<PeerConfig>>,
        now: Instant,
    ) -> Self {
        IkeSa {
            handle,
            role,
            spi_i,
            spi_r,
            path,
            request_path: path,
            initial_remote: path.remote,
            peer,
            state: State::Closed,
            crypto: None,
            created: now,
            nat_local: false,
            nat_remote: false,
            next_request_id: 0,
            pending: None,
            peer_next_id: 0,
            cached_response: None,
            closing: None,
            mobike: mobike::Mobike::default(),
        }
    }

    /// Our SPI (the key of the endpoint's SA table).
    pub(crate) fn local_spi(&self) -> u64 {
        match self.role {
            Role::Initiator => self.spi_i,
            Role::Responder => self.spi_r,
        }
    }

    /// The peer's SPI (0 until an initiator has the IKE_SA_INIT response).
    pub(crate) fn peer_spi(&self) -> u64 {
        match self.role {
            Role::Initiator => self.spi_r,
            Role::Responder => self.spi_i,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    pub(crate) fn is_half_open(&self) -> bool {
        matches!(self.state, State::ResponderAuth(_))
    }

    pub(crate) fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_))
    }

    /// A header for a message of ours.
    pub(crate) fn header(&self, exchange: ExchangeType, response: bool, id: u32) -> IkeHeader {
        let flags = Flags::new(self.role == Role::Initiator, response);
        IkeHeader::new(self.spi_i, self.spi_r, exchange, flags, id)
    }

    /// Protects `bodies` into a complete message.
    pub(crate) fn protect(
        &mut self,
        ctx: &mut Ctx<'_>,
        header: IkeHeader,
        bodies: Vec<PayloadBody<'_>>,
    ) -> Result<Vec<u8>, Error> {
        let crypto = self.crypto.as_mut().ok_or(Error::UnexpectedExchange)?;
        codec::protected(header, bodies, &mut crypto.outbound, ctx.rng)
    }

    /// Sends a new request (the window is one: callers check `pending` first).
    pub(crate) fn send_request(&mut self, ctx: &mut Ctx<'_>, kind: RequestKind, data: Vec<u8>) {
        let id = self.next_request_id;
        self.next_request_id = self.next_request_id.wrapping_add(1);
        ctx.transmit(self.path, data.clone());
        let retransmit_at = ctx.now + ctx.config.retransmit.timeout(0);
        self.pending = Some(Pending {
            id,
            data,
            kind,
            attempts: 0,
            retransmit_at,
        });
    }

    /// Sends the response to the peer's request `id` on the path the request came in on, and
    /// caches it.
    pub(crate) fn send_response(&mut self, ctx: &mut Ctx<'_>, id: u32, data: Vec<u8>) {
        ctx.transmit(self.request_path, data.clone());
        self.cached_response = Some((id, data));
        self.peer_next_id = id.wrapping_add(1);
    }

    /// Builds, protects and sends a request carrying `bodies`.
    pub(crate) fn request(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        kind: RequestKind,
        bodies: Vec<PayloadBody<'_>>,
    ) -> Result<(), Error> {
        let header = self.header(exchange, false, self.next_request_id);
        let data = self.protect(ctx, header, bodies)?;
        self.send_request(ctx, kind, data);
        Ok(())
    }

    /// Builds, protects, sends and caches a response.
    pub(crate) fn respond(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        id: u32,
        bodies: Vec<PayloadBody<'_>>,
    ) -> Result<(), Error> {
        let header = self.header(exchange, true, id);
        let data = self.protect(ctx, header, bodies)?;
        self.send_response(ctx, id, data);
        Ok(())
    }

    /// Answers the peer's request `id` with the notify of `error` (RFC 7296
    /// [§3.10.1](https://www.rfc-editor.org/rfc/rfc7296#section-3.10.1)), or with `fallback`
    /// for an error that has none. If the answer cannot be sent, the peer retransmits and gets
    /// the same.
    pub(crate) fn respond_error(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        id: u32,
        error: &Error,
        fallback: NotifyType,
    ) {
        let (kind, data) = error.notify().unwrap_or((fallback, Vec::new()));
        let notify = PayloadBody::Notify(Notify::new(kind, &data));
        let _ = self.respond(ctx, exchange, id, vec![notify]);
    }

    /// [`IkeSa::respond`]; an answer that cannot be encoded ends the SA.
    pub(crate) fn respond_or_fail(
        &mut self,
        ctx: &mut Ctx<'_>,
        exchange: ExchangeType,
        id: u32,
        bodies: Vec<PayloadBody<'_>>,
    ) {
        if self.respond(ctx, exchange, id, bodies).is_err() {
            self.fail(CloseReason::Failed(Error::InvalidSyntax("encode")));
        }
    }

    /// When the SA next needs [`IkeSa::handle_timeout`].
    pub(crate) fn deadline(&self, config: &EndpointConfig) -> Option<Instant> {
        let retransmit = self.pending.as_ref().map(|p| p.retransmit_at);
        let state = match &self.state {
            State::ResponderAuth(_) => Some(self.created + config.half_open_timeout),
            State::Established(e) => e.deadline(),
            State::Rekeyed { since, .. } => Some(*since + REKEYED_LINGER),
            _ => None,
        };
        [retransmit, state].into_iter().flatten().min()
    }

    /// Retransmits, gives up, or runs the state's timers.
    pub(crate) fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(pending) = self.pending.as_mut() {
            if pending.retransmit_at <= ctx.now {
                if pending.attempts >= ctx.config.retransmit.tries {
                    ctx.shared.counters.exchanges_timed_out += 1;
                    let reason = match pending.kind {
                        RequestKind::DeleteIke => CloseReason::Local,
                        _ => CloseReason::PeerUnreachable,
                    };
                    self.pending = None;
                    self.close(ctx, reason);
                    return;
                }
                pending.attempts += 1;
                pending.retransmit_at = ctx.now + ctx.config.retransmit.timeout(pending.attempts);
                let data = pending.data.clone();
                ctx.shared.counters.retransmits += 1;
                ctx.transmit(self.path, data);
            }
        }
        if matches!(self.state, State::ResponderAuth(_))
            && self.created + ctx.config.half_open_timeout <= ctx.now
        {
            self.close(ctx, CloseReason::HalfOpenTimeout);
            return;
        }
        if matches!(self.state, State::Rekeyed { since, .. } if since + REKEYED_LINGER <= ctx.now) {
            self.close(ctx, CloseReason::Local);
            return;
        }
        established::handle_timeout(self, ctx);
        self.finish_transition(ctx);
    }

    /// Handles a message for this SA (already matched by SPI).
    pub(crate) fn handle(
        &mut self,
        ctx: &mut Ctx<'_>,
        path: Path,
        bytes: &[u8],
        message: &Message<'_>,
    ) {
        let header = message.header;
        if header.flags.is_response() {
            self.handle_response(ctx, path, bytes, message);
            return;
        }
        if header.exchange_type == ExchangeType::IkeSaInit {
            // A retransmitted IKE_SA_INIT request: resend our response (endpoint matched SPIi).
            if let (Some((0, response)), true) =
                (&self.cached_response, self.role == Role::Responder)
            {
                let response = response.clone();
                ctx.shared.counters.retransmitted_requests += 1;
                ctx.transmit(self.path, response);
            }
            return;
        }
        let Some(crypto) = self.crypto.as_ref() else {
            ctx.shared.counters.dropped_unexpected += 1;
            return;
        };
        let plaintext = match codec::open(message, bytes, &crypto.inbound) {
            Ok(p) => p,
            Err(e) => return self.drop_message(ctx, &e),
        };
        let id = header.message_id;
        if id != self.peer_next_id {
            match &self.cached_response {
                Some((cached, response))
                    if cached.wrapping_add(1) == self.peer_next_id && *cached == id =>
                {
                    // The cached response goes back where the retransmission came from (RFC
                    // 7296 §2.11; a MOBIKE initiator keeps retransmitting from its new address,
                    // RFC 4555 §3.5), but a retransmission never moves the SA: an old request
                    // replayed from an old path cannot take it back there.
                    let response = response.clone();
                    ctx.shared.counters.retransmitted_requests += 1;
                    ctx.transmit(path, response);
                }
                _ => ctx.shared.counters.dropped_message_id += 1,
            }
            return;
        }
        let payloads = match codec::inner(message, bytes, &plaintext) {
            Ok(p) => p,
            Err(e) => {
                // Authenticated but malformed: answer with the notify (§2.21.2).
                ctx.shared.counters.dropped_malformed += 1;
                if let Some((kind, data)) = e.notify() {
                    let notify = crate::wire::Notify::new(kind, &data);
                    let _ = self.respond(
                        ctx,
                        header.exchange_type,
                        id,
                        vec![PayloadBody::Notify(notify)],
                    );
                }
                return;
            }
        };
        let view = codec::View::new(&payloads);
        if !mobike::is_explicit_update(self, &view) {
            self.follow_peer(ctx, path);
        }
        self.request_path = path;
        let state = std::mem::replace(&mut self.state, State::Closed);
        self.state = match state {
            State::ResponderAuth(s) if header.exchange_type == ExchangeType::IkeAuth => {
                auth::handle_request(self, ctx, *s, id, view)
            }
            State::Established(s) => {
                established::handle_request(self, ctx, s, header.exchange_type, id, view)
            }
            old @ State::Rekeyed { .. } => {
                rekey_ike::handle_old_request(self, ctx, header.exchange_type, id, view);
                old
            }
            other => {
                ctx.shared.counters.dropped_unexpected += 1;
                other
            }
        };
        self.finish_transition(ctx);
    }

    fn handle_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        path: Path,
        bytes: &[u8],
        message: &Message<'_>,
    ) {
        let header = message.header;
        let Some(pending) = self.pending.as_ref() else {
            ctx.shared.counters.dropped_message_id += 1;
            return;
        };
        if pending.id != header.message_id {
            ctx.shared.counters.dropped_message_id += 1;
            return;
        }
        let kind = pending.kind.clone();
        if kind == RequestKind::Init {
            if header.exchange_type != ExchangeType::IkeSaInit {
                ctx.shared.counters.dropped_unexpected += 1;
                return;
            }
            if let State::InitiatorInit(s) = std::mem::replace(&mut self.state, State::Closed) {
                self.state = init::handle_response(self, ctx, *s, bytes, message);
            }
            self.finish_transition(ctx);
            return;
        }
        let state = std::mem::replace(&mut self.state, State::Closed);
        let Some(crypto) = self.crypto.as_ref() else {
            self.state = state;
            ctx.shared.counters.dropped_unexpected += 1;
            return;
        };
        let plaintext = match codec::open(message, bytes, &crypto.inbound) {
            Ok(p) => p,
            Err(e) => {
                self.state = state;
                return self.drop_message(ctx, &e);
            }
        };
        let payloads = match codec::inner(message, bytes, &plaintext) {
            Ok(p) => p,
            Err(e) => {
                self.state = state;
                return self.drop_message(ctx, &e);
            }
        };
        self.pending = None;
        self.follow_peer(ctx, path);
        let view = codec::View::new(&payloads);
        self.state = match state {
            State::InitiatorAuth(s) if kind == RequestKind::Auth => {
                auth::handle_response(self, ctx, *s, view)
            }
            State::Established(s) => established::handle_response(self, ctx, s, kind, view),
            old @ State::Rekeyed { .. } => {
                if kind == RequestKind::DeleteIke {
                    self.fail(CloseReason::Local);
                }
                old
            }
            other => {
                ctx.shared.counters.dropped_unexpected += 1;
                other
            }
        };
        self.finish_transition(ctx);
    }

    /// Ends the SA once the current handler has put its state back.
    pub(crate) fn fail(&mut self, reason: CloseReason) {
        self.closing.get_or_insert(reason);
    }

    /// After a state change: close if a handler asked to, else start a queued command once the
    /// window is free.
    fn finish_transition(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(reason) = self.closing.take() {
            self.close(ctx, reason);
            return;
        }
        if self.is_established() && self.pending.is_none() {
            established::start_queued(self, ctx);
        }
    }

    /// NAT rebinding and transport changes: an authenticated message from another path (new
    /// address or port, another TCP connection) moves the SA there (RFC 7296 §2.23, RFC 9329);
    /// on a MOBIKE SA only as [`mobike::follows_implicitly`] allows.
    fn follow_peer(&mut self, ctx: &mut Ctx<'_>, path: Path) {
        if path != self.path && mobike::follows_implicitly(self) {
            self.path = path;
            if self.is_established() {
                ctx.event(Event::PathChanged {
                    sa: self.handle,
                    path,
                });
            }
        }
    }

    fn drop_message(&mut self, ctx: &mut Ctx<'_>, error: &Error) {
        match error {
            Error::IntegrityCheckFailed => ctx.shared.counters.dropped_integrity += 1,
            _ => ctx.shared.counters.dropped_malformed += 1,
        }
    }

    /// Ends the SA: CHILD SAs deleted, virtual IPs released, `Closed` emitted. An SA retired by
    /// an IKE rekey holds nothing and goes silently: its successor carries its handle on.
    pub(crate) fn close(&mut self, ctx: &mut Ctx<'_>, reason: CloseReason) {
        if matches!(self.state, State::Rekeyed { .. }) {
            self.state = State::Closed;
            self.pending = None;
            return;
        }
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Established(e) => established::release(self.handle, *e, ctx),
            State::InitiatorAuth(s) => {
                ctx.shared.child_spis.remove(&s.child.inbound_spi);
            }
            _ => {}
        }
        self.pending = None;
        ctx.shared.counters.ike_sas_closed += 1;
        ctx.event(Event::Closed {
            sa: self.handle,
            reason,
        });
    }
}
