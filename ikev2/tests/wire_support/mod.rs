//! Shared fixtures for the wire codec tests: one sample of every payload type, messages built
//! from them, and a walker that finds every length field of an encoded message.

#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

use ikev2::wire::{
    AddressRange, AuthMethod, CertEncoding, CfgType, ConfigAttribute, ConfigAttributeType,
    Configuration, Delete, DhGroup, Eap, EncrId, Encrypted, EncryptedFragment, EsnId, ExchangeType,
    Flags, IdType, Identification, IkeHeader, IntegId, KeyExchange, Message, Nonce, Notify,
    NotifyType, Payload, PayloadBody, PayloadType, PrfId, Proposal, ProtocolId,
    SecurityAssociation, TrafficSelector, TrafficSelectors, Transform, TransformAttribute,
    TransformAttributeType, TransformId, TsType, VendorId,
};
use ikev2::wire::{Authentication, Certificate, CertificateRequest};

/// strongSwan 5.9.8's four IKE messages of one captured exchange (PSK, X25519, AES-256-GCM), by
/// [`strongswan_vector`] name: IKE_SA_INIT request and response, IKE_AUTH request and response.
pub const STRONGSWAN_MESSAGES: [&str; 4] = [
    "ike_sa_init_request",
    "ike_sa_init_response",
    "ike_auth_request",
    "ike_auth_response",
];

/// A strongSwan vector from `data/wire/<name>.hex`: one of [`STRONGSWAN_MESSAGES`] (UDP payloads,
/// the IKE_AUTH ones without their non-ESP marker) or `ike_auth_request_plaintext` /
/// `ike_auth_response_plaintext`, the decrypted SK contents strongSwan logged.
pub fn strongswan_vector(name: &str) -> Vec<u8> {
    let text = match name {
        "ike_sa_init_request" => include_str!("../data/wire/ike_sa_init_request.hex"),
        "ike_sa_init_response" => include_str!("../data/wire/ike_sa_init_response.hex"),
        "ike_auth_request" => include_str!("../data/wire/ike_auth_request.hex"),
        "ike_auth_response" => include_str!("../data/wire/ike_auth_response.hex"),
        "ike_auth_request_plaintext" => {
            include_str!("../data/wire/ike_auth_request_plaintext.hex")
        }
        "ike_auth_response_plaintext" => {
            include_str!("../data/wire/ike_auth_response_plaintext.hex")
        }
        _ => panic!("no strongSwan vector named {name}"),
    };
    hex::decode(text.trim()).unwrap_or_else(|e| panic!("vector {name} is not hex: {e}"))
}

/// Filler octets that never look like a plausible payload header when misread.
pub const FILL: u8 = 0xA5;

pub static KE_DATA: [u8; 64] = [FILL; 64];
pub static NONCE: [u8; 32] = [FILL; 32];
pub static CERT: [u8; 40] = [FILL; 40];
pub static CA_HASH: [u8; 20] = [FILL; 20];
pub static AUTH: [u8; 32] = [FILL; 32];
pub static COOKIE: [u8; 16] = [FILL; 16];
pub static VENDOR: [u8; 16] = [FILL; 16];
pub static SEALED: [u8; 41] = [FILL; 41];
pub static IPV6_ADDRESS: [u8; 17] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 64,
];
pub static EAP_IDENTITY_REQUEST: [u8; 8] = [1, 7, 0, 8, 1, b'a', b'b', b'c'];

/// The header of the sample messages.
pub fn header(exchange_type: ExchangeType) -> IkeHeader {
    IkeHeader::new(
        0x0102_0304_0506_0708,
        0x1112_1314_1516_1718,
        exchange_type,
        Flags::new(true, false),
        7,
    )
}

pub fn sample_sa() -> SecurityAssociation<'static> {
    SecurityAssociation {
        proposals: vec![
            Proposal {
                number: 1,
                protocol: ProtocolId::Ike,
                spi: &[],
                transforms: vec![
                    Transform::with_key_length(TransformId::Encryption(EncrId::AesCbc), 128),
                    Transform {
                        id: TransformId::Encryption(EncrId::Unknown(1024)),
                        attributes: vec![TransformAttribute::Tlv {
                            kind: TransformAttributeType::Unknown(0x1234),
                            value: &[FILL, FILL, FILL],
                        }],
                    },
                    Transform::new(TransformId::Prf(PrfId::HmacSha2_256)),
                    Transform::new(TransformId::Integrity(IntegId::HmacSha2_256_128)),
                    Transform::new(TransformId::KeyExchange(DhGroup::Ecp256)),
                ],
            },
            Proposal {
                number: 2,
                protocol: ProtocolId::Esp,
                spi: &[0xC0, 0x01, 0xD0, 0x0D],
                transforms: vec![
                    Transform::with_key_length(TransformId::Encryption(EncrId::AesGcm16), 256),
                    Transform::new(TransformId::Esn(EsnId::NoEsn)),
                    Transform::new(TransformId::Esn(EsnId::Esn)),
                    Transform::new(TransformId::Other {
                        transform_type: 9,
                        id: 7,
                    }),
                ],
            },
        ],
    }
}

/// One sample of every payload type except SK and SKF, each different from its defaults.
pub fn sample_bodies() -> Vec<PayloadBody<'static>> {
    vec![
        PayloadBody::Sa(sample_sa()),
        PayloadBody::Ke(KeyExchange {
            group: DhGroup::Ecp256,
            data: &KE_DATA,
        }),
        PayloadBody::IdI(Identification {
            id_type: IdType::Fqdn,
            data: b"client.example",
        }),
        PayloadBody::IdR(Identification {
            id_type: IdType::Ipv4Addr,
            data: &[192, 0, 2, 1],
        }),
        PayloadBody::Cert(Certificate {
            encoding: CertEncoding::X509Signature,
            data: &CERT,
        }),
        PayloadBody::CertReq(CertificateRequest {
            encoding: CertEncoding::X509Signature,
            authority: &CA_HASH,
        }),
        PayloadBody::Auth(Authentication {
            method: AuthMethod::SharedKeyMic,
            data: &AUTH,
        }),
        PayloadBody::Nonce(Nonce { data: &NONCE }),
        PayloadBody::Notify(Notify {
            protocol: ProtocolId::Esp,
            spi: &[0xC0, 0x01, 0xD0, 0x0D],
            notify_type: NotifyType::RekeySa,
            data: &[],
        }),
        PayloadBody::Notify(Notify::new(NotifyType::Cookie, &COOKIE)),
        PayloadBody::Delete(Delete {
            protocol: ProtocolId::Esp,
            spi_size: 4,
            spis: vec![&[1, 2, 3, 4], &[5, 6, 7, 8]],
        }),
        PayloadBody::VendorId(VendorId { data: &VENDOR }),
        PayloadBody::TsI(TrafficSelectors {
            selectors: vec![
                TrafficSelector::Ipv4(AddressRange {
                    ip_protocol: 17,
                    start_port: 500,
                    end_port: 4500,
                    start_address: Ipv4Addr::new(10, 0, 0, 1),
                    end_address: Ipv4Addr::new(10, 0, 0, 254),
                }),
                TrafficSelector::Ipv6(AddressRange::any_protocol(
                    Ipv6Addr::UNSPECIFIED,
                    Ipv6Addr::from([0xff; 16]),
                )),
            ],
        }),
        PayloadBody::TsR(TrafficSelectors {
            selectors: vec![TrafficSelector::Other {
                ts_type: TsType::SecLabel,
                second_octet: 0,
                body: b"system_u:object_r",
            }],
        }),
        PayloadBody::Cp(Configuration {
            cfg_type: CfgType::Reply,
            attributes: vec![
                ConfigAttribute {
                    kind: ConfigAttributeType::InternalIp4Address,
                    value: &[10, 99, 2, 1],
                },
                ConfigAttribute {
                    kind: ConfigAttributeType::InternalIp6Address,
                    value: &IPV6_ADDRESS,
                },
                ConfigAttribute {
                    kind: ConfigAttributeType::LegacyPCscfIp4Address,
                    value: &[10, 99, 1, 80],
                },
                ConfigAttribute::request(ConfigAttributeType::PCscfIp6Address),
            ],
        }),
        PayloadBody::Eap(Eap {
            message: &EAP_IDENTITY_REQUEST,
        }),
        PayloadBody::Unknown {
            payload_type: 200,
            data: &[FILL; 6],
        },
    ]
}

/// A plaintext message with one payload of every type but SK and SKF.
pub fn sample_message() -> Message<'static> {
    let payloads = sample_bodies().into_iter().map(Payload::from).collect();
    Message::new(header(ExchangeType::Informational), payloads)
}

/// A message made of a Vendor ID and an SK payload.
pub fn sample_sk_message() -> Message<'static> {
    Message::new(
        header(ExchangeType::IkeAuth),
        vec![
            PayloadBody::VendorId(VendorId { data: &VENDOR }).into(),
            PayloadBody::Sk(Encrypted {
                first_inner: PayloadType::IdI,
                body: &SEALED,
            })
            .into(),
        ],
    )
}

/// A message made of one SKF fragment.
pub fn sample_skf_message() -> Message<'static> {
    Message::new(
        header(ExchangeType::IkeAuth),
        vec![PayloadBody::Skf(EncryptedFragment {
            first_inner: PayloadType::IdI,
            fragment_number: 1,
            total_fragments: 3,
            body: &SEALED,
        })
        .into()],
    )
}

/// A length field: where it is and how wide (2 or 4 octets).
#[derive(Debug, Clone, Copy)]
pub struct LengthField {
    pub offset: usize,
    pub width: usize,
}

fn be16(bytes: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]))
}

/// Every length field of an encoded message (as produced by the codec, so well-formed):
/// the message length, every payload length, and the lengths nested in SA, TS, CP and EAP.
pub fn length_fields(message: &[u8]) -> Vec<LengthField> {
    let mut fields = vec![LengthField {
        offset: 24,
        width: 4,
    }];
    let mut payload_type = message[16];
    let mut at = IkeHeader::LEN;
    while payload_type != 0 && at < message.len() {
        let length = be16(message, at + 2);
        fields.push(LengthField {
            offset: at + 2,
            width: 2,
        });
        let body = at + 4;
        let end = at + length;
        match PayloadType::from(payload_type) {
            PayloadType::Sa => sa_length_fields(message, body, end, &mut fields),
            PayloadType::TsI | PayloadType::TsR => {
                let mut selector = body + 4;
                while selector < end {
                    fields.push(LengthField {
                        offset: selector + 2,
                        width: 2,
                    });
                    selector += be16(message, selector + 2);
                }
            }
            PayloadType::Cp => {
                let mut attribute = body + 4;
                while attribute < end {
                    fields.push(LengthField {
                        offset: attribute + 2,
                        width: 2,
                    });
                    attribute += 4 + be16(message, attribute + 2);
                }
            }
            PayloadType::Eap => fields.push(LengthField {
                offset: body + 2,
                width: 2,
            }),
            PayloadType::Sk | PayloadType::Skf => break,
            _ => {}
        }
        payload_type = message[at];
        at = end;
    }
    fields
}

fn sa_length_fields(message: &[u8], body: usize, end: usize, fields: &mut Vec<LengthField>) {
    let mut proposal = body;
    while proposal < end {
        fields.push(LengthField {
            offset: proposal + 2,
            width: 2,
        });
        let proposal_end = proposal + be16(message, proposal + 2);
        let spi_size = usize::from(message[proposal + 6]);
        let mut transform = proposal + 8 + spi_size;
        while transform < proposal_end {
            fields.push(LengthField {
                offset: transform + 2,
                width: 2,
            });
            let transform_end = transform + be16(message, transform + 2);
            let mut attribute = transform + 8;
            while attribute < transform_end {
                if message[attribute] & 0x80 != 0 {
                    attribute += 4;
                } else {
                    fields.push(LengthField {
                        offset: attribute + 2,
                        width: 2,
                    });
                    attribute += 4 + be16(message, attribute + 2);
                }
            }
            transform = transform_end;
        }
        proposal = proposal_end;
    }
}

/// Every one-octet SPI size field of an encoded message: in proposals, notifies and deletes.
pub fn spi_size_fields(message: &[u8]) -> Vec<LengthField> {
    let mut fields = Vec::new();
    let mut payload_type = message[16];
    let mut at = IkeHeader::LEN;
    while payload_type != 0 && at < message.len() {
        let body = at + 4;
        let end = at + be16(message, at + 2);
        match PayloadType::from(payload_type) {
            PayloadType::Sa => {
                let mut proposal = body;
                while proposal < end {
                    fields.push(LengthField {
                        offset: proposal + 6,
                        width: 1,
                    });
                    proposal += be16(message, proposal + 2);
                }
            }
            PayloadType::Notify | PayloadType::Delete => fields.push(LengthField {
                offset: body + 1,
                width: 1,
            }),
            PayloadType::Sk | PayloadType::Skf => break,
            _ => {}
        }
        payload_type = message[at];
        at = end;
    }
    fields
}

/// `message` with the length field rewritten to `value`.
pub fn with_length(message: &[u8], field: LengthField, value: usize) -> Vec<u8> {
    let mut copy = message.to_vec();
    let encoded = (value as u32).to_be_bytes();
    copy[field.offset..field.offset + field.width].copy_from_slice(&encoded[4 - field.width..]);
    copy
}
