//! Sans-IO IKEv2 engine (RFC 7296).
//!
//! - [`wire`]: the message codec (IKE header, payload chain, every payload of RFC 7296 and the
//!   RFC 7383 fragment payload). Parsing borrows from the input; unknown code points are kept.
//! - [`crypto`]: PRF, key derivation, Diffie-Hellman groups, SK payload protection, PSK AUTH.
//! - The engine: [`Endpoint`] owns every IKE SA (thousands as a responder, a few as an
//!   initiator). Configuration is in [`config`] (peers by identity, proposals in [`proposal`],
//!   traffic selectors in [`ts`], identities in [`identity`], virtual IPs and the
//!   [`AddressPool`] trait in [`cp`]); outputs are [`Transmit`]s, a timer deadline and
//!   [`Event`]s ([`events`]).
//!
//! # The driver contract (sans-IO, like quinn-proto)
//!
//! The engine never opens a socket, never reads the clock, never uses a global RNG and never
//! touches ESP packets. A driver owns one [`Endpoint`] on one task and does, in a loop:
//!
//! | input | call |
//! | --- | --- |
//! | an IKE message arrived (UDP 500, UDP 4500 after stripping the 4-byte zero non-ESP marker, or a TPKT' frame on TCP after stripping its header) | [`Endpoint::handle_datagram`]`(now, path, bytes)` with the [`Path`] it came on |
//! | the timer from [`Endpoint::poll_timeout`] fired | [`Endpoint::handle_timeout`]`(now)` |
//! | the data path counted ESP traffic | [`Endpoint::report_child_activity`] (feeds DPD and byte/packet lifetimes) |
//! | operator / client logic | [`Endpoint::initiate`], [`Endpoint::close`], [`Endpoint::create_child`], [`Endpoint::rekey_child`], [`Endpoint::rekey_ike`], [`Endpoint::delete_child`], [`Endpoint::check_liveness`], [`Endpoint::migrate`] (the client changed network) |
//!
//! and after every call drains the outputs:
//!
//! - [`Endpoint::poll_transmit`] until `None`: send `data` from `path.local` to `path.remote`
//!   (bind both 500 and 4500); prepend the non-ESP marker when [`Path::needs_non_esp_marker`]
//!   (UDP, neither port 500), or the TPKT' header on [`Transport::Tcp`]. Replies go out on the
//!   path the request came in on; after NAT detection the engine itself moves an IKE SA to
//!   port 4500, and it follows a peer whose authenticated messages come from a new address
//!   ([`Event::PathChanged`]). With MOBIKE (RFC 4555, [`EndpointConfig::mobike`], on by
//!   default) the peer announces a new address with UPDATE_SA_ADDRESSES instead, and
//!   [`Endpoint::migrate`] announces ours.
//! - [`Endpoint::poll_event`] until `None`:
//!   - [`Event::IkeSaEstablished`]: the peer is authenticated (identities, NAT on each side, path);
//!   - [`Event::VirtualIp`]: responder: addresses handed out from the pool (route them to this
//!     IKE SA); initiator: address, DNS and P-CSCF received (configure the TUN device);
//!   - [`Event::ChildSaInstalled`]: install both ESP SAs (SPIs, keys split per RFC 7296 §2.17,
//!     cipher, ESN, traffic selectors, `udp_encapsulation`). With `replaces: Some(old)` it is a
//!     rekey: send on the new outbound SA from now on and keep the old inbound SA until
//!     [`Event::ChildSaDeleted`] for `old` (make-before-break);
//!   - [`Event::ChildSaDeleted`]: remove both ESP SAs of that CHILD SA;
//!   - [`Event::IkeSaRekeyed`]: new IKE SA keys, same handle, same CHILD SAs (informative);
//!   - [`Event::PathChanged`]: send ESP (and expect IKE) on the new path from now on;
//!     [`Event::PathConfirmed`]: the peer answered the announcement of a
//!     [`Endpoint::migrate`], so it follows us there;
//!   - [`Event::Closed`]: the IKE SA is gone (its CHILD SAs were reported deleted before).
//! - [`Endpoint::poll_timeout`]: (re)arm the single timer.
//!
//! `now` must never go backwards. The RNG is ChaCha20 seeded from [`EndpointConfig::seed`]
//! (seed it from the OS once): with the same seed and the same inputs the engine produces the
//! same bytes.
//!
//! Encapsulation: [`EndpointConfig::force_encapsulation`] defaults to `true` because our data
//! path is userspace ESP-in-UDP (RFC 3948), like strongSwan's kernel-libipsec: the engine fakes
//! its NAT detection hash so both ends move to port 4500 and encapsulate ESP. Set it to `false`
//! to encapsulate only when a NAT is really detected.
//!
//! Virtual IPs: the gateway owns its pools and hands the engine an [`AddressPool`] object; the
//! engine allocates while answering a CFG_REQUEST and releases when the IKE SA closes.
//!
//! Hostile input is dropped or answered with the notify RFC 7296 prescribes, never panics, and
//! is counted in [`Counters`] ([`Endpoint::counters`]); half-open SAs, IKE SAs, CHILD SAs per IKE
//! SA and queued commands are bounded.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Instant;
//! use ikev2::{Endpoint, EndpointConfig, Event, NoAddressPool, Path, PeerConfig};
//! use ikev2::crypto::Secret;
//!
//! let peer = PeerConfig::new(
//!     "gw",
//!     "client.example".parse()?,
//!     "gw.example".parse()?,
//!     Secret::from_slice(b"pre-shared key"),
//! );
//! let mut endpoint = Endpoint::new(EndpointConfig::new([0x42; 32], Vec::new()), Box::new(NoAddressPool));
//! # #[allow(clippy::disallowed_methods)]
//! let now = Instant::now();
//! let path = Path::udp("192.0.2.2:500".parse()?, "192.0.2.1:500".parse()?);
//! let sa = endpoint.initiate(now, Arc::new(peer), path)?;
//! while let Some(transmit) = endpoint.poll_transmit() {
//!     // socket.send_to(&transmit.data, transmit.path.remote) from transmit.path.local
//!     let _ = transmit;
//! }
//! while let Some(event) = endpoint.poll_event() {
//!     if let Event::ChildSaInstalled(child) = event {
//!         // esp: install child.inbound / child.outbound
//!         let _ = (sa, child);
//!     }
//! }
//! let _next_wakeup = endpoint.poll_timeout();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod codec;
pub mod config;
pub mod counters;
pub mod cp;
pub mod crypto;
mod endpoint;
pub mod error;
pub mod events;
pub mod identity;
pub mod path;
pub mod proposal;
mod sa;
pub mod ts;
pub mod wire;

pub use config::{EndpointConfig, PeerConfig};
pub use counters::Counters;
pub use cp::{AddressPool, NoAddressPool, VirtualIp};
pub use endpoint::{CommandError, Endpoint};
pub use error::Error;
pub use events::{ChildSaId, ChildSaInstalled, CloseReason, Event, IkeSaHandle};
pub use identity::{Identity, IdentityPattern};
pub use path::{Path, TcpConnectionId, Transmit, Transport};
