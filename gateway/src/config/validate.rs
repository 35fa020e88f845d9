//! Turning the file as written ([`RawConfig`]) into a [`Config`], section by section: every key
//! checked, every mistake recorded (see [`Validator`]), built-in defaults for what is absent.

use std::ops::RangeInclusive;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use ikev2::config::RetransmitConfig;
use ikev2::crypto::Secret;
use ikev2::identity::{Identity, IdentityPattern};

use super::raw::{self, RawConfig};
use super::validator::{interface_name, prefix, prefix6, prefix_any, Validator};
use super::{defaults, proposal, Config, Peer, MIN_PSK_LEN};
use crate::tcp_listener::{self, TcpSettings};

/// One day in seconds, for lifetime ranges.
const DAY_SECS: u64 = 24 * 3600;
/// `ike.retransmit_initial_ms`: below 100 ms an ordinary round trip over a loaded mobile network
/// would already count as a loss (the same floor as eseg-client's `--retransmit-initial-ms`).
const RETRANSMIT_INITIAL_MS: RangeInclusive<u64> = 100..=60_000;
/// `ike.retransmit_tries`: at least one retransmission, so one lost datagram does not end a
/// client's IKE SA.
const RETRANSMIT_TRIES: RangeInclusive<u32> = 1..=20;
/// `clients.pool6` prefix lengths: from a whole /64 down to a /126 (network, gateway, one
/// client and the reserved last address).
const POOL6_PREFIX_LEN: RangeInclusive<u8> = 64..=126;
/// The longest a retransmission schedule may run before it gives up; longer schedules hold a dead
/// client's inner address for hours.
const MAX_RETRANSMIT_GIVE_UP: Duration = Duration::from_secs(3600);

impl Validator<'_> {
    /// Checks every section; errors are collected in `self.errors`.
    pub(super) fn validate(&mut self, raw: RawConfig) -> Config {
        let g = raw.gateway;
        let identity = self
            .parse_or(
                "gateway.identity",
                g.identity.as_ref(),
                defaults::IDENTITY,
                str::parse,
            )
            .unwrap_or_else(|| Identity::Fqdn(defaults::IDENTITY.into()));
        let listen = self.nonempty_list("gateway.listen", g.listen, defaults::LISTEN, str::parse);
        let ike_port = self.port("gateway.ike_port", g.ike_port, defaults::IKE_PORT);
        let natt_port = self.port("gateway.natt_port", g.natt_port, defaults::NATT_PORT);
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

        let tun_name = self
            .parse_or(
                "tun.name",
                raw.tun.name.as_ref(),
                defaults::TUN_NAME,
                interface_name,
            )
            .unwrap_or_else(|| defaults::TUN_NAME.into());
        let tun_mtu = self.ranged("tun.mtu", raw.tun.mtu, 576..=9000, defaults::TUN_MTU);

        let c = raw.clients;
        let pool = self.pool(c.pool.as_ref());
        let pool6 = self.pool6(c.pool6.as_ref());
        if pool6.is_none() {
            self.ipv6_needs_pool6("clients.dns", c.dns.as_deref());
            self.ipv6_needs_pool6("clients.pcscf", c.pcscf.as_deref());
            let subnets = c.protected_subnets.as_ref().map(|l| l.get_ref().as_slice());
            self.ipv6_needs_pool6("clients.protected_subnets", subnets);
        }
        let dns = self.list("clients.dns", c.dns, defaults::DNS, str::parse);
        let pcscf = self.list("clients.pcscf", c.pcscf, defaults::PCSCF, str::parse);
        let protected_subnets = self.nonempty_list(
            "clients.protected_subnets",
            c.protected_subnets,
            defaults::PROTECTED_SUBNETS,
            prefix_any,
        );
        let pools = [IpNet::V4(pool)].into_iter().chain(pool6.map(IpNet::V6));
        for (i, net) in protected_subnets.iter().enumerate() {
            if let Some(p) = pools.clone().find(|p| overlaps(p, net)) {
                self.error(
                    format!("clients.protected_subnets[{i}]"),
                    None,
                    format!("{net} overlaps the address pool {p}"),
                );
            }
        }

        let i = raw.ike;
        Config {
            identity,
            listen,
            ike_port,
            natt_port,
            status_socket,
            workers: usize::try_from(workers).unwrap_or(1),
            tun_name,
            tun_mtu,
            pool,
            pool6,
            dns,
            pcscf,
            protected_subnets,
            client_to_client: c.client_to_client.unwrap_or(false),
            peers: self.peers(raw.peers),
            ike_proposals: self.nonempty_list(
                "ike.proposals",
                i.proposals,
                defaults::IKE_PROPOSALS,
                proposal::parse_ike,
            ),
            esp_proposals: self.nonempty_list(
                "ike.esp_proposals",
                i.esp_proposals,
                defaults::ESP_PROPOSALS,
                proposal::parse_esp,
            ),
            ike_lifetime: self.seconds(
                "ike.ike_lifetime_secs",
                i.ike_lifetime_secs,
                60..=7 * DAY_SECS,
                defaults::IKE_LIFETIME_SECS,
            ),
            child_lifetime: self.seconds(
                "ike.child_lifetime_secs",
                i.child_lifetime_secs,
                60..=DAY_SECS,
                defaults::CHILD_LIFETIME_SECS,
            ),
            liveness_interval: self.seconds(
                "ike.liveness_interval_secs",
                i.liveness_interval_secs,
                1..=3600,
                defaults::LIVENESS_INTERVAL_SECS,
            ),
            retransmit: self.retransmit(i.retransmit_initial_ms, i.retransmit_tries),
            cookie_threshold: self.ranged(
                "ike.cookie_threshold",
                i.cookie_threshold,
                0..=1_000_000,
                defaults::COOKIE_THRESHOLD,
            ),
            mobike: i.mobike.unwrap_or(defaults::MOBIKE),
            tcp: self.tcp(raw.tcp),
        }
    }

    /// `ike.retransmit_initial_ms` and `ike.retransmit_tries`: the engine's retransmission
    /// schedule (its 1.8 growth factor kept), each key in its range and the whole schedule given
    /// up within [`MAX_RETRANSMIT_GIVE_UP`].
    fn retransmit(
        &mut self,
        initial_ms: Option<toml::Spanned<u64>>,
        tries: Option<toml::Spanned<u32>>,
    ) -> RetransmitConfig {
        let span = tries
            .as_ref()
            .map(toml::Spanned::span)
            .or_else(|| initial_ms.as_ref().map(toml::Spanned::span));
        let initial_ms = self.ranged(
            "ike.retransmit_initial_ms",
            initial_ms,
            RETRANSMIT_INITIAL_MS,
            defaults::RETRANSMIT_INITIAL_MS,
        );
        let tries = self.ranged(
            "ike.retransmit_tries",
            tries,
            RETRANSMIT_TRIES,
            defaults::RETRANSMIT_TRIES,
        );
        let schedule = RetransmitConfig {
            initial: Duration::from_millis(initial_ms),
            tries,
            ..RetransmitConfig::default()
        };
        let give_up = schedule.give_up_after();
        if give_up > MAX_RETRANSMIT_GIVE_UP {
            self.error(
                "ike.retransmit_tries",
                span,
                format!(
                    "{tries} retransmissions from {initial_ms} ms give up after {} s, over the \
                     limit of {} s",
                    give_up.as_secs(),
                    MAX_RETRANSMIT_GIVE_UP.as_secs()
                ),
            );
            return RetransmitConfig {
                initial: Duration::from_millis(defaults::RETRANSMIT_INITIAL_MS),
                tries: defaults::RETRANSMIT_TRIES,
                ..schedule
            };
        }
        schedule
    }

    /// `clients.pool`: a prefix with room for the gateway's address and some clients.
    fn pool(&mut self, value: Option<&toml::Spanned<String>>) -> Ipv4Net {
        let pool = value.and_then(|v| {
            let net = self.parse_by("clients.pool", v, prefix)?;
            if net.prefix_len() > 30 {
                self.error(
                    "clients.pool",
                    Some(v.span()),
                    "needs at least 4 addresses (prefix length 30 or less)".into(),
                );
                return None;
            }
            Some(net)
        });
        pool.or_else(|| prefix(defaults::POOL).ok())
            .unwrap_or_default()
    }

    /// `clients.pool6`: an IPv6 prefix of length 64..=126 (room for the gateway's address and
    /// at least one client; shorter than /64 would hand out addresses of several links).
    fn pool6(&mut self, value: Option<&toml::Spanned<String>>) -> Option<Ipv6Net> {
        let v = value?;
        let net = self.parse_by("clients.pool6", v, prefix6)?;
        if !POOL6_PREFIX_LEN.contains(&net.prefix_len()) {
            self.error(
                "clients.pool6",
                Some(v.span()),
                format!(
                    "prefix length {} is outside {}..={} (a /64 or a longer prefix with room \
                     for the gateway's address and a client)",
                    net.prefix_len(),
                    POOL6_PREFIX_LEN.start(),
                    POOL6_PREFIX_LEN.end()
                ),
            );
            return None;
        }
        Some(net)
    }

    /// Without `clients.pool6`, IPv6 entries of the list `key` are errors: clients without an
    /// IPv6 inner address could not reach them.
    fn ipv6_needs_pool6(&mut self, key: &str, values: Option<&[toml::Spanned<String>]>) {
        for (i, v) in values.unwrap_or_default().iter().enumerate() {
            if v.get_ref().contains(':') {
                self.error(
                    format!("{key}[{i}]"),
                    Some(v.span()),
                    format!(
                        "`{}` is IPv6, which needs clients.pool6 (IPv6 inner addresses)",
                        v.get_ref()
                    ),
                );
            }
        }
    }

    /// `[tcp]`: the TPKT' listeners and their connection limits.
    fn tcp(&mut self, t: raw::RawTcp) -> TcpSettings {
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
            None => tcp_listener::DEFAULT_PORTS.to_vec(),
        };
        TcpSettings {
            ports,
            first_frame_timeout: self.seconds(
                "tcp.first_frame_timeout_secs",
                t.first_frame_timeout_secs,
                1..=300,
                tcp_listener::DEFAULT_FIRST_FRAME_TIMEOUT_SECS,
            ),
            handshake_timeout: self.seconds(
                "tcp.handshake_timeout_secs",
                t.handshake_timeout_secs,
                1..=3600,
                tcp_listener::DEFAULT_HANDSHAKE_TIMEOUT_SECS,
            ),
            idle_timeout: self.seconds(
                "tcp.idle_timeout_secs",
                t.idle_timeout_secs,
                5..=86_400,
                tcp_listener::DEFAULT_IDLE_TIMEOUT_SECS,
            ),
            max_connections: self.ranged(
                "tcp.max_connections",
                t.max_connections,
                1..=1_000_000,
                tcp_listener::DEFAULT_MAX_CONNECTIONS,
            ),
            max_connections_per_source: self.ranged(
                "tcp.max_connections_per_source",
                t.max_connections_per_source,
                1..=1_000_000,
                tcp_listener::DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
            ),
        }
    }

    /// `[[peers]]`, most specific identity pattern first; absent, the built-in lab peer.
    fn peers(&mut self, list: Option<toml::Spanned<Vec<raw::RawPeer>>>) -> Vec<Peer> {
        let Some(list) = list else {
            return vec![Peer {
                id: defaults::PEER_ID.parse().unwrap_or(IdentityPattern::Any),
                psk: Secret::from_slice(defaults::PEER_PSK.as_bytes()),
            }];
        };
        if list.get_ref().is_empty() {
            self.error("peers", Some(list.span()), "must not be empty".into());
        }
        let mut peers: Vec<Peer> = Vec::with_capacity(list.get_ref().len());
        for (i, p) in list.into_inner().into_iter().enumerate() {
            let id: Option<IdentityPattern> = self.parse(&format!("peers[{i}].id"), &p.id);
            if p.psk.get_ref().len() < MIN_PSK_LEN {
                // Never echo the key itself, not even in an error.
                self.error(
                    format!("peers[{i}].psk"),
                    Some(p.psk.span()),
                    format!("too short: at least {MIN_PSK_LEN} characters"),
                );
            }
            if peers.iter().any(|q| Some(&q.id) == id.as_ref()) {
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

/// Whether two prefixes of the same family share an address.
fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}
