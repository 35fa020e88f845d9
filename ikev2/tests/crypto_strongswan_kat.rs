//! Known-answer tests against a real strongSwan 5.9.8 exchange (PSK, Curve25519,
//! AES-GCM-16-256, PRF-HMAC-SHA2-256; ESP AES-GCM-16-256), byte for byte.
//!
//! The messages come from the capture, the expected keys and AUTH values from both daemons'
//! level-4 logs; `data/crypto/extract_strongswan_vectors.py` documents the extraction. The logs
//! hold no private key exchange value, so the Curve25519 shared secret itself is taken from the
//! log (the group is checked against RFC 7748 in `crypto_key_exchange.rs`).

// Helpers outside #[test] functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use ikev2::crypto::{
    initial_skeyseed, nat_detection_hash, psk_auth, verify_psk_auth, ChildKeys, CipherSuite,
    CryptoError, Direction, EncrAlg, IkeSaKeys, IkeSuite, PrfAlg, Secret, SignedOctets, SkCipher,
    KEY_PAD,
};

const VECTORS: &str = include_str!("data/crypto/strongswan-5.9.8-psk-x25519-aes256gcm.txt");

/// IKE payload type numbers used below (RFC 7296 §3.2).
const NONCE: u8 = 40;
const NOTIFY: u8 = 41;
const ID_I: u8 = 35;
const ID_R: u8 = 36;
const AUTH: u8 = 39;
const SK: u8 = 46;

/// NAT_DETECTION_DESTINATION_IP (RFC 7296 §3.10.1).
const NAT_DETECTION_DESTINATION_IP: u16 = 16389;

struct Vectors(HashMap<String, Vec<u8>>);

impl Vectors {
    fn load() -> Self {
        let map = VECTORS
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (name, value) = line.split_once(" = ").expect("name = hex");
                (name.to_owned(), hex::decode(value).expect("hex"))
            })
            .collect();
        Self(map)
    }

    fn get(&self, name: &str) -> &[u8] {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("vector {name} missing"))
    }

    fn secret(&self, name: &str) -> Secret {
        Secret::from_slice(self.get(name))
    }

    fn spi(&self, which: std::ops::Range<usize>) -> u64 {
        let header = self.get("ike_auth_request");
        u64::from_be_bytes(header[which].try_into().unwrap())
    }

    fn spi_i(&self) -> u64 {
        self.spi(0..8)
    }

    fn spi_r(&self) -> u64 {
        self.spi(8..16)
    }
}

fn suite() -> IkeSuite {
    IkeSuite {
        prf: PrfAlg::HmacSha256,
        cipher: CipherSuite::new(EncrAlg::AesGcm16_256, None).unwrap(),
    }
}

/// Walks a payload chain (generic headers only) starting with payload type `first`.
fn payloads(mut next: u8, mut bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let mut found = Vec::new();
    while next != 0 {
        let length = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        found.push((next, &bytes[4..length]));
        next = bytes[0];
        bytes = &bytes[length..];
    }
    assert!(bytes.is_empty(), "trailing bytes after the payload chain");
    found
}

/// The payloads of an unencrypted message.
fn message_payloads(message: &[u8]) -> Vec<(u8, &[u8])> {
    payloads(message[16], &message[28..])
}

fn payload<'a>(list: &[(u8, &'a [u8])], kind: u8) -> &'a [u8] {
    list.iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, body)| *body)
        .unwrap_or_else(|| panic!("payload {kind} missing"))
}

fn keys(v: &Vectors) -> IkeSaKeys {
    IkeSaKeys::derive(
        &suite(),
        &v.secret("shared_secret"),
        v.get("ni"),
        v.get("nr"),
        v.spi_i(),
        v.spi_r(),
    )
    .unwrap()
}

/// Opens the SK payload of a captured IKE_AUTH message: AAD is the IKE header and the SK
/// payload header, the body runs to the end of the message.
fn open_ike_auth(cipher: &SkCipher, message: &[u8]) -> (u8, Vec<u8>) {
    assert_eq!(message[16], SK, "the first payload is SK");
    let sk_length = usize::from(u16::from_be_bytes([message[30], message[31]]));
    assert_eq!(28 + sk_length, message.len());
    let plaintext = cipher.open(&message[..32], &message[32..]).unwrap();
    (message[28], plaintext)
}

#[test]
fn nonces_and_spis_are_those_on_the_wire() {
    let v = Vectors::load();
    let request = message_payloads(v.get("ike_sa_init_request"));
    let response = message_payloads(v.get("ike_sa_init_response"));
    assert_eq!(payload(&request, NONCE), v.get("ni"));
    assert_eq!(payload(&response, NONCE), v.get("nr"));
    assert_eq!(
        v.get("ike_sa_init_response")[..16],
        v.get("ike_auth_request")[..16]
    );
    assert_eq!(
        v.get("ike_sa_init_request")[8..16],
        [0; 8],
        "SPIr is zero in the request"
    );
}

#[test]
fn skeyseed_matches_strongswan() {
    let v = Vectors::load();
    let skeyseed = initial_skeyseed(
        PrfAlg::HmacSha256,
        v.get("ni"),
        v.get("nr"),
        &v.secret("shared_secret"),
    );
    assert_eq!(skeyseed.expose(), v.get("skeyseed"));
}

#[test]
fn every_sk_key_matches_strongswan() {
    let v = Vectors::load();
    let keys = keys(&v);
    assert_eq!(keys.sk_d.expose(), v.get("sk_d"));
    assert_eq!(
        keys.sk_ei.expose(),
        v.get("sk_ei"),
        "36 bytes: key and salt"
    );
    assert_eq!(keys.sk_er.expose(), v.get("sk_er"));
    assert_eq!(keys.sk_pi.expose(), v.get("sk_pi"));
    assert_eq!(keys.sk_pr.expose(), v.get("sk_pr"));
    assert!(
        keys.sk_ai.is_none() && keys.sk_ar.is_none(),
        "AEAD: no SK_a*"
    );
}

#[test]
fn both_ike_auth_messages_decrypt_to_what_strongswan_logged() {
    let v = Vectors::load();
    let keys = keys(&v);
    for (direction, message, plaintext, first_inner) in [
        (
            Direction::InitiatorToResponder,
            "ike_auth_request",
            "ike_auth_request_plaintext",
            ID_I,
        ),
        (
            Direction::ResponderToInitiator,
            "ike_auth_response",
            "ike_auth_response_plaintext",
            ID_R,
        ),
    ] {
        let cipher = keys.sk_cipher(&suite(), direction).unwrap();
        let (next, opened) = open_ike_auth(&cipher, v.get(message));
        assert_eq!(next, first_inner);
        assert_eq!(opened, v.get(plaintext), "{message}");

        // The other direction's key must not open it.
        let (wrong_key, _) = keys.sk_keys(match direction {
            Direction::InitiatorToResponder => Direction::ResponderToInitiator,
            Direction::ResponderToInitiator => Direction::InitiatorToResponder,
        });
        let wrong = SkCipher::new(suite().cipher, wrong_key, None).unwrap();
        let message = v.get(message);
        assert_eq!(
            wrong.open(&message[..32], &message[32..]),
            Err(CryptoError::OpenFailed)
        );
    }
}

#[test]
fn psk_key_pad_value_matches_strongswan() {
    let v = Vectors::load();
    assert_eq!(v.get("psk"), b"eseg-interop-test-psk-0123456789");
    let inner = PrfAlg::HmacSha256.compute(v.get("psk"), &[KEY_PAD]);
    assert_eq!(inner.expose(), v.get("prf_psk_key_pad"));
}

#[test]
fn auth_payloads_verify_from_the_captured_messages() {
    let v = Vectors::load();
    let keys = keys(&v);
    let psk = v.secret("psk");
    let cases = [
        (
            Direction::InitiatorToResponder,
            "ike_auth_request",
            ID_I,
            "ike_sa_init_request",
            "nr",
            "id_i_body",
            "signed_octets_i",
            "auth_i",
        ),
        (
            Direction::ResponderToInitiator,
            "ike_auth_response",
            ID_R,
            "ike_sa_init_response",
            "ni",
            "id_r_body",
            "signed_octets_r",
            "auth_r",
        ),
    ];
    for (direction, message, id_type, init_message, peer_nonce, id_name, octets_name, auth_name) in
        cases
    {
        let (encr_key, integ_key) = keys.sk_keys(direction);
        let cipher = SkCipher::new(suite().cipher, encr_key, integ_key).unwrap();
        let (first, plaintext) = open_ike_auth(&cipher, v.get(message));
        let inner = payloads(first, &plaintext);
        let id_body = payload(&inner, id_type);
        let auth_body = payload(&inner, AUTH);
        assert_eq!(
            id_body,
            v.get(id_name),
            "ID payload as strongSwan logged it"
        );
        assert_eq!(auth_body[0], 2, "Shared Key Message Integrity Code");
        let received_auth = &auth_body[4..];
        assert_eq!(received_auth, v.get(auth_name));

        let signed = SignedOctets {
            real_message: v.get(init_message),
            peer_nonce: v.get(peer_nonce),
            sk_p: keys.sk_p(direction),
            id_payload_body: id_body,
        };
        let maced_id = PrfAlg::HmacSha256.compute(keys.sk_p(direction).expose(), &[id_body]);
        let octets = [signed.real_message, signed.peer_nonce, maced_id.expose()].concat();
        assert_eq!(
            octets,
            v.get(octets_name),
            "SignedOctets as strongSwan logged them"
        );

        assert_eq!(
            psk_auth(PrfAlg::HmacSha256, &psk, &signed).expose(),
            received_auth
        );
        assert!(verify_psk_auth(PrfAlg::HmacSha256, &psk, &signed, received_auth).is_ok());

        let wrong_psk = Secret::from_slice(b"eseg-interop-test-psk-0123456788");
        assert_eq!(
            verify_psk_auth(PrfAlg::HmacSha256, &wrong_psk, &signed, received_auth).err(),
            Some(CryptoError::AuthenticationFailed)
        );
        let mut other_message = signed.real_message.to_vec();
        other_message[20] ^= 1;
        let tampered = SignedOctets {
            real_message: &other_message,
            ..signed
        };
        assert!(verify_psk_auth(PrfAlg::HmacSha256, &psk, &tampered, received_auth).is_err());
    }
}

/// KEYMAT of the captured CHILD SA (AES-GCM-16 256, no PFS) from the vectors' SK_d and nonces.
fn esp_keys(v: &Vectors) -> ChildKeys {
    let esp = CipherSuite::new(EncrAlg::AesGcm16_256, None).unwrap();
    ChildKeys::derive(
        PrfAlg::HmacSha256,
        &v.secret("sk_d"),
        &esp,
        None,
        v.get("ni"),
        v.get("nr"),
    )
    .unwrap()
}

#[test]
fn child_sa_keymat_gives_strongswans_esp_keys() {
    let v = Vectors::load();
    let child = esp_keys(&v);
    let i2r = child.direction(Direction::InitiatorToResponder);
    let r2i = child.direction(Direction::ResponderToInitiator);
    assert_eq!(i2r.encr_key_with_salt().expose(), v.get("esp_encr_key_i2r"));
    assert_eq!(r2i.encr_key_with_salt().expose(), v.get("esp_encr_key_r2i"));
    assert!(i2r.integ_key().is_none());
    assert_eq!(i2r.salt(), &v.get("esp_encr_key_i2r")[32..]);
}

/// Opens a captured ESP packet (RFC 4106: nonce = salt || IV, AAD = SPI || sequence number) and
/// returns the inner packet and the Next Header value.
fn open_esp(key: &[u8], salt: &[u8], packet: &[u8]) -> (Vec<u8>, u8) {
    let (aad, rest) = packet.split_at(8);
    let (iv, rest) = rest.split_at(8);
    let (ciphertext, tag) = rest.split_at(rest.len() - 16);
    let nonce = [salt, iv].concat();
    let mut buffer = ciphertext.to_vec();
    aes_gcm::Aes256Gcm::new_from_slice(key)
        .unwrap()
        .decrypt_in_place_detached(nonce.as_slice().into(), aad, &mut buffer, tag.into())
        .expect("ESP packet authenticates with the derived key");
    let next_header = buffer.pop().unwrap();
    let pad_len = usize::from(buffer.pop().unwrap());
    buffer.truncate(buffer.len() - pad_len);
    (buffer, next_header)
}

#[test]
fn captured_esp_packets_open_with_the_derived_keys() {
    let v = Vectors::load();
    let child = esp_keys(&v);
    for (direction, packet, source) in [
        (
            Direction::InitiatorToResponder,
            "esp_initiator_to_responder",
            Ipv4Addr::new(10, 99, 2, 1),
        ),
        (
            Direction::ResponderToInitiator,
            "esp_responder_to_initiator",
            Ipv4Addr::new(10, 99, 1, 1),
        ),
    ] {
        let keys = child.direction(direction);
        let (inner, next_header) = open_esp(keys.cipher_key(), keys.salt(), v.get(packet));
        assert_eq!(next_header, 4, "IPv4 inside");
        assert_eq!(inner[0], 0x45);
        assert_eq!(
            usize::from(u16::from_be_bytes([inner[2], inner[3]])),
            inner.len()
        );
        let inner_source = Ipv4Addr::new(inner[12], inner[13], inner[14], inner[15]);
        if direction == Direction::InitiatorToResponder {
            assert_eq!(inner_source, source, "the client's virtual IP");
        } else {
            assert_eq!(
                Ipv4Addr::new(inner[16], inner[17], inner[18], inner[19]),
                Ipv4Addr::new(10, 99, 2, 1)
            );
        }
    }
}

#[test]
fn nat_detection_hashes_match_strongswan() {
    let v = Vectors::load();
    let mut checked = 0;
    for index in 0.. {
        let name = format!("natd_input_{index}");
        if !v.0.contains_key(&name) {
            break;
        }
        let input = v.get(&name);
        let spi_i = u64::from_be_bytes(input[0..8].try_into().unwrap());
        let spi_r = u64::from_be_bytes(input[8..16].try_into().unwrap());
        let ip = Ipv4Addr::new(input[16], input[17], input[18], input[19]);
        let port = u16::from_be_bytes([input[20], input[21]]);
        let hash = nat_detection_hash(spi_i, spi_r, SocketAddr::from((ip, port)));
        assert_eq!(
            hash.as_slice(),
            v.get(&format!("natd_hash_{index}")),
            "{name}"
        );
        checked += 1;
    }
    assert_eq!(checked, 8);
}

#[test]
fn destination_hash_in_the_captured_request_names_the_gateway() {
    // The initiator sent its IKE_SA_INIT to 10.99.0.1:500 with SPIr = 0.
    let v = Vectors::load();
    let request = message_payloads(v.get("ike_sa_init_request"));
    let expected = nat_detection_hash(v.spi_i(), 0, "10.99.0.1:500".parse().unwrap());
    let found = request.iter().any(|(kind, body)| {
        *kind == NOTIFY
            && u16::from_be_bytes([body[2], body[3]]) == NAT_DETECTION_DESTINATION_IP
            && body[4..] == expected
    });
    assert!(found, "NAT_DETECTION_DESTINATION_IP carries our hash");
}
