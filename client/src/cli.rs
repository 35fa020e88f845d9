//! The client's command line: where the gateway is, who we are, the PSK, the TUN device,
//! reconnect backoff and liveness, SA rekey times, the roaming check, the status socket.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs as _};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ikev2::config::Lifetimes;
use ikev2::crypto::Secret;
use ikev2::identity::{Identity, IdentityPattern};

/// Shortest rekey time the options accept: short enough for tests that watch rekeys happen.
pub const MIN_LIFETIME_SECS: u64 = 5;
/// Longest IKE SA rekey time the options accept (7 days, as the gateway's `ike_lifetime_secs`).
pub const MAX_IKE_LIFETIME_SECS: u64 = 7 * 24 * 3600;
/// Longest CHILD SA rekey time the options accept (1 day, as the gateway's `child_lifetime_secs`).
pub const MAX_CHILD_LIFETIME_SECS: u64 = 24 * 3600;

/// The built-in PSK, matching the gateway's built-in peer (lab use only; a warning is logged).
pub const BUILTIN_PSK: &str = "eseg-lab-demo-psk-do-not-deploy";

/// The eseg tunnelling client: connects to an eSEG gateway over IKEv2/IPsec (UDP 500/4500),
/// obtains a virtual IP, DNS and P-CSCF addresses, and carries traffic for the gateway's protected
/// subnets through a TUN device. Reconnects with backoff when the tunnel dies; on SIGINT/SIGTERM
/// it deletes the SA at the gateway and removes its routes and TUN device.
///
/// Logs go to stderr (`--log` or `ESEG_LOG`); the P-CSCF addresses are printed on stdout as
/// `pcscf=ADDRESS` lines once the tunnel is up, for the IMS stack to pick up.
#[derive(Debug, Parser)]
// An option given twice takes its last value (as most Unix tools do), so wrappers can put
// defaults first and let callers override them.
#[command(name = "eseg-client", version, args_override_self = true)]
pub struct Cli {
    /// The gateway, as HOST or HOST:PORT (the port is the IKE port, normally 500).
    #[arg(short, long, default_value = "198.18.0.1", value_name = "HOST[:PORT]")]
    pub gateway: String,

    /// Our identity (IDi): an FQDN, user@domain, an IP address or keyid:HEX.
    #[arg(long, default_value = "client.eseg.test", value_name = "ID")]
    pub identity: String,

    /// The identity the gateway must prove (`*` accepts any; an exact identity is also sent as
    /// IDr).
    #[arg(long, default_value = "*", value_name = "ID")]
    pub gateway_id: String,

    /// The pre-shared key. Prefer `--psk-file` or the environment: command lines are visible to
    /// other users. Without either, the built-in lab PSK is used (and a warning logged).
    #[arg(long, env = "ESEG_PSK", hide_env_values = true, value_name = "PSK")]
    pub psk: Option<String>,

    /// Read the pre-shared key from this file (trailing newline ignored).
    #[arg(long, value_name = "FILE", conflicts_with = "psk")]
    pub psk_file: Option<PathBuf>,

    /// Name of the TUN device to create.
    #[arg(long, default_value = "eseg-c0", value_name = "NAME")]
    pub tun_name: String,

    /// MTU of the TUN device.
    #[arg(long, default_value_t = 1400, value_parser = clap::value_parser!(u32).range(576..=9000))]
    pub tun_mtu: u32,

    /// First wait before reconnecting after the tunnel dies (seconds); doubles up to the maximum.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub reconnect_min_secs: u64,

    /// Longest wait between reconnect attempts (seconds).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub reconnect_max_secs: u64,

    /// Seconds without traffic from the gateway before a liveness check (RFC 7296 §2.4).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub liveness_secs: u64,

    /// First IKE retransmission timeout in milliseconds; each retry waits 1.8 times longer.
    #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub retransmit_initial_ms: u64,

    /// IKE retransmissions before the gateway is declared unreachable (the tunnel then counts as
    /// dead and the client reconnects).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=20))]
    pub retransmit_tries: u32,

    /// Seconds after which the client rekeys its IKE SA (RFC 7296 §2.18), minus up to a tenth
    /// of the shortest rekey time at random. Default 4 hours.
    #[arg(
        long,
        visible_alias = "ike-lifetime",
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(MIN_LIFETIME_SECS..=MAX_IKE_LIFETIME_SECS)
    )]
    pub ike_lifetime_secs: Option<u64>,

    /// Seconds after which the client rekeys its CHILD SAs (RFC 7296 §2.8), minus up to a tenth
    /// of the shortest rekey time at random; a CHILD SA not rekeyed 10 % later is deleted.
    /// Default 1 hour (deleted after 70 minutes).
    #[arg(
        long,
        visible_alias = "child-lifetime",
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(MIN_LIFETIME_SECS..=MAX_CHILD_LIFETIME_SECS)
    )]
    pub child_lifetime_secs: Option<u64>,

    /// Exit instead of reconnecting when the tunnel cannot be set up or dies.
    #[arg(long)]
    pub once: bool,

    /// Ask for an IPv6 inner address too (dual stack, e.g. for an IPv6 IMS core): the client
    /// requests INTERNAL_IP6_ADDRESS, IPv6 DNS and P-CSCF, proposes IPv6 traffic selectors, puts
    /// the address on the TUN device and routes the gateway's IPv6 subnets into it. A gateway
    /// without an IPv6 pool gives IPv4 only.
    #[arg(long)]
    pub ipv6: bool,

    /// Transport ladder: how long IKE over UDP may go unanswered (milliseconds) before the
    /// client falls back to TPKT' over TCP.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub udp_timeout_ms: u64,

    /// Transport ladder: the gateway's TPKT' port.
    #[arg(long, default_value_t = netio::tcp::TPKT_PORT, value_parser = clap::value_parser!(u16).range(1..))]
    pub tcp_port: u16,

    /// Transport ladder: bound on each TCP connect and proxy exchange (milliseconds).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub connect_timeout_ms: u64,

    /// Transport ladder: HTTP proxy for the last rung, `http://[user:pass@]host:port`. Without
    /// it, `https_proxy`/`HTTPS_PROXY`/`http_proxy`/`HTTP_PROXY` are used if set.
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,

    /// Transport ladder: the rung to start from (and return to after a tunnel dies); `tcp` or
    /// `proxy` skip what is known to be blocked.
    #[arg(long, value_enum, default_value_t = crate::ladder::Rung::Udp)]
    pub first_transport: crate::ladder::Rung,

    /// How often the client checks which local address the kernel would use towards the gateway
    /// (milliseconds; a route lookup, nothing is sent), besides the checks that the kernel's
    /// address and route change notifications trigger at once. When it changes (Wi-Fi to LTE)
    /// or a lost route comes back, the IKE SA moves to the new address and keeps its inner
    /// address (RFC 4555 style); on the TCP rungs a new connection is opened from it.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub roam_check_ms: u64,

    /// Unix socket of the status interface.
    #[arg(
        long,
        default_value = "/run/eseg/client.sock",
        value_name = "PATH",
        global = true
    )]
    pub status_socket: PathBuf,

    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "ESEG_LOG", default_value = "info", value_name = "FILTER")]
    pub log: String,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the running client's SAs with their counters.
    Status {
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// The validated settings the client runs with.
#[derive(Debug)]
pub struct Settings {
    /// The gateway's IKE address (port 500 unless given).
    pub gateway: SocketAddr,
    /// Our identity.
    pub identity: Identity,
    /// The identities accepted from the gateway.
    pub gateway_id: IdentityPattern,
    /// The PSK.
    pub psk: Secret,
    /// Whether the built-in PSK is in use.
    pub builtin_psk: bool,
    /// TUN device name.
    pub tun_name: String,
    /// TUN MTU.
    pub tun_mtu: u32,
    /// Reconnect backoff bounds.
    pub reconnect_min: Duration,
    /// Longest reconnect wait.
    pub reconnect_max: Duration,
    /// Liveness interval.
    pub liveness: Duration,
    /// Exit instead of reconnecting.
    pub once: bool,
    /// Ask for an IPv6 inner address too.
    pub ipv6: bool,
    /// IKE retransmission schedule.
    pub retransmit: ikev2::config::RetransmitConfig,
    /// When the client rekeys (and deletes unrekeyed) SAs.
    pub lifetimes: Lifetimes,
    /// The transport ladder's settings.
    pub ladder: crate::ladder::LadderSettings,
    /// How often the outer local address is checked (see [`crate::roaming`]).
    pub roam_check: Duration,
}

impl Cli {
    /// Checks and converts the options; the error names the offending option.
    pub fn settings(&self) -> Result<Settings, String> {
        let gateway = resolve_gateway(&self.gateway)?;
        let identity: Identity = self
            .identity
            .parse()
            .map_err(|e| format!("--identity `{}`: {e}", self.identity))?;
        let gateway_id: IdentityPattern = self
            .gateway_id
            .parse()
            .map_err(|e| format!("--gateway-id `{}`: {e}", self.gateway_id))?;
        let (psk, builtin_psk) = match (&self.psk, &self.psk_file) {
            (Some(psk), _) => (psk.as_bytes().to_vec(), false),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--psk-file {}: {e}", path.display()))?;
                (
                    text.trim_end_matches(['\r', '\n']).as_bytes().to_vec(),
                    false,
                )
            }
            (None, None) => (BUILTIN_PSK.as_bytes().to_vec(), true),
        };
        if psk.is_empty() {
            return Err("--psk: the pre-shared key is empty".into());
        }
        let valid_name = !self.tun_name.is_empty()
            && self.tun_name.len() < libc::IFNAMSIZ
            && self
                .tun_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid_name {
            return Err(format!(
                "--tun-name `{}`: not a valid interface name (1-15 characters of a-z, 0-9, -, _, .)",
                self.tun_name
            ));
        }
        if self.reconnect_min_secs > self.reconnect_max_secs {
            return Err(format!(
                "--reconnect-min-secs {} exceeds --reconnect-max-secs {}",
                self.reconnect_min_secs, self.reconnect_max_secs
            ));
        }
        let proxy = match &self.proxy {
            Some(url) => Some(netio::http_proxy::ProxyConfig::from_url(url)),
            None => netio::http_proxy::ProxyConfig::from_env(|k| std::env::var(k).ok()),
        }
        .transpose()
        .map_err(|e| format!("--proxy: {e}"))?;
        if self.first_transport == crate::ladder::Rung::Proxy && proxy.is_none() {
            return Err("--first-transport proxy: no --proxy and no https_proxy/http_proxy".into());
        }
        let ladder = crate::ladder::LadderSettings {
            udp_timeout: Duration::from_millis(self.udp_timeout_ms),
            tcp_target: SocketAddr::new(gateway.ip(), self.tcp_port),
            proxy,
            first: self.first_transport,
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
        };
        Ok(Settings {
            ladder,
            gateway,
            identity,
            gateway_id,
            psk: Secret::new(psk),
            builtin_psk,
            tun_name: self.tun_name.clone(),
            tun_mtu: self.tun_mtu,
            reconnect_min: Duration::from_secs(self.reconnect_min_secs),
            reconnect_max: Duration::from_secs(self.reconnect_max_secs),
            liveness: Duration::from_secs(self.liveness_secs),
            once: self.once,
            ipv6: self.ipv6,
            roam_check: Duration::from_millis(self.roam_check_ms),
            lifetimes: lifetimes(self.ike_lifetime_secs, self.child_lifetime_secs),
            retransmit: ikev2::config::RetransmitConfig {
                initial: Duration::from_millis(self.retransmit_initial_ms),
                tries: self.retransmit_tries,
                ..ikev2::config::RetransmitConfig::default()
            },
        })
    }
}

/// The engine's default lifetimes with the rekey times given replaced. A given CHILD rekey time
/// also sets the CHILD hard lifetime to 10 % more (strongSwan's default ratio, and the gateway's);
/// the jitter is at most a tenth of the shortest rekey time, so short lifetimes stay near what
/// was asked. Without options the defaults are untouched.
fn lifetimes(ike_secs: Option<u64>, child_secs: Option<u64>) -> Lifetimes {
    let mut lifetimes = Lifetimes::default();
    if let Some(secs) = ike_secs {
        lifetimes.ike_rekey = Some(Duration::from_secs(secs));
    }
    if let Some(secs) = child_secs {
        let child = Duration::from_secs(secs);
        lifetimes.child_rekey = Some(child);
        lifetimes.child_hard = Some(child + child / 10);
    }
    if let Some(shortest) = [lifetimes.ike_rekey, lifetimes.child_rekey]
        .into_iter()
        .flatten()
        .min()
    {
        lifetimes.jitter = lifetimes.jitter.min(shortest / 10);
    }
    lifetimes
}

/// `HOST` or `HOST:PORT` (IPv6 literals in brackets when a port is given) to an IPv4 socket
/// address, port 500 by default.
fn resolve_gateway(text: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, ikev2::path::IKE_PORT));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let with_port = if text.contains(':') {
        text.to_owned()
    } else {
        format!("{text}:{}", ikev2::path::IKE_PORT)
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("--gateway `{text}`: {e}"))?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| format!("--gateway `{text}`: no IPv4 address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Settings, String> {
        let cli = Cli::try_parse_from(std::iter::once("eseg-client").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.settings()
    }

    #[test]
    fn ipv6_is_asked_for_only_with_the_option() {
        assert!(!parse(&[]).unwrap().ipv6, "IPv4 only by default");
        assert!(parse(&["--ipv6"]).unwrap().ipv6);
        assert!(parse(&["--ipv6=yes"]).is_err(), "a flag takes no value");
    }

    #[test]
    fn defaults_are_usable() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.gateway, "198.18.0.1:500".parse().unwrap());
        assert!(s.builtin_psk);
        assert!(
            !format!("{s:?}").contains(BUILTIN_PSK),
            "PSK leaked into Debug"
        );
    }

    #[test]
    fn gateway_forms() {
        assert_eq!(
            parse(&["-g", "192.0.2.1:4501"]).unwrap().gateway,
            "192.0.2.1:4501".parse().unwrap()
        );
        assert_eq!(
            parse(&["--gateway", "localhost"]).unwrap().gateway,
            "127.0.0.1:500".parse().unwrap()
        );
    }

    #[test]
    fn bad_options_name_themselves() {
        for (args, needle) in [
            (&["--identity", "fqdn:"][..], "--identity"),
            (&["--tun-name", "much-too-long-for-linux"][..], "--tun-name"),
            (&["--tun-mtu", "100"][..], "--tun-mtu"),
            (
                &["--reconnect-min-secs", "9", "--reconnect-max-secs", "3"][..],
                "--reconnect-min-secs",
            ),
            (&["--psk", ""][..], "--psk"),
            (&["--psk-file", "/nonexistent/psk"][..], "--psk-file"),
            (&["--bogus"][..], "--bogus"),
            (&["--ike-lifetime-secs", "0"][..], "--ike-lifetime-secs"),
            (&["--ike-lifetime", "4"][..], "--ike-lifetime"),
            (
                &["--ike-lifetime-secs", "604801"][..],
                "--ike-lifetime-secs",
            ),
            (&["--child-lifetime-secs", "0"][..], "--child-lifetime-secs"),
            (&["--child-lifetime", "86401"][..], "--child-lifetime"),
            (&["--child-lifetime-secs=-8"][..], "--child-lifetime-secs"),
            (&["--roam-check-ms", "99"][..], "--roam-check-ms"),
            (&["--roam-check-ms", "60001"][..], "--roam-check-ms"),
            (
                &["--child-lifetime-secs", "8s"][..],
                "--child-lifetime-secs",
            ),
        ] {
            let err = parse(args).expect_err(needle);
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn roam_check_period() {
        assert_eq!(parse(&[]).unwrap().roam_check, Duration::from_millis(500));
        assert_eq!(
            parse(&["--roam-check-ms", "100"]).unwrap().roam_check,
            Duration::from_millis(100)
        );
        assert_eq!(
            parse(&["--roam-check-ms", "60000"]).unwrap().roam_check,
            Duration::from_secs(60)
        );
    }

    #[test]
    fn a_repeated_option_takes_the_last_value() {
        // The lab harness passes test timers first and lets a test override them.
        let s = parse(&["--liveness-secs", "2", "--liveness-secs", "60"]).unwrap();
        assert_eq!(s.liveness, Duration::from_secs(60));
    }

    #[test]
    fn default_lifetimes_are_the_engines() {
        assert_eq!(parse(&[]).unwrap().lifetimes, Lifetimes::default());
    }

    #[test]
    fn short_lifetimes_for_tests() {
        let s = parse(&["--child-lifetime", "8", "--ike-lifetime-secs", "15"]).unwrap();
        let l = s.lifetimes;
        assert_eq!(l.ike_rekey, Some(Duration::from_secs(15)));
        assert_eq!(l.child_rekey, Some(Duration::from_secs(8)));
        assert_eq!(l.child_hard, Some(Duration::from_millis(8800)));
        assert_eq!(l.jitter, Duration::from_millis(800));
        let defaults = Lifetimes::default();
        assert_eq!(l.child_rekey_packets, defaults.child_rekey_packets);
        assert_eq!(l.child_hard_packets, defaults.child_hard_packets);
    }

    #[test]
    fn one_lifetime_leaves_the_other_at_its_default() {
        let defaults = Lifetimes::default();
        let ike_only = parse(&["--ike-lifetime-secs", "20"]).unwrap().lifetimes;
        assert_eq!(ike_only.ike_rekey, Some(Duration::from_secs(20)));
        assert_eq!(ike_only.child_rekey, defaults.child_rekey);
        assert_eq!(ike_only.child_hard, defaults.child_hard);
        assert_eq!(ike_only.jitter, Duration::from_secs(2));

        let child_only = parse(&["--child-lifetime-secs", "600"]).unwrap().lifetimes;
        assert_eq!(child_only.ike_rekey, defaults.ike_rekey);
        assert_eq!(child_only.child_rekey, Some(Duration::from_secs(600)));
        assert_eq!(child_only.child_hard, Some(Duration::from_secs(660)));
        assert_eq!(child_only.jitter, Duration::from_secs(60));
    }

    #[test]
    fn lifetime_bounds_are_inclusive() {
        let low = parse(&["--ike-lifetime", "5", "--child-lifetime", "5"]).unwrap();
        assert_eq!(low.lifetimes.ike_rekey, Some(Duration::from_secs(5)));
        assert_eq!(low.lifetimes.child_rekey, Some(Duration::from_secs(5)));
        let high = parse(&[
            "--ike-lifetime-secs",
            &MAX_IKE_LIFETIME_SECS.to_string(),
            "--child-lifetime-secs",
            &MAX_CHILD_LIFETIME_SECS.to_string(),
        ])
        .unwrap();
        assert_eq!(
            high.lifetimes.ike_rekey,
            Some(Duration::from_secs(7 * 86400))
        );
        assert_eq!(high.lifetimes.child_rekey, Some(Duration::from_secs(86400)));
    }

    #[test]
    fn help_documents_the_lifetimes() {
        let help = <Cli as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        for needle in ["--ike-lifetime-secs <SECS>", "--child-lifetime-secs <SECS>"] {
            assert!(
                help.contains(needle),
                "{needle} missing from --help:\n{help}"
            );
        }
    }
}
