//! A whole IKE message: the IKE header and its payload chain
//! (<https://www.rfc-editor.org/rfc/rfc7296#section-3>).

use super::encrypted::{Encrypted, EncryptedFragment};
use super::error::{DecodeError, EncodeError};
use super::header::{IkeHeader, MAJOR_VERSION};
use super::payload::{decode_chain, emit_chain, Payload, PayloadBody};
use super::registry::PayloadType;
use super::writer::LengthPatch;

/// A decoded IKE message, borrowing from the bytes it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The IKE header as received (`next_payload` and `length` included).
    pub header: IkeHeader,
    /// The payloads in order. If the message is protected, the last one is SK or SKF.
    pub payloads: Vec<Payload<'a>>,
}

/// The protected part of a received message, as the crypto layer needs it to open SK or SKF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtectedParts<'a> {
    /// The message up to the protected body: IKE header, any payloads before SK, the SK/SKF
    /// header (for SKF with fragment number and total). This is the AEAD associated data and
    /// the start of the encrypt-then-MAC integrity input.
    pub authenticated_prefix: &'a [u8],
    /// IV | ciphertext | padding | pad length | ICV.
    pub body: &'a [u8],
    /// Type of the first inner payload, to give [`super::parse_chain`] after decryption.
    pub first_inner: PayloadType,
    /// For SKF: this fragment's number and the total number of fragments.
    pub fragment: Option<(u16, u16)>,
}

impl<'a> Message<'a> {
    /// A message to emit; `header.next_payload` and `header.length` are computed by
    /// [`Self::emit`].
    pub fn new(header: IkeHeader, payloads: Vec<Payload<'a>>) -> Self {
        Self { header, payloads }
    }

    /// Decodes a message. `bytes` must be exactly one message: the IKE header's length must
    /// equal `bytes.len()` (UDP carries one message per datagram; the TCP framing layers strip
    /// their own headers). The major version must be 2 (RFC 7296 §2.5); the minor version is
    /// ignored. Unknown payloads are kept, see [`super::check_critical_payloads`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let header = IkeHeader::parse(bytes)?;
        if header.major_version != MAJOR_VERSION {
            return Err(DecodeError::UnsupportedMajorVersion(header.major_version));
        }
        if usize::try_from(header.length).ok() != Some(bytes.len()) {
            return Err(DecodeError::MessageLengthMismatch {
                header: header.length,
                actual: bytes.len(),
            });
        }
        let chain = bytes
            .get(IkeHeader::LEN..)
            .ok_or(DecodeError::Truncated("IKE header"))?;
        let payloads = decode_chain(header.next_payload, chain, true)?;
        Ok(Self { header, payloads })
    }

    /// Encodes the message: the header as given except `next_payload` (the first payload's
    /// type) and `length`, then the payload chain with all next-payload and length fields
    /// filled in. An SK or SKF payload must be last and is copied as is; to build a protected
    /// message use [`super::SealBuffer`] instead.
    pub fn emit(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        let mut header = self.header;
        header.next_payload = self
            .payloads
            .first()
            .map_or(PayloadType::NoNext, |payload| payload.body.payload_type());
        let patch = LengthPatch::begin(&out, 24);
        header.emit(&mut out);
        emit_chain(&self.payloads, &mut out)?;
        patch.finish_u32(&mut out, "message")?;
        Ok(out)
    }

    /// The payload bodies in order.
    pub fn bodies(&self) -> impl Iterator<Item = &PayloadBody<'a>> {
        self.payloads.iter().map(|payload| &payload.body)
    }

    /// For a message parsed from `bytes` whose last payload is SK or SKF: the parts the crypto
    /// layer needs to open it. `None` if the message is not protected or `bytes` is not the
    /// buffer it was parsed from.
    pub fn protected_parts<'b>(&self, bytes: &'b [u8]) -> Option<ProtectedParts<'b>> {
        let (body_len, first_inner, fragment) = match self.payloads.last()?.body {
            PayloadBody::Sk(Encrypted { first_inner, body }) => (body.len(), first_inner, None),
            PayloadBody::Skf(EncryptedFragment {
                first_inner,
                fragment_number,
                total_fragments,
                body,
            }) => (
                body.len(),
                first_inner,
                Some((fragment_number, total_fragments)),
            ),
            _ => return None,
        };
        let split = bytes.len().checked_sub(body_len)?;
        let (authenticated_prefix, body) = bytes.split_at_checked(split)?;
        Some(ProtectedParts {
            authenticated_prefix,
            body,
            first_inner,
            fragment,
        })
    }
}
