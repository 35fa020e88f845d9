//! MOBIKE ([RFC 4555](https://www.rfc-editor.org/rfc/rfc4555)): keeping an IKE SA and its CHILD
//! SAs when the initiator's address changes (Wi-Fi to LTE, a new NAT mapping).
//!
//! - Negotiation (§3.2): the initiator sends MOBIKE_SUPPORTED in its IKE_AUTH request, the
//!   responder answers it; both record [`Mobike::negotiated`] (see `auth.rs`).
//! - Initiator (§3.5): [`crate::Endpoint::migrate`] moves the IKE SA to the new path and, once
//!   the request window is free, sends an INFORMATIONAL request with UPDATE_SA_ADDRESSES, the
//!   NAT detection notifies for the new path and a fresh COOKIE2 ([`start_announce`]). The
//!   answer must echo the COOKIE2 (§3.7) or the IKE SA closes ([`handle_announce_response`]).
//!   Without MOBIKE the announcement is an empty INFORMATIONAL the peer follows implicitly
//!   (RFC 7296 §2.23).
//! - Responder (§3.5, §3.7-§3.9): [`Request::parse`] checks the MOBIKE notifies of every
//!   INFORMATIONAL request, [`Request::apply`] moves the SA to the path the request arrived on
//!   (refusing with UNEXPECTED_NAT_DETECTED when NO_NATS_ALLOWED names other addresses) and
//!   [`Answer`] adds NAT detection notifies for the response's addresses and the echoed COOKIE2.
//!
//! An initiator behind a NAT adds NAT detection to its liveness checks on a MOBIKE SA and
//! announces its path again when the peer's view of its address changed, i.e. its NAT mapping
//! changed (§3.8): a MOBIKE responder not behind a NAT does not follow such changes on its own.
//!
//! Replays cannot move an SA back: only a request with the next message ID is processed, a
//! retransmission gets the cached response and changes nothing (RFC 7296 §2.1, §2.3), which is the
//! "newer than the last UPDATE_SA_ADDRESSES" rule of §3.5 for a window of one.
//!
//! We have one address per side, so ADDITIONAL_IP4/6_ADDRESS and NO_ADDITIONAL_ADDRESSES (§3.4)
//! are checked for well-formedness and otherwise ignored; we never send them. The responder does
//! not run its own return routability check before sending to the new address, although §3.7
//! makes it a SHOULD (omitted only where peers are expected to behave): the update is
//! authenticated, RFC 7296 §2.23 following moves just as readily without one, and waiting for
//! it would cost a roaming client a round trip of downlink traffic. CHILD SAs keep the UDP
//! encapsulation they were installed with.

use std::net::{IpAddr, SocketAddr};

use rand_core::RngCore;
use subtle::ConstantTimeEq;

use super::{init, Ctx, IkeSa, RequestKind};
use crate::codec::View;
use crate::crypto::NAT_DETECTION_HASH_LEN;
use crate::error::Error;
use crate::events::{CloseReason, Event};
use crate::path::Path;
use crate::wire::{ExchangeType, Notify, NotifyType, PayloadBody};

/// Length of the COOKIE2 we send; RFC 4555 §4.2.5 allows 8 to 64 octets.
const COOKIE2_LEN: usize = 16;
/// Shortest COOKIE2 accepted (§4.2.5).
const COOKIE2_MIN: usize = 8;
/// Longest COOKIE2 accepted (§4.2.5).
const COOKIE2_MAX: usize = 64;
/// NO_NATS_ALLOWED data: source address, destination address, source port, destination port
/// (§4.2.7), for IPv4 and IPv6.
const NO_NATS_V4_LEN: usize = 4 + 4 + 2 + 2;
const NO_NATS_V6_LEN: usize = 16 + 16 + 2 + 2;

/// The MOBIKE state of one IKE SA.
#[derive(Debug, Default)]
pub(crate) struct Mobike {
    /// Both ends sent MOBIKE_SUPPORTED in IKE_AUTH (§3.2). Kept across IKE SA rekeys.
    pub(crate) negotiated: bool,
    /// We initiated the IKE SA that negotiated MOBIKE, so we alone decide on address updates
    /// (§3.3). Kept across IKE SA rekeys whoever starts them, as the role that decides must not
    /// swap when the gateway rekeys (the rekeyed SA's `role` is that of the rekey's initiator).
    pub(crate) original_initiator: bool,
    /// Initiator: the COOKIE2 of our UPDATE_SA_ADDRESSES in flight, which the answer must echo.
    cookie2: Option<[u8; COOKIE2_LEN]>,
    /// Initiator: the peer's NAT_DETECTION_DESTINATION_IP last received (its view of our
    /// address and port), to notice a new NAT mapping.
    peer_view: Option<[u8; NAT_DETECTION_HASH_LEN]>,
}

impl Mobike {
    /// The state an IKE SA created by rekeying this one starts with: still negotiated, nothing
    /// in flight, no view of the peer yet (the NAT detection hashes cover the new SPIs).
    pub(crate) fn successor(&self) -> Self {
        Mobike {
            negotiated: self.negotiated,
            original_initiator: self.original_initiator,
            cookie2: None,
            peer_view: None,
        }
    }
}

/// Whether an established IKE SA follows a peer whose authenticated request arrives on another
/// path without announcing it (RFC 7296 §2.23 NAT rebinding).
///
/// Without MOBIKE it always does. With MOBIKE, RFC 4555
/// [§3.8](https://www.rfc-editor.org/rfc/rfc4555#section-3.8) says the host not behind a NAT
/// must not update IKE addresses from packets (only from UPDATE_SA_ADDRESSES) but may for ESP.
/// We still follow when the *peer* is behind a NAT and we are not: a NAT that changes its
/// mapping gives the peer no address change to announce, strongSwan likewise moves such SAs
/// when the peer's NAT mapping changes, and our data path sends ESP wherever the IKE SA is.
/// A peer not behind a NAT (a MOBIKE client probing paths) moves it only explicitly, and the
/// original initiator never follows: it decides the addresses itself (§3.3), so an answer
/// arriving late on a path it has left does not pull the SA back there.
pub(crate) fn follows_implicitly(sa: &IkeSa) -> bool {
    !sa.mobike.negotiated || (!sa.mobike.original_initiator && sa.nat_remote && !sa.nat_local)
}

/// Whether `view` is an explicit address update on a MOBIKE SA (then only [`Request::apply`]
/// moves the SA, never the implicit rule).
pub(crate) fn is_explicit_update(sa: &IkeSa, view: &View<'_, '_>) -> bool {
    sa.mobike.negotiated && view.notify(NotifyType::UpdateSaAddresses).is_some()
}

/// Sends a liveness check (empty INFORMATIONAL). An initiator behind a NAT on a MOBIKE SA adds
/// NAT detection for its path, so the answer shows whether its NAT mapping changed
/// ([RFC 4555 §3.8](https://www.rfc-editor.org/rfc/rfc4555#section-3.8)).
pub(crate) fn start_liveness(sa: &mut IkeSa, ctx: &mut Ctx<'_>) -> Result<(), Error> {
    let kind = RequestKind::Liveness;
    if !(sa.mobike.negotiated && sa.mobike.original_initiator && sa.nat_local) {
        return sa.request(ctx, ExchangeType::Informational, kind, Vec::new());
    }
    let (source, destination) = init::natd_payloads(ctx, sa.spi_i, sa.spi_r, &sa.path);
    let bodies = init::natd_bodies(&source, &destination).to_vec();
    sa.request(ctx, ExchangeType::Informational, kind, bodies)
}

/// Initiator: records the peer's NAT_DETECTION_DESTINATION_IP from an INFORMATIONAL answer (its
/// hash of the address and port our messages arrive from) and tells whether it differs from the
/// one of the previous answer on this MOBIKE SA, i.e. our NAT mapping changed (§3.8). The first
/// answer only sets the baseline: §3.8 also names the IKE_SA_INIT answer, but that one saw our
/// port-500 mapping and we moved to 4500 since (strongSwan compares the same way).
pub(crate) fn nat_mapping_changed(sa: &mut IkeSa, view: &View<'_, '_>) -> bool {
    let Some(seen) = view
        .notify(NotifyType::NatDetectionDestinationIp)
        .and_then(|n| <[u8; NAT_DETECTION_HASH_LEN]>::try_from(n.data).ok())
    else {
        return false;
    };
    let previous = sa.mobike.peer_view.replace(seen);
    sa.mobike.negotiated && sa.mobike.original_initiator && previous.is_some_and(|p| p != seen)
}

/// Whether we update the peer's view of our addresses with UPDATE_SA_ADDRESSES: MOBIKE was
/// negotiated and we are the original initiator, who alone decides on address updates (§3.3).
fn sends_updates(sa: &IkeSa) -> bool {
    sa.mobike.negotiated && sa.mobike.original_initiator
}

/// Announces the current path to the peer. The original initiator of a MOBIKE SA sends an
/// INFORMATIONAL request with UPDATE_SA_ADDRESSES, NAT detection for the new path and a fresh
/// COOKIE2 (§3.5, §3.7); otherwise an empty INFORMATIONAL the peer follows (RFC 7296 §2.23).
pub(crate) fn start_announce(sa: &mut IkeSa, ctx: &mut Ctx<'_>) -> Result<(), Error> {
    let announced = sa.path;
    if !sends_updates(sa) {
        sa.mobike.cookie2 = None;
        return sa.request(
            ctx,
            ExchangeType::Informational,
            RequestKind::AnnouncePath(announced),
            Vec::new(),
        );
    }
    let mut cookie2 = [0u8; COOKIE2_LEN];
    ctx.rng.fill_bytes(&mut cookie2);
    let (source, destination) = init::natd_payloads(ctx, sa.spi_i, sa.spi_r, &announced);
    let mut bodies = vec![PayloadBody::Notify(Notify::new(
        NotifyType::UpdateSaAddresses,
        &[],
    ))];
    bodies.extend(init::natd_bodies(&source, &destination));
    bodies.push(PayloadBody::Notify(Notify::new(
        NotifyType::Cookie2,
        &cookie2,
    )));
    sa.request(
        ctx,
        ExchangeType::Informational,
        RequestKind::AnnouncePath(announced),
        bodies,
    )?;
    sa.mobike.cookie2 = Some(cookie2);
    Ok(())
}

/// Initiator: the answer to our announcement of `announced`.
///
/// With MOBIKE: the answer must carry our COOKIE2 unchanged (compared in constant time), or the
/// IKE SA closes (§3.7); an error notify (UNEXPECTED_NAT_DETECTED, UNACCEPTABLE_ADDRESSES, ...)
/// means the peer did not move, and the IKE SA closes too, so the driver reconnects instead of
/// sending into the void. The NAT detection notifies of the answer refresh our NAT state (§3.5).
pub(crate) fn handle_announce_response(
    sa: &mut IkeSa,
    ctx: &mut Ctx<'_>,
    announced: Path,
    view: &View<'_, '_>,
) {
    let Some(cookie2) = sa.mobike.cookie2.take() else {
        confirm_path(sa, ctx, announced, false);
        return;
    };
    let echoed = view
        .notify(NotifyType::Cookie2)
        .is_some_and(|n| bool::from(n.data.ct_eq(&cookie2)));
    let failure = if !echoed {
        Some(Error::Cookie2Mismatch)
    } else {
        view.error_notify().map(|n| match n.notify_type {
            NotifyType::UnexpectedNatDetected => Error::UnexpectedNat,
            NotifyType::UnacceptableAddresses => Error::UnacceptableAddresses,
            _ => Error::TemporaryFailure,
        })
    };
    if let Some(error) = failure {
        ctx.shared.counters.address_updates_failed += 1;
        sa.fail(CloseReason::Failed(error));
        return;
    }
    if let Some((nat_local, nat_remote)) = init::detect_nat(view, sa.spi_i, sa.spi_r, &announced) {
        sa.nat_local = nat_local;
        sa.nat_remote = nat_remote;
    }
    nat_mapping_changed(sa, view);
    ctx.shared.counters.address_updates += 1;
    confirm_path(sa, ctx, announced, true);
}

/// The peer answered on `path`: it is alive and the path works, by an UPDATE_SA_ADDRESSES
/// exchange when `mobike`, else by a plain liveness check.
fn confirm_path(sa: &IkeSa, ctx: &mut Ctx<'_>, path: Path, mobike: bool) {
    ctx.event(Event::PeerAlive { sa: sa.handle });
    ctx.event(Event::PathConfirmed {
        sa: sa.handle,
        path,
        mobike,
        nat_local: sa.nat_local,
    });
}

/// The MOBIKE notifies of one INFORMATIONAL request, checked for well-formedness.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Request<'a> {
    update: bool,
    cookie2: Option<&'a [u8]>,
    no_nats: Option<&'a [u8]>,
    natd: bool,
}

impl<'a> Request<'a> {
    /// Reads the MOBIKE notifies (and NAT detection, §3.8) of a request. A notify with a length
    /// RFC 4555 §4.2 does not allow, or two COOKIE2, is INVALID_SYNTAX; unknown data in
    /// UPDATE_SA_ADDRESSES and NO_ADDITIONAL_ADDRESSES (defined empty) is ignored.
    pub(crate) fn parse(view: &View<'_, 'a>) -> Result<Self, Error> {
        let mut request = Request::default();
        let mut natd_source = false;
        let mut natd_destination = false;
        for notify in view.notifies() {
            let length = notify.data.len();
            match notify.notify_type {
                NotifyType::UpdateSaAddresses => request.update = true,
                NotifyType::Cookie2 => {
                    if !(COOKIE2_MIN..=COOKIE2_MAX).contains(&length) {
                        return Err(Error::InvalidSyntax("COOKIE2 length"));
                    }
                    if request.cookie2.replace(notify.data).is_some() {
                        return Err(Error::InvalidSyntax("two COOKIE2 notifies"));
                    }
                }
                NotifyType::NoNatsAllowed => {
                    if length != NO_NATS_V4_LEN && length != NO_NATS_V6_LEN {
                        return Err(Error::InvalidSyntax("NO_NATS_ALLOWED length"));
                    }
                    request.no_nats = Some(notify.data);
                }
                NotifyType::AdditionalIp4Address if length != 4 => {
                    return Err(Error::InvalidSyntax("ADDITIONAL_IP4_ADDRESS length"));
                }
                NotifyType::AdditionalIp6Address if length != 16 => {
                    return Err(Error::InvalidSyntax("ADDITIONAL_IP6_ADDRESS length"));
                }
                NotifyType::NatDetectionSourceIp | NotifyType::NatDetectionDestinationIp
                    if length != NAT_DETECTION_HASH_LEN =>
                {
                    return Err(Error::InvalidSyntax("NAT detection hash length"));
                }
                NotifyType::NatDetectionSourceIp => natd_source = true,
                NotifyType::NatDetectionDestinationIp => natd_destination = true,
                _ => {}
            }
        }
        request.natd = natd_source && natd_destination;
        Ok(request)
    }

    /// Responder: acts on the request, which arrived on `arrival`. UPDATE_SA_ADDRESSES from the
    /// original initiator of a MOBIKE SA moves the IKE SA (and with [`Event::PathChanged`] its
    /// CHILD SAs) there and redoes NAT detection (§3.5); on an SA without MOBIKE, or from the
    /// original responder (only the initiator decides, §3.3), it is ignored and counted as
    /// unexpected. Refuses with [`Error::UnexpectedNat`] when NO_NATS_ALLOWED names other
    /// addresses than the packet carried (§3.9); nothing changes then.
    pub(crate) fn apply(
        &self,
        sa: &mut IkeSa,
        ctx: &mut Ctx<'_>,
        view: &View<'_, '_>,
        arrival: Path,
    ) -> Result<(), Error> {
        if !self.update {
            return Ok(());
        }
        if !sa.mobike.negotiated || sa.mobike.original_initiator {
            ctx.shared.counters.dropped_unexpected += 1;
            return Ok(());
        }
        if self
            .no_nats
            .is_some_and(|data| !no_nats_matches(data, &arrival))
        {
            ctx.shared.counters.address_updates_failed += 1;
            return Err(Error::UnexpectedNat);
        }
        if let Some((nat_local, nat_remote)) = init::detect_nat(view, sa.spi_i, sa.spi_r, &arrival)
        {
            sa.nat_local = nat_local;
            sa.nat_remote = nat_remote;
        }
        ctx.shared.counters.address_updates += 1;
        if sa.path != arrival {
            sa.path = arrival;
            ctx.event(Event::PathChanged {
                sa: sa.handle,
                path: arrival,
            });
        }
        Ok(())
    }

    /// The COOKIE2 to echo, if the request had one.
    pub(crate) fn cookie2(&self) -> Option<&'a [u8]> {
        self.cookie2
    }
}

/// Whether NO_NATS_ALLOWED data (source address, destination address, source port, destination
/// port as the sender put them in the IP and UDP headers, §4.2.7) names the addresses the
/// request arrived with: the peer's (`remote`) as source, ours as destination.
fn no_nats_matches(data: &[u8], arrival: &Path) -> bool {
    no_nats_data(arrival.remote, arrival.local).is_some_and(|expected| expected == data)
}

/// NO_NATS_ALLOWED data for a packet from `source` to `destination`; `None` when the address
/// families differ.
fn no_nats_data(source: SocketAddr, destination: SocketAddr) -> Option<Vec<u8>> {
    let mut data = match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => [s.octets().as_slice(), d.octets().as_slice()].concat(),
        (IpAddr::V6(s), IpAddr::V6(d)) => [s.octets().as_slice(), d.octets().as_slice()].concat(),
        _ => return None,
    };
    data.extend_from_slice(&source.port().to_be_bytes());
    data.extend_from_slice(&destination.port().to_be_bytes());
    Some(data)
}

/// The MOBIKE part of our answer to an INFORMATIONAL request: NAT detection notifies for the
/// response's addresses when the request had them (§3.8) and the request's COOKIE2 copied
/// as-is (§3.7).
pub(crate) struct Answer<'a> {
    natd: Option<([u8; NAT_DETECTION_HASH_LEN], [u8; NAT_DETECTION_HASH_LEN])>,
    cookie2: Option<&'a [u8]>,
}

impl<'a> Answer<'a> {
    /// The answer to `request`, sent on `reply`.
    pub(crate) fn new(sa: &IkeSa, ctx: &mut Ctx<'_>, request: &Request<'a>, reply: &Path) -> Self {
        Answer {
            natd: request
                .natd
                .then(|| init::natd_payloads(ctx, sa.spi_i, sa.spi_r, reply)),
            cookie2: request.cookie2,
        }
    }

    /// The notifies to add to the response.
    pub(crate) fn bodies(&self) -> Vec<PayloadBody<'_>> {
        let mut bodies = Vec::new();
        if let Some((source, destination)) = &self.natd {
            bodies.extend(init::natd_bodies(source, destination));
        }
        if let Some(cookie2) = self.cookie2 {
            bodies.push(PayloadBody::Notify(Notify::new(
                NotifyType::Cookie2,
                cookie2,
            )));
        }
        bodies
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Payload;

    /// Whether a request holding one notify of `kind` with `length` octets of data parses.
    fn parses(kind: NotifyType, length: usize) -> bool {
        let data = vec![0xa5; length];
        let payloads = [Payload::from(PayloadBody::Notify(Notify::new(kind, &data)))];
        Request::parse(&View::new(&payloads)).is_ok()
    }

    #[test]
    fn every_notify_length_is_accepted_exactly_when_rfc_4555_allows_it() {
        // The lengths each MOBIKE notify may have.
        type AllowedLength = fn(usize) -> bool;
        let allowed: [(NotifyType, AllowedLength); 9] = [
            (NotifyType::Cookie2, |length| (8..=64).contains(&length)),
            (NotifyType::NoNatsAllowed, |length| {
                length == 12 || length == 36
            }),
            (NotifyType::AdditionalIp4Address, |length| length == 4),
            (NotifyType::AdditionalIp6Address, |length| length == 16),
            (NotifyType::NatDetectionSourceIp, |length| length == 20),
            (NotifyType::NatDetectionDestinationIp, |length| length == 20),
            // Defined empty; extra data is ignored rather than refused.
            (NotifyType::UpdateSaAddresses, |_| true),
            (NotifyType::NoAdditionalAddresses, |_| true),
            (NotifyType::MobikeSupported, |_| true),
        ];
        for length in 0..=100 {
            for (kind, allows) in allowed {
                assert_eq!(parses(kind, length), allows(length), "{kind:?} {length}");
            }
        }
    }

    #[test]
    fn no_nats_data_is_source_destination_then_ports() {
        let source: SocketAddr = "192.0.2.1:4500".parse().unwrap();
        let destination: SocketAddr = "198.51.100.2:4501".parse().unwrap();
        assert_eq!(
            no_nats_data(source, destination).unwrap(),
            [192, 0, 2, 1, 198, 51, 100, 2, 0x11, 0x94, 0x11, 0x95]
        );
        let v6 = no_nats_data(
            "[2001:db8::1]:500".parse().unwrap(),
            "[2001:db8::2]:500".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(v6.len(), NO_NATS_V6_LEN);
        assert_eq!(
            no_nats_data(source, "[2001:db8::2]:500".parse().unwrap()),
            None
        );
        let arrival = Path::udp(destination, source);
        assert!(no_nats_matches(
            &no_nats_data(source, destination).unwrap(),
            &arrival
        ));
        assert!(!no_nats_matches(
            &no_nats_data(destination, source).unwrap(),
            &arrival
        ));
    }
}
