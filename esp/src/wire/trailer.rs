//! The ESP trailer at the end of the decrypted payload: padding, pad length and next header
//! (<https://www.rfc-editor.org/rfc/rfc4303#section-2.4>).
//!
//! ```text
//! | payload data ... | padding (0-255 bytes) | pad length | next header |
//! ```
//!
//! The padding is the default scheme of RFC 4303 section 2.4: bytes 1, 2, 3, ... which the
//! receiver checks.

use crate::Error;

/// The Next Header values the tunnel-mode data path knows, keeping unknown code points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHeader {
    /// An IPv4 packet (IP-in-IP, protocol 4).
    Ipv4,
    /// An IPv6 packet (protocol 41).
    Ipv6,
    /// A dummy packet for traffic flow confidentiality, to be dropped
    /// (<https://www.rfc-editor.org/rfc/rfc4303#section-2.6>).
    NoNext,
    /// Any other protocol number.
    Unknown(u8),
}

impl From<u8> for NextHeader {
    fn from(value: u8) -> Self {
        match value {
            4 => Self::Ipv4,
            41 => Self::Ipv6,
            59 => Self::NoNext,
            other => Self::Unknown(other),
        }
    }
}

impl From<NextHeader> for u8 {
    fn from(value: NextHeader) -> Self {
        match value {
            NextHeader::Ipv4 => 4,
            NextHeader::Ipv6 => 41,
            NextHeader::NoNext => 59,
            NextHeader::Unknown(other) => other,
        }
    }
}

/// A view of a decrypted ESP payload whose last two bytes are pad length and next header.
///
/// [`EspTrailer::new_checked`] guarantees that the pad length fits inside the buffer, so the
/// accessors cannot panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspTrailer<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EspTrailer<T> {
    /// Length of the fixed part: pad length and next header.
    pub const FIXED_LEN: usize = 2;

    /// Wraps a decrypted payload after checking that pad length + 2 fits inside it.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let bytes = buffer.as_ref();
        match bytes.len().checked_sub(Self::FIXED_LEN) {
            Some(before_fixed) => {
                let pad_length = bytes.get(before_fixed).copied().unwrap_or(0);
                if usize::from(pad_length) > before_fixed {
                    return Err(Error::BadPadding);
                }
            }
            None => return Err(Error::Truncated),
        }
        Ok(Self { buffer })
    }

    /// The pad length field.
    pub fn pad_length(&self) -> u8 {
        let bytes = self.buffer.as_ref();
        bytes.get(bytes.len().wrapping_sub(2)).copied().unwrap_or(0)
    }

    /// The next header field.
    pub fn next_header(&self) -> NextHeader {
        let bytes = self.buffer.as_ref();
        NextHeader::from(bytes.last().copied().unwrap_or(0))
    }

    /// Length of the payload data in front of the padding.
    pub fn payload_len(&self) -> usize {
        self.buffer
            .as_ref()
            .len()
            .saturating_sub(Self::FIXED_LEN + usize::from(self.pad_length()))
    }

    /// The payload data (the inner packet in tunnel mode).
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(..self.payload_len())
            .unwrap_or_default()
    }

    /// The padding bytes.
    pub fn padding(&self) -> &[u8] {
        let start = self.payload_len();
        let end = start + usize::from(self.pad_length());
        self.buffer.as_ref().get(start..end).unwrap_or_default()
    }

    /// Checks that the padding is the default sequence 1, 2, 3, ...
    /// (<https://www.rfc-editor.org/rfc/rfc4303#section-2.4>).
    pub fn check_padding(&self) -> Result<(), Error> {
        let in_sequence = self
            .padding()
            .iter()
            .zip(1u8..)
            .all(|(&byte, expected)| byte == expected);
        if in_sequence {
            Ok(())
        } else {
            Err(Error::BadPadding)
        }
    }
}

/// The trailer fields: how much padding and what follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspTrailerRepr {
    /// Number of padding bytes.
    pub pad_length: u8,
    /// Protocol of the payload.
    pub next_header: NextHeader,
}

impl EspTrailerRepr {
    /// The trailer that pads `payload_len` bytes so that payload + trailer is a multiple of
    /// `block` (RFC 4303 section 2.4 aligns the ciphertext to 4 bytes, CBC to the cipher block;
    /// a block of 0 is taken as 1).
    pub fn for_payload(payload_len: usize, block: u8, next_header: NextHeader) -> Self {
        let block = usize::from(block.max(1));
        let unpadded = payload_len + EspTrailer::<&[u8]>::FIXED_LEN;
        let pad = (block - unpadded % block) % block;
        Self {
            // pad < block <= 255
            pad_length: u8::try_from(pad).unwrap_or(0),
            next_header,
        }
    }

    /// Reads the fields of a checked trailer.
    pub fn parse<T: AsRef<[u8]>>(trailer: &EspTrailer<T>) -> Self {
        Self {
            pad_length: trailer.pad_length(),
            next_header: trailer.next_header(),
        }
    }

    /// Bytes the padding and the fixed fields take.
    pub const fn buffer_len(&self) -> usize {
        self.pad_length as usize + EspTrailer::<&[u8]>::FIXED_LEN
    }

    /// Writes padding 1, 2, 3, ..., pad length and next header into `out`, which must be exactly
    /// [`EspTrailerRepr::buffer_len`] bytes long.
    pub fn emit(&self, out: &mut [u8]) -> Result<(), Error> {
        if out.len() != self.buffer_len() {
            return Err(Error::BufferTooSmall);
        }
        let (padding, fixed) = out
            .split_last_chunk_mut::<{ EspTrailer::<&[u8]>::FIXED_LEN }>()
            .ok_or(Error::BufferTooSmall)?;
        for (byte, value) in padding.iter_mut().zip(1u8..) {
            *byte = value;
        }
        *fixed = [self.pad_length, u8::from(self.next_header)];
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_padded_payload() {
        let bytes = [0x45, 0xaa, 0xbb, 1, 2, 3, 3, 4];
        let trailer = EspTrailer::new_checked(&bytes[..]).unwrap();
        assert_eq!(trailer.pad_length(), 3);
        assert_eq!(trailer.next_header(), NextHeader::Ipv4);
        assert_eq!(trailer.payload(), &[0x45, 0xaa, 0xbb]);
        assert_eq!(trailer.padding(), &[1, 2, 3]);
        assert_eq!(trailer.check_padding(), Ok(()));
        assert_eq!(
            EspTrailerRepr::parse(&trailer),
            EspTrailerRepr {
                pad_length: 3,
                next_header: NextHeader::Ipv4
            }
        );
    }

    #[test]
    fn rejects_pad_length_beyond_payload_and_short_input() {
        assert_eq!(
            EspTrailer::new_checked(&[][..]).err(),
            Some(Error::Truncated)
        );
        assert_eq!(
            EspTrailer::new_checked(&[4][..]).err(),
            Some(Error::Truncated)
        );
        assert_eq!(
            EspTrailer::new_checked(&[1, 2, 3, 4][..]).err(),
            Some(Error::BadPadding)
        );
        let empty_payload = EspTrailer::new_checked(&[1, 2, 2, 41][..]).unwrap();
        assert!(empty_payload.payload().is_empty());
        assert_eq!(empty_payload.next_header(), NextHeader::Ipv6);
    }

    #[test]
    fn rejects_non_default_padding() {
        let bytes = [0x45, 1, 3, 2, 4];
        let trailer = EspTrailer::new_checked(&bytes[..]).unwrap();
        assert_eq!(trailer.check_padding(), Err(Error::BadPadding));
    }

    #[test]
    fn emit_then_parse_round_trips_for_every_length_and_block() {
        for block in [4u8, 16] {
            for payload_len in 0..64 {
                let repr = EspTrailerRepr::for_payload(payload_len, block, NextHeader::Ipv6);
                assert_eq!((payload_len + repr.buffer_len()) % usize::from(block), 0);
                assert!(repr.pad_length < block);
                let mut bytes = vec![0x60; payload_len + repr.buffer_len()];
                repr.emit(&mut bytes[payload_len..]).unwrap();
                let trailer = EspTrailer::new_checked(&bytes[..]).unwrap();
                assert_eq!(EspTrailerRepr::parse(&trailer), repr);
                assert_eq!(trailer.payload_len(), payload_len);
                assert_eq!(trailer.check_padding(), Ok(()));
            }
        }
    }

    #[test]
    fn next_header_keeps_unknown_code_points() {
        for value in 0..=255u8 {
            assert_eq!(u8::from(NextHeader::from(value)), value);
        }
        assert_eq!(NextHeader::from(59), NextHeader::NoNext);
        assert_eq!(NextHeader::from(17), NextHeader::Unknown(17));
    }
}
