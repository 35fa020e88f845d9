//! Test helpers: an independent ESP implementation on RustCrypto (aes-gcm, chacha20poly1305,
//! aes + cbc, hmac + sha2), inner packet builders and key material.
#![allow(dead_code)] // each test binary uses a different part of the helpers
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use chacha20poly1305::ChaCha20Poly1305;
use esp::{Algorithm, Integrity};
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384, Sha512};

/// Every transform the crate supports.
pub const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::AesGcm128,
    Algorithm::AesGcm256,
    Algorithm::ChaCha20Poly1305,
    Algorithm::AesCbc128(Integrity::HmacSha256_128),
    Algorithm::AesCbc128(Integrity::HmacSha384_192),
    Algorithm::AesCbc128(Integrity::HmacSha512_256),
    Algorithm::AesCbc256(Integrity::HmacSha256_128),
    Algorithm::AesCbc256(Integrity::HmacSha384_192),
    Algorithm::AesCbc256(Integrity::HmacSha512_256),
];

/// Key material of the right lengths for `algorithm`, derived from `seed`.
pub fn keys(algorithm: Algorithm, seed: u8) -> (Vec<u8>, Vec<u8>) {
    let encryption = (0..algorithm.encryption_key_len())
        .map(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
        .collect();
    let integrity = (0..algorithm.integrity_key_len())
        .map(|i| seed.wrapping_mul(17).wrapping_add(0x80 ^ i as u8))
        .collect();
    (encryption, integrity)
}

/// An IPv4 packet of `len` bytes (at least 20) from `source` to `destination`.
pub fn ipv4_packet(len: usize, source: [u8; 4], destination: [u8; 4]) -> Vec<u8> {
    let mut packet: Vec<u8> = (0..len).map(|i| i as u8).collect();
    packet[0] = 0x45;
    packet[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    packet[9] = 17;
    packet[12..16].copy_from_slice(&source);
    packet[16..20].copy_from_slice(&destination);
    packet
}

/// An IPv6 packet of `len` bytes (at least 40) from `source` to `destination`.
pub fn ipv6_packet(len: usize, source: [u8; 16], destination: [u8; 16]) -> Vec<u8> {
    let mut packet: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
    packet[0] = 0x60;
    packet[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
    packet[6] = 17;
    packet[8..24].copy_from_slice(&source);
    packet[24..40].copy_from_slice(&destination);
    packet
}

/// What the independent implementation found inside an ESP packet.
#[derive(Debug, PartialEq, Eq)]
pub struct Decrypted {
    pub spi: u32,
    pub sequence_low: u32,
    pub iv: Vec<u8>,
    pub inner: Vec<u8>,
    pub pad_length: u8,
    pub next_header: u8,
}

/// Opens an ESP packet with RustCrypto; `None` if the ICV does not verify or the packet is
/// malformed. `sequence_high` is the ESN high half, if ESN is in use.
pub fn reference_open(
    algorithm: Algorithm,
    encryption_key: &[u8],
    integrity_key: &[u8],
    sequence_high: Option<u32>,
    packet: &[u8],
) -> Option<Decrypted> {
    let iv_len = algorithm.iv_len();
    let icv_len = algorithm.icv_len();
    if packet.len() < 8 + iv_len + icv_len {
        return None;
    }
    let header = &packet[..8];
    let iv = &packet[8..8 + iv_len];
    let ciphertext_end = packet.len() - icv_len;
    let mut plaintext = packet[8 + iv_len..ciphertext_end].to_vec();
    let icv = &packet[ciphertext_end..];
    match algorithm {
        Algorithm::AesGcm128 | Algorithm::AesGcm256 | Algorithm::ChaCha20Poly1305 => {
            let key_len = encryption_key.len() - 4;
            let mut nonce = encryption_key[key_len..].to_vec();
            nonce.extend_from_slice(iv);
            let aad = aead_aad(header, sequence_high);
            let nonce = aes_gcm::Nonce::from_slice(&nonce);
            let tag = aes_gcm::Tag::from_slice(icv);
            let key = &encryption_key[..key_len];
            let result = match algorithm {
                Algorithm::AesGcm128 => Aes128Gcm::new_from_slice(key)
                    .unwrap()
                    .decrypt_in_place_detached(nonce, &aad, &mut plaintext, tag),
                Algorithm::AesGcm256 => Aes256Gcm::new_from_slice(key)
                    .unwrap()
                    .decrypt_in_place_detached(nonce, &aad, &mut plaintext, tag),
                _ => ChaCha20Poly1305::new_from_slice(key)
                    .unwrap()
                    .decrypt_in_place_detached(nonce, &aad, &mut plaintext, tag),
            };
            result.ok()?;
        }
        Algorithm::AesCbc128(integrity) | Algorithm::AesCbc256(integrity) => {
            let mut covered = packet[..ciphertext_end].to_vec();
            if let Some(high) = sequence_high {
                covered.extend_from_slice(&high.to_be_bytes());
            }
            let expected = reference_hmac(integrity, integrity_key, &covered);
            if expected[..icv_len] != *icv || plaintext.len() % 16 != 0 {
                return None;
            }
            match algorithm {
                Algorithm::AesCbc128(_) => {
                    cbc::Decryptor::<aes::Aes128>::new_from_slices(encryption_key, iv)
                        .unwrap()
                        .decrypt_padded_mut::<NoPadding>(&mut plaintext)
                        .ok()?
                }
                _ => cbc::Decryptor::<aes::Aes256>::new_from_slices(encryption_key, iv)
                    .unwrap()
                    .decrypt_padded_mut::<NoPadding>(&mut plaintext)
                    .ok()?,
            };
        }
    }
    let next_header = *plaintext.last()?;
    let pad_length = plaintext[plaintext.len().checked_sub(2)?];
    let inner_len = plaintext.len().checked_sub(2 + usize::from(pad_length))?;
    let padding = &plaintext[inner_len..inner_len + usize::from(pad_length)];
    if !padding
        .iter()
        .zip(1u8..)
        .all(|(&byte, value)| byte == value)
    {
        return None;
    }
    Some(Decrypted {
        spi: u32::from_be_bytes(header[..4].try_into().unwrap()),
        sequence_low: u32::from_be_bytes(header[4..8].try_into().unwrap()),
        iv: iv.to_vec(),
        inner: plaintext[..inner_len].to_vec(),
        pad_length,
        next_header,
    })
}

/// Builds ESP packets of one SA with RustCrypto: `iv` must have the transform's IV length.
#[derive(Clone, Copy)]
pub struct ReferenceSealer<'a> {
    pub algorithm: Algorithm,
    pub encryption_key: &'a [u8],
    pub integrity_key: &'a [u8],
    pub spi: u32,
    pub esn: bool,
    pub iv: &'a [u8],
}

impl ReferenceSealer<'_> {
    /// The ESP packet `sequence` carrying `inner`, with the default 1, 2, 3... padding.
    pub fn seal(&self, sequence: u64, inner: &[u8], next_header: u8) -> Vec<u8> {
        let block = usize::from(self.algorithm.block_len());
        let pad = (block - (inner.len() + 2) % block) % block;
        let mut plaintext = inner.to_vec();
        plaintext.extend((1..=pad as u8).collect::<Vec<_>>());
        plaintext.extend_from_slice(&[pad as u8, next_header]);
        self.seal_plaintext(sequence, plaintext)
    }

    /// The ESP packet `sequence` around exactly `plaintext` (payload, padding and trailer as
    /// given).
    pub fn seal_plaintext(&self, sequence: u64, mut plaintext: Vec<u8>) -> Vec<u8> {
        let Self {
            algorithm,
            encryption_key,
            integrity_key,
            spi,
            esn,
            iv,
        } = *self;
        let mut packet = spi.to_be_bytes().to_vec();
        packet.extend_from_slice(&(sequence as u32).to_be_bytes());
        packet.extend_from_slice(iv);
        let high = esn.then_some((sequence >> 32) as u32);
        match algorithm {
            Algorithm::AesGcm128 | Algorithm::AesGcm256 | Algorithm::ChaCha20Poly1305 => {
                let key_len = encryption_key.len() - 4;
                let mut nonce = encryption_key[key_len..].to_vec();
                nonce.extend_from_slice(iv);
                let aad = aead_aad(&packet[..8], high);
                let nonce = aes_gcm::Nonce::from_slice(&nonce);
                let key = &encryption_key[..key_len];
                let tag = match algorithm {
                    Algorithm::AesGcm128 => Aes128Gcm::new_from_slice(key)
                        .unwrap()
                        .encrypt_in_place_detached(nonce, &aad, &mut plaintext),
                    Algorithm::AesGcm256 => Aes256Gcm::new_from_slice(key)
                        .unwrap()
                        .encrypt_in_place_detached(nonce, &aad, &mut plaintext),
                    _ => ChaCha20Poly1305::new_from_slice(key)
                        .unwrap()
                        .encrypt_in_place_detached(nonce, &aad, &mut plaintext),
                }
                .unwrap();
                packet.extend_from_slice(&plaintext);
                packet.extend_from_slice(&tag);
            }
            Algorithm::AesCbc128(integrity) | Algorithm::AesCbc256(integrity) => {
                let len = plaintext.len();
                match algorithm {
                    Algorithm::AesCbc128(_) => {
                        cbc::Encryptor::<aes::Aes128>::new_from_slices(encryption_key, iv)
                            .unwrap()
                            .encrypt_padded_mut::<NoPadding>(&mut plaintext, len)
                            .unwrap();
                    }
                    _ => {
                        cbc::Encryptor::<aes::Aes256>::new_from_slices(encryption_key, iv)
                            .unwrap()
                            .encrypt_padded_mut::<NoPadding>(&mut plaintext, len)
                            .unwrap();
                    }
                }
                packet.extend_from_slice(&plaintext);
                let mut covered = packet.clone();
                if let Some(high) = high {
                    covered.extend_from_slice(&high.to_be_bytes());
                }
                let icv = reference_hmac(integrity, integrity_key, &covered);
                packet.extend_from_slice(&icv[..integrity.icv_len()]);
            }
        }
        packet
    }
}

fn aead_aad(header: &[u8], sequence_high: Option<u32>) -> Vec<u8> {
    match sequence_high {
        None => header.to_vec(),
        Some(high) => {
            let mut aad = header[..4].to_vec();
            aad.extend_from_slice(&high.to_be_bytes());
            aad.extend_from_slice(&header[4..8]);
            aad
        }
    }
}

fn reference_hmac(integrity: Integrity, key: &[u8], data: &[u8]) -> Vec<u8> {
    match integrity {
        Integrity::HmacSha256_128 => {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Integrity::HmacSha384_192 => {
            let mut mac = <Hmac<Sha384> as Mac>::new_from_slice(key).unwrap();
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Integrity::HmacSha512_256 => {
            let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(key).unwrap();
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
    }
}
