//! Ephemeral key exchange for the KE payload: Curve25519 (RFC 8031), ECP-256 and ECP-384
//! (RFC 5903).
//!
//! The private value comes from an injected RNG (the engine passes its seeded
//! `rand_chacha::ChaCha20Rng`), is zeroized on drop and is consumed by [`KeyExchange::agree`], so
//! one private value yields at most one shared secret.

use core::fmt;

use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand_core::CryptoRngCore;

use crate::crypto::{CryptoError, DhGroup, Secret};

/// One side's ephemeral key pair for one key exchange.
pub struct KeyExchange {
    private: PrivateValue,
    public: Vec<u8>,
}

enum PrivateValue {
    Curve25519(x25519_dalek::EphemeralSecret),
    Ecp256(p256::ecdh::EphemeralSecret),
    Ecp384(p384::ecdh::EphemeralSecret),
}

impl KeyExchange {
    /// Draws a fresh private value for `group` from `rng` and computes the public value.
    pub fn generate<R: CryptoRngCore + ?Sized>(group: DhGroup, rng: &mut R) -> Self {
        match group {
            DhGroup::Curve25519 => {
                let private = x25519_dalek::EphemeralSecret::random_from_rng(&mut *rng);
                let public = x25519_dalek::PublicKey::from(&private).as_bytes().to_vec();
                Self {
                    private: PrivateValue::Curve25519(private),
                    public,
                }
            }
            DhGroup::Ecp256 => {
                let private = p256::ecdh::EphemeralSecret::random(&mut &mut *rng);
                let point = private.public_key().to_encoded_point(false);
                Self {
                    public: untagged_coordinates(point.as_bytes()),
                    private: PrivateValue::Ecp256(private),
                }
            }
            DhGroup::Ecp384 => {
                let private = p384::ecdh::EphemeralSecret::random(&mut &mut *rng);
                let point = private.public_key().to_encoded_point(false);
                Self {
                    public: untagged_coordinates(point.as_bytes()),
                    private: PrivateValue::Ecp384(private),
                }
            }
        }
    }

    /// The group of this key pair.
    pub fn group(&self) -> DhGroup {
        match self.private {
            PrivateValue::Curve25519(_) => DhGroup::Curve25519,
            PrivateValue::Ecp256(_) => DhGroup::Ecp256,
            PrivateValue::Ecp384(_) => DhGroup::Ecp384,
        }
    }

    /// The public value for the KE payload's Key Exchange Data.
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// Computes the shared secret g^ir with the peer's public value, consuming the private value.
    ///
    /// ECP public values are x || y without a point-format octet and must lie on the curve
    /// (RFC 5903 §7); the shared secret is the x coordinate. A Curve25519 shared secret of all
    /// zeros (a low-order peer value) is refused (RFC 8031 §2.3).
    pub fn agree(self, peer_public: &[u8]) -> Result<Secret, CryptoError> {
        let expected = self.group().public_len();
        if peer_public.len() != expected {
            return Err(CryptoError::InvalidPublicValueLength {
                expected,
                actual: peer_public.len(),
            });
        }
        match self.private {
            PrivateValue::Curve25519(private) => {
                let bytes: [u8; 32] = peer_public
                    .try_into()
                    .map_err(|_| CryptoError::InvalidPublicValue)?;
                let shared = private.diffie_hellman(&x25519_dalek::PublicKey::from(bytes));
                if !shared.was_contributory() {
                    return Err(CryptoError::InvalidPublicValue);
                }
                Ok(Secret::from_slice(shared.as_bytes()))
            }
            PrivateValue::Ecp256(private) => {
                let peer = p256::PublicKey::from_sec1_bytes(&uncompressed_sec1(peer_public))
                    .map_err(|_| CryptoError::InvalidPublicValue)?;
                let shared = private.diffie_hellman(&peer);
                Ok(Secret::from_slice(shared.raw_secret_bytes()))
            }
            PrivateValue::Ecp384(private) => {
                let peer = p384::PublicKey::from_sec1_bytes(&uncompressed_sec1(peer_public))
                    .map_err(|_| CryptoError::InvalidPublicValue)?;
                let shared = private.diffie_hellman(&peer);
                Ok(Secret::from_slice(shared.raw_secret_bytes()))
            }
        }
    }
}

/// Prefixes x || y with the 0x04 uncompressed-point octet of SEC1.
fn uncompressed_sec1(coordinates: &[u8]) -> Vec<u8> {
    let mut sec1 = Vec::with_capacity(1 + coordinates.len());
    sec1.push(0x04);
    sec1.extend_from_slice(coordinates);
    sec1
}

/// Strips the 0x04 uncompressed-point octet of a SEC1 encoding, leaving x || y.
fn untagged_coordinates(sec1_uncompressed: &[u8]) -> Vec<u8> {
    sec1_uncompressed.get(1..).unwrap_or_default().to_vec()
}

impl fmt::Debug for KeyExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyExchange")
            .field("group", &self.group())
            .field("private", &"<redacted>")
            .finish()
    }
}
