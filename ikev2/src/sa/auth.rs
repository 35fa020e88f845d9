//! The IKE_AUTH exchange ([RFC 7296 §1.2](https://www.rfc-editor.org/rfc/rfc7296#section-1.2),
//! PSK authentication §2.15) with the first CHILD SA, the configuration payload (§2.19) and
//! traffic selector narrowing (§2.9).
//!
//! The only way into [`Established`] is through [`verify_psk_auth`], whose [`AuthVerified`]
//! token the established state keeps. If the IKE SA authenticates but its first CHILD SA cannot
//! be created (NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE, INTERNAL_ADDRESS_FAILURE), the responder
//! answers with that notify and keeps the IKE SA (§1.2); the initiator, which has no use for an
//! IKE SA without a tunnel, deletes it and reports the error.
//!
//! MOBIKE is negotiated here ([RFC 4555 §3.2](https://www.rfc-editor.org/rfc/rfc4555#section-3.2)):
//! the initiator offers MOBIKE_SUPPORTED when [`crate::EndpointConfig::mobike`] is on, a
//! responder with it on answers the offer, and both record the result on the IKE SA.

use super::child::{self, NewChild, PendingChild};
use super::established::{Command, Established};
use super::{Ctx, IkeSa, RequestKind, State};
use crate::codec::{self, View};
use crate::config::PeerConfig;
use crate::cp::{self, VirtualIp};
use crate::crypto::{
    psk_auth, verify_psk_auth, AuthVerified, IkeSaKeys, PrfAlg, Secret, SignedOctets,
};
use crate::error::Error;
use crate::events::{CloseReason, Event};
use crate::identity::Identity;
use crate::proposal::{self, without_pfs};
use crate::ts::TrafficSelector;
use crate::wire::{
    AuthMethod, Authentication, CfgType, ExchangeType, Identification, Notify, NotifyType,
    PayloadBody,
};

/// Initiator, IKE_AUTH request sent.
pub(crate) struct ExpectAuthResponse {
    sk_pr: Secret,
    init_response: Vec<u8>,
    ni: Vec<u8>,
    nr: Vec<u8>,
    pub(crate) child: PendingChild,
}

/// Responder, IKE_SA_INIT answered (half-open).
pub(crate) struct ExpectAuthRequest {
    sk_pi: Secret,
    sk_pr: Secret,
    init_request: Vec<u8>,
    init_response: Vec<u8>,
    ni: Vec<u8>,
    nr: Vec<u8>,
}

impl ExpectAuthRequest {
    pub(crate) fn new(
        keys: IkeSaKeys,
        init_request: Vec<u8>,
        init_response: Vec<u8>,
        ni: Vec<u8>,
        nr: Vec<u8>,
    ) -> Self {
        ExpectAuthRequest {
            sk_pi: keys.sk_pi,
            sk_pr: keys.sk_pr,
            init_request,
            init_response,
            ni,
            nr,
        }
    }
}

/// Initiator: sends IKE_AUTH right after IKE_SA_INIT.
pub(crate) fn start(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    keys: IkeSaKeys,
    init_request: Vec<u8>,
    init_response: Vec<u8>,
    ni: Vec<u8>,
    nr: Vec<u8>,
) -> Result<State, Error> {
    let peer = sa.peer.clone().ok_or(Error::UnexpectedExchange)?;
    let prf = sa
        .crypto
        .as_ref()
        .ok_or(Error::UnexpectedExchange)?
        .algorithms
        .prf;
    let id_body = codec::id_body(&peer.local_id);
    let auth = psk_auth(
        prf,
        &peer.psk,
        &SignedOctets {
            real_message: &init_request,
            peer_nonce: &nr,
            sk_p: &keys.sk_pi,
            id_payload_body: &id_body,
        },
    );
    let inbound_spi = ctx.shared.allocate_child_spi(ctx.rng);
    let child = PendingChild {
        inbound_spi,
        proposals: without_pfs(&peer.esp_proposals),
        ts_i: peer.local_ts.clone(),
        ts_r: peer.remote_ts.clone(),
        pfs: None,
        nonce: Vec::new(),
        rekeys: None,
    };
    let offer = child.offer();
    let ts_i = codec::ts_payload(&child.ts_i);
    let ts_r = codec::ts_payload(&child.ts_r);
    let local_data = peer.local_id.data();
    let remote_exact = match &peer.remote_id {
        crate::identity::IdentityPattern::Exact(id) => Some((id.clone(), id.data())),
        _ => None,
    };
    let cp_request = cp::request(&peer.virtual_ip);
    let mut bodies = vec![
        PayloadBody::IdI(codec::identification(&peer.local_id, &local_data)),
        PayloadBody::Notify(Notify::new(NotifyType::InitialContact, &[])),
    ];
    if ctx.config.mobike {
        // Its data is empty when sent and ignored when received (RFC 4555 §4.2.1).
        bodies.push(PayloadBody::Notify(Notify::new(
            NotifyType::MobikeSupported,
            &[],
        )));
    }
    if let Some((id, data)) = &remote_exact {
        bodies.push(PayloadBody::IdR(codec::identification(id, data)));
    }
    bodies.push(PayloadBody::Auth(Authentication {
        method: AuthMethod::SharedKeyMic,
        data: auth.expose(),
    }));
    if !cp_request.is_empty() {
        bodies.push(codec::cp_payload(CfgType::Request, &cp_request));
    }
    bodies.extend(child::sa_ts_bodies(&offer, &ts_i, &ts_r));
    if let Err(e) = sa.request(ctx, ExchangeType::IkeAuth, RequestKind::Auth, bodies) {
        ctx.shared.child_spis.remove(&inbound_spi);
        return Err(e);
    }
    Ok(State::InitiatorAuth(Box::new(ExpectAuthResponse {
        sk_pr: keys.sk_pr,
        init_response,
        ni,
        nr,
        child,
    })))
}

/// The error a CHILD SA notify in an IKE_AUTH response stands for.
fn child_error(kind: NotifyType) -> Error {
    match kind {
        NotifyType::NoProposalChosen => Error::NoProposalChosen,
        NotifyType::TsUnacceptable => Error::TsUnacceptable,
        NotifyType::InternalAddressFailure | NotifyType::FailedCpRequired => {
            Error::InternalAddressFailure
        }
        NotifyType::AuthenticationFailed => Error::AuthenticationFailed,
        _ => Error::TemporaryFailure,
    }
}

/// Verifies the peer's AUTH payload (shared key MIC, RFC 7296
/// [§2.15](https://www.rfc-editor.org/rfc/rfc7296#section-2.15)): a MAC keyed from `psk` over the
/// IKE_SA_INIT message the peer sent (`peer_init`, the received octets), our nonce and the peer's
/// ID payload as received (`id`), with the peer's SK_p. Any other method fails authentication.
fn verify_peer_psk(
    view: &View<'_, '_>,
    prf: PrfAlg,
    psk: &Secret,
    id: &Identification<'_>,
    peer_init: &[u8],
    our_nonce: &[u8],
    peer_sk_p: &Secret,
) -> Result<AuthVerified, Error> {
    let auth = view
        .auth()
        .filter(|a| a.method == AuthMethod::SharedKeyMic)
        .ok_or(Error::AuthenticationFailed)?;
    let octets = SignedOctets {
        real_message: peer_init,
        peer_nonce: our_nonce,
        sk_p: peer_sk_p,
        id_payload_body: &codec::received_id_body(id),
    };
    verify_psk_auth(prf, psk, &octets, auth.data).map_err(|_| Error::AuthenticationFailed)
}

/// Whether MOBIKE is on for us and the peer's IKE_AUTH message offers (or answers) it: then both
/// sides sent MOBIKE_SUPPORTED (we send it whenever it is on for us).
fn offers_mobike(ctx: &Ctx<'_>, view: &View<'_, '_>) -> bool {
    ctx.config.mobike && view.notify(NotifyType::MobikeSupported).is_some()
}

/// Counts and reports the IKE SA as established (both roles, once AUTH verified).
fn announce_established(sa: &IkeSa, ctx: &mut Ctx<'_>, peer: &PeerConfig, remote_id: &Identity) {
    ctx.shared.counters.ike_sas_established += 1;
    if sa.mobike.negotiated {
        ctx.shared.counters.mobike_established += 1;
    }
    ctx.event(Event::IkeSaEstablished {
        sa: sa.handle,
        local_id: peer.local_id.clone(),
        remote_id: remote_id.clone(),
        nat_local: sa.nat_local,
        nat_remote: sa.nat_remote,
        path: sa.path,
        mobike: sa.mobike.negotiated,
    });
}

/// Responder: the IKE_AUTH request.
pub(crate) fn handle_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    state: ExpectAuthRequest,
    id: u32,
    view: View<'_, '_>,
) -> State {
    let Some(prf) = sa.crypto.as_ref().map(|c| c.algorithms.prf) else {
        return State::Closed;
    };
    let verified = (|| {
        let id_i = view.id_i().ok_or(Error::AuthenticationFailed)?;
        let remote_id = codec::identity(id_i)?;
        let peer = ctx
            .config
            .find_peer(&remote_id)
            .cloned()
            .ok_or(Error::AuthenticationFailed)?;
        let proof = verify_peer_psk(
            &view,
            prf,
            &peer.psk,
            id_i,
            &state.init_request,
            &state.nr,
            &state.sk_pi,
        )?;
        Ok::<_, Error>((peer, remote_id, proof))
    })();
    let (peer, remote_id, proof) = match verified {
        Ok(v) => v,
        Err(e) => {
            ctx.shared.counters.authentication_failed += 1;
            let notify = PayloadBody::Notify(Notify::new(NotifyType::AuthenticationFailed, &[]));
            let _ = sa.respond(ctx, ExchangeType::IkeAuth, id, vec![notify]);
            sa.fail(CloseReason::Failed(e));
            return State::Closed;
        }
    };
    sa.peer = Some(peer.clone());
    sa.mobike.negotiated = offers_mobike(ctx, &view);
    sa.mobike.original_initiator = false;
    let id_body = codec::id_body(&peer.local_id);
    let auth = psk_auth(
        prf,
        &peer.psk,
        &SignedOctets {
            real_message: &state.init_response,
            peer_nonce: &state.ni,
            sk_p: &state.sk_pr,
            id_payload_body: &id_body,
        },
    );
    announce_established(sa, ctx, &peer, &remote_id);
    let reply = view
        .cp()
        .filter(|c| c.cfg_type == CfgType::Request)
        .map(|c| {
            cp::answer(
                &codec::attributes(c),
                &peer.virtual_ip,
                &remote_id,
                ctx.pool,
            )
        });
    let assigned = reply
        .as_ref()
        .map(|r| r.assigned.clone())
        .unwrap_or_default();
    if assigned != VirtualIp::default() {
        ctx.event(Event::VirtualIp {
            sa: sa.handle,
            assigned: assigned.clone(),
        });
    }
    let mut established = Established::new(proof, remote_id, assigned.clone(), &peer, ctx);
    let remote_allowed: Vec<TrafficSelector> = if assigned.addresses.is_empty() {
        peer.remote_ts.clone()
    } else {
        assigned
            .addresses
            .iter()
            .map(|a| TrafficSelector::host(*a))
            .collect()
    };
    let chosen = if reply.as_ref().is_some_and(|r| r.address_failure) {
        Err(Error::InternalAddressFailure)
    } else {
        child::choose(
            &view,
            &without_pfs(&peer.esp_proposals),
            &peer,
            &remote_allowed,
            None,
        )
    };
    let local_data = peer.local_id.data();
    let mut bodies = vec![
        PayloadBody::IdR(codec::identification(&peer.local_id, &local_data)),
        PayloadBody::Auth(Authentication {
            method: AuthMethod::SharedKeyMic,
            data: auth.expose(),
        }),
    ];
    if let Some(reply) = &reply {
        bodies.push(codec::cp_payload(CfgType::Reply, &reply.attributes));
    }
    if sa.mobike.negotiated {
        bodies.push(PayloadBody::Notify(Notify::new(
            NotifyType::MobikeSupported,
            &[],
        )));
    }
    let error_data;
    let (offer, ts_i, ts_r);
    match chosen {
        Ok(chosen) => {
            let inbound_spi = ctx.shared.allocate_child_spi(ctx.rng);
            let new = chosen.as_responder(inbound_spi, &state.ni, &state.nr, peer.lifetimes);
            match child::install(sa, ctx, new) {
                Ok(installed) => {
                    established.children.insert(installed.id, installed);
                }
                Err(_) => {
                    ctx.shared.child_spis.remove(&inbound_spi);
                }
            }
            offer = child::answer_offer(&chosen, inbound_spi);
            ts_i = codec::ts_payload(&chosen.ts_i);
            ts_r = codec::ts_payload(&chosen.ts_r);
            bodies.extend(child::sa_ts_bodies(&offer, &ts_i, &ts_r));
        }
        Err(e) => {
            ctx.shared.counters.child_sa_refused += 1;
            error_data = e
                .notify()
                .unwrap_or((NotifyType::TemporaryFailure, Vec::new()));
            bodies.push(PayloadBody::Notify(Notify::new(
                error_data.0,
                &error_data.1,
            )));
        }
    }
    sa.respond_or_fail(ctx, ExchangeType::IkeAuth, id, bodies);
    State::Established(Box::new(established))
}

/// Initiator: the IKE_AUTH response.
pub(crate) fn handle_response(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    state: ExpectAuthResponse,
    view: View<'_, '_>,
) -> State {
    let Some(peer) = sa.peer.clone() else {
        return State::Closed;
    };
    let Some(prf) = sa.crypto.as_ref().map(|c| c.algorithms.prf) else {
        return State::Closed;
    };
    let verified = (|| {
        if view.auth().is_none() {
            return Err(view
                .error_notify()
                .map_or(Error::AuthenticationFailed, |n| child_error(n.notify_type)));
        }
        let id_r = view.id_r().ok_or(Error::AuthenticationFailed)?;
        let remote_id = codec::identity(id_r)?;
        if !peer.remote_id.matches(&remote_id) {
            return Err(Error::AuthenticationFailed);
        }
        let proof = verify_peer_psk(
            &view,
            prf,
            &peer.psk,
            id_r,
            &state.init_response,
            &state.ni,
            &state.sk_pr,
        )?;
        Ok((remote_id, proof))
    })();
    let (remote_id, proof) = match verified {
        Ok(v) => v,
        Err(e) => {
            ctx.shared.counters.authentication_failed += 1;
            sa.fail(CloseReason::Failed(e));
            return State::InitiatorAuth(Box::new(state));
        }
    };
    sa.mobike.negotiated = offers_mobike(ctx, &view);
    sa.mobike.original_initiator = true;
    announce_established(sa, ctx, &peer, &remote_id);
    let received = view
        .cp()
        .filter(|c| c.cfg_type == CfgType::Reply)
        .map(|c| cp::read_reply(&codec::attributes(c)))
        .unwrap_or_default();
    if received != VirtualIp::default() {
        ctx.event(Event::VirtualIp {
            sa: sa.handle,
            assigned: received,
        });
    }
    let mut established = Established::new(proof, remote_id, VirtualIp::default(), &peer, ctx);
    let child = state.child;
    let outcome = (|| {
        if let Some(error) = view.error_notify() {
            return Err(child_error(error.notify_type));
        }
        let sa_payload = view.sa().ok_or(Error::NoProposalChosen)?;
        let chosen =
            proposal::accept_esp_answer(&child.proposals, None, &codec::offers(sa_payload))
                .ok_or(Error::NoProposalChosen)?;
        let (ts_i, ts_r) = child.answered_selectors(&view)?;
        let new = NewChild {
            inbound_spi: child.inbound_spi,
            outbound_spi: child::esp_spi(&chosen.spi)?,
            algorithms: chosen.suite,
            ts_local: ts_i,
            ts_remote: ts_r,
            we_initiated: true,
            ni: &state.ni,
            nr: &state.nr,
            pfs_secret: None,
            rekeys: None,
            lifetimes: peer.lifetimes,
        };
        child::install(sa, ctx, new)
    })();
    match outcome {
        Ok(installed) => {
            established.children.insert(installed.id, installed);
        }
        Err(e) => {
            ctx.shared.child_spis.remove(&child.inbound_spi);
            ctx.shared.counters.child_sa_refused += 1;
            established
                .queue
                .push_back(Command::Close(CloseReason::Failed(e)));
        }
    }
    State::Established(Box::new(established))
}
