//! Real strongSwan 5.9.8 messages (PSK, X25519, AES-256-GCM), decoded field by field.
//!
//! The four IKE messages come from `handshake.pcap` of the shared vector set (UDP payloads;
//! the IKE_AUTH ones without their non-ESP marker). The two `*_plaintext` files are the decrypted
//! SK contents that strongSwan logged ("plain => ..." in its ENC debug output).

mod wire_support;

use std::net::Ipv4Addr;

use ikev2::wire::{
    check_critical_payloads, encode_chain, parse_chain, AddressRange, AuthMethod, CfgType,
    ConfigAttributeType, DhGroup, EncrId, EsnId, ExchangeType, IdType, Message, Notify, NotifyType,
    PayloadBody, PayloadType, PrfId, ProtocolId, TrafficSelector, Transform, TransformId,
};
use wire_support::strongswan_vector;

const SPI_I: u64 = 0x1f81_1986_8733_68cb;
const SPI_R: u64 = 0x49bc_2a28_b62c_3d7a;

/// The IKE proposal both sides used: AES-GCM-16 with a 256-bit key, HMAC-SHA2-256 PRF,
/// Curve25519.
fn expected_ike_transforms() -> Vec<Transform<'static>> {
    vec![
        Transform::with_key_length(TransformId::Encryption(EncrId::AesGcm16), 256),
        Transform::new(TransformId::Prf(PrfId::HmacSha2_256)),
        Transform::new(TransformId::KeyExchange(DhGroup::Curve25519)),
    ]
}

fn notify_types(bodies: &[&PayloadBody<'_>]) -> Vec<NotifyType> {
    bodies
        .iter()
        .filter_map(|body| match body {
            PayloadBody::Notify(notify) => Some(notify.notify_type),
            _ => None,
        })
        .collect()
}

fn find_notify<'m>(message: &'m Message<'_>, notify_type: NotifyType) -> &'m Notify<'m> {
    message
        .bodies()
        .find_map(|body| match body {
            PayloadBody::Notify(notify) if notify.notify_type == notify_type => Some(notify),
            _ => None,
        })
        .expect("notify present")
}

fn check_sa_init_common(message: &Message<'_>, length: u32) {
    assert_eq!(message.header.spi_i, SPI_I);
    assert_eq!(message.header.exchange_type, ExchangeType::IkeSaInit);
    assert_eq!(message.header.major_version, 2);
    assert_eq!(message.header.minor_version, 0);
    assert_eq!(message.header.message_id, 0);
    assert_eq!(message.header.length, length);
    assert_eq!(message.header.next_payload, PayloadType::Sa);
    assert!(message.payloads.iter().all(|payload| !payload.critical));
    check_critical_payloads(&message.payloads).expect("no unknown critical payloads");

    let bodies: Vec<_> = message.bodies().collect();
    let PayloadBody::Sa(sa) = bodies[0] else {
        panic!("first payload is SA: {:?}", bodies[0]);
    };
    assert_eq!(sa.proposals.len(), 1);
    let proposal = &sa.proposals[0];
    assert_eq!(proposal.number, 1);
    assert_eq!(proposal.protocol, ProtocolId::Ike);
    assert!(proposal.spi.is_empty());
    assert_eq!(proposal.transforms, expected_ike_transforms());
    assert_eq!(proposal.transforms[0].key_length(), Some(256));

    let PayloadBody::Ke(ke) = bodies[1] else {
        panic!("second payload is KE");
    };
    assert_eq!(ke.group, DhGroup::Curve25519);
    assert_eq!(ke.data.len(), 32);

    let PayloadBody::Nonce(nonce) = bodies[2] else {
        panic!("third payload is Nonce");
    };
    assert_eq!(nonce.data.len(), 32);

    let nat_source = find_notify(message, NotifyType::NatDetectionSourceIp);
    assert_eq!(nat_source.data.len(), 20);
    assert_eq!(nat_source.protocol, ProtocolId::Unspecified);
    assert!(nat_source.spi.is_empty());
    assert_eq!(
        find_notify(message, NotifyType::NatDetectionDestinationIp)
            .data
            .len(),
        20
    );
    // RFC 7427: SHA2-256 (2), SHA2-384 (3), SHA2-512 (4), Identity (5).
    assert_eq!(
        find_notify(message, NotifyType::SignatureHashAlgorithms).data,
        [0, 2, 0, 3, 0, 4, 0, 5]
    );
}

#[test]
fn ike_sa_init_request_fields() {
    let bytes = strongswan_vector("ike_sa_init_request");
    let message = Message::parse(&bytes).expect("parses");
    check_sa_init_common(&message, 232);
    assert_eq!(message.header.spi_r, 0);
    assert!(message.header.flags.is_initiator());
    assert!(!message.header.flags.is_response());
    assert_eq!(message.header.flags.bits(), 0x08);
    let bodies: Vec<_> = message.bodies().collect();
    assert_eq!(bodies.len(), 8);
    assert_eq!(
        notify_types(&bodies),
        [
            NotifyType::NatDetectionSourceIp,
            NotifyType::NatDetectionDestinationIp,
            NotifyType::Ikev2FragmentationSupported,
            NotifyType::SignatureHashAlgorithms,
            NotifyType::RedirectSupported,
        ]
    );
    let PayloadBody::Ke(ke) = bodies[1] else {
        panic!("KE");
    };
    assert_eq!(ke.data[..4], [0x7d, 0x52, 0x49, 0x1a]);
    assert!(message.protected_parts(&bytes).is_none());
}

#[test]
fn ike_sa_init_response_fields() {
    let bytes = strongswan_vector("ike_sa_init_response");
    let message = Message::parse(&bytes).expect("parses");
    check_sa_init_common(&message, 240);
    assert_eq!(message.header.spi_r, SPI_R);
    assert!(!message.header.flags.is_initiator());
    assert!(message.header.flags.is_response());
    let bodies: Vec<_> = message.bodies().collect();
    assert_eq!(bodies.len(), 9);
    assert_eq!(
        notify_types(&bodies),
        [
            NotifyType::NatDetectionSourceIp,
            NotifyType::NatDetectionDestinationIp,
            NotifyType::Ikev2FragmentationSupported,
            NotifyType::SignatureHashAlgorithms,
            NotifyType::ChildlessIkev2Supported,
            NotifyType::MultipleAuthSupported,
        ]
    );
}

#[test]
fn ike_sa_init_messages_re_emit_identically() {
    for bytes in [
        strongswan_vector("ike_sa_init_request"),
        strongswan_vector("ike_sa_init_response"),
    ] {
        let message = Message::parse(&bytes).expect("parses");
        assert_eq!(message.emit().expect("emits"), bytes);
    }
}

#[test]
fn ike_auth_request_outer_fields() {
    let bytes = strongswan_vector("ike_auth_request");
    let message = Message::parse(&bytes).expect("parses");
    assert_eq!(message.header.spi_i, SPI_I);
    assert_eq!(message.header.spi_r, SPI_R);
    assert_eq!(message.header.exchange_type, ExchangeType::IkeAuth);
    assert_eq!(message.header.message_id, 1);
    assert_eq!(message.header.length, 273);
    assert!(message.header.flags.is_initiator());
    assert_eq!(message.header.next_payload, PayloadType::Sk);
    assert_eq!(message.payloads.len(), 1);
    let PayloadBody::Sk(sk) = &message.payloads[0].body else {
        panic!("only payload is SK");
    };
    assert_eq!(sk.first_inner, PayloadType::IdI);
    // 8-octet GCM IV, 217 octets of ciphertext (216 plaintext + pad length), 16-octet ICV.
    assert_eq!(sk.body.len(), 8 + 217 + 16);
    let parts = message.protected_parts(&bytes).expect("protected");
    assert_eq!(parts.first_inner, PayloadType::IdI);
    assert_eq!(parts.fragment, None);
    // strongSwan's logged associated data: IKE header and SK generic header.
    assert_eq!(parts.authenticated_prefix, &bytes[..32]);
    assert_eq!(parts.authenticated_prefix[28..], [0x23, 0x00, 0x00, 0xf5]);
    assert_eq!(parts.body, sk.body);
    assert_eq!(message.emit().expect("emits"), bytes);
}

#[test]
fn ike_auth_response_outer_fields() {
    let bytes = strongswan_vector("ike_auth_response");
    let message = Message::parse(&bytes).expect("parses");
    assert_eq!(message.header.exchange_type, ExchangeType::IkeAuth);
    assert!(message.header.flags.is_response());
    assert!(!message.header.flags.is_initiator());
    assert_eq!(message.header.length, 225);
    let parts = message.protected_parts(&bytes).expect("protected");
    assert_eq!(parts.first_inner, PayloadType::IdR);
    assert_eq!(parts.body.len(), 8 + 169 + 16);
    assert_eq!(message.emit().expect("emits"), bytes);
}

#[test]
fn ike_auth_request_inner_fields() {
    let plaintext = strongswan_vector("ike_auth_request_plaintext");
    let payloads = parse_chain(PayloadType::IdI, &plaintext).expect("parses");
    check_critical_payloads(&payloads).expect("nothing critical");
    let bodies: Vec<_> = payloads.iter().map(|payload| &payload.body).collect();
    assert_eq!(bodies.len(), 11);

    let PayloadBody::IdI(id_i) = bodies[0] else {
        panic!("IDi first");
    };
    assert_eq!(id_i.id_type, IdType::Fqdn);
    assert_eq!(id_i.data, b"client.eseg.test");
    let PayloadBody::Notify(initial_contact) = bodies[1] else {
        panic!("INITIAL_CONTACT second");
    };
    assert_eq!(initial_contact.notify_type, NotifyType::InitialContact);
    assert!(initial_contact.data.is_empty());
    let PayloadBody::IdR(id_r) = bodies[2] else {
        panic!("IDr third");
    };
    assert_eq!(id_r.data, b"gw.eseg.test");
    let PayloadBody::Auth(auth) = bodies[3] else {
        panic!("AUTH fourth");
    };
    assert_eq!(auth.method, AuthMethod::SharedKeyMic);
    assert_eq!(auth.data.len(), 32);

    let PayloadBody::Cp(cp) = bodies[4] else {
        panic!("CP fifth");
    };
    assert_eq!(cp.cfg_type, CfgType::Request);
    let kinds: Vec<_> = cp
        .attributes
        .iter()
        .map(|attribute| attribute.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            ConfigAttributeType::InternalIp4Address,
            ConfigAttributeType::InternalIp4Dns
        ]
    );
    assert!(cp
        .attributes
        .iter()
        .all(|attribute| attribute.value.is_empty()));

    let PayloadBody::Sa(sa) = bodies[5] else {
        panic!("SA sixth");
    };
    assert_eq!(sa.proposals.len(), 1);
    let proposal = &sa.proposals[0];
    assert_eq!(proposal.protocol, ProtocolId::Esp);
    assert_eq!(proposal.spi, [0xce, 0xa9, 0x95, 0x05]);
    assert_eq!(
        proposal.transforms,
        [
            Transform::with_key_length(TransformId::Encryption(EncrId::AesGcm16), 256),
            Transform::new(TransformId::Esn(EsnId::NoEsn)),
        ]
    );

    let PayloadBody::TsI(ts_i) = bodies[6] else {
        panic!("TSi seventh");
    };
    assert_eq!(
        ts_i.selectors,
        [TrafficSelector::Ipv4(AddressRange::any_protocol(
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST
        ))]
    );
    let PayloadBody::TsR(ts_r) = bodies[7] else {
        panic!("TSr eighth");
    };
    assert_eq!(
        ts_r.selectors,
        [TrafficSelector::Ipv4(AddressRange::any_protocol(
            Ipv4Addr::new(10, 99, 1, 0),
            Ipv4Addr::new(10, 99, 1, 255)
        ))]
    );
    assert_eq!(
        notify_types(&bodies),
        [
            NotifyType::InitialContact,
            NotifyType::MultipleAuthSupported,
            NotifyType::EapOnlyAuthentication,
            NotifyType::Ikev2MessageIdSyncSupported,
        ]
    );

    let (first, encoded) = encode_chain(&payloads).expect("encodes");
    assert_eq!(first, PayloadType::IdI);
    assert_eq!(encoded, plaintext);
}

#[test]
fn ike_auth_response_inner_fields() {
    let plaintext = strongswan_vector("ike_auth_response_plaintext");
    let payloads = parse_chain(PayloadType::IdR, &plaintext).expect("parses");
    let bodies: Vec<_> = payloads.iter().map(|payload| &payload.body).collect();
    let types: Vec<_> = bodies.iter().map(|body| body.payload_type()).collect();
    assert_eq!(
        types,
        [
            PayloadType::IdR,
            PayloadType::Auth,
            PayloadType::Cp,
            PayloadType::Sa,
            PayloadType::TsI,
            PayloadType::TsR
        ]
    );
    let PayloadBody::Cp(cp) = bodies[2] else {
        panic!("CP third");
    };
    assert_eq!(cp.cfg_type, CfgType::Reply);
    assert_eq!(
        cp.attributes[0].kind,
        ConfigAttributeType::InternalIp4Address
    );
    assert_eq!(cp.attributes[0].ipv4(), Some(Ipv4Addr::new(10, 99, 2, 1)));
    assert_eq!(cp.attributes[1].kind, ConfigAttributeType::InternalIp4Dns);
    assert_eq!(cp.attributes[1].ipv4(), Some(Ipv4Addr::new(10, 99, 1, 53)));
    let PayloadBody::Sa(sa) = bodies[3] else {
        panic!("SA fourth");
    };
    assert_eq!(sa.proposals[0].spi, [0x1e, 0x40, 0xa4, 0xef]);
    let PayloadBody::TsI(ts_i) = bodies[4] else {
        panic!("TSi fifth");
    };
    assert_eq!(
        ts_i.selectors,
        [TrafficSelector::Ipv4(AddressRange::any_protocol(
            Ipv4Addr::new(10, 99, 2, 1),
            Ipv4Addr::new(10, 99, 2, 1)
        ))]
    );
    let (first, encoded) = encode_chain(&payloads).expect("encodes");
    assert_eq!(first, PayloadType::IdR);
    assert_eq!(encoded, plaintext);
}

#[test]
fn ike_auth_request_with_mobike_supported_decodes() {
    // The stored vectors come from a strongSwan with `mobike = no`. With `mobike = yes` its
    // IKE_AUTH request also carries MOBIKE_SUPPORTED (RFC 4555 §3.2, type 16396, no SPI, empty
    // data): spliced in here octet by octet after INITIAL_CONTACT, the way strongSwan encodes
    // a notify, with the chain's next-payload fields fixed up.
    let plaintext = strongswan_vector("ike_auth_request_plaintext");
    // IDi is 24 octets; INITIAL_CONTACT (8 octets) follows and names IDr (36) as next.
    assert_eq!(plaintext[1..4], [0, 0, 24]);
    assert_eq!(plaintext[24..32], [36, 0, 0, 8, 0, 0, 0x40, 0x00]);
    let mut spliced = plaintext[..32].to_vec();
    spliced[24] = 41;
    spliced.extend_from_slice(&[36, 0, 0, 8, 0, 0, 0x40, 0x0c]);
    spliced.extend_from_slice(&plaintext[32..]);

    let payloads = parse_chain(PayloadType::IdI, &spliced).expect("parses");
    check_critical_payloads(&payloads).expect("nothing critical");
    let bodies: Vec<_> = payloads.iter().map(|payload| &payload.body).collect();
    assert_eq!(bodies.len(), 12);
    let PayloadBody::Notify(mobike) = bodies[2] else {
        panic!("MOBIKE_SUPPORTED third");
    };
    assert_eq!(mobike.notify_type, NotifyType::MobikeSupported);
    assert_eq!(u16::from(mobike.notify_type), 16396);
    assert_eq!(mobike.protocol, ProtocolId::Unspecified);
    assert!(mobike.spi.is_empty() && mobike.data.is_empty());
    assert_eq!(
        notify_types(&bodies),
        [
            NotifyType::InitialContact,
            NotifyType::MobikeSupported,
            NotifyType::MultipleAuthSupported,
            NotifyType::EapOnlyAuthentication,
            NotifyType::Ikev2MessageIdSyncSupported,
        ]
    );
    let (first, encoded) = encode_chain(&payloads).expect("encodes");
    assert_eq!(first, PayloadType::IdI);
    assert_eq!(encoded, spliced);
}
