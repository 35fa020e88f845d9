//! A per-connection receive buffer that turns a TCP byte stream into frames.
//!
//! [`FrameReader`] owns a fixed buffer of at least the decoder's maximum frame length and never
//! grows it: memory per connection is bounded by construction. The socket reads straight into
//! [`FrameReader::spare_mut`]; frames come out of [`FrameReader::next_frame`] as writable slices
//! of that same buffer, so an ESP packet is decrypted where it was received. Only the tail of a
//! partial frame is ever moved (to the front, before the next read).
//!
//! ```
//! use tpkt::{Decoder, Frame, FrameReader};
//!
//! let mut reader = FrameReader::with_capacity(Decoder::new(), 64 * 1024);
//! // In the gateway: `let n = socket.read(reader.spare_mut()).await?; reader.commit(n);`
//! reader.extend_from_slice(&[1, 0, 0, 5, 0xff, 1, 0, 0, 12, 0xc0, 0, 0, 1, 0, 0, 0]);
//! assert_eq!(reader.next_frame(), Ok(Some(Frame::Keepalive)));
//! assert_eq!(reader.next_frame(), Ok(None)); // the ESP frame is not complete yet
//! reader.extend_from_slice(&[9]);
//! match reader.next_frame() {
//!     Ok(Some(Frame::Esp(packet))) => assert_eq!(packet, &mut [0xc0, 0, 0, 1, 0, 0, 0, 9]),
//!     other => panic!("unexpected {other:?}"),
//! }
//! assert_eq!(reader.finish(), Ok(()));
//! ```

use crate::decoder::Decoder;
use crate::error::{ConfigError, DecodeError};
use crate::frame::Frame;
use crate::header::HEADER_LEN;

/// Turns the bytes of one TCP connection into frames, in a buffer of fixed size.
#[derive(Debug)]
pub struct FrameReader<B> {
    storage: B,
    /// Start of the bytes not yet returned as frames.
    start: usize,
    /// End of the received bytes.
    end: usize,
    decoder: Decoder,
}

impl FrameReader<Box<[u8]>> {
    /// A reader with a heap buffer of `capacity` octets, raised to the decoder's maximum frame
    /// length if smaller. A larger buffer lets one read carry many frames.
    pub fn with_capacity(decoder: Decoder, capacity: usize) -> Self {
        let capacity = capacity.max(decoder.max_frame_len());
        Self {
            storage: vec![0; capacity].into_boxed_slice(),
            start: 0,
            end: 0,
            decoder,
        }
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> FrameReader<B> {
    /// A reader over a buffer the caller provides (from a pool, say), which must hold at least
    /// one maximum-length frame.
    pub fn new(storage: B, decoder: Decoder) -> Result<Self, ConfigError> {
        let capacity = storage.as_ref().len();
        if capacity < decoder.max_frame_len() {
            return Err(ConfigError::BufferTooSmall {
                capacity,
                max_frame_len: decoder.max_frame_len(),
            });
        }
        Ok(Self {
            storage,
            start: 0,
            end: 0,
            decoder,
        })
    }

    /// The decoder in use.
    pub fn decoder(&self) -> Decoder {
        self.decoder
    }

    /// The octets received but not yet returned as frames: at the start of a connection, the
    /// first octets to [`classify`](crate::classify()).
    pub fn buffered(&self) -> &[u8] {
        self.storage
            .as_ref()
            .get(self.start..self.end)
            .unwrap_or_default()
    }

    /// Returns the buffer, dropping anything buffered.
    pub fn into_inner(self) -> B {
        self.storage
    }

    /// The free space after the buffered bytes: read from the socket into it, then
    /// [`FrameReader::commit`] the count. Buffered bytes are first moved to the front, so the
    /// whole remaining capacity is offered.
    ///
    /// Empty only when the buffer holds a full buffer's worth of bytes that
    /// [`FrameReader::next_frame`] has not been asked for, or after a stream error. Drain
    /// frames until `Ok(None)` before reading, and close on a stream error.
    pub fn spare_mut(&mut self) -> &mut [u8] {
        self.compact();
        self.storage
            .as_mut()
            .get_mut(self.end..)
            .unwrap_or_default()
    }

    /// Marks `n` octets of [`FrameReader::spare_mut`] as received.
    ///
    /// # Panics
    /// If `n` exceeds the spare space: the caller read more than it was offered.
    pub fn commit(&mut self, n: usize) {
        let spare = self.storage.as_ref().len().saturating_sub(self.end);
        assert!(
            n <= spare,
            "committed {n} octets into {spare} of spare space"
        );
        self.end += n;
    }

    /// Copies as much of `chunk` as fits and returns how many octets were taken: for callers
    /// that already hold the bytes. Drain frames and call again with the rest if it took less.
    pub fn extend_from_slice(&mut self, chunk: &[u8]) -> usize {
        let spare = self.spare_mut();
        let taken = chunk.len().min(spare.len());
        if let (Some(dst), Some(src)) = (spare.get_mut(..taken), chunk.get(..taken)) {
            dst.copy_from_slice(src);
        }
        self.end += taken;
        taken
    }

    /// The next complete frame, with a writable body in the receive buffer.
    ///
    /// `Ok(None)`: no complete frame buffered; read more. A frame error consumes the bad frame,
    /// so the next call continues after it; a stream error consumes nothing and repeats (see
    /// [`DecodeError::skip`]).
    pub fn next_frame(&mut self) -> Result<Option<Frame<&mut [u8]>>, DecodeError> {
        let span = match self.decoder.decode_span(self.buffered()) {
            Ok(Some(span)) => span,
            Ok(None) => return Ok(None),
            Err(error) => {
                if let Some(skip) = error.skip() {
                    self.consume(skip);
                }
                return Err(error);
            }
        };
        let frame_start = self.start;
        self.consume(span.frame_len());
        let frame = self
            .storage
            .as_mut()
            .get_mut(frame_start..)
            .and_then(|frame| span.frame_mut(frame));
        Ok(frame)
    }

    /// At end of stream, once [`FrameReader::next_frame`] has returned `Ok(None)`:
    /// `Err(Truncated)` if a partial frame is left over, which means the peer closed (or the
    /// connection broke) in the middle of a frame, or the stream error the partial header already
    /// shows. `Ok(())` if nothing (or only complete frames, which `next_frame` still returns) is
    /// buffered.
    pub fn finish(&self) -> Result<(), DecodeError> {
        let pending = self.buffered();
        let have = pending.len();
        if have == 0 {
            return Ok(());
        }
        if self.decoder.decode_span(pending)?.is_some() {
            return Ok(());
        }
        let need = match pending.first_chunk::<HEADER_LEN>() {
            Some(&[_, _, high, low]) => usize::from(u16::from_be_bytes([high, low])),
            None => HEADER_LEN,
        };
        Err(DecodeError::Truncated { have, need })
    }

    fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    fn compact(&mut self) {
        if self.start > 0 {
            self.storage.as_mut().copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Classification;

    fn esp_frame(spi: u32, body_len: usize) -> Vec<u8> {
        let len = (HEADER_LEN + 8 + body_len) as u16;
        let mut frame = vec![1, 0];
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&spi.to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0, 1]);
        frame.extend((0..body_len).map(|i| i as u8));
        frame
    }

    fn small_reader() -> FrameReader<Box<[u8]>> {
        FrameReader::with_capacity(Decoder::with_max_frame_len(64).unwrap(), 0)
    }

    #[test]
    fn first_octets_can_be_classified_in_place() {
        let mut reader = small_reader();
        reader.extend_from_slice(&[1, 0]);
        assert_eq!(
            crate::classify(reader.buffered()),
            Classification::NeedMoreBytes
        );
        reader.extend_from_slice(&[0, 5]);
        assert_eq!(crate::classify(reader.buffered()), Classification::Tpkt);
        let mut reader = small_reader();
        reader.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(crate::classify(reader.buffered()), Classification::Http);
    }

    #[test]
    fn refuses_a_buffer_smaller_than_a_frame() {
        let decoder = Decoder::with_max_frame_len(64).unwrap();
        assert_eq!(
            FrameReader::new([0u8; 63], decoder).unwrap_err(),
            ConfigError::BufferTooSmall {
                capacity: 63,
                max_frame_len: 64
            }
        );
        let reader = FrameReader::new([0u8; 64], decoder).unwrap();
        assert_eq!(reader.into_inner().len(), 64);
        assert_eq!(small_reader().into_inner().len(), 64);
    }

    #[test]
    fn reads_through_spare_and_commit() {
        let mut reader = small_reader();
        let frame = esp_frame(0x1234, 3);
        let spare = reader.spare_mut();
        assert_eq!(spare.len(), 64);
        spare[..frame.len()].copy_from_slice(&frame);
        reader.commit(frame.len());
        assert_eq!(reader.buffered(), &frame[..]);
        assert_eq!(
            reader.next_frame(),
            Ok(Some(Frame::Esp(&mut frame[4..].to_vec()[..])))
        );
        assert!(reader.buffered().is_empty());
        assert_eq!(reader.next_frame(), Ok(None));
    }

    #[test]
    #[should_panic(expected = "committed 65 octets")]
    fn commit_beyond_spare_panics() {
        small_reader().commit(65);
    }

    #[test]
    fn max_length_frames_cycle_through_a_minimal_buffer() {
        let mut reader = small_reader();
        let frame = esp_frame(7, 64 - 12);
        let mut stream = Vec::new();
        for _ in 0..5 {
            stream.extend_from_slice(&frame);
        }
        // Offset the stream by a keepalive so every frame straddles the buffer end.
        stream.splice(0..0, [1, 0, 0, 5, 0xff]);
        let mut rest = &stream[..];
        let mut frames = Vec::new();
        while !rest.is_empty() {
            let taken = reader.extend_from_slice(rest);
            assert!(taken > 0);
            rest = &rest[taken..];
            while let Some(frame) = reader.next_frame().unwrap() {
                frames.push(frame.wire_len());
            }
        }
        assert_eq!(frames, [5, 64, 64, 64, 64, 64]);
        assert_eq!(reader.finish(), Ok(()));
    }

    #[test]
    fn frame_error_skips_the_frame() {
        let mut reader = small_reader();
        let mut stream = vec![1, 0, 0, 5, 0x00];
        stream.extend_from_slice(&esp_frame(9, 0));
        reader.extend_from_slice(&stream);
        assert_eq!(
            reader.next_frame(),
            Err(DecodeError::InvalidKeepalive { value: 0 })
        );
        assert_eq!(reader.next_frame().unwrap().unwrap().wire_len(), 12);
    }

    #[test]
    fn stream_error_repeats() {
        let mut reader = small_reader();
        reader.extend_from_slice(&[1, 0, 0, 65, 0xff]);
        for _ in 0..3 {
            assert_eq!(
                reader.next_frame(),
                Err(DecodeError::LengthTooLarge { len: 65, max: 64 })
            );
        }
        assert_eq!(reader.buffered(), &[1, 0, 0, 65, 0xff]);
    }

    #[test]
    fn finish_reports_a_partial_frame() {
        let mut reader = small_reader();
        reader.extend_from_slice(&[1, 0]);
        assert_eq!(
            reader.finish(),
            Err(DecodeError::Truncated { have: 2, need: 4 })
        );
        reader.extend_from_slice(&[0, 12, 0xc0]);
        assert_eq!(
            reader.finish(),
            Err(DecodeError::Truncated { have: 5, need: 12 })
        );
        let mut reader = small_reader();
        reader.extend_from_slice(&[3]);
        assert_eq!(reader.finish(), Err(DecodeError::BadVersion(3)));
    }
}
