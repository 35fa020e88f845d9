//! Sans-IO IKEv2 engine (RFC 7296).
//!
//! - [`wire`]: the message codec (IKE header, payload chain, every payload of RFC 7296 and the
//!   RFC 7383 fragment payload). Parsing borrows from the input; unknown code points are kept.
//! - [`crypto`]: PRF, key derivation, Diffie-Hellman groups, SK payload protection, PSK AUTH.
//! - The engine: [`Endpoint`] owns every IKE SA and is driven like quinn-proto (bytes, `now`
//!   and commands in; [`Transmit`]s, a timer deadline and [`Event`]s out). Configuration is in
//!   [`config`] (peers by identity, proposals in [`proposal`], traffic selectors in [`ts`],
//!   identities in [`identity`], virtual IPs and the [`AddressPool`] trait in [`cp`]).
//!
//! The engine never opens a socket, never reads the clock and never uses a global RNG; it never
//! touches ESP packets (the data path installs the keys from [`Event::ChildSaInstalled`]).
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
