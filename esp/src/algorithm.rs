//! The ESP transforms this data path implements and their sizes.
//!
//! - AES-GCM with a 16-byte ICV, 128- and 256-bit keys (<https://www.rfc-editor.org/rfc/rfc4106>):
//!   key material is the AES key followed by a 4-byte salt (section 8.1), the IV is 8 bytes.
//! - ChaCha20-Poly1305 (<https://www.rfc-editor.org/rfc/rfc7634>): a 32-byte key followed by a
//!   4-byte salt (section 4), 8-byte IV.
//! - AES-CBC, 128- and 256-bit keys (<https://www.rfc-editor.org/rfc/rfc3602>), 16-byte IV, with
//!   HMAC-SHA2-256-128, -384-192 or -512-256 (<https://www.rfc-editor.org/rfc/rfc4868>).

/// The integrity algorithm paired with AES-CBC (<https://www.rfc-editor.org/rfc/rfc4868>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integrity {
    /// HMAC-SHA-256 truncated to 128 bits, 32-byte key.
    HmacSha256_128,
    /// HMAC-SHA-384 truncated to 192 bits, 48-byte key.
    HmacSha384_192,
    /// HMAC-SHA-512 truncated to 256 bits, 64-byte key.
    HmacSha512_256,
}

impl Integrity {
    /// Length of the integrity key in bytes (the full hash output, RFC 4868 section 2.1.1).
    pub const fn key_len(self) -> usize {
        match self {
            Self::HmacSha256_128 => 32,
            Self::HmacSha384_192 => 48,
            Self::HmacSha512_256 => 64,
        }
    }

    /// Length of the truncated ICV in bytes (half the hash output, RFC 4868 section 2.1.2).
    pub const fn icv_len(self) -> usize {
        self.key_len() / 2
    }
}

/// An ESP transform: the encryption algorithm and, for AES-CBC, its integrity algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// AES-GCM-16 with a 128-bit key (RFC 4106).
    AesGcm128,
    /// AES-GCM-16 with a 256-bit key (RFC 4106).
    AesGcm256,
    /// ChaCha20-Poly1305 (RFC 7634).
    ChaCha20Poly1305,
    /// AES-CBC with a 128-bit key and the given HMAC (RFC 3602, RFC 4868).
    AesCbc128(Integrity),
    /// AES-CBC with a 256-bit key and the given HMAC (RFC 3602, RFC 4868).
    AesCbc256(Integrity),
}

/// Salt length of the AEAD transforms (RFC 4106 section 8.1, RFC 7634 section 4).
pub(crate) const AEAD_SALT_LEN: usize = 4;
/// IV length of the AEAD transforms (RFC 4106 section 3.1, RFC 7634 section 2).
pub(crate) const AEAD_IV_LEN: usize = 8;
/// ICV length of the AEAD transforms.
pub(crate) const AEAD_ICV_LEN: usize = 16;
/// AES block size, which is also the CBC IV length.
pub(crate) const AES_BLOCK: usize = 16;

impl Algorithm {
    /// Length of the encryption key material, salt included for the AEADs.
    pub const fn encryption_key_len(self) -> usize {
        match self {
            Self::AesGcm128 => 16 + AEAD_SALT_LEN,
            Self::AesGcm256 | Self::ChaCha20Poly1305 => 32 + AEAD_SALT_LEN,
            Self::AesCbc128(_) => 16,
            Self::AesCbc256(_) => 32,
        }
    }

    /// Length of the integrity key (0 for the AEADs).
    pub const fn integrity_key_len(self) -> usize {
        match self {
            Self::AesGcm128 | Self::AesGcm256 | Self::ChaCha20Poly1305 => 0,
            Self::AesCbc128(integrity) | Self::AesCbc256(integrity) => integrity.key_len(),
        }
    }

    /// Length of the IV carried in every packet.
    pub const fn iv_len(self) -> usize {
        match self {
            Self::AesGcm128 | Self::AesGcm256 | Self::ChaCha20Poly1305 => AEAD_IV_LEN,
            Self::AesCbc128(_) | Self::AesCbc256(_) => AES_BLOCK,
        }
    }

    /// Length of the ICV appended to every packet.
    pub const fn icv_len(self) -> usize {
        match self {
            Self::AesGcm128 | Self::AesGcm256 | Self::ChaCha20Poly1305 => AEAD_ICV_LEN,
            Self::AesCbc128(integrity) | Self::AesCbc256(integrity) => integrity.icv_len(),
        }
    }

    /// The alignment `seal` pads payload + trailer to. RFC 4303 section 2.4 asks for 4 bytes
    /// and allows more padding (up to 255 bytes); we pad AES-GCM to the 16-byte AES block as
    /// well as CBC: ring encrypts whole blocks in its bulk path and a partial last block costs
    /// it more than 12 more bytes would (measured with ring 0.17 on AVX2: a 516-byte seal
    /// takes 15-30% longer than a 528-byte one). ChaCha20-Poly1305 has no such step and keeps
    /// 4. Receivers accept any alignment of 4 or more.
    pub const fn block_len(self) -> u8 {
        match self {
            Self::ChaCha20Poly1305 => 4,
            Self::AesGcm128 | Self::AesGcm256 | Self::AesCbc128(_) | Self::AesCbc256(_) => {
                AES_BLOCK as u8
            }
        }
    }

    /// Bytes `seal` writes in front of the inner packet: ESP header and IV.
    pub const fn header_len(self) -> usize {
        crate::wire::EspHeader::<&[u8]>::LEN + self.iv_len()
    }

    /// The most bytes `seal` writes behind the inner packet: padding, pad length, next header
    /// and ICV.
    pub const fn max_trailer_len(self) -> usize {
        self.block_len() as usize - 1 + 2 + self.icv_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_rfcs() {
        assert_eq!(Algorithm::AesGcm128.encryption_key_len(), 20);
        assert_eq!(Algorithm::AesGcm256.encryption_key_len(), 36);
        assert_eq!(Algorithm::ChaCha20Poly1305.encryption_key_len(), 36);
        assert_eq!(Algorithm::AesGcm256.header_len(), 16);
        assert_eq!(Algorithm::AesGcm256.max_trailer_len(), 15 + 2 + 16);
        assert_eq!(Algorithm::ChaCha20Poly1305.max_trailer_len(), 3 + 2 + 16);
        let cbc = Algorithm::AesCbc256(Integrity::HmacSha512_256);
        assert_eq!(cbc.encryption_key_len(), 32);
        assert_eq!(cbc.integrity_key_len(), 64);
        assert_eq!(cbc.icv_len(), 32);
        assert_eq!(cbc.header_len(), 24);
        assert_eq!(cbc.max_trailer_len(), 15 + 2 + 32);
        assert_eq!(Integrity::HmacSha384_192.icv_len(), 24);
        assert_eq!(Integrity::HmacSha256_128.icv_len(), 16);
    }
}
