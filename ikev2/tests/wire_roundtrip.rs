//! Round trips of every payload type, the critical-bit rule, the SK/SKF framing, the
//! error-to-notify mapping, and each structural check of the decoder.

mod wire_support;

use ikev2::wire::{
    check_critical_payloads, encode_chain, parse_chain, DecodeError, Delete, EncodeError, Envelope,
    ExchangeType, IkeHeader, Message, Nonce, NotifyType, Payload, PayloadBody, PayloadHeader,
    PayloadType, ProtocolId, SealBuffer, VendorId,
};
use wire_support::{header, sample_bodies, sample_message, sample_sk_message, sample_skf_message};

fn round_trip(message: &Message<'_>) -> Vec<u8> {
    let bytes = message.emit().expect("emits");
    let parsed = Message::parse(&bytes).expect("parses");
    assert_eq!(parsed.payloads, message.payloads);
    assert_eq!(parsed.header.length as usize, bytes.len());
    let mut expected_header = message.header;
    expected_header.length = parsed.header.length;
    expected_header.next_payload = message
        .payloads
        .first()
        .map_or(PayloadType::NoNext, |payload| payload.body.payload_type());
    assert_eq!(parsed.header, expected_header);
    assert_eq!(parsed.emit().expect("re-emits"), bytes);
    bytes
}

#[test]
fn every_payload_type_round_trips_alone() {
    for body in sample_bodies() {
        let payload_type = body.payload_type();
        let message = Message::new(header(ExchangeType::Informational), vec![body.into()]);
        let bytes = round_trip(&message);
        assert_eq!(bytes[16], u8::from(payload_type));
        assert_eq!(bytes[IkeHeader::LEN], 0, "last payload has no next");
    }
}

#[test]
fn every_payload_type_round_trips_in_one_chain() {
    let message = sample_message();
    let bytes = round_trip(&message);
    let (first, chain) = encode_chain(&message.payloads).expect("encodes");
    assert_eq!(first, PayloadType::Sa);
    assert_eq!(chain, bytes[IkeHeader::LEN..]);
    assert_eq!(
        parse_chain(first, &chain).expect("parses"),
        message.payloads
    );
}

#[test]
fn encrypted_payloads_round_trip_as_last_payload() {
    round_trip(&sample_sk_message());
    round_trip(&sample_skf_message());
}

#[test]
fn empty_message_round_trips() {
    let message = Message::new(header(ExchangeType::Informational), Vec::new());
    let bytes = round_trip(&message);
    assert_eq!(bytes.len(), IkeHeader::LEN);
}

#[test]
fn unknown_critical_payload_is_reported_and_non_critical_kept() {
    let unknown = |critical| Payload {
        critical,
        body: PayloadBody::Unknown {
            payload_type: 99,
            data: &[1, 2, 3],
        },
    };
    let message = Message::new(
        header(ExchangeType::Informational),
        vec![
            unknown(false),
            PayloadBody::VendorId(VendorId { data: &[7] }).into(),
        ],
    );
    let bytes = message.emit().expect("emits");
    let parsed = Message::parse(&bytes).expect("non-critical unknown payload parses");
    assert_eq!(parsed.payloads[0], unknown(false));
    check_critical_payloads(&parsed.payloads).expect("nothing critical");

    let message = Message::new(header(ExchangeType::Informational), vec![unknown(true)]);
    let bytes = message.emit().expect("emits");
    assert_eq!(bytes[IkeHeader::LEN + 1], 0x80, "critical bit on the wire");
    let parsed = Message::parse(&bytes).expect("parses: the rule is applied one layer up");
    let error = check_critical_payloads(&parsed.payloads).expect_err("critical unknown");
    assert_eq!(error, DecodeError::UnsupportedCriticalPayload(99));
    assert_eq!(
        error.notify_type(),
        Some(NotifyType::UnsupportedCriticalPayload)
    );
    assert_eq!(error.notify_data(), [99]);
}

#[test]
fn critical_bit_of_known_payload_is_kept() {
    let payload = Payload {
        critical: true,
        body: PayloadBody::VendorId(VendorId { data: &[1, 2] }),
    };
    let message = Message::new(header(ExchangeType::Informational), vec![payload]);
    let bytes = round_trip(&message);
    assert_eq!(bytes[IkeHeader::LEN + 1], 0x80);
    check_critical_payloads(&message.payloads).expect("known payloads are never unsupported");
}

#[test]
fn seal_buffer_frames_sk_with_final_lengths() {
    let inner: Vec<Payload> = sample_bodies()
        .into_iter()
        .filter(|body| matches!(body.payload_type(), PayloadType::IdI | PayloadType::Auth))
        .map(Payload::from)
        .collect();
    let (first_inner, plaintext) = encode_chain(&inner).expect("encodes");
    assert_eq!(first_inner, PayloadType::IdI);
    let sealed_len = plaintext.len() + 24;
    let header = header(ExchangeType::IkeAuth);
    let mut buffer = SealBuffer::new(&header, first_inner, Envelope::Sk, sealed_len).expect("fits");
    let (prefix, body) = buffer.parts_mut();
    assert_eq!(prefix.len(), IkeHeader::LEN + PayloadHeader::LEN);
    assert_eq!(body.len(), sealed_len);
    // Stand-in for sealing: put the plaintext behind an 8-octet IV.
    body[8..8 + plaintext.len()].copy_from_slice(&plaintext);
    let prefix = prefix.to_vec();
    let bytes = buffer.into_bytes();
    assert_eq!(bytes.len(), prefix.len() + sealed_len);
    assert_eq!(bytes[..prefix.len()], prefix);

    let parsed = Message::parse(&bytes).expect("parses");
    assert_eq!(parsed.header.next_payload, PayloadType::Sk);
    assert_eq!(parsed.header.length as usize, bytes.len());
    assert_eq!(parsed.header.message_id, header.message_id);
    let parts = parsed.protected_parts(&bytes).expect("protected");
    assert_eq!(parts.authenticated_prefix, prefix);
    assert_eq!(parts.first_inner, PayloadType::IdI);
    assert_eq!(parts.fragment, None);
    let decrypted = &parts.body[8..8 + plaintext.len()];
    assert_eq!(
        parse_chain(parts.first_inner, decrypted).expect("inner parses"),
        inner
    );
}

#[test]
fn seal_buffer_frames_skf_and_empty_inner_chain() {
    let (first_inner, plaintext) = encode_chain(&[]).expect("empty chain");
    assert_eq!(first_inner, PayloadType::NoNext);
    assert!(plaintext.is_empty());
    let envelope = Envelope::Skf {
        fragment_number: 2,
        total_fragments: 2,
    };
    let buffer =
        SealBuffer::new(&header(ExchangeType::IkeAuth), first_inner, envelope, 20).expect("fits");
    let bytes = buffer.into_bytes();
    let parsed = Message::parse(&bytes).expect("parses");
    let parts = parsed.protected_parts(&bytes).expect("protected");
    assert_eq!(parts.fragment, Some((2, 2)));
    assert_eq!(parts.authenticated_prefix.len(), IkeHeader::LEN + 8);
    assert_eq!(parts.body.len(), 20);
    assert!(parse_chain(parts.first_inner, &[])
        .expect("empty")
        .is_empty());
}

#[test]
fn seal_buffer_refuses_oversized_body() {
    let result = SealBuffer::new(
        &header(ExchangeType::IkeAuth),
        PayloadType::IdI,
        Envelope::Sk,
        usize::from(u16::MAX),
    );
    assert_eq!(result, Err(EncodeError::TooLong("encrypted payload")));
}

#[test]
fn decode_errors_map_to_notify_types() {
    assert_eq!(DecodeError::UnsupportedMajorVersion(1).notify_type(), None);
    assert_eq!(
        DecodeError::UnsupportedMajorVersion(3).notify_type(),
        Some(NotifyType::InvalidMajorVersion)
    );
    assert_eq!(
        DecodeError::Truncated("x").notify_type(),
        Some(NotifyType::InvalidSyntax)
    );
    assert_eq!(
        DecodeError::InvalidNonceLength(8).notify_type(),
        Some(NotifyType::InvalidSyntax)
    );
    assert!(DecodeError::EmptySa.notify_data().is_empty());
}

/// The encoding of a message with the given payloads, then `edit` applied to it.
fn edited(payloads: Vec<PayloadBody<'static>>, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let message = Message::new(
        header(ExchangeType::Informational),
        payloads.into_iter().map(Payload::from).collect(),
    );
    let mut bytes = message.emit().expect("emits");
    edit(&mut bytes);
    bytes
}

fn sample(payload_type: PayloadType) -> PayloadBody<'static> {
    sample_bodies()
        .into_iter()
        .find(|body| body.payload_type() == payload_type)
        .expect("sample exists")
}

const BODY: usize = IkeHeader::LEN + PayloadHeader::LEN;

#[test]
fn version_and_length_checks() {
    let good = edited(vec![sample(PayloadType::Nonce)], |_| {});
    let mut bytes = good.clone();
    bytes[17] = 0x30;
    assert_eq!(
        Message::parse(&bytes),
        Err(DecodeError::UnsupportedMajorVersion(3))
    );
    let mut bytes = good.clone();
    bytes[17] = 0x21;
    assert!(Message::parse(&bytes).is_ok(), "minor version is ignored");
    let mut bytes = good.clone();
    bytes.push(0);
    assert!(matches!(
        Message::parse(&bytes),
        Err(DecodeError::MessageLengthMismatch { .. })
    ));
    // The header is still readable to answer the peer.
    assert_eq!(
        IkeHeader::parse(&bytes).expect("header").spi_i,
        0x0102_0304_0506_0708
    );
}

#[test]
fn trailing_bytes_after_last_payload_are_refused() {
    let bytes = edited(vec![sample(PayloadType::Nonce)], |bytes| {
        bytes.extend_from_slice(&[0, 0, 0, 4]);
        let length = bytes.len() as u32;
        bytes[24..28].copy_from_slice(&length.to_be_bytes());
    });
    assert_eq!(
        Message::parse(&bytes),
        Err(DecodeError::TrailingData("payload chain"))
    );
}

#[test]
fn encrypted_payload_must_be_last_and_not_nested() {
    let mut message = sample_sk_message();
    message.payloads.swap(0, 1);
    assert_eq!(message.emit(), Err(EncodeError::EncryptedNotLast));

    let sk = sample_sk_message().emit().expect("emits");
    let chain = &sk[IkeHeader::LEN..];
    assert_eq!(
        parse_chain(PayloadType::VendorId, chain),
        Err(DecodeError::NestedEncrypted)
    );
    // An SK payload followed by bytes: they would be a payload after SK.
    let mut bytes = sk.clone();
    let vendor_len = usize::from(u16::from_be_bytes([bytes[30], bytes[31]]));
    let sk_at = IkeHeader::LEN + vendor_len;
    let sk_len = u16::from_be_bytes([bytes[sk_at + 2], bytes[sk_at + 3]]) - 4;
    bytes[sk_at + 2..sk_at + 4].copy_from_slice(&sk_len.to_be_bytes());
    assert_eq!(Message::parse(&bytes), Err(DecodeError::EncryptedNotLast));
}

#[test]
fn proposal_checks() {
    let sa = || vec![sample(PayloadType::Sa)];
    // First proposal starts the body; its number is at +4, SPI size at +6, count at +7.
    let bytes = edited(sa(), |bytes| bytes[BODY + 4] = 5);
    assert_eq!(
        Message::parse(&bytes),
        Err(DecodeError::ProposalNumberOutOfOrder {
            previous: 5,
            number: 2
        })
    );
    let bytes = edited(sa(), |bytes| bytes[BODY + 7] = 4);
    assert_eq!(
        Message::parse(&bytes),
        Err(DecodeError::CountMismatch {
            what: "transforms",
            declared: 4,
            found: 5
        })
    );
    // The first of two proposals says it is the last.
    let bytes = edited(sa(), |bytes| bytes[BODY] = 0);
    assert_eq!(
        Message::parse(&bytes),
        Err(DecodeError::BadLastSubstructure {
            what: "proposal",
            value: 0
        })
    );
    let bytes = edited(sa(), |bytes| bytes[BODY + 8] = 0);
    assert_eq!(
        Message::parse(&bytes),
        Err(DecodeError::BadLastSubstructure {
            what: "transform",
            value: 0
        })
    );
    let bytes = edited(sa(), |bytes| bytes[BODY + 5] = u8::from(ProtocolId::Esp));
    assert_eq!(
        Message::parse(&bytes),
        Err(DecodeError::InvalidSpiSize {
            protocol: 3,
            size: 0
        })
    );
    let empty = edited(vec![sample(PayloadType::VendorId)], |bytes| {
        bytes[16] = u8::from(PayloadType::Sa);
    });
    assert!(Message::parse(&empty).is_err());
    let empty_sa = edited(vec![], |bytes| {
        bytes[16] = u8::from(PayloadType::Sa);
        bytes.extend_from_slice(&[0, 0, 0, 4]);
        bytes[24..28].copy_from_slice(&32u32.to_be_bytes());
    });
    assert_eq!(Message::parse(&empty_sa), Err(DecodeError::EmptySa));
}

#[test]
fn nonce_bounds() {
    for (length, ok) in [(15, false), (16, true), (256, true), (257, false)] {
        let data = vec![7u8; length];
        let body = PayloadBody::Nonce(Nonce { data: &data });
        let message = Message::new(header(ExchangeType::IkeSaInit), vec![body.into()]);
        let bytes = message.emit().expect("emits");
        assert_eq!(Message::parse(&bytes).is_ok(), ok, "nonce of {length}");
    }
}

#[test]
fn delete_checks() {
    let delete = || vec![sample(PayloadType::Delete)];
    let bytes = edited(delete(), |bytes| bytes[BODY + 3] = 3);
    assert!(matches!(
        Message::parse(&bytes),
        Err(DecodeError::CountMismatch { .. })
    ));
    let bytes = edited(delete(), |bytes| bytes[BODY + 1] = 0);
    assert!(matches!(
        Message::parse(&bytes),
        Err(DecodeError::InvalidSpiSize { .. })
    ));
    let ike = Message::new(
        header(ExchangeType::Informational),
        vec![PayloadBody::Delete(Delete::ike()).into()],
    );
    round_trip(&ike);
    let mismatched = Delete {
        protocol: ProtocolId::Esp,
        spi_size: 4,
        spis: vec![&[1, 2, 3]],
    };
    let message = Message::new(
        header(ExchangeType::Informational),
        vec![PayloadBody::Delete(mismatched).into()],
    );
    assert_eq!(
        message.emit(),
        Err(EncodeError::SpiSizeMismatch {
            declared: 4,
            actual: 3
        })
    );
}

#[test]
fn fragment_number_checks() {
    let skf = sample_skf_message().emit().expect("emits");
    for (number, total, ok) in [
        (0u16, 3u16, false),
        (4, 3, false),
        (3, 3, true),
        (1, 1, true),
    ] {
        let mut bytes = skf.clone();
        bytes[BODY..BODY + 2].copy_from_slice(&number.to_be_bytes());
        bytes[BODY + 2..BODY + 4].copy_from_slice(&total.to_be_bytes());
        assert_eq!(
            Message::parse(&bytes).is_ok(),
            ok,
            "fragment {number}/{total}"
        );
    }
}

#[test]
fn eap_length_must_cover_the_body() {
    let bytes = edited(vec![sample(PayloadType::Eap)], |bytes| bytes[BODY + 3] = 9);
    assert_eq!(
        Message::parse(&bytes),
        Err(DecodeError::EapLengthMismatch {
            declared: 9,
            actual: 8
        })
    );
}

#[test]
fn oversized_payload_is_an_encode_error() {
    let data = vec![0u8; 70_000];
    let message = Message::new(
        header(ExchangeType::Informational),
        vec![PayloadBody::VendorId(VendorId { data: &data }).into()],
    );
    assert_eq!(message.emit(), Err(EncodeError::TooLong("payload")));
}
