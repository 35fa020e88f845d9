//! Userspace ESP tunnel-mode data path (<https://www.rfc-editor.org/rfc/rfc4303>).
//!
//! The per-packet engine of the gateway and the client. It takes plain parameters (SPI,
//! transform, key bytes, ESN, replay window, the peer's traffic selectors) and packets in
//! reusable buffers, and it:
//!
//! - seals an inner IPv4/IPv6 packet in place ([`OutboundSa::seal`]): ESP header and IV into the
//!   buffer's headroom, padding, pad length, next header and ICV into its tailroom;
//! - opens an ESP packet in place ([`InboundSa::open`]): cheap replay check, ICV verification
//!   and decryption, trailer check, replay window update, inner source address check; the
//!   buffer then holds the inner packet;
//! - keeps the SAs in a database many workers read without locks while the control plane edits
//!   it ([`SaDatabase`], [`SaTable`]);
//! - counts per SA what the control plane needs ([`InboundStats`], [`OutboundStats`]).
//!
//! Transforms: AES-GCM-16 (128/256), ChaCha20-Poly1305, AES-CBC-128/256 with
//! HMAC-SHA2-256/384/512 ([`Algorithm`]).
//!
//! Buffers: a [`PacketBuf`] from a per-worker [`BufPool`], reset to [`SEAL_HEADROOM`] bytes of
//! headroom before the inner packet is read into it, with at least [`SEAL_TAILROOM`] bytes of
//! tailroom; after sealing, at least [`MAX_TRANSPORT_PREFIX`] bytes of headroom remain for the
//! transport's own header (the TPKT' header on TCP), so nothing is copied. In steady state no
//! packet allocates.
//!
//! It never does I/O, never reads the clock (the time of the last inbound packet is the `now`
//! given to `open`), never uses a global RNG (AEAD IVs are sequence numbers, CBC IVs are
//! sequence numbers encrypted under a derived key), and never panics on input: every refusal is
//! an [`Error`].

#![forbid(unsafe_code)]

mod algorithm;
mod buf;
mod cipher;
mod error;
mod inbound;
mod outbound;
mod pool;
mod replay;
mod sadb;
mod selector;
mod spin;
mod stats;
mod table;
pub mod wire;

pub use algorithm::{Algorithm, Integrity};
pub use buf::PacketBuf;
pub use error::Error;
pub use inbound::{InboundConfig, InboundSa, Opened};
pub use outbound::{OutboundConfig, OutboundSa, Sealed, DEFAULT_REKEY_MARGIN};
pub use pool::BufPool;
pub use replay::{ReplayWindow, DEFAULT_REPLAY_WINDOW, MAX_REPLAY_WINDOW};
pub use sadb::{SaDatabase, SaReader};
pub use selector::{destination_address, ip_version, source_address, IpVersion, TrafficSelector};
pub use stats::{InboundStats, OutboundStats};
pub use table::SaTable;

/// The longest prefix a transport puts in front of an ESP packet: the 4-byte TPKT' header on
/// TCP (nothing on UDP).
pub const MAX_TRANSPORT_PREFIX: usize = 4;

/// The longest ESP header + IV of any transform (AES-CBC: 8 + 16).
pub const MAX_ESP_HEADER: usize = 24;

/// The longest padding + pad length + next header + ICV of any transform
/// (AES-CBC with HMAC-SHA-512-256: 15 + 2 + 32).
pub const MAX_ESP_TRAILER: usize = 49;

/// Headroom to leave in front of an inner packet so that any SA can seal it and any transport
/// can then add its prefix.
pub const SEAL_HEADROOM: usize = MAX_TRANSPORT_PREFIX + MAX_ESP_HEADER;

/// Tailroom to leave behind an inner packet so that any SA can seal it.
pub const SEAL_TAILROOM: usize = MAX_ESP_TRAILER;
