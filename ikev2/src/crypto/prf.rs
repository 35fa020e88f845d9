//! The negotiated PRF and prf+ (RFC 7296 §2.13), on HMAC-SHA2 (RFC 4868).
//!
//! Inputs are given as slices of parts so that callers never concatenate secrets into
//! unprotected buffers (`Ni | Nr`, `g^ir | Ni | Nr`, ...).

use ring::hmac;
use zeroize::Zeroizing;

use crate::crypto::{CryptoError, PrfAlg, Secret};

/// prf+ produces at most 255 blocks: the block counter is one octet (RFC 7296 §2.13).
const PRF_PLUS_MAX_BLOCKS: u8 = u8::MAX;

impl PrfAlg {
    fn hmac_algorithm(self) -> hmac::Algorithm {
        match self {
            Self::HmacSha256 => hmac::HMAC_SHA256,
            Self::HmacSha384 => hmac::HMAC_SHA384,
            Self::HmacSha512 => hmac::HMAC_SHA512,
        }
    }

    /// `prf(key, parts[0] | parts[1] | ...)`; the output is [`PrfAlg::output_len`] bytes.
    pub fn compute(self, key: &[u8], parts: &[&[u8]]) -> Secret {
        Secret::from_slice(hmac_parts(self.hmac_algorithm(), key, parts).as_ref())
    }

    /// `prf+(key, seed)` truncated to `len` bytes, where `seed = seed_parts[0] | ...`
    /// (<https://www.rfc-editor.org/rfc/rfc7296#section-2.13>):
    /// `T1 = prf(K, S | 0x01)`, `Tn = prf(K, Tn-1 | S | n)`.
    ///
    /// Fails with [`CryptoError::PrfPlusTooLong`] when `len` needs more than 255 blocks.
    pub fn prf_plus(
        self,
        key: &[u8],
        seed_parts: &[&[u8]],
        len: usize,
    ) -> Result<Secret, CryptoError> {
        let block_len = self.output_len();
        if len > usize::from(PRF_PLUS_MAX_BLOCKS) * block_len {
            return Err(CryptoError::PrfPlusTooLong { requested: len });
        }
        let algorithm = self.hmac_algorithm();
        let signing_key = hmac::Key::new(algorithm, key);
        let mut output = Zeroizing::new(Vec::with_capacity(len));
        let mut previous: Option<hmac::Tag> = None;
        for counter in 1..=PRF_PLUS_MAX_BLOCKS {
            if output.len() >= len {
                break;
            }
            let mut context = hmac::Context::with_key(&signing_key);
            if let Some(tag) = &previous {
                context.update(tag.as_ref());
            }
            for part in seed_parts {
                context.update(part);
            }
            context.update(&[counter]);
            let tag = context.sign();
            let take = (len - output.len()).min(block_len);
            output.extend_from_slice(tag.as_ref().get(..take).unwrap_or_default());
            previous = Some(tag);
        }
        Ok(Secret::new(core::mem::take(&mut *output)))
    }
}

/// HMAC over the concatenation of `parts`.
pub(crate) fn hmac_parts(algorithm: hmac::Algorithm, key: &[u8], parts: &[&[u8]]) -> hmac::Tag {
    let signing_key = hmac::Key::new(algorithm, key);
    let mut context = hmac::Context::with_key(&signing_key);
    for part in parts {
        context.update(part);
    }
    context.sign()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.replace([' ', '\n'], "")).unwrap()
    }

    /// RFC 4231 test case 2 ("Jefe"), for all three PRFs.
    #[test]
    fn prf_matches_rfc4231_case_2() {
        let data = b"what do ya want for nothing?";
        let cases = [
            (
                PrfAlg::HmacSha256,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                PrfAlg::HmacSha384,
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e\
                 8e2240ca5e69e2c78b3239ecfab21649",
            ),
            (
                PrfAlg::HmacSha512,
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
                 9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ),
        ];
        for (prf, expected) in cases {
            let split: &[&[u8]] = &[&data[..10], &data[10..]];
            assert_eq!(prf.compute(b"Jefe", split).expose(), unhex(expected));
            assert_eq!(prf.compute(b"Jefe", &[data]).len(), prf.output_len());
        }
    }

    /// prf+ rebuilt by hand from its definition for the first three blocks.
    #[test]
    fn prf_plus_chains_blocks_with_counter() {
        let prf = PrfAlg::HmacSha256;
        let key = b"key";
        let seed = b"seed";
        let t1 = prf.compute(key, &[seed, &[1]]);
        let t2 = prf.compute(key, &[t1.expose(), seed, &[2]]);
        let t3 = prf.compute(key, &[t2.expose(), seed, &[3]]);
        let expected = [t1.expose(), t2.expose(), &t3.expose()[..10]].concat();
        let got = prf.prf_plus(key, &[&seed[..1], &seed[1..]], 74).unwrap();
        assert_eq!(got.expose(), expected);
        assert_eq!(prf.prf_plus(key, &[seed], 0).unwrap().len(), 0);
    }

    #[test]
    fn prf_plus_is_bounded_to_255_blocks() {
        for prf in [PrfAlg::HmacSha256, PrfAlg::HmacSha384, PrfAlg::HmacSha512] {
            let max = 255 * prf.output_len();
            assert_eq!(prf.prf_plus(b"k", &[b"s"], max).unwrap().len(), max);
            assert_eq!(
                prf.prf_plus(b"k", &[b"s"], max + 1),
                Err(CryptoError::PrfPlusTooLong { requested: max + 1 })
            );
        }
    }

    proptest::proptest! {
        /// A shorter prf+ output is always a prefix of a longer one from the same inputs.
        #[test]
        fn prf_plus_outputs_are_prefixes(
            key in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            seed in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            short in 0usize..300,
            extra in 0usize..300,
        ) {
            for prf in [PrfAlg::HmacSha256, PrfAlg::HmacSha384, PrfAlg::HmacSha512] {
                let a = prf.prf_plus(&key, &[&seed], short).unwrap();
                let b = prf.prf_plus(&key, &[&seed], short + extra).unwrap();
                proptest::prop_assert_eq!(a.len(), short);
                proptest::prop_assert_eq!(a.expose(), &b.expose()[..short]);
            }
        }
    }
}
