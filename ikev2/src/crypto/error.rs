//! The one error type of the crypto layer.
//!
//! Every failure is a value. The engine maps them to its own outcome: a bad public value becomes
//! INVALID_SYNTAX (or INVALID_KE_PAYLOAD for a length that does not fit the group), a failed SK
//! open is a silent drop (RFC 7296 §2.21.1), a failed AUTH is AUTHENTICATION_FAILED.

use thiserror::Error;

/// Why a cryptographic operation refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A key exchange public value whose length does not fit the group.
    #[error("key exchange public value has {actual} bytes, the group needs {expected}")]
    InvalidPublicValueLength {
        /// The length the group defines.
        expected: usize,
        /// The length that was received.
        actual: usize,
    },
    /// A public value that is not a valid point of the group, or that yields an all-zero or
    /// identity shared secret (RFC 5903 §7, RFC 8031 §2.3).
    #[error("key exchange public value is not a valid point of the group")]
    InvalidPublicValue,
    /// prf+ was asked for more than 255 blocks (RFC 7296 §2.13).
    #[error("prf+ output of {requested} bytes exceeds 255 iterations")]
    PrfPlusTooLong {
        /// The number of bytes asked for.
        requested: usize,
    },
    /// A key whose length does not match the algorithm it is used with.
    #[error("key of {actual} bytes where the algorithm needs {expected}")]
    InvalidKeyLength {
        /// The length the algorithm needs.
        expected: usize,
        /// The length that was supplied.
        actual: usize,
    },
    /// An AEAD cipher combined with an integrity algorithm, or a non-AEAD cipher without one.
    #[error("integrity algorithm does not fit the encryption algorithm")]
    InvalidSuite,
    /// An SK or SKF payload failed to open: too short, bad ICV, bad padding. Deliberately one
    /// opaque value so that nothing returned to a peer distinguishes the causes.
    #[error("encrypted payload failed to open")]
    OpenFailed,
    /// The 64-bit AEAD IV counter of this key is exhausted; the IKE SA must be rekeyed.
    #[error("IV space of this key is exhausted")]
    IvExhausted,
    /// A plaintext too long to be protected in one IKE message.
    #[error("plaintext of {0} bytes is too long for one encrypted payload")]
    PlaintextTooLong(usize),
    /// The AUTH payload does not match the value computed from the shared key.
    #[error("AUTH payload does not verify")]
    AuthenticationFailed,
}
