//! Payloads made of a small fixed prefix and opaque data: KE, IDi/IDr, CERT, CERTREQ, AUTH,
//! Nonce, Vendor ID and EAP (RFC 7296 §3.4 to §3.9, §3.12, §3.16).

use super::error::{DecodeError, EncodeError};
use super::reader::Reader;
use super::registry::{AuthMethod, CertEncoding, IdType};
use super::transform_ids::DhGroup;

/// Key Exchange payload body (<https://www.rfc-editor.org/rfc/rfc7296#section-3.4>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyExchange<'a> {
    /// The key exchange method (Diffie-Hellman group) of `data`.
    pub group: DhGroup,
    /// The public value, e.g. 32 octets for Curve25519.
    pub data: &'a [u8],
}

impl<'a> KeyExchange<'a> {
    /// Decodes a KE payload body.
    pub fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        let truncated = || DecodeError::Truncated("KE payload");
        let group = DhGroup::from(reader.u16().ok_or_else(truncated)?);
        reader.take(2).ok_or_else(truncated)?;
        Ok(Self {
            group,
            data: reader.rest(),
        })
    }

    /// Appends the KE payload body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&u16::from(self.group).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(self.data);
        Ok(())
    }
}

/// Identification payload body, IDi or IDr
/// (<https://www.rfc-editor.org/rfc/rfc7296#section-3.5>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identification<'a> {
    /// How `data` is to be read.
    pub id_type: IdType,
    /// The identity.
    pub data: &'a [u8],
}

impl<'a> Identification<'a> {
    /// Decodes an ID payload body.
    pub fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        let (id_type, data) = type_and_reserved(body, "ID payload")?;
        Ok(Self {
            id_type: id_type.into(),
            data,
        })
    }

    /// Appends the ID payload body to `out`. This is also the "RestOfInitIDPayload" /
    /// "RestOfRespIDPayload" that AUTH covers
    /// (<https://www.rfc-editor.org/rfc/rfc7296#section-2.15>).
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&[self.id_type.into(), 0, 0, 0]);
        out.extend_from_slice(self.data);
        Ok(())
    }
}

/// Certificate payload body (<https://www.rfc-editor.org/rfc/rfc7296#section-3.6>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Certificate<'a> {
    /// The encoding of `data`.
    pub encoding: CertEncoding,
    /// The certificate or related data.
    pub data: &'a [u8],
}

impl<'a> Certificate<'a> {
    /// Decodes a CERT payload body.
    pub fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        let (encoding, data) = encoding_and_data(body, "CERT payload")?;
        Ok(Self { encoding, data })
    }

    /// Appends the CERT payload body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.encoding.into());
        out.extend_from_slice(self.data);
        Ok(())
    }
}

/// Certificate Request payload body (<https://www.rfc-editor.org/rfc/rfc7296#section-3.7>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateRequest<'a> {
    /// The requested certificate encoding.
    pub encoding: CertEncoding,
    /// The certification authority: for X.509, concatenated SHA-1 hashes of trusted CAs' keys.
    pub authority: &'a [u8],
}

impl<'a> CertificateRequest<'a> {
    /// Decodes a CERTREQ payload body.
    pub fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        let (encoding, authority) = encoding_and_data(body, "CERTREQ payload")?;
        Ok(Self {
            encoding,
            authority,
        })
    }

    /// Appends the CERTREQ payload body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.encoding.into());
        out.extend_from_slice(self.authority);
        Ok(())
    }
}

/// Authentication payload body (<https://www.rfc-editor.org/rfc/rfc7296#section-3.8>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authentication<'a> {
    /// The authentication method.
    pub method: AuthMethod,
    /// The authentication data (for PSK, the 32/48/64-octet PRF output).
    pub data: &'a [u8],
}

impl<'a> Authentication<'a> {
    /// Decodes an AUTH payload body.
    pub fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        let (method, data) = type_and_reserved(body, "AUTH payload")?;
        Ok(Self {
            method: method.into(),
            data,
        })
    }

    /// Appends the AUTH payload body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&[self.method.into(), 0, 0, 0]);
        out.extend_from_slice(self.data);
        Ok(())
    }
}

/// Nonce payload body (<https://www.rfc-editor.org/rfc/rfc7296#section-3.9>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nonce<'a> {
    /// The nonce: 16 to 256 octets, at least half the PRF key size.
    pub data: &'a [u8],
}

impl<'a> Nonce<'a> {
    /// The shortest nonce allowed.
    pub const MIN_LEN: usize = 16;
    /// The longest nonce allowed.
    pub const MAX_LEN: usize = 256;

    /// Decodes a Nonce payload body, checking the 16..=256 octet bound.
    pub fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        if (Self::MIN_LEN..=Self::MAX_LEN).contains(&body.len()) {
            Ok(Self { data: body })
        } else {
            Err(DecodeError::InvalidNonceLength(body.len()))
        }
    }

    /// Appends the Nonce payload body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(self.data);
        Ok(())
    }
}

/// Vendor ID payload body (<https://www.rfc-editor.org/rfc/rfc7296#section-3.12>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorId<'a> {
    /// The vendor's identifier, usually a hash.
    pub data: &'a [u8],
}

impl<'a> VendorId<'a> {
    /// Decodes a Vendor ID payload body.
    pub fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        Ok(Self { data: body })
    }

    /// Appends the Vendor ID payload body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(self.data);
        Ok(())
    }
}

/// EAP payload body: one EAP message (<https://www.rfc-editor.org/rfc/rfc7296#section-3.16>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eap<'a> {
    /// The EAP message (RFC 3748 §4): code, identifier, length, data.
    pub message: &'a [u8],
}

impl<'a> Eap<'a> {
    /// Decodes an EAP payload body, checking that the EAP length field covers exactly the body.
    pub fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        reader
            .take(2)
            .ok_or(DecodeError::Truncated("EAP payload"))?;
        let declared = reader.u16().ok_or(DecodeError::Truncated("EAP payload"))?;
        if usize::from(declared) != body.len() {
            return Err(DecodeError::EapLengthMismatch {
                declared,
                actual: body.len(),
            });
        }
        Ok(Self { message: body })
    }

    /// Appends the EAP payload body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(self.message);
        Ok(())
    }
}

/// A one-octet type, three reserved octets, and the rest.
fn type_and_reserved<'a>(
    body: &'a [u8],
    what: &'static str,
) -> Result<(u8, &'a [u8]), DecodeError> {
    let mut reader = Reader::new(body);
    let kind = reader.u8().ok_or(DecodeError::Truncated(what))?;
    reader.take(3).ok_or(DecodeError::Truncated(what))?;
    Ok((kind, reader.rest()))
}

/// A one-octet certificate encoding and the rest.
fn encoding_and_data<'a>(
    body: &'a [u8],
    what: &'static str,
) -> Result<(CertEncoding, &'a [u8]), DecodeError> {
    let mut reader = Reader::new(body);
    let encoding = reader.u8().ok_or(DecodeError::Truncated(what))?;
    Ok((encoding.into(), reader.rest()))
}
