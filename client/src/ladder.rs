//! The transport ladder (TR 33.830 clause 8.5.2.3): how the client reaches the gateway when
//! firewalls are in the way.
//!
//! 1. IKEv2 over UDP 500/4500. If the gateway does not answer within `--udp-timeout-ms`,
//! 2. TCP to the gateway's port 80 (`--tcp-port`) with TPKT' framing. If that cannot connect,
//! 3. the same through an HTTP proxy (`--proxy`, else `https_proxy`/`http_proxy`): `CONNECT
//!    gateway:80`, then TPKT' inside the tunnelled stream.
//!
//! Each rung left is logged with the reason. When the last rung fails too, the client waits its
//! reconnect backoff and starts again from UDP. A broken TCP connection is not a reason to leave
//! the rung: the client reconnects the same way and continues the same IKE SA on the new
//! connection (the run loop does this), and starts over only when the IKE SA dies.

use std::fmt;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ikev2::path::TcpConnectionId;
use netio::http_proxy::ProxyConfig;
use netio::tcp::StreamOptions;

/// The one TCP connection id the client uses: kept across reconnects, so the engine's path for
/// the IKE SA stays the same and only the stream under it changes.
pub const CONNECTION: TcpConnectionId = TcpConnectionId(1);

/// One way to reach the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Rung {
    /// IKE and ESP over UDP 500/4500.
    Udp,
    /// TPKT' over a direct TCP connection.
    Tcp,
    /// TPKT' through an HTTP proxy's CONNECT tunnel.
    Proxy,
}

impl fmt::Display for Rung {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rung::Udp => "udp",
            Rung::Tcp => "tcp",
            Rung::Proxy => "proxy",
        })
    }
}

/// What the TCP rungs need.
#[derive(Debug, Clone)]
pub struct LadderSettings {
    /// How long UDP may go unanswered before the ladder moves on.
    pub udp_timeout: Duration,
    /// The gateway's TPKT' address (its IP, `--tcp-port`).
    pub tcp_target: SocketAddr,
    /// The proxy, if one is configured.
    pub proxy: Option<ProxyConfig>,
    /// The rung the ladder starts (and restarts) from.
    pub first: Rung,
    /// Bound on each TCP connect and proxy exchange.
    pub connect_timeout: Duration,
}

/// Where the client stands on the ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    first: Rung,
    current: Rung,
    proxy_available: bool,
}

impl Ladder {
    /// A ladder at its `first` rung (normally UDP; TCP or the proxy to skip what is known to be
    /// blocked); the proxy rung exists only if a proxy is configured.
    pub fn new(first: Rung, proxy_available: bool) -> Self {
        Self {
            first,
            current: first,
            proxy_available,
        }
    }

    /// The rung to use now.
    pub fn current(&self) -> Rung {
        self.current
    }

    /// Leaves the current rung because of `why` (logged); returns the next rung, or `None`
    /// when none is left (then [`Ladder::restart`] after a backoff).
    pub fn leave(&mut self, why: &str) -> Option<Rung> {
        let next = match self.current {
            Rung::Udp => Some(Rung::Tcp),
            Rung::Tcp if self.proxy_available => Some(Rung::Proxy),
            Rung::Tcp | Rung::Proxy => None,
        };
        match next {
            Some(next) => {
                tracing::warn!(
                    left = %self.current,
                    reason = why,
                    next = %next,
                    "transport ladder: moving on"
                );
                self.current = next;
            }
            None => {
                tracing::warn!(left = %self.current, reason = why, "transport ladder: no rung left")
            }
        }
        next
    }

    /// Back to the first rung.
    pub fn restart(&mut self) {
        self.current = self.first;
    }
}

/// Opens the TCP stream of a TCP rung (direct, or through the proxy). `Err` says why, for the
/// log line of the rung left.
pub fn open_stream(rung: Rung, settings: &LadderSettings) -> Result<TcpStream, String> {
    let options = StreamOptions::default();
    match rung {
        Rung::Udp => Err("UDP has no stream".into()),
        Rung::Tcp => netio::tcp::connect(settings.tcp_target, settings.connect_timeout, &options)
            .map_err(|e| format!("TCP {}: {e}", settings.tcp_target)),
        Rung::Proxy => {
            let proxy = settings.proxy.as_ref().ok_or("no proxy configured")?;
            proxy
                .connect(settings.tcp_target, settings.connect_timeout, &options)
                .map_err(|e| format!("proxy {}:{}: {e}", proxy.host, proxy.port))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_then_tcp_then_proxy_then_nothing() {
        let mut ladder = Ladder::new(Rung::Udp, true);
        assert_eq!(ladder.current(), Rung::Udp);
        assert_eq!(ladder.leave("no answer"), Some(Rung::Tcp));
        assert_eq!(ladder.leave("refused"), Some(Rung::Proxy));
        assert_eq!(ladder.leave("proxy said 403"), None);
        assert_eq!(ladder.current(), Rung::Proxy);
        ladder.restart();
        assert_eq!(ladder.current(), Rung::Udp);
    }

    #[test]
    fn without_a_proxy_tcp_is_the_last_rung() {
        let mut ladder = Ladder::new(Rung::Udp, false);
        assert_eq!(ladder.leave("no answer"), Some(Rung::Tcp));
        assert_eq!(ladder.leave("timed out"), None);
        assert_eq!(Rung::Proxy.to_string(), "proxy");
    }

    #[test]
    fn a_ladder_started_on_tcp_restarts_there() {
        let mut ladder = Ladder::new(Rung::Tcp, true);
        assert_eq!(ladder.current(), Rung::Tcp);
        assert_eq!(ladder.leave("refused"), Some(Rung::Proxy));
        ladder.restart();
        assert_eq!(ladder.current(), Rung::Tcp);
    }

    #[test]
    fn a_refused_tcp_connect_says_why() {
        // A port nobody listens on: connect is refused at once.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        drop(listener);
        let settings = LadderSettings {
            udp_timeout: Duration::from_secs(1),
            tcp_target: target,
            proxy: None,
            first: Rung::Udp,
            connect_timeout: Duration::from_secs(1),
        };
        let why = open_stream(Rung::Tcp, &settings).unwrap_err();
        assert!(why.contains(&target.to_string()), "{why}");
        assert!(open_stream(Rung::Proxy, &settings)
            .unwrap_err()
            .contains("no proxy"));
    }
}
