//! Sans-IO IKEv2 engine (RFC 7296).
//!
//! - [`wire`]: the message codec (IKE header, payload chain, every payload of RFC 7296 and the
//!   RFC 7383 fragment payload). Parsing borrows from the input; unknown code points are kept.
//! - [`crypto`]: PRF, key derivation, Diffie-Hellman groups, SK payload protection, PSK AUTH.
//!
//! The engine never opens a socket, never reads the clock and never uses a global RNG.
#![forbid(unsafe_code)]

pub mod crypto;
pub mod wire;
