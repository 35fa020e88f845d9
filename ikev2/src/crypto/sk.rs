//! Protection of the Encrypted (SK) and Encrypted Fragment (SKF) payloads, independent of the
//! codec: the caller hands in the message octets that precede the payload body (the IKE header,
//! any unencrypted payloads and the SK/SKF payload header, lengths already final) and gets the
//! body `IV || ciphertext || ICV` back, or the plaintext of a received body.
//!
//! - AES-GCM-16 and ChaCha20-Poly1305 (RFC 5282, RFC 7634): 8-byte explicit IV, nonce = salt || IV,
//!   AAD = the octets before the body, 16-byte tag as the ICV. The IV is a per-key 64-bit counter
//!   (RFC 5282 §3.1 only demands uniqueness per key; a counter guarantees it where 64 random bits
//!   would only make a repeat unlikely), so each [`SkCipher`] must be built once per key and
//!   direction and never cloned.
//! - AES-CBC with HMAC-SHA2 (RFC 7296 §3.14, RFC 4868): 16-byte random IV from the injected RNG,
//!   ICV = HMAC truncated, over everything from the first octet of the IKE header to the end of the
//!   ciphertext; checked before anything is decrypted.
//!
//! For SKF (RFC 7383 §2.5) the same calls apply: the prefix then ends with the 8-byte SKF header
//! whose Fragment Number and Total Fragments are thereby authenticated.
//!
//! The plaintext is followed by Padding and a Pad Length octet (RFC 7296 §3.14): CBC pads to the
//! block size, the AEADs add none. On open, a Pad Length that does not fit is refused with the same
//! [`CryptoError::OpenFailed`] as a bad ICV.

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use rand_core::CryptoRngCore;
use ring::hmac;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::crypto::prf::hmac_parts;
use crate::crypto::{CipherSuite, CryptoError, EncrAlg, IntegAlg, Secret};

/// Largest plaintext accepted for one encrypted payload (an IKE message is at most 64 KiB).
const MAX_PLAINTEXT_LEN: usize = 0xFFFF;

/// Length of the AEAD explicit IV (RFC 5282 §3.1, RFC 7634 §2).
const AEAD_IV_LEN: usize = 8;

/// Length of the AEAD salt at the end of the keying material.
const AEAD_SALT_LEN: usize = 4;

/// One direction's SK payload protection: built from SK_ei/SK_ai (initiator to responder) or
/// SK_er/SK_ar (responder to initiator), once per key.
pub struct SkCipher {
    suite: CipherSuite,
    protection: Protection,
}

/// The keys in the shape each construction needs; invalid pairings cannot be represented.
enum Protection {
    Aead {
        alg: AeadAlg,
        key_with_salt: Secret,
        next_iv: u64,
    },
    CbcHmac {
        cipher: CbcAlg,
        encr_key: Secret,
        integ: IntegAlg,
        integ_key: Secret,
    },
}

#[derive(Clone, Copy)]
enum AeadAlg {
    AesGcm128,
    AesGcm256,
    ChaCha20Poly1305,
}

#[derive(Clone, Copy)]
enum CbcAlg {
    Aes128,
    Aes256,
}

impl SkCipher {
    /// Builds the cipher for `suite` from its encryption key (with salt for AEADs) and integrity
    /// key, checking both lengths.
    pub fn new(
        suite: CipherSuite,
        encr_key: &Secret,
        integ_key: Option<&Secret>,
    ) -> Result<Self, CryptoError> {
        check_len(suite.encr_key_len(), encr_key)?;
        let aead = |alg| match integ_key {
            None => Ok(Protection::Aead {
                alg,
                key_with_salt: encr_key.clone(),
                next_iv: 0,
            }),
            Some(key) => Err(CryptoError::InvalidKeyLength {
                expected: 0,
                actual: key.len(),
            }),
        };
        let cbc = |cipher| {
            let integ = suite.integ().ok_or(CryptoError::InvalidSuite)?;
            let integ_key = integ_key.ok_or(CryptoError::InvalidKeyLength {
                expected: integ.key_len(),
                actual: 0,
            })?;
            check_len(integ.key_len(), integ_key)?;
            Ok(Protection::CbcHmac {
                cipher,
                encr_key: encr_key.clone(),
                integ,
                integ_key: integ_key.clone(),
            })
        };
        let protection = match suite.encr() {
            EncrAlg::AesGcm16_128 => aead(AeadAlg::AesGcm128)?,
            EncrAlg::AesGcm16_256 => aead(AeadAlg::AesGcm256)?,
            EncrAlg::ChaCha20Poly1305 => aead(AeadAlg::ChaCha20Poly1305)?,
            EncrAlg::AesCbc128 => cbc(CbcAlg::Aes128)?,
            EncrAlg::AesCbc256 => cbc(CbcAlg::Aes256)?,
        };
        Ok(Self { suite, protection })
    }

    /// The suite this cipher implements.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// Length of the payload body [`SkCipher::seal`] produces for `plaintext_len` bytes, so the
    /// caller can write the payload and message lengths into the prefix before sealing.
    pub fn sealed_len(&self, plaintext_len: usize) -> usize {
        let encr = self.suite.encr();
        encr.iv_len() + padded_len(encr, plaintext_len) + self.suite.icv_len()
    }

    /// The largest plaintext whose sealed body fits in `body_len` bytes (for fragmentation), or
    /// `None` if not even an empty one does.
    pub fn max_plaintext_len(&self, body_len: usize) -> Option<usize> {
        let encr = self.suite.encr();
        let room = body_len.checked_sub(encr.iv_len() + self.suite.icv_len())?;
        let whole_blocks = room - room % encr.block_len();
        whole_blocks.checked_sub(1)
    }

    /// Encrypts and authenticates `plaintext` (the inner payload chain) and returns the payload
    /// body `IV || ciphertext || ICV` of exactly [`SkCipher::sealed_len`] bytes. `aad_prefix` is
    /// every octet of the message before the body, with final length fields. `rng` supplies the
    /// CBC IVs; the AEADs do not use it.
    pub fn seal<R: CryptoRngCore + ?Sized>(
        &mut self,
        aad_prefix: &[u8],
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, CryptoError> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(CryptoError::PlaintextTooLong(plaintext.len()));
        }
        let encr = self.suite.encr();
        let iv_len = encr.iv_len();
        let padded = padded_len(encr, plaintext.len());
        let mut body = Vec::with_capacity(self.sealed_len(plaintext.len()));
        match &mut self.protection {
            Protection::Aead {
                alg,
                key_with_salt,
                next_iv,
            } => {
                let iv = *next_iv;
                *next_iv = iv.checked_add(1).ok_or(CryptoError::IvExhausted)?;
                body.extend_from_slice(&iv.to_be_bytes());
                append_padded(&mut body, plaintext, padded);
                let (iv, payload) = body.split_at_mut(iv_len);
                let tag = alg.seal(key_with_salt, iv, aad_prefix, payload)?;
                body.extend_from_slice(&tag);
            }
            Protection::CbcHmac {
                cipher,
                encr_key,
                integ,
                integ_key,
            } => {
                body.resize(iv_len, 0);
                rng.fill_bytes(&mut body);
                append_padded(&mut body, plaintext, padded);
                let (iv, payload) = body.split_at_mut(iv_len);
                cipher.encrypt(encr_key, iv, payload)?;
                let tag = hmac_parts(
                    integ.hmac_algorithm(),
                    integ_key.expose(),
                    &[aad_prefix, &body],
                );
                body.extend_from_slice(tag.as_ref().get(..integ.icv_len()).unwrap_or_default());
            }
        }
        Ok(body)
    }

    /// Verifies and decrypts a received payload body `IV || ciphertext || ICV` and returns the
    /// inner payload chain without padding. Every failure is [`CryptoError::OpenFailed`].
    pub fn open(&self, aad_prefix: &[u8], sk_body: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let encr = self.suite.encr();
        let icv_len = self.suite.icv_len();
        let (iv, rest) = sk_body
            .split_at_checked(encr.iv_len())
            .ok_or(CryptoError::OpenFailed)?;
        let ciphertext_len = rest
            .len()
            .checked_sub(icv_len)
            .ok_or(CryptoError::OpenFailed)?;
        let (ciphertext, icv) = rest
            .split_at_checked(ciphertext_len)
            .ok_or(CryptoError::OpenFailed)?;
        // At least the Pad Length octet, and whole blocks.
        if ciphertext.is_empty() || ciphertext.len() % encr.block_len() != 0 {
            return Err(CryptoError::OpenFailed);
        }
        let mut plaintext = Zeroizing::new(ciphertext.to_vec());
        match &self.protection {
            Protection::Aead {
                alg, key_with_salt, ..
            } => alg.open(key_with_salt, iv, aad_prefix, &mut plaintext, icv)?,
            Protection::CbcHmac {
                cipher,
                encr_key,
                integ,
                integ_key,
            } => {
                // Encrypt-then-MAC: nothing is decrypted before the ICV verifies.
                let expected = hmac_parts(
                    integ.hmac_algorithm(),
                    integ_key.expose(),
                    &[aad_prefix, iv, ciphertext],
                );
                let expected = expected.as_ref().get(..icv_len).unwrap_or_default();
                if !bool::from(expected.ct_eq(icv)) {
                    return Err(CryptoError::OpenFailed);
                }
                cipher.decrypt(encr_key, iv, &mut plaintext)?;
            }
        }
        let (&pad_len, padded) = plaintext.split_last().ok_or(CryptoError::OpenFailed)?;
        let inner_len = padded
            .len()
            .checked_sub(usize::from(pad_len))
            .ok_or(CryptoError::OpenFailed)?;
        Ok(padded.get(..inner_len).unwrap_or_default().to_vec())
    }
}

impl core::fmt::Debug for SkCipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SkCipher")
            .field("suite", &self.suite)
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl AeadAlg {
    fn seal(
        self,
        key_with_salt: &Secret,
        iv: &[u8],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<Vec<u8>, CryptoError> {
        match self {
            Self::AesGcm128 => aead_seal::<aes_gcm::Aes128Gcm>(key_with_salt, iv, aad, buffer),
            Self::AesGcm256 => aead_seal::<aes_gcm::Aes256Gcm>(key_with_salt, iv, aad, buffer),
            Self::ChaCha20Poly1305 => {
                aead_seal::<chacha20poly1305::ChaCha20Poly1305>(key_with_salt, iv, aad, buffer)
            }
        }
    }

    fn open(
        self,
        key_with_salt: &Secret,
        iv: &[u8],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        match self {
            Self::AesGcm128 => aead_open::<aes_gcm::Aes128Gcm>(key_with_salt, iv, aad, buffer, tag),
            Self::AesGcm256 => aead_open::<aes_gcm::Aes256Gcm>(key_with_salt, iv, aad, buffer, tag),
            Self::ChaCha20Poly1305 => {
                aead_open::<chacha20poly1305::ChaCha20Poly1305>(key_with_salt, iv, aad, buffer, tag)
            }
        }
    }
}

impl CbcAlg {
    fn encrypt(self, key: &Secret, iv: &[u8], blocks: &mut [u8]) -> Result<(), CryptoError> {
        let len = blocks.len();
        let result = match self {
            Self::Aes128 => cbc::Encryptor::<aes::Aes128>::new_from_slices(key.expose(), iv)
                .map(|c| c.encrypt_padded_mut::<NoPadding>(blocks, len).is_ok()),
            Self::Aes256 => cbc::Encryptor::<aes::Aes256>::new_from_slices(key.expose(), iv)
                .map(|c| c.encrypt_padded_mut::<NoPadding>(blocks, len).is_ok()),
        };
        match result {
            Ok(true) => Ok(()),
            _ => Err(CryptoError::InvalidSuite),
        }
    }

    fn decrypt(self, key: &Secret, iv: &[u8], blocks: &mut [u8]) -> Result<(), CryptoError> {
        let result = match self {
            Self::Aes128 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key.expose(), iv)
                .map(|c| c.decrypt_padded_mut::<NoPadding>(blocks).is_ok()),
            Self::Aes256 => cbc::Decryptor::<aes::Aes256>::new_from_slices(key.expose(), iv)
                .map(|c| c.decrypt_padded_mut::<NoPadding>(blocks).is_ok()),
        };
        match result {
            Ok(true) => Ok(()),
            _ => Err(CryptoError::OpenFailed),
        }
    }
}

impl IntegAlg {
    fn hmac_algorithm(self) -> hmac::Algorithm {
        match self {
            Self::HmacSha256_128 => hmac::HMAC_SHA256,
            Self::HmacSha384_192 => hmac::HMAC_SHA384,
            Self::HmacSha512_256 => hmac::HMAC_SHA512,
        }
    }
}

fn check_len(expected: usize, key: &Secret) -> Result<(), CryptoError> {
    if key.len() == expected {
        Ok(())
    } else {
        Err(CryptoError::InvalidKeyLength {
            expected,
            actual: key.len(),
        })
    }
}

/// Length of plaintext plus padding plus the Pad Length octet.
fn padded_len(encr: EncrAlg, plaintext_len: usize) -> usize {
    let block = encr.block_len();
    (plaintext_len + 1).div_ceil(block) * block
}

/// Appends `plaintext`, zero Padding and the Pad Length octet, `padded` bytes in all.
fn append_padded(body: &mut Vec<u8>, plaintext: &[u8], padded: usize) {
    let pad_len = padded - plaintext.len() - 1;
    body.extend_from_slice(plaintext);
    body.resize(body.len() + pad_len, 0);
    // Padding is shorter than one 16-byte block, so the count fits an octet.
    body.push(u8::try_from(pad_len).unwrap_or(u8::MAX));
}

/// Splits AEAD keying material into the cipher key and the 4-byte salt, and builds the 12-byte
/// nonce `salt || IV` (RFC 5282 §4, RFC 7634 §2).
fn aead_key_and_nonce<'k>(key_with_salt: &'k Secret, iv: &[u8]) -> Option<(&'k [u8], [u8; 12])> {
    let material = key_with_salt.expose();
    let (key, salt) = material.split_at_checked(material.len().checked_sub(AEAD_SALT_LEN)?)?;
    let mut nonce = [0u8; AEAD_SALT_LEN + AEAD_IV_LEN];
    nonce.get_mut(..AEAD_SALT_LEN)?.copy_from_slice(salt);
    nonce
        .get_mut(AEAD_SALT_LEN..)?
        .copy_from_slice(iv.get(..AEAD_IV_LEN)?);
    Some((key, nonce))
}

fn aead_seal<A: AeadInPlace + KeyInit>(
    key_with_salt: &Secret,
    iv: &[u8],
    aad: &[u8],
    buffer: &mut [u8],
) -> Result<Vec<u8>, CryptoError> {
    let (key, nonce) = aead_key_and_nonce(key_with_salt, iv).ok_or(CryptoError::InvalidSuite)?;
    let cipher = A::new_from_slice(key).map_err(|_| CryptoError::InvalidSuite)?;
    let nonce =
        GenericArray::from_exact_iter(nonce.iter().copied()).ok_or(CryptoError::InvalidSuite)?;
    let tag = cipher
        .encrypt_in_place_detached(&nonce, aad, buffer)
        .map_err(|_| CryptoError::PlaintextTooLong(buffer.len()))?;
    Ok(tag.to_vec())
}

fn aead_open<A: AeadInPlace + KeyInit>(
    key_with_salt: &Secret,
    iv: &[u8],
    aad: &[u8],
    buffer: &mut [u8],
    tag: &[u8],
) -> Result<(), CryptoError> {
    let (key, nonce) = aead_key_and_nonce(key_with_salt, iv).ok_or(CryptoError::OpenFailed)?;
    let cipher = A::new_from_slice(key).map_err(|_| CryptoError::OpenFailed)?;
    let nonce =
        GenericArray::from_exact_iter(nonce.iter().copied()).ok_or(CryptoError::OpenFailed)?;
    let tag = GenericArray::from_exact_iter(tag.iter().copied()).ok_or(CryptoError::OpenFailed)?;
    cipher
        .decrypt_in_place_detached(&nonce, aad, buffer, &tag)
        .map_err(|_| CryptoError::OpenFailed)
}
