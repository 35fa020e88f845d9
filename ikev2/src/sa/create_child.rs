//! The CREATE_CHILD_SA exchange for CHILD SAs
//! ([RFC 7296 §1.3](https://www.rfc-editor.org/rfc/rfc7296#section-1.3)): additional CHILD SAs,
//! CHILD SA rekeys with optional PFS (§1.3.3, §2.17), and simultaneous rekeys (§2.8.1): when
//! both ends rekeyed the same CHILD SA, the new SA created with the lowest of the four nonces is
//! redundant and its creator deletes it.
//!
//! Make-before-break: a rekey installs the new CHILD SA (event with `replaces`) first; the
//! rekey initiator then deletes the old one, whose `ChildSaDeleted` tells the data path to drop
//! the old inbound SA.

use super::child::{self, Child, NewChild, PendingChild};
use super::established::{Command, Established};
use super::{Ctx, IkeSa, RequestKind, State};
use crate::codec::{self, View};
use crate::crypto::{DhGroup, KeyExchange};
use crate::error::Error;
use crate::events::ChildSaId;
use crate::proposal;
use crate::ts::TrafficSelector;
use crate::wire::{self, ExchangeType, Nonce, Notify, NotifyType, PayloadBody, ProtocolId};

/// Our CREATE_CHILD_SA in flight.
pub(crate) struct Creating {
    child: PendingChild,
}

impl Creating {
    pub(crate) fn inbound_spi(&self) -> u32 {
        self.child.inbound_spi
    }
}

/// The nonces of the exchange that created a CHILD SA, for collision resolution.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct CreatedBy {
    pub(crate) nonces: Option<(Vec<u8>, Vec<u8>)>,
    pub(crate) by_us: bool,
}

fn established(sa: &mut IkeSa) -> Result<&mut Established, Error> {
    match &mut sa.state {
        State::Established(e) => Ok(e),
        _ => Err(Error::UnexpectedExchange),
    }
}

/// Sends a CREATE_CHILD_SA request for a new CHILD SA with these selectors.
pub(crate) fn start_new(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    ts_i: Vec<TrafficSelector>,
    ts_r: Vec<TrafficSelector>,
) -> Result<(), Error> {
    send(sa, ctx, ts_i, ts_r, None)
}

/// Sends a CREATE_CHILD_SA request rekeying CHILD SA `id`.
pub(crate) fn start_rekey(sa: &mut IkeSa, ctx: &mut Ctx<'_>, id: ChildSaId) -> Result<(), Error> {
    let e = established(sa)?;
    let Some(old) = e.children.get(&id).filter(|c| !c.rekeyed) else {
        return Ok(());
    };
    let (ts_i, ts_r) = (old.ts_local.clone(), old.ts_remote.clone());
    send(sa, ctx, ts_i, ts_r, Some(id))
}

fn send(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    ts_i: Vec<TrafficSelector>,
    ts_r: Vec<TrafficSelector>,
    rekeys: Option<ChildSaId>,
) -> Result<(), Error> {
    let peer = sa.peer.clone().ok_or(Error::UnexpectedExchange)?;
    // The group the peer asked for with INVALID_KE_PAYLOAD, else our first.
    let asked = established(sa)?.pfs_group;
    let pfs_group: Option<DhGroup> = asked.or_else(|| {
        peer.esp_proposals
            .iter()
            .find_map(|p| p.dh.first().copied())
    });
    let inbound_spi = ctx.shared.allocate_child_spi(ctx.rng);
    let pending = PendingChild {
        inbound_spi,
        proposals: peer.esp_proposals.clone(),
        ts_i,
        ts_r,
        pfs: pfs_group.map(|g| KeyExchange::generate(g, ctx.rng)),
        nonce: ctx.nonce(),
        rekeys,
    };
    let offer = pending.offer();
    let ts_i = codec::ts_payload(&pending.ts_i);
    let ts_r = codec::ts_payload(&pending.ts_r);
    let rekey_spi = rekeys.map(|id| id.0.to_be_bytes());
    let mut bodies = Vec::new();
    if let Some(spi) = &rekey_spi {
        bodies.push(PayloadBody::Notify(Notify {
            protocol: ProtocolId::Esp,
            spi,
            notify_type: NotifyType::RekeySa,
            data: &[],
        }));
    }
    let [sa_body, tsi_body, tsr_body] = child::sa_ts_bodies(&offer, &ts_i, &ts_r);
    bodies.push(sa_body);
    bodies.push(PayloadBody::Nonce(Nonce {
        data: &pending.nonce,
    }));
    if let Some(ke) = &pending.pfs {
        bodies.push(PayloadBody::Ke(wire::KeyExchange {
            group: ke.group().transform_id().into(),
            data: ke.public_value(),
        }));
    }
    bodies.push(tsi_body);
    bodies.push(tsr_body);
    let kind = rekeys.map_or(RequestKind::CreateChild, RequestKind::RekeyChild);
    if let Err(e) = sa.request(ctx, ExchangeType::CreateChildSa, kind, bodies) {
        ctx.shared.child_spis.remove(&inbound_spi);
        return Err(e);
    }
    established(sa)?.creating = Some(Creating { child: pending });
    Ok(())
}

/// Responder: a CREATE_CHILD_SA request.
pub(crate) fn handle_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    mut e: Box<Established>,
    id: u32,
    view: View<'_, '_>,
) -> State {
    let refuse = |sa: &mut IkeSa, ctx: &mut Ctx<'_>, e: Box<Established>, error: Error| {
        ctx.shared.counters.child_sa_refused += 1;
        let fallback = NotifyType::NoAdditionalSas;
        sa.respond_error(ctx, ExchangeType::CreateChildSa, id, &error, fallback);
        State::Established(e)
    };
    let Some(peer) = sa.peer.clone() else {
        return State::Established(e);
    };
    if view
        .sa()
        .is_some_and(|s| s.proposals.iter().any(|p| p.protocol == ProtocolId::Ike))
    {
        return super::rekey_ike::handle_request(sa, ctx, e, id, view);
    }
    if e.children.len() >= ctx.config.max_child_sas_per_ike {
        return refuse(sa, ctx, e, Error::NoAdditionalSas);
    }
    let Some(ni) = view.nonce() else {
        return refuse(sa, ctx, e, Error::InvalidSyntax("no Ni"));
    };
    let rekeys = view.notify(NotifyType::RekeySa).map(|n| {
        <[u8; 4]>::try_from(n.spi)
            .ok()
            .map(u32::from_be_bytes)
            .and_then(|outbound| {
                e.children
                    .values()
                    .find(|c| c.outbound_spi == outbound)
                    .map(|c| c.id)
            })
    });
    let rekeys = match rekeys {
        Some(None) => return refuse(sa, ctx, e, Error::ChildSaNotFound),
        // §2.25.1: a CHILD SA we are deleting is not rekeyed.
        Some(Some(old))
            if sa
                .pending
                .as_ref()
                .is_some_and(|p| p.kind == RequestKind::DeleteChild(old))
                || e.queue.contains(&Command::DeleteChild(old)) =>
        {
            return refuse(sa, ctx, e, Error::TemporaryFailure)
        }
        Some(Some(old)) => Some(old),
        None => None,
    };
    let remote_allowed: Vec<TrafficSelector> = match rekeys.and_then(|old| e.children.get(&old)) {
        Some(old) => old.ts_remote.clone(),
        None if !e.assigned.addresses.is_empty() => e
            .assigned
            .addresses
            .iter()
            .map(|a| TrafficSelector::host(*a))
            .collect(),
        None => peer.remote_ts.clone(),
    };
    let ke = view.ke();
    let chosen = match child::choose(
        &view,
        &peer.esp_proposals,
        &peer,
        &remote_allowed,
        ke.map(|k| k.0),
    ) {
        Ok(chosen) => chosen,
        Err(error) => return refuse(sa, ctx, e, error),
    };
    let nr = ctx.nonce();
    let (own_ke, shared) = match (chosen.algorithms.dh, ke) {
        (Some(group), Some((_, public))) => {
            let own = KeyExchange::generate(group, ctx.rng);
            let own_public = own.public_value().to_vec();
            match own.agree(public) {
                Ok(shared) => (Some((group, own_public)), Some(shared)),
                Err(_) => return refuse(sa, ctx, e, Error::InvalidSyntax("KE value")),
            }
        }
        _ => (None, None),
    };
    let inbound_spi = ctx.shared.allocate_child_spi(ctx.rng);
    let new = NewChild {
        pfs_secret: shared.as_ref(),
        rekeys,
        ..chosen.as_responder(inbound_spi, ni, &nr, peer.lifetimes)
    };
    let mut installed = match child::install(sa, ctx, new) {
        Ok(installed) => installed,
        Err(error) => {
            ctx.shared.child_spis.remove(&inbound_spi);
            return refuse(sa, ctx, e, error);
        }
    };
    installed.created_by = CreatedBy {
        nonces: Some((ni.to_vec(), nr.clone())),
        by_us: false,
    };
    let theirs = installed.id;
    let lowest = |c: &Child| {
        c.created_by
            .nonces
            .as_ref()
            .map(|(a, b)| std::cmp::min(a.clone(), b.clone()))
    };
    let their_lowest = lowest(&installed);
    e.children.insert(theirs, installed);
    if let Some(old) = rekeys.and_then(|old| e.children.get_mut(&old)) {
        let ours = old.rekeyed_by.filter(|_| old.rekeyed);
        old.rekeyed = true;
        old.rekeyed_by = Some(theirs);
        // We completed our own rekey of the same SA first (§2.8.1): if our new SA has the
        // lowest nonce it is the redundant one, and we created it, so we delete it.
        if let Some(ours) = ours {
            if e.children
                .get(&ours)
                .is_some_and(|c| c.created_by.by_us && lowest(c) < their_lowest)
            {
                if let Some(c) = e.children.get_mut(&ours) {
                    c.rekeyed = true;
                }
                e.enqueue(Command::DeleteChild(ours));
            }
        }
    }
    let offer = child::answer_offer(&chosen, inbound_spi);
    let ts_i = codec::ts_payload(&chosen.ts_i);
    let ts_r = codec::ts_payload(&chosen.ts_r);
    let [sa_body, tsi_body, tsr_body] = child::sa_ts_bodies(&offer, &ts_i, &ts_r);
    let mut bodies = vec![sa_body, PayloadBody::Nonce(Nonce { data: &nr })];
    if let Some((group, public)) = &own_ke {
        bodies.push(PayloadBody::Ke(wire::KeyExchange {
            group: group.transform_id().into(),
            data: public,
        }));
    }
    bodies.push(tsi_body);
    bodies.push(tsr_body);
    sa.respond_or_fail(ctx, ExchangeType::CreateChildSa, id, bodies);
    State::Established(e)
}

/// Initiator: the CREATE_CHILD_SA response.
pub(crate) fn handle_response(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    mut e: Box<Established>,
    kind: RequestKind,
    view: View<'_, '_>,
) -> State {
    let Some(Creating { child: pending }) = e.creating.take() else {
        ctx.shared.counters.dropped_unexpected += 1;
        return State::Established(e);
    };
    let Some(peer) = sa.peer.clone() else {
        return State::Established(e);
    };
    // Checked after the key exchange below, but read here: the closure consumes `pending.pfs`.
    let selectors = pending.answered_selectors(&view);
    let outcome = (|| {
        if let Some(error) = view.error_notify() {
            return Err(match error.notify_type {
                NotifyType::InvalidKePayload => <[u8; 2]>::try_from(error.data)
                    .ok()
                    .map(u16::from_be_bytes)
                    .and_then(DhGroup::from_transform_id)
                    .filter(|g| pending.proposals.iter().any(|p| p.dh.contains(g)))
                    .map_or(Error::NoProposalChosen, Error::InvalidKe),
                NotifyType::NoProposalChosen => Error::NoProposalChosen,
                NotifyType::TsUnacceptable => Error::TsUnacceptable,
                NotifyType::ChildSaNotFound => Error::ChildSaNotFound,
                _ => Error::TemporaryFailure,
            });
        }
        let nr = view.nonce().ok_or(Error::InvalidSyntax("no Nr"))?;
        let sa_payload = view.sa().ok_or(Error::NoProposalChosen)?;
        let pfs_group = pending.pfs.as_ref().map(KeyExchange::group);
        let chosen =
            proposal::accept_esp_answer(&pending.proposals, pfs_group, &codec::offers(sa_payload))
                .ok_or(Error::NoProposalChosen)?;
        let shared = match (pending.pfs, view.ke()) {
            (Some(ke), Some((group, public))) if group == ke.group().transform_id() => {
                Some(ke.agree(public)?)
            }
            (None, None) => None,
            _ => return Err(Error::NoProposalChosen),
        };
        let (ts_i, ts_r) = selectors?;
        let new = NewChild {
            inbound_spi: pending.inbound_spi,
            outbound_spi: child::esp_spi(&chosen.spi)?,
            algorithms: chosen.suite,
            ts_local: ts_i,
            ts_remote: ts_r,
            we_initiated: true,
            ni: &pending.nonce,
            nr,
            pfs_secret: shared.as_ref(),
            rekeys: pending.rekeys,
            lifetimes: peer.lifetimes,
        };
        let mut installed = child::install(sa, ctx, new)?;
        installed.created_by = CreatedBy {
            nonces: Some((pending.nonce.clone(), nr.to_vec())),
            by_us: true,
        };
        Ok(installed)
    })();
    let installed = match outcome {
        Ok(installed) => installed,
        Err(error) => {
            ctx.shared.child_spis.remove(&pending.inbound_spi);
            ctx.shared.counters.child_sa_refused += 1;
            if let Error::InvalidKe(group) = error {
                // Retry at once with the PFS group the peer wants (once per group).
                if e.pfs_group != Some(group) {
                    e.pfs_group = Some(group);
                    e.enqueue(match kind {
                        RequestKind::RekeyChild(old) => Command::RekeyChild(old),
                        _ => Command::CreateChild(pending.ts_i.clone(), pending.ts_r.clone()),
                    });
                    return State::Established(e);
                }
            }
            if let RequestKind::RekeyChild(old) = kind {
                if error == Error::ChildSaNotFound {
                    // §2.25: the peer does not know it; drop it silently and create a new one.
                    let reason = crate::events::ChildDeleteReason::PeerDeleted;
                    if let Some(gone) = e.remove_child(ctx, sa.handle, old, reason) {
                        e.enqueue(Command::CreateChild(gone.ts_local, gone.ts_remote));
                    }
                } else if let Some(old) = e.children.get_mut(&old) {
                    // TEMPORARY_FAILURE and the like: try again later.
                    old.rekey_at = Some(ctx.now + std::time::Duration::from_secs(30));
                }
            }
            return State::Established(e);
        }
    };
    let new_id = installed.id;
    e.children.insert(new_id, installed);
    if let RequestKind::RekeyChild(old_id) = kind {
        resolve_rekey(&mut e, old_id, new_id);
    }
    State::Established(e)
}

/// After our rekey of `old` produced `ours`: delete the old SA, or, if the peer rekeyed it at the
/// same time, delete whichever new SA lost the nonce comparison (§2.8.1).
fn resolve_rekey(e: &mut Established, old: ChildSaId, ours: ChildSaId) {
    let theirs = e.children.get(&old).and_then(|c| c.rekeyed_by);
    let lowest = |c: Option<&Child>| {
        c.and_then(|c| c.created_by.nonces.as_ref())
            .map(|(a, b)| std::cmp::min(a.clone(), b.clone()))
    };
    match theirs {
        Some(theirs) if lowest(e.children.get(&ours)) < lowest(e.children.get(&theirs)) => {
            // Our new SA holds the lowest nonce: it is redundant; the peer deletes the old one.
            if let Some(c) = e.children.get_mut(&ours) {
                c.rekeyed = true;
            }
            e.enqueue(Command::DeleteChild(ours));
        }
        _ => {
            if let Some(c) = e.children.get_mut(&old) {
                c.rekeyed = true;
                c.rekeyed_by = Some(ours);
            }
            e.enqueue(Command::DeleteChild(old));
        }
    }
}
