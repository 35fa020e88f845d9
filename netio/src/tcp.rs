//! TCP socket setup for the TPKT' transport (TR 33.830 clause 8.5.2.3): listeners for the gateway
//! (port 80 and friends) and connections for the client, with the options a tunnel carrier
//! needs. Framing is not done here (`tpkt` owns it).
//!
//! Every stream gets `TCP_NODELAY` (IKE and small ESP packets must not wait for Nagle), TCP
//! keepalive (so a dead peer behind a NAT is noticed even when the tunnel is idle) and
//! optionally `TCP_USER_TIMEOUT` (so unacknowledged data fails the connection in bounded time
//! instead of the kernel's ~15 minutes of retransmissions).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, TcpKeepalive, Type};

/// The port the eSEG falls back to (TR 33.830 clause 8.5.2.3).
pub const TPKT_PORT: u16 = 80;

/// Options applied to every tunnel-carrying TCP stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    keepalive_idle: Duration,
    keepalive_interval: Duration,
    keepalive_retries: u32,
    user_timeout: Option<Duration>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            keepalive_idle: Duration::from_secs(20),
            keepalive_interval: Duration::from_secs(5),
            keepalive_retries: 4,
            user_timeout: Some(Duration::from_secs(30)),
        }
    }
}

impl StreamOptions {
    /// Keepalive probes after 20 s idle, every 5 s, 4 tries; 30 s user timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Idle time before the first keepalive probe, interval between probes, and how many
    /// unanswered probes close the connection.
    pub fn keepalive(mut self, idle: Duration, interval: Duration, retries: u32) -> Self {
        self.keepalive_idle = idle;
        self.keepalive_interval = interval;
        self.keepalive_retries = retries;
        self
    }

    /// How long sent data may stay unacknowledged before the connection fails (`None`: the
    /// kernel default).
    pub fn user_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.user_timeout = timeout;
        self
    }

    /// Applies the options to a connected or accepted stream (std or tokio).
    pub fn apply<S: AsFd>(&self, stream: &S) -> io::Result<()> {
        self.apply_socket(&SockRef::from(stream))
    }

    fn apply_socket(&self, socket: &Socket) -> io::Result<()> {
        socket.set_nodelay(true)?;
        let keepalive = TcpKeepalive::new()
            .with_time(self.keepalive_idle)
            .with_interval(self.keepalive_interval)
            .with_retries(self.keepalive_retries);
        socket.set_tcp_keepalive(&keepalive)?;
        socket.set_keepalive(true)?;
        socket.set_tcp_user_timeout(self.user_timeout)
    }
}

/// Opens a listening socket on `bind` with `SO_REUSEADDR` (a restarted gateway rebinds at once
/// while old connections linger in TIME_WAIT) and the given accept backlog. IPv6 listeners are
/// IPv6-only so an IPv4 listener can share the port.
pub fn listen(bind: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(bind),
        Type::STREAM.cloexec(),
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if bind.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&SockAddr::from(bind))?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

/// Connects to `peer` within `timeout` and applies `options` to the stream.
pub fn connect(
    peer: SocketAddr,
    timeout: Duration,
    options: &StreamOptions,
) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(peer),
        Type::STREAM.cloexec(),
        Some(Protocol::TCP),
    )?;
    options.apply_socket(&socket)?;
    socket.connect_timeout(&SockAddr::from(peer), timeout)?;
    Ok(socket.into())
}
