//! The algorithms this implementation negotiates, with their IANA transform IDs and sizes.
//!
//! These enums are the crypto layer's own; the wire codec keeps raw `u16` transform IDs and the
//! engine converts with `from_transform_id` / `transform_id`
//! (<https://www.iana.org/assignments/ikev2-parameters>). The same encryption and integrity
//! transforms serve IKE (the SK payload) and ESP (the KEYMAT split of RFC 7296 §2.17).

use crate::crypto::CryptoError;

/// Pseudorandom function (transform type 2), RFC 4868.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrfAlg {
    /// PRF_HMAC_SHA2_256 (5).
    HmacSha256,
    /// PRF_HMAC_SHA2_384 (6).
    HmacSha384,
    /// PRF_HMAC_SHA2_512 (7).
    HmacSha512,
}

impl PrfAlg {
    /// The algorithm for an IANA PRF transform ID, if supported.
    pub fn from_transform_id(id: u16) -> Option<Self> {
        match id {
            5 => Some(Self::HmacSha256),
            6 => Some(Self::HmacSha384),
            7 => Some(Self::HmacSha512),
            _ => None,
        }
    }

    /// The IANA PRF transform ID.
    pub fn transform_id(self) -> u16 {
        match self {
            Self::HmacSha256 => 5,
            Self::HmacSha384 => 6,
            Self::HmacSha512 => 7,
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::HmacSha256 => 32,
            Self::HmacSha384 => 48,
            Self::HmacSha512 => 64,
        }
    }

    /// Preferred key length in bytes: the length of SK_d, SK_pi and SK_pr
    /// (RFC 4868 §2.1.2: equal to the output length).
    pub fn key_len(self) -> usize {
        self.output_len()
    }
}

/// Encryption algorithm (transform type 1) including its key size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncrAlg {
    /// ENCR_AES_CBC (12) with a 128-bit key.
    AesCbc128,
    /// ENCR_AES_CBC (12) with a 256-bit key.
    AesCbc256,
    /// ENCR_AES_GCM_16 (20) with a 128-bit key, RFC 5282 / RFC 4106.
    AesGcm16_128,
    /// ENCR_AES_GCM_16 (20) with a 256-bit key, RFC 5282 / RFC 4106.
    AesGcm16_256,
    /// ENCR_CHACHA20_POLY1305 (28), RFC 7634.
    ChaCha20Poly1305,
}

impl EncrAlg {
    /// The algorithm for an IANA encryption transform ID and its Key Length attribute (in bits),
    /// if supported. AES requires the attribute; ChaCha20-Poly1305 has a fixed key and accepts
    /// only an absent attribute or 256.
    pub fn from_transform_id(id: u16, key_bits: Option<u16>) -> Option<Self> {
        match (id, key_bits) {
            (12, Some(128)) => Some(Self::AesCbc128),
            (12, Some(256)) => Some(Self::AesCbc256),
            (20, Some(128)) => Some(Self::AesGcm16_128),
            (20, Some(256)) => Some(Self::AesGcm16_256),
            (28, None | Some(256)) => Some(Self::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// The IANA encryption transform ID.
    pub fn transform_id(self) -> u16 {
        match self {
            Self::AesCbc128 | Self::AesCbc256 => 12,
            Self::AesGcm16_128 | Self::AesGcm16_256 => 20,
            Self::ChaCha20Poly1305 => 28,
        }
    }

    /// The Key Length attribute to send in a proposal (`None`: the transform has none).
    pub fn key_bits_attribute(self) -> Option<u16> {
        match self {
            Self::AesCbc128 | Self::AesGcm16_128 => Some(128),
            Self::AesCbc256 | Self::AesGcm16_256 => Some(256),
            Self::ChaCha20Poly1305 => None,
        }
    }

    /// Whether this is an AEAD (no separate integrity transform).
    pub fn is_aead(self) -> bool {
        !matches!(self, Self::AesCbc128 | Self::AesCbc256)
    }

    /// Length of the cipher key proper, in bytes.
    pub fn cipher_key_len(self) -> usize {
        match self {
            Self::AesCbc128 | Self::AesGcm16_128 => 16,
            Self::AesCbc256 | Self::AesGcm16_256 | Self::ChaCha20Poly1305 => 32,
        }
    }

    /// Length of the salt taken from the keying material after the key: 4 bytes for the AEADs
    /// (RFC 5282 §7.1, RFC 4106 §8.1, RFC 7634 §4), none for CBC.
    pub fn salt_len(self) -> usize {
        if self.is_aead() {
            4
        } else {
            0
        }
    }

    /// Length of the keying material taken for this cipher (key then salt).
    pub fn key_len(self) -> usize {
        self.cipher_key_len() + self.salt_len()
    }

    /// Length of the IV carried in each encrypted payload.
    pub fn iv_len(self) -> usize {
        if self.is_aead() {
            8
        } else {
            16
        }
    }

    /// Length of the AEAD authentication tag (0 for CBC, whose ICV comes from [`IntegAlg`]).
    pub fn aead_tag_len(self) -> usize {
        if self.is_aead() {
            16
        } else {
            0
        }
    }

    /// Block size the padded plaintext must be a multiple of.
    pub fn block_len(self) -> usize {
        if self.is_aead() {
            1
        } else {
            16
        }
    }
}

/// Integrity algorithm (transform type 3), RFC 4868.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntegAlg {
    /// AUTH_HMAC_SHA2_256_128 (12).
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_384_192 (13).
    HmacSha384_192,
    /// AUTH_HMAC_SHA2_512_256 (14).
    HmacSha512_256,
}

impl IntegAlg {
    /// The algorithm for an IANA integrity transform ID, if supported.
    pub fn from_transform_id(id: u16) -> Option<Self> {
        match id {
            12 => Some(Self::HmacSha256_128),
            13 => Some(Self::HmacSha384_192),
            14 => Some(Self::HmacSha512_256),
            _ => None,
        }
    }

    /// The IANA integrity transform ID.
    pub fn transform_id(self) -> u16 {
        match self {
            Self::HmacSha256_128 => 12,
            Self::HmacSha384_192 => 13,
            Self::HmacSha512_256 => 14,
        }
    }

    /// Key length in bytes (RFC 4868 §2.1.1: the hash output length).
    pub fn key_len(self) -> usize {
        match self {
            Self::HmacSha256_128 => 32,
            Self::HmacSha384_192 => 48,
            Self::HmacSha512_256 => 64,
        }
    }

    /// Length of the truncated ICV in bytes.
    pub fn icv_len(self) -> usize {
        self.key_len() / 2
    }
}

/// Key exchange method (transform type 4, "Diffie-Hellman group").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// 256-bit random ECP group (19), RFC 5903.
    Ecp256,
    /// 384-bit random ECP group (20), RFC 5903.
    Ecp384,
    /// Curve25519 (31), RFC 8031.
    Curve25519,
}

impl DhGroup {
    /// The group for an IANA key exchange method number, if supported.
    pub fn from_transform_id(id: u16) -> Option<Self> {
        match id {
            19 => Some(Self::Ecp256),
            20 => Some(Self::Ecp384),
            31 => Some(Self::Curve25519),
            _ => None,
        }
    }

    /// The IANA key exchange method number (also carried in the KE payload).
    pub fn transform_id(self) -> u16 {
        match self {
            Self::Ecp256 => 19,
            Self::Ecp384 => 20,
            Self::Curve25519 => 31,
        }
    }

    /// Length of the public value in the KE payload: x || y for ECP (RFC 5903 §7), the
    /// u-coordinate for Curve25519 (RFC 8031 §3).
    pub fn public_len(self) -> usize {
        match self {
            Self::Ecp256 => 64,
            Self::Ecp384 => 96,
            Self::Curve25519 => 32,
        }
    }

    /// Length of the shared secret g^ir.
    pub fn shared_secret_len(self) -> usize {
        match self {
            Self::Ecp256 | Self::Curve25519 => 32,
            Self::Ecp384 => 48,
        }
    }
}

/// An encryption algorithm with its integrity algorithm: the protection of the SK payload or of
/// an ESP SA. Construction checks the pair: AEADs have no integrity transform, CBC needs one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CipherSuite {
    encr: EncrAlg,
    integ: Option<IntegAlg>,
}

impl CipherSuite {
    /// Pairs `encr` with `integ`, refusing an AEAD with integrity or a non-AEAD without.
    pub fn new(encr: EncrAlg, integ: Option<IntegAlg>) -> Result<Self, CryptoError> {
        if encr.is_aead() == integ.is_none() {
            Ok(Self { encr, integ })
        } else {
            Err(CryptoError::InvalidSuite)
        }
    }

    /// The encryption algorithm.
    pub fn encr(&self) -> EncrAlg {
        self.encr
    }

    /// The integrity algorithm (`None` for an AEAD).
    pub fn integ(&self) -> Option<IntegAlg> {
        self.integ
    }

    /// Length of the encryption keying material (key plus salt).
    pub fn encr_key_len(&self) -> usize {
        self.encr.key_len()
    }

    /// Length of the integrity key (0 for an AEAD).
    pub fn integ_key_len(&self) -> usize {
        self.integ.map_or(0, IntegAlg::key_len)
    }

    /// Length of the ICV: the AEAD tag, or the truncated HMAC.
    pub fn icv_len(&self) -> usize {
        self.integ
            .map_or(self.encr.aead_tag_len(), IntegAlg::icv_len)
    }
}

/// The negotiated IKE SA suite: PRF plus SK payload protection. (The key exchange group is used
/// only to produce the shared secret and is not needed here.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IkeSuite {
    /// The PRF, used for SKEYSEED, prf+, AUTH and the CHILD_SA KEYMAT.
    pub prf: PrfAlg,
    /// The SK payload protection.
    pub cipher: CipherSuite,
}

/// The direction keys and ciphers are for, named as in RFC 7296 §2.14 and §2.17.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Traffic sent by the original initiator (SK_ei/SK_ai, the first half of KEYMAT).
    InitiatorToResponder,
    /// Traffic sent by the original responder (SK_er/SK_ar, the second half of KEYMAT).
    ResponderToInitiator,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transform_ids_round_trip() {
        for id in 0..=u16::MAX {
            if let Some(prf) = PrfAlg::from_transform_id(id) {
                assert_eq!(prf.transform_id(), id);
            }
            if let Some(integ) = IntegAlg::from_transform_id(id) {
                assert_eq!(integ.transform_id(), id);
            }
            if let Some(group) = DhGroup::from_transform_id(id) {
                assert_eq!(group.transform_id(), id);
            }
        }
        for encr in [
            EncrAlg::AesCbc128,
            EncrAlg::AesCbc256,
            EncrAlg::AesGcm16_128,
            EncrAlg::AesGcm16_256,
            EncrAlg::ChaCha20Poly1305,
        ] {
            let back = EncrAlg::from_transform_id(encr.transform_id(), encr.key_bits_attribute());
            assert_eq!(back, Some(encr));
        }
    }

    #[test]
    fn unsupported_transforms_are_none() {
        assert_eq!(PrfAlg::from_transform_id(2), None, "PRF_HMAC_SHA1");
        assert_eq!(IntegAlg::from_transform_id(2), None, "AUTH_HMAC_SHA1_96");
        assert_eq!(DhGroup::from_transform_id(14), None, "MODP-2048");
        assert_eq!(
            EncrAlg::from_transform_id(12, None),
            None,
            "AES without key length"
        );
        assert_eq!(EncrAlg::from_transform_id(12, Some(192)), None);
        assert_eq!(EncrAlg::from_transform_id(28, Some(128)), None);
        assert_eq!(EncrAlg::from_transform_id(3, None), None, "3DES");
    }

    #[test]
    fn suites_pair_aead_without_integrity_only() {
        assert!(CipherSuite::new(EncrAlg::AesGcm16_256, None).is_ok());
        assert!(CipherSuite::new(EncrAlg::AesCbc128, Some(IntegAlg::HmacSha256_128)).is_ok());
        assert_eq!(
            CipherSuite::new(EncrAlg::AesGcm16_256, Some(IntegAlg::HmacSha256_128)),
            Err(CryptoError::InvalidSuite)
        );
        assert_eq!(
            CipherSuite::new(EncrAlg::AesCbc256, None),
            Err(CryptoError::InvalidSuite)
        );
    }

    #[test]
    fn key_lengths_follow_the_rfcs() {
        assert_eq!(EncrAlg::AesGcm16_256.key_len(), 36);
        assert_eq!(EncrAlg::AesGcm16_128.key_len(), 20);
        assert_eq!(EncrAlg::ChaCha20Poly1305.key_len(), 36);
        assert_eq!(EncrAlg::AesCbc128.key_len(), 16);
        assert_eq!(IntegAlg::HmacSha384_192.icv_len(), 24);
        assert_eq!(IntegAlg::HmacSha512_256.key_len(), 64);
    }
}
