//! The gateway's TPKT' listeners (TR 33.830 clause 8.5.2.3): TCP port 80 by default (the
//! `[tcp] ports` list, e.g. `[80, 443]`), on every `gateway.listen` address. Accepted connections
//! are served by `netio`'s TCP transport: their IKE reaches the same engine as UDP IKE, their
//! ESP the same data path.
//!
//! Hostile peers are bounded by `[tcp]` limits: `max_connections` in total and
//! `max_connections_per_source` from one source (more are closed at accept, counted, logged at
//! most once per 10 s), a first complete IKE or ESP frame within `first_frame_timeout_secs`, a
//! completed IKE_SA_INIT within `handshake_timeout_secs`, then an IKE or ESP frame at least every
//! `idle_timeout_secs` (keepalives do not count; see `netio::dataplane::tcp_transport`).
//!
//! Each connection holds a descriptor: the process's descriptor limit (`LimitNOFILE=` under
//! systemd) must leave room for `[tcp] max_connections` of them.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use netio::dataplane::tcp_transport::{TcpConfig, TcpEvent, TcpTransport};
use netio::dataplane::Shared;
use netio::tun::TunQueue;
use tokio::sync::mpsc;

use netio::clock;

/// TCP ports served when the configuration names none.
pub const DEFAULT_PORTS: &[u16] = &[netio::tcp::TPKT_PORT];
/// Default time from accept to the first complete IKE or ESP frame.
pub const DEFAULT_FIRST_FRAME_TIMEOUT_SECS: u64 = 10;
/// Default time from accept until IKE_SA_INIT must have completed on a connection.
pub const DEFAULT_HANDSHAKE_TIMEOUT_SECS: u64 = 30;
/// Default longest silence between IKE or ESP frames (above any sane liveness interval).
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 120;
/// Default number of connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 4096;
/// Default number of connections served at once from one source (IPv4 address or IPv6 /64).
pub const DEFAULT_MAX_CONNECTIONS_PER_SOURCE: u64 = 256;

/// Accept backlog of each listener (a burst of reconnecting clients must not be refused).
const BACKLOG: u32 = 1024;

/// The validated `[tcp]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSettings {
    /// Ports to listen on (empty: no TCP transport).
    pub ports: Vec<u16>,
    /// Time from accept to the first complete IKE or ESP frame.
    pub first_frame_timeout: Duration,
    /// Time from accept until IKE_SA_INIT must have completed.
    pub handshake_timeout: Duration,
    /// Longest silence between IKE or ESP frames (keepalives do not count).
    pub idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: u64,
    /// Connections served at once from one source.
    pub max_connections_per_source: u64,
}

impl Default for TcpSettings {
    fn default() -> Self {
        Self {
            ports: DEFAULT_PORTS.to_vec(),
            first_frame_timeout: Duration::from_secs(DEFAULT_FIRST_FRAME_TIMEOUT_SECS),
            handshake_timeout: Duration::from_secs(DEFAULT_HANDSHAKE_TIMEOUT_SECS),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_source: DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
        }
    }
}

/// Opens the listeners and starts the transport; `None` when no port is configured.
pub fn start(
    settings: &TcpSettings,
    listen: &[IpAddr],
    shared: Arc<Shared>,
    tun: Arc<TunQueue>,
    events: mpsc::Sender<TcpEvent>,
) -> Result<Option<TcpTransport>, String> {
    if settings.ports.is_empty() {
        return Ok(None);
    }
    let config = TcpConfig {
        first_frame_timeout: settings.first_frame_timeout,
        handshake_timeout: settings.handshake_timeout,
        idle_timeout: settings.idle_timeout,
        max_connections: settings.max_connections,
        max_connections_per_source: settings.max_connections_per_source,
        ..TcpConfig::default()
    };
    let transport = TcpTransport::start(config, shared, tun, clock::now, events)
        .map_err(|e| format!("cannot start the TCP transport: {e}"))?;
    for ip in listen {
        for port in &settings.ports {
            let bind = SocketAddr::new(*ip, *port);
            let listener = netio::tcp::listen(bind, BACKLOG)
                .map_err(|e| format!("cannot listen on TCP {bind}: {e}"))?;
            let local = transport
                .listen(listener)
                .map_err(|e| format!("cannot serve TCP {bind}: {e}"))?;
            tracing::info!(%local, "TPKT' listener up");
        }
    }
    Ok(Some(transport))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn tcp_section_defaults_ports_and_ranges() {
        assert_eq!(Config::builtin().tcp, TcpSettings::default());
        let config = Config::from_toml(
            "[tcp]\nports = [80, 443]\nfirst_frame_timeout_secs = 3\nidle_timeout_secs = 60\n\
             max_connections = 100\nmax_connections_per_source = 8\nhandshake_timeout_secs = 20\n",
        )
        .unwrap();
        assert_eq!(config.tcp.ports, vec![80, 443]);
        assert_eq!(config.tcp.first_frame_timeout, Duration::from_secs(3));
        assert_eq!(config.tcp.handshake_timeout, Duration::from_secs(20));
        assert_eq!(config.tcp.idle_timeout, Duration::from_secs(60));
        assert_eq!(config.tcp.max_connections, 100);
        assert_eq!(config.tcp.max_connections_per_source, 8);
        assert!(Config::from_toml("[tcp]\nports = []\n")
            .unwrap()
            .tcp
            .ports
            .is_empty());
        let errors = Config::from_toml(
            "[tcp]\nports = [0]\nidle_timeout_secs = 1\nmax_connections_per_source = 0\n\
             handshake_timeout_secs = 0\n",
        )
        .unwrap_err();
        let keys: Vec<_> = errors.iter().filter_map(|e| e.key.as_deref()).collect();
        assert_eq!(
            keys,
            [
                "tcp.ports",
                "tcp.handshake_timeout_secs",
                "tcp.idle_timeout_secs",
                "tcp.max_connections_per_source"
            ],
            "{errors:?}"
        );
        assert!(
            Config::from_toml("[tcp]\nport = 80\n").is_err(),
            "unknown keys are refused"
        );
    }
}
