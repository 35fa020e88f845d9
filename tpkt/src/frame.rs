//! The typed content of a TPKT' frame and the IKE/ESP/keepalive demultiplexing of its payload.
//!
//! A TPKT' payload is exactly a UDP-4500 payload, so it is demultiplexed the way RFC 3948 demuxes
//! port 4500 (<https://www.rfc-editor.org/rfc/rfc3948#section-2>):
//!
//! | payload | meaning |
//! | --- | --- |
//! | the single octet `0xFF` | NAT-keepalive ([RFC 3948 §2.3](https://www.rfc-editor.org/rfc/rfc3948#section-2.3)) |
//! | four zero octets, then at least 28 octets | IKE message after the non-ESP marker ([§2.2](https://www.rfc-editor.org/rfc/rfc3948#section-2.2)) |
//! | first four octets not all zero, at least 8 octets | ESP packet from its SPI ([§2.1](https://www.rfc-editor.org/rfc/rfc3948#section-2.1)) |
//! | anything else | a frame error ([`DecodeError`]) |
//!
//! An SPI of zero is never sent on the wire
//! (<https://www.rfc-editor.org/rfc/rfc4303#section-2.1>), which is what makes the zero marker
//! unambiguous.

use crate::error::DecodeError;
use crate::header::HEADER_LEN;

/// Octets of the non-ESP marker in front of an IKE message.
pub const NON_ESP_MARKER_LEN: usize = 4;
/// The non-ESP marker: four zero octets where an ESP packet has its (never zero) SPI.
pub const NON_ESP_MARKER: [u8; NON_ESP_MARKER_LEN] = [0; NON_ESP_MARKER_LEN];
/// The fixed IKE header (<https://www.rfc-editor.org/rfc/rfc7296#section-3.1>).
pub const IKE_HEADER_LEN: usize = 28;
/// The ESP SPI plus sequence number, the least an ESP payload must carry to be routed to an SA.
pub const ESP_MIN_LEN: usize = 8;
/// The one-octet NAT-keepalive payload.
pub const KEEPALIVE: u8 = 0xFF;
/// The smallest frame carrying an IKE message: header, marker and IKE header.
pub const MIN_IKE_FRAME_LEN: usize = HEADER_LEN + NON_ESP_MARKER_LEN + IKE_HEADER_LEN;

/// What a frame carries, without the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// An IKE message (after the non-ESP marker).
    Ike,
    /// An ESP packet (from its SPI).
    Esp,
    /// A NAT-keepalive.
    Keepalive,
}

impl FrameKind {
    /// Demultiplexes a TPKT' payload (a UDP-4500 payload) per the table in the module docs.
    pub fn of_payload(payload: &[u8]) -> Result<Self, DecodeError> {
        match payload {
            [KEEPALIVE] => Ok(Self::Keepalive),
            [value] => Err(DecodeError::InvalidKeepalive { value: *value }),
            _ if payload.len() < ESP_MIN_LEN => {
                Err(DecodeError::PayloadTooShort { len: payload.len() })
            }
            [0, 0, 0, 0, ike @ ..] if ike.len() < IKE_HEADER_LEN => {
                Err(DecodeError::IkeTooShort { len: ike.len() })
            }
            [0, 0, 0, 0, ..] => Ok(Self::Ike),
            _ => Ok(Self::Esp),
        }
    }

    /// Where the body starts in the payload: after the marker for IKE, at the start otherwise.
    pub const fn body_offset(self) -> usize {
        match self {
            Self::Ike => NON_ESP_MARKER_LEN,
            Self::Esp | Self::Keepalive => 0,
        }
    }

    /// Wraps `body` (the bytes [`Frame::body`] would return) in the matching [`Frame`] variant; a
    /// keepalive drops it.
    pub fn wrap<B>(self, body: B) -> Frame<B> {
        match self {
            Self::Ike => Frame::Ike(body),
            Self::Esp => Frame::Esp(body),
            Self::Keepalive => Frame::Keepalive,
        }
    }
}

/// One decoded frame, borrowing its body from the receive buffer: `B` is `&[u8]` or, for
/// decrypting ESP in place, `&mut [u8]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<B> {
    /// An IKE message, starting at the IKE header (the non-ESP marker is stripped). This is what
    /// the IKE engine takes.
    Ike(B),
    /// An ESP packet, starting at the SPI. This is what an ESP SA opens.
    Esp(B),
    /// A NAT-keepalive. Over TCP it carries no meaning and is dropped
    /// (<https://www.rfc-editor.org/rfc/rfc9329#section-6.6>).
    Keepalive,
}

impl<B: AsRef<[u8]>> Frame<B> {
    /// What the frame carries.
    pub fn kind(&self) -> FrameKind {
        match self {
            Self::Ike(_) => FrameKind::Ike,
            Self::Esp(_) => FrameKind::Esp,
            Self::Keepalive => FrameKind::Keepalive,
        }
    }

    /// The IKE message or ESP packet; empty for a keepalive.
    pub fn body(&self) -> &[u8] {
        match self {
            Self::Ike(body) | Self::Esp(body) => body.as_ref(),
            Self::Keepalive => &[],
        }
    }

    /// Octets the frame occupies on the wire: header, marker if any, body.
    pub fn wire_len(&self) -> usize {
        match self {
            Self::Ike(body) => HEADER_LEN + NON_ESP_MARKER_LEN + body.as_ref().len(),
            Self::Esp(body) => HEADER_LEN + body.as_ref().len(),
            Self::Keepalive => HEADER_LEN + 1,
        }
    }
}

impl<'a> Frame<&'a [u8]> {
    /// Demultiplexes a complete payload (the frame minus its header).
    pub fn from_payload(payload: &'a [u8]) -> Result<Self, DecodeError> {
        let kind = FrameKind::of_payload(payload)?;
        let body = payload.get(kind.body_offset()..).unwrap_or_default();
        Ok(kind.wrap(body))
    }
}

impl<'a> Frame<&'a mut [u8]> {
    /// Demultiplexes a complete payload, keeping the body writable (decrypt ESP in place).
    pub fn from_payload_mut(payload: &'a mut [u8]) -> Result<Self, DecodeError> {
        let kind = FrameKind::of_payload(payload)?;
        let body = payload.get_mut(kind.body_offset()..).unwrap_or_default();
        Ok(kind.wrap(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ike_payload(ike_len: usize) -> Vec<u8> {
        let mut payload = NON_ESP_MARKER.to_vec();
        payload.extend((0..ike_len).map(|i| i as u8 | 1));
        payload
    }

    #[test]
    fn demuxes_keepalive() {
        assert_eq!(Frame::from_payload(&[0xff]), Ok(Frame::Keepalive));
        for value in 0..0xffu8 {
            assert_eq!(
                Frame::from_payload(&[value]),
                Err(DecodeError::InvalidKeepalive { value })
            );
        }
    }

    #[test]
    fn demuxes_ike_and_strips_marker() {
        let payload = ike_payload(IKE_HEADER_LEN);
        let frame = Frame::from_payload(&payload).unwrap();
        assert_eq!(frame, Frame::Ike(&payload[4..]));
        assert_eq!(frame.wire_len(), HEADER_LEN + payload.len());
        for ike_len in 0..IKE_HEADER_LEN {
            let expected = if ike_len + NON_ESP_MARKER_LEN < ESP_MIN_LEN {
                DecodeError::PayloadTooShort {
                    len: ike_len + NON_ESP_MARKER_LEN,
                }
            } else {
                DecodeError::IkeTooShort { len: ike_len }
            };
            assert_eq!(Frame::from_payload(&ike_payload(ike_len)), Err(expected));
        }
    }

    #[test]
    fn demuxes_esp_from_spi() {
        let payload = [0, 0, 0, 1, 0, 0, 0, 7];
        let frame = Frame::from_payload(&payload).unwrap();
        assert_eq!(frame, Frame::Esp(&payload[..]));
        assert_eq!(frame.wire_len(), 12);
        // An SPI with only its last octet non-zero is still an SPI, not a marker.
        let payload = [0, 0, 0, 0x80, 0, 0, 0, 1, 9];
        assert_eq!(Frame::from_payload(&payload), Ok(Frame::Esp(&payload[..])));
        for len in 2..ESP_MIN_LEN {
            assert_eq!(
                Frame::from_payload(&[0xc0; ESP_MIN_LEN][..len]),
                Err(DecodeError::PayloadTooShort { len })
            );
        }
        assert_eq!(
            Frame::from_payload(&[]),
            Err(DecodeError::PayloadTooShort { len: 0 })
        );
    }

    #[test]
    fn mutable_body_is_the_same_range() {
        let mut payload = ike_payload(40);
        let expected = payload[4..].to_vec();
        match Frame::from_payload_mut(&mut payload).unwrap() {
            Frame::Ike(body) => {
                assert_eq!(body, &expected[..]);
                body[0] = 0xaa;
            }
            other => panic!("expected IKE, got {other:?}"),
        }
        assert_eq!(payload[4], 0xaa);
    }

    #[test]
    fn frame_errors_say_how_much_to_skip() {
        for payload in [vec![7u8], vec![1; 5], ike_payload(20)] {
            let error = Frame::from_payload(&payload).unwrap_err();
            assert_eq!(error.skip(), Some(HEADER_LEN + payload.len()), "{error}");
        }
    }
}
