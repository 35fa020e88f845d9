//! CPU cost of the cryptography one IKE SA needs on one side: a key exchange per group, the key
//! derivation, the PSK AUTH computation, and SK seal/open of a typical IKE_AUTH plaintext.
//!
//! `cargo bench -p ikev2 --bench crypto_ike_sa`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ikev2::crypto::{
    psk_auth, ChildKeys, CipherSuite, DhGroup, EncrAlg, IkeSaKeys, IkeSuite, IntegAlg, KeyExchange,
    PrfAlg, Secret, SignedOctets, SkCipher,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// Size of a typical IKE_AUTH plaintext (strongSwan's request was 216 bytes; with CP, SA and TS
/// for a few selectors it grows towards this).
const IKE_AUTH_PLAINTEXT: usize = 400;

fn key_exchange(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    for group in [DhGroup::Curve25519, DhGroup::Ecp256, DhGroup::Ecp384] {
        let peer = KeyExchange::generate(group, &mut rng)
            .public_value()
            .to_vec();
        c.bench_function(&format!("key_exchange/{group:?}/generate_and_agree"), |b| {
            b.iter(|| {
                let own = KeyExchange::generate(group, &mut rng);
                black_box(own.agree(black_box(&peer)))
            })
        });
    }
}

fn derivation_and_auth(c: &mut Criterion) {
    let suite = IkeSuite {
        prf: PrfAlg::HmacSha256,
        cipher: CipherSuite::new(EncrAlg::AesGcm16_256, None).expect("AEAD suite"),
    };
    let shared = Secret::new(vec![3; 32]);
    let (ni, nr) = ([1u8; 32], [2u8; 32]);
    c.bench_function("derive/ike_sa_keys", |b| {
        b.iter(|| IkeSaKeys::derive(&suite, &shared, &ni, &nr, 1, 2))
    });
    let keys = IkeSaKeys::derive(&suite, &shared, &ni, &nr, 1, 2).expect("derivation");
    c.bench_function("derive/child_keys", |b| {
        b.iter(|| ChildKeys::derive(suite.prf, &keys.sk_d, &suite.cipher, None, &ni, &nr))
    });
    let psk = Secret::from_slice(b"eseg-interop-test-psk-0123456789");
    let init_message = vec![0x22; 240];
    let octets = SignedOctets {
        real_message: &init_message,
        peer_nonce: &nr,
        sk_p: &keys.sk_pi,
        id_payload_body: b"\x02\x00\x00\x00client.eseg.test",
    };
    c.bench_function("auth/psk", |b| {
        b.iter(|| psk_auth(suite.prf, &psk, black_box(&octets)))
    });
}

fn sk_payload(c: &mut Criterion) {
    let suites = [
        CipherSuite::new(EncrAlg::AesGcm16_256, None),
        CipherSuite::new(EncrAlg::ChaCha20Poly1305, None),
        CipherSuite::new(EncrAlg::AesCbc256, Some(IntegAlg::HmacSha256_128)),
    ];
    let mut rng = ChaCha20Rng::from_seed([2; 32]);
    let plaintext = vec![0x5A; IKE_AUTH_PLAINTEXT];
    for suite in suites.into_iter().map(|suite| suite.expect("valid suite")) {
        let encr_key = Secret::new(vec![7; suite.encr_key_len()]);
        let integ_key = suite
            .integ()
            .map(|integ| Secret::new(vec![8; integ.key_len()]));
        let mut cipher = SkCipher::new(suite, &encr_key, integ_key.as_ref()).expect("keys");
        let prefix = vec![0x11; 32];
        c.bench_function(&format!("sk/{:?}/seal_and_open", suite.encr()), |b| {
            b.iter(|| {
                let body = cipher
                    .seal(&prefix, black_box(&plaintext), &mut rng)
                    .expect("seal");
                black_box(cipher.open(&prefix, &body))
            })
        });
    }
}

criterion_group!(benches, key_exchange, derivation_and_auth, sk_payload);
criterion_main!(benches);
