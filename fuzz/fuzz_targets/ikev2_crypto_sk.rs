//! Arbitrary bytes into the SK payload cipher of every suite: `open` of a hostile prefix and body
//! must fail cleanly (never panic), and `seal` then `open` of an arbitrary plaintext must return it.
#![no_main]

use ikev2::crypto::{CipherSuite, CryptoError, EncrAlg, IntegAlg, Secret, SkCipher};
use libfuzzer_sys::fuzz_target;

const SUITES: [(EncrAlg, Option<IntegAlg>); 6] = [
    (EncrAlg::AesGcm16_128, None),
    (EncrAlg::AesGcm16_256, None),
    (EncrAlg::ChaCha20Poly1305, None),
    (EncrAlg::AesCbc128, Some(IntegAlg::HmacSha256_128)),
    (EncrAlg::AesCbc256, Some(IntegAlg::HmacSha384_192)),
    (EncrAlg::AesCbc256, Some(IntegAlg::HmacSha512_256)),
];

/// An RNG for CBC IVs that repeats the input's first bytes (IV freshness is not under test).
struct InputRng(u8);

impl rand_core::RngCore for InputRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(self.0);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for InputRng {}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (encr, integ) = SUITES[usize::from(selector) % SUITES.len()];
    let suite = CipherSuite::new(encr, integ).expect("valid suite");
    let encr_key = Secret::new(vec![0x5A; suite.encr_key_len()]);
    let integ_key = integ.map(|integ| Secret::new(vec![0xA5; integ.key_len()]));
    let mut cipher = SkCipher::new(suite, &encr_key, integ_key.as_ref()).expect("valid keys");

    let split = usize::from(rest.first().copied().unwrap_or(0)).min(rest.len());
    let (prefix, body) = rest.split_at(split);
    let opened = cipher.open(prefix, body);
    assert!(matches!(opened, Ok(_) | Err(CryptoError::OpenFailed)));

    let sealed = cipher
        .seal(prefix, body, &mut InputRng(selector))
        .expect("seal of a short plaintext");
    assert_eq!(sealed.len(), cipher.sealed_len(body.len()));
    assert_eq!(cipher.open(prefix, &sealed).expect("round trip"), body);
});
