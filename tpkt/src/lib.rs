//! TPKT' framing for IKE and ESP over TCP (3GPP TR 33.830 clause 8.5.2.2).
//!
//! When a firewall blocks UDP 500/4500, the eSEG client opens TCP to port 80 of the gateway and
//! sends the same IKE and ESP packets it would have sent over UDP 4500, each behind a 4-octet
//! header. This crate is that framing: a typed header view, an incremental decoder, an encoder
//! that writes into headroom, a bounded send queue, and a classifier for the first octets of a
//! stream. It does no I/O, never panics on input, and allocates only when asked to
//! ([`FrameReader::with_capacity`], [`SendQueue::with_capacity`]).
//!
//! # The framing
//!
//! A TPKT' stream is a sequence of frames; there is no stream prefix, so the first octets of a
//! connection are the header of its first frame (normally an IKE_SA_INIT request).
//!
//! ```text
//! +---------+----------+---------------------+--------------------------------------------+
//! | Version | Reserved | Length (16 bits BE) | Payload: Length - 4 octets                 |
//! |  0x01   |   0x00   |  header + payload   | = exactly one UDP-4500 payload (RFC 3948)  |
//! +---------+----------+---------------------+--------------------------------------------+
//! ```
//!
//! - Version is 1 and reserved is 0; anything else is refused ([`DecodeError::BadVersion`],
//!   [`DecodeError::ReservedNonZero`]). Version 1 sets TPKT' apart from RFC 1006 TPKT (version 3).
//! - Length counts the header, so it is at least [`MIN_FRAME_LEN`] (5: a keepalive) and at most
//!   65535 ([`MAX_FRAME_LEN`]). A receiver also enforces its own limit, by default
//!   [`DEFAULT_MAX_FRAME_LEN`] (16 KiB, see [`Decoder::with_max_frame_len`]).
//! - The payload is exactly what the UDP-4500 datagram's payload would be
//!   (<https://www.rfc-editor.org/rfc/rfc3948#section-2>), demultiplexed the same way (details
//!   in [`frame`]):
//!   - an IKE message keeps its 4-octet zero non-ESP marker in front
//!     ([RFC 3948 §2.2](https://www.rfc-editor.org/rfc/rfc3948#section-2.2)),
//!   - an ESP packet starts with its SPI, never zero
//!     ([RFC 3948 §2.1](https://www.rfc-editor.org/rfc/rfc3948#section-2.1)),
//!   - the single octet `0xFF` is a NAT-keepalive
//!     ([RFC 3948 §2.3](https://www.rfc-editor.org/rfc/rfc3948#section-2.3)); it is accepted and
//!     ignored, and need not be sent: a TCP connection keeps its NAT binding
//!     (<https://www.rfc-editor.org/rfc/rfc9329#section-6.6>).
//!
//! **The non-ESP marker.** TR 33.830 leaves open whether IKE messages on TCP carry the marker. We
//! keep it, as RFC 3948 does on UDP 4500 and RFC 9329 does on TCP
//! (<https://www.rfc-editor.org/rfc/rfc9329#section-3.1>): without it a receiver could not tell
//! an IKE message from an ESP packet, and with it a TPKT' payload goes through exactly the code
//! that handles UDP-4500 datagrams. TPKT' thus equals RFC 9329 framing with a different 4-octet
//! header in place of the 2-octet length, and no `IKETCP` prefix.
//!
//! # Errors
//!
//! | error | class | what the receiver does |
//! | --- | --- | --- |
//! | bad version, reserved non-zero, length < 5, length > configured max | stream | close the connection: the frame boundaries are lost |
//! | end of stream inside a frame ([`FrameReader::finish`]) | stream | log; the connection is gone |
//! | 1-octet payload other than `0xFF` | frame | drop the frame, continue |
//! | 2..7-octet payload (no room for SPI + sequence number) | frame | drop the frame, continue |
//! | non-ESP marker + fewer than 28 octets (the IKE header) | frame | drop the frame, continue |
//!
//! [`DecodeError::skip`] tells the classes apart. Deeper checks (the IKE header's own length, the
//! ESP ICV) belong to the IKE and ESP layers.
//!
//! # Using it on a connection
//!
//! Receive: one [`FrameReader`] per connection; read the socket into
//! [`FrameReader::spare_mut`], [`FrameReader::commit`] the count, then take frames from
//! [`FrameReader::next_frame`] until `Ok(None)`. A listener that serves several framings first
//! passes [`FrameReader::buffered`] to [`classify()`]. [`Frame::Ike`] is the bare IKE message the
//! engine takes; [`Frame::Esp`] is a writable slice of the receive buffer, from the SPI, to
//! decrypt in place. Callers with their own buffer use [`Decoder::decode_span`] /
//! [`Decoder::decode_mut`] and drop [`FrameSpan::frame_len`] octets after each frame.
//!
//! Send: seal ESP at offset [`HEADER_LEN`] of the packet buffer and call [`encode_in_place`]
//! (or write [`frame_header`] into the 4 octets of headroom in front of it);
//! for an IKE message write [`ike_prefix`] then the message (vectored), or place the message at
//! offset [`IKE_PREFIX_LEN`] and call [`encode_ike_in_place`].
//! To batch frames per write under a memory bound, queue them in a [`SendQueue`], which drops ESP
//! before IKE when the TCP path is slower than the traffic.
//!
//! # Detecting the framing (TR 33.830 clause 8.5.2.5)
//!
//! [`classify()`] tells a TPKT' stream from TLS, HTTP and RFC 9329 (`IKETCP`) streams by their
//! first octets; a gateway can use it to serve several framings on one port. A firewall can do
//! the same on the first data segment of a connection, whose TCP payload begins with
//! `01 00 LL LL`. With nftables (the `@ih` payload base is the data after the TCP header), this
//! marks TPKT' connections to port 80 so later rules can allow, count or rate-limit them:
//!
//! ```text
//! table inet eseg_tpkt {
//!     chain forward {
//!         type filter hook forward priority filter; policy accept;
//!         tcp dport 80 ct mark != 0x3383 @ih,0,16 0x0100 @ih,16,16 5-65535 ct mark set 0x3383
//!         ct mark 0x3383 counter accept
//!     }
//! }
//! ```
//!
//! Only the first data segment is sure to start at a frame boundary; later segments start
//! anywhere, so a rule that looks at every segment of unmarked connections can also mark an
//! HTTP connection whose segment happens to start with `01 00`. Operators who need certainty
//! match the first data segment only (for instance with `ct original packets` in a small range
//! on the client side) or let the gateway classify.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::panic, clippy::expect_used)
)]

pub mod classify;
pub mod decoder;
pub mod encoder;
pub mod error;
pub mod frame;
pub mod header;
pub mod reader;
pub mod send_queue;

pub use classify::{classify, Classification, CLASSIFY_PREFIX_LEN, IKETCP_PREFIX};
pub use decoder::{Decoder, FrameSpan};
pub use encoder::{
    encode_ike_in_place, encode_in_place, frame_header, ike_prefix, IKE_PREFIX_LEN, KEEPALIVE_FRAME,
};
pub use error::{ConfigError, DecodeError, EncodeError};
pub use frame::{
    Frame, FrameKind, ESP_MIN_LEN, IKE_HEADER_LEN, KEEPALIVE, MIN_IKE_FRAME_LEN, NON_ESP_MARKER,
    NON_ESP_MARKER_LEN,
};
pub use header::{
    Header, DEFAULT_MAX_FRAME_LEN, HEADER_LEN, MAX_FRAME_LEN, MIN_FRAME_LEN, RESERVED, VERSION,
};
pub use reader::FrameReader;
pub use send_queue::SendQueue;
