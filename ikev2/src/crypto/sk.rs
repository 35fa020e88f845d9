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

/// One direction's SK payload protection: built from SK_ei/SK_ai (initiator to responder) or
/// SK_er/SK_ar (responder to initiator).
pub struct SkCipher {
    suite: CipherSuite,
    encr_key: Secret,
    integ_key: Option<Secret>,
    next_aead_iv: u64,
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
        match (suite.integ(), integ_key) {
            (Some(integ), Some(key)) => check_len(integ.key_len(), key)?,
            (None, None) => {}
            (Some(integ), None) => {
                return Err(CryptoError::InvalidKeyLength {
                    expected: integ.key_len(),
                    actual: 0,
                })
            }
            (None, Some(key)) => {
                return Err(CryptoError::InvalidKeyLength {
                    expected: 0,
                    actual: key.len(),
                })
            }
        }
        Ok(Self {
            suite,
            encr_key: encr_key.clone(),
            integ_key: integ_key.cloned(),
            next_aead_iv: 0,
        })
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
    /// every octet of the message before the body, with final length fields.
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
        let mut body = Vec::with_capacity(self.sealed_len(plaintext.len()));
        if encr.is_aead() {
            let counter = self.next_aead_iv;
            self.next_aead_iv = counter.checked_add(1).ok_or(CryptoError::IvExhausted)?;
            body.extend_from_slice(&counter.to_be_bytes());
        } else {
            body.resize(iv_len, 0);
            rng.fill_bytes(&mut body);
        }
        let padded = padded_len(encr, plaintext.len());
        body.extend_from_slice(plaintext);
        // Padding octets are zero; the last octet of the padded block is the Pad Length.
        let pad_len = padded - plaintext.len() - 1;
        body.resize(iv_len + padded - 1, 0);
        body.push(u8::try_from(pad_len).map_err(|_| CryptoError::PlaintextTooLong(padded))?);

        let (iv, payload) = body.split_at_mut(iv_len);
        match (encr, &self.integ_key, self.suite.integ()) {
            (EncrAlg::AesCbc128, Some(key), Some(integ)) => {
                cbc_encrypt::<aes::Aes128>(self.encr_key.expose(), iv, payload)?;
                append_truncated_hmac(&mut body, integ, key, aad_prefix);
            }
            (EncrAlg::AesCbc256, Some(key), Some(integ)) => {
                cbc_encrypt::<aes::Aes256>(self.encr_key.expose(), iv, payload)?;
                append_truncated_hmac(&mut body, integ, key, aad_prefix);
            }
            (EncrAlg::AesGcm16_128, None, None) => {
                let tag = aead_seal::<aes_gcm::Aes128Gcm>(&self.encr_key, iv, aad_prefix, payload)?;
                body.extend_from_slice(&tag);
            }
            (EncrAlg::AesGcm16_256, None, None) => {
                let tag = aead_seal::<aes_gcm::Aes256Gcm>(&self.encr_key, iv, aad_prefix, payload)?;
                body.extend_from_slice(&tag);
            }
            (EncrAlg::ChaCha20Poly1305, None, None) => {
                let tag = aead_seal::<chacha20poly1305::ChaCha20Poly1305>(
                    &self.encr_key,
                    iv,
                    aad_prefix,
                    payload,
                )?;
                body.extend_from_slice(&tag);
            }
            _ => return Err(CryptoError::InvalidSuite),
        }
        Ok(body)
    }

    /// Verifies and decrypts a received payload body `IV || ciphertext || ICV` and returns the
    /// inner payload chain without padding. Every failure is [`CryptoError::OpenFailed`].
    pub fn open(&self, aad_prefix: &[u8], sk_body: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let encr = self.suite.encr();
        let icv_len = self.suite.icv_len();
        let minimum = encr.iv_len() + encr.block_len() + icv_len;
        if sk_body.len() < minimum {
            return Err(CryptoError::OpenFailed);
        }
        let (iv, rest) = sk_body.split_at(encr.iv_len());
        let (ciphertext, icv) = rest.split_at(rest.len() - icv_len);
        if ciphertext.len() % encr.block_len() != 0 {
            return Err(CryptoError::OpenFailed);
        }
        let mut plaintext = Zeroizing::new(ciphertext.to_vec());
        match (encr, &self.integ_key, self.suite.integ()) {
            (EncrAlg::AesCbc128 | EncrAlg::AesCbc256, Some(key), Some(integ)) => {
                let expected = hmac_parts(
                    integ_hmac_algorithm(integ),
                    key.expose(),
                    &[aad_prefix, iv, ciphertext],
                );
                let expected = expected.as_ref().get(..icv_len).unwrap_or_default();
                if !bool::from(expected.ct_eq(icv)) {
                    return Err(CryptoError::OpenFailed);
                }
                if encr == EncrAlg::AesCbc128 {
                    cbc_decrypt::<aes::Aes128>(self.encr_key.expose(), iv, &mut plaintext)?;
                } else {
                    cbc_decrypt::<aes::Aes256>(self.encr_key.expose(), iv, &mut plaintext)?;
                }
            }
            (EncrAlg::AesGcm16_128, None, None) => {
                aead_open::<aes_gcm::Aes128Gcm>(
                    &self.encr_key,
                    iv,
                    aad_prefix,
                    &mut plaintext,
                    icv,
                )?;
            }
            (EncrAlg::AesGcm16_256, None, None) => {
                aead_open::<aes_gcm::Aes256Gcm>(
                    &self.encr_key,
                    iv,
                    aad_prefix,
                    &mut plaintext,
                    icv,
                )?;
            }
            (EncrAlg::ChaCha20Poly1305, None, None) => {
                aead_open::<chacha20poly1305::ChaCha20Poly1305>(
                    &self.encr_key,
                    iv,
                    aad_prefix,
                    &mut plaintext,
                    icv,
                )?;
            }
            _ => return Err(CryptoError::OpenFailed),
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
            .field("next_aead_iv", &self.next_aead_iv)
            .finish()
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

fn integ_hmac_algorithm(integ: IntegAlg) -> hmac::Algorithm {
    match integ {
        IntegAlg::HmacSha256_128 => hmac::HMAC_SHA256,
        IntegAlg::HmacSha384_192 => hmac::HMAC_SHA384,
        IntegAlg::HmacSha512_256 => hmac::HMAC_SHA512,
    }
}

/// Appends the truncated HMAC over `aad_prefix || body` (body = IV || ciphertext).
fn append_truncated_hmac(body: &mut Vec<u8>, integ: IntegAlg, key: &Secret, aad_prefix: &[u8]) {
    let tag = hmac_parts(
        integ_hmac_algorithm(integ),
        key.expose(),
        &[aad_prefix, body],
    );
    body.extend_from_slice(tag.as_ref().get(..integ.icv_len()).unwrap_or_default());
}

fn cbc_encrypt<C>(key: &[u8], iv: &[u8], blocks: &mut [u8]) -> Result<(), CryptoError>
where
    cbc::Encryptor<C>: KeyIvInit + BlockEncryptMut,
    C: cbc::cipher::BlockCipher + cbc::cipher::BlockEncryptMut,
{
    let len = blocks.len();
    cbc::Encryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| CryptoError::InvalidSuite)?
        .encrypt_padded_mut::<NoPadding>(blocks, len)
        .map_err(|_| CryptoError::InvalidSuite)?;
    Ok(())
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], blocks: &mut [u8]) -> Result<(), CryptoError>
where
    cbc::Decryptor<C>: KeyIvInit + BlockDecryptMut,
    C: cbc::cipher::BlockCipher + cbc::cipher::BlockDecryptMut,
{
    cbc::Decryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| CryptoError::OpenFailed)?
        .decrypt_padded_mut::<NoPadding>(blocks)
        .map_err(|_| CryptoError::OpenFailed)?;
    Ok(())
}

/// Splits AEAD keying material into the cipher key and the 4-byte salt, and builds the 12-byte
/// nonce `salt || IV` (RFC 5282 §4, RFC 7634 §2).
fn aead_key_and_nonce<'k>(key_with_salt: &'k Secret, iv: &[u8]) -> Option<(&'k [u8], [u8; 12])> {
    let material = key_with_salt.expose();
    let (key, salt) = material.split_at_checked(material.len().checked_sub(4)?)?;
    let mut nonce = [0u8; 12];
    nonce.get_mut(..4)?.copy_from_slice(salt);
    nonce.get_mut(4..)?.copy_from_slice(iv.get(..8)?);
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
