//! Rekeying the IKE SA with CREATE_CHILD_SA
//! ([RFC 7296 §2.18](https://www.rfc-editor.org/rfc/rfc7296#section-2.18)).
//!
//! The exchange creates a new IKE SA (new SPIs, keys from the old SK_d and a fresh key
//! exchange) that inherits the CHILD SAs and the authentication of the old one. The engine models
//! it as a new [`IkeSa`] that takes over the public handle (drivers see one IKE SA for its whole
//! life, announced by `Event::IkeSaRekeyed`); the old one gets an internal handle and moves to
//! [`State::Rekeyed`], where it only completes the Delete that the rekey initiator sends over
//! it, then goes away silently (no `Closed`, the CHILD SAs are the successor's).
//!
//! Simultaneous IKE rekeys are avoided rather than resolved with the nonce rule of §2.8.2: a
//! request to rekey an IKE SA while we have any request of our own in flight on it (our own IKE
//! rekey included) is answered with TEMPORARY_FAILURE (§2.25), and an initiator that gets
//! TEMPORARY_FAILURE tries again after a random 10-40 s, so two colliding peers fall apart.

use std::time::Duration;

use rand_core::RngCore;

use super::established::Established;
use super::{init, Ctx, IkeSa, RequestKind, Role, SaCrypto, State};
use crate::codec::{self, View};
use crate::crypto::{IkeSaKeys, KeyExchange};
use crate::error::Error;
use crate::events::{CloseReason, Event, IkeSaHandle};
use crate::proposal::{self, protocol, SelectError};
use crate::wire::{self, ExchangeType, Nonce, Notify, NotifyType, PayloadBody};

/// Our IKE rekey request in flight.
pub(crate) struct RekeyingIke {
    ke: KeyExchange,
    nonce: Vec<u8>,
    spi: u64,
}

/// Sends the CREATE_CHILD_SA request rekeying this IKE SA.
pub(crate) fn start(sa: &mut IkeSa, ctx: &mut Ctx<'_>) -> Result<(), Error> {
    let peer = sa.peer.clone().ok_or(Error::UnexpectedExchange)?;
    let group = sa
        .crypto
        .as_ref()
        .map(|c| c.algorithms.dh)
        .ok_or(Error::UnexpectedExchange)?;
    let ke = KeyExchange::generate(group, ctx.rng);
    let nonce = ctx.nonce();
    let spi = fresh_spi(ctx);
    let proposals: Vec<_> = peer
        .ike_proposals
        .iter()
        .filter(|p| p.dh.contains(&group))
        .zip(1u8..)
        .map(|(p, n)| {
            (
                n,
                protocol::IKE,
                spi.to_be_bytes().to_vec(),
                proposal::ike_proposal_transforms(p, group),
            )
        })
        .collect();
    let bodies = vec![
        codec::sa_payload(&proposals),
        PayloadBody::Nonce(Nonce { data: &nonce }),
        PayloadBody::Ke(wire::KeyExchange {
            group: group.transform_id().into(),
            data: ke.public_value(),
        }),
    ];
    sa.request(
        ctx,
        ExchangeType::CreateChildSa,
        RequestKind::RekeyIke,
        bodies,
    )?;
    if let State::Established(e) = &mut sa.state {
        e.rekeying_ike = Some(RekeyingIke { ke, nonce, spi });
    }
    Ok(())
}

fn fresh_spi(ctx: &mut Ctx<'_>) -> u64 {
    loop {
        let spi = ctx.rng.next_u64();
        if spi != 0
            && !ctx.spis_in_use.contains_key(&spi)
            && !ctx.shared.spawned.iter().any(|s| s.local_spi() == spi)
        {
            return spi;
        }
    }
}

/// Builds the successor IKE SA and hands it to the endpoint; the old one becomes `Rekeyed`.
#[allow(clippy::too_many_arguments)]
fn succeed(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    e: Box<Established>,
    role: Role,
    spi_i: u64,
    spi_r: u64,
    algorithms: proposal::IkeAlgorithms,
    keys: &IkeSaKeys,
) -> Result<State, Error> {
    // The successor keeps the public handle; the retiring SA gets a fresh internal one.
    let handle = sa.handle;
    sa.handle = IkeSaHandle(ctx.shared.next_handle);
    ctx.shared.next_handle += 1;
    let mut successor = IkeSa {
        nat_local: sa.nat_local,
        nat_remote: sa.nat_remote,
        mobike: sa.mobike.successor(),
        ..IkeSa::new(
            handle,
            role,
            (spi_i, spi_r),
            sa.path,
            sa.peer.clone(),
            ctx.now,
        )
    };
    init::install_crypto(&mut successor, algorithms, keys)?;
    let established = Established::inherit(*e, ctx);
    successor.state = State::Established(Box::new(established));
    ctx.shared.counters.ike_sas_rekeyed += 1;
    ctx.event(Event::IkeSaRekeyed { sa: handle });
    ctx.shared.spawned.push(successor);
    Ok(State::Rekeyed { since: ctx.now })
}

/// Responder: a CREATE_CHILD_SA request whose SA payload proposes IKE.
pub(crate) fn handle_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    e: Box<Established>,
    id: u32,
    view: View<'_, '_>,
) -> State {
    let refuse = |sa: &mut IkeSa, ctx: &mut Ctx<'_>, e: Box<Established>, error: Error| {
        let fallback = NotifyType::TemporaryFailure;
        sa.respond_error(ctx, ExchangeType::CreateChildSa, id, &error, fallback);
        State::Established(e)
    };
    // Our own request in flight (an IKE rekey, a CHILD SA, a Delete) would be orphaned by the
    // move to the new IKE SA: let the peer try again later (§2.25).
    if e.rekeying_ike.is_some() || e.closing.is_some() || sa.pending.is_some() {
        return refuse(sa, ctx, e, Error::TemporaryFailure);
    }
    let (Some(sa_payload), Some((ke_group, public)), Some(ni)) =
        (view.sa(), view.ke(), view.nonce())
    else {
        return refuse(
            sa,
            ctx,
            e,
            Error::InvalidSyntax("IKE rekey without SA, KE or Ni"),
        );
    };
    let Some(old) = sa
        .crypto
        .as_ref()
        .map(|c| (c.algorithms.prf, c.sk_d.clone()))
    else {
        return State::Established(e);
    };
    let chosen = match proposal::select_ike(
        &ctx.config.ike_proposals,
        &codec::offers(sa_payload),
        ke_group,
    ) {
        Ok(chosen) => chosen,
        Err(SelectError::InvalidKe(group)) => return refuse(sa, ctx, e, Error::InvalidKe(group)),
        Err(SelectError::NoProposalChosen) => return refuse(sa, ctx, e, Error::NoProposalChosen),
    };
    let Ok(spi_i) = <[u8; 8]>::try_from(chosen.spi.as_slice()).map(u64::from_be_bytes) else {
        return refuse(sa, ctx, e, Error::InvalidSyntax("IKE SPI size"));
    };
    let ke = KeyExchange::generate(chosen.suite.dh, ctx.rng);
    let own_public = ke.public_value().to_vec();
    let Ok(shared) = ke.agree(public) else {
        return refuse(sa, ctx, e, Error::InvalidSyntax("KE value"));
    };
    let nr = ctx.nonce();
    let spi_r = fresh_spi(ctx);
    let keys = match IkeSaKeys::derive_rekeyed(
        old.0,
        &old.1,
        &chosen.suite.crypto_suite(),
        &shared,
        ni,
        &nr,
        spi_i,
        spi_r,
    ) {
        Ok(keys) => keys,
        Err(error) => return refuse(sa, ctx, e, error.into()),
    };
    let answer = [(
        chosen.number,
        protocol::IKE,
        spi_r.to_be_bytes().to_vec(),
        proposal::ike_suite_transforms(&chosen.suite),
    )];
    let bodies = vec![
        codec::sa_payload(&answer),
        PayloadBody::Nonce(Nonce { data: &nr }),
        PayloadBody::Ke(wire::KeyExchange {
            group: chosen.suite.dh.transform_id().into(),
            data: &own_public,
        }),
    ];
    if let Err(error) = sa.respond(ctx, ExchangeType::CreateChildSa, id, bodies) {
        return refuse(sa, ctx, e, error);
    }
    match succeed(
        sa,
        ctx,
        e,
        Role::Responder,
        spi_i,
        spi_r,
        chosen.suite,
        &keys,
    ) {
        Ok(state) => state,
        Err(error) => {
            sa.fail(CloseReason::Failed(error));
            State::Closed
        }
    }
}

/// Initiator: the response to our IKE rekey.
pub(crate) fn handle_response(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    mut e: Box<Established>,
    view: View<'_, '_>,
) -> State {
    let Some(rekeying) = e.rekeying_ike.take() else {
        return State::Established(e);
    };
    let retry_later = |ctx: &mut Ctx<'_>, e: &mut Established| {
        let delay = Duration::from_secs(10 + u64::from(ctx.rng.next_u32() % 30));
        e.ike_rekey_at = Some(ctx.now + delay);
    };
    if view.error_notify().is_some() {
        retry_later(ctx, &mut e);
        return State::Established(e);
    }
    let outcome = (|| {
        let peer = sa.peer.clone().ok_or(Error::UnexpectedExchange)?;
        let (old_prf, old_sk_d) = sa
            .crypto
            .as_ref()
            .map(|c: &SaCrypto| (c.algorithms.prf, c.sk_d.clone()))
            .ok_or(Error::UnexpectedExchange)?;
        let sa_payload = view.sa().ok_or(Error::NoProposalChosen)?;
        let (group, public) = view.ke().ok_or(Error::InvalidSyntax("no KE"))?;
        let nr = view.nonce().ok_or(Error::InvalidSyntax("no Nr"))?;
        let chosen = proposal::accept_ike_answer(&peer.ike_proposals, &codec::offers(sa_payload))
            .ok_or(Error::NoProposalChosen)?;
        if chosen.suite.dh != rekeying.ke.group() || group != rekeying.ke.group().transform_id() {
            return Err(Error::NoProposalChosen);
        }
        let spi_r = <[u8; 8]>::try_from(chosen.spi.as_slice())
            .map(u64::from_be_bytes)
            .map_err(|_| Error::InvalidSyntax("IKE SPI size"))?;
        let shared = rekeying.ke.agree(public)?;
        let keys = IkeSaKeys::derive_rekeyed(
            old_prf,
            &old_sk_d,
            &chosen.suite.crypto_suite(),
            &shared,
            &rekeying.nonce,
            nr,
            rekeying.spi,
            spi_r,
        )?;
        Ok((chosen.suite, keys, spi_r))
    })();
    let (algorithms, keys, spi_r) = match outcome {
        Ok(v) => v,
        Err(_) => {
            retry_later(ctx, &mut e);
            return State::Established(e);
        }
    };
    match succeed(
        sa,
        ctx,
        e,
        Role::Initiator,
        rekeying.spi,
        spi_r,
        algorithms,
        &keys,
    ) {
        Ok(state) => {
            // The rekey initiator deletes the old IKE SA (§2.18).
            let delete = PayloadBody::Delete(wire::Delete::ike());
            if sa
                .request(
                    ctx,
                    ExchangeType::Informational,
                    RequestKind::DeleteIke,
                    vec![delete],
                )
                .is_err()
            {
                sa.fail(CloseReason::Local);
            }
            state
        }
        Err(error) => {
            sa.fail(CloseReason::Failed(error));
            State::Closed
        }
    }
}

/// The old IKE SA after a rekey: answers the peer's Delete, or closes when ours is answered.
pub(crate) fn handle_old_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    exchange: ExchangeType,
    id: u32,
    view: View<'_, '_>,
) {
    if exchange == ExchangeType::Informational {
        let _ = sa.respond(ctx, exchange, id, Vec::new());
        if view.deletes().any(|d| d.protocol == wire::ProtocolId::Ike) {
            sa.fail(CloseReason::Local);
        }
    } else {
        let notify = PayloadBody::Notify(Notify::new(NotifyType::TemporaryFailure, &[]));
        let _ = sa.respond(ctx, exchange, id, vec![notify]);
    }
}
