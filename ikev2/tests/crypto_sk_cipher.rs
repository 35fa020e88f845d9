//! SK/SKF payload protection for every suite: round trips, the exact body layout, tampering with
//! any bit of header, IV, ciphertext or ICV, truncation, and IV uniqueness.

// Helpers outside #[test] functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use ikev2::crypto::{CipherSuite, CryptoError, EncrAlg, IntegAlg, Secret, SkCipher};
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn all_suites() -> Vec<CipherSuite> {
    let mut suites = vec![
        CipherSuite::new(EncrAlg::AesGcm16_128, None).unwrap(),
        CipherSuite::new(EncrAlg::AesGcm16_256, None).unwrap(),
        CipherSuite::new(EncrAlg::ChaCha20Poly1305, None).unwrap(),
    ];
    for encr in [EncrAlg::AesCbc128, EncrAlg::AesCbc256] {
        for integ in [
            IntegAlg::HmacSha256_128,
            IntegAlg::HmacSha384_192,
            IntegAlg::HmacSha512_256,
        ] {
            suites.push(CipherSuite::new(encr, Some(integ)).unwrap());
        }
    }
    suites
}

/// A cipher with distinct, suite-sized keys.
fn cipher(suite: CipherSuite, key_byte: u8) -> SkCipher {
    let encr_key = Secret::new(vec![key_byte; suite.encr_key_len()]);
    let integ_key = suite
        .integ()
        .map(|integ| Secret::new(vec![key_byte ^ 0x55; integ.key_len()]));
    SkCipher::new(suite, &encr_key, integ_key.as_ref()).unwrap()
}

/// An IKE header plus SK payload header shaped prefix with the lengths filled in.
fn aad_prefix(sealed_len: usize) -> Vec<u8> {
    let mut prefix = vec![0x11; 28];
    prefix[16] = 46;
    let total = u32::try_from(28 + 4 + sealed_len).unwrap();
    prefix[24..28].copy_from_slice(&total.to_be_bytes());
    prefix.extend_from_slice(&[35, 0]);
    prefix.extend_from_slice(&u16::try_from(4 + sealed_len).unwrap().to_be_bytes());
    prefix
}

/// `receiver` must refuse `body` under `prefix` with the one opaque error; `what` names the case.
#[track_caller]
fn assert_refused(receiver: &SkCipher, prefix: &[u8], body: &[u8], what: String) {
    assert_eq!(
        receiver.open(prefix, body),
        Err(CryptoError::OpenFailed),
        "{what}"
    );
}

#[test]
fn every_suite_round_trips_all_small_lengths() {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    for suite in all_suites() {
        let mut sender = cipher(suite, 1);
        let receiver = cipher(suite, 1);
        for len in 0..70 {
            let plaintext: Vec<u8> = (0..len).map(|i| i as u8 ^ 0xA5).collect();
            let sealed_len = sender.sealed_len(len);
            let prefix = aad_prefix(sealed_len);
            let body = sender.seal(&prefix, &plaintext, &mut rng).unwrap();
            assert_eq!(body.len(), sealed_len, "{suite:?} len {len}");
            assert_eq!(
                (body.len() - suite.encr().iv_len() - suite.icv_len()) % suite.encr().block_len(),
                0
            );
            assert_eq!(
                receiver.open(&prefix, &body).unwrap(),
                plaintext,
                "{suite:?}"
            );
        }
    }
}

#[test]
fn sealed_layout_matches_rfc_sizes() {
    let mut rng = ChaCha20Rng::from_seed([2; 32]);
    let gcm = CipherSuite::new(EncrAlg::AesGcm16_256, None).unwrap();
    // 8-byte IV, 168 bytes + 1 pad-length octet, 16-byte ICV: strongSwan's 193-byte body.
    assert_eq!(cipher(gcm, 1).sealed_len(168), 8 + 169 + 16);
    let cbc = CipherSuite::new(EncrAlg::AesCbc128, Some(IntegAlg::HmacSha384_192)).unwrap();
    let mut sender = cipher(cbc, 1);
    // 15 bytes + pad length fill one block; 16 bytes need two.
    assert_eq!(sender.sealed_len(15), 16 + 16 + 24);
    assert_eq!(sender.sealed_len(16), 16 + 32 + 24);
    let body = sender.seal(&aad_prefix(56), &[0; 15], &mut rng).unwrap();
    assert_eq!(body.len(), 56);
}

#[test]
fn aead_ivs_count_up_and_never_repeat() {
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    for suite in all_suites().into_iter().filter(|s| s.encr().is_aead()) {
        let mut sender = cipher(suite, 2);
        let prefix = aad_prefix(sender.sealed_len(4));
        let first = sender.seal(&prefix, b"ping", &mut rng).unwrap();
        let second = sender.seal(&prefix, b"ping", &mut rng).unwrap();
        assert_eq!(&first[..8], &0u64.to_be_bytes());
        assert_eq!(&second[..8], &1u64.to_be_bytes());
        assert_ne!(
            first[8..],
            second[8..],
            "same plaintext, new IV, new ciphertext"
        );
    }
}

#[test]
fn cbc_ivs_come_from_the_rng() {
    let suite = CipherSuite::new(EncrAlg::AesCbc256, Some(IntegAlg::HmacSha256_128)).unwrap();
    let mut sender = cipher(suite, 3);
    let prefix = aad_prefix(sender.sealed_len(4));
    let a = sender
        .seal(&prefix, b"ping", &mut ChaCha20Rng::from_seed([4; 32]))
        .unwrap();
    let b = sender
        .seal(&prefix, b"ping", &mut ChaCha20Rng::from_seed([5; 32]))
        .unwrap();
    let a_again = sender
        .seal(&prefix, b"ping", &mut ChaCha20Rng::from_seed([4; 32]))
        .unwrap();
    assert_ne!(a[..16], b[..16]);
    assert_eq!(a, a_again, "deterministic for a seeded RNG");
}

#[test]
fn any_flipped_bit_in_header_iv_ciphertext_or_icv_fails() {
    let mut rng = ChaCha20Rng::from_seed([6; 32]);
    for suite in all_suites() {
        let mut sender = cipher(suite, 4);
        let receiver = cipher(suite, 4);
        let plaintext = b"IDi AUTH SA TSi TSr";
        let prefix = aad_prefix(sender.sealed_len(plaintext.len()));
        let body = sender.seal(&prefix, plaintext, &mut rng).unwrap();
        for byte in 0..prefix.len() {
            for bit in 0..8 {
                let mut tampered = prefix.clone();
                tampered[byte] ^= 1 << bit;
                assert_refused(
                    &receiver,
                    &tampered,
                    &body,
                    format!("{suite:?} header byte {byte}"),
                );
            }
        }
        for byte in 0..body.len() {
            for bit in 0..8 {
                let mut tampered = body.clone();
                tampered[byte] ^= 1 << bit;
                assert_refused(
                    &receiver,
                    &prefix,
                    &tampered,
                    format!("{suite:?} body byte {byte}"),
                );
            }
        }
    }
}

#[test]
fn every_truncation_and_extension_fails() {
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    for suite in all_suites() {
        let mut sender = cipher(suite, 5);
        let receiver = cipher(suite, 5);
        let prefix = aad_prefix(sender.sealed_len(40));
        let body = sender.seal(&prefix, &[9; 40], &mut rng).unwrap();
        for len in 0..body.len() {
            let what = format!("{suite:?} truncated to {len}");
            assert_refused(&receiver, &prefix, &body[..len], what);
        }
        let mut longer = body.clone();
        longer.push(0);
        assert_refused(&receiver, &prefix, &longer, format!("{suite:?} extended"));
    }
}

#[test]
fn wrong_key_or_wrong_direction_fails() {
    let mut rng = ChaCha20Rng::from_seed([8; 32]);
    for suite in all_suites() {
        let mut sender = cipher(suite, 6);
        let prefix = aad_prefix(sender.sealed_len(3));
        let body = sender.seal(&prefix, b"abc", &mut rng).unwrap();
        let what = format!("{suite:?} other key");
        assert_refused(&cipher(suite, 7), &prefix, &body, what);
    }
}

/// Encrypts `padded` (which must already end in its Pad Length octet) the way an authentic but
/// malformed sender would, bypassing `SkCipher::seal`.
fn seal_raw(suite: CipherSuite, key_byte: u8, prefix: &[u8], padded: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::{AeadInPlace, KeyInit};
    use cbc::cipher::{block_padding::NoPadding, BlockEncryptMut, KeyIvInit};
    let key = vec![key_byte; suite.encr().cipher_key_len()];
    let mut buffer = padded.to_vec();
    match suite.encr() {
        EncrAlg::AesGcm16_128 => {
            let iv = [0x42u8; 8];
            let nonce: Vec<u8> = [&[key_byte; 4][..], &iv].concat();
            let tag = aes_gcm::Aes128Gcm::new_from_slice(&key)
                .unwrap()
                .encrypt_in_place_detached(nonce.as_slice().into(), prefix, &mut buffer)
                .unwrap();
            [&iv[..], &buffer, &tag].concat()
        }
        EncrAlg::AesCbc128 => {
            let iv = [0x24u8; 16];
            let len = buffer.len();
            cbc::Encryptor::<aes::Aes128>::new_from_slices(&key, &iv)
                .unwrap()
                .encrypt_padded_mut::<NoPadding>(&mut buffer, len)
                .unwrap();
            let mut body = [&iv[..], &buffer].concat();
            let integ_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[key_byte ^ 0x55; 32]);
            let tag = ring::hmac::sign(&integ_key, &[prefix, &body].concat());
            body.extend_from_slice(&tag.as_ref()[..16]);
            body
        }
        other => panic!("no raw sealer for {other:?}"),
    }
}

#[test]
fn pad_length_beyond_the_plaintext_fails_opaquely_under_a_valid_icv() {
    let gcm = CipherSuite::new(EncrAlg::AesGcm16_128, None).unwrap();
    let cbc = CipherSuite::new(EncrAlg::AesCbc128, Some(IntegAlg::HmacSha256_128)).unwrap();
    for suite in [gcm, cbc] {
        let receiver = cipher(suite, 8);
        let block = suite.encr().block_len().max(16);
        let prefix = aad_prefix(suite.encr().iv_len() + block + suite.icv_len());
        // Control: a well-formed padded plaintext opens (15 bytes of payload, pad length 0).
        let mut good = vec![7u8; block];
        good[block - 1] = 0;
        let body = seal_raw(suite, 8, &prefix, &good);
        assert_eq!(receiver.open(&prefix, &body).unwrap(), vec![7u8; block - 1]);
        // Pad Length 15 leaves zero payload bytes: still fine. 16 or more: too long.
        let mut all_padding = good.clone();
        all_padding[block - 1] = u8::try_from(block - 1).unwrap();
        let body = seal_raw(suite, 8, &prefix, &all_padding);
        assert_eq!(receiver.open(&prefix, &body).unwrap(), Vec::<u8>::new());
        for pad_len in [block, 200, 255] {
            let mut bad = good.clone();
            bad[block - 1] = u8::try_from(pad_len).unwrap();
            let body = seal_raw(suite, 8, &prefix, &bad);
            let what = format!("{suite:?} pad length {pad_len}");
            assert_refused(&receiver, &prefix, &body, what);
        }
    }
}

#[test]
fn key_lengths_are_checked() {
    let gcm = CipherSuite::new(EncrAlg::AesGcm16_256, None).unwrap();
    assert_eq!(
        SkCipher::new(gcm, &Secret::new(vec![0; 32]), None).err(),
        Some(CryptoError::InvalidKeyLength {
            expected: 36,
            actual: 32
        })
    );
    let key = Secret::new(vec![0; 36]);
    assert!(SkCipher::new(gcm, &key, Some(&key)).is_err());
    let cbc = CipherSuite::new(EncrAlg::AesCbc128, Some(IntegAlg::HmacSha256_128)).unwrap();
    assert!(SkCipher::new(cbc, &Secret::new(vec![0; 16]), None).is_err());
    assert!(SkCipher::new(
        cbc,
        &Secret::new(vec![0; 16]),
        Some(&Secret::new(vec![0; 31]))
    )
    .is_err());
    assert!(SkCipher::new(
        cbc,
        &Secret::new(vec![0; 16]),
        Some(&Secret::new(vec![0; 32]))
    )
    .is_ok());
}

#[test]
fn skf_prefix_binds_fragment_number() {
    // RFC 7383 §2.5: the SKF header (Fragment Number, Total Fragments) is authenticated.
    let mut rng = ChaCha20Rng::from_seed([10; 32]);
    for suite in all_suites() {
        let mut sender = cipher(suite, 9);
        let receiver = cipher(suite, 9);
        let sealed_len = sender.sealed_len(100);
        let mut prefix = aad_prefix(sealed_len + 4);
        prefix[16] = 53;
        prefix[30..32].copy_from_slice(&u16::try_from(8 + sealed_len).unwrap().to_be_bytes());
        prefix.extend_from_slice(&[0, 2, 0, 3]);
        let body = sender.seal(&prefix, &[1; 100], &mut rng).unwrap();
        assert_eq!(receiver.open(&prefix, &body).unwrap(), vec![1; 100]);
        let mut other_fragment = prefix.clone();
        other_fragment[33] = 1;
        let what = format!("{suite:?} other fragment number");
        assert_refused(&receiver, &other_fragment, &body, what);
    }
}

#[test]
fn max_plaintext_len_fits_the_body() {
    for suite in all_suites() {
        let sender = cipher(suite, 10);
        for body_len in 0..300 {
            match sender.max_plaintext_len(body_len) {
                Some(max) => {
                    assert!(sender.sealed_len(max) <= body_len, "{suite:?} {body_len}");
                    assert!(
                        sender.sealed_len(max + 1) > body_len,
                        "{suite:?} {body_len}"
                    );
                }
                None => assert!(sender.sealed_len(0) > body_len, "{suite:?} {body_len}"),
            }
        }
    }
}

proptest! {
    #[test]
    fn round_trip_any_plaintext_any_suite(
        suite_index in 0usize..9,
        plaintext in proptest::collection::vec(any::<u8>(), 0..600),
        seed in any::<[u8; 32]>(),
        key_byte in any::<u8>(),
    ) {
        let suite = all_suites()[suite_index];
        let mut sender = cipher(suite, key_byte);
        let receiver = cipher(suite, key_byte);
        let mut rng = ChaCha20Rng::from_seed(seed);
        let prefix = aad_prefix(sender.sealed_len(plaintext.len()));
        let body = sender.seal(&prefix, &plaintext, &mut rng).unwrap();
        prop_assert_eq!(body.len(), sender.sealed_len(plaintext.len()));
        prop_assert_eq!(receiver.open(&prefix, &body).unwrap(), plaintext);
    }

    #[test]
    fn open_never_panics_on_arbitrary_bodies(
        suite_index in 0usize..9,
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let suite = all_suites()[suite_index];
        let receiver = cipher(suite, 1);
        prop_assert_eq!(receiver.open(&aad_prefix(body.len()), &body), Err(CryptoError::OpenFailed));
    }
}
