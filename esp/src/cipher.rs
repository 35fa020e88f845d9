//! The per-SA cipher state: in-place encryption plus ICV for one ESP packet.
//!
//! The layout handled here is `ESP header (8) | IV | payload+trailer | ICV`, already in one
//! contiguous slice. The ESP header is written by the caller; this module writes the IV and the
//! ICV, and encrypts/decrypts the middle in place.
//!
//! - AEADs (ring): nonce = salt || IV, and the IV is the 64-bit sequence number, which never
//!   repeats within an SA (RFC 4106 section 3.1 and RFC 7634 section 2 forbid reusing an IV
//!   with a key). AAD = SPI || sequence number, or SPI || high 32 bits || low 32 bits with ESN
//!   (<https://www.rfc-editor.org/rfc/rfc4106#section-5>).
//! - AES-CBC + HMAC: the IV must be unpredictable
//!   (<https://www.rfc-editor.org/rfc/rfc3602#section-2.1>);
//!   it is the sequence number encrypted with a separate AES-128 key, derived from the encryption
//!   key as HMAC-SHA-256(encryption key, "eseg ESP AES-CBC IV key"). Nobody without the key can
//!   predict it, and it never repeats within an SA. The ICV covers header, IV and ciphertext, plus
//!   the high 32 bits of the sequence number with ESN
//!   (<https://www.rfc-editor.org/rfc/rfc4303#section-2.2.1>),
//!   and is compared in constant time.
//!
//! Key bytes handed in are not kept: ring's expanded keys (which ring does not zeroize) and the
//! RustCrypto AES key schedules (zeroized on drop, `aes` feature `zeroize`) are all that remain,
//! with the AEAD salt in a zeroizing wrapper.

use std::ops::Range;

use aes::{Aes128, Aes256};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncrypt, BlockEncryptMut, InnerIvInit, KeyInit};
use ring::{aead, hmac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::algorithm::{AEAD_ICV_LEN, AEAD_IV_LEN, AEAD_SALT_LEN, AES_BLOCK};
use crate::wire::EspHeader;
use crate::{Algorithm, Error, Integrity};

/// Length of the ESP header.
const HEADER_LEN: usize = EspHeader::<&[u8]>::LEN;
/// Label of the derivation of the CBC IV key.
const CBC_IV_KEY_LABEL: &[u8] = b"eseg ESP AES-CBC IV key";

/// The keyed transform of one SA direction.
pub(crate) struct Cipher {
    kind: CipherKind,
}

/// The AEAD key stays inline (it is used for every packet); the larger CBC state is boxed.
#[allow(clippy::large_enum_variant)]
enum CipherKind {
    Aead {
        key: aead::LessSafeKey,
        salt: Zeroizing<[u8; AEAD_SALT_LEN]>,
    },
    Cbc(Box<CbcState>),
}

/// AES-CBC + HMAC keys (boxed: they are much larger than an AEAD key).
struct CbcState {
    aes: CbcAes,
    iv_key: Aes128,
    mac: hmac::Key,
    icv_len: usize,
}

/// AES-CBC key schedule of either size. One per SA, inside a box, so the size difference of the
/// variants costs nothing.
#[allow(clippy::large_enum_variant)]
enum CbcAes {
    Aes128(Aes128),
    Aes256(Aes256),
}

impl Cipher {
    /// Keys the transform; key lengths must match [`Algorithm::encryption_key_len`] and
    /// [`Algorithm::integrity_key_len`].
    pub(crate) fn new(
        algorithm: Algorithm,
        encryption_key: &[u8],
        integrity_key: &[u8],
    ) -> Result<Self, Error> {
        if encryption_key.len() != algorithm.encryption_key_len()
            || integrity_key.len() != algorithm.integrity_key_len()
        {
            return Err(Error::InvalidKeyLength);
        }
        let kind = match algorithm {
            Algorithm::AesGcm128 => aead_kind(&aead::AES_128_GCM, encryption_key)?,
            Algorithm::AesGcm256 => aead_kind(&aead::AES_256_GCM, encryption_key)?,
            Algorithm::ChaCha20Poly1305 => aead_kind(&aead::CHACHA20_POLY1305, encryption_key)?,
            Algorithm::AesCbc128(integrity) => {
                let aes =
                    Aes128::new_from_slice(encryption_key).map_err(|_| Error::InvalidKeyLength)?;
                cbc_kind(
                    CbcAes::Aes128(aes),
                    encryption_key,
                    integrity,
                    integrity_key,
                )?
            }
            Algorithm::AesCbc256(integrity) => {
                let aes =
                    Aes256::new_from_slice(encryption_key).map_err(|_| Error::InvalidKeyLength)?;
                cbc_kind(
                    CbcAes::Aes256(aes),
                    encryption_key,
                    integrity,
                    integrity_key,
                )?
            }
        };
        Ok(Self { kind })
    }

    /// Writes the IV for `sequence`, encrypts the payload in place and writes the ICV.
    ///
    /// `packet` is `header | IV | payload+trailer | ICV` with the header already written.
    pub(crate) fn seal(&self, sequence: u64, esn: bool, packet: &mut [u8]) -> Result<(), Error> {
        let high = esn.then_some(high_bits(sequence));
        match &self.kind {
            CipherKind::Aead { key, salt } => {
                let (header, rest) = packet
                    .split_first_chunk_mut::<HEADER_LEN>()
                    .ok_or(Error::BufferTooSmall)?;
                let (iv, rest) = rest
                    .split_first_chunk_mut::<AEAD_IV_LEN>()
                    .ok_or(Error::BufferTooSmall)?;
                let (payload, icv) = rest
                    .split_last_chunk_mut::<AEAD_ICV_LEN>()
                    .ok_or(Error::BufferTooSmall)?;
                *iv = sequence.to_be_bytes();
                let (aad, aad_len) = aead_aad(header, high);
                let tag = key
                    .seal_in_place_separate_tag(
                        nonce(salt, iv),
                        aead::Aad::from(aad.get(..aad_len).unwrap_or_default()),
                        payload,
                    )
                    .map_err(|_| Error::BufferTooSmall)?;
                icv.copy_from_slice(tag.as_ref());
                Ok(())
            }
            CipherKind::Cbc(cbc) => {
                let CbcState {
                    aes,
                    iv_key,
                    mac,
                    icv_len,
                } = &**cbc;
                let covered_len = packet
                    .len()
                    .checked_sub(*icv_len)
                    .ok_or(Error::BufferTooSmall)?;
                let (_header, rest) = packet
                    .split_first_chunk_mut::<HEADER_LEN>()
                    .ok_or(Error::BufferTooSmall)?;
                let (iv, rest) = rest
                    .split_first_chunk_mut::<AES_BLOCK>()
                    .ok_or(Error::BufferTooSmall)?;
                let payload_len = rest
                    .len()
                    .checked_sub(*icv_len)
                    .ok_or(Error::BufferTooSmall)?;
                let (payload, _) = rest.split_at_mut(payload_len);
                let [s0, s1, s2, s3, s4, s5, s6, s7] = sequence.to_be_bytes();
                let mut iv_block =
                    aes::Block::from([s0, s1, s2, s3, s4, s5, s6, s7, 0, 0, 0, 0, 0, 0, 0, 0]);
                iv_key.encrypt_block(&mut iv_block);
                iv.copy_from_slice(&iv_block);
                aes.encrypt(&iv_block, payload)?;
                let icv = cbc_icv(mac, packet.get(..covered_len).unwrap_or_default(), high);
                packet
                    .get_mut(covered_len..)
                    .ok_or(Error::BufferTooSmall)?
                    .copy_from_slice(icv.as_ref().get(..*icv_len).unwrap_or_default());
                Ok(())
            }
        }
    }

    /// Verifies the ICV and decrypts in place; returns where the plaintext (payload+trailer)
    /// now lies inside `packet`.
    ///
    /// `seq_high` is the inferred high half of the sequence number when ESN is in use.
    pub(crate) fn open(
        &self,
        seq_high: Option<u32>,
        packet: &mut [u8],
    ) -> Result<Range<usize>, Error> {
        match &self.kind {
            CipherKind::Aead { key, salt } => {
                let (header, rest) = packet
                    .split_first_chunk_mut::<HEADER_LEN>()
                    .ok_or(Error::Truncated)?;
                let (iv, rest) = rest
                    .split_first_chunk_mut::<AEAD_IV_LEN>()
                    .ok_or(Error::Truncated)?;
                let (ciphertext, icv) = rest
                    .split_last_chunk_mut::<AEAD_ICV_LEN>()
                    .ok_or(Error::Truncated)?;
                let ciphertext_len = ciphertext.len();
                let (aad, aad_len) = aead_aad(header, seq_high);
                key.open_in_place_separate_tag(
                    nonce(salt, iv),
                    aead::Aad::from(aad.get(..aad_len).unwrap_or_default()),
                    aead::Tag::from(*icv),
                    ciphertext,
                    0..,
                )
                .map_err(|_| Error::BadIcv)?;
                let ciphertext_start = HEADER_LEN + AEAD_IV_LEN;
                Ok(ciphertext_start..ciphertext_start + ciphertext_len)
            }
            CipherKind::Cbc(cbc) => {
                let CbcState {
                    aes, mac, icv_len, ..
                } = &**cbc;
                let ciphertext_start = HEADER_LEN + AES_BLOCK;
                let ciphertext_end = packet
                    .len()
                    .checked_sub(*icv_len)
                    .filter(|&end| end >= ciphertext_start)
                    .ok_or(Error::Truncated)?;
                if (ciphertext_end - ciphertext_start) % AES_BLOCK != 0 {
                    return Err(Error::Truncated);
                }
                let (covered, received_icv) = packet.split_at_mut(ciphertext_end);
                let computed = cbc_icv(mac, covered, seq_high);
                let expected = computed.as_ref().get(..*icv_len).unwrap_or_default();
                if !bool::from(expected.ct_eq(received_icv)) {
                    return Err(Error::BadIcv);
                }
                let (front, ciphertext) = covered.split_at_mut(ciphertext_start);
                let iv: [u8; AES_BLOCK] = front
                    .get(HEADER_LEN..)
                    .and_then(|iv| iv.try_into().ok())
                    .ok_or(Error::Truncated)?;
                aes.decrypt(&iv.into(), ciphertext)?;
                Ok(ciphertext_start..ciphertext_end)
            }
        }
    }
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match &self.kind {
            CipherKind::Aead { key, .. } => {
                if key.algorithm() == &aead::CHACHA20_POLY1305 {
                    "ChaCha20-Poly1305"
                } else {
                    "AES-GCM"
                }
            }
            CipherKind::Cbc(_) => "AES-CBC-HMAC",
        };
        f.debug_struct("Cipher")
            .field("algorithm", &name)
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl CbcAes {
    fn encrypt(&self, iv: &aes::Block, payload: &mut [u8]) -> Result<(), Error> {
        let len = payload.len();
        let done = match self {
            Self::Aes128(aes) => cbc::Encryptor::<Aes128>::inner_iv_init(aes.clone(), iv)
                .encrypt_padded_mut::<NoPadding>(payload, len)
                .is_ok(),
            Self::Aes256(aes) => cbc::Encryptor::<Aes256>::inner_iv_init(aes.clone(), iv)
                .encrypt_padded_mut::<NoPadding>(payload, len)
                .is_ok(),
        };
        done.then_some(()).ok_or(Error::BufferTooSmall)
    }

    fn decrypt(&self, iv: &aes::Block, ciphertext: &mut [u8]) -> Result<(), Error> {
        let done = match self {
            Self::Aes128(aes) => cbc::Decryptor::<Aes128>::inner_iv_init(aes.clone(), iv)
                .decrypt_padded_mut::<NoPadding>(ciphertext)
                .is_ok(),
            Self::Aes256(aes) => cbc::Decryptor::<Aes256>::inner_iv_init(aes.clone(), iv)
                .decrypt_padded_mut::<NoPadding>(ciphertext)
                .is_ok(),
        };
        done.then_some(()).ok_or(Error::Truncated)
    }
}

fn aead_kind(algorithm: &'static aead::Algorithm, material: &[u8]) -> Result<CipherKind, Error> {
    let key_len = material
        .len()
        .checked_sub(AEAD_SALT_LEN)
        .ok_or(Error::InvalidKeyLength)?;
    let (key_bytes, salt_bytes) = material.split_at(key_len);
    let key = aead::UnboundKey::new(algorithm, key_bytes).map_err(|_| Error::InvalidKeyLength)?;
    let mut salt = Zeroizing::new([0u8; AEAD_SALT_LEN]);
    salt.copy_from_slice(salt_bytes);
    Ok(CipherKind::Aead {
        key: aead::LessSafeKey::new(key),
        salt,
    })
}

fn cbc_kind(
    aes: CbcAes,
    encryption_key: &[u8],
    integrity: Integrity,
    integrity_key: &[u8],
) -> Result<CipherKind, Error> {
    let derivation_key = hmac::Key::new(hmac::HMAC_SHA256, encryption_key);
    let derived = hmac::sign(&derivation_key, CBC_IV_KEY_LABEL);
    let iv_key = derived
        .as_ref()
        .get(..16)
        .and_then(|key| Aes128::new_from_slice(key).ok())
        .ok_or(Error::InvalidKeyLength)?;
    let hmac_algorithm = match integrity {
        Integrity::HmacSha256_128 => hmac::HMAC_SHA256,
        Integrity::HmacSha384_192 => hmac::HMAC_SHA384,
        Integrity::HmacSha512_256 => hmac::HMAC_SHA512,
    };
    Ok(CipherKind::Cbc(Box::new(CbcState {
        aes,
        iv_key,
        mac: hmac::Key::new(hmac_algorithm, integrity_key),
        icv_len: integrity.icv_len(),
    })))
}

/// The AEAD nonce: salt || IV (RFC 4106 section 4, RFC 7634 section 2).
fn nonce(salt: &[u8; AEAD_SALT_LEN], iv: &[u8; AEAD_IV_LEN]) -> aead::Nonce {
    let [s0, s1, s2, s3] = *salt;
    let [i0, i1, i2, i3, i4, i5, i6, i7] = *iv;
    aead::Nonce::assume_unique_for_key([s0, s1, s2, s3, i0, i1, i2, i3, i4, i5, i6, i7])
}

/// The AEAD AAD: SPI || sequence (8 bytes), or SPI || high || low with ESN (12 bytes)
/// (<https://www.rfc-editor.org/rfc/rfc4106#section-5>).
fn aead_aad(header: &[u8; HEADER_LEN], seq_high: Option<u32>) -> ([u8; 12], usize) {
    let [s0, s1, s2, s3, l0, l1, l2, l3] = *header;
    match seq_high {
        None => ([s0, s1, s2, s3, l0, l1, l2, l3, 0, 0, 0, 0], 8),
        Some(high) => {
            let [h0, h1, h2, h3] = high.to_be_bytes();
            ([s0, s1, s2, s3, h0, h1, h2, h3, l0, l1, l2, l3], 12)
        }
    }
}

/// HMAC over the covered bytes, then the ESN high bits if any (not transmitted,
/// <https://www.rfc-editor.org/rfc/rfc4303#section-2.2.1>).
fn cbc_icv(mac: &hmac::Key, covered: &[u8], seq_high: Option<u32>) -> hmac::Tag {
    let mut context = hmac::Context::with_key(mac);
    context.update(covered);
    if let Some(high) = seq_high {
        context.update(&high.to_be_bytes());
    }
    context.sign()
}

/// High 32 bits of a 64-bit sequence number.
pub(crate) const fn high_bits(sequence: u64) -> u32 {
    (sequence >> 32) as u32
}
