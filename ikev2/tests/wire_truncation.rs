//! Exhaustive truncation, in the style of rustls `handshake_test.rs`: every prefix of a valid
//! encoding fails cleanly, and every length field rewritten to any smaller value fails cleanly.

mod wire_support;

use ikev2::wire::{parse_chain, DecodeError, IkeHeader, Message, PayloadType};
use wire_support::{
    length_fields, sample_message, sample_sk_message, sample_skf_message, spi_size_fields,
    with_length,
};

fn sample_encodings() -> Vec<Vec<u8>> {
    let mut encodings: Vec<Vec<u8>> = [sample_message(), sample_sk_message(), sample_skf_message()]
        .iter()
        .map(|message| message.emit().expect("emits"))
        .collect();
    // Each payload type alone, so that a truncation inside it is also the end of the message.
    for payload in sample_message().payloads {
        let message = Message::new(sample_message().header, vec![payload]);
        encodings.push(message.emit().expect("emits"));
    }
    for name in wire_support::STRONGSWAN_MESSAGES {
        encodings.push(wire_support::strongswan_vector(name));
    }
    // The decrypted IKE_AUTH contents, put behind a plaintext header.
    for (first, name) in [
        (PayloadType::IdI, "ike_auth_request_plaintext"),
        (PayloadType::IdR, "ike_auth_response_plaintext"),
    ] {
        let chain = wire_support::strongswan_vector(name);
        let payloads = parse_chain(first, &chain).expect("parses");
        let message = Message::new(sample_message().header, payloads);
        encodings.push(message.emit().expect("emits"));
    }
    encodings
}

#[test]
fn samples_parse() {
    for encoding in sample_encodings() {
        Message::parse(&encoding).expect("sample parses");
    }
}

#[test]
fn every_prefix_fails() {
    for encoding in sample_encodings() {
        for cut in 0..encoding.len() {
            let prefix = &encoding[..cut];
            // The header's length field still claims the full size.
            assert!(Message::parse(prefix).is_err(), "prefix of {cut} parsed");
            // With a matching header length, the truncated payload chain itself must fail.
            if cut >= IkeHeader::LEN {
                let mut consistent = prefix.to_vec();
                consistent[24..28].copy_from_slice(&(cut as u32).to_be_bytes());
                assert!(
                    Message::parse(&consistent).is_err(),
                    "prefix of {cut} with fixed length parsed"
                );
                let first = PayloadType::from(encoding[16]);
                if !matches!(first, PayloadType::Sk | PayloadType::Skf) {
                    assert!(parse_chain(first, &prefix[IkeHeader::LEN..]).is_err());
                }
            }
        }
    }
}

#[test]
fn every_length_field_shortened_fails() {
    let mut checked = 0;
    for encoding in sample_encodings() {
        for field in length_fields(&encoding) {
            let original = match field.width {
                2 => usize::from(u16::from_be_bytes([
                    encoding[field.offset],
                    encoding[field.offset + 1],
                ])),
                _ => u32::from_be_bytes(
                    encoding[field.offset..field.offset + 4]
                        .try_into()
                        .expect("four octets"),
                ) as usize,
            };
            for smaller in 0..original {
                let mutated = with_length(&encoding, field, smaller);
                let result = Message::parse(&mutated);
                assert!(
                    result.is_err(),
                    "length at {} shortened from {original} to {smaller} parsed: {result:?}",
                    field.offset
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 5_000, "only {checked} mutations checked");
}

/// An SPI size shrunk inside a notify can still describe a valid notify (the lost SPI octets
/// become data), so the requirement is: refused, or decoded differently, never a panic.
#[test]
fn every_spi_size_shortened_is_refused_or_changes_the_message() {
    let mut checked = 0;
    for encoding in sample_encodings() {
        let original = Message::parse(&encoding).expect("sample parses");
        for field in spi_size_fields(&encoding) {
            for smaller in 0..encoding[field.offset] {
                let mutated = with_length(&encoding, field, usize::from(smaller));
                if let Ok(message) = Message::parse(&mutated) {
                    assert_ne!(message, original, "SPI size at {} ignored", field.offset);
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} mutations checked");
}

#[test]
fn every_length_field_lengthened_fails() {
    for encoding in sample_encodings() {
        for field in length_fields(&encoding) {
            let mut mutated = encoding.clone();
            let at = field.offset + field.width - 1;
            mutated[at] = mutated[at].wrapping_add(1);
            if mutated[at] == 0 {
                continue;
            }
            assert!(
                Message::parse(&mutated).is_err(),
                "length at {} lengthened parsed",
                field.offset
            );
        }
    }
}

#[test]
fn errors_name_the_truncated_structure() {
    let encoding = sample_message().emit().expect("emits");
    let mut header_only = encoding[..IkeHeader::LEN].to_vec();
    header_only[24..28].copy_from_slice(&(IkeHeader::LEN as u32).to_be_bytes());
    assert_eq!(
        Message::parse(&header_only),
        Err(DecodeError::Truncated("generic payload header"))
    );
    assert_eq!(
        Message::parse(&encoding[..10]),
        Err(DecodeError::Truncated("IKE header"))
    );
}
