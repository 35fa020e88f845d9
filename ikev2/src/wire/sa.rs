//! The Security Association payload: proposals, transforms and transform attributes
//! (<https://www.rfc-editor.org/rfc/rfc7296#section-3.3>).
//!
//! Decoding checks the structure, not the policy: "last substructure" octets, lengths, the
//! declared transform count, SPI sizes per protocol, and that proposal numbers increase by one.
//! Whether the first proposal of a request is numbered 1 is left to the engine, because a
//! response carries the single accepted proposal with the number it had in the request.

use super::error::{DecodeError, EncodeError};
use super::reader::Reader;
use super::registry::ProtocolId;
use super::transform_ids::{
    DhGroup, EncrId, EsnId, IntegId, PrfId, TransformAttributeType, TransformType,
};
use super::writer::{count_u8, LengthPatch};

/// "Last substructure" value of a proposal that is followed by another proposal.
const MORE_PROPOSALS: u8 = 2;
/// "Last substructure" value of a transform that is followed by another transform.
const MORE_TRANSFORMS: u8 = 3;
/// Attribute Format bit: set for the TV format (2-octet value, no length).
const ATTRIBUTE_FORMAT_TV: u16 = 0x8000;

/// The SA payload body: one or more proposals, alternatives to choose from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityAssociation<'a> {
    /// The proposals, in order.
    pub proposals: Vec<Proposal<'a>>,
}

/// A proposal: one protocol with one SPI and the transforms it offers (one of each type is
/// chosen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal<'a> {
    /// Proposal number; the first of a request is 1 and each next one is one more.
    pub number: u8,
    /// Protocol this proposal negotiates.
    pub protocol: ProtocolId,
    /// The sender's SPI: empty for IKE in IKE_SA_INIT, 8 octets for IKE rekeys, 4 for ESP/AH.
    pub spi: &'a [u8],
    /// The transforms.
    pub transforms: Vec<Transform<'a>>,
}

/// A transform: its type and ID, and attributes (in practice only the key length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform<'a> {
    /// Transform type and ID.
    pub id: TransformId,
    /// Transform attributes in received order.
    pub attributes: Vec<TransformAttribute<'a>>,
}

/// A transform type together with a transform ID from that type's registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransformId {
    /// Type 1, encryption algorithm.
    Encryption(EncrId),
    /// Type 2, pseudorandom function.
    Prf(PrfId),
    /// Type 3, integrity algorithm.
    Integrity(IntegId),
    /// Type 4, key exchange method.
    KeyExchange(DhGroup),
    /// Type 5, extended sequence numbers.
    Esn(EsnId),
    /// A transform type this implementation does not know.
    Other {
        /// The transform type.
        transform_type: u8,
        /// The transform ID.
        id: u16,
    },
}

impl TransformId {
    /// The transform from its type and ID octets as they appear on the wire.
    pub fn from_wire(transform_type: u8, id: u16) -> Self {
        match TransformType::from(transform_type) {
            TransformType::Encryption => Self::Encryption(id.into()),
            TransformType::Prf => Self::Prf(id.into()),
            TransformType::Integrity => Self::Integrity(id.into()),
            TransformType::KeyExchange => Self::KeyExchange(id.into()),
            TransformType::Esn => Self::Esn(id.into()),
            TransformType::Unknown(transform_type) => Self::Other { transform_type, id },
        }
    }

    /// The transform type.
    pub fn transform_type(self) -> TransformType {
        self.to_wire().0.into()
    }

    /// The transform type and ID as they appear on the wire.
    pub fn to_wire(self) -> (u8, u16) {
        match self {
            Self::Encryption(id) => (TransformType::Encryption.into(), id.into()),
            Self::Prf(id) => (TransformType::Prf.into(), id.into()),
            Self::Integrity(id) => (TransformType::Integrity.into(), id.into()),
            Self::KeyExchange(id) => (TransformType::KeyExchange.into(), id.into()),
            Self::Esn(id) => (TransformType::Esn.into(), id.into()),
            Self::Other { transform_type, id } => (transform_type, id),
        }
    }
}

/// A transform attribute (<https://www.rfc-editor.org/rfc/rfc7296#section-3.3.5>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransformAttribute<'a> {
    /// Type/Value format: a 2-octet value.
    Tv {
        /// Attribute type (15 bits).
        kind: TransformAttributeType,
        /// The value.
        value: u16,
    },
    /// Type/Length/Value format: a variable-length value.
    Tlv {
        /// Attribute type (15 bits).
        kind: TransformAttributeType,
        /// The value.
        value: &'a [u8],
    },
}

impl<'a> Transform<'a> {
    /// A transform without attributes.
    pub fn new(id: TransformId) -> Self {
        Self {
            id,
            attributes: Vec::new(),
        }
    }

    /// A transform with a KEY_LENGTH attribute of `bits`.
    pub fn with_key_length(id: TransformId, bits: u16) -> Self {
        Self {
            id,
            attributes: vec![TransformAttribute::Tv {
                kind: TransformAttributeType::KeyLength,
                value: bits,
            }],
        }
    }

    /// The KEY_LENGTH attribute in bits, if present.
    pub fn key_length(&self) -> Option<u16> {
        self.attributes
            .iter()
            .find_map(|attribute| match attribute {
                TransformAttribute::Tv {
                    kind: TransformAttributeType::KeyLength,
                    value,
                } => Some(*value),
                _ => None,
            })
    }

    /// Decodes one transform and checks its "last substructure" octet.
    fn decode(reader: &mut Reader<'a>) -> Result<Self, DecodeError> {
        const WHAT: &str = "transform";
        let truncated = || DecodeError::Truncated(WHAT);
        let (last, mut body) = substructure(reader, WHAT)?;
        let transform_type = body.u8().ok_or_else(truncated)?;
        body.u8().ok_or_else(truncated)?;
        let id = body.u16().ok_or_else(truncated)?;
        let mut attributes = Vec::new();
        while !body.is_empty() {
            attributes.push(decode_attribute(&mut body)?);
        }
        check_last_substructure(WHAT, last, reader.is_empty(), MORE_TRANSFORMS)?;
        Ok(Self {
            id: TransformId::from_wire(transform_type, id),
            attributes,
        })
    }

    fn encode(&self, out: &mut Vec<u8>, is_last: bool) -> Result<(), EncodeError> {
        let (transform_type, id) = self.id.to_wire();
        let patch = LengthPatch::begin(out, 2);
        let last = if is_last { 0 } else { MORE_TRANSFORMS };
        out.extend_from_slice(&[last, 0, 0, 0, transform_type, 0]);
        out.extend_from_slice(&id.to_be_bytes());
        for attribute in &self.attributes {
            encode_attribute(attribute, out)?;
        }
        patch.finish_u16(out, "transform")
    }
}

fn decode_attribute<'a>(reader: &mut Reader<'a>) -> Result<TransformAttribute<'a>, DecodeError> {
    let truncated = || DecodeError::Truncated("transform attribute");
    let format_and_type = reader.u16().ok_or_else(truncated)?;
    let kind = TransformAttributeType::from(format_and_type & !ATTRIBUTE_FORMAT_TV);
    let length_or_value = reader.u16().ok_or_else(truncated)?;
    if format_and_type & ATTRIBUTE_FORMAT_TV != 0 {
        Ok(TransformAttribute::Tv {
            kind,
            value: length_or_value,
        })
    } else {
        let value = reader
            .take(usize::from(length_or_value))
            .ok_or_else(truncated)?;
        Ok(TransformAttribute::Tlv { kind, value })
    }
}

fn encode_attribute(
    attribute: &TransformAttribute<'_>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let (kind, format, length_or_value, value): (_, _, _, &[u8]) = match *attribute {
        TransformAttribute::Tv { kind, value } => (kind, ATTRIBUTE_FORMAT_TV, value, &[]),
        TransformAttribute::Tlv { kind, value } => {
            let length = u16::try_from(value.len())
                .map_err(|_| EncodeError::TooLong("transform attribute"))?;
            (kind, 0, length, value)
        }
    };
    let kind = u16::from(kind);
    if kind & ATTRIBUTE_FORMAT_TV != 0 {
        return Err(EncodeError::OutOfRange("transform attribute type"));
    }
    out.extend_from_slice(&(format | kind).to_be_bytes());
    out.extend_from_slice(&length_or_value.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

impl<'a> Proposal<'a> {
    /// Decodes one proposal and checks its "last substructure" octet.
    fn decode(reader: &mut Reader<'a>) -> Result<Self, DecodeError> {
        const WHAT: &str = "proposal";
        let truncated = || DecodeError::Truncated(WHAT);
        let (last, mut body) = substructure(reader, WHAT)?;
        let number = body.u8().ok_or_else(truncated)?;
        let protocol_raw = body.u8().ok_or_else(truncated)?;
        let protocol = ProtocolId::from(protocol_raw);
        let spi_size = body.u8().ok_or_else(truncated)?;
        check_spi_size(protocol, spi_size)?;
        let declared = usize::from(body.u8().ok_or_else(truncated)?);
        let spi = body.take(usize::from(spi_size)).ok_or_else(truncated)?;
        let mut transforms = Vec::new();
        while !body.is_empty() {
            transforms.push(Transform::decode(&mut body)?);
        }
        if transforms.len() != declared {
            return Err(DecodeError::CountMismatch {
                what: "transforms",
                declared,
                found: transforms.len(),
            });
        }
        check_last_substructure(WHAT, last, reader.is_empty(), MORE_PROPOSALS)?;
        Ok(Self {
            number,
            protocol,
            spi,
            transforms,
        })
    }

    fn encode(&self, out: &mut Vec<u8>, is_last: bool) -> Result<(), EncodeError> {
        let spi_size = count_u8(self.spi.len(), "SPI octets")?;
        let transform_count = count_u8(self.transforms.len(), "transforms")?;
        let patch = LengthPatch::begin(out, 2);
        let last = if is_last { 0 } else { MORE_PROPOSALS };
        out.extend_from_slice(&[last, 0, 0, 0]);
        out.extend_from_slice(&[self.number, self.protocol.into(), spi_size, transform_count]);
        out.extend_from_slice(self.spi);
        let mut transforms = self.transforms.iter().peekable();
        while let Some(transform) = transforms.next() {
            transform.encode(out, transforms.peek().is_none())?;
        }
        patch.finish_u16(out, "proposal")
    }
}

/// Reads the generic header of a proposal or transform substructure (RFC 7296
/// [§3.3.1](https://www.rfc-editor.org/rfc/rfc7296#section-3.3.1),
/// [§3.3.2](https://www.rfc-editor.org/rfc/rfc7296#section-3.3.2)): the "last substructure" octet,
/// a reserved octet and a length that counts these 4 octets and must cover at least the 8-octet
/// fixed part. Returns the "last substructure" octet and a reader over the rest of the
/// substructure.
fn substructure<'a>(
    reader: &mut Reader<'a>,
    what: &'static str,
) -> Result<(u8, Reader<'a>), DecodeError> {
    const HEADER: usize = 8;
    let truncated = || DecodeError::Truncated(what);
    let last = reader.u8().ok_or_else(truncated)?;
    reader.u8().ok_or_else(truncated)?;
    let length = usize::from(reader.u16().ok_or_else(truncated)?);
    if length < HEADER {
        return Err(DecodeError::LengthTooSmall {
            what,
            length,
            minimum: HEADER,
        });
    }
    let body = reader.sub(length - 4).ok_or_else(truncated)?;
    Ok((last, body))
}

/// The substructure is the last one exactly when its "last substructure" octet is 0
/// (<https://www.rfc-editor.org/rfc/rfc7296#section-3.3.1>).
fn check_last_substructure(
    what: &'static str,
    value: u8,
    is_last: bool,
    more: u8,
) -> Result<(), DecodeError> {
    let expected = if is_last { 0 } else { more };
    if value == expected {
        Ok(())
    } else {
        Err(DecodeError::BadLastSubstructure { what, value })
    }
}

/// IKE SPIs are absent (IKE_SA_INIT) or 8 octets (rekey); AH and ESP SPIs are 4 octets
/// (<https://www.rfc-editor.org/rfc/rfc7296#section-3.3.1>).
fn check_spi_size(protocol: ProtocolId, size: u8) -> Result<(), DecodeError> {
    let valid = match protocol {
        ProtocolId::Ike => size == 0 || size == 8,
        ProtocolId::Ah | ProtocolId::Esp => size == 4,
        ProtocolId::Unspecified | ProtocolId::Unknown(_) => true,
    };
    if valid {
        Ok(())
    } else {
        Err(DecodeError::InvalidSpiSize {
            protocol: protocol.into(),
            size,
        })
    }
}

impl<'a> SecurityAssociation<'a> {
    /// Decodes an SA payload body.
    pub fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        let mut proposals: Vec<Proposal<'a>> = Vec::new();
        while !reader.is_empty() {
            let proposal = Proposal::decode(&mut reader)?;
            if let Some(previous) = proposals.last() {
                if previous.number.checked_add(1) != Some(proposal.number) {
                    return Err(DecodeError::ProposalNumberOutOfOrder {
                        previous: previous.number,
                        number: proposal.number,
                    });
                }
            }
            proposals.push(proposal);
        }
        if proposals.is_empty() {
            return Err(DecodeError::EmptySa);
        }
        Ok(Self { proposals })
    }

    /// Appends the SA payload body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut proposals = self.proposals.iter().peekable();
        while let Some(proposal) = proposals.next() {
            proposal.encode(out, proposals.peek().is_none())?;
        }
        Ok(())
    }
}
