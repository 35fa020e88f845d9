//! Glue between the engine and the wire codec: finding payloads in a parsed chain, converting
//! SA / TS / CP / ID payloads to the engine's types and back, and building plain and
//! SK-protected messages ([RFC 7296 §3.14](https://www.rfc-editor.org/rfc/rfc7296#section-3.14)).

use rand_core::CryptoRngCore;

use crate::cp::Attribute;
use crate::crypto::SkCipher;
use crate::error::Error;
use crate::identity::Identity;
use crate::proposal::{Offer, OfferedTransform};
use crate::ts::TrafficSelector;
use crate::wire::{
    self, AddressRange, Authentication, CfgType, ConfigAttribute, Configuration, Envelope, IdType,
    Identification, IkeHeader, Message, Notify, NotifyType, Payload, PayloadBody, Proposal,
    ProtocolId, SealBuffer, SecurityAssociation, TrafficSelectors, Transform, TransformAttribute,
    TransformAttributeType, TransformId,
};

/// Upper bound on proposals and transforms read from one SA payload (hostile input).
const MAX_OFFERS: usize = 32;
const MAX_TRANSFORMS: usize = 64;
/// Upper bound on traffic selectors read from one TS payload.
const MAX_SELECTORS: usize = 32;

/// Finders over a decoded payload chain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'p, 'a> {
    payloads: &'p [Payload<'a>],
}

impl<'p, 'a> View<'p, 'a> {
    pub(crate) fn new(payloads: &'p [Payload<'a>]) -> Self {
        View { payloads }
    }

    fn bodies(&self) -> impl Iterator<Item = &'p PayloadBody<'a>> {
        self.payloads.iter().map(|p| &p.body)
    }

    pub(crate) fn sa(&self) -> Option<&'p SecurityAssociation<'a>> {
        self.bodies().find_map(|b| match b {
            PayloadBody::Sa(sa) => Some(sa),
            _ => None,
        })
    }

    pub(crate) fn ke(&self) -> Option<(u16, &'a [u8])> {
        self.bodies().find_map(|b| match b {
            PayloadBody::Ke(ke) => Some((u16::from(ke.group), ke.data)),
            _ => None,
        })
    }

    pub(crate) fn nonce(&self) -> Option<&'a [u8]> {
        self.bodies().find_map(|b| match b {
            PayloadBody::Nonce(n) => Some(n.data),
            _ => None,
        })
    }

    pub(crate) fn id_i(&self) -> Option<&'p Identification<'a>> {
        self.bodies().find_map(|b| match b {
            PayloadBody::IdI(id) => Some(id),
            _ => None,
        })
    }

    pub(crate) fn id_r(&self) -> Option<&'p Identification<'a>> {
        self.bodies().find_map(|b| match b {
            PayloadBody::IdR(id) => Some(id),
            _ => None,
        })
    }

    pub(crate) fn auth(&self) -> Option<&'p Authentication<'a>> {
        self.bodies().find_map(|b| match b {
            PayloadBody::Auth(a) => Some(a),
            _ => None,
        })
    }

    pub(crate) fn ts_i(&self) -> Option<&'p TrafficSelectors<'a>> {
        self.bodies().find_map(|b| match b {
            PayloadBody::TsI(ts) => Some(ts),
            _ => None,
        })
    }

    pub(crate) fn ts_r(&self) -> Option<&'p TrafficSelectors<'a>> {
        self.bodies().find_map(|b| match b {
            PayloadBody::TsR(ts) => Some(ts),
            _ => None,
        })
    }

    pub(crate) fn cp(&self) -> Option<&'p Configuration<'a>> {
        self.bodies().find_map(|b| match b {
            PayloadBody::Cp(cp) => Some(cp),
            _ => None,
        })
    }

    pub(crate) fn notifies(&self) -> impl Iterator<Item = &'p Notify<'a>> {
        self.bodies().filter_map(|b| match b {
            PayloadBody::Notify(n) => Some(n),
            _ => None,
        })
    }

    pub(crate) fn notify(&self, kind: NotifyType) -> Option<&'p Notify<'a>> {
        self.notifies().find(|n| n.notify_type == kind)
    }

    /// The first error notify (types below 16384).
    pub(crate) fn error_notify(&self) -> Option<&'p Notify<'a>> {
        self.notifies().find(|n| n.notify_type.is_error())
    }

    pub(crate) fn deletes(&self) -> impl Iterator<Item = &'p wire::Delete<'a>> {
        self.bodies().filter_map(|b| match b {
            PayloadBody::Delete(d) => Some(d),
            _ => None,
        })
    }
}

/// The proposals of an SA payload as [`Offer`]s.
pub(crate) fn offers(sa: &SecurityAssociation<'_>) -> Vec<Offer> {
    sa.proposals
        .iter()
        .take(MAX_OFFERS)
        .map(|p| Offer {
            number: p.number,
            protocol: u8::from(p.protocol),
            spi: p.spi.to_vec(),
            transforms: p
                .transforms
                .iter()
                .take(MAX_TRANSFORMS)
                .map(|t| {
                    let (kind, id) = t.id.to_wire();
                    let unknown_attribute = t.attributes.iter().any(|a| {
                        !matches!(
                            a,
                            TransformAttribute::Tv {
                                kind: TransformAttributeType::KeyLength,
                                ..
                            }
                        )
                    });
                    OfferedTransform {
                        kind,
                        id,
                        key_bits: t.key_length(),
                        unknown_attribute,
                    }
                })
                .collect(),
        })
        .collect()
}

/// An SA payload from proposals (number, protocol, SPI, transforms).
pub(crate) fn sa_payload<'a>(
    proposals: &'a [(u8, u8, Vec<u8>, Vec<OfferedTransform>)],
) -> PayloadBody<'a> {
    PayloadBody::Sa(SecurityAssociation {
        proposals: proposals
            .iter()
            .map(|(number, protocol, spi, transforms)| Proposal {
                number: *number,
                protocol: ProtocolId::from(*protocol),
                spi,
                transforms: transforms
                    .iter()
                    .map(|t| {
                        let id = TransformId::from_wire(t.kind, t.id);
                        match t.key_bits {
                            Some(bits) => Transform::with_key_length(id, bits),
                            None => Transform::new(id),
                        }
                    })
                    .collect(),
            })
            .collect(),
    })
}

/// Address-range selectors of a TS payload; other selector types are skipped.
pub(crate) fn selectors(ts: &TrafficSelectors<'_>) -> Vec<TrafficSelector> {
    ts.selectors
        .iter()
        .take(MAX_SELECTORS)
        .filter_map(|s| match s {
            wire::TrafficSelector::Ipv4(r) => Some(TrafficSelector {
                protocol: r.ip_protocol,
                start_port: r.start_port,
                end_port: r.end_port,
                start: r.start_address.into(),
                end: r.end_address.into(),
            }),
            wire::TrafficSelector::Ipv6(r) => Some(TrafficSelector {
                protocol: r.ip_protocol,
                start_port: r.start_port,
                end_port: r.end_port,
                start: r.start_address.into(),
                end: r.end_address.into(),
            }),
            wire::TrafficSelector::Other { .. } => None,
        })
        .collect()
}

/// A TS payload body from selectors.
pub(crate) fn ts_payload(list: &[TrafficSelector]) -> TrafficSelectors<'static> {
    use std::net::IpAddr;
    TrafficSelectors {
        selectors: list
            .iter()
            .filter_map(|ts| match (ts.start, ts.end) {
                (IpAddr::V4(start_address), IpAddr::V4(end_address)) => {
                    Some(wire::TrafficSelector::Ipv4(AddressRange {
                        ip_protocol: ts.protocol,
                        start_port: ts.start_port,
                        end_port: ts.end_port,
                        start_address,
                        end_address,
                    }))
                }
                (IpAddr::V6(start_address), IpAddr::V6(end_address)) => {
                    Some(wire::TrafficSelector::Ipv6(AddressRange {
                        ip_protocol: ts.protocol,
                        start_port: ts.start_port,
                        end_port: ts.end_port,
                        start_address,
                        end_address,
                    }))
                }
                _ => None,
            })
            .collect(),
    }
}

/// The attributes of a CP payload.
pub(crate) fn attributes(cp: &Configuration<'_>) -> Vec<Attribute> {
    cp.attributes
        .iter()
        .take(crate::cp::MAX_ATTRIBUTES)
        .map(|a| Attribute {
            kind: u16::from(a.kind),
            value: a.value.to_vec(),
        })
        .collect()
}

/// A CP payload body.
pub(crate) fn cp_payload(cfg_type: CfgType, list: &[Attribute]) -> PayloadBody<'_> {
    PayloadBody::Cp(Configuration {
        cfg_type,
        attributes: list
            .iter()
            .map(|a| ConfigAttribute {
                kind: a.kind.into(),
                value: &a.value,
            })
            .collect(),
    })
}

/// The identity in an ID payload.
pub(crate) fn identity(id: &Identification<'_>) -> Result<Identity, Error> {
    Identity::from_wire(u8::from(id.id_type), id.data).map_err(|_| Error::AuthenticationFailed)
}

/// The ID payload body after the generic header ("RestOfIDPayload" of §2.15): ID Type, three
/// reserved octets (zero), identification data.
pub(crate) fn id_body(identity: &Identity) -> Vec<u8> {
    let mut body = vec![identity.id_type(), 0, 0, 0];
    body.extend_from_slice(&identity.data());
    body
}

/// The same for a received ID payload.
pub(crate) fn received_id_body(id: &Identification<'_>) -> Vec<u8> {
    let mut body = vec![u8::from(id.id_type), 0, 0, 0];
    body.extend_from_slice(id.data);
    body
}

/// An ID payload body for our identity (`data` must outlive it).
pub(crate) fn identification<'a>(identity: &Identity, data: &'a [u8]) -> Identification<'a> {
    Identification {
        id_type: IdType::from(identity.id_type()),
        data,
    }
}

/// Builds an unprotected message (IKE_SA_INIT).
pub(crate) fn plain(header: IkeHeader, bodies: Vec<PayloadBody<'_>>) -> Result<Vec<u8>, Error> {
    let payloads = bodies.into_iter().map(Payload::from).collect();
    Message::new(header, payloads)
        .emit()
        .map_err(|_| Error::InvalidSyntax("encode"))
}

/// Builds a message whose only payload is SK, protecting `bodies` with `cipher`.
pub(crate) fn protected<R: CryptoRngCore + ?Sized>(
    header: IkeHeader,
    bodies: Vec<PayloadBody<'_>>,
    cipher: &mut SkCipher,
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    let payloads: Vec<Payload<'_>> = bodies.into_iter().map(Payload::from).collect();
    let (first, plaintext) =
        wire::encode_chain(&payloads).map_err(|_| Error::InvalidSyntax("encode"))?;
    let sealed_len = cipher.sealed_len(plaintext.len());
    let mut buffer = SealBuffer::new(&header, first, Envelope::Sk, sealed_len)
        .map_err(|_| Error::InvalidSyntax("encode"))?;
    let (prefix, body) = buffer.parts_mut();
    let sealed = cipher.seal(prefix, &plaintext, rng)?;
    if sealed.len() != body.len() {
        return Err(Error::InvalidSyntax("sealed length"));
    }
    body.copy_from_slice(&sealed);
    Ok(buffer.into_bytes())
}

/// Decrypts the SK payload of `message` (parsed from `bytes`) and returns the inner plaintext.
/// A message without SK, or with SKF (fragmentation is not negotiated), is refused.
pub(crate) fn open(
    message: &Message<'_>,
    bytes: &[u8],
    cipher: &SkCipher,
) -> Result<Vec<u8>, Error> {
    let parts = message
        .protected_parts(bytes)
        .ok_or(Error::InvalidSyntax("no SK payload"))?;
    if parts.fragment.is_some() {
        return Err(Error::InvalidSyntax("SKF without fragmentation"));
    }
    cipher
        .open(parts.authenticated_prefix, parts.body)
        .map_err(|_| Error::IntegrityCheckFailed)
}

/// The inner payload chain of an opened SK payload.
pub(crate) fn inner<'a>(
    message: &Message<'_>,
    bytes: &[u8],
    plaintext: &'a [u8],
) -> Result<Vec<Payload<'a>>, Error> {
    let parts = message
        .protected_parts(bytes)
        .ok_or(Error::InvalidSyntax("no SK payload"))?;
    let payloads = wire::parse_chain(parts.first_inner, plaintext)?;
    wire::check_critical_payloads(&payloads)?;
    Ok(payloads)
}
