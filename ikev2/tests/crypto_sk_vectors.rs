//! SK payload bodies from independent sources, byte for byte:
//! - ChaCha20-Poly1305: the IKEv2 example of RFC 7634 Appendix B;
//! - AES-CBC + HMAC-SHA2: bodies built by Python's `cryptography` package
//!   (`data/crypto/make_cbc_hmac_vectors.py`), which `seal` must reproduce given the same IV.
//!
//! AES-GCM-16 is checked against strongSwan's own IKE_AUTH messages in `crypto_strongswan_kat.rs`.

// Helpers outside #[test] functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod crypto_support;

use std::collections::HashMap;

use crypto_support::{unhex, FixedBytes};
use ikev2::crypto::{CipherSuite, CryptoError, EncrAlg, IntegAlg, Secret, SkCipher};

const CBC_VECTORS: &str = include_str!("data/crypto/cbc-hmac-sk.txt");

#[test]
fn rfc7634_ikev2_example_opens() {
    let suite = CipherSuite::new(EncrAlg::ChaCha20Poly1305, None).unwrap();
    // KEYMAT: the 32-byte key followed by the 4-byte salt.
    let key = Secret::new(unhex(
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f a0a1a2a3",
    ));
    let cipher = SkCipher::new(suite, &key, None).unwrap();
    // IKE header (SPIs, SK first, INFORMATIONAL, message ID 9, length 69) and SK header.
    let aad = unhex("c0c1c2c3c4c5c6c7 d0d1d2d3d4d5d6d7 2e202500 00000009 00000045 29000029");
    let body =
        unhex("1011121314151617 610394701f8d017f7c12924889 6b71bfe25236efd7cdc67066906315b2");
    // The plaintext is a 12-byte Notify payload followed by Pad Length 0.
    assert_eq!(
        cipher.open(&aad, &body).unwrap(),
        unhex("0000000c 00004001 0000000a")
    );
    let mut wrong_aad = aad.clone();
    wrong_aad[19] = 10;
    assert_eq!(cipher.open(&wrong_aad, &body), Err(CryptoError::OpenFailed));
}

#[test]
fn cbc_hmac_bodies_match_an_independent_implementation() {
    let vectors: HashMap<&str, Vec<u8>> = CBC_VECTORS
        .lines()
        .map(|line| {
            let (name, value) = line.split_once(" = ").unwrap();
            (name, unhex(value))
        })
        .collect();
    let suites = [
        (
            "aes128_sha256",
            EncrAlg::AesCbc128,
            IntegAlg::HmacSha256_128,
        ),
        (
            "aes256_sha384",
            EncrAlg::AesCbc256,
            IntegAlg::HmacSha384_192,
        ),
        (
            "aes256_sha512",
            EncrAlg::AesCbc256,
            IntegAlg::HmacSha512_256,
        ),
    ];
    for (name, encr, integ) in suites {
        let get = |field: &str| &vectors[format!("{name}_{field}").as_str()];
        let suite = CipherSuite::new(encr, Some(integ)).unwrap();
        let encr_key = Secret::from_slice(get("encr_key"));
        let integ_key = Secret::from_slice(get("integ_key"));
        let mut cipher = SkCipher::new(suite, &encr_key, Some(&integ_key)).unwrap();
        let (prefix, plaintext, body) = (get("prefix"), get("plaintext"), get("body"));

        assert_eq!(cipher.open(prefix, body).unwrap(), *plaintext, "{name}");
        assert_eq!(cipher.sealed_len(plaintext.len()), body.len(), "{name}");
        let mut iv_source = FixedBytes(body[..16].to_vec());
        let sealed = cipher.seal(prefix, plaintext, &mut iv_source).unwrap();
        assert_eq!(
            &sealed, body,
            "{name}: seal reproduces the body byte for byte"
        );
    }
}
