//! Typed errors of the framing layer: what can be wrong with received bytes ([`DecodeError`]),
//! with a frame the caller asks us to build or queue ([`EncodeError`]) and with a configuration
//! ([`ConfigError`]).

use crate::frame::FrameKind;
use crate::header::HEADER_LEN;

/// Why received bytes are not a valid TPKT' frame.
///
/// Two classes, told apart by [`DecodeError::skip`]:
/// - *stream errors* (bad version, reserved non-zero, bad length, truncation at end of stream): the
///   frame boundaries are lost, so nothing after this point can be trusted; close the connection.
/// - *frame errors* (the payload is neither an IKE message, an ESP packet nor a keepalive): the
///   header was valid, so the frame can be dropped and the stream continues after it, as a
///   malformed UDP-4500 datagram would be dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The version octet is not 1 (TR 33.830 clause 8.5.2.2). Version 3 would be RFC 1006 TPKT.
    #[error("TPKT' version {0} (expected 1)")]
    BadVersion(u8),
    /// The reserved octet is not 0.
    #[error("TPKT' reserved octet {0:#04x} (expected 0)")]
    ReservedNonZero(u8),
    /// The length field is below the 5-octet minimum: a 4-octet header and at least one octet of
    /// payload.
    #[error("TPKT' length {0} below the minimum of 5")]
    LengthTooSmall(u16),
    /// The length field exceeds the receiver's configured maximum frame length.
    #[error("TPKT' length {len} above the configured maximum of {max}")]
    LengthTooLarge {
        /// The length field as received.
        len: u16,
        /// The configured maximum frame length.
        max: u16,
    },
    /// Fewer bytes than a complete header or frame: returned by one-shot parsers
    /// ([`crate::Header::new_checked`]) and at end of stream ([`crate::FrameReader::finish`]).
    /// The incremental decoder answers "need more bytes" instead.
    #[error("truncated TPKT' frame: {have} of {need} octets")]
    Truncated {
        /// Octets available.
        have: usize,
        /// Octets the header or frame needs.
        need: usize,
    },
    /// A one-octet payload other than the `0xFF` NAT-keepalive
    /// (<https://www.rfc-editor.org/rfc/rfc3948#section-2.3>).
    #[error("one-octet payload {value:#04x} is not a NAT-keepalive (0xFF)")]
    InvalidKeepalive {
        /// The octet received.
        value: u8,
    },
    /// A payload of 2 to 7 octets: too short for an ESP SPI and sequence number
    /// (<https://www.rfc-editor.org/rfc/rfc3948#section-2.1>) and for a non-ESP marker plus IKE
    /// header.
    #[error("{len}-octet payload is too short for ESP or IKE")]
    PayloadTooShort {
        /// The payload length (frame length minus the header).
        len: usize,
    },
    /// A non-ESP marker followed by less than the 28-octet IKE header
    /// (<https://www.rfc-editor.org/rfc/rfc7296#section-3.1>).
    #[error("IKE message of {len} octets is shorter than the 28-octet IKE header")]
    IkeTooShort {
        /// The IKE message length (payload length minus the 4-octet marker).
        len: usize,
    },
}

impl DecodeError {
    /// For a frame error, the number of octets the bad frame occupies on the wire: drop them and
    /// decode on. `None` for a stream error: the connection must be closed.
    pub fn skip(&self) -> Option<usize> {
        match *self {
            Self::InvalidKeepalive { .. } => Some(HEADER_LEN + 1),
            Self::PayloadTooShort { len } => Some(HEADER_LEN + len),
            Self::IkeTooShort { len } => Some(HEADER_LEN + crate::frame::NON_ESP_MARKER_LEN + len),
            Self::BadVersion(_)
            | Self::ReservedNonZero(_)
            | Self::LengthTooSmall(_)
            | Self::LengthTooLarge { .. }
            | Self::Truncated { .. } => None,
        }
    }
}

/// Why a frame cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Fewer octets in front of the payload than the header (and marker) need.
    #[error("{available} octets of headroom, {needed} needed")]
    NoHeadroom {
        /// Octets the prefix needs.
        needed: usize,
        /// Octets in front of the payload.
        available: usize,
    },
    /// The payload range ends beyond the buffer (or starts after it ends).
    #[error("payload range {start}..{end} does not fit a buffer of {buf_len} octets")]
    OutOfBounds {
        /// Start of the payload range.
        start: usize,
        /// End of the payload range.
        end: usize,
        /// Length of the buffer.
        buf_len: usize,
    },
    /// The frame would exceed the 16-bit length field (65535 octets).
    #[error("frame of {frame_len} octets exceeds 65535")]
    TooLong {
        /// Header plus payload length.
        frame_len: usize,
    },
    /// The payload would not decode as IKE, ESP or keepalive, so the peer would drop it.
    #[error("payload would not decode: {0}")]
    InvalidPayload(#[from] DecodeError),
    /// A payload offered as ESP demultiplexes as something else (a marker or a keepalive).
    #[error("payload offered as ESP is a {found:?} payload")]
    NotEsp {
        /// What the payload is.
        found: FrameKind,
    },
    /// The send queue has no room for the frame (for ESP: above its share of the queue).
    #[error("send queue full: {needed} octets needed, {available} available")]
    QueueFull {
        /// Octets the frame needs.
        needed: usize,
        /// Octets the queue can still take for this kind of frame.
        available: usize,
    },
}

/// A configuration the framing layer cannot work with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The maximum frame length is too small to carry the smallest IKE message.
    #[error("maximum frame length {max} is below {min}, the smallest IKE frame")]
    MaxFrameLenTooSmall {
        /// The requested maximum.
        max: u16,
        /// The smallest acceptable maximum.
        min: u16,
    },
    /// A reader buffer that cannot hold one maximum-length frame would stall on it.
    #[error("buffer of {capacity} octets cannot hold a {max_frame_len}-octet frame")]
    BufferTooSmall {
        /// The buffer length offered.
        capacity: usize,
        /// The decoder's maximum frame length.
        max_frame_len: usize,
    },
    /// A send queue's IKE reserve larger than the queue itself.
    #[error("IKE reserve of {ike_reserve} octets exceeds the {capacity}-octet queue")]
    ReserveTooLarge {
        /// The reserve asked for.
        ike_reserve: usize,
        /// The queue's buffer length.
        capacity: usize,
    },
}
