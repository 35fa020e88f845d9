//! The IKE_SA_INIT exchange ([RFC 7296 §1.2](https://www.rfc-editor.org/rfc/rfc7296#section-1.2)),
//! both ends: SA/KE/Nonce, NAT detection (§2.23), COOKIE (§2.6) and INVALID_KE_PAYLOAD retries.
//!
//! The responder answers COOKIE, INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN and INVALID_SYNTAX
//! without creating any state; only an acceptable request creates a (half-open) IKE SA. Both ends
//! keep the exact octets of both messages: the AUTH payloads sign them (§2.15).

use std::net::SocketAddr;
use std::sync::Arc;

use rand_core::RngCore;

use super::{auth, Ctx, IkeSa, RequestKind, Role, SaCrypto, State};
use crate::codec::{self, View};
use crate::config::PeerConfig;
use crate::crypto::{
    nat_detection_hash, DhGroup, IkeSaKeys, KeyExchange, SkCipher, NAT_DETECTION_HASH_LEN,
};
use crate::error::Error;
use crate::events::{CloseReason, IkeSaHandle};
use crate::path::{Path, Transport};
use crate::proposal::{self, protocol, SelectError};
use crate::wire::{
    self, ExchangeType, Flags, IkeHeader, Message, Nonce, Notify, NotifyType, PayloadBody,
};

/// How often an initiator follows COOKIE / INVALID_KE_PAYLOAD answers before giving up.
const MAX_INIT_RETRIES: u8 = 4;

/// Initiator, IKE_SA_INIT request sent.
pub(crate) struct ExpectInitResponse {
    ke: KeyExchange,
    ni: Vec<u8>,
    cookie: Option<Vec<u8>>,
    retries: u8,
    request: Vec<u8>,
}

/// What came of an IKE_SA_INIT request at the responder.
pub(crate) enum Responded {
    /// A new half-open IKE SA (its response is already queued).
    Created(Box<IkeSa>),
    /// Answered without state (COOKIE, INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN, INVALID_SYNTAX).
    Refused(Error),
}

/// The NAT detection hashes we send for `path`: (source, destination).
pub(crate) fn natd_payloads(
    ctx: &mut Ctx<'_>,
    spi_i: u64,
    spi_r: u64,
    path: &Path,
) -> ([u8; NAT_DETECTION_HASH_LEN], [u8; NAT_DETECTION_HASH_LEN]) {
    let mut source = nat_detection_hash(spi_i, spi_r, path.local);
    if ctx.config.force_encapsulation {
        // A source hash that cannot match makes the peer believe we are behind a NAT, so it
        // moves to port 4500 and encapsulates ESP in UDP (what strongSwan's kernel-libipsec does).
        ctx.rng.fill_bytes(&mut source);
    }
    (source, nat_detection_hash(spi_i, spi_r, path.remote))
}

/// The NAT_DETECTION_SOURCE_IP and NAT_DETECTION_DESTINATION_IP notifies carrying the hashes
/// of [`natd_payloads`] (RFC 7296 [§2.23](https://www.rfc-editor.org/rfc/rfc7296#section-2.23)).
pub(crate) fn natd_bodies<'a>(source: &'a [u8], destination: &'a [u8]) -> [PayloadBody<'a>; 2] {
    [
        PayloadBody::Notify(Notify::new(NotifyType::NatDetectionSourceIp, source)),
        PayloadBody::Notify(Notify::new(
            NotifyType::NatDetectionDestinationIp,
            destination,
        )),
    ]
}

/// NAT detection on received NATD notifies: (we are behind a NAT, the peer is). `None` when the
/// peer sent none (it does not support NAT traversal).
pub(crate) fn detect_nat(
    view: &View<'_, '_>,
    spi_i: u64,
    spi_r: u64,
    path: &Path,
) -> Option<(bool, bool)> {
    let destination: Vec<&[u8]> = view
        .notifies()
        .filter(|n| n.notify_type == NotifyType::NatDetectionDestinationIp)
        .map(|n| n.data)
        .collect();
    let source: Vec<&[u8]> = view
        .notifies()
        .filter(|n| n.notify_type == NotifyType::NatDetectionSourceIp)
        .map(|n| n.data)
        .collect();
    if destination.is_empty() || source.is_empty() {
        return None;
    }
    let hash_of = |addr: SocketAddr| nat_detection_hash(spi_i, spi_r, addr);
    let local = hash_of(path.local);
    let remote = hash_of(path.remote);
    let nat_local = !destination.contains(&local.as_slice());
    let nat_remote = !source.contains(&remote.as_slice());
    Some((nat_local, nat_remote))
}

/// Records the NAT detection result and floats to port 4500 when a NAT was found, when we force
/// encapsulation, or when we offer MOBIKE: an initiator supporting MOBIKE and NAT traversal
/// moves to 4500 for IKE_AUTH even without a NAT, so a later address change needs no port change
/// ([RFC 4555 §3.3](https://www.rfc-editor.org/rfc/rfc4555#section-3.3)).
fn move_to_nat_t(sa: &mut IkeSa, ctx: &Ctx<'_>, nat: Option<(bool, bool)>) {
    if let Some((nat_local, nat_remote)) = nat {
        sa.nat_local = nat_local;
        sa.nat_remote = nat_remote;
        if (nat_local || nat_remote || ctx.config.force_encapsulation || ctx.config.mobike)
            && sa.path.transport == Transport::Udp
        {
            sa.path = sa.path.to_nat_t_port();
        }
    }
}

/// Starts an IKE SA as initiator and sends the IKE_SA_INIT request.
pub(crate) fn initiate(
    ctx: &mut Ctx<'_>,
    handle: IkeSaHandle,
    peer: Arc<PeerConfig>,
    path: Path,
    spi_i: u64,
) -> Result<IkeSa, Error> {
    let group = peer
        .ike_proposals
        .iter()
        .find_map(|p| p.dh.first().copied())
        .ok_or(Error::NoProposalChosen)?;
    let mut sa = IkeSa::new(
        handle,
        Role::Initiator,
        (spi_i, 0),
        path,
        Some(peer),
        ctx.now,
    );
    let ke = KeyExchange::generate(group, ctx.rng);
    let ni = ctx.nonce();
    let mut state = ExpectInitResponse {
        ke,
        ni,
        cookie: None,
        retries: 0,
        request: Vec::new(),
    };
    send_init(&mut sa, ctx, &mut state)?;
    sa.state = State::InitiatorInit(Box::new(state));
    Ok(sa)
}

fn send_init(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    state: &mut ExpectInitResponse,
) -> Result<(), Error> {
    let peer = sa.peer.clone().ok_or(Error::UnexpectedExchange)?;
    let group = state.ke.group();
    let proposals: Vec<_> = peer
        .ike_proposals
        .iter()
        .zip(1u8..)
        .map(|(p, number)| {
            (
                number,
                protocol::IKE,
                Vec::new(),
                proposal::ike_proposal_transforms(p, group),
            )
        })
        .collect();
    let (source, destination) = natd_payloads(ctx, sa.spi_i, 0, &sa.path);
    let mut bodies = Vec::new();
    if let Some(cookie) = &state.cookie {
        bodies.push(PayloadBody::Notify(Notify::new(NotifyType::Cookie, cookie)));
    }
    bodies.push(codec::sa_payload(&proposals));
    bodies.push(PayloadBody::Ke(wire::KeyExchange {
        group: group.transform_id().into(),
        data: state.ke.public_value(),
    }));
    bodies.push(PayloadBody::Nonce(Nonce { data: &state.ni }));
    bodies.extend(natd_bodies(&source, &destination));
    let header = IkeHeader::new(
        sa.spi_i,
        0,
        ExchangeType::IkeSaInit,
        Flags::new(true, false),
        0,
    );
    let request = codec::plain(header, bodies)?;
    state.request = request.clone();
    sa.next_request_id = 0;
    sa.send_request(ctx, RequestKind::Init, request);
    Ok(())
}

/// Initiator: the IKE_SA_INIT response (or a COOKIE / INVALID_KE_PAYLOAD / error answer).
pub(crate) fn handle_response(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    mut state: ExpectInitResponse,
    bytes: &[u8],
    message: &Message<'_>,
) -> State {
    let view = View::new(&message.payloads);
    if let Err(e) = wire::check_critical_payloads(&message.payloads) {
        ctx.shared.counters.dropped_malformed += 1;
        sa.fail(CloseReason::Failed(e.into()));
        return State::InitiatorInit(Box::new(state));
    }
    if let Some(cookie) = view
        .notify(NotifyType::Cookie)
        .filter(|_| view.sa().is_none())
    {
        if (1..=64).contains(&cookie.data.len()) && state.retries < MAX_INIT_RETRIES {
            state.retries += 1;
            state.cookie = Some(cookie.data.to_vec());
            sa.pending = None;
            if let Err(e) = send_init(sa, ctx, &mut state) {
                sa.fail(CloseReason::Failed(e));
            }
        } else {
            ctx.shared.counters.dropped_malformed += 1;
        }
        return State::InitiatorInit(Box::new(state));
    }
    if let Some(error) = view.error_notify() {
        if error.notify_type == NotifyType::InvalidKePayload {
            let wanted = <[u8; 2]>::try_from(error.data)
                .ok()
                .map(u16::from_be_bytes)
                .and_then(DhGroup::from_transform_id);
            let offered = sa.peer.as_ref().is_some_and(|p| {
                wanted.is_some_and(|g| p.ike_proposals.iter().any(|prop| prop.dh.contains(&g)))
            });
            match wanted {
                Some(group)
                    if offered && group != state.ke.group() && state.retries < MAX_INIT_RETRIES =>
                {
                    state.retries += 1;
                    state.ke = KeyExchange::generate(group, ctx.rng);
                    sa.pending = None;
                    if let Err(e) = send_init(sa, ctx, &mut state) {
                        sa.fail(CloseReason::Failed(e));
                    }
                }
                _ => sa.fail(CloseReason::Failed(Error::NoProposalChosen)),
            }
            return State::InitiatorInit(Box::new(state));
        }
        let error = match error.notify_type {
            NotifyType::NoProposalChosen => Error::NoProposalChosen,
            NotifyType::InvalidSyntax => Error::InvalidSyntax("peer reported INVALID_SYNTAX"),
            _ => Error::TemporaryFailure,
        };
        sa.pending = None;
        sa.fail(CloseReason::Failed(error));
        return State::InitiatorInit(Box::new(state));
    }
    match complete(sa, ctx, state, bytes, message, &view) {
        Ok(next) => next,
        Err(e) => {
            ctx.shared.counters.dropped_malformed += 1;
            sa.pending = None;
            sa.fail(CloseReason::Failed(e));
            State::Closed
        }
    }
}

fn complete(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    state: ExpectInitResponse,
    bytes: &[u8],
    message: &Message<'_>,
    view: &View<'_, '_>,
) -> Result<State, Error> {
    let peer = sa.peer.clone().ok_or(Error::UnexpectedExchange)?;
    let sa_payload = view.sa().ok_or(Error::InvalidSyntax("no SA"))?;
    let (group, public) = view.ke().ok_or(Error::InvalidSyntax("no KE"))?;
    let nr = view.nonce().ok_or(Error::InvalidSyntax("no Nr"))?;
    let chosen = proposal::accept_ike_answer(&peer.ike_proposals, &codec::offers(sa_payload))
        .ok_or(Error::NoProposalChosen)?;
    let our_group = state.ke.group();
    if chosen.suite.dh != our_group || group != our_group.transform_id() {
        return Err(Error::InvalidKe(our_group));
    }
    let spi_r = message.header.spi_r;
    if spi_r == 0 {
        return Err(Error::InvalidSyntax("zero SPIr"));
    }
    sa.spi_r = spi_r;
    let shared = state.ke.agree(public)?;
    let keys = IkeSaKeys::derive(
        &chosen.suite.crypto_suite(),
        &shared,
        &state.ni,
        nr,
        sa.spi_i,
        spi_r,
    )?;
    install_crypto(sa, chosen.suite, &keys)?;
    sa.pending = None;
    move_to_nat_t(sa, ctx, detect_nat(view, sa.spi_i, spi_r, &sa.path));
    auth::start(
        sa,
        ctx,
        keys,
        state.request,
        bytes.to_vec(),
        state.ni,
        nr.to_vec(),
    )
}

/// Builds the SK ciphers for both directions from the IKE SA keys.
pub(crate) fn install_crypto(
    sa: &mut IkeSa,
    algorithms: proposal::IkeAlgorithms,
    keys: &IkeSaKeys,
) -> Result<(), Error> {
    use crate::crypto::Direction;
    let cipher = algorithms.cipher;
    let (ei, ai) = keys.sk_keys(Direction::InitiatorToResponder);
    let (er, ar) = keys.sk_keys(Direction::ResponderToInitiator);
    let i_to_r = SkCipher::new(cipher, ei, ai)?;
    let r_to_i = SkCipher::new(cipher, er, ar)?;
    let (outbound, inbound) = match sa.role {
        Role::Initiator => (i_to_r, r_to_i),
        Role::Responder => (r_to_i, i_to_r),
    };
    sa.crypto = Some(SaCrypto {
        algorithms,
        sk_d: keys.sk_d.clone(),
        outbound,
        inbound,
    });
    Ok(())
}

/// A response to an IKE_SA_INIT request that creates no state.
fn stateless_reply(
    ctx: &mut Ctx<'_>,
    request: &IkeHeader,
    path: Path,
    kind: NotifyType,
    data: &[u8],
) {
    let header = IkeHeader::new(
        request.spi_i,
        0,
        ExchangeType::IkeSaInit,
        Flags::new(false, true),
        0,
    );
    if let Ok(bytes) = codec::plain(header, vec![PayloadBody::Notify(Notify::new(kind, data))]) {
        ctx.transmit(path, bytes);
    }
}

/// Responder: an IKE_SA_INIT request for a new IKE SA. `half_open` is the number of half-open
/// SAs now, `spi_r` a fresh unused SPI.
pub(crate) fn respond(
    ctx: &mut Ctx<'_>,
    handle: IkeSaHandle,
    path: Path,
    bytes: &[u8],
    message: &Message<'_>,
    half_open: usize,
    spi_r: u64,
) -> Responded {
    let header = message.header;
    let view = View::new(&message.payloads);
    let refuse = |ctx: &mut Ctx<'_>, error: Error| {
        if let Some((kind, data)) = error.notify() {
            stateless_reply(ctx, &header, path, kind, &data);
        }
        Responded::Refused(error)
    };
    if let Err(e) = wire::check_critical_payloads(&message.payloads) {
        return refuse(ctx, e.into());
    }
    let (Some(sa_payload), Some((ke_group, public)), Some(ni)) =
        (view.sa(), view.ke(), view.nonce())
    else {
        return refuse(
            ctx,
            Error::InvalidSyntax("IKE_SA_INIT without SA, KE or Ni"),
        );
    };
    if half_open >= ctx.config.cookie_threshold {
        let presented = message.payloads.first().and_then(|p| match &p.body {
            PayloadBody::Notify(n) if n.notify_type == NotifyType::Cookie => Some(n.data),
            _ => None,
        });
        let valid = presented.is_some_and(|c| {
            ctx.shared
                .cookies
                .verify(c, ni, path.remote.ip(), header.spi_i)
        });
        if !valid {
            let cookie = ctx
                .shared
                .cookies
                .cookie(ni, path.remote.ip(), header.spi_i);
            stateless_reply(ctx, &header, path, NotifyType::Cookie, &cookie);
            ctx.shared.counters.cookies_sent += 1;
            return Responded::Refused(Error::CookieRequired);
        }
    }
    let chosen = match proposal::select_ike(
        &ctx.config.ike_proposals,
        &codec::offers(sa_payload),
        ke_group,
    ) {
        Ok(chosen) => chosen,
        Err(SelectError::InvalidKe(group)) => {
            ctx.shared.counters.invalid_ke_sent += 1;
            return refuse(ctx, Error::InvalidKe(group));
        }
        Err(SelectError::NoProposalChosen) => {
            ctx.shared.counters.no_proposal_chosen += 1;
            return refuse(ctx, Error::NoProposalChosen);
        }
    };
    let ke = KeyExchange::generate(chosen.suite.dh, ctx.rng);
    let ke_public = ke.public_value().to_vec();
    let shared = match ke.agree(public) {
        Ok(shared) => shared,
        Err(e) => {
            return refuse(
                ctx,
                Error::InvalidSyntax(match e {
                    crate::crypto::CryptoError::InvalidPublicValueLength { .. } => "KE length",
                    _ => "KE value",
                }),
            )
        }
    };
    let nr = ctx.nonce();
    let mut sa = IkeSa::new(
        handle,
        Role::Responder,
        (header.spi_i, spi_r),
        path,
        None,
        ctx.now,
    );
    let keys = match IkeSaKeys::derive(
        &chosen.suite.crypto_suite(),
        &shared,
        ni,
        &nr,
        header.spi_i,
        spi_r,
    )
    .map_err(Error::from)
    .and_then(|keys| install_crypto(&mut sa, chosen.suite, &keys).map(|()| keys))
    {
        Ok(keys) => keys,
        Err(e) => return Responded::Refused(e),
    };
    let nat = detect_nat(&view, header.spi_i, 0, &path);
    if let Some((nat_local, nat_remote)) = nat {
        sa.nat_local = nat_local;
        sa.nat_remote = nat_remote;
    }
    let response_proposal = [(
        chosen.number,
        protocol::IKE,
        Vec::new(),
        proposal::ike_suite_transforms(&chosen.suite),
    )];
    let (source, destination) = natd_payloads(ctx, header.spi_i, spi_r, &path);
    let mut bodies = vec![
        codec::sa_payload(&response_proposal),
        PayloadBody::Ke(wire::KeyExchange {
            group: chosen.suite.dh.transform_id().into(),
            data: &ke_public,
        }),
        PayloadBody::Nonce(Nonce { data: &nr }),
    ];
    if nat.is_some() {
        bodies.extend(natd_bodies(&source, &destination));
    }
    let response_header = IkeHeader::new(
        header.spi_i,
        spi_r,
        ExchangeType::IkeSaInit,
        Flags::new(false, true),
        0,
    );
    let response = match codec::plain(response_header, bodies) {
        Ok(response) => response,
        Err(e) => return Responded::Refused(e),
    };
    sa.send_response(ctx, 0, response.clone());
    sa.state = State::ResponderAuth(Box::new(auth::ExpectAuthRequest::new(
        keys,
        bytes.to_vec(),
        response,
        ni.to_vec(),
        nr,
    )));
    Responded::Created(Box::new(sa))
}
