//! The gateway configuration: a TOML file whose every key is optional, on top of built-in defaults
//! that are enough to start a working gateway (and the lab demo) without any file.
//!
//! Loading never stops at the first semantic mistake: [`Config::from_toml`] returns every error it
//! finds, each with the key path (`clients.pool`, `peers[1].psk`) and, when the key is in the file,
//! its line and column. Syntax and type errors come from the TOML parser with its own location.

mod proposal;
mod raw;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::Ipv4Net;
use subtle::ConstantTimeEq as _;
use toml::Spanned;

use ikev2::crypto::Secret;
use ikev2::identity::{Identity, IdentityPattern};
use ikev2::proposal::{EspProposal, IkeProposal};
use raw::RawConfig;

/// Built-in defaults, chosen so that `eseg-gateway` with no file serves the lab demo: the
/// addresses are those of the lab's first address block (198.18.0.0/23, RFC 2544 benchmarking
/// space), see `lab::addressing`.
pub mod defaults {
    /// Our IKE identity (ID_FQDN).
    pub const IDENTITY: &str = "gw.eseg.test";
    /// Listen on every IPv4 address.
    pub const LISTEN: &[&str] = &["0.0.0.0"];
    /// RFC 7296 §2 IKE port.
    pub const IKE_PORT: u16 = 500;
    /// RFC 3948 NAT-T port.
    pub const NATT_PORT: u16 = 4500;
    /// Where `eseg-gateway status` connects.
    pub const STATUS_SOCKET: &str = "/run/eseg/gateway.sock";
    /// Data-plane worker pairs.
    pub const WORKERS: u32 = 1;
    /// The inner-side TUN device.
    pub const TUN_NAME: &str = "eseg0";
    /// Inner MTU: 1500 minus the worst-case ESP-in-UDP overhead, rounded down.
    pub const TUN_MTU: u32 = 1400;
    /// The client address pool; the first address is the gateway's own inner address.
    pub const POOL: &str = "198.18.1.0/24";
    /// DNS servers handed to clients (INTERNAL_IP4_DNS).
    pub const DNS: &[&str] = &["198.18.0.132"];
    /// P-CSCF addresses handed to clients (RFC 7651 P_CSCF_IP4_ADDRESS).
    pub const PCSCF: &[&str] = &["198.18.0.131"];
    /// Networks behind the gateway that clients reach through the tunnel.
    pub const PROTECTED_SUBNETS: &[&str] = &["198.18.0.128/25"];
    /// The one built-in peer: any identity, with a PSK that is fine for the lab and nowhere else.
    pub const PEER_ID: &str = "*";
    /// The built-in PSK (the gateway warns when it is in use).
    pub const PEER_PSK: &str = "eseg-lab-demo-psk-do-not-deploy";
    /// IKE SA proposals, most preferred first.
    pub const IKE_PROPOSALS: &[&str] = &[
        "aes256gcm16-aes128gcm16-chacha20poly1305-prfsha256-prfsha384-prfsha512-x25519-ecp256-ecp384",
        "aes256-aes128-sha256-sha384-sha512-x25519-ecp256-ecp384",
    ];
    /// Child SA proposals, most preferred first.
    pub const ESP_PROPOSALS: &[&str] = &[
        "aes256gcm16-aes128gcm16-chacha20poly1305",
        "aes256-aes128-sha256-sha384-sha512",
    ];
    /// IKE SA lifetime before rekeying.
    pub const IKE_LIFETIME_SECS: u64 = 4 * 3600;
    /// Child SA lifetime before rekeying.
    pub const CHILD_LIFETIME_SECS: u64 = 3600;
    /// Seconds without traffic from a peer before a liveness check (RFC 7296 §2.4).
    pub const LIVENESS_INTERVAL_SECS: u64 = 30;
    /// Half-open IKE SAs before IKE_SA_INIT requires a COOKIE (RFC 7296 §2.6).
    pub const COOKIE_THRESHOLD: u32 = 64;
}

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
    /// DNS servers for clients.
    pub dns: Vec<IpAddr>,
    /// P-CSCF addresses for clients.
    pub pcscf: Vec<IpAddr>,
    /// Networks clients reach through the gateway (our traffic selectors).
    pub protected_subnets: Vec<Ipv4Net>,
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
    /// Half-open SAs before cookies are required.
    pub cookie_threshold: u32,
    /// The TPKT' listeners (`[tcp]`).
    pub tcp: crate::tcp_listener::TcpSettings,
}

impl Config {
    /// The gateway's own inner address: the first host of the pool.
    pub fn inner_address(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.pool.network()).saturating_add(1))
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
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            vec![ConfigError {
                key: e.span().and_then(|s| key_at(text, s.start)),
                location: e.span().map(|s| Location::of(text, s.start)),
                message: e.message().trim_end().to_owned(),
            }]
        })?;
        let mut v = Validator {
            text,
            errors: Vec::new(),
        };
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

/// The dotted key at `offset` (its value or the key itself), found from the nearest `[table]`
/// header above and the `key =` on the offset's line (the TOML parser reports type errors with a span only).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let table = before
        .get(..line_start)?
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    let line_end = text
        .get(line_start..)?
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let key = text
        .get(line_start..line_end)?
        .split_once('=')
        .map(|(k, _)| k.trim().to_owned())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (None, Some(k)) => Some(k),
        (Some(t), None) => Some(t),
        (None, None) => None,
    }
}

/// A 1-based line and column in the configuration text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl Location {
    fn of(text: &str, offset: usize) -> Self {
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |l| l.chars().count()) + 1;
        Location { line, column }
    }
}

/// One configuration mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key path, e.g. `clients.pool` or `peers[1].psk`.
    pub key: Option<String>,
    /// Where in the file, when known.
    pub location: Option<Location>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = self.location {
            write!(f, "{}:{}: ", loc.line, loc.column)?;
        }
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Collects errors while turning a [`RawConfig`] into a [`Config`].
struct Validator<'a> {
    text: &'a str,
    errors: Vec<ConfigError>,
}

impl Validator<'_> {
    fn error(&mut self, key: impl Into<String>, span: Option<Range<usize>>, message: String) {
        let location = span.map(|s| Location::of(self.text, s.start));
        self.errors.push(ConfigError {
            key: Some(key.into()),
            location,
            message,
        });
    }

    /// Parses a spanned string with `FromStr`, recording an error (and returning `None`) on failure.
    fn parse<T: std::str::FromStr>(&mut self, key: &str, value: &Spanned<String>) -> Option<T>
    where
        T::Err: fmt::Display,
    {
        self.parse_by(key, value, str::parse)
    }

    /// Parses a spanned string with `parse`, recording an error (and returning `None`) on failure.
    fn parse_by<T, E: fmt::Display>(
        &mut self,
        key: &str,
        value: &Spanned<String>,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Option<T> {
        match parse(value.get_ref()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(
                    key,
                    Some(value.span()),
                    format!("`{}`: {e}", value.get_ref()),
                );
                None
            }
        }
    }

    /// Parses a list of strings with `FromStr`; an absent list takes the defaults.
    fn parse_list<T: std::str::FromStr>(
        &mut self,
        key: &str,
        values: Option<Vec<Spanned<String>>>,
        defaults: &[&str],
    ) -> Vec<T>
    where
        T::Err: fmt::Display,
    {
        self.parse_list_by(key, values, defaults, str::parse)
    }

    /// Parses a list of strings with `parse`; an absent list takes the defaults.
    fn parse_list_by<T, E: fmt::Display>(
        &mut self,
        key: &str,
        values: Option<Vec<Spanned<String>>>,
        defaults: &[&str],
        parse: impl Fn(&str) -> Result<T, E> + Copy,
    ) -> Vec<T> {
        match values {
            Some(values) => values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| self.parse_by(&format!("{key}[{i}]"), v, parse))
                .collect(),
            None => defaults.iter().filter_map(|d| parse(d).ok()).collect(),
        }
    }

    fn prefix(&mut self, key: &str, value: &Spanned<String>) -> Option<Ipv4Net> {
        let net: Ipv4Net = self.parse(key, value)?;
        if net.trunc() != net {
            self.error(
                key,
                Some(value.span()),
                format!("host bits are set; did you mean {}?", net.trunc()),
            );
            return None;
        }
        Some(net)
    }

    fn nonempty<T>(
        &mut self,
        key: &str,
        list: Option<Spanned<Vec<T>>>,
    ) -> Option<(Vec<T>, Range<usize>)> {
        let list = list?;
        let span = list.span();
        let list = list.into_inner();
        if list.is_empty() {
            self.error(key, Some(span), "must not be empty".into());
            return None;
        }
        Some((list, span))
    }

    fn ranged<T: Copy + PartialOrd + fmt::Display>(
        &mut self,
        key: &str,
        value: Option<Spanned<T>>,
        range: std::ops::RangeInclusive<T>,
        default: T,
    ) -> T {
        match value {
            Some(v) if range.contains(v.get_ref()) => *v.get_ref(),
            Some(v) => {
                self.error(
                    key,
                    Some(v.span()),
                    format!(
                        "{} is out of range {}..={}",
                        v.get_ref(),
                        range.start(),
                        range.end()
                    ),
                );
                default
            }
            None => default,
        }
    }

    fn validate(&mut self, raw: RawConfig) -> Config {
        let builtin_net = |s: &str| s.parse::<Ipv4Net>().ok();
        let g = raw.gateway;

        let identity = match &g.identity {
            Some(v) => self.parse("gateway.identity", v),
            None => defaults::IDENTITY.parse().ok(),
        }
        .unwrap_or_else(|| Identity::Fqdn(defaults::IDENTITY.into()));

        let listen = match self.nonempty("gateway.listen", g.listen) {
            Some((list, _)) => self.parse_list("gateway.listen", Some(list), &[]),
            None => self.parse_list("gateway.listen", None, defaults::LISTEN),
        };
        let ike_port = self.ranged(
            "gateway.ike_port",
            g.ike_port,
            1..=u16::MAX,
            defaults::IKE_PORT,
        );
        let natt_port = self.ranged(
            "gateway.natt_port",
            g.natt_port,
            1..=u16::MAX,
            defaults::NATT_PORT,
        );
        if ike_port == natt_port {
            self.error(
                "gateway.natt_port",
                None,
                format!("must differ from gateway.ike_port ({ike_port})"),
            );
        }
        let status_socket = g
            .status_socket
            .map_or_else(|| defaults::STATUS_SOCKET.into(), |s| s.into_inner())
            .into();
        let workers = self.ranged("gateway.workers", g.workers, 1..=64, defaults::WORKERS);

        let tun_name = match raw.tun.name {
            Some(name) => {
                let valid = !name.get_ref().is_empty()
                    && name.get_ref().len() < libc_ifnamsiz()
                    && name
                        .get_ref()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                if !valid {
                    self.error(
                        "tun.name",
                        Some(name.span()),
                        format!(
                            "`{}` is not a valid interface name (1-15 characters of a-z, 0-9, -, _, .)",
                            name.get_ref()
                        ),
                    );
                }
                name.into_inner()
            }
            None => defaults::TUN_NAME.into(),
        };
        let tun_mtu = self.ranged("tun.mtu", raw.tun.mtu, 576..=9000, defaults::TUN_MTU);

        let c = raw.clients;
        let pool = match &c.pool {
            Some(v) => match self.prefix("clients.pool", v) {
                Some(net) if net.prefix_len() > 30 => {
                    self.error(
                        "clients.pool",
                        Some(v.span()),
                        "needs at least 4 addresses (prefix length 30 or less)".into(),
                    );
                    None
                }
                other => other,
            },
            None => builtin_net(defaults::POOL),
        }
        .or_else(|| builtin_net(defaults::POOL))
        .unwrap_or_default();
        let dns = self.parse_list("clients.dns", c.dns, defaults::DNS);
        let pcscf = self.parse_list("clients.pcscf", c.pcscf, defaults::PCSCF);
        let protected_subnets: Vec<Ipv4Net> =
            match self.nonempty("clients.protected_subnets", c.protected_subnets) {
                Some((list, _)) => list
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| self.prefix(&format!("clients.protected_subnets[{i}]"), v))
                    .collect(),
                None => defaults::PROTECTED_SUBNETS
                    .iter()
                    .filter_map(|s| builtin_net(s))
                    .collect(),
            };
        for (i, net) in protected_subnets.iter().enumerate() {
            if net.contains(&pool.network()) || pool.contains(&net.network()) {
                self.error(
                    format!("clients.protected_subnets[{i}]"),
                    None,
                    format!("{net} overlaps the address pool {pool}"),
                );
            }
        }

        let peers = match self.nonempty("peers", raw.peers) {
            Some((list, _)) => self.peers(list),
            None => vec![Peer {
                id: defaults::PEER_ID.parse().unwrap_or(IdentityPattern::Any),
                psk: Secret::from_slice(defaults::PEER_PSK.as_bytes()),
            }],
        };

        let i = raw.ike;
        let ike = self.nonempty("ike.proposals", i.proposals).map(|(l, _)| l);
        let ike_proposals = self.parse_list_by(
            "ike.proposals",
            ike,
            defaults::IKE_PROPOSALS,
            proposal::parse_ike,
        );
        let esp = self
            .nonempty("ike.esp_proposals", i.esp_proposals)
            .map(|(l, _)| l);
        let esp_proposals = self.parse_list_by(
            "ike.esp_proposals",
            esp,
            defaults::ESP_PROPOSALS,
            proposal::parse_esp,
        );
        let day = 24 * 3600;
        let ike_lifetime = self.ranged(
            "ike.ike_lifetime_secs",
            i.ike_lifetime_secs,
            60..=7 * day,
            defaults::IKE_LIFETIME_SECS,
        );
        let child_lifetime = self.ranged(
            "ike.child_lifetime_secs",
            i.child_lifetime_secs,
            60..=day,
            defaults::CHILD_LIFETIME_SECS,
        );
        let liveness = self.ranged(
            "ike.liveness_interval_secs",
            i.liveness_interval_secs,
            1..=3600,
            defaults::LIVENESS_INTERVAL_SECS,
        );
        let cookie_threshold = self.ranged(
            "ike.cookie_threshold",
            i.cookie_threshold,
            0..=1_000_000,
            defaults::COOKIE_THRESHOLD,
        );

        let tcp = self.tcp(raw.tcp);

        Config {
            tcp,
            identity,
            listen,
            ike_port,
            natt_port,
            status_socket,
            workers: usize::try_from(workers).unwrap_or(1),
            tun_name,
            tun_mtu,
            pool,
            dns,
            pcscf,
            protected_subnets,
            client_to_client: c.client_to_client.unwrap_or(false),
            peers,
            ike_proposals,
            esp_proposals,
            ike_lifetime: Duration::from_secs(ike_lifetime),
            child_lifetime: Duration::from_secs(child_lifetime),
            liveness_interval: Duration::from_secs(liveness),
            cookie_threshold,
        }
    }

    fn tcp(&mut self, t: raw::RawTcp) -> crate::tcp_listener::TcpSettings {
        use crate::tcp_listener as d;
        let ports = match t.ports {
            Some(list) => list
                .into_iter()
                .filter_map(|p| {
                    if *p.get_ref() == 0 {
                        self.error("tcp.ports", Some(p.span()), "port 0 is not a port".into());
                        None
                    } else {
                        Some(p.into_inner())
                    }
                })
                .collect(),
            None => d::DEFAULT_PORTS.to_vec(),
        };
        let first_frame = self.ranged(
            "tcp.first_frame_timeout_secs",
            t.first_frame_timeout_secs,
            1..=300,
            d::DEFAULT_FIRST_FRAME_TIMEOUT_SECS,
        );
        let idle = self.ranged(
            "tcp.idle_timeout_secs",
            t.idle_timeout_secs,
            5..=86_400,
            d::DEFAULT_IDLE_TIMEOUT_SECS,
        );
        let max_connections = self.ranged(
            "tcp.max_connections",
            t.max_connections,
            1..=1_000_000,
            d::DEFAULT_MAX_CONNECTIONS,
        );
        crate::tcp_listener::TcpSettings {
            ports,
            first_frame_timeout: Duration::from_secs(first_frame),
            idle_timeout: Duration::from_secs(idle),
            max_connections,
        }
    }

    fn peers(&mut self, list: Vec<raw::RawPeer>) -> Vec<Peer> {
        let mut peers = Vec::with_capacity(list.len());
        for (i, p) in list.into_iter().enumerate() {
            let id: Option<IdentityPattern> = self.parse(&format!("peers[{i}].id"), &p.id);
            if p.psk.get_ref().len() < MIN_PSK_LEN {
                // Never echo the key itself, not even in an error.
                self.error(
                    format!("peers[{i}].psk"),
                    Some(p.psk.span()),
                    format!("too short: at least {MIN_PSK_LEN} characters"),
                );
            }
            if peers.iter().any(|q: &Peer| Some(&q.id) == id.as_ref()) {
                self.error(
                    format!("peers[{i}].id"),
                    Some(p.id.span()),
                    format!("`{}` is listed twice", p.id.get_ref()),
                );
            }
            let psk = Secret::new(p.psk.into_inner().into_bytes());
            if let Some(id) = id {
                peers.push(Peer { id, psk });
            }
        }
        peers.sort_by_key(|p| std::cmp::Reverse(p.id.specificity()));
        peers
    }
}

/// Interface names are limited to IFNAMSIZ-1 bytes.
fn libc_ifnamsiz() -> usize {
    libc::IFNAMSIZ
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<ConfigError> {
        Config::from_toml(text).expect_err("config should be rejected")
    }

    #[test]
    fn builtin_defaults_match_the_example_file() {
        let builtin = Config::builtin();
        let example = Config::from_toml(EXAMPLE).unwrap();
        assert_eq!(format!("{builtin:?}"), format!("{example:?}"));
        assert_eq!(builtin.pool.to_string(), defaults::POOL);
        assert_eq!(builtin.inner_address(), Ipv4Addr::new(198, 18, 1, 1));
        assert_eq!(builtin.ike_proposals.len(), 2);
        assert!(builtin.uses_builtin_psk());
        assert!(
            !format!("{builtin:?}").contains(defaults::PEER_PSK),
            "PSK leaked into Debug"
        );
    }

    #[test]
    fn reports_every_semantic_error_with_key_and_line() {
        let text = "\
[clients]
pool = \"198.18.1.7/24\"
dns = [\"198.18.0.132\", \"not-an-ip\"]
protected_subnets = [\"198.18.0.0/16\"]

[[peers]]
id = \"*\"
psk = \"short\"

[ike]
proposals = [\"aes256gcm16-prfsha256-modp1024\"]
liveness_interval_secs = 0
";
        let errs = errors(text);
        let found: Vec<(Option<&str>, Option<usize>)> = errs
            .iter()
            .map(|e| (e.key.as_deref(), e.location.map(|l| l.line)))
            .collect();
        assert!(
            found.contains(&(Some("clients.pool"), Some(2))),
            "{errs:#?}"
        );
        assert!(
            found.contains(&(Some("clients.dns[1]"), Some(3))),
            "{errs:#?}"
        );
        assert!(
            found.contains(&(Some("peers[0].psk"), Some(8))),
            "{errs:#?}"
        );
        assert!(
            found.contains(&(Some("ike.proposals[0]"), Some(11))),
            "{errs:#?}"
        );
        assert!(
            found.contains(&(Some("ike.liveness_interval_secs"), Some(12))),
            "{errs:#?}"
        );
        let text = errs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains("modp1024"), "{text}");
        assert!(!text.contains("short\""), "the PSK is never echoed: {text}");
    }

    #[test]
    fn overlap_between_pool_and_protected_subnets_is_rejected() {
        let errs = errors("[clients]\nprotected_subnets = [\"198.18.0.0/16\"]\n");
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!(errs[0].key.as_deref(), Some("clients.protected_subnets[0]"));
        assert!(errs[0].message.contains("overlaps"));
    }

    #[test]
    fn syntax_type_and_unknown_key_errors_carry_a_location() {
        for (text, line, needle) in [
            ("[gateway]\nike_port = \"five hundred\"\n", 2, "ike_port"),
            ("[gateway]\nik_port = 500\n", 2, "ik_port"),
            ("[tun]\nname = \"eseg0\"\nmtu = \n", 3, ""),
            ("[[peers]]\nid = \"*\"\n", 1, "psk"),
        ] {
            let errs = errors(text);
            assert_eq!(errs.len(), 1, "{text}: {errs:#?}");
            let loc = errs[0].location.expect("location");
            assert_eq!(loc.line, line, "{text}: {errs:#?}");
            assert!(errs[0].to_string().contains(needle), "{text}: {}", errs[0]);
        }
    }

    #[test]
    fn duplicate_peers_and_bad_names_are_rejected() {
        let text = "\
[tun]
name = \"this-name-is-far-too-long\"

[[peers]]
id = \"*.ims.example\"
psk = \"0123456789abcdef0123\"

[[peers]]
id = \"*.ims.example\"
psk = \"0123456789abcdef0123\"
";
        let keys: Vec<_> = errors(text).into_iter().filter_map(|e| e.key).collect();
        assert_eq!(keys, vec!["tun.name", "peers[1].id"]);
    }

    #[test]
    fn peers_are_ordered_most_specific_first() {
        let text = "\
[[peers]]
id = \"*\"
psk = \"0123456789abcdef0123\"

[[peers]]
id = \"ue1.ims.example\"
psk = \"0123456789abcdef0123\"
";
        let config = Config::from_toml(text).unwrap();
        assert_eq!(config.peers[0].id, "ue1.ims.example".parse().unwrap());
        assert!(!config.uses_builtin_psk());
    }

    #[test]
    fn location_counts_lines_and_characters() {
        let text = "a\nbé = 1\n";
        assert_eq!(Location::of(text, 0), Location { line: 1, column: 1 });
        assert_eq!(Location::of(text, 2), Location { line: 2, column: 1 });
        assert_eq!(Location::of(text, 6), Location { line: 2, column: 4 });
    }
}
