//! Building frames without copying the payload.
//!
//! The sender prepares the payload in a buffer with headroom in front of it: [`HEADER_LEN`] (4)
//! octets for an ESP packet, [`IKE_PREFIX_LEN`] (8) for an IKE message, whose non-ESP marker is
//! written too. [`encode_in_place`] / [`encode_ike_in_place`] write the prefix and return the
//! range of the finished frame, ready for one `write`. When the payload lives elsewhere (an IKE
//! message from the engine), [`frame_header`] / [`ike_prefix`] return the prefix alone for a
//! vectored write.
//!
//! ```
//! use tpkt::{encode_in_place, Decoder, Frame};
//!
//! // ESP sealed at offset 4 of a pooled buffer (SPI 0xc0000001, sequence 1, ciphertext).
//! let mut buf = [0u8; 32];
//! buf[4..16].copy_from_slice(&[0xc0, 0, 0, 1, 0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd]);
//! let frame = encode_in_place(&mut buf, 4..16).unwrap();
//! assert_eq!(frame, 0..16);
//! assert_eq!(&buf[..4], &[1, 0, 0, 16]);
//! assert_eq!(Decoder::new().decode(&buf[frame]), Ok(Some(Frame::Esp(&buf[4..16]))));
//! ```

use core::ops::Range;

use crate::error::{DecodeError, EncodeError};
use crate::frame::{FrameKind, IKE_HEADER_LEN, KEEPALIVE, NON_ESP_MARKER, NON_ESP_MARKER_LEN};
use crate::header::{HEADER_LEN, RESERVED, VERSION};

/// Headroom an IKE message needs: TPKT' header plus non-ESP marker.
pub const IKE_PREFIX_LEN: usize = HEADER_LEN + NON_ESP_MARKER_LEN;

/// A complete NAT-keepalive frame. Over TCP a sender has no need for it
/// (<https://www.rfc-editor.org/rfc/rfc9329#section-6.6>); it is here for tests and peers that
/// expect it.
pub const KEEPALIVE_FRAME: [u8; HEADER_LEN + 1] = [VERSION, 0, 0, 5, KEEPALIVE];

/// The header for a payload of `payload_len` octets.
pub fn frame_header(payload_len: usize) -> Result<[u8; HEADER_LEN], EncodeError> {
    let frame_len = payload_len.saturating_add(HEADER_LEN);
    let [high, low] = u16::try_from(frame_len)
        .map_err(|_| EncodeError::TooLong { frame_len })?
        .to_be_bytes();
    Ok([VERSION, RESERVED, high, low])
}

/// Header and non-ESP marker for an IKE message of `ike_len` octets.
pub fn ike_prefix(ike_len: usize) -> Result<[u8; IKE_PREFIX_LEN], EncodeError> {
    let [v, r, high, low] = frame_header(NON_ESP_MARKER_LEN.saturating_add(ike_len))?;
    let [m0, m1, m2, m3] = NON_ESP_MARKER;
    Ok([v, r, high, low, m0, m1, m2, m3])
}

/// Writes the header in the 4 octets before `payload` and returns the frame's range in `buf`.
///
/// The payload must decode (IKE with its marker, ESP from its SPI, or a keepalive): a frame the
/// peer would drop is refused here instead.
pub fn encode_in_place(buf: &mut [u8], payload: Range<usize>) -> Result<Range<usize>, EncodeError> {
    let frame = prefixed_range(buf.len(), &payload, HEADER_LEN)?;
    let payload_bytes = buf.get(payload.clone()).unwrap_or_default();
    FrameKind::of_payload(payload_bytes)?;
    let header = frame_header(payload.len())?;
    if let Some(dst) = buf.get_mut(frame.start..payload.start) {
        dst.copy_from_slice(&header);
    }
    Ok(frame)
}

/// Writes header and non-ESP marker in the 8 octets before the IKE message at `ike` and returns
/// the frame's range in `buf`.
pub fn encode_ike_in_place(buf: &mut [u8], ike: Range<usize>) -> Result<Range<usize>, EncodeError> {
    let frame = prefixed_range(buf.len(), &ike, IKE_PREFIX_LEN)?;
    if ike.len() < IKE_HEADER_LEN {
        return Err(DecodeError::IkeTooShort { len: ike.len() }.into());
    }
    let prefix = ike_prefix(ike.len())?;
    if let Some(dst) = buf.get_mut(frame.start..ike.start) {
        dst.copy_from_slice(&prefix);
    }
    Ok(frame)
}

/// The range of `body` extended by `prefix_len` octets in front, checked against the buffer.
fn prefixed_range(
    buf_len: usize,
    body: &Range<usize>,
    prefix_len: usize,
) -> Result<Range<usize>, EncodeError> {
    if body.start > body.end || body.end > buf_len {
        return Err(EncodeError::OutOfBounds {
            start: body.start,
            end: body.end,
            buf_len,
        });
    }
    let Some(frame_start) = body.start.checked_sub(prefix_len) else {
        return Err(EncodeError::NoHeadroom {
            needed: prefix_len,
            available: body.start,
        });
    };
    Ok(frame_start..body.end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decoder, Frame};

    fn ike_message(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8 + 1).collect()
    }

    #[test]
    fn header_encodes_length_big_endian() {
        assert_eq!(frame_header(1), Ok([1, 0, 0, 5]));
        assert_eq!(frame_header(0x1234 - 4), Ok([1, 0, 0x12, 0x34]));
        assert_eq!(frame_header(65531), Ok([1, 0, 0xff, 0xff]));
        assert_eq!(
            frame_header(65532),
            Err(EncodeError::TooLong { frame_len: 65536 })
        );
        assert_eq!(
            frame_header(usize::MAX),
            Err(EncodeError::TooLong {
                frame_len: usize::MAX
            })
        );
    }

    #[test]
    fn ike_prefix_carries_the_marker() {
        assert_eq!(ike_prefix(28), Ok([1, 0, 0, 36, 0, 0, 0, 0]));
    }

    #[test]
    fn ike_in_place_round_trips() {
        let message = ike_message(300);
        let mut buf = vec![0xee; 10 + message.len() + 3];
        buf[10..310].copy_from_slice(&message);
        let frame = encode_ike_in_place(&mut buf, 10..310).unwrap();
        assert_eq!(frame, 2..310);
        let mut prefixed = ike_prefix(300).unwrap().to_vec();
        prefixed.extend_from_slice(&message);
        assert_eq!(&buf[frame.clone()], &prefixed[..]);
        assert_eq!(
            Decoder::new().decode(&buf[frame]),
            Ok(Some(Frame::Ike(&message[..])))
        );
    }

    #[test]
    fn keepalive_frame_decodes() {
        assert_eq!(
            Decoder::new().decode(&KEEPALIVE_FRAME),
            Ok(Some(Frame::Keepalive))
        );
        let mut buf = [0, 0, 0, 0, 0xff];
        assert_eq!(encode_in_place(&mut buf, 4..5), Ok(0..5));
        assert_eq!(buf, KEEPALIVE_FRAME);
    }

    #[test]
    fn refuses_missing_headroom_and_bad_ranges() {
        let mut buf = [0xc0u8; 20];
        assert_eq!(
            encode_in_place(&mut buf, 3..20),
            Err(EncodeError::NoHeadroom {
                needed: 4,
                available: 3
            })
        );
        assert_eq!(
            encode_ike_in_place(&mut buf, 7..20),
            Err(EncodeError::NoHeadroom {
                needed: 8,
                available: 7
            })
        );
        assert_eq!(
            encode_in_place(&mut buf, 4..21),
            Err(EncodeError::OutOfBounds {
                start: 4,
                end: 21,
                buf_len: 20
            })
        );
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = 12..8;
        assert!(matches!(
            encode_in_place(&mut buf, reversed),
            Err(EncodeError::OutOfBounds { .. })
        ));
        assert_eq!(
            encode_ike_in_place(&mut buf, 8..20),
            Err(EncodeError::InvalidPayload(DecodeError::IkeTooShort {
                len: 12
            }))
        );
        assert_eq!(buf, [0xc0; 20], "nothing written on error");
    }

    #[test]
    fn refuses_payloads_the_peer_would_drop() {
        let mut buf = [0u8; 64];
        assert_eq!(
            encode_in_place(&mut buf, 4..4),
            Err(EncodeError::InvalidPayload(DecodeError::PayloadTooShort {
                len: 0
            }))
        );
        assert_eq!(
            encode_in_place(&mut buf, 4..15),
            Err(EncodeError::InvalidPayload(DecodeError::IkeTooShort {
                len: 7
            }))
        );
    }
}
