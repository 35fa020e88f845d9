//! What the engine tells its driver: [`Event`]s, and the handles naming IKE and CHILD SAs.
//!
//! Events come out of [`crate::Endpoint::poll_event`] in the order they happened. The data path
//! acts on three of them:
//! - [`Event::ChildSaInstalled`]: install both ESP SAs. If `replaces` names an older CHILD SA
//!   (a rekey), start sending on the new outbound SA now and keep the old inbound SA until its
//!   [`Event::ChildSaDeleted`] (make-before-break, RFC 7296 §2.8).
//! - [`Event::ChildSaDeleted`]: remove both ESP SAs of that CHILD SA.
//! - [`Event::Closed`]: remove everything of that IKE SA (its CHILD SAs were reported deleted
//!   first) and give back its virtual IP route.
//!
//! An IKE SA keeps its [`IkeSaHandle`] across IKE SA rekeys ([`Event::IkeSaRekeyed`] is only
//! informative): drivers key everything by handle and need not change anything.

use std::fmt;

use crate::cp::VirtualIp;
use crate::crypto::{CipherSuite, EspDirectionKeys};
use crate::error::Error;
use crate::identity::Identity;
use crate::path::Path;
use crate::ts::TrafficSelector;

/// Names one IKE SA for its whole life (it keeps its handle across IKE SA rekeys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IkeSaHandle(pub(crate) u64);

impl fmt::Display for IkeSaHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ike#{}", self.0)
    }
}

/// Names one CHILD SA: its inbound (our) SPI, unique within the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChildSaId(pub u32);

impl fmt::Display for ChildSaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "child#{:08x}", self.0)
    }
}

/// One direction of an ESP SA: SPI and keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspSaKeys {
    /// The SPI carried in this direction's ESP packets.
    pub spi: u32,
    /// Encryption key (with salt for AEADs) and integrity key (§2.17). Redacted in `Debug`,
    /// zeroized on drop.
    pub keys: EspDirectionKeys,
}

/// A CHILD SA ready for the data path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSaInstalled {
    /// The IKE SA it belongs to.
    pub sa: IkeSaHandle,
    /// Its id (= `inbound.spi`).
    pub child: ChildSaId,
    /// Packets we receive.
    pub inbound: EspSaKeys,
    /// Packets we send.
    pub outbound: EspSaKeys,
    /// ESP encryption and integrity.
    pub cipher: CipherSuite,
    /// Extended sequence numbers.
    pub esn: bool,
    /// Our side's traffic selectors (inner source of what we send).
    pub ts_local: Vec<TrafficSelector>,
    /// The peer's side (inner source of what we accept).
    pub ts_remote: Vec<TrafficSelector>,
    /// ESP is carried in the transport of `path` (UDP 4500 per RFC 3948, or the TCP stream per
    /// RFC 9329) rather than as bare IP protocol 50.
    pub udp_encapsulation: bool,
    /// The outer addresses (and transport) of the IKE SA when installed.
    pub path: Path,
    /// The CHILD SA this one rekeys: switch outbound traffic to this one now.
    pub replaces: Option<ChildSaId>,
}

/// Why a CHILD SA went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildDeleteReason {
    /// Replaced by a rekeyed CHILD SA (the old inbound SA may go now).
    Rekeyed,
    /// The peer sent a Delete.
    PeerDeleted,
    /// We deleted it (command or hard lifetime).
    LocalDeleted,
    /// Its IKE SA closed.
    IkeSaClosed,
}

/// Why an IKE SA closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// [`crate::Endpoint::close`] was called and the Delete was answered (or given up on).
    Local,
    /// The peer deleted the IKE SA.
    PeerDeleted,
    /// Requests went unanswered after every retransmission (includes failed liveness checks).
    PeerUnreachable,
    /// The exchange failed with this error (ours or a notify from the peer).
    Failed(Error),
    /// A newer IKE SA with the same identity replaced it ([`crate::config::UniquePolicy::Replace`]).
    Replaced,
    /// A half-open (responder) IKE SA never completed IKE_AUTH.
    HalfOpenTimeout,
}

/// Something the driver should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// IKE_AUTH completed: the peer is authenticated.
    IkeSaEstablished {
        /// The IKE SA.
        sa: IkeSaHandle,
        /// Our identity.
        local_id: Identity,
        /// The peer's authenticated identity.
        remote_id: Identity,
        /// We are behind a NAT (our NAT_DETECTION hash did not match on the peer's side).
        nat_local: bool,
        /// The peer is behind a NAT.
        nat_remote: bool,
        /// Where the IKE SA now talks (port 4500 after NAT detection or forced encapsulation).
        path: Path,
        /// Both ends sent MOBIKE_SUPPORTED (RFC 4555 §3.2): [`crate::Endpoint::migrate`] will
        /// announce a new path with UPDATE_SA_ADDRESSES.
        mobike: bool,
    },
    /// A CHILD SA to install (see the module docs for rekeys).
    ChildSaInstalled(Box<ChildSaInstalled>),
    /// A CHILD SA to remove.
    ChildSaDeleted {
        /// The IKE SA.
        sa: IkeSaHandle,
        /// The CHILD SA.
        child: ChildSaId,
        /// Its outbound SPI (the inbound one is `child.0`).
        outbound_spi: u32,
        /// Why.
        reason: ChildDeleteReason,
    },
    /// Configuration payload result: on a responder, what it handed out (and must route to this
    /// IKE SA); on an initiator, what it received (to configure on its TUN device).
    VirtualIp {
        /// The IKE SA.
        sa: IkeSaHandle,
        /// Addresses, DNS, P-CSCF.
        assigned: VirtualIp,
    },
    /// The IKE SA moved (NAT rebinding, a new TCP connection, [`crate::Endpoint::migrate`]): send
    /// ESP (and expect IKE) on the new `path` from now on.
    PathChanged {
        /// The IKE SA.
        sa: IkeSaHandle,
        /// The new path.
        path: Path,
    },
    /// The IKE SA was rekeyed (RFC 7296 §2.18): new SPIs and keys, same handle, same CHILD SAs.
    /// Informative only; nothing to do for the data path.
    IkeSaRekeyed {
        /// The IKE SA.
        sa: IkeSaHandle,
    },
    /// A liveness check ([`crate::Endpoint::check_liveness`] or DPD) or the announcement of a
    /// [`crate::Endpoint::migrate`] was answered.
    PeerAlive {
        /// The IKE SA.
        sa: IkeSaHandle,
    },
    /// The peer answered the announcement [`crate::Endpoint::migrate`] sent over `path`, so it
    /// talks to us there: with `mobike` it moved its IKE and CHILD SAs on our
    /// UPDATE_SA_ADDRESSES (RFC 4555 §3.5) and echoed our COOKIE2; without, it answered a
    /// liveness check from the new path and follows it (RFC 7296 §2.23). A client can treat
    /// this as "the gateway has followed". A failed MOBIKE update closes the IKE SA instead
    /// ([`Event::Closed`] with [`CloseReason::Failed`]).
    PathConfirmed {
        /// The IKE SA.
        sa: IkeSaHandle,
        /// The path that was announced (the current one unless `migrate` was called again).
        path: Path,
        /// The announcement was a MOBIKE UPDATE_SA_ADDRESSES.
        mobike: bool,
        /// We are behind a NAT on this path (e.g. to keep sending NAT keepalives): redetected
        /// from the answer's NAT detection with MOBIKE, as before otherwise.
        nat_local: bool,
    },
    /// The IKE SA is gone; nothing of it remains in the engine.
    Closed {
        /// The IKE SA.
        sa: IkeSaHandle,
        /// Why.
        reason: CloseReason,
    },
}

impl Event {
    /// The IKE SA the event is about.
    pub fn sa(&self) -> IkeSaHandle {
        match self {
            Event::IkeSaEstablished { sa, .. }
            | Event::ChildSaDeleted { sa, .. }
            | Event::VirtualIp { sa, .. }
            | Event::PathChanged { sa, .. }
            | Event::PathConfirmed { sa, .. }
            | Event::PeerAlive { sa }
            | Event::IkeSaRekeyed { sa }
            | Event::Closed { sa, .. } => *sa,
            Event::ChildSaInstalled(installed) => installed.sa,
        }
    }
}
