//! The configuration file as written: every section and key optional, values kept with their byte
//! span so that a semantic error can point at the offending line.
//!
//! Unknown keys are rejected (`deny_unknown_fields`): a misspelt key is an error with a location,
//! not a silently ignored setting.

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    pub gateway: RawGateway,
    pub tun: RawTun,
    pub clients: RawClients,
    pub peers: Option<Spanned<Vec<RawPeer>>>,
    pub ike: RawIke,
    pub tcp: RawTcp,
}

/// `[gateway]`: who we are and where we listen.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawGateway {
    pub identity: Option<Spanned<String>>,
    pub listen: Option<Spanned<Vec<Spanned<String>>>>,
    pub ike_port: Option<Spanned<u16>>,
    pub natt_port: Option<Spanned<u16>>,
    pub status_socket: Option<Spanned<String>>,
    pub workers: Option<Spanned<u32>>,
}

/// `[tun]`: the inner-side device.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawTun {
    pub name: Option<Spanned<String>>,
    pub mtu: Option<Spanned<u32>>,
}

/// `[clients]`: what clients get and may reach.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawClients {
    pub pool: Option<Spanned<String>>,
    pub pool6: Option<Spanned<String>>,
    pub dns: Option<Vec<Spanned<String>>>,
    pub pcscf: Option<Vec<Spanned<String>>>,
    pub protected_subnets: Option<Spanned<Vec<Spanned<String>>>>,
    pub client_to_client: Option<bool>,
}

/// One `[[peers]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPeer {
    pub id: Spanned<String>,
    pub psk: Spanned<String>,
}

/// `[ike]`: algorithms and timers.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawIke {
    pub proposals: Option<Spanned<Vec<Spanned<String>>>>,
    pub esp_proposals: Option<Spanned<Vec<Spanned<String>>>>,
    pub ike_lifetime_secs: Option<Spanned<u64>>,
    pub child_lifetime_secs: Option<Spanned<u64>>,
    pub liveness_interval_secs: Option<Spanned<u64>>,
    pub retransmit_initial_ms: Option<Spanned<u64>>,
    pub retransmit_tries: Option<Spanned<u32>>,
    pub cookie_threshold: Option<Spanned<u32>>,
    pub mobike: Option<bool>,
}

/// `[tcp]`: the TPKT' listeners (see `tcp_listener`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawTcp {
    pub ports: Option<Vec<Spanned<u16>>>,
    pub first_frame_timeout_secs: Option<Spanned<u64>>,
    pub handshake_timeout_secs: Option<Spanned<u64>>,
    pub idle_timeout_secs: Option<Spanned<u64>>,
    pub max_connections: Option<Spanned<u64>>,
    pub max_connections_per_source: Option<Spanned<u64>>,
}
