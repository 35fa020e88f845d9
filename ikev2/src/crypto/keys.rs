//! Key derivation: SKEYSEED and the SK_* keys of an IKE SA (RFC 7296 §2.14), the rekeyed IKE SA
//! (§2.18) and the CHILD_SA KEYMAT with its split into per-direction ESP keys (§2.17).

use crate::crypto::{
    CipherSuite, CryptoError, Direction, EncrAlg, IkeSuite, PrfAlg, Secret, SkCipher,
};

/// `SKEYSEED = prf(Ni | Nr, g^ir)` for a new IKE SA
/// (<https://www.rfc-editor.org/rfc/rfc7296#section-2.14>). Nonces are the payload bodies.
pub fn initial_skeyseed(prf: PrfAlg, ni: &[u8], nr: &[u8], shared_secret: &Secret) -> Secret {
    let nonces = [ni, nr].concat();
    prf.compute(&nonces, &[shared_secret.expose()])
}

/// `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)` for an IKE SA created by rekeying, computed
/// with the *old* IKE SA's PRF (<https://www.rfc-editor.org/rfc/rfc7296#section-2.18>).
pub fn rekeyed_skeyseed(
    old_prf: PrfAlg,
    old_sk_d: &Secret,
    shared_secret: &Secret,
    ni: &[u8],
    nr: &[u8],
) -> Secret {
    old_prf.compute(old_sk_d.expose(), &[shared_secret.expose(), ni, nr])
}

/// The seven keys of an IKE SA, in the order prf+ produces them.
///
/// With an AEAD suite `sk_ai` and `sk_ar` are `None` and `sk_ei`/`sk_er` end with the 4-byte
/// salt (RFC 5282 §7.1, RFC 7634 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSaKeys {
    /// SK_d: the key CHILD_SA KEYMAT and rekeyed IKE SAs are derived from.
    pub sk_d: Secret,
    /// SK_ai: integrity key of initiator-to-responder SK payloads.
    pub sk_ai: Option<Secret>,
    /// SK_ar: integrity key of responder-to-initiator SK payloads.
    pub sk_ar: Option<Secret>,
    /// SK_ei: encryption key (and salt) of initiator-to-responder SK payloads.
    pub sk_ei: Secret,
    /// SK_er: encryption key (and salt) of responder-to-initiator SK payloads.
    pub sk_er: Secret,
    /// SK_pi: the key the initiator's AUTH payload binds its identity with.
    pub sk_pi: Secret,
    /// SK_pr: the key the responder's AUTH payload binds its identity with.
    pub sk_pr: Secret,
}

impl IkeSaKeys {
    /// Derives the keys of a new IKE SA from the IKE_SA_INIT exchange: SKEYSEED from the nonces
    /// and the shared secret, then [`IkeSaKeys::from_skeyseed`].
    pub fn derive(
        suite: &IkeSuite,
        shared_secret: &Secret,
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<Self, CryptoError> {
        let skeyseed = initial_skeyseed(suite.prf, ni, nr, shared_secret);
        Self::from_skeyseed(suite, &skeyseed, ni, nr, spi_i, spi_r)
    }

    /// Derives the keys of an IKE SA created by rekeying (§2.18). `old_prf` and `old_sk_d` belong
    /// to the IKE SA being rekeyed, `suite` and the SPIs to the new one.
    #[allow(clippy::too_many_arguments)]
    pub fn derive_rekeyed(
        old_prf: PrfAlg,
        old_sk_d: &Secret,
        suite: &IkeSuite,
        shared_secret: &Secret,
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<Self, CryptoError> {
        let skeyseed = rekeyed_skeyseed(old_prf, old_sk_d, shared_secret, ni, nr);
        Self::from_skeyseed(suite, &skeyseed, ni, nr, spi_i, spi_r)
    }

    /// `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)`
    /// (<https://www.rfc-editor.org/rfc/rfc7296#section-2.14>).
    pub fn from_skeyseed(
        suite: &IkeSuite,
        skeyseed: &Secret,
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<Self, CryptoError> {
        let prf_key_len = suite.prf.key_len();
        let integ_len = suite.cipher.integ_key_len();
        let encr_len = suite.cipher.encr_key_len();
        let total = 3 * prf_key_len + 2 * integ_len + 2 * encr_len;
        let material = suite.prf.prf_plus(
            skeyseed.expose(),
            &[ni, nr, &spi_i.to_be_bytes(), &spi_r.to_be_bytes()],
            total,
        )?;
        let mut taker = KeyTaker::new(&material);
        let sk_d = taker.take(prf_key_len);
        let sk_ai = taker.take_optional(integ_len);
        let sk_ar = taker.take_optional(integ_len);
        let sk_ei = taker.take(encr_len);
        let sk_er = taker.take(encr_len);
        let sk_pi = taker.take(prf_key_len);
        let sk_pr = taker.take(prf_key_len);
        Ok(Self {
            sk_d,
            sk_ai,
            sk_ar,
            sk_ei,
            sk_er,
            sk_pi,
            sk_pr,
        })
    }

    /// The encryption key (with salt) and integrity key protecting SK payloads in `direction`.
    pub fn sk_keys(&self, direction: Direction) -> (&Secret, Option<&Secret>) {
        match direction {
            Direction::InitiatorToResponder => (&self.sk_ei, self.sk_ai.as_ref()),
            Direction::ResponderToInitiator => (&self.sk_er, self.sk_ar.as_ref()),
        }
    }

    /// The [`SkCipher`] for SK payloads sent in `direction`: the sender seals with it, the
    /// receiver opens. Build it once per IKE SA and direction (its AEAD IV counter lives in it).
    pub fn sk_cipher(
        &self,
        suite: &IkeSuite,
        direction: Direction,
    ) -> Result<SkCipher, CryptoError> {
        let (encr_key, integ_key) = self.sk_keys(direction);
        SkCipher::new(suite.cipher, encr_key, integ_key)
    }

    /// SK_pi or SK_pr: the key binding the identity of the side that sends in `direction`.
    pub fn sk_p(&self, direction: Direction) -> &Secret {
        match direction {
            Direction::InitiatorToResponder => &self.sk_pi,
            Direction::ResponderToInitiator => &self.sk_pr,
        }
    }
}

/// The ESP keys of one direction of a CHILD_SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspDirectionKeys {
    encr: EncrAlg,
    encr_key: Secret,
    integ_key: Option<Secret>,
}

impl EspDirectionKeys {
    /// The encryption keying material as taken from KEYMAT: the cipher key followed by the
    /// 4-byte salt for AEADs (RFC 4106 §8.1, RFC 7634 §4), the cipher key alone for CBC.
    pub fn encr_key_with_salt(&self) -> &Secret {
        &self.encr_key
    }

    /// The cipher key without the salt.
    pub fn cipher_key(&self) -> &[u8] {
        let key = self.encr_key.expose();
        key.get(..self.encr.cipher_key_len()).unwrap_or(key)
    }

    /// The AEAD salt (empty for CBC).
    pub fn salt(&self) -> &[u8] {
        self.encr_key
            .expose()
            .get(self.encr.cipher_key_len()..)
            .unwrap_or_default()
    }

    /// The integrity key (`None` for an AEAD).
    pub fn integ_key(&self) -> Option<&Secret> {
        self.integ_key.as_ref()
    }
}

/// The KEYMAT of a CHILD_SA, split per direction
/// (<https://www.rfc-editor.org/rfc/rfc7296#section-2.17>): all keys of the initiator-to-responder
/// SA come first, and within one SA the encryption key precedes the integrity key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildKeys {
    /// Keys of the ESP SA carrying initiator-to-responder traffic.
    pub initiator_to_responder: EspDirectionKeys,
    /// Keys of the ESP SA carrying responder-to-initiator traffic.
    pub responder_to_initiator: EspDirectionKeys,
}

impl ChildKeys {
    /// `KEYMAT = prf+(SK_d, Ni | Nr)`, or `prf+(SK_d, g^ir (new) | Ni | Nr)` when the
    /// CREATE_CHILD_SA exchange carried a key exchange (`pfs_shared_secret`). `prf` is the IKE
    /// SA's PRF; the nonces are those of the exchange that created the CHILD_SA.
    pub fn derive(
        prf: PrfAlg,
        sk_d: &Secret,
        esp: &CipherSuite,
        pfs_shared_secret: Option<&Secret>,
        ni: &[u8],
        nr: &[u8],
    ) -> Result<Self, CryptoError> {
        let encr_len = esp.encr_key_len();
        let integ_len = esp.integ_key_len();
        let shared: &[u8] = pfs_shared_secret.map_or(&[], Secret::expose);
        let material =
            prf.prf_plus(sk_d.expose(), &[shared, ni, nr], 2 * (encr_len + integ_len))?;
        let mut taker = KeyTaker::new(&material);
        let mut take_direction = || EspDirectionKeys {
            encr: esp.encr(),
            encr_key: taker.take(encr_len),
            integ_key: taker.take_optional(integ_len),
        };
        let initiator_to_responder = take_direction();
        let responder_to_initiator = take_direction();
        Ok(Self {
            initiator_to_responder,
            responder_to_initiator,
        })
    }

    /// The keys of the ESP SA carrying traffic in `direction`.
    pub fn direction(&self, direction: Direction) -> &EspDirectionKeys {
        match direction {
            Direction::InitiatorToResponder => &self.initiator_to_responder,
            Direction::ResponderToInitiator => &self.responder_to_initiator,
        }
    }
}

/// Cuts consecutive keys off prf+ output whose length was computed from the same sizes.
struct KeyTaker<'a> {
    rest: &'a [u8],
}

impl<'a> KeyTaker<'a> {
    fn new(material: &'a Secret) -> Self {
        Self {
            rest: material.expose(),
        }
    }

    fn take(&mut self, len: usize) -> Secret {
        let (key, rest) = self.rest.split_at(len.min(self.rest.len()));
        self.rest = rest;
        Secret::from_slice(key)
    }

    fn take_optional(&mut self, len: usize) -> Option<Secret> {
        (len > 0).then(|| self.take(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::IntegAlg;

    fn cbc_suite() -> IkeSuite {
        IkeSuite {
            prf: PrfAlg::HmacSha384,
            cipher: CipherSuite::new(EncrAlg::AesCbc256, Some(IntegAlg::HmacSha256_128)).unwrap(),
        }
    }

    #[test]
    fn ike_keys_are_consecutive_slices_of_prf_plus() {
        let suite = cbc_suite();
        let shared = Secret::from_slice(&[7; 32]);
        let (ni, nr) = ([1u8; 32], [2u8; 16]);
        let (spi_i, spi_r) = (0x0102_0304_0506_0708, 0x1112_1314_1516_1718);
        let keys = IkeSaKeys::derive(&suite, &shared, &ni, &nr, spi_i, spi_r).unwrap();

        let skeyseed = suite
            .prf
            .compute(&[ni.as_slice(), &nr].concat(), &[&[7; 32]]);
        let seed = [&ni[..], &nr, &spi_i.to_be_bytes(), &spi_r.to_be_bytes()].concat();
        let all = suite
            .prf
            .prf_plus(skeyseed.expose(), &[&seed], 48 * 3 + 32 * 2 + 32 * 2)
            .unwrap();
        let all = all.expose();
        let concatenated = [
            keys.sk_d.expose(),
            keys.sk_ai.as_ref().unwrap().expose(),
            keys.sk_ar.as_ref().unwrap().expose(),
            keys.sk_ei.expose(),
            keys.sk_er.expose(),
            keys.sk_pi.expose(),
            keys.sk_pr.expose(),
        ]
        .concat();
        assert_eq!(concatenated, all);
        assert_eq!(keys.sk_d.len(), 48);
        assert_eq!(keys.sk_ai.as_ref().unwrap().len(), 32);
        assert_eq!(keys.sk_ei.len(), 32);
    }

    #[test]
    fn rekeyed_ike_sa_uses_old_prf_for_skeyseed_and_new_prf_for_prf_plus() {
        let new_suite = cbc_suite();
        let old_sk_d = Secret::from_slice(&[9; 32]);
        let shared = Secret::from_slice(&[3; 48]);
        let (ni, nr) = ([4u8; 32], [5u8; 32]);
        let keys = IkeSaKeys::derive_rekeyed(
            PrfAlg::HmacSha256,
            &old_sk_d,
            &new_suite,
            &shared,
            &ni,
            &nr,
            1,
            2,
        )
        .unwrap();
        let skeyseed = PrfAlg::HmacSha256.compute(&[9; 32], &[&[3; 48], &ni, &nr]);
        let expected = IkeSaKeys::from_skeyseed(&new_suite, &skeyseed, &ni, &nr, 1, 2).unwrap();
        assert_eq!(keys, expected);
        assert_eq!(keys.sk_d.len(), 48, "new PRF's key length");
    }

    #[test]
    fn child_keys_with_pfs_prepend_the_shared_secret() {
        let esp = CipherSuite::new(EncrAlg::AesCbc128, Some(IntegAlg::HmacSha512_256)).unwrap();
        let sk_d = Secret::from_slice(&[1; 32]);
        let shared = Secret::from_slice(&[2; 32]);
        let (ni, nr) = ([3u8; 32], [4u8; 32]);
        let keys =
            ChildKeys::derive(PrfAlg::HmacSha256, &sk_d, &esp, Some(&shared), &ni, &nr).unwrap();
        let keymat = PrfAlg::HmacSha256
            .prf_plus(&[1; 32], &[&[2; 32], &ni, &nr], 2 * (16 + 64))
            .unwrap();
        let keymat = keymat.expose();
        let i2r = &keys.initiator_to_responder;
        let r2i = &keys.responder_to_initiator;
        assert_eq!(i2r.encr_key_with_salt().expose(), &keymat[..16]);
        assert_eq!(i2r.integ_key().unwrap().expose(), &keymat[16..80]);
        assert_eq!(r2i.cipher_key(), &keymat[80..96]);
        assert_eq!(r2i.integ_key().unwrap().expose(), &keymat[96..]);
        assert!(i2r.salt().is_empty());

        let without_pfs =
            ChildKeys::derive(PrfAlg::HmacSha256, &sk_d, &esp, None, &ni, &nr).unwrap();
        assert_ne!(without_pfs, keys);
    }

    #[test]
    fn aead_child_keys_split_key_and_salt() {
        let esp = CipherSuite::new(EncrAlg::ChaCha20Poly1305, None).unwrap();
        let sk_d = Secret::from_slice(&[1; 64]);
        let keys = ChildKeys::derive(PrfAlg::HmacSha512, &sk_d, &esp, None, b"ni", b"nr").unwrap();
        let keymat = PrfAlg::HmacSha512
            .prf_plus(&[1; 64], &[b"ni", b"nr"], 72)
            .unwrap();
        let i2r = keys.direction(Direction::InitiatorToResponder);
        assert_eq!(i2r.cipher_key(), &keymat.expose()[..32]);
        assert_eq!(i2r.salt(), &keymat.expose()[32..36]);
        assert!(i2r.integ_key().is_none());
        let r2i = keys.direction(Direction::ResponderToInitiator);
        assert_eq!(r2i.encr_key_with_salt().expose(), &keymat.expose()[36..]);
    }

    #[test]
    fn every_esp_suite_gets_rfc_sized_keys_per_direction() {
        let sk_d = Secret::from_slice(&[6; 32]);
        let mut suites = vec![
            (EncrAlg::AesGcm16_128, None, 16),
            (EncrAlg::AesGcm16_256, None, 32),
            (EncrAlg::ChaCha20Poly1305, None, 32),
        ];
        for encr in [EncrAlg::AesCbc128, EncrAlg::AesCbc256] {
            for integ in [
                IntegAlg::HmacSha256_128,
                IntegAlg::HmacSha384_192,
                IntegAlg::HmacSha512_256,
            ] {
                suites.push((encr, Some(integ), encr.cipher_key_len()));
            }
        }
        for (encr, integ, cipher_key_len) in suites {
            let esp = CipherSuite::new(encr, integ).unwrap();
            let keys =
                ChildKeys::derive(PrfAlg::HmacSha256, &sk_d, &esp, None, b"n", b"m").unwrap();
            for direction in [
                Direction::InitiatorToResponder,
                Direction::ResponderToInitiator,
            ] {
                let keys = keys.direction(direction);
                assert_eq!(keys.cipher_key().len(), cipher_key_len, "{encr:?}");
                let salt_len = if encr.is_aead() { 4 } else { 0 };
                assert_eq!(keys.salt().len(), salt_len, "{encr:?}");
                assert_eq!(
                    keys.integ_key().map(Secret::len),
                    integ.map(|integ| integ.key_len()),
                    "{integ:?}"
                );
            }
            assert_ne!(keys.initiator_to_responder, keys.responder_to_initiator);
        }
    }
}
