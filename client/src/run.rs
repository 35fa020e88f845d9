//! The running client: connects to the gateway, brings the tunnel up on a TUN device, and keeps
//! it up.
//!
//! One IKE SA at a time. When it is established the client gives the TUN device the virtual IP,
//! routes the gateway's traffic selectors into it (never the gateway's own address), and prints
//! what the IMS stack needs (`address=`, `dns=`, `pcscf=` lines on stdout). With `--ipv6` it
//! asks for an IPv6 inner address too (RFC 7296 §3.15.1 INTERNAL_IP6_ADDRESS), proposes `::/0`
//! on both sides besides `0.0.0.0/0`, and does the same for IPv6: the /128 on the TUN device
//! (IPv6 left on there), routes for the gateway's IPv6 selectors, `address=`/`dns=`/`pcscf=`
//! lines with IPv6 addresses. When the IKE SA dies
//! (Delete from the gateway, liveness check unanswered, setup failure) the routes go and the
//! client reconnects after a backoff that doubles from `--reconnect-min-secs` up to
//! `--reconnect-max-secs` and resets once a tunnel was up. SIGINT/SIGTERM send a Delete, wait
//! briefly for the answer, and remove routes and TUN device.
//!
//! When the client's own outer address changes under an established IKE SA (see
//! [`crate::roaming`]), the SA follows at once: on UDP it migrates to the new local address,
//! on the TCP rungs a new connection is opened from it, and the gateway moves with the first
//! message on the new path. The inner address and the sessions inside the tunnel stay. With no
//! route to the gateway at all the SA is kept and the check goes on; if the SA's liveness check
//! gives up meanwhile, the tunnel is set up anew once a route is back, and the gateway may then
//! hand out another inner address.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ikev2::config::VirtualIpConfig;
use ikev2::events::{CloseReason, Event, IkeSaHandle};
use ikev2::path::{Path, Transport};
use ikev2::ts::TrafficSelector;
use ikev2::{Endpoint, EndpointConfig, NoAddressPool, PeerConfig};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netio::dataplane::driver::{sleep_until, ACTIVITY_REPORT_INTERVAL, NAT_KEEPALIVE_INTERVAL};
use netio::dataplane::status::{self, SocketFileGuard};
use netio::dataplane::tcp_stream::CloseCause;
use netio::dataplane::tcp_transport::{TcpConfig, TcpEvent, TcpTransport};
use netio::dataplane::{DataPlane, DataPlaneIo, DestinationPolicy, Driver, IkeSockets, Shared};
use netio::tun::{Tun, TunConfig};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::cli::Settings;
use crate::ladder::{self, Ladder, Rung};
use crate::roaming::{self, NetworkEvents, Roam, RoamWatch};
use crate::routes::tunnel_routes;
use netio::clock;

/// How long shutdown waits for the gateway to answer the Delete.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// IKE messages queued between the receiver and the control task.
const IKE_QUEUE: usize = 256;

/// How often a pending move to a new TCP connection looks whether the transport serves it.
const TCP_MOVE_POLL: Duration = Duration::from_millis(5);

/// How long a move to a new TCP connection waits for the transport to serve it before the IKE
/// SA moves anyway (its first message may then need a retransmission).
const TCP_MOVE_WAIT: Duration = Duration::from_secs(1);

/// How the client ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stopped by a signal.
    Stopped,
    /// `--once` and the tunnel went down or never came up.
    TunnelDown,
}

/// The next address, route or link change, or never without notifications.
async fn network_changed(events: Option<&mut NetworkEvents>) -> std::io::Result<()> {
    match events {
        Some(events) => events.changed().await,
        None => std::future::pending().await,
    }
}

/// Runs the client until a signal (or, with `--once`, until the tunnel is gone).
pub fn run(settings: Settings, status_socket: PathBuf) -> Result<Outcome, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async { Client::start(settings, status_socket)?.serve().await })
}

/// A new TCP connection attached for the established IKE SA, which the transport may not serve
/// yet: it takes over the connection id on its own task. Moving the SA before that would send
/// the move's first IKE message on the old connection (or nowhere) and leave it to a
/// retransmission, seconds later.
#[derive(Debug, Clone, Copy)]
struct TcpMove {
    /// The IKE SA's path on the new connection.
    path: Path,
    /// Whether the old connection under the id is closed (or there was none).
    old_gone: bool,
    /// When to look again.
    next_check: Instant,
    /// When to move without waiting any longer.
    give_up_at: Instant,
}

/// The tunnel as it stands.
#[derive(Debug, Default)]
struct Tunnel {
    sa: Option<IkeSaHandle>,
    established: bool,
    routes: Vec<IpNet>,
    /// IPv6 inner addresses put on the TUN device (IPv4 replaces the old address by itself;
    /// IPv6 ones add up and must go with the tunnel, or a stale one could become the source).
    addresses6: Vec<Ipv6Net>,
    /// Where the outer path goes: the gateway, or the proxy on the proxy rung (the far end
    /// whose route [`roaming::source_towards`] looks up).
    far_end: Option<SocketAddr>,
    roam: RoamWatch,
}

struct Client {
    settings: Settings,
    peer: Arc<PeerConfig>,
    driver: Driver,
    tun: Tun,
    data_plane: DataPlane,
    local: SocketAddr,
    ike_rx: mpsc::Receiver<netio::dataplane::IkeDatagram>,
    status_rx: mpsc::Receiver<status::StatusRequest>,
    _socket_file: SocketFileGuard,
    tunnel: Tunnel,
    backoff: Duration,
    reconnect_at: Option<Instant>,
    ladder: Ladder,
    tcp: TcpTransport,
    tcp_rx: mpsc::Receiver<TcpEvent>,
    /// When UDP counts as unanswered (the UDP rung, until the gateway answers).
    udp_deadline: Option<Instant>,
    /// When to reopen the broken TCP connection of an established IKE SA.
    tcp_resume_at: Option<Instant>,
    /// The IKE SA waits to move to a new TCP connection.
    tcp_move: Option<TcpMove>,
    /// The data plane's shared state (here: which TCP connections the transport serves).
    shared: Arc<Shared>,
}

impl Client {
    fn start(settings: Settings, status_socket: PathBuf) -> Result<Self, String> {
        if settings.builtin_psk {
            tracing::warn!("using the built-in lab PSK; pass --psk-file before real use");
        }
        let mut peer = PeerConfig::new(
            "gateway",
            settings.identity.clone(),
            settings.gateway_id.clone(),
            settings.psk.clone(),
        );
        // RFC 7296 §2.9: the gateway narrows our side to the inner address(es) it hands out and
        // its side to its protected subnets.
        let mut any = vec![TrafficSelector::IPV4_ANY];
        if settings.ipv6 {
            any.push(TrafficSelector::IPV6_ANY);
        }
        peer.local_ts = any.clone();
        peer.remote_ts = any;
        peer.virtual_ip = VirtualIpConfig {
            request_ipv4: true,
            request_ipv6: settings.ipv6,
            ..VirtualIpConfig::default()
        };
        peer.dpd_delay = Some(settings.liveness);
        peer.lifetimes = settings.lifetimes;
        let mut endpoint_config = EndpointConfig::new(
            clock::seed().map_err(|e| format!("no randomness: {e}"))?,
            Vec::new(),
        );
        endpoint_config.retransmit = settings.retransmit;
        let endpoint = Endpoint::new(endpoint_config, Box::new(NoAddressPool));

        let mut tun = Tun::create(
            &TunConfig::new()
                .name(settings.tun_name.clone())
                .mtu(settings.tun_mtu),
        )
        .map_err(|e| format!("cannot create TUN device {}: {e}", settings.tun_name))?;
        if settings.ipv6 {
            netio::dataplane::enable_ipv6(tun.name())
                .map_err(|e| format!("cannot turn IPv6 on on {}: {e}", tun.name()))?;
        } else if let Err(e) = netio::dataplane::disable_ipv6(tun.name()) {
            tracing::debug!(error = %e, "cannot turn IPv6 off on the TUN device");
        }
        tun.set_up(true)
            .map_err(|e| format!("cannot bring {} up: {e}", tun.name()))?;
        let bind = SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0);
        let sockets = Arc::new(IkeSockets::single(bind).map_err(|e| e.to_string())?);
        let local = sockets
            .natt
            .first()
            .map(|s| s.local_addr())
            .ok_or("no socket")?;
        let shared = Arc::new(Shared::new(DestinationPolicy::allow_all()));
        let (ike_tx, ike_rx) = mpsc::channel(IKE_QUEUE);
        let data_plane = DataPlane::start(
            DataPlaneIo {
                tun_queues: tun.take_queues(),
                sockets: Arc::clone(&sockets),
            },
            Arc::clone(&shared),
            clock::now,
            ike_tx,
        )
        .map_err(|e| format!("cannot start the data plane: {e}"))?;
        let (tcp_tx, tcp_rx) = mpsc::channel(IKE_QUEUE);
        let tcp_config = TcpConfig {
            report_closed: true,
            ..TcpConfig::default()
        };
        let tcp = TcpTransport::start(
            tcp_config,
            Arc::clone(&shared),
            data_plane.tun_writer(),
            clock::now,
            tcp_tx,
        )
        .map_err(|e| format!("cannot start the TCP transport: {e}"))?;
        let listener = status::bind(&status_socket).map_err(|e| {
            format!(
                "cannot bind the status socket {}: {e}",
                status_socket.display()
            )
        })?;
        let (status_tx, status_rx) = mpsc::channel(8);
        tokio::spawn(status::serve(listener, status_tx));
        let backoff = settings.reconnect_min;
        Ok(Client {
            ladder: Ladder::new(settings.ladder.first, settings.ladder.proxy.is_some()),
            tcp,
            tcp_rx,
            udp_deadline: None,
            tcp_resume_at: None,
            tcp_move: None,
            shared: Arc::clone(&shared),
            driver: Driver::new(endpoint, sockets, shared, clock::now, "client"),
            peer: Arc::new(peer),
            settings,
            tun,
            data_plane,
            local,
            ike_rx,
            status_rx,
            _socket_file: SocketFileGuard(status_socket),
            tunnel: Tunnel::default(),
            backoff,
            reconnect_at: Some(clock::now()),
        })
    }

    async fn serve(mut self) -> Result<Outcome, String> {
        let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut sigint = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        let mut activity = tokio::time::interval(ACTIVITY_REPORT_INTERVAL);
        let mut nat_keepalive = tokio::time::interval(NAT_KEEPALIVE_INTERVAL);
        let mut roam_check = tokio::time::interval(self.settings.roam_check);
        roam_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut network_events = NetworkEvents::open()
            .inspect_err(|e| {
                tracing::warn!(error = %e, "no address change notifications; checking periodically only")
            })
            .ok();
        let mut shutdown_at: Option<Instant> = None;
        let mut outcome = Outcome::Stopped;
        loop {
            tokio::select! {
                Some(datagram) = self.ike_rx.recv() => {
                    self.udp_deadline = None;
                    self.driver.handle_datagram(&datagram);
                }
                Some(event) = self.tcp_rx.recv() => self.on_tcp_event(event),
                () = sleep_until(self.udp_deadline) => self.udp_unanswered(),
                () = sleep_until(self.tcp_resume_at) => self.resume_tcp(),
                () = sleep_until(self.tcp_move.map(|m| m.next_check)) => self.finish_tcp_move(),
                () = sleep_until(self.driver.next_timeout()) => self.driver.handle_timeout(),
                () = sleep_until(self.reconnect_at), if shutdown_at.is_none() => self.connect(),
                _ = activity.tick() => self.driver.report_activity(),
                _ = nat_keepalive.tick() => self.driver.send_nat_keepalives(),
                _ = roam_check.tick(), if shutdown_at.is_none() => self.check_roaming(),
                changed = network_changed(network_events.as_mut()), if shutdown_at.is_none() => {
                    match changed {
                        Ok(()) => self.check_roaming(),
                        Err(e) => {
                            tracing::warn!(error = %e, "address change notifications failed; checking periodically only");
                            network_events = None;
                        }
                    }
                }
                Some(reply) = self.status_rx.recv() => {
                    let _ = reply.send(self.driver.status());
                }
                _ = sigterm.recv(), if shutdown_at.is_none() => {
                    tracing::info!("SIGTERM: deleting the IKE SA");
                    shutdown_at = Some(self.begin_shutdown());
                }
                _ = sigint.recv(), if shutdown_at.is_none() => {
                    tracing::info!("SIGINT: deleting the IKE SA");
                    shutdown_at = Some(self.begin_shutdown());
                }
                () = sleep_until(shutdown_at) => break,
            }
            for event in self.driver.flush() {
                if !self.react(&event, shutdown_at.is_some()) {
                    outcome = Outcome::TunnelDown;
                    shutdown_at.get_or_insert_with(|| self.begin_shutdown());
                }
            }
            if shutdown_at.is_some() && !self.driver.has_sas() {
                break;
            }
        }
        self.teardown();
        Ok(outcome)
    }

    /// Starts a new IKE SA towards the gateway on the ladder's current rung (moving down the
    /// ladder while a TCP rung cannot connect).
    fn connect(&mut self) {
        self.reconnect_at = None;
        let path = loop {
            let rung = self.ladder.current();
            if rung == Rung::Udp {
                self.udp_deadline = Some(self.driver.now() + self.settings.ladder.udp_timeout);
                self.tunnel.far_end = Some(self.settings.gateway);
                break Path::udp(self.local, self.settings.gateway);
            }
            match self.attach_stream(rung) {
                Ok(path) => break path,
                Err(why) => {
                    if self.ladder.leave(&why).is_none() {
                        self.ladder.restart();
                        self.schedule_reconnect();
                        return;
                    }
                }
            }
        };
        match self.driver.initiate(Arc::clone(&self.peer), path) {
            Ok(sa) => {
                tracing::info!(sa = %sa, gateway = %self.settings.gateway, "connecting");
                let far_end = self.tunnel.far_end.take();
                self.tunnel = Tunnel {
                    sa: Some(sa),
                    far_end: far_end.or(Some(self.settings.gateway)),
                    ..Tunnel::default()
                };
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start IKE");
                self.schedule_reconnect();
            }
        }
    }

    /// Opens a TCP rung's stream and hands it to the transport under [`ladder::CONNECTION`].
    fn attach_stream(&mut self, rung: Rung) -> Result<Path, String> {
        let stream = ladder::open_stream(rung, &self.settings.ladder)?;
        let local = stream.local_addr().map_err(|e| e.to_string())?;
        self.tunnel.far_end = stream.peer_addr().ok();
        self.tcp
            .attach(ladder::CONNECTION, stream)
            .map_err(|e| format!("cannot serve the TCP stream: {e}"))?;
        tracing::info!(%rung, %local, "TCP connection to the gateway open");
        Ok(Path {
            local,
            remote: self.settings.ladder.tcp_target,
            transport: Transport::Tcp(ladder::CONNECTION),
        })
    }

    /// The UDP rung got no answer in time: abandon its IKE SA and try the next rung.
    fn udp_unanswered(&mut self) {
        self.udp_deadline = None;
        let timeout = self.settings.ladder.udp_timeout;
        if let Some(sa) = self.tunnel.sa.take() {
            self.tunnel = Tunnel::default();
            self.driver.close(sa);
        }
        let why = format!("no answer over UDP within {} ms", timeout.as_millis());
        if self.ladder.leave(&why).is_some() {
            self.connect();
        }
    }

    /// IKE from the TCP transport, or the end of our connection.
    fn on_tcp_event(&mut self, event: TcpEvent) {
        match event {
            TcpEvent::Ike { path, message } => self.driver.handle_message(path, &message),
            TcpEvent::Closed { connection, cause } => {
                if connection != ladder::CONNECTION {
                    return;
                }
                // While a move waits, the first close is the old connection's: expected.
                if let Some(pending) = self.tcp_move.as_mut().filter(|m| !m.old_gone) {
                    pending.old_gone = true;
                    return;
                }
                let on_tcp = self.ladder.current() != Rung::Udp;
                // A connection we replaced ourselves is no loss.
                let lost = cause != CloseCause::Replaced;
                if lost && on_tcp && self.tunnel.established {
                    self.tcp_move = None;
                    tracing::warn!(%cause, "TCP connection to the gateway lost; reconnecting to continue the IKE SA");
                    self.tcp_resume_at = Some(self.driver.now());
                }
            }
        }
    }

    /// Reopens the TCP connection of the established IKE SA and moves the SA onto it (the
    /// engine tells the gateway with a message on it), so the SA and its inner address continue
    /// (<https://www.rfc-editor.org/rfc/rfc9329#section-6>). Retries every second until the
    /// IKE SA's own liveness check gives up.
    fn resume_tcp(&mut self) {
        self.tcp_resume_at = None;
        let Some(sa) = self.tunnel.sa.filter(|_| self.tunnel.established) else {
            return;
        };
        let old_gone = !self.shared.tcp.contains(ladder::CONNECTION);
        match self.attach_stream(self.ladder.current()) {
            Ok(path) => {
                tracing::info!(sa = %sa, local = %path.local, "IKE SA continues on a new TCP connection");
                let now = self.driver.now();
                self.tcp_move = Some(TcpMove {
                    path,
                    old_gone,
                    next_check: now,
                    give_up_at: now + TCP_MOVE_WAIT,
                });
                self.finish_tcp_move();
            }
            Err(why) => {
                tracing::warn!(reason = %why, "TCP reconnect failed; retrying");
                self.tcp_resume_at = Some(self.driver.now() + Duration::from_secs(1));
            }
        }
    }

    /// Moves the IKE SA to its new TCP connection once the transport serves it (the old one
    /// closed and the id registered again), or once [`TCP_MOVE_WAIT`] is over.
    fn finish_tcp_move(&mut self) {
        let Some(mut pending) = self.tcp_move.take() else {
            return;
        };
        let now = self.driver.now();
        let served = pending.old_gone && self.shared.tcp.contains(ladder::CONNECTION);
        if !served && now < pending.give_up_at {
            pending.next_check = now + TCP_MOVE_POLL;
            self.tcp_move = Some(pending);
            return;
        }
        if !served {
            tracing::debug!("the new TCP connection is not served yet; moving the IKE SA anyway");
        }
        let Some(sa) = self.tunnel.sa.filter(|_| self.tunnel.established) else {
            return;
        };
        if let Err(e) = self.driver.endpoint_mut().migrate(now, sa, pending.path) {
            tracing::debug!(error = %e, "moving the IKE SA to the new connection");
        }
    }

    /// Looks up the source address towards the far end and moves the established IKE SA when
    /// it differs from the one the SA uses, or when a lost route came back.
    fn check_roaming(&mut self) {
        let Some(sa) = self.tunnel.sa.filter(|_| self.tunnel.established) else {
            return;
        };
        if self.tcp_move.is_some() {
            // A move to a new TCP connection is under way; its path is not the SA's yet.
            return;
        }
        let (Some(far_end), Some(path)) =
            (self.tunnel.far_end, self.driver.endpoint_mut().path(sa))
        else {
            return;
        };
        let probe = roaming::source_towards(far_end);
        let found = probe.as_ref().ok().copied();
        match self.tunnel.roam.observe(path.local.ip(), found) {
            Roam::Stay => {}
            Roam::RouteLost => {
                let why = probe.err().map(|e| e.to_string()).unwrap_or_default();
                tracing::warn!(%far_end, reason = %why, "no route to the gateway; keeping the IKE SA and checking on");
            }
            Roam::Move { from, to } => {
                tracing::info!(%from, %to, %far_end, "local address changed; moving the IKE SA");
                self.move_sa(sa, path, to);
            }
        }
    }

    /// Moves the established IKE SA to local address `to`: on UDP the same socket (bound to
    /// the wildcard) sends from `to` and the engine tells the gateway; on a TCP rung a new
    /// connection replaces the old one, which may hang on to a vanished address for minutes.
    fn move_sa(&mut self, sa: IkeSaHandle, path: Path, to: IpAddr) {
        match path.transport {
            Transport::Udp => {
                let moved = Path::udp(SocketAddr::new(to, self.local.port()), path.remote);
                let now = self.driver.now();
                if let Err(e) = self.driver.endpoint_mut().migrate(now, sa, moved) {
                    tracing::warn!(error = %e, "cannot move the IKE SA");
                }
            }
            Transport::Tcp(_) => self.resume_tcp(),
        }
    }

    fn schedule_reconnect(&mut self) {
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(self.settings.reconnect_max);
        tracing::info!(in_secs = wait.as_secs_f32(), "reconnecting");
        self.reconnect_at = Some(self.driver.now() + wait);
    }

    fn begin_shutdown(&mut self) -> Instant {
        self.reconnect_at = None;
        self.driver.close_all();
        self.driver.now() + SHUTDOWN_GRACE
    }

    /// Acts on one engine event; returns `false` when `--once` says to stop.
    fn react(&mut self, event: &Event, shutting_down: bool) -> bool {
        if self.tunnel.sa != Some(event.sa()) {
            return true;
        }
        match event {
            Event::IkeSaEstablished { .. } => {
                self.tunnel.established = true;
                self.backoff = self.settings.reconnect_min;
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "transport={}", self.ladder.current());
                let _ = stdout.flush();
            }
            Event::VirtualIp { assigned, .. } => self.configure(assigned),
            Event::IkeSaRekeyed { .. } => tracing::info!("IKE SA rekeyed"),
            Event::PathConfirmed { path, mobike, .. } => {
                tracing::info!(local = %path.local, mobike, "the gateway follows the new path");
            }
            Event::ChildSaInstalled(child) => {
                let routes = tunnel_routes(&child.ts_remote, self.settings.gateway.ip());
                for route in routes {
                    if self.tunnel.routes.contains(&route) {
                        continue;
                    }
                    match self.tun.add_route(route) {
                        Ok(()) => self.tunnel.routes.push(route),
                        Err(e) => tracing::error!(%route, error = %e, "cannot add route"),
                    }
                }
                tracing::info!(routes = ?self.tunnel.routes, "tunnel up");
            }
            Event::Closed { reason, .. } => {
                self.remove_routes();
                self.tunnel = Tunnel::default();
                self.udp_deadline = None;
                self.tcp_resume_at = None;
                self.tcp_move = None;
                self.ladder.restart();
                if shutting_down {
                    return true;
                }
                tracing::warn!(?reason, "tunnel down");
                if self.settings.once || matches!(reason, CloseReason::Local) {
                    return false;
                }
                self.schedule_reconnect();
            }
            _ => {}
        }
        true
    }

    /// Gives the TUN device the virtual IP and prints what the IMS stack needs.
    fn configure(&mut self, assigned: &ikev2::VirtualIp) {
        let mut out = String::new();
        for addr in &assigned.addresses {
            let host = match addr {
                IpAddr::V4(v4) => Ipv4Net::new(*v4, 32).map(IpNet::V4),
                IpAddr::V6(v6) => Ipv6Net::new(*v6, 128).map(IpNet::V6),
            };
            let result = host
                .map_err(std::io::Error::other)
                .and_then(|net| self.tun.add_address(net).map(|()| net));
            match result {
                Ok(IpNet::V6(net)) => self.tunnel.addresses6.push(net),
                Ok(IpNet::V4(_)) => {}
                Err(e) => {
                    tracing::error!(address = %addr, error = %e, "cannot set the virtual IP");
                }
            }
            out.push_str(&format!("address={addr}\n"));
        }
        for dns in &assigned.dns {
            out.push_str(&format!("dns={dns}\n"));
        }
        for pcscf in &assigned.pcscf {
            out.push_str(&format!("pcscf={pcscf}\n"));
        }
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }

    /// Removes the tunnel's routes and its IPv6 inner addresses from the TUN device.
    fn remove_routes(&mut self) {
        for route in self.tunnel.routes.drain(..) {
            if let Err(e) = self.tun.remove_route(route) {
                tracing::debug!(%route, error = %e, "remove route");
            }
        }
        for address in self.tunnel.addresses6.drain(..) {
            if let Err(e) = self.tun.remove_ipv6_address(address) {
                tracing::debug!(%address, error = %e, "remove IPv6 inner address");
            }
        }
    }

    /// Removes routes, stops the workers and deletes the TUN device (it goes with its last
    /// queue).
    fn teardown(mut self) {
        self.remove_routes();
        self.data_plane.stop();
        let name = self.tun.name().to_owned();
        drop(self.tun);
        tracing::info!(tun = %name, "client stopped; routes and TUN device removed");
    }
}
