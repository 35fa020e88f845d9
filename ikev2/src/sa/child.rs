//! CHILD SA bookkeeping shared by IKE_AUTH and CREATE_CHILD_SA: offering and choosing ESP
//! proposals and traffic selectors, deriving KEYMAT
//! ([RFC 7296 §2.17](https://www.rfc-editor.org/rfc/rfc7296#section-2.17)) and announcing the
//! result to the data path.

use std::time::{Duration, Instant};

use rand_core::RngCore;

use super::{Ctx, IkeSa};
use crate::codec::{self, View};
use crate::config::{Lifetimes, PeerConfig};
use crate::crypto::{ChildKeys, Direction, KeyExchange, Secret};
use crate::error::Error;
use crate::events::{ChildSaId, ChildSaInstalled, EspSaKeys, Event};
use crate::proposal::{self, protocol, EspAlgorithms, EspProposal, SelectError};
use crate::ts::{self, TrafficSelector};
use crate::wire::PayloadBody;

/// A CHILD SA we asked for and await the answer to.
pub(crate) struct PendingChild {
    pub(crate) inbound_spi: u32,
    pub(crate) proposals: Vec<EspProposal>,
    pub(crate) ts_i: Vec<TrafficSelector>,
    pub(crate) ts_r: Vec<TrafficSelector>,
    /// The PFS key exchange of a CREATE_CHILD_SA request.
    pub(crate) pfs: Option<KeyExchange>,
    /// Our nonce of a CREATE_CHILD_SA request.
    pub(crate) nonce: Vec<u8>,
    /// The CHILD SA this one rekeys.
    pub(crate) rekeys: Option<ChildSaId>,
}

impl PendingChild {
    /// The SA payload offer (proposal numbers from 1, our inbound SPI).
    pub(crate) fn offer(&self) -> Vec<(u8, u8, Vec<u8>, Vec<proposal::OfferedTransform>)> {
        let pfs = self.pfs.as_ref().map(KeyExchange::group);
        self.proposals
            .iter()
            .zip(1u8..)
            .map(|(p, n)| {
                (
                    n,
                    protocol::ESP,
                    self.inbound_spi.to_be_bytes().to_vec(),
                    proposal::esp_proposal_transforms(p, pfs),
                )
            })
            .collect()
    }

    /// The selectors of the responder's answer in `view` (TSi, TSr), each of which must narrow
    /// what we proposed (RFC 7296 [§2.9](https://www.rfc-editor.org/rfc/rfc7296#section-2.9));
    /// TS_UNACCEPTABLE otherwise.
    pub(crate) fn answered_selectors(
        &self,
        view: &View<'_, '_>,
    ) -> Result<(Vec<TrafficSelector>, Vec<TrafficSelector>), Error> {
        let (ts_i, ts_r) = match (view.ts_i(), view.ts_r()) {
            (Some(i), Some(r)) => (codec::selectors(i), codec::selectors(r)),
            _ => return Err(Error::TsUnacceptable),
        };
        if !ts::is_narrowing_of(&ts_i, &self.ts_i) || !ts::is_narrowing_of(&ts_r, &self.ts_r) {
            return Err(Error::TsUnacceptable);
        }
        Ok((ts_i, ts_r))
    }
}

/// The peer's ESP SPI from its chosen proposal: exactly 4 octets (RFC 7296
/// [§3.3.1](https://www.rfc-editor.org/rfc/rfc7296#section-3.3.1)); NO_PROPOSAL_CHOSEN otherwise.
pub(crate) fn esp_spi(spi: &[u8]) -> Result<u32, Error> {
    <[u8; 4]>::try_from(spi)
        .map(u32::from_be_bytes)
        .map_err(|_| Error::NoProposalChosen)
}

/// A live CHILD SA.
#[derive(Debug)]
pub(crate) struct Child {
    pub(crate) id: ChildSaId,
    pub(crate) outbound_spi: u32,
    pub(crate) ts_local: Vec<TrafficSelector>,
    pub(crate) ts_remote: Vec<TrafficSelector>,
    pub(crate) rekey_at: Option<Instant>,
    pub(crate) expire_at: Option<Instant>,
    pub(crate) bytes: u64,
    pub(crate) packets: u64,
    /// Replaced by a rekey; waiting for its Delete to complete.
    pub(crate) rekeyed: bool,
    /// The CHILD SA that replaced it.
    pub(crate) rekeyed_by: Option<ChildSaId>,
    /// The exchange that created it (for rekey collisions).
    pub(crate) created_by: super::create_child::CreatedBy,
}

/// A soft limit: `limit` minus a random part of `jitter` (never below half the limit).
pub(crate) fn soft_deadline(ctx: &mut Ctx<'_>, limit: Duration, jitter: Duration) -> Instant {
    let jitter = jitter.min(limit / 2);
    let fraction = f64::from(ctx.rng.next_u32()) / f64::from(u32::MAX);
    ctx.now + limit - jitter.mul_f64(fraction)
}

/// The outcome of choosing a CHILD SA as responder: the algorithms, the peer's SPI and the
/// narrowed selectors (TSi, TSr).
pub(crate) struct Chosen {
    pub(crate) number: u8,
    pub(crate) peer_spi: u32,
    pub(crate) algorithms: EspAlgorithms,
    pub(crate) ts_i: Vec<TrafficSelector>,
    pub(crate) ts_r: Vec<TrafficSelector>,
}

impl Chosen {
    /// The CHILD SA to install as responder with our `inbound_spi` and the exchange's nonces;
    /// no PFS and no predecessor (callers set those for a CREATE_CHILD_SA).
    pub(crate) fn as_responder<'a>(
        &self,
        inbound_spi: u32,
        ni: &'a [u8],
        nr: &'a [u8],
        lifetimes: Lifetimes,
    ) -> NewChild<'a> {
        NewChild {
            inbound_spi,
            outbound_spi: self.peer_spi,
            algorithms: self.algorithms,
            ts_local: self.ts_r.clone(),
            ts_remote: self.ts_i.clone(),
            we_initiated: false,
            ni,
            nr,
            pfs_secret: None,
            rekeys: None,
            lifetimes,
        }
    }
}

/// Responder: chooses a proposal and narrows the selectors of a CHILD SA request.
/// `remote_allowed` is what the initiator's side may be (its virtual IP /32 if one was
/// assigned); `ke_group` the KE payload's group (CREATE_CHILD_SA with PFS).
pub(crate) fn choose(
    view: &View<'_, '_>,
    proposals: &[EspProposal],
    peer: &PeerConfig,
    remote_allowed: &[TrafficSelector],
    ke_group: Option<u16>,
) -> Result<Chosen, Error> {
    let sa = view.sa().ok_or(Error::InvalidSyntax("no SA"))?;
    let (ts_i, ts_r) = match (view.ts_i(), view.ts_r()) {
        (Some(i), Some(r)) => (codec::selectors(i), codec::selectors(r)),
        _ => return Err(Error::InvalidSyntax("no TSi/TSr")),
    };
    let chosen =
        proposal::select_esp(proposals, &codec::offers(sa), ke_group).map_err(|e| match e {
            SelectError::NoProposalChosen => Error::NoProposalChosen,
            SelectError::InvalidKe(group) => Error::InvalidKe(group),
        })?;
    let peer_spi = esp_spi(&chosen.spi)?;
    let ts_i = ts::narrow(&ts_i, remote_allowed);
    let ts_r = ts::narrow(&ts_r, &peer.local_ts);
    if ts_i.is_empty() || ts_r.is_empty() {
        return Err(Error::TsUnacceptable);
    }
    Ok(Chosen {
        number: chosen.number,
        peer_spi,
        algorithms: chosen.suite,
        ts_i,
        ts_r,
    })
}

/// The SA/TSi/TSr bodies answering a CHILD SA request.
pub(crate) fn answer_offer(
    chosen: &Chosen,
    inbound_spi: u32,
) -> Vec<(u8, u8, Vec<u8>, Vec<proposal::OfferedTransform>)> {
    vec![(
        chosen.number,
        protocol::ESP,
        inbound_spi.to_be_bytes().to_vec(),
        proposal::esp_suite_transforms(&chosen.algorithms),
    )]
}

/// What a new CHILD SA is made from.
pub(crate) struct NewChild<'a> {
    pub(crate) inbound_spi: u32,
    pub(crate) outbound_spi: u32,
    pub(crate) algorithms: EspAlgorithms,
    pub(crate) ts_local: Vec<TrafficSelector>,
    pub(crate) ts_remote: Vec<TrafficSelector>,
    /// Whether we sent the request of the exchange that creates it (KEYMAT order, §2.17).
    pub(crate) we_initiated: bool,
    pub(crate) ni: &'a [u8],
    pub(crate) nr: &'a [u8],
    pub(crate) pfs_secret: Option<&'a Secret>,
    pub(crate) rekeys: Option<ChildSaId>,
    pub(crate) lifetimes: Lifetimes,
}

/// Derives the keys, announces the CHILD SA to the data path and returns its record.
pub(crate) fn install(sa: &IkeSa, ctx: &mut Ctx<'_>, new: NewChild<'_>) -> Result<Child, Error> {
    let crypto = sa.crypto.as_ref().ok_or(Error::UnexpectedExchange)?;
    let cipher = new.algorithms.cipher;
    let keys = ChildKeys::derive(
        crypto.algorithms.prf,
        &crypto.sk_d,
        &cipher,
        new.pfs_secret,
        new.ni,
        new.nr,
    )?;
    let (inbound_dir, outbound_dir) = if new.we_initiated {
        (
            Direction::ResponderToInitiator,
            Direction::InitiatorToResponder,
        )
    } else {
        (
            Direction::InitiatorToResponder,
            Direction::ResponderToInitiator,
        )
    };
    let id = ChildSaId(new.inbound_spi);
    ctx.event(Event::ChildSaInstalled(Box::new(ChildSaInstalled {
        sa: sa.handle,
        child: id,
        inbound: EspSaKeys {
            spi: new.inbound_spi,
            keys: keys.direction(inbound_dir).clone(),
        },
        outbound: EspSaKeys {
            spi: new.outbound_spi,
            keys: keys.direction(outbound_dir).clone(),
        },
        cipher,
        esn: new.algorithms.esn,
        ts_local: new.ts_local.clone(),
        ts_remote: new.ts_remote.clone(),
        udp_encapsulation: sa.nat_local || sa.nat_remote || ctx.config.force_encapsulation,
        path: sa.path,
        replaces: new.rekeys,
    })));
    ctx.shared.counters.child_sas_installed += 1;
    let rekey_at = new
        .lifetimes
        .child_rekey
        .map(|limit| soft_deadline(ctx, limit, new.lifetimes.jitter));
    let expire_at = new.lifetimes.child_hard.map(|limit| ctx.now + limit);
    Ok(Child {
        id,
        outbound_spi: new.outbound_spi,
        ts_local: new.ts_local,
        ts_remote: new.ts_remote,
        rekey_at,
        expire_at,
        bytes: 0,
        packets: 0,
        rekeyed: false,
        rekeyed_by: None,
        created_by: super::create_child::CreatedBy::default(),
    })
}

/// The SA, TSi and TSr bodies of a CHILD SA request or answer.
pub(crate) fn sa_ts_bodies<'a>(
    offer: &'a [(u8, u8, Vec<u8>, Vec<proposal::OfferedTransform>)],
    ts_i: &'a crate::wire::TrafficSelectors<'static>,
    ts_r: &'a crate::wire::TrafficSelectors<'static>,
) -> [PayloadBody<'a>; 3] {
    [
        codec::sa_payload(offer),
        PayloadBody::TsI(ts_i.clone()),
        PayloadBody::TsR(ts_r.clone()),
    ]
}
