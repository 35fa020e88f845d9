//! Property tests: generated messages round-trip, arbitrary and mutated bytes never panic,
//! and whatever parses re-emits to something that parses equal.

mod wire_support;

use std::net::{Ipv4Addr, Ipv6Addr};

use ikev2::wire::{
    parse_chain, AddressRange, AuthMethod, CertEncoding, CfgType, ConfigAttribute,
    ConfigAttributeType, Configuration, Delete, DhGroup, Eap, ExchangeType, Flags, IdType,
    Identification, IkeHeader, KeyExchange, Message, Nonce, Notify, NotifyType, Payload,
    PayloadBody, PayloadType, Proposal, ProtocolId, SecurityAssociation, TrafficSelector,
    TrafficSelectors, Transform, TransformAttribute, TransformAttributeType, TransformId, TsType,
    VendorId,
};
use ikev2::wire::{Authentication, Certificate, CertificateRequest};
use proptest::collection::vec;
use proptest::prelude::*;

/// Owned description of a payload, from which a borrowed [`Payload`] is built.
#[derive(Debug, Clone)]
enum Model {
    Sa(u8, Vec<ModelProposal>),
    Ke(u16, Vec<u8>),
    Id(bool, u8, Vec<u8>),
    Cert(u8, Vec<u8>),
    CertReq(u8, Vec<u8>),
    Auth(u8, Vec<u8>),
    Nonce(Vec<u8>),
    Notify(u8, Vec<u8>, u16, Vec<u8>),
    Delete(u8, u8, Vec<Vec<u8>>),
    VendorId(Vec<u8>),
    Ts(bool, Vec<ModelSelector>),
    Cp(u8, Vec<(u16, Vec<u8>)>),
    Eap(u8, u8, Vec<u8>),
    Unknown(u8, Vec<u8>),
}

#[derive(Debug, Clone)]
struct ModelProposal {
    protocol: u8,
    spi: Vec<u8>,
    transforms: Vec<(u8, u16, Vec<ModelAttribute>)>,
}

#[derive(Debug, Clone)]
enum ModelAttribute {
    Tv(u16, u16),
    Tlv(u16, Vec<u8>),
}

#[derive(Debug, Clone)]
enum ModelSelector {
    V4(u8, u16, u16, [u8; 4], [u8; 4]),
    V6(u8, u16, u16, [u8; 16], [u8; 16]),
    Other(u8, u8, Vec<u8>),
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

fn attribute() -> impl Strategy<Value = ModelAttribute> {
    prop_oneof![
        (0u16..0x8000, any::<u16>()).prop_map(|(kind, value)| ModelAttribute::Tv(kind, value)),
        (0u16..0x8000, bytes(8)).prop_map(|(kind, value)| ModelAttribute::Tlv(kind, value)),
    ]
}

fn proposal() -> impl Strategy<Value = ModelProposal> {
    let protocol_and_spi = prop_oneof![
        Just((1u8, Vec::new())),
        vec(any::<u8>(), 8).prop_map(|spi| (1u8, spi)),
        (2u8..=3, vec(any::<u8>(), 4)),
        (4u8..=255, bytes(9)),
    ];
    let transform = (any::<u8>(), any::<u16>(), vec(attribute(), 0..3));
    (protocol_and_spi, vec(transform, 0..5)).prop_map(|((protocol, spi), transforms)| {
        ModelProposal {
            protocol,
            spi,
            transforms,
        }
    })
}

fn selector() -> impl Strategy<Value = ModelSelector> {
    prop_oneof![
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<[u8; 4]>(),
            any::<[u8; 4]>()
        )
            .prop_map(|(p, s, e, a, b)| ModelSelector::V4(p, s, e, a, b)),
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<[u8; 16]>(),
            any::<[u8; 16]>()
        )
            .prop_map(|(p, s, e, a, b)| ModelSelector::V6(p, s, e, a, b)),
        (
            any::<u8>().prop_filter("not an address range", |t| *t != 7 && *t != 8),
            any::<u8>(),
            bytes(12)
        )
            .prop_map(|(t, second, body)| ModelSelector::Other(t, second, body)),
    ]
}

fn config_attribute() -> impl Strategy<Value = (u16, Vec<u8>)> {
    prop_oneof![
        Just((1u16, Vec::new())),
        vec(any::<u8>(), 4).prop_map(|value| (1u16, value)),
        vec(any::<u8>(), 17).prop_map(|value| (8u16, value)),
        vec(any::<u8>(), 16).prop_map(|value| (10u16, value)),
        vec(any::<u8>(), 16).prop_map(|value| (21u16, value)),
        bytes(20).prop_map(|value| (16389u16, value)),
        (1000u16..16000, bytes(20)),
    ]
}

fn model() -> impl Strategy<Value = Model> {
    prop_oneof![
        (1u8..200, vec(proposal(), 1..4))
            .prop_map(|(first, proposals)| Model::Sa(first, proposals)),
        (any::<u16>(), bytes(300)).prop_map(|(group, data)| Model::Ke(group, data)),
        (any::<bool>(), any::<u8>(), bytes(40)).prop_map(|(r, t, d)| Model::Id(r, t, d)),
        (any::<u8>(), bytes(100)).prop_map(|(e, d)| Model::Cert(e, d)),
        (any::<u8>(), bytes(60)).prop_map(|(e, d)| Model::CertReq(e, d)),
        (any::<u8>(), bytes(70)).prop_map(|(m, d)| Model::Auth(m, d)),
        vec(any::<u8>(), 16..=256).prop_map(Model::Nonce),
        (any::<u8>(), bytes(9), any::<u16>(), bytes(40))
            .prop_map(|(p, spi, t, d)| Model::Notify(p, spi, t, d)),
        prop_oneof![
            any::<u8>().prop_map(|p| Model::Delete(p, 0, Vec::new())),
            (any::<u8>(), 1u8..17, 0usize..5).prop_flat_map(|(p, size, n)| {
                vec(vec(any::<u8>(), usize::from(size)), n)
                    .prop_map(move |spis| Model::Delete(p, size, spis))
            }),
        ],
        bytes(40).prop_map(Model::VendorId),
        (any::<bool>(), vec(selector(), 0..4)).prop_map(|(r, s)| Model::Ts(r, s)),
        (any::<u8>(), vec(config_attribute(), 0..5)).prop_map(|(t, a)| Model::Cp(t, a)),
        (any::<u8>(), any::<u8>(), bytes(30)).prop_map(|(c, i, d)| Model::Eap(c, i, d)),
        (prop_oneof![49u8..=52, 54u8..=255], bytes(30)).prop_map(|(t, d)| Model::Unknown(t, d)),
    ]
}

/// Rebuilds an EAP message with a correct length field into `storage`.
fn eap_message(code: u8, identifier: u8, data: &[u8]) -> Vec<u8> {
    let length = (4 + data.len()) as u16;
    let mut message = vec![code, identifier];
    message.extend_from_slice(&length.to_be_bytes());
    message.extend_from_slice(data);
    message
}

fn selector_of(model: &ModelSelector) -> TrafficSelector<'_> {
    match model {
        ModelSelector::V4(p, s, e, a, b) => TrafficSelector::Ipv4(AddressRange {
            ip_protocol: *p,
            start_port: *s,
            end_port: *e,
            start_address: Ipv4Addr::from(*a),
            end_address: Ipv4Addr::from(*b),
        }),
        ModelSelector::V6(p, s, e, a, b) => TrafficSelector::Ipv6(AddressRange {
            ip_protocol: *p,
            start_port: *s,
            end_port: *e,
            start_address: Ipv6Addr::from(*a),
            end_address: Ipv6Addr::from(*b),
        }),
        ModelSelector::Other(t, second, body) => TrafficSelector::Other {
            ts_type: TsType::from(*t),
            second_octet: *second,
            body,
        },
    }
}

fn body_of<'a>(model: &'a Model, eap: &'a [u8]) -> PayloadBody<'a> {
    match model {
        Model::Sa(first, proposals) => PayloadBody::Sa(SecurityAssociation {
            proposals: proposals
                .iter()
                .zip(*first..)
                .map(|(proposal, number)| Proposal {
                    number,
                    protocol: ProtocolId::from(proposal.protocol),
                    spi: &proposal.spi,
                    transforms: proposal
                        .transforms
                        .iter()
                        .map(|(kind, id, attributes)| Transform {
                            id: TransformId::from_wire(*kind, *id),
                            attributes: attributes
                                .iter()
                                .map(|attribute| match attribute {
                                    ModelAttribute::Tv(kind, value) => TransformAttribute::Tv {
                                        kind: TransformAttributeType::from(*kind),
                                        value: *value,
                                    },
                                    ModelAttribute::Tlv(kind, value) => TransformAttribute::Tlv {
                                        kind: TransformAttributeType::from(*kind),
                                        value,
                                    },
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }),
        Model::Ke(group, data) => PayloadBody::Ke(KeyExchange {
            group: DhGroup::from(*group),
            data,
        }),
        Model::Id(responder, id_type, data) => {
            let id = Identification {
                id_type: IdType::from(*id_type),
                data,
            };
            if *responder {
                PayloadBody::IdR(id)
            } else {
                PayloadBody::IdI(id)
            }
        }
        Model::Cert(encoding, data) => PayloadBody::Cert(Certificate {
            encoding: CertEncoding::from(*encoding),
            data,
        }),
        Model::CertReq(encoding, authority) => PayloadBody::CertReq(CertificateRequest {
            encoding: CertEncoding::from(*encoding),
            authority,
        }),
        Model::Auth(method, data) => PayloadBody::Auth(Authentication {
            method: AuthMethod::from(*method),
            data,
        }),
        Model::Nonce(data) => PayloadBody::Nonce(Nonce { data }),
        Model::Notify(protocol, spi, notify_type, data) => PayloadBody::Notify(Notify {
            protocol: ProtocolId::from(*protocol),
            spi,
            notify_type: NotifyType::from(*notify_type),
            data,
        }),
        Model::Delete(protocol, spi_size, spis) => PayloadBody::Delete(Delete {
            protocol: ProtocolId::from(*protocol),
            spi_size: *spi_size,
            spis: spis.iter().map(Vec::as_slice).collect(),
        }),
        Model::VendorId(data) => PayloadBody::VendorId(VendorId { data }),
        Model::Ts(responder, selectors) => {
            let selectors = TrafficSelectors {
                selectors: selectors.iter().map(selector_of).collect(),
            };
            if *responder {
                PayloadBody::TsR(selectors)
            } else {
                PayloadBody::TsI(selectors)
            }
        }
        Model::Cp(cfg_type, attributes) => PayloadBody::Cp(Configuration {
            cfg_type: CfgType::from(*cfg_type),
            attributes: attributes
                .iter()
                .map(|(kind, value)| ConfigAttribute {
                    kind: ConfigAttributeType::from(*kind),
                    value,
                })
                .collect(),
        }),
        Model::Eap(..) => PayloadBody::Eap(Eap { message: eap }),
        Model::Unknown(payload_type, data) => PayloadBody::Unknown {
            payload_type: *payload_type,
            data,
        },
    }
}

fn eap_storage(model: &Model) -> Vec<u8> {
    match model {
        Model::Eap(code, identifier, data) => eap_message(*code, *identifier, data),
        _ => Vec::new(),
    }
}

fn header_strategy() -> impl Strategy<Value = IkeHeader> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u8>(),
        any::<u8>(),
        any::<u32>(),
        0u8..16,
    )
        .prop_map(|(spi_i, spi_r, exchange, flags, message_id, minor)| {
            let mut header = IkeHeader::new(
                spi_i,
                spi_r,
                ExchangeType::from(exchange),
                Flags::from_bits(flags),
                message_id,
            );
            header.minor_version = minor;
            header
        })
}

/// Asserts that `bytes`, if they parse, re-emit to bytes that parse to the same message.
fn reparse_equal(bytes: &[u8]) {
    if let Ok(message) = Message::parse(bytes) {
        let emitted = message.emit().expect("a parsed message re-emits");
        let again = Message::parse(&emitted).expect("a re-emitted message parses");
        assert_eq!(again.payloads, message.payloads);
        assert_eq!(again.header.spi_i, message.header.spi_i);
        assert_eq!(again.header.flags, message.header.flags);
    }
}

fn vectors() -> Vec<Vec<u8>> {
    wire_support::STRONGSWAN_MESSAGES
        .iter()
        .map(|name| wire_support::strongswan_vector(name))
        .chain([wire_support::sample_message().emit().expect("emits")])
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_messages_round_trip(
        header in header_strategy(),
        models in vec((model(), any::<bool>()), 0..6),
    ) {
        let eaps: Vec<Vec<u8>> = models.iter().map(|(model, _)| eap_storage(model)).collect();
        let payloads: Vec<Payload> = models
            .iter()
            .zip(&eaps)
            .map(|((model, critical), eap)| Payload { critical: *critical, body: body_of(model, eap) })
            .collect();
        let message = Message::new(header, payloads);
        let bytes = message.emit().expect("emits");
        let parsed = Message::parse(&bytes).expect("parses");
        prop_assert_eq!(&parsed.payloads, &message.payloads);
        prop_assert_eq!(parsed.header.length as usize, bytes.len());
        prop_assert_eq!(parsed.emit().expect("re-emits"), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in bytes(600)) {
        reparse_equal(&data);
        let _ = IkeHeader::parse(&data);
    }

    #[test]
    fn arbitrary_chains_behind_a_valid_header_never_panic(
        first in any::<u8>(),
        chain in bytes(600),
    ) {
        let mut data = Vec::new();
        let mut header = IkeHeader::new(1, 2, ExchangeType::Informational, Flags::default(), 0);
        header.next_payload = PayloadType::from(first);
        header.length = (IkeHeader::LEN + chain.len()) as u32;
        header.emit(&mut data);
        data.extend_from_slice(&chain);
        reparse_equal(&data);
        let _ = parse_chain(PayloadType::from(first), &chain);
    }

    #[test]
    fn mutated_real_messages_never_panic(
        which in 0usize..5,
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut data = vectors().swap_remove(which);
        for (index, value) in edits {
            let at = index.index(data.len());
            data[at] = value;
        }
        reparse_equal(&data);
    }
}

#[test]
fn open_enums_convert_losslessly() {
    for raw in 0..=u8::MAX {
        assert_eq!(u8::from(PayloadType::from(raw)), raw);
        assert_eq!(u8::from(ExchangeType::from(raw)), raw);
        assert_eq!(u8::from(ProtocolId::from(raw)), raw);
        assert_eq!(u8::from(IdType::from(raw)), raw);
        assert_eq!(u8::from(AuthMethod::from(raw)), raw);
        assert_eq!(u8::from(CertEncoding::from(raw)), raw);
        assert_eq!(u8::from(TsType::from(raw)), raw);
        assert_eq!(u8::from(CfgType::from(raw)), raw);
        for id in [0u16, 1, 5, 12, 20, 31, 1024, u16::MAX] {
            assert_eq!(TransformId::from_wire(raw, id).to_wire(), (raw, id));
        }
    }
    for raw in 0..=u16::MAX {
        assert_eq!(u16::from(NotifyType::from(raw)), raw);
        assert_eq!(u16::from(ConfigAttributeType::from(raw)), raw);
        assert_eq!(NotifyType::from(raw).is_error(), raw < 16384);
    }
    assert_eq!(NotifyType::from(16388), NotifyType::NatDetectionSourceIp);
    assert_eq!(NotifyType::from(16431), NotifyType::SignatureHashAlgorithms);
    assert_eq!(PayloadType::from(53), PayloadType::Skf);
}
