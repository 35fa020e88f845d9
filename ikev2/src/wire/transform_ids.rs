//! Transform types and the transform IDs of each type
//! (<https://www.rfc-editor.org/rfc/rfc7296#section-3.3.2>), as open enums.

use super::enum_macro::open_enum;

open_enum! {
    /// Transform type.
    pub enum TransformType(u8) {
        /// Encryption algorithm (ENCR).
        Encryption = 1,
        /// Pseudorandom function (PRF).
        Prf = 2,
        /// Integrity algorithm (INTEG).
        Integrity = 3,
        /// Key exchange method (D-H group), "KE" since RFC 9370.
        KeyExchange = 4,
        /// Extended sequence numbers (ESN).
        Esn = 5,
    }
}

open_enum! {
    /// Transform IDs of type 1, encryption algorithms.
    pub enum EncrId(u16) {
        /// ENCR_3DES.
        TripleDes = 3,
        /// ENCR_NULL.
        Null = 11,
        /// ENCR_AES_CBC (RFC 3602); key length attribute required.
        AesCbc = 12,
        /// ENCR_AES_CTR (RFC 5930).
        AesCtr = 13,
        /// ENCR_AES_CCM_8 (RFC 5282).
        AesCcm8 = 14,
        /// ENCR_AES_CCM_12 (RFC 5282).
        AesCcm12 = 15,
        /// ENCR_AES_CCM_16 (RFC 5282).
        AesCcm16 = 16,
        /// ENCR_AES_GCM_8 (RFC 5282).
        AesGcm8 = 18,
        /// ENCR_AES_GCM_12 (RFC 5282).
        AesGcm12 = 19,
        /// ENCR_AES_GCM_16 (RFC 5282); key length attribute required.
        AesGcm16 = 20,
        /// ENCR_NULL_AUTH_AES_GMAC (RFC 4543).
        NullAuthAesGmac = 21,
        /// ENCR_CAMELLIA_CBC (RFC 5529).
        CamelliaCbc = 23,
        /// ENCR_CHACHA20_POLY1305 (RFC 7634).
        ChaCha20Poly1305 = 28,
    }
}

open_enum! {
    /// Transform IDs of type 2, pseudorandom functions.
    pub enum PrfId(u16) {
        /// PRF_HMAC_MD5.
        HmacMd5 = 1,
        /// PRF_HMAC_SHA1.
        HmacSha1 = 2,
        /// PRF_AES128_XCBC (RFC 4434).
        Aes128Xcbc = 4,
        /// PRF_HMAC_SHA2_256 (RFC 4868).
        HmacSha2_256 = 5,
        /// PRF_HMAC_SHA2_384 (RFC 4868).
        HmacSha2_384 = 6,
        /// PRF_HMAC_SHA2_512 (RFC 4868).
        HmacSha2_512 = 7,
        /// PRF_AES128_CMAC (RFC 4615).
        Aes128Cmac = 8,
    }
}

open_enum! {
    /// Transform IDs of type 3, integrity algorithms.
    pub enum IntegId(u16) {
        /// NONE (with AEAD ciphers).
        None = 0,
        /// AUTH_HMAC_MD5_96.
        HmacMd5_96 = 1,
        /// AUTH_HMAC_SHA1_96.
        HmacSha1_96 = 2,
        /// AUTH_AES_XCBC_96.
        AesXcbc96 = 5,
        /// AUTH_AES_CMAC_96 (RFC 4494).
        AesCmac96 = 8,
        /// AUTH_HMAC_SHA2_256_128 (RFC 4868).
        HmacSha2_256_128 = 12,
        /// AUTH_HMAC_SHA2_384_192 (RFC 4868).
        HmacSha2_384_192 = 13,
        /// AUTH_HMAC_SHA2_512_256 (RFC 4868).
        HmacSha2_512_256 = 14,
    }
}

open_enum! {
    /// Transform IDs of type 4, key exchange methods (Diffie-Hellman groups).
    pub enum DhGroup(u16) {
        /// NONE.
        None = 0,
        /// 1024-bit MODP group.
        Modp1024 = 2,
        /// 1536-bit MODP group (RFC 3526).
        Modp1536 = 5,
        /// 2048-bit MODP group (RFC 3526).
        Modp2048 = 14,
        /// 3072-bit MODP group (RFC 3526).
        Modp3072 = 15,
        /// 4096-bit MODP group (RFC 3526).
        Modp4096 = 16,
        /// 256-bit random ECP group, NIST P-256 (RFC 5903).
        Ecp256 = 19,
        /// 384-bit random ECP group, NIST P-384 (RFC 5903).
        Ecp384 = 20,
        /// 521-bit random ECP group, NIST P-521 (RFC 5903).
        Ecp521 = 21,
        /// Curve25519 (RFC 8031).
        Curve25519 = 31,
        /// Curve448 (RFC 8031).
        Curve448 = 32,
    }
}

open_enum! {
    /// Transform IDs of type 5, extended sequence numbers.
    pub enum EsnId(u16) {
        /// No extended sequence numbers.
        NoEsn = 0,
        /// Extended sequence numbers.
        Esn = 1,
    }
}

open_enum! {
    /// Transform attribute type, 15 bits
    /// (<https://www.rfc-editor.org/rfc/rfc7296#section-3.3.5>).
    pub enum TransformAttributeType(u16) {
        /// Key length in bits (TV format).
        KeyLength = 14,
    }
}
