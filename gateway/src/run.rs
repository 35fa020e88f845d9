//! The running gateway: builds the engine from the configuration, creates the TUN device and the
//! sockets, starts the data plane, and runs the control loop until SIGINT/SIGTERM, when it sends
//! a Delete to every client and exits once they answered (or after a grace period).
//!
//! Inner side (TR 33.830 clause 8.2 NOTE 2): the TUN device gets the gateway's own inner address
//! (the pool's first host) and a route for the whole pool, so packets from the core to any
//! client's virtual IP enter the TUN device and go down that client's tunnel; clients' packets
//! leave through it towards the core. The core routes the pool to this host. With
//! `clients.pool6` the same holds for IPv6: the TUN device keeps IPv6 on, gets the first host of
//! `pool6` as /128 and a route for `pool6`, and the core routes `pool6` to this host.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ikev2::config::{Lifetimes, VirtualIpConfig};
use ikev2::ts::TrafficSelector;
use ikev2::{Endpoint, EndpointConfig, PeerConfig};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netio::dataplane::driver::{sleep_until, ACTIVITY_REPORT_INTERVAL};
use netio::dataplane::status::{self, SocketFileGuard};
use netio::dataplane::{DataPlane, DataPlaneIo, DestinationPolicy, Driver, IkeSockets, Shared};
use netio::tun::{Tun, TunConfig};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::pool::{AddressPool, AddressPool6, ClientPools, POOL_NAME};
use netio::clock;

/// How long shutdown waits for clients to answer the Delete.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// IKE messages queued between the receivers and the control task.
const IKE_QUEUE: usize = 1024;

/// Runs the gateway until a signal; errors are setup failures.
pub fn run(config: Config, status_socket: PathBuf) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(serve(config, status_socket))
}

/// The engine's peer configurations, one per configured peer.
fn peer_configs(config: &Config) -> Vec<Arc<PeerConfig>> {
    // Clients reach the protected subnets, and each other only when the configuration allows it
    // (then the pools are offered too, so their routes cover them).
    let pools = config.pools();
    let reachable = config
        .protected_subnets
        .iter()
        .copied()
        .chain(pools.filter(|_| config.client_to_client));
    let local_ts: Vec<TrafficSelector> = reachable
        .filter_map(|net| TrafficSelector::from_prefix(net.network(), net.prefix_len()))
        .collect();
    // Replaced by the client's inner addresses when it gets any (RFC 7296 §2.9 narrowing).
    let mut remote_ts = vec![TrafficSelector::IPV4_ANY];
    if config.pool6.is_some() {
        remote_ts.push(TrafficSelector::IPV6_ANY);
    }
    let child = config.child_lifetime;
    config
        .peers
        .iter()
        .enumerate()
        .map(|(i, peer)| {
            let mut pc = PeerConfig::new(
                &format!("peers[{i}]"),
                config.identity.clone(),
                peer.id.clone(),
                peer.psk.clone(),
            );
            pc.ike_proposals = config.ike_proposals.clone();
            pc.esp_proposals = config.esp_proposals.clone();
            pc.local_ts = local_ts.clone();
            pc.remote_ts = remote_ts.clone();
            pc.virtual_ip = VirtualIpConfig {
                pool: Some(POOL_NAME.into()),
                dns: config.dns.clone(),
                pcscf: config.pcscf.clone(),
                ..VirtualIpConfig::default()
            };
            pc.lifetimes = Lifetimes {
                ike_rekey: Some(config.ike_lifetime),
                child_rekey: Some(child),
                child_hard: Some(child + child / 10),
                jitter: child / 10,
                ..Lifetimes::default()
            };
            pc.dpd_delay = Some(config.liveness_interval);
            Arc::new(pc)
        })
        .collect()
}

/// The most IKE SAs the engine keeps: enough for a client on every pool address, each briefly
/// doubled while its IKE SA is rekeyed (RFC 7296 §2.18), plus the half-open ones; never below the
/// engine's default.
fn ike_sa_limit(config: &EndpointConfig, pool_capacity: usize) -> usize {
    pool_capacity
        .saturating_mul(2)
        .saturating_add(config.max_half_open)
        .max(config.max_ike_sas)
}

/// Creates the inner TUN device: up, with our inner address(es) and the pool(s) routed into it.
/// Without `pool6` IPv6 is turned off on the device.
fn create_tun(config: &Config) -> Result<Tun, String> {
    let tun = Tun::create(
        &TunConfig::new()
            .name(config.tun_name.clone())
            .queues(config.workers)
            .mtu(config.tun_mtu),
    )
    .map_err(|e| format!("cannot create TUN device {}: {e}", config.tun_name))?;
    let inner =
        Ipv4Net::new(config.inner_address(), 32).map_err(|e| format!("inner address: {e}"))?;
    let ipv6 = match (config.pool6, config.inner_address6()) {
        (Some(pool6), Some(inner6)) => {
            let inner6 = Ipv6Net::new(inner6, 128).map_err(|e| format!("inner address: {e}"))?;
            netio::dataplane::enable_ipv6(tun.name())
                .map_err(|e| format!("cannot turn IPv6 on on {}: {e}", tun.name()))?;
            Some((inner6, pool6))
        }
        _ => {
            if let Err(e) = netio::dataplane::disable_ipv6(tun.name()) {
                tracing::debug!(error = %e, "cannot turn IPv6 off on the TUN device");
            }
            None
        }
    };
    tun.set_up(true)
        .and_then(|()| tun.add_address(IpNet::V4(inner)))
        .and_then(|()| tun.add_route(IpNet::V4(config.pool)))
        .and_then(|()| {
            ipv6.map_or(Ok(()), |(inner6, pool6)| {
                tun.add_address(IpNet::V6(inner6))
                    .and_then(|()| tun.add_route(IpNet::V6(pool6)))
            })
        })
        .map_err(|e| format!("cannot configure TUN device {}: {e}", tun.name()))?;
    Ok(tun)
}

async fn serve(config: Config, status_socket: PathBuf) -> Result<(), String> {
    if config.uses_builtin_psk() {
        tracing::warn!("running with the built-in lab PSK; configure [[peers]] before real use");
    }
    let mut endpoint_config = EndpointConfig::new(
        clock::seed().map_err(|e| format!("no randomness: {e}"))?,
        peer_configs(&config),
    );
    endpoint_config.ike_proposals = config.ike_proposals.clone();
    endpoint_config.cookie_threshold =
        usize::try_from(config.cookie_threshold).unwrap_or(usize::MAX);
    endpoint_config.mobike = config.mobike;
    endpoint_config.retransmit = config.retransmit;
    tracing::info!(
        "a dead client's SAs and inner address are released within {:.1} s of its last packet",
        config.dead_peer_hold_limit().as_secs_f64()
    );
    let pools = ClientPools {
        v4: AddressPool::new(config.pool),
        v6: config.pool6.map(AddressPool6::new),
    };
    endpoint_config.max_ike_sas = ike_sa_limit(&endpoint_config, pools.v4.capacity());
    let endpoint = Endpoint::new(endpoint_config, Box::new(pools));

    let mut tun = create_tun(&config)?;
    let sockets = Arc::new(IkeSockets::bind(config.bind_addresses()).map_err(|e| e.to_string())?);
    let policy = if config.client_to_client {
        DestinationPolicy::allow_all()
    } else {
        let pools = config
            .pools()
            .map(|net| esp::TrafficSelector::prefix(net.network(), net.prefix_len()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("pool selector: {e}"))?;
        DestinationPolicy::forbid(pools)
    };
    let shared = Arc::new(Shared::new(policy));
    let (ike_tx, mut ike_rx) = mpsc::channel(IKE_QUEUE);
    let _data_plane = DataPlane::start(
        DataPlaneIo {
            tun_queues: tun.take_queues(),
            sockets: Arc::clone(&sockets),
        },
        Arc::clone(&shared),
        clock::now,
        ike_tx,
    )
    .map_err(|e| format!("cannot start the data plane: {e}"))?;

    let listener = status::bind(&status_socket).map_err(|e| {
        format!(
            "cannot bind the status socket {}: {e}",
            status_socket.display()
        )
    })?;
    let _socket_file = SocketFileGuard(status_socket.clone());
    let (status_tx, mut status_rx) = mpsc::channel(8);
    tokio::spawn(status::serve(listener, status_tx));

    let (tcp_tx, mut tcp_rx) = mpsc::channel(IKE_QUEUE);
    let _tcp = crate::tcp_listener::start(
        &config.tcp,
        &config.listen,
        Arc::clone(&shared),
        _data_plane.tun_writer(),
        tcp_tx,
    )?;
    let mut driver = Driver::new(endpoint, sockets, shared, clock::now, "gateway");
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut activity = tokio::time::interval(ACTIVITY_REPORT_INTERVAL);
    let mut shutdown_at = None;
    tracing::info!(
        identity = %config.identity,
        listen = ?config.listen,
        tun = tun.name(),
        pool = %config.pool,
        pool6 = ?config.pool6,
        status = %status_socket.display(),
        "gateway up"
    );

    loop {
        tokio::select! {
            Some(datagram) = ike_rx.recv() => driver.handle_datagram(&datagram),
            Some(event) = tcp_rx.recv() => {
                if let netio::dataplane::tcp_transport::TcpEvent::Ike { path, message } = event {
                    driver.handle_message(path, &message);
                }
            }
            () = sleep_until(driver.next_timeout()) => driver.handle_timeout(),
            _ = activity.tick() => driver.report_activity(),
            Some(reply) = status_rx.recv() => {
                let _ = reply.send(driver.status());
            }
            _ = sigterm.recv(), if shutdown_at.is_none() => {
                tracing::info!("SIGTERM: deleting every IKE SA");
                driver.close_all();
                shutdown_at = Some(driver.now() + SHUTDOWN_GRACE);
            }
            _ = sigint.recv(), if shutdown_at.is_none() => {
                tracing::info!("SIGINT: deleting every IKE SA");
                driver.close_all();
                shutdown_at = Some(driver.now() + SHUTDOWN_GRACE);
            }
            () = sleep_until(shutdown_at) => break,
        }
        driver.flush();
        if shutdown_at.is_some() && !driver.has_sas() {
            break;
        }
    }
    tracing::info!("gateway stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ike_sa_limit_covers_every_pool_address() {
        let config = EndpointConfig::new([0; 32], Vec::new());
        let default = config.max_ike_sas;
        let small = AddressPool::new("10.200.0.0/24".parse().unwrap());
        assert_eq!(ike_sa_limit(&config, small.capacity()), default);
        let large = AddressPool::new("100.64.0.0/15".parse().unwrap());
        let limit = ike_sa_limit(&config, large.capacity());
        assert_eq!(limit, 2 * ((1 << 17) - 3) + config.max_half_open);
        assert!(limit > default);
    }

    #[test]
    fn pool6_adds_ipv6_selectors_and_ipv4_only_stays_as_it_was() {
        let v4_only = Config::builtin();
        let peer = &peer_configs(&v4_only)[0];
        assert_eq!(peer.remote_ts, [TrafficSelector::IPV4_ANY]);
        assert_eq!(
            peer.local_ts,
            [TrafficSelector::from_prefix("198.18.0.128".parse().unwrap(), 25).unwrap()]
        );

        let dual = Config::from_toml(
            "[clients]\npool6 = \"2001:2:0:3::/64\"\n\
             protected_subnets = [\"198.18.0.128/25\", \"2001:2:0:2::/64\"]\n\
             client_to_client = true\n",
        )
        .unwrap();
        let peer = &peer_configs(&dual)[0];
        assert_eq!(
            peer.remote_ts,
            [TrafficSelector::IPV4_ANY, TrafficSelector::IPV6_ANY]
        );
        let prefix = |a: &str, len| TrafficSelector::from_prefix(a.parse().unwrap(), len).unwrap();
        assert_eq!(
            peer.local_ts,
            [
                prefix("198.18.0.128", 25),
                prefix("2001:2:0:2::", 64),
                prefix("198.18.1.0", 24),
                prefix("2001:2:0:3::", 64),
            ],
            "protected subnets, then both pools (client_to_client)"
        );
    }
}
