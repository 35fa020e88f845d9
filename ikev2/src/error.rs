//! The engine's protocol error and the one place that maps it to an IKE notify
//! ([RFC 7296 §2.21](https://www.rfc-editor.org/rfc/rfc7296#section-2.21), §3.10.1).
//!
//! Every way a received message can fail is an [`Error`]. [`Error::notify`] decides whether the
//! peer is told (and with which notify type and data) or the message is dropped silently; the
//! engine counts every error in [`crate::Counters`].

use crate::crypto::{CryptoError, DhGroup};
use crate::wire::{DecodeError, NotifyType};

/// Why a received message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The message does not parse.
    #[error("malformed message: {0}")]
    Decode(#[from] DecodeError),
    /// A required payload is missing or a payload is not allowed here.
    #[error("invalid syntax: {0}")]
    InvalidSyntax(&'static str),
    /// No acceptable proposal.
    #[error("no proposal chosen")]
    NoProposalChosen,
    /// The KE payload is for a group other than the one we want (§1.2).
    #[error("KE payload for the wrong group; {0:?} wanted")]
    InvalidKe(DhGroup),
    /// The responder wants a COOKIE (§2.6); answered without creating state.
    #[error("cookie required")]
    CookieRequired,
    /// Wrong PSK, wrong AUTH, unknown or mismatching identity.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// Traffic selectors that narrow to nothing.
    #[error("traffic selectors unacceptable")]
    TsUnacceptable,
    /// No virtual address available.
    #[error("internal address failure")]
    InternalAddressFailure,
    /// A CHILD SA request naming an SA we do not have.
    #[error("CHILD SA not found")]
    ChildSaNotFound,
    /// The IKE SA holds as many CHILD SAs as allowed.
    #[error("no additional SAs")]
    NoAdditionalSas,
    /// A request we cannot serve now (e.g. a rekey collides with another exchange).
    #[error("temporary failure")]
    TemporaryFailure,
    /// The SK payload did not decrypt or authenticate.
    #[error("integrity check failed")]
    IntegrityCheckFailed,
    /// A message for an IKE SA we do not have.
    #[error("unknown IKE SPI")]
    UnknownSpi,
    /// A request outside the window or a response to nothing we sent (§2.3).
    #[error("message ID out of window")]
    InvalidMessageId,
    /// An exchange type that is not valid in the current state.
    #[error("unexpected exchange")]
    UnexpectedExchange,
    /// More IKE SAs or half-open SAs than configured; the request is dropped.
    #[error("over capacity")]
    Overloaded,
    /// The response to our UPDATE_SA_ADDRESSES did not echo our COOKIE2
    /// ([RFC 4555 §3.7](https://www.rfc-editor.org/rfc/rfc4555#section-3.7)); the IKE SA closes.
    #[error("COOKIE2 not echoed")]
    Cookie2Mismatch,
    /// NO_NATS_ALLOWED named other addresses than the packet carried: a NAT is in between
    /// ([RFC 4555 §3.9](https://www.rfc-editor.org/rfc/rfc4555#section-3.9)).
    #[error("unexpected NAT detected")]
    UnexpectedNat,
    /// The peer refused the addresses we moved to (UNACCEPTABLE_ADDRESSES, RFC 4555 §3.5).
    #[error("unacceptable addresses")]
    UnacceptableAddresses,
    /// A crypto operation failed on our side (e.g. a malformed public value from the peer).
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
}

impl Error {
    /// The notify (type and data) a *request* that failed with this error is answered with, or
    /// `None` to drop it silently. Responses are never answered (§2.21.2).
    ///
    /// Messages that failed authentication (SK integrity, unknown SPI) are dropped: answering them
    /// would let anyone make us send (§2.21.4). IKE_SA_INIT errors go back unprotected; later ones
    /// inside the SK payload.
    pub fn notify(&self) -> Option<(NotifyType, Vec<u8>)> {
        let plain = |t: NotifyType| Some((t, Vec::new()));
        match self {
            Error::Decode(e) => e.notify_type().map(|t| (t, e.notify_data())),
            Error::InvalidSyntax(_) => plain(NotifyType::InvalidSyntax),
            Error::NoProposalChosen => plain(NotifyType::NoProposalChosen),
            Error::InvalidKe(group) => Some((
                NotifyType::InvalidKePayload,
                group.transform_id().to_be_bytes().to_vec(),
            )),
            Error::AuthenticationFailed => plain(NotifyType::AuthenticationFailed),
            Error::TsUnacceptable => plain(NotifyType::TsUnacceptable),
            Error::InternalAddressFailure => plain(NotifyType::InternalAddressFailure),
            Error::ChildSaNotFound => plain(NotifyType::ChildSaNotFound),
            Error::TemporaryFailure => plain(NotifyType::TemporaryFailure),
            Error::NoAdditionalSas => plain(NotifyType::NoAdditionalSas),
            Error::Crypto(_) => plain(NotifyType::InvalidSyntax),
            Error::UnexpectedNat => plain(NotifyType::UnexpectedNatDetected),
            Error::UnacceptableAddresses => plain(NotifyType::UnacceptableAddresses),
            Error::CookieRequired
            | Error::IntegrityCheckFailed
            | Error::UnknownSpi
            | Error::InvalidMessageId
            | Error::UnexpectedExchange
            | Error::Overloaded
            | Error::Cookie2Mismatch => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_mapping() {
        assert_eq!(
            Error::InvalidKe(DhGroup::Ecp256).notify(),
            Some((NotifyType::InvalidKePayload, vec![0, 19]))
        );
        assert_eq!(
            Error::NoProposalChosen.notify().map(|n| n.0),
            Some(NotifyType::NoProposalChosen)
        );
        assert_eq!(Error::IntegrityCheckFailed.notify(), None);
        assert_eq!(Error::UnknownSpi.notify(), None);
        assert_eq!(
            Error::Decode(DecodeError::UnsupportedCriticalPayload(99)).notify(),
            Some((NotifyType::UnsupportedCriticalPayload, vec![99]))
        );
    }
}
