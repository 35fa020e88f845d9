//! The gateway configuration: a TOML file whose every key is optional, on top of built-in defaults
//! that are enough to start a working gateway (and the lab demo) without any file.
//!
//! Loading never stops at the first semantic mistake: [`Config::from_toml`] returns every error it
//! finds, each with the key path (`clients.pool`, `peers[1].psk`) and, when the key is in the file,
//! its line and column. Syntax and type errors come from the TOML parser with its own location.

pub mod defaults;
mod error;
mod proposal;
mod raw;
mod validate;
mod validator;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use subtle::ConstantTimeEq as _;

use ikev2::config::RetransmitConfig;
use ikev2::crypto::Secret;
use ikev2::identity::{Identity, IdentityPattern};
use ikev2::proposal::{EspProposal, IkeProposal};

pub use error::ConfigError;
use raw::RawConfig;
use validator::Validator;

/// An example file holding every key at its built-in default, with comments (`--print-defaults`).
pub const EXAMPLE: &str = include_str!("example.toml");

/// Shortest PSK accepted: RFC 7296 §2.15 asks for a key as unpredictable as the strongest
/// negotiated key; 16 characters is a floor, not a recommendation.
pub const MIN_PSK_LEN: usize = 16;

/// One peer the gateway accepts.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The identity pattern the peer's IDi must match (`*`, `*@ims.example`, `ue1.ims.example`).
    pub id: IdentityPattern,
    /// The shared key for this peer.
    pub psk: Secret,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Our IDr.
    pub identity: Identity,
    /// Addresses the IKE/NAT-T sockets bind to.
    pub listen: Vec<IpAddr>,
    /// UDP port for IKE.
    pub ike_port: u16,
    /// UDP port for NAT-T (IKE with the non-ESP marker, and ESP).
    pub natt_port: u16,
    /// Unix socket of the status interface.
    pub status_socket: PathBuf,
    /// Data-plane worker pairs (one TUN queue each).
    pub workers: usize,
    /// TUN device name.
    pub tun_name: String,
    /// TUN MTU.
    pub tun_mtu: u32,
    /// The client address pool.
    pub pool: Ipv4Net,
    /// The IPv6 client address pool (`clients.pool6`): clients that ask for an IPv6 inner
    /// address get a /128 from it. `None`: IPv4 only.
    pub pool6: Option<Ipv6Net>,
    /// DNS servers for clients (IPv6 ones only with `pool6`).
    pub dns: Vec<IpAddr>,
    /// P-CSCF addresses for clients (IPv6 ones only with `pool6`).
    pub pcscf: Vec<IpAddr>,
    /// Networks clients reach through the gateway (our traffic selectors); IPv6 ones only with
    /// `pool6`.
    pub protected_subnets: Vec<IpNet>,
    /// Whether one client may reach another client's inner address.
    pub client_to_client: bool,
    /// Peers, most specific pattern first.
    pub peers: Vec<Peer>,
    /// IKE SA proposals.
    pub ike_proposals: Vec<IkeProposal>,
    /// Child SA proposals.
    pub esp_proposals: Vec<EspProposal>,
    /// IKE SA lifetime.
    pub ike_lifetime: Duration,
    /// Child SA lifetime.
    pub child_lifetime: Duration,
    /// Idle time before a liveness check.
    pub liveness_interval: Duration,
    /// Retransmission of unanswered IKE requests, liveness checks included (RFC 7296 §2.1): the
    /// first wait and the number of retransmissions come from the file, the growth factor is the
    /// engine's (1.8).
    pub retransmit: RetransmitConfig,
    /// Half-open SAs before cookies are required.
    pub cookie_threshold: u32,
    /// MOBIKE (RFC 4555): clients may move their IKE SA to a new address with
    /// UPDATE_SA_ADDRESSES (`ikev2::EndpointConfig::mobike`).
    pub mobike: bool,
    /// The TPKT' listeners (`[tcp]`).
    pub tcp: crate::tcp_listener::TcpSettings,
}

impl Config {
    /// The gateway's own inner address: the first host of the pool.
    pub fn inner_address(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.pool.network()).saturating_add(1))
    }

    /// The gateway's own inner IPv6 address: the first host of `pool6`, when there is one.
    pub fn inner_address6(&self) -> Option<Ipv6Addr> {
        self.pool6
            .map(|net| Ipv6Addr::from(u128::from(net.network()).saturating_add(1)))
    }

    /// The client address pools: the IPv4 pool, then `pool6` when there is one.
    pub fn pools(&self) -> impl Iterator<Item = IpNet> {
        [IpNet::V4(self.pool)]
            .into_iter()
            .chain(self.pool6.map(IpNet::V6))
    }

    /// The socket addresses to bind for IKE and for NAT-T.
    pub fn bind_addresses(&self) -> impl Iterator<Item = (SocketAddr, SocketAddr)> + '_ {
        self.listen.iter().map(|ip| {
            (
                SocketAddr::new(*ip, self.ike_port),
                SocketAddr::new(*ip, self.natt_port),
            )
        })
    }

    /// The longest a dead client's IKE SA, CHILD SAs and inner address are kept after the last
    /// packet it sent: [`Config::liveness_interval`] of silence before the liveness check
    /// (<https://www.rfc-editor.org/rfc/rfc7296#section-2.4>), then the retransmission schedule
    /// until the check is given up (<https://www.rfc-editor.org/rfc/rfc7296#section-2.1>).
    /// With the defaults: 30 s + 4 s x (1 + 1.8 + ... + 1.8^5) = 30 s + 165.06 s = 195.06 s.
    pub fn dead_peer_hold_limit(&self) -> Duration {
        self.liveness_interval + self.retransmit.give_up_after()
    }

    /// Whether the built-in lab PSK is in use (the gateway warns loudly).
    pub fn uses_builtin_psk(&self) -> bool {
        self.peers
            .iter()
            .any(|p| bool::from(p.psk.expose().ct_eq(defaults::PEER_PSK.as_bytes())))
    }

    /// The built-in configuration.
    pub fn builtin() -> Self {
        match Self::from_toml("") {
            Ok(config) => config,
            Err(errors) => unreachable_defaults(&errors),
        }
    }

    /// Parses and validates a configuration file's text. On failure, returns every error found.
    pub fn from_toml(text: &str) -> Result<Self, Vec<ConfigError>> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| vec![ConfigError::from_toml(text, &e)])?;
        let mut v = Validator::new(text);
        let config = v.validate(raw);
        if v.errors.is_empty() {
            Ok(config)
        } else {
            Err(v.errors)
        }
    }
}

/// The built-in defaults are validated by a unit test; failing here is a programming error that
/// the test suite catches before release.
#[allow(clippy::panic)]
fn unreachable_defaults(errors: &[ConfigError]) -> ! {
    panic!("built-in defaults are invalid: {errors:?}")
}

#[cfg(test)]
mod tests;
