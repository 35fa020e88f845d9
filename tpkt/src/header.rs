//! The 4-octet TPKT' header as a typed view over a byte buffer, with the framing constants.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Version = 1  | Reserved = 0  |   Length (header + payload)   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::error::DecodeError;

/// Octets in the TPKT' header.
pub const HEADER_LEN: usize = 4;
/// The only version this crate speaks (RFC 1006 TPKT uses 3; TPKT' uses 1 to differ from it).
pub const VERSION: u8 = 1;
/// The value of the reserved octet.
pub const RESERVED: u8 = 0;
/// The smallest valid frame: the header plus a one-octet keepalive.
pub const MIN_FRAME_LEN: usize = HEADER_LEN + 1;
/// The largest frame the 16-bit length field can describe.
pub const MAX_FRAME_LEN: usize = u16::MAX as usize;
/// The receive limit used unless configured otherwise: 16 KiB holds any ESP packet of a
/// 1500-octet (or 9000-octet jumbo) inner MTU and strongSwan's default maximum IKE message size
/// (`charon.max_packet`, 10000 octets), while bounding per-connection memory.
pub const DEFAULT_MAX_FRAME_LEN: u16 = 16 * 1024;

/// Offsets of the header fields.
pub mod field {
    use core::ops::Range;

    /// The version octet.
    pub const VERSION: usize = 0;
    /// The reserved octet.
    pub const RESERVED: usize = 1;
    /// The big-endian frame length, header included.
    pub const LENGTH: Range<usize> = 2..4;
}

/// A read/write view of a TPKT' header at the start of `buffer`.
///
/// After [`Header::new_checked`] the buffer holds at least [`HEADER_LEN`] octets and no accessor
/// can panic; the accessors do not index at all, so they would not panic on a shorter buffer
/// either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps `buffer` after checking it holds a whole header. Field values are not checked; use
    /// [`Header::validate`] for that.
    pub fn new_checked(buffer: T) -> Result<Self, DecodeError> {
        let have = buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(DecodeError::Truncated {
                have,
                need: HEADER_LEN,
            });
        }
        Ok(Self { buffer })
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn octets(&self) -> [u8; HEADER_LEN] {
        self.buffer
            .as_ref()
            .first_chunk::<HEADER_LEN>()
            .copied()
            .unwrap_or_default()
    }

    /// The version octet.
    pub fn version(&self) -> u8 {
        self.octets()[field::VERSION]
    }

    /// The reserved octet.
    pub fn reserved(&self) -> u8 {
        self.octets()[field::RESERVED]
    }

    /// The length field: header plus payload, in octets.
    pub fn length(&self) -> u16 {
        let [_, _, high, low] = self.octets();
        u16::from_be_bytes([high, low])
    }

    /// Checks version, reserved octet and length against `max_frame_len` (capped at
    /// [`MAX_FRAME_LEN`]) and returns the frame length.
    pub fn validate(&self, max_frame_len: u16) -> Result<usize, DecodeError> {
        check_partial(&self.octets())?;
        let len = self.length();
        if usize::from(len) < MIN_FRAME_LEN {
            return Err(DecodeError::LengthTooSmall(len));
        }
        if len > max_frame_len {
            return Err(DecodeError::LengthTooLarge {
                len,
                max: max_frame_len,
            });
        }
        Ok(usize::from(len))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    fn octets_mut(&mut self) -> Option<&mut [u8; HEADER_LEN]> {
        self.buffer.as_mut().first_chunk_mut::<HEADER_LEN>()
    }

    /// Sets the version octet.
    pub fn set_version(&mut self, version: u8) {
        if let Some(octets) = self.octets_mut() {
            octets[field::VERSION] = version;
        }
    }

    /// Sets the reserved octet.
    pub fn set_reserved(&mut self, reserved: u8) {
        if let Some(octets) = self.octets_mut() {
            octets[field::RESERVED] = reserved;
        }
    }

    /// Sets the length field.
    pub fn set_length(&mut self, length: u16) {
        if let Some(length_octets) = self
            .octets_mut()
            .and_then(|octets| octets.get_mut(field::LENGTH))
        {
            length_octets.copy_from_slice(&length.to_be_bytes());
        }
    }

    /// Writes a complete valid header: version 1, reserved 0 and `frame_len`.
    pub fn init(&mut self, frame_len: u16) {
        self.set_version(VERSION);
        self.set_reserved(RESERVED);
        self.set_length(frame_len);
    }
}

/// Checks the fields present in a header prefix of up to [`HEADER_LEN`] octets, so a stream that
/// is not TPKT' is refused from its first octet. The length needs both octets and is not checked.
pub(crate) fn check_partial(prefix: &[u8]) -> Result<(), DecodeError> {
    match prefix {
        [version, ..] if *version != VERSION => Err(DecodeError::BadVersion(*version)),
        [_, reserved, ..] if *reserved != RESERVED => Err(DecodeError::ReservedNonZero(*reserved)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields() {
        let header = Header::new_checked([1u8, 0, 0x05, 0xdc]).unwrap();
        assert_eq!(header.version(), 1);
        assert_eq!(header.reserved(), 0);
        assert_eq!(header.length(), 1500);
        assert_eq!(header.validate(DEFAULT_MAX_FRAME_LEN), Ok(1500));
    }

    #[test]
    fn writes_fields() {
        let mut header = Header::new_checked([0u8; 6]).unwrap();
        header.init(0x1234);
        assert_eq!(header.into_inner(), [1, 0, 0x12, 0x34, 0, 0]);

        let mut header = Header::new_checked([0u8; 4]).unwrap();
        header.set_version(3);
        header.set_reserved(7);
        header.set_length(5);
        assert_eq!(header.into_inner(), [3, 7, 0, 5]);
    }

    #[test]
    fn new_checked_refuses_short_buffers() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Header::new_checked(&[1u8, 0, 0, 5][..len]),
                Err(DecodeError::Truncated {
                    have: len,
                    need: HEADER_LEN
                })
            );
        }
    }

    #[test]
    fn validate_refuses_each_bad_field() {
        let validate = |octets: [u8; 4], max| Header::new_checked(octets).unwrap().validate(max);
        assert_eq!(validate([3, 0, 0, 9], 100), Err(DecodeError::BadVersion(3)));
        assert_eq!(
            validate([1, 1, 0, 9], 100),
            Err(DecodeError::ReservedNonZero(1))
        );
        for len in 0..5u8 {
            assert_eq!(
                validate([1, 0, 0, len], 100),
                Err(DecodeError::LengthTooSmall(len.into()))
            );
        }
        assert_eq!(validate([1, 0, 0, 5], 100), Ok(5));
        assert_eq!(validate([1, 0, 0, 100], 100), Ok(100));
        assert_eq!(
            validate([1, 0, 0, 101], 100),
            Err(DecodeError::LengthTooLarge { len: 101, max: 100 })
        );
        assert_eq!(validate([1, 0, 0xff, 0xff], u16::MAX), Ok(MAX_FRAME_LEN));
    }

    #[test]
    fn partial_header_is_refused_early() {
        assert_eq!(check_partial(&[]), Ok(()));
        assert_eq!(check_partial(&[1]), Ok(()));
        assert_eq!(check_partial(&[1, 0, 0xff]), Ok(()));
        assert_eq!(check_partial(&[0x16]), Err(DecodeError::BadVersion(0x16)));
        assert_eq!(check_partial(&[1, 9]), Err(DecodeError::ReservedNonZero(9)));
    }
}
