//! Codec errors and their mapping to IKE notify types.
//!
//! [`DecodeError`] says why received bytes are not a valid IKEv2 message or payload chain;
//! [`DecodeError::notify_type`] is the one place that decides which notify (if any) tells the
//! peer about it (RFC 7296 §2.21.1 and §3.10.1). [`EncodeError`] says why a message could not be
//! represented on the wire (a length or count beyond its field).

use super::notify_type::NotifyType;

/// Why received bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ends inside the named structure.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// Bytes remain after the named structure where none may.
    #[error("trailing data after {0}")]
    TrailingData(&'static str),
    /// A length field is smaller than the fixed part of its structure.
    #[error("{what} length {length} is below its minimum {minimum}")]
    LengthTooSmall {
        /// The structure.
        what: &'static str,
        /// The length field as received.
        length: usize,
        /// The smallest valid length.
        minimum: usize,
    },
    /// The IKE header's length field does not match the message size.
    #[error("IKE header says {header} bytes but the message has {actual}")]
    MessageLengthMismatch {
        /// The length field as received.
        header: u32,
        /// The number of bytes received.
        actual: usize,
    },
    /// The major version is not 2 (<https://www.rfc-editor.org/rfc/rfc7296#section-2.5>).
    #[error("unsupported IKE major version {0}")]
    UnsupportedMajorVersion(u8),
    /// A proposal or transform "last substructure" octet has the wrong value.
    #[error("{what} has last-substructure value {value}")]
    BadLastSubstructure {
        /// Proposal or transform.
        what: &'static str,
        /// The value received.
        value: u8,
    },
    /// An SA payload without any proposal.
    #[error("SA payload without proposals")]
    EmptySa,
    /// Proposal numbers that do not increase by one
    /// (<https://www.rfc-editor.org/rfc/rfc7296#section-3.3.1>).
    #[error("proposal number {number} follows proposal number {previous}")]
    ProposalNumberOutOfOrder {
        /// The previous proposal's number.
        previous: u8,
        /// This proposal's number.
        number: u8,
    },
    /// The declared number of transforms, selectors or SPIs differs from what is present.
    #[error("{what}: {declared} declared, {found} present")]
    CountMismatch {
        /// What was counted.
        what: &'static str,
        /// The count field as received.
        declared: usize,
        /// The number actually present.
        found: usize,
    },
    /// An SPI size that does not fit the protocol.
    #[error("SPI size {size} is invalid for protocol {protocol}")]
    InvalidSpiSize {
        /// The protocol ID as received.
        protocol: u8,
        /// The SPI size as received.
        size: u8,
    },
    /// A nonce outside 16..=256 octets (<https://www.rfc-editor.org/rfc/rfc7296#section-3.9>).
    #[error("nonce of {0} octets, outside 16..=256")]
    InvalidNonceLength(usize),
    /// A traffic selector whose length does not fit its type.
    #[error("traffic selector of type {ts_type} has length {length}")]
    InvalidSelectorLength {
        /// The TS type as received.
        ts_type: u8,
        /// The selector length as received.
        length: usize,
    },
    /// A configuration attribute whose length does not fit its type
    /// (<https://www.rfc-editor.org/rfc/rfc7296#section-3.15.1>).
    #[error("configuration attribute {kind} with length {length}")]
    InvalidAttributeLength {
        /// The attribute type as received.
        kind: u16,
        /// The attribute length as received.
        length: u16,
    },
    /// An EAP message whose own length field differs from the payload body.
    #[error("EAP message length {declared} in a {actual}-octet body")]
    EapLengthMismatch {
        /// The EAP length field.
        declared: u16,
        /// The body size.
        actual: usize,
    },
    /// An SK or SKF payload followed by more payloads
    /// (<https://www.rfc-editor.org/rfc/rfc7296#section-3.14>).
    #[error("encrypted payload is not the last payload")]
    EncryptedNotLast,
    /// An SK or SKF payload inside decrypted content.
    #[error("encrypted payload inside an encrypted payload")]
    NestedEncrypted,
    /// An SKF fragment number of 0 or beyond the total (RFC 7383 §2.5).
    #[error("fragment {number} of {total}")]
    InvalidFragmentNumber {
        /// Fragment number as received.
        number: u16,
        /// Total fragments as received.
        total: u16,
    },
    /// An unrecognized payload with the critical bit set
    /// (<https://www.rfc-editor.org/rfc/rfc7296#section-2.5>); reported by
    /// [`super::check_critical_payloads`], never by parsing itself.
    #[error("unsupported critical payload type {0}")]
    UnsupportedCriticalPayload(u8),
}

impl DecodeError {
    /// The notify type to answer a request that failed with this error, or `None` when the
    /// message must be dropped silently.
    ///
    /// RFC 7296 §2.5: a higher major version is answered with INVALID_MAJOR_VERSION, a lower one
    /// (IKEv1) is dropped; an unrecognized critical payload is answered with
    /// UNSUPPORTED_CRITICAL_PAYLOAD; every other malformation is INVALID_SYNTAX (§3.10.1).
    /// Whether to send the notify at all (only for requests, and only protected once an IKE SA
    /// exists) is the engine's decision (§2.21).
    pub fn notify_type(&self) -> Option<NotifyType> {
        match self {
            Self::UnsupportedMajorVersion(major) if *major > super::header::MAJOR_VERSION => {
                Some(NotifyType::InvalidMajorVersion)
            }
            Self::UnsupportedMajorVersion(_) => None,
            Self::UnsupportedCriticalPayload(_) => Some(NotifyType::UnsupportedCriticalPayload),
            _ => Some(NotifyType::InvalidSyntax),
        }
    }

    /// The notification data that goes with [`Self::notify_type`]: the one-octet payload type
    /// for UNSUPPORTED_CRITICAL_PAYLOAD, empty otherwise (RFC 7296 §3.10.1).
    pub fn notify_data(&self) -> Vec<u8> {
        match self {
            Self::UnsupportedCriticalPayload(payload_type) => vec![*payload_type],
            _ => Vec::new(),
        }
    }
}

/// Why a message or payload could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A structure longer than its length field can express.
    #[error("{0} too long for its length field")]
    TooLong(&'static str),
    /// More items than a count field can express.
    #[error("too many {0} for the count field")]
    TooMany(&'static str),
    /// A value outside the range of its field.
    #[error("{0} out of range for its field")]
    OutOfRange(&'static str),
    /// SPIs of different sizes in one Delete payload, or not of the declared size.
    #[error("SPI of {actual} octets in a list of {declared}-octet SPIs")]
    SpiSizeMismatch {
        /// The declared SPI size.
        declared: u8,
        /// The size of the offending SPI.
        actual: usize,
    },
    /// An SK or SKF payload that is not the last one.
    #[error("encrypted payload is not the last payload")]
    EncryptedNotLast,
}
