//! The one error type of the ESP data path.
//!
//! Every way a packet can be refused is a value here; nothing in this crate panics on input.
//! The data-plane workers drop the packet and, where it matters, the per-SA counters say why.

/// Why a packet could not be sealed or opened, or why an SA could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The buffer lacks the headroom, tailroom or capacity the operation needs.
    #[error("buffer too small for the ESP headers, trailer or ICV")]
    BufferTooSmall,
    /// The ESP packet is shorter than header, IV and ICV, or its ciphertext is not block aligned.
    #[error("truncated or misaligned ESP packet")]
    Truncated,
    /// No inbound SA has this SPI.
    #[error("unknown SPI {0:#010x}")]
    UnknownSpi(u32),
    /// No outbound SA covers the inner destination address.
    #[error("no outbound SA for the destination")]
    NoRoute,
    /// The integrity check value did not verify.
    #[error("ICV verification failed")]
    BadIcv,
    /// The sequence number was seen before or lies left of the replay window
    /// (<https://www.rfc-editor.org/rfc/rfc4303#section-3.4.3>).
    #[error("replayed or too old sequence number")]
    Replay,
    /// The pad length exceeds the payload or the padding is not 1, 2, 3, ...
    /// (<https://www.rfc-editor.org/rfc/rfc4303#section-2.4>).
    #[error("bad ESP padding")]
    BadPadding,
    /// The next header is neither IPv4 (4), IPv6 (41) nor dummy (59).
    #[error("unsupported next header {0}")]
    UnsupportedNextHeader(u8),
    /// The inner packet is not a well-formed IPv4/IPv6 header of the announced version.
    #[error("malformed inner IP packet")]
    MalformedInner,
    /// The inner source address lies outside the peer's traffic selectors.
    #[error("inner source address outside the peer's traffic selectors")]
    PolicyViolation,
    /// The send sequence number would wrap; the SA must be rekeyed
    /// (<https://www.rfc-editor.org/rfc/rfc4303#section-3.3.3>).
    #[error("sequence number space exhausted")]
    SequenceExhausted,
    /// Key material of the wrong length for the algorithm.
    #[error("key material has the wrong length for the algorithm")]
    InvalidKeyLength,
    /// An SA or pool parameter is out of range (e.g. a replay window that is not a multiple of 64).
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
}
