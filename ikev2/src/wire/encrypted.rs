//! The Encrypted and Authenticated payload SK
//! (<https://www.rfc-editor.org/rfc/rfc7296#section-3.14>) and its fragment form SKF
//! (<https://www.rfc-editor.org/rfc/rfc7383#section-2.5>), and [`SealBuffer`], the outgoing
//! message that ends in one.
//!
//! The codec never sees keys: an SK body is opaque here (IV, ciphertext, padding, pad length,
//! ICV). What the codec provides is the framing the cryptography must cover. Both AEAD (RFC 5282
//! §5.1: the associated data is everything from the IKE header up to the IV) and encrypt-then-MAC
//! (RFC 7296 §3.14: the checksum covers the whole message up to the ICV) need the IKE header's and
//! the SK header's final length fields *before* sealing, so [`SealBuffer`] writes the headers for
//! a body of known size first and hands out the body to seal in place.

use super::error::{DecodeError, EncodeError};
use super::header::{IkeHeader, PayloadHeader};
use super::reader::Reader;
use super::registry::PayloadType;
use super::writer::LengthPatch;

/// SK payload body: the protected inner payload chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encrypted<'a> {
    /// Type of the first payload inside (the SK generic header's "next payload" field);
    /// [`PayloadType::NoNext`] when the inner chain is empty (e.g. a liveness check).
    pub first_inner: PayloadType,
    /// IV, ciphertext, padding, pad length and ICV, opaque to the codec.
    pub body: &'a [u8],
}

/// SKF payload body: one fragment of a protected inner chain (RFC 7383 §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedFragment<'a> {
    /// Type of the first inner payload; only meaningful in fragment 1, zero in the others.
    pub first_inner: PayloadType,
    /// This fragment's number, from 1.
    pub fragment_number: u16,
    /// The number of fragments of the message.
    pub total_fragments: u16,
    /// IV, ciphertext, padding, pad length and ICV, opaque to the codec.
    pub body: &'a [u8],
}

impl<'a> Encrypted<'a> {
    /// An SK payload from its generic header's next-payload field and body.
    pub fn parse(first_inner: PayloadType, body: &'a [u8]) -> Self {
        Self { first_inner, body }
    }

    /// Appends the SK payload body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(self.body);
        Ok(())
    }
}

impl<'a> EncryptedFragment<'a> {
    /// Decodes an SKF payload body, checking 1 <= fragment number <= total fragments.
    pub fn parse(first_inner: PayloadType, body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        let truncated = || DecodeError::Truncated("SKF payload");
        let fragment_number = reader.u16().ok_or_else(truncated)?;
        let total_fragments = reader.u16().ok_or_else(truncated)?;
        if fragment_number == 0 || fragment_number > total_fragments {
            return Err(DecodeError::InvalidFragmentNumber {
                number: fragment_number,
                total: total_fragments,
            });
        }
        Ok(Self {
            first_inner,
            fragment_number,
            total_fragments,
            body: reader.rest(),
        })
    }

    /// Appends the SKF payload body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.fragment_number.to_be_bytes());
        out.extend_from_slice(&self.total_fragments.to_be_bytes());
        out.extend_from_slice(self.body);
        Ok(())
    }
}

/// Whether the protected body goes into an SK payload or one SKF fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// A whole SK payload.
    Sk,
    /// One SKF fragment (RFC 7383 §2.5).
    Skf {
        /// This fragment's number, from 1.
        fragment_number: u16,
        /// The number of fragments.
        total_fragments: u16,
    },
}

/// An outgoing message whose only payload is SK or SKF, with every header written and the
/// protected body left to fill in place.
///
/// Use: encode the inner chain with [`super::encode_chain`], let the crypto layer tell the
/// sealed size (IV + padded plaintext + ICV), create the buffer, seal into
/// [`SealBuffer::parts_mut`]'s body using its prefix as associated data (AEAD) or as the first
/// part of the integrity input (encrypt-then-MAC), then send [`SealBuffer::into_bytes`].
///
/// ```
/// use ikev2::wire::{encode_chain, Envelope, ExchangeType, Flags, IkeHeader, Message};
/// use ikev2::wire::{Notify, NotifyType, Payload, PayloadBody, PayloadType, SealBuffer};
///
/// let inner = [Payload::from(PayloadBody::Notify(Notify::new(NotifyType::InitialContact, &[])))];
/// let (first_inner, plaintext) = encode_chain(&inner)?;
/// let header = IkeHeader::new(1, 2, ExchangeType::IkeAuth, Flags::new(true, false), 1);
/// let sealed_len = 8 + plaintext.len() + 1 + 16; // e.g. AES-GCM: IV, data, pad length, ICV
/// let mut message = SealBuffer::new(&header, first_inner, Envelope::Sk, sealed_len)?;
/// let (associated_data, body) = message.parts_mut();
/// assert_eq!(associated_data.len(), IkeHeader::LEN + 4);
/// body.fill(0xAA); // stand-in for the real sealing
/// let bytes = message.into_bytes();
/// let parsed = Message::parse(&bytes)?;
/// let protected = parsed.protected_parts(&bytes).expect("ends in SK");
/// assert_eq!(protected.body.len(), sealed_len);
/// assert_eq!(protected.first_inner, PayloadType::Notify);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealBuffer {
    bytes: Vec<u8>,
    body_start: usize,
}

impl SealBuffer {
    /// Writes the IKE header (next payload SK or SKF, final length) and the SK/SKF header for a
    /// protected body of `sealed_len` octets whose first inner payload is `first_inner`. The
    /// header's `next_payload` and `length` fields are replaced.
    pub fn new(
        header: &IkeHeader,
        first_inner: PayloadType,
        envelope: Envelope,
        sealed_len: usize,
    ) -> Result<Self, EncodeError> {
        let mut header = *header;
        header.next_payload = match envelope {
            Envelope::Sk => PayloadType::Sk,
            Envelope::Skf { .. } => PayloadType::Skf,
        };
        let mut bytes = Vec::new();
        let message = LengthPatch::begin(&bytes, 24);
        header.emit(&mut bytes);
        let payload = LengthPatch::begin(&bytes, 2);
        PayloadHeader {
            next_payload: first_inner,
            critical: false,
            length: 0,
        }
        .emit(&mut bytes);
        if let Envelope::Skf {
            fragment_number,
            total_fragments,
        } = envelope
        {
            bytes.extend_from_slice(&fragment_number.to_be_bytes());
            bytes.extend_from_slice(&total_fragments.to_be_bytes());
        }
        let body_start = bytes.len();
        let total = body_start
            .checked_add(sealed_len)
            .ok_or(EncodeError::TooLong("encrypted payload"))?;
        bytes.resize(total, 0);
        payload.finish_u16(&mut bytes, "encrypted payload")?;
        message.finish_u32(&mut bytes, "message")?;
        Ok(Self { bytes, body_start })
    }

    /// The authenticated prefix (IKE header and SK/SKF header, the AEAD associated data) and
    /// the body to seal in place (IV | ciphertext | padding | pad length | ICV).
    pub fn parts_mut(&mut self) -> (&[u8], &mut [u8]) {
        let (prefix, body) = self.bytes.split_at_mut(self.body_start);
        (prefix, body)
    }

    /// The finished message.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}
