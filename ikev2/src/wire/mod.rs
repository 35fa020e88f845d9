//! The IKEv2 wire codec (RFC 7296 §3, RFC 7383 §2.5).
//!
//! What goes in: the bytes of one IKE message (the driver has already removed the non-ESP
//! marker on port 4500 and any TCP framing), or the decrypted content of an SK payload. What
//! comes out: a [`Message`] whose payloads borrow from those bytes, or a [`DecodeError`] that
//! says which notify, if any, answers it ([`DecodeError::notify_type`]). The codec never
//! panics on input and never allocates more than a small multiple of the input size.
//!
//! Two tiers, following `STYLE.md` §3:
//! - fixed headers as `Repr`s with `parse` / `buffer_len` / `emit`: [`IkeHeader`] (28 octets)
//!   and [`PayloadHeader`] (4 octets);
//! - the payload chain and the nested structures (SA > Proposal > Transform > Attribute,
//!   traffic selectors, configuration attributes, Delete SPIs) read with a bounds-checked
//!   cursor, each length-delimited body through its own sub-reader, trailing data refused.
//!
//! Registries are open enums ([`PayloadType`], [`NotifyType`], [`EncrId`], ...) that keep
//! unknown code points as `Unknown(raw)`. Unknown payloads are kept as
//! [`PayloadBody::Unknown`] with their critical bit; [`check_critical_payloads`] applies the
//! RFC 7296 §2.5 rule.
//!
//! # Receiving
//! ```text
//! let message = Message::parse(&datagram)?;            // header + outer payloads
//! check_critical_payloads(&message.payloads)?;
//! if let Some(parts) = message.protected_parts(&datagram) {
//!     let plaintext = crypto.open(parts.authenticated_prefix, parts.body)?;
//!     let inner = parse_chain(parts.first_inner, &plaintext)?;
//!     check_critical_payloads(&inner)?;
//! }
//! ```
//! # Sending
//! A plaintext message (IKE_SA_INIT): `Message::new(header, payloads).emit()`. A protected
//! one: [`encode_chain`] the inner payloads, then [`SealBuffer::new`] writes both headers with
//! their final lengths and hands out the body to seal in place (see its example).

mod configuration;
mod encrypted;
mod enum_macro;
mod error;
mod header;
mod message;
mod notify;
mod notify_type;
mod opaque;
mod payload;
mod reader;
mod registry;
mod sa;
mod traffic_selector;
mod transform_ids;
mod writer;

pub use configuration::{ConfigAttribute, Configuration};
pub use encrypted::{Encrypted, EncryptedFragment, Envelope, SealBuffer};
pub use error::{DecodeError, EncodeError};
pub use header::{Flags, IkeHeader, PayloadHeader, MAJOR_VERSION};
pub use message::{Message, ProtectedParts};
pub use notify::{Delete, Notify};
pub use notify_type::NotifyType;
pub use opaque::{
    Authentication, Certificate, CertificateRequest, Eap, Identification, KeyExchange, Nonce,
    VendorId,
};
pub use payload::{check_critical_payloads, encode_chain, parse_chain, Payload, PayloadBody};
pub use registry::{
    AuthMethod, CertEncoding, CfgType, ConfigAttributeType, ExchangeType, IdType, PayloadType,
    ProtocolId, TsType,
};
pub use sa::{Proposal, SecurityAssociation, Transform, TransformAttribute, TransformId};
pub use traffic_selector::{AddressRange, TrafficSelector, TrafficSelectors};
pub use transform_ids::{
    DhGroup, EncrId, EsnId, IntegId, PrfId, TransformAttributeType, TransformType,
};
