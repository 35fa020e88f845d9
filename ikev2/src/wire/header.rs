//! The fixed headers: the 28-octet IKE header
//! (<https://www.rfc-editor.org/rfc/rfc7296#section-3.1>) and the 4-octet generic payload
//! header (<https://www.rfc-editor.org/rfc/rfc7296#section-3.2>), each as a `Repr` with
//! `parse`, `buffer_len` and `emit`.
//!
//! [`IkeHeader::parse`] reads only the first 28 octets and does not judge the version, so the
//! engine can still read the SPIs of a message [`super::Message::parse`] refused (to answer
//! INVALID_MAJOR_VERSION, or to find the IKE SA of a message that failed to decode).

use super::error::DecodeError;
use super::reader::Reader;
use super::registry::{ExchangeType, PayloadType};

/// The IKE major version this codec speaks.
pub const MAJOR_VERSION: u8 = 2;

/// The IKE header flags octet (<https://www.rfc-editor.org/rfc/rfc7296#section-3.1>).
///
/// Reserved bits are kept as received so a parsed header re-emits unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// Initiator (I): set in messages sent by the original initiator of the IKE SA.
    pub const INITIATOR: Flags = Flags(0x08);
    /// Version (V): the sender can speak a higher major version.
    pub const VERSION: Flags = Flags(0x10);
    /// Response (R): the message is a response to a message with this message ID.
    pub const RESPONSE: Flags = Flags(0x20);

    /// Flags from the raw octet.
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits)
    }

    /// The raw octet.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Flags for a message: `initiator` is whether the sender is the original initiator of the
    /// IKE SA, `response` whether the message is a response.
    pub const fn new(initiator: bool, response: bool) -> Self {
        let mut bits = 0;
        if initiator {
            bits |= Self::INITIATOR.0;
        }
        if response {
            bits |= Self::RESPONSE.0;
        }
        Self(bits)
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the Initiator bit is set.
    pub const fn is_initiator(self) -> bool {
        self.contains(Self::INITIATOR)
    }

    /// Whether the Response bit is set.
    pub const fn is_response(self) -> bool {
        self.contains(Self::RESPONSE)
    }
}

/// The IKE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IkeHeader {
    /// IKE SA initiator's SPI.
    pub spi_i: u64,
    /// IKE SA responder's SPI; zero in the first IKE_SA_INIT request.
    pub spi_r: u64,
    /// Type of the first payload. Recomputed when a message is emitted.
    pub next_payload: PayloadType,
    /// Major version (2 for IKEv2).
    pub major_version: u8,
    /// Minor version (0; ignored on receipt per RFC 7296 §2.5).
    pub minor_version: u8,
    /// Exchange type.
    pub exchange_type: ExchangeType,
    /// Flags.
    pub flags: Flags,
    /// Message ID.
    pub message_id: u32,
    /// Length of the whole message in octets. Recomputed when a message is emitted.
    pub length: u32,
}

impl IkeHeader {
    /// Size of the IKE header in octets.
    pub const LEN: usize = 28;

    /// A version 2.0 header; `next_payload` and `length` are filled in when emitting.
    pub fn new(
        spi_i: u64,
        spi_r: u64,
        exchange_type: ExchangeType,
        flags: Flags,
        message_id: u32,
    ) -> Self {
        Self {
            spi_i,
            spi_r,
            next_payload: PayloadType::NoNext,
            major_version: MAJOR_VERSION,
            minor_version: 0,
            exchange_type,
            flags,
            message_id,
            length: 0,
        }
    }

    /// Reads the header from the first 28 octets of `bytes` (further octets are not looked at).
    pub fn parse(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let truncated = || DecodeError::Truncated("IKE header");
        let spi_i = reader.u64().ok_or_else(truncated)?;
        let spi_r = reader.u64().ok_or_else(truncated)?;
        let next_payload = PayloadType::from(reader.u8().ok_or_else(truncated)?);
        let version = reader.u8().ok_or_else(truncated)?;
        let exchange_type = ExchangeType::from(reader.u8().ok_or_else(truncated)?);
        let flags = Flags(reader.u8().ok_or_else(truncated)?);
        let message_id = reader.u32().ok_or_else(truncated)?;
        let length = reader.u32().ok_or_else(truncated)?;
        Ok(Self {
            spi_i,
            spi_r,
            next_payload,
            major_version: version >> 4,
            minor_version: version & 0x0f,
            exchange_type,
            flags,
            message_id,
            length,
        })
    }

    /// Size of the encoding: always [`Self::LEN`].
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// Appends the 28-octet encoding to `out`, with the fields exactly as they are in `self`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let version = (self.major_version << 4) | (self.minor_version & 0x0f);
        out.extend_from_slice(&self.spi_i.to_be_bytes());
        out.extend_from_slice(&self.spi_r.to_be_bytes());
        out.extend_from_slice(&[
            u8::from(self.next_payload),
            version,
            u8::from(self.exchange_type),
            self.flags.0,
        ]);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }
}

/// The generic payload header that starts every payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PayloadHeader {
    /// Type of the payload that follows this one ([`PayloadType::NoNext`] for the last; for SK
    /// and SKF, the type of the first payload inside).
    pub next_payload: PayloadType,
    /// The critical bit (<https://www.rfc-editor.org/rfc/rfc7296#section-2.5>).
    pub critical: bool,
    /// Length of the payload in octets, header included.
    pub length: u16,
}

impl PayloadHeader {
    /// Size of the generic payload header in octets.
    pub const LEN: usize = 4;
    /// The critical bit in the second octet; the other seven bits are reserved.
    const CRITICAL: u8 = 0x80;

    /// Reads a generic payload header and checks that its length covers at least the header.
    pub(crate) fn read(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        const WHAT: &str = "generic payload header";
        let truncated = || DecodeError::Truncated(WHAT);
        let next_payload = PayloadType::from(reader.u8().ok_or_else(truncated)?);
        let critical = reader.u8().ok_or_else(truncated)? & Self::CRITICAL != 0;
        let length = reader.u16().ok_or_else(truncated)?;
        if usize::from(length) < Self::LEN {
            return Err(DecodeError::LengthTooSmall {
                what: "payload",
                length: usize::from(length),
                minimum: Self::LEN,
            });
        }
        Ok(Self {
            next_payload,
            critical,
            length,
        })
    }

    /// Reads a generic payload header from the start of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::read(&mut Reader::new(bytes))
    }

    /// Size of the encoding: always [`Self::LEN`].
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// Appends the 4-octet encoding to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let flags = if self.critical { Self::CRITICAL } else { 0 };
        out.extend_from_slice(&[u8::from(self.next_payload), flags]);
        out.extend_from_slice(&self.length.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ike_header_round_trips_and_keeps_reserved_flag_bits() {
        let mut header = IkeHeader::new(
            0x0011_2233_4455_6677,
            0x8899_aabb_ccdd_eeff,
            ExchangeType::CreateChildSa,
            Flags::from_bits(0x28 | 0x01),
            0x0102_0304,
        );
        header.next_payload = PayloadType::Sk;
        header.length = 0x0506_0708;
        header.minor_version = 1;
        let mut bytes = Vec::new();
        header.emit(&mut bytes);
        assert_eq!(bytes.len(), header.buffer_len());
        assert_eq!(bytes[16..20], [46, 0x21, 36, 0x29]);
        assert_eq!(bytes[20..], [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(IkeHeader::parse(&bytes), Ok(header));
        assert!(header.flags.is_initiator());
        assert!(header.flags.is_response());
        assert!(!header.flags.contains(Flags::VERSION));
    }

    #[test]
    fn flags_for_each_role() {
        assert_eq!(Flags::new(true, false).bits(), 0x08);
        assert_eq!(Flags::new(false, true).bits(), 0x20);
        assert_eq!(Flags::new(true, true).bits(), 0x28);
        assert_eq!(Flags::new(false, false), Flags::default());
    }

    #[test]
    fn payload_header_keeps_critical_bit_and_refuses_short_length() {
        let header = PayloadHeader {
            next_payload: PayloadType::Unknown(200),
            critical: true,
            length: 4,
        };
        let mut bytes = Vec::new();
        header.emit(&mut bytes);
        assert_eq!(bytes, [200, 0x80, 0, 4]);
        assert_eq!(PayloadHeader::parse(&bytes), Ok(header));
        // Reserved bits are ignored on receipt (RFC 7296 §3.2).
        assert_eq!(PayloadHeader::parse(&[200, 0xff, 0, 4]), Ok(header));
        assert_eq!(
            PayloadHeader::parse(&[0, 0, 0, 3]),
            Err(DecodeError::LengthTooSmall {
                what: "payload",
                length: 3,
                minimum: 4
            })
        );
        assert_eq!(
            PayloadHeader::parse(&[0, 0, 0]),
            Err(DecodeError::Truncated("generic payload header"))
        );
    }
}
