//! The ESP header: SPI and sequence number (<https://www.rfc-editor.org/rfc/rfc4303#section-2>).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               Security Parameters Index (SPI)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Sequence Number                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            IV, encrypted payload, ICV ...                     |
//! ```

use crate::Error;

/// Offset of the SPI field.
const SPI: usize = 0;
/// Offset of the (low 32 bits of the) sequence number field.
const SEQUENCE: usize = 4;

/// A read/write view of an ESP header at the start of `buffer`.
///
/// Only [`EspHeader::new_checked`] builds one, so the buffer always holds at least
/// [`EspHeader::LEN`] bytes and no accessor can panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EspHeader<T> {
    /// Length of the ESP header on the wire (SPI + sequence number).
    pub const LEN: usize = 8;

    /// Wraps `buffer` after checking that it holds a whole header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < Self::LEN {
            return Err(Error::Truncated);
        }
        Ok(Self { buffer })
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The Security Parameters Index.
    pub fn spi(&self) -> u32 {
        read_u32(self.buffer.as_ref(), SPI)
    }

    /// The sequence number as sent: the low 32 bits of the 64-bit counter when ESN is in use.
    pub fn sequence_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), SEQUENCE)
    }

    /// Everything after the header: IV, ciphertext and ICV.
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(Self::LEN..).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EspHeader<T> {
    /// Sets the SPI.
    pub fn set_spi(&mut self, spi: u32) {
        write_u32(self.buffer.as_mut(), SPI, spi);
    }

    /// Sets the (low 32 bits of the) sequence number.
    pub fn set_sequence_number(&mut self, sequence_number: u32) {
        write_u32(self.buffer.as_mut(), SEQUENCE, sequence_number);
    }

    /// Everything after the header, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(Self::LEN..)
            .unwrap_or_default()
    }
}

/// The parsed fields of an ESP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspHeaderRepr {
    /// Security Parameters Index.
    pub spi: u32,
    /// Low 32 bits of the sequence number.
    pub sequence_number: u32,
}

impl EspHeaderRepr {
    /// Reads the fields of a checked header.
    pub fn parse<T: AsRef<[u8]>>(header: &EspHeader<T>) -> Self {
        Self {
            spi: header.spi(),
            sequence_number: header.sequence_number(),
        }
    }

    /// Bytes the header takes on the wire.
    pub const fn buffer_len(&self) -> usize {
        EspHeader::<&[u8]>::LEN
    }

    /// Writes the fields into a checked header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, header: &mut EspHeader<T>) {
        header.set_spi(self.spi);
        header.set_sequence_number(self.sequence_number);
    }
}

/// Reads a big-endian `u32` at `at`; out of range reads give 0 (unreachable after `new_checked`).
fn read_u32(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|field| <[u8; 4]>::try_from(field).ok())
        .map_or(0, u32::from_be_bytes)
}

/// Writes a big-endian `u32` at `at`; out of range writes are ignored (unreachable after
/// `new_checked`).
fn write_u32(bytes: &mut [u8], at: usize, value: u32) {
    if let Some(field) = bytes.get_mut(at..at + 4) {
        field.copy_from_slice(&value.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_fields() {
        let mut bytes = [0u8; 12];
        let mut header = EspHeader::new_checked(&mut bytes[..]).unwrap();
        EspHeaderRepr {
            spi: 0x1e40_a4ef,
            sequence_number: 0x0102_0304,
        }
        .emit(&mut header);
        header.payload_mut().copy_from_slice(&[9, 8, 7, 6]);
        assert_eq!(bytes, [0x1e, 0x40, 0xa4, 0xef, 1, 2, 3, 4, 9, 8, 7, 6]);
        let header = EspHeader::new_checked(&bytes[..]).unwrap();
        let repr = EspHeaderRepr::parse(&header);
        assert_eq!(repr.spi, 0x1e40_a4ef);
        assert_eq!(repr.sequence_number, 0x0102_0304);
        assert_eq!(repr.buffer_len(), 8);
        assert_eq!(header.payload(), &[9, 8, 7, 6]);
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        let bytes = [0xffu8; 8];
        for len in 0..8 {
            assert_eq!(
                EspHeader::new_checked(&bytes[..len]).err(),
                Some(Error::Truncated)
            );
        }
        let header = EspHeader::new_checked(&bytes[..]).unwrap();
        assert!(header.payload().is_empty());
    }
}
