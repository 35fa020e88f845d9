//! The payload chain: [`Payload`] (critical bit and typed body), chain decoding from a first
//! payload type, chain encoding with every next-payload and length field filled in, and the
//! critical-bit rule.
//!
//! Each payload's generic header names the type of the *next* payload
//! (<https://www.rfc-editor.org/rfc/rfc7296#section-3.2>); the first type comes from the IKE
//! header, or, for the decrypted content of SK, from the SK payload's own header.

use super::configuration::Configuration;
use super::encrypted::{Encrypted, EncryptedFragment};
use super::error::{DecodeError, EncodeError};
use super::header::PayloadHeader;
use super::notify::{Delete, Notify};
use super::opaque::{
    Authentication, Certificate, CertificateRequest, Eap, Identification, KeyExchange, Nonce,
    VendorId,
};
use super::reader::Reader;
use super::registry::PayloadType;
use super::sa::SecurityAssociation;
use super::traffic_selector::TrafficSelectors;
use super::writer::LengthPatch;

/// One payload of a chain: its critical bit and its decoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload<'a> {
    /// The critical bit as received (<https://www.rfc-editor.org/rfc/rfc7296#section-2.5>).
    /// It only matters for payload types the receiver does not know; eseg sends it clear.
    pub critical: bool,
    /// The payload body.
    pub body: PayloadBody<'a>,
}

/// A payload body, one variant per payload type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadBody<'a> {
    /// SA.
    Sa(SecurityAssociation<'a>),
    /// KE.
    Ke(KeyExchange<'a>),
    /// IDi.
    IdI(Identification<'a>),
    /// IDr.
    IdR(Identification<'a>),
    /// CERT.
    Cert(Certificate<'a>),
    /// CERTREQ.
    CertReq(CertificateRequest<'a>),
    /// AUTH.
    Auth(Authentication<'a>),
    /// Nonce (Ni or Nr).
    Nonce(Nonce<'a>),
    /// Notify.
    Notify(Notify<'a>),
    /// Delete.
    Delete(Delete<'a>),
    /// Vendor ID.
    VendorId(VendorId<'a>),
    /// TSi.
    TsI(TrafficSelectors<'a>),
    /// TSr.
    TsR(TrafficSelectors<'a>),
    /// SK; always the last payload of a message.
    Sk(Encrypted<'a>),
    /// CP.
    Cp(Configuration<'a>),
    /// EAP.
    Eap(Eap<'a>),
    /// SKF; always the last payload of a message.
    Skf(EncryptedFragment<'a>),
    /// A payload type this implementation does not know, kept with its raw body. If its
    /// payload's critical bit is set the message must be refused, see
    /// [`check_critical_payloads`].
    Unknown {
        /// The payload type octet.
        payload_type: u8,
        /// The body after the generic header.
        data: &'a [u8],
    },
}

impl<'a> From<PayloadBody<'a>> for Payload<'a> {
    /// A payload with the critical bit clear, as eseg sends every payload it knows.
    fn from(body: PayloadBody<'a>) -> Self {
        Self {
            critical: false,
            body,
        }
    }
}

impl<'a> PayloadBody<'a> {
    /// The payload type of this body.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Self::Sa(_) => PayloadType::Sa,
            Self::Ke(_) => PayloadType::Ke,
            Self::IdI(_) => PayloadType::IdI,
            Self::IdR(_) => PayloadType::IdR,
            Self::Cert(_) => PayloadType::Cert,
            Self::CertReq(_) => PayloadType::CertReq,
            Self::Auth(_) => PayloadType::Auth,
            Self::Nonce(_) => PayloadType::Nonce,
            Self::Notify(_) => PayloadType::Notify,
            Self::Delete(_) => PayloadType::Delete,
            Self::VendorId(_) => PayloadType::VendorId,
            Self::TsI(_) => PayloadType::TsI,
            Self::TsR(_) => PayloadType::TsR,
            Self::Sk(_) => PayloadType::Sk,
            Self::Cp(_) => PayloadType::Cp,
            Self::Eap(_) => PayloadType::Eap,
            Self::Skf(_) => PayloadType::Skf,
            Self::Unknown { payload_type, .. } => PayloadType::from(*payload_type),
        }
    }

    /// Whether this is SK or SKF, which must end a message.
    fn is_encrypted(&self) -> bool {
        matches!(self, Self::Sk(_) | Self::Skf(_))
    }

    /// Decodes the body of a payload of type `payload_type` whose generic header carried
    /// `next_payload` (needed for SK and SKF, where it names the first inner payload).
    fn decode(
        payload_type: PayloadType,
        next_payload: PayloadType,
        body: &'a [u8],
    ) -> Result<Self, DecodeError> {
        Ok(match payload_type {
            PayloadType::Sa => Self::Sa(SecurityAssociation::parse(body)?),
            PayloadType::Ke => Self::Ke(KeyExchange::parse(body)?),
            PayloadType::IdI => Self::IdI(Identification::parse(body)?),
            PayloadType::IdR => Self::IdR(Identification::parse(body)?),
            PayloadType::Cert => Self::Cert(Certificate::parse(body)?),
            PayloadType::CertReq => Self::CertReq(CertificateRequest::parse(body)?),
            PayloadType::Auth => Self::Auth(Authentication::parse(body)?),
            PayloadType::Nonce => Self::Nonce(Nonce::parse(body)?),
            PayloadType::Notify => Self::Notify(Notify::parse(body)?),
            PayloadType::Delete => Self::Delete(Delete::parse(body)?),
            PayloadType::VendorId => Self::VendorId(VendorId::parse(body)?),
            PayloadType::TsI => Self::TsI(TrafficSelectors::parse(body)?),
            PayloadType::TsR => Self::TsR(TrafficSelectors::parse(body)?),
            PayloadType::Sk => Self::Sk(Encrypted::parse(next_payload, body)),
            PayloadType::Cp => Self::Cp(Configuration::parse(body)?),
            PayloadType::Eap => Self::Eap(Eap::parse(body)?),
            PayloadType::Skf => Self::Skf(EncryptedFragment::parse(next_payload, body)?),
            PayloadType::NoNext | PayloadType::Unknown(_) => Self::Unknown {
                payload_type: payload_type.into(),
                data: body,
            },
        })
    }

    /// Appends the body (without generic header) to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Self::Sa(sa) => sa.emit(out),
            Self::Ke(ke) => ke.emit(out),
            Self::IdI(id) | Self::IdR(id) => id.emit(out),
            Self::Cert(cert) => cert.emit(out),
            Self::CertReq(request) => request.emit(out),
            Self::Auth(auth) => auth.emit(out),
            Self::Nonce(nonce) => nonce.emit(out),
            Self::Notify(notify) => notify.emit(out),
            Self::Delete(delete) => delete.emit(out),
            Self::VendorId(vendor) => vendor.emit(out),
            Self::TsI(selectors) | Self::TsR(selectors) => selectors.emit(out),
            Self::Sk(encrypted) => encrypted.emit(out),
            Self::Cp(configuration) => configuration.emit(out),
            Self::Eap(eap) => eap.emit(out),
            Self::Skf(fragment) => fragment.emit(out),
            Self::Unknown { data, .. } => {
                out.extend_from_slice(data);
                Ok(())
            }
        }
    }
}

/// Decodes a payload chain that starts with a payload of type `first`, e.g. the decrypted
/// content of an SK payload ([`Encrypted::first_inner`]). All of `bytes` must be used; an SK or
/// SKF payload inside is refused ([`DecodeError::NestedEncrypted`]).
pub fn parse_chain(first: PayloadType, bytes: &[u8]) -> Result<Vec<Payload<'_>>, DecodeError> {
    decode_chain(first, bytes, false)
}

/// Decodes a chain; `allow_encrypted` admits one SK or SKF payload as the last one.
pub(crate) fn decode_chain(
    first: PayloadType,
    bytes: &[u8],
    allow_encrypted: bool,
) -> Result<Vec<Payload<'_>>, DecodeError> {
    let mut reader = Reader::new(bytes);
    let mut payloads = Vec::new();
    let mut payload_type = first;
    while payload_type != PayloadType::NoNext {
        let header = PayloadHeader::read(&mut reader)?;
        let body = reader
            .take(usize::from(header.length) - PayloadHeader::LEN)
            .ok_or(DecodeError::Truncated("payload"))?;
        let body = PayloadBody::decode(payload_type, header.next_payload, body)?;
        let payload = Payload {
            critical: header.critical,
            body,
        };
        if payload.body.is_encrypted() {
            if !allow_encrypted {
                return Err(DecodeError::NestedEncrypted);
            }
            if !reader.is_empty() {
                return Err(DecodeError::EncryptedNotLast);
            }
            payloads.push(payload);
            return Ok(payloads);
        }
        payloads.push(payload);
        payload_type = header.next_payload;
    }
    if reader.is_empty() {
        Ok(payloads)
    } else {
        Err(DecodeError::TrailingData("payload chain"))
    }
}

/// Encodes a payload chain: returns the type of the first payload (for the IKE header or the
/// SK header; [`PayloadType::NoNext`] for an empty chain) and the payloads with every
/// next-payload and length field filled in. This is the plaintext that goes into SK.
pub fn encode_chain(payloads: &[Payload<'_>]) -> Result<(PayloadType, Vec<u8>), EncodeError> {
    let mut out = Vec::new();
    let first = emit_chain(payloads, &mut out)?;
    Ok((first, out))
}

/// Appends a payload chain to `out` and returns the type of its first payload.
pub(crate) fn emit_chain(
    payloads: &[Payload<'_>],
    out: &mut Vec<u8>,
) -> Result<PayloadType, EncodeError> {
    let mut iter = payloads.iter().peekable();
    while let Some(payload) = iter.next() {
        let next = iter.peek();
        let next_payload = match (&payload.body, next) {
            (PayloadBody::Sk(encrypted), None) => encrypted.first_inner,
            (PayloadBody::Skf(fragment), None) => fragment.first_inner,
            (PayloadBody::Sk(_) | PayloadBody::Skf(_), Some(_)) => {
                return Err(EncodeError::EncryptedNotLast)
            }
            (_, Some(next)) => next.body.payload_type(),
            (_, None) => PayloadType::NoNext,
        };
        let patch = LengthPatch::begin(out, 2);
        PayloadHeader {
            next_payload,
            critical: payload.critical,
            length: 0,
        }
        .emit(out);
        payload.body.emit(out)?;
        patch.finish_u16(out, "payload")?;
    }
    Ok(payloads
        .first()
        .map_or(PayloadType::NoNext, |payload| payload.body.payload_type()))
}

/// Applies the critical-bit rule of <https://www.rfc-editor.org/rfc/rfc7296#section-2.5>:
/// an unknown payload with the critical bit set makes the whole message unacceptable and is
/// reported as [`DecodeError::UnsupportedCriticalPayload`] (which maps to the
/// UNSUPPORTED_CRITICAL_PAYLOAD notify); unknown payloads without it are skipped by the engine.
pub fn check_critical_payloads(payloads: &[Payload<'_>]) -> Result<(), DecodeError> {
    match payloads.iter().find_map(|payload| match payload.body {
        PayloadBody::Unknown { payload_type, .. } if payload.critical => Some(payload_type),
        _ => None,
    }) {
        Some(payload_type) => Err(DecodeError::UnsupportedCriticalPayload(payload_type)),
        None => Ok(()),
    }
}
