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
//!   it ([`SaDatabase`], [`SaTable`]), each edit copying a few hundred entries at most,
//!   however many SAs are installed ([`ShardedMap`]);
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
//! A worker's loop, reduced to one packet each way (a gateway sealing toward a client's
//! virtual IP, and opening what the client sent):
//!
//! ```
//! use std::sync::Arc;
//! use esp::{
//!     Algorithm, BufPool, InboundConfig, InboundSa, Opened, OutboundConfig, OutboundSa,
//!     SaDatabase, TrafficSelector, SEAL_HEADROOM, SEAL_TAILROOM,
//! };
//! # fn main() -> Result<(), esp::Error> {
//! # #[allow(clippy::disallowed_methods)]
//! # let now = std::time::Instant::now();
//! let client = TrafficSelector::host([10, 99, 2, 1].into());
//! let key = [7u8; 36]; // AES-256 key || 4-byte salt, from the CHILD_SA KEYMAT
//! // Control plane: install both directions (here looped back: same SPI and key).
//! let db = SaDatabase::new();
//! let algorithm = Algorithm::AesGcm256;
//! let outbound = OutboundSa::new(OutboundConfig::new(0x1234, algorithm), &key, &[])?;
//! let outbound = Arc::new(outbound);
//! let inbound_config = InboundConfig::new(0x1234, algorithm, vec![client]);
//! let inbound = InboundSa::new(inbound_config, &key, &[])?;
//! db.update(|table| {
//!     table.insert_inbound(Arc::new(inbound));
//!     table.route_outbound(&outbound, &[client]);
//! });
//!
//! // Worker: its own pool and reader, no locks, no allocation per packet.
//! let mut pool = BufPool::new(SEAL_HEADROOM + 1500 + SEAL_TAILROOM, 64, 1024)?;
//! let mut reader = db.reader();
//! let mut buf = pool.take(SEAL_HEADROOM);
//! let inner = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 99, 2, 1, 10, 99, 2, 1];
//! buf.spare_mut()[..inner.len()].copy_from_slice(&inner); // tun.read(buf.spare_mut())
//! buf.commit(inner.len())?;
//! let (sealed, sa) = reader.table().seal(&mut buf)?; // picks the SA by the inner packet's selectors
//! assert_eq!((sa.spi(), sealed.sequence_number), (0x1234, 1));
//! let frame_len = (4 + buf.len()) as u16;
//! let [high, low] = frame_len.to_be_bytes();
//! buf.push_front(4)?.copy_from_slice(&[1, 0, high, low]); // TPKT' on TCP, in the headroom
//! // ... send buf.data(); on the receiving side, strip the framing and open in place:
//! buf.pull_front(4)?;
//! let (opened, _sa) = reader.table().open(now, &mut buf)?; // picks the SA by SPI
//! assert!(matches!(opened, Opened::Packet(esp::IpVersion::V4)));
//! assert_eq!(buf.data(), &inner); // tun.write(buf.data())
//! pool.give(buf);
//! # Ok(())
//! # }
//! ```
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
mod flow;
mod inbound;
mod outbound;
mod pool;
mod replay;
mod sadb;
mod selector;
mod sharded;
mod spin;
mod stats;
mod table;
pub mod wire;
mod word_hasher;

pub use algorithm::{Algorithm, Integrity};
pub use buf::PacketBuf;
pub use error::Error;
pub use flow::Flow;
pub use inbound::{InboundConfig, InboundSa, Opened};
pub use outbound::{OutboundConfig, OutboundSa, Sealed, DEFAULT_REKEY_MARGIN};
pub use pool::BufPool;
pub use replay::{ReplayWindow, DEFAULT_REPLAY_WINDOW, MAX_REPLAY_WINDOW};
pub use sadb::{SaDatabase, SaReader};
pub use selector::{
    destination_address, ip_version, source_address, IpVersion, TrafficSelector, ANY_PROTOCOL,
};
pub use sharded::{ShardedMap, SHARDS};
pub use stats::{InboundStats, OutboundStats};
pub use table::SaTable;
pub use word_hasher::WordHasher;

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
