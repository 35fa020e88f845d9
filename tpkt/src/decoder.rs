//! The frame decoder: finds the next frame at the front of a byte buffer the caller owns.
//!
//! [`Decoder`] holds no bytes and no state beyond its limit, so it works over any buffer (a
//! `Vec<u8>`, a pooled packet buffer, `BytesMut` through deref): call it on the unconsumed
//! bytes, act on the frame, drop [`Frame::wire_len`] octets from the front, repeat; `Ok(None)`
//! means the next frame is not complete yet. [`crate::FrameReader`] packages that loop with a
//! bounded buffer for callers that read from a socket.

use core::ops::Range;

use crate::error::{ConfigError, DecodeError};
use crate::frame::{Frame, FrameKind, MIN_IKE_FRAME_LEN};
use crate::header::{check_partial, Header, DEFAULT_MAX_FRAME_LEN, HEADER_LEN};

/// Decodes TPKT' frames up to a maximum length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    max_frame_len: u16,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder accepting frames up to [`DEFAULT_MAX_FRAME_LEN`].
    pub const fn new() -> Self {
        Self {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
        }
    }

    /// A decoder accepting frames up to `max_frame_len` octets (header included). It must hold
    /// at least the smallest IKE frame ([`MIN_IKE_FRAME_LEN`]).
    pub fn with_max_frame_len(max_frame_len: u16) -> Result<Self, ConfigError> {
        const MIN: u16 = MIN_IKE_FRAME_LEN as u16;
        if max_frame_len < MIN {
            return Err(ConfigError::MaxFrameLenTooSmall {
                max: max_frame_len,
                min: MIN,
            });
        }
        Ok(Self { max_frame_len })
    }

    /// The largest frame (header included) this decoder accepts.
    pub const fn max_frame_len(&self) -> usize {
        self.max_frame_len as usize
    }

    /// Locates the frame at the front of `buf`.
    ///
    /// `Ok(None)`: `buf` holds only the start of a frame (possibly nothing); call again with
    /// more bytes. A header that is already wrong in its first octets is refused at once.
    /// `Err`: see [`DecodeError::skip`] for whether the stream can continue.
    pub fn decode_span(&self, buf: &[u8]) -> Result<Option<FrameSpan>, DecodeError> {
        let Some(header) = buf.first_chunk::<HEADER_LEN>() else {
            check_partial(buf)?;
            return Ok(None);
        };
        let frame_len = Header::new_checked(header)?.validate(self.max_frame_len)?;
        let Some(payload) = buf.get(HEADER_LEN..frame_len) else {
            return Ok(None);
        };
        let kind = FrameKind::of_payload(payload)?;
        Ok(Some(FrameSpan { kind, frame_len }))
    }

    /// Decodes the frame at the front of `buf`, as [`Decoder::decode_span`].
    pub fn decode<'a>(&self, buf: &'a [u8]) -> Result<Option<Frame<&'a [u8]>>, DecodeError> {
        Ok(self.decode_span(buf)?.and_then(|span| span.frame(buf)))
    }

    /// Decodes the frame at the front of `buf` with a writable body, as
    /// [`Decoder::decode_span`].
    pub fn decode_mut<'a>(
        &self,
        buf: &'a mut [u8],
    ) -> Result<Option<Frame<&'a mut [u8]>>, DecodeError> {
        Ok(self.decode_span(buf)?.and_then(|span| span.frame_mut(buf)))
    }
}

/// Where a decoded frame lies in the buffer it was decoded from (offsets from the frame start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSpan {
    kind: FrameKind,
    frame_len: usize,
}

impl FrameSpan {
    /// What the frame carries.
    pub const fn kind(&self) -> FrameKind {
        self.kind
    }

    /// Octets the frame occupies, header included: consume this many after handling it.
    pub const fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// The payload (the UDP-4500 payload: marker and IKE message, ESP packet, or keepalive).
    pub const fn payload_range(&self) -> Range<usize> {
        HEADER_LEN..self.frame_len
    }

    /// The body: the IKE message after the marker, the ESP packet from its SPI, or for a
    /// keepalive the `0xFF` octet.
    pub const fn body_range(&self) -> Range<usize> {
        HEADER_LEN + self.kind.body_offset()..self.frame_len
    }

    /// The frame in `buf`, which must be the buffer (or a buffer starting with the same frame)
    /// the span was decoded from; `None` if `buf` is too short.
    pub fn frame<'a>(&self, buf: &'a [u8]) -> Option<Frame<&'a [u8]>> {
        buf.get(self.body_range()).map(|body| self.kind.wrap(body))
    }

    /// The frame in `buf` with a writable body, as [`FrameSpan::frame`].
    pub fn frame_mut<'a>(&self, buf: &'a mut [u8]) -> Option<Frame<&'a mut [u8]>> {
        buf.get_mut(self.body_range())
            .map(|body| self.kind.wrap(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ESP_FRAME: [u8; 12] = [1, 0, 0, 12, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1];

    #[test]
    fn decodes_an_esp_frame_and_its_ranges() {
        let decoder = Decoder::new();
        let span = decoder.decode_span(&ESP_FRAME).unwrap().unwrap();
        assert_eq!(span.kind(), FrameKind::Esp);
        assert_eq!(span.frame_len(), 12);
        assert_eq!(span.payload_range(), 4..12);
        assert_eq!(span.body_range(), 4..12);
        assert_eq!(
            decoder.decode(&ESP_FRAME),
            Ok(Some(Frame::Esp(&ESP_FRAME[4..])))
        );
    }

    #[test]
    fn every_prefix_needs_more_bytes() {
        let decoder = Decoder::new();
        for len in 0..ESP_FRAME.len() {
            assert_eq!(decoder.decode(&ESP_FRAME[..len]), Ok(None), "prefix {len}");
        }
    }

    #[test]
    fn decodes_only_the_first_of_two_frames() {
        let mut two = ESP_FRAME.to_vec();
        two.extend_from_slice(&[1, 0, 0, 5, 0xff]);
        let decoder = Decoder::new();
        let first = decoder.decode(&two).unwrap().unwrap();
        assert_eq!(first, Frame::Esp(&ESP_FRAME[4..]));
        let rest = &two[first.wire_len()..];
        assert_eq!(decoder.decode(rest), Ok(Some(Frame::Keepalive)));
    }

    #[test]
    fn keepalive_body_range_is_its_octet() {
        let span = Decoder::new()
            .decode_span(&[1, 0, 0, 5, 0xff])
            .unwrap()
            .unwrap();
        assert_eq!(span.body_range(), 4..5);
    }

    #[test]
    fn refuses_bad_headers() {
        let decoder = Decoder::with_max_frame_len(100).unwrap();
        assert_eq!(decoder.decode(&[2]), Err(DecodeError::BadVersion(2)));
        assert_eq!(
            decoder.decode(&[1, 0x80]),
            Err(DecodeError::ReservedNonZero(0x80))
        );
        assert_eq!(
            decoder.decode(&[1, 0, 0, 4]),
            Err(DecodeError::LengthTooSmall(4))
        );
        assert_eq!(
            decoder.decode(&[1, 0, 0, 101]),
            Err(DecodeError::LengthTooLarge { len: 101, max: 100 })
        );
    }

    #[test]
    fn max_frame_len_must_hold_an_ike_frame() {
        assert_eq!(
            Decoder::with_max_frame_len(35),
            Err(ConfigError::MaxFrameLenTooSmall { max: 35, min: 36 })
        );
        assert_eq!(Decoder::with_max_frame_len(36).unwrap().max_frame_len(), 36);
        assert_eq!(Decoder::default().max_frame_len(), 16384);
    }

    #[test]
    fn decode_mut_gives_a_writable_esp_body() {
        let mut buf = ESP_FRAME;
        match Decoder::new().decode_mut(&mut buf).unwrap() {
            Some(Frame::Esp(body)) => body.fill(0x55),
            other => panic!("expected ESP, got {other:?}"),
        }
        assert_eq!(&buf[..4], &ESP_FRAME[..4]);
        assert!(buf[4..].iter().all(|&b| b == 0x55));
    }

    #[test]
    fn span_on_a_short_buffer_is_none() {
        let span = Decoder::new().decode_span(&ESP_FRAME).unwrap().unwrap();
        assert_eq!(span.frame(&ESP_FRAME[..11]), None);
    }
}
