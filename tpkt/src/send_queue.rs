//! A per-connection send queue: frames encoded back to back in a fixed ring of bytes, so one
//! socket write carries many frames and a slow TCP path cannot make memory grow.
//!
//! ESP and IKE are treated differently when the path is slower than the traffic: ESP is dropped
//! once the queue reaches `capacity - ike_reserve` octets (inner TCP and the application recover
//! lost packets, as they would on a congested link), while IKE may use the reserve, so an IKE
//! message is refused only when the peer has stopped reading altogether (then close the
//! connection; the IKE SA can continue on a new one).
//!
//! ```
//! use tpkt::{Decoder, Frame, SendQueue};
//!
//! let mut queue = SendQueue::with_capacity(64 * 1024, 16 * 1024).unwrap();
//! queue.push_esp(&[0xc0, 0, 0, 1, 0, 0, 0, 1, 0xaa]).unwrap();
//! queue.push_ike(&[0x11; 28]).unwrap();
//! // In the gateway: `let n = socket.write(queue.chunk()).await?; queue.advance(n);`
//! let wire = queue.chunk().to_vec();
//! queue.advance(wire.len());
//! assert!(queue.is_empty());
//! let first = Decoder::new().decode(&wire).unwrap().unwrap();
//! assert_eq!(first, Frame::Esp(&[0xc0, 0, 0, 1, 0, 0, 0, 1, 0xaa][..]));
//! assert_eq!(
//!     Decoder::new().decode(&wire[first.wire_len()..]),
//!     Ok(Some(Frame::Ike(&[0x11; 28][..])))
//! );
//! ```

use crate::encoder::{frame_header, ike_prefix, IKE_PREFIX_LEN};
use crate::error::{ConfigError, DecodeError, EncodeError};
use crate::frame::{FrameKind, IKE_HEADER_LEN};
use crate::header::HEADER_LEN;

/// Outgoing frames of one connection, waiting for the socket.
#[derive(Debug)]
pub struct SendQueue<B> {
    storage: B,
    /// Where the oldest unsent octet is.
    head: usize,
    /// How many octets are queued.
    len: usize,
    /// Queue length above which ESP is dropped.
    esp_limit: usize,
}

impl SendQueue<Box<[u8]>> {
    /// A queue with a heap buffer of `capacity` octets, the last `ike_reserve` of which only IKE
    /// may use (see [`SendQueue::new`]).
    pub fn with_capacity(capacity: usize, ike_reserve: usize) -> Result<Self, ConfigError> {
        Self::new(vec![0; capacity].into_boxed_slice(), ike_reserve)
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> SendQueue<B> {
    /// A queue over a buffer the caller provides. `ike_reserve` octets are kept for IKE: a
    /// couple of the largest IKE messages the engine sends is a good size.
    pub fn new(storage: B, ike_reserve: usize) -> Result<Self, ConfigError> {
        let capacity = storage.as_ref().len();
        if ike_reserve > capacity {
            return Err(ConfigError::ReserveTooLarge {
                ike_reserve,
                capacity,
            });
        }
        Ok(Self {
            storage,
            head: 0,
            len: 0,
            esp_limit: capacity - ike_reserve,
        })
    }

    /// Octets queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether everything has been sent.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn capacity(&self) -> usize {
        self.storage.as_ref().len()
    }

    /// Queues an IKE message (without marker: header and marker are added). Refused with
    /// [`EncodeError::QueueFull`] only when even the IKE reserve is used up.
    pub fn push_ike(&mut self, ike: &[u8]) -> Result<(), EncodeError> {
        if ike.len() < IKE_HEADER_LEN {
            return Err(DecodeError::IkeTooShort { len: ike.len() }.into());
        }
        let prefix = ike_prefix(ike.len())?;
        self.reserve(IKE_PREFIX_LEN + ike.len(), self.capacity())?;
        self.append(&prefix);
        self.append(ike);
        Ok(())
    }

    /// Queues an ESP packet (from its SPI). Refused with [`EncodeError::QueueFull`] when the
    /// queue would grow past `capacity - ike_reserve`: drop the packet and count it.
    pub fn push_esp(&mut self, esp: &[u8]) -> Result<(), EncodeError> {
        match FrameKind::of_payload(esp)? {
            FrameKind::Esp => {}
            found => return Err(EncodeError::NotEsp { found }),
        }
        let header = frame_header(esp.len())?;
        self.reserve(HEADER_LEN + esp.len(), self.esp_limit)?;
        self.append(&header);
        self.append(esp);
        Ok(())
    }

    /// The oldest queued octets that lie contiguously in the buffer: write them, then
    /// [`SendQueue::advance`] by what the socket took. Empty only when the queue is.
    pub fn chunk(&self) -> &[u8] {
        let contiguous = self.len.min(self.capacity().saturating_sub(self.head));
        self.storage
            .as_ref()
            .get(self.head..self.head + contiguous)
            .unwrap_or_default()
    }

    /// Drops `n` sent octets from the front (at most what is queued).
    pub fn advance(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        self.head = if self.len == 0 {
            0
        } else {
            (self.head + n) % self.capacity()
        };
    }

    fn reserve(&self, needed: usize, limit: usize) -> Result<(), EncodeError> {
        let available = limit.saturating_sub(self.len);
        if needed > available {
            return Err(EncodeError::QueueFull { needed, available });
        }
        Ok(())
    }

    /// Copies `bytes` behind the queued octets, wrapping at the end of the buffer; the caller
    /// has checked they fit.
    fn append(&mut self, bytes: &[u8]) {
        let capacity = self.capacity();
        if capacity == 0 {
            return;
        }
        let tail = (self.head + self.len) % capacity;
        let first = bytes.len().min(capacity - tail);
        let (before_wrap, after_wrap) = bytes.split_at(first);
        let storage = self.storage.as_mut();
        if let Some(dst) = storage.get_mut(tail..tail + first) {
            dst.copy_from_slice(before_wrap);
        }
        if let Some(dst) = storage.get_mut(..after_wrap.len()) {
            dst.copy_from_slice(after_wrap);
        }
        self.len += bytes.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decoder, Frame};

    fn esp(len: usize) -> Vec<u8> {
        let mut packet = vec![0xc0, 0, 0, 1, 0, 0, 0, 1];
        packet.resize(len, 0x5a);
        packet
    }

    #[test]
    fn refuses_a_reserve_larger_than_the_buffer() {
        assert_eq!(
            SendQueue::with_capacity(100, 101).unwrap_err(),
            ConfigError::ReserveTooLarge {
                ike_reserve: 101,
                capacity: 100
            }
        );
    }

    #[test]
    fn esp_is_dropped_past_its_limit_but_ike_uses_the_reserve() {
        let mut queue = SendQueue::with_capacity(200, 100).unwrap();
        queue.push_esp(&esp(46)).unwrap();
        queue.push_esp(&esp(46)).unwrap();
        assert_eq!(queue.len(), 100);
        assert_eq!(
            queue.push_esp(&esp(8)),
            Err(EncodeError::QueueFull {
                needed: 12,
                available: 0
            })
        );
        queue.push_ike(&[7; 60]).unwrap();
        assert_eq!(queue.len(), 168);
        assert_eq!(
            queue.push_ike(&[7; 28]),
            Err(EncodeError::QueueFull {
                needed: 36,
                available: 32
            })
        );
    }

    #[test]
    fn refuses_payloads_that_would_not_decode() {
        let mut queue = SendQueue::with_capacity(200, 0).unwrap();
        assert_eq!(
            queue.push_ike(&[1; 27]),
            Err(EncodeError::InvalidPayload(DecodeError::IkeTooShort {
                len: 27
            }))
        );
        assert_eq!(
            queue.push_esp(&[0xc0, 0, 0, 1]),
            Err(EncodeError::InvalidPayload(DecodeError::PayloadTooShort {
                len: 4
            }))
        );
        assert_eq!(
            queue.push_esp(&[0xff]),
            Err(EncodeError::NotEsp {
                found: FrameKind::Keepalive
            })
        );
        assert_eq!(
            queue.push_esp(&[0; 40]),
            Err(EncodeError::NotEsp {
                found: FrameKind::Ike
            })
        );
        assert!(queue.is_empty());
    }

    #[test]
    fn frames_wrap_around_the_buffer_end() {
        let mut queue = SendQueue::with_capacity(50, 0).unwrap();
        let mut wire = Vec::new();
        for round in 0..20 {
            queue.push_esp(&esp(10 + round % 7)).unwrap();
            queue.push_esp(&esp(9)).unwrap();
            while !queue.is_empty() {
                let take = queue.chunk().len().min(5);
                assert!(take > 0);
                wire.extend_from_slice(&queue.chunk()[..take]);
                queue.advance(take);
            }
        }
        let decoder = Decoder::new();
        let mut rest = &wire[..];
        let mut frames = 0;
        while let Some(frame) = decoder.decode(rest).unwrap() {
            assert!(matches!(frame, Frame::Esp(_)));
            rest = &rest[frame.wire_len()..];
            frames += 1;
        }
        assert_eq!((frames, rest.len()), (40, 0));
    }

    #[test]
    fn advance_beyond_the_queue_empties_it() {
        let mut queue = SendQueue::with_capacity(64, 0).unwrap();
        queue.push_esp(&esp(8)).unwrap();
        queue.advance(100);
        assert!(queue.is_empty());
        assert!(queue.chunk().is_empty());
    }
}
