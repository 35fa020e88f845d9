//! IKEv2 cryptography: PRF and prf+, key derivation, key exchange, SK payload protection, PSK
//! AUTH, NAT detection hashes and COOKIE values.
//!
//! This module knows nothing about the wire codec: algorithms are its own enums (mapped to the
//! IANA numbers with `from_transform_id` / `transform_id`), messages are byte slices, SPIs are
//! `u64`. It never reads a clock or a global RNG (randomness is passed in as
//! [`rand_core::CryptoRngCore`]), never logs, and keeps every key in a [`Secret`].
//!
//! The engine's path through it for one IKE SA:
//! 1. [`KeyExchange::generate`] for the KE payload, [`KeyExchange::agree`] with the peer's value.
//! 2. [`IkeSaKeys::derive`] (RFC 7296 §2.14) with the negotiated [`IkeSuite`].
//! 3. One [`SkCipher`] per direction from [`IkeSaKeys::sk_keys`]: `seal` outgoing SK/SKF bodies,
//!    `open` incoming ones.
//! 4. [`psk_auth`] for the own AUTH payload, [`verify_psk_auth`] for the peer's, yielding the
//!    [`AuthVerified`] token.
//! 5. [`ChildKeys::derive`] (§2.17) for each CHILD_SA's ESP keys.
//!
//! Errors are [`CryptoError`] values; nothing here panics on peer input.

mod algorithms;
mod auth;
mod cookie;
mod error;
mod key_exchange;
mod keys;
mod nat_detection;
mod prf;
mod secret;
mod sk;

pub use algorithms::{CipherSuite, DhGroup, Direction, EncrAlg, IkeSuite, IntegAlg, PrfAlg};
pub use auth::{psk_auth, verify_psk_auth, AuthVerified, SignedOctets, KEY_PAD};
pub use cookie::{CookieSecrets, COOKIE_LEN};
pub use error::CryptoError;
pub use key_exchange::KeyExchange;
pub use keys::{initial_skeyseed, rekeyed_skeyseed, ChildKeys, EspDirectionKeys, IkeSaKeys};
pub use nat_detection::{nat_detection_hash, NAT_DETECTION_HASH_LEN};
pub use secret::Secret;
pub use sk::SkCipher;
