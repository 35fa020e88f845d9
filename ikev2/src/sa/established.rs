//! An established IKE SA: INFORMATIONAL exchanges (Delete of CHILD and IKE SAs in both
//! directions, liveness checks; [RFC 7296 §1.4](https://www.rfc-editor.org/rfc/rfc7296#section-1.4),
//! and the MOBIKE notifies of `mobike.rs`), CHILD SA lifetimes, and the queue of commands
//! waiting for the request window.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::child::Child;
use super::{create_child, mobike, Ctx, IkeSa, RequestKind, State};
use crate::codec::View;
use crate::config::{Lifetimes, PeerConfig};
use crate::cp::VirtualIp;
use crate::crypto::AuthVerified;
use crate::events::{ChildDeleteReason, ChildSaId, CloseReason, Event, IkeSaHandle};
use crate::identity::Identity;
use crate::ts::TrafficSelector;
use crate::wire::{Delete, ExchangeType, Notify, NotifyType, PayloadBody, ProtocolId};

/// Upper bound on queued commands per IKE SA.
const MAX_QUEUED: usize = 16;

/// Something to do once our request window is free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    Close(CloseReason),
    Liveness,
    DeleteChild(ChildSaId),
    CreateChild(Vec<TrafficSelector>, Vec<TrafficSelector>),
    RekeyChild(ChildSaId),
    RekeyIke,
    /// Tell the peer about our current path ([`crate::Endpoint::migrate`]).
    AnnouncePath,
}

/// The established state. Holding the [`AuthVerified`] token is what makes it reachable only
/// through AUTH verification.
pub(crate) struct Established {
    _proof: AuthVerified,
    pub(crate) remote_id: Identity,
    pub(crate) children: BTreeMap<ChildSaId, Child>,
    /// Addresses we handed out from `pool` (responder), released on close.
    pub(crate) assigned: VirtualIp,
    pub(crate) pool: Option<String>,
    pub(crate) queue: VecDeque<Command>,
    pub(crate) last_inbound: Instant,
    pub(crate) dpd_delay: Option<Duration>,
    pub(crate) lifetimes: Lifetimes,
    /// Why we are deleting the IKE SA (our Delete is in flight).
    pub(crate) closing: Option<CloseReason>,
    /// Our CREATE_CHILD_SA in flight.
    pub(crate) creating: Option<create_child::Creating>,
    /// The PFS group the peer asked for with INVALID_KE_PAYLOAD.
    pub(crate) pfs_group: Option<crate::crypto::DhGroup>,
    /// Our IKE rekey in flight.
    pub(crate) rekeying_ike: Option<super::rekey_ike::RekeyingIke>,
    pub(crate) ike_rekey_at: Option<Instant>,
}

impl Established {
    /// Forgets the CHILD SA `id` and its inbound SPI and reports it deleted: as rekeyed when a
    /// successor already replaced it, otherwise for `reason`. Returns it, if it existed.
    pub(crate) fn remove_child(
        &mut self,
        ctx: &mut Ctx<'_>,
        sa: IkeSaHandle,
        id: ChildSaId,
        reason: ChildDeleteReason,
    ) -> Option<Child> {
        let removed = self.children.remove(&id)?;
        ctx.shared.child_spis.remove(&removed.id.0);
        ctx.event(Event::ChildSaDeleted {
            sa,
            child: removed.id,
            outbound_spi: removed.outbound_spi,
            reason: if removed.rekeyed {
                ChildDeleteReason::Rekeyed
            } else {
                reason
            },
        });
        Some(removed)
    }

    pub(crate) fn new(
        proof: AuthVerified,
        remote_id: Identity,
        assigned: VirtualIp,
        peer: &PeerConfig,
        ctx: &mut Ctx<'_>,
    ) -> Self {
        Established {
            _proof: proof,
            remote_id,
            children: BTreeMap::new(),
            assigned,
            pool: peer.virtual_ip.pool.clone(),
            queue: VecDeque::new(),
            last_inbound: ctx.now,
            dpd_delay: peer.dpd_delay,
            lifetimes: peer.lifetimes,
            closing: None,
            creating: None,
            pfs_group: None,
            rekeying_ike: None,
            ike_rekey_at: peer
                .lifetimes
                .ike_rekey
                .map(|limit| super::child::soft_deadline(ctx, limit, peer.lifetimes.jitter)),
        }
    }

    /// The state of an IKE SA created by rekeying `old`: same authentication, CHILD SAs,
    /// virtual IPs and queued commands; new IKE lifetime.
    pub(crate) fn inherit(old: Established, ctx: &mut Ctx<'_>) -> Self {
        let ike_rekey_at = old
            .lifetimes
            .ike_rekey
            .map(|limit| super::child::soft_deadline(ctx, limit, old.lifetimes.jitter));
        Established {
            ike_rekey_at,
            last_inbound: ctx.now,
            creating: None,
            rekeying_ike: None,
            closing: None,
            ..old
        }
    }

    /// Queues a command unless it is already queued.
    pub(crate) fn enqueue(&mut self, command: Command) {
        if !self.queue.contains(&command) && self.queue.len() < MAX_QUEUED {
            self.queue.push_back(command);
        }
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        let dpd = self.dpd_delay.map(|d| self.last_inbound + d);
        let children = self
            .children
            .values()
            .flat_map(|c| [c.rekey_at.filter(|_| !c.rekeyed), c.expire_at])
            .flatten();
        dpd.into_iter()
            .chain(children)
            .chain(self.ike_rekey_at)
            .min()
    }
}

/// Gives back what the IKE SA held: CHILD SAs (reported deleted) and pool addresses.
pub(crate) fn release(handle: IkeSaHandle, established: Established, ctx: &mut Ctx<'_>) {
    for child in established.children.values() {
        ctx.shared.child_spis.remove(&child.id.0);
        ctx.event(Event::ChildSaDeleted {
            sa: handle,
            child: child.id,
            outbound_spi: child.outbound_spi,
            reason: ChildDeleteReason::IkeSaClosed,
        });
    }
    if let Some(creating) = &established.creating {
        ctx.shared.child_spis.remove(&creating.inbound_spi());
    }
    if let Some(pool) = &established.pool {
        for address in &established.assigned.addresses {
            ctx.pool.release(pool, *address);
        }
    }
}

fn established_mut(sa: &mut IkeSa) -> Option<&mut Established> {
    match &mut sa.state {
        State::Established(e) => Some(e),
        _ => None,
    }
}

/// Runs DPD and lifetime timers.
pub(crate) fn handle_timeout(sa: &mut IkeSa, ctx: &mut Ctx<'_>) {
    let now = ctx.now;
    let Some(e) = established_mut(sa) else { return };
    if e.dpd_delay.is_some_and(|d| e.last_inbound + d <= now) {
        e.enqueue(Command::Liveness);
        // Checked again only after this one completes.
        e.last_inbound = now;
    }
    let mut due = Vec::new();
    // A replaced CHILD SA normally goes with the rekey initiator's Delete; if that never comes,
    // its hard lifetime still ends it.
    for child in e.children.values_mut() {
        if child.expire_at.is_some_and(|t| t <= now) {
            child.expire_at = None;
            child.rekey_at = None;
            due.push(Command::DeleteChild(child.id));
        } else if !child.rekeyed && child.rekey_at.is_some_and(|t| t <= now) {
            child.rekey_at = None;
            due.push(Command::RekeyChild(child.id));
        }
    }
    if e.ike_rekey_at.is_some_and(|t| t <= now) {
        e.ike_rekey_at = None;
        due.push(Command::RekeyIke);
    }
    for command in due {
        e.enqueue(command);
    }
    if sa.pending.is_none() {
        start_queued(sa, ctx);
    }
}

/// Starts the next queued command if no request is in flight.
pub(crate) fn start_queued(sa: &mut IkeSa, ctx: &mut Ctx<'_>) {
    while sa.pending.is_none() {
        let Some(e) = established_mut(sa) else { return };
        if e.closing.is_some() {
            return;
        }
        let Some(command) = e.queue.pop_front() else {
            return;
        };
        let result = match command {
            Command::Close(reason) => {
                e.closing = Some(reason);
                let delete = PayloadBody::Delete(Delete::ike());
                sa.request(
                    ctx,
                    ExchangeType::Informational,
                    RequestKind::DeleteIke,
                    vec![delete],
                )
            }
            Command::Liveness => mobike::start_liveness(sa, ctx),
            Command::DeleteChild(id) => {
                if !e.children.contains_key(&id) {
                    continue;
                }
                let spi = id.0.to_be_bytes();
                let delete = PayloadBody::Delete(Delete {
                    protocol: ProtocolId::Esp,
                    spi_size: 4,
                    spis: vec![&spi],
                });
                sa.request(
                    ctx,
                    ExchangeType::Informational,
                    RequestKind::DeleteChild(id),
                    vec![delete],
                )
            }
            Command::CreateChild(ts_i, ts_r) => create_child::start_new(sa, ctx, ts_i, ts_r),
            Command::RekeyChild(id) => create_child::start_rekey(sa, ctx, id),
            Command::RekeyIke => super::rekey_ike::start(sa, ctx),
            Command::AnnouncePath => mobike::start_announce(sa, ctx),
        };
        if let Err(e) = result {
            sa.fail(CloseReason::Failed(e));
            return;
        }
    }
}

/// A request from the peer on the established SA.
pub(crate) fn handle_request(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    mut e: Box<Established>,
    exchange: ExchangeType,
    id: u32,
    view: View<'_, '_>,
) -> State {
    e.last_inbound = ctx.now;
    match exchange {
        ExchangeType::Informational => informational(sa, ctx, e, id, view),
        ExchangeType::CreateChildSa => create_child::handle_request(sa, ctx, e, id, view),
        _ => {
            ctx.shared.counters.dropped_unexpected += 1;
            let notify = PayloadBody::Notify(Notify::new(NotifyType::InvalidSyntax, &[]));
            let _ = sa.respond(ctx, exchange, id, vec![notify]);
            State::Established(e)
        }
    }
}

fn informational(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    mut e: Box<Established>,
    id: u32,
    view: View<'_, '_>,
) -> State {
    if view.deletes().any(|d| d.protocol == ProtocolId::Ike) {
        let _ = sa.respond(ctx, ExchangeType::Informational, id, Vec::new());
        sa.fail(CloseReason::PeerDeleted);
        return State::Established(e);
    }
    let request = match mobike::Request::parse(&view) {
        Ok(request) => request,
        Err(error) => {
            ctx.shared.counters.dropped_malformed += 1;
            let fallback = NotifyType::InvalidSyntax;
            sa.respond_error(ctx, ExchangeType::Informational, id, &error, fallback);
            return State::Established(e);
        }
    };
    let arrival = sa.request_path;
    if let Err(error) = request.apply(sa, ctx, &view, arrival) {
        // The request failed as a whole (RFC 4555 §3.9): the error, and the COOKIE2 echoed.
        let (kind, data) = error
            .notify()
            .unwrap_or((NotifyType::TemporaryFailure, Vec::new()));
        let mut bodies = vec![PayloadBody::Notify(Notify::new(kind, &data))];
        if let Some(cookie2) = request.cookie2() {
            bodies.push(PayloadBody::Notify(Notify::new(
                NotifyType::Cookie2,
                cookie2,
            )));
        }
        sa.respond_or_fail(ctx, ExchangeType::Informational, id, bodies);
        return State::Established(e);
    }
    let answer = mobike::Answer::new(sa, ctx, &request, &arrival);
    let mut ours = Vec::new();
    for delete in view.deletes().filter(|d| d.protocol == ProtocolId::Esp) {
        for spi in delete
            .spis
            .iter()
            .filter_map(|s| <[u8; 4]>::try_from(*s).ok())
        {
            let outbound = u32::from_be_bytes(spi);
            let Some(child) = e
                .children
                .values()
                .find(|c| c.outbound_spi == outbound)
                .map(|c| c.id)
            else {
                continue;
            };
            if let Some(removed) =
                e.remove_child(ctx, sa.handle, child, ChildDeleteReason::PeerDeleted)
            {
                // §1.4.1: an SA we are deleting ourselves is not repeated in the answer.
                let deleting = sa
                    .pending
                    .as_ref()
                    .is_some_and(|p| p.kind == RequestKind::DeleteChild(child));
                if !deleting {
                    ours.push(removed.id.0.to_be_bytes());
                }
            }
        }
    }
    let mut bodies = if ours.is_empty() {
        Vec::new()
    } else {
        vec![PayloadBody::Delete(Delete {
            protocol: ProtocolId::Esp,
            spi_size: 4,
            spis: ours.iter().map(|s| s.as_slice()).collect(),
        })]
    };
    bodies.extend(answer.bodies());
    sa.respond_or_fail(ctx, ExchangeType::Informational, id, bodies);
    State::Established(e)
}

/// The response to one of our requests on the established SA.
pub(crate) fn handle_response(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    mut e: Box<Established>,
    kind: RequestKind,
    view: View<'_, '_>,
) -> State {
    e.last_inbound = ctx.now;
    match kind {
        RequestKind::DeleteIke => {
            let reason = e.closing.take().unwrap_or(CloseReason::Local);
            sa.fail(reason);
        }
        RequestKind::Liveness => {
            ctx.event(Event::PeerAlive { sa: sa.handle });
            if mobike::nat_mapping_changed(sa, &view) {
                // Our NAT gave us a new mapping: tell the peer (RFC 4555 §3.8).
                e.enqueue(Command::AnnouncePath);
            }
        }
        RequestKind::AnnouncePath(path) => {
            mobike::handle_announce_response(sa, ctx, path, &view);
        }
        RequestKind::DeleteChild(id) => {
            e.remove_child(ctx, sa.handle, id, ChildDeleteReason::LocalDeleted);
        }
        RequestKind::RekeyIke => return super::rekey_ike::handle_response(sa, ctx, e, view),
        RequestKind::CreateChild | RequestKind::RekeyChild(_) => {
            return create_child::handle_response(sa, ctx, e, kind, view);
        }
        RequestKind::Init | RequestKind::Auth => ctx.shared.counters.dropped_unexpected += 1,
    }
    State::Established(e)
}
