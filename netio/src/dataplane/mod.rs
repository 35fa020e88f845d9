//! The data plane both binaries run, and the driver pieces they share.
//!
//! Shape (ARCHITECTURE.md, STYLE.md §4): one control task owns the IKE engine; the data plane is a
//! set of OS threads, each owning its packet buffers:
//!
//! ```text
//!   TUN queue i --read--> [tun_to_udp i] --seal in place--> NAT-T socket --> peer
//!   peer --> NAT-T socket --recv--> [udp_to_tun] --open in place--> TUN
//!                                        \--IKE (marker stripped)--> control task (channel)
//! ```
//!
//! The threads share, read-mostly: the SA database (`esp::SaDatabase`), the [`EgressTable`]
//! (where each outbound SA's packets go) and the [`Counters`]. The control task writes the tables
//! when the engine installs, deletes or moves SAs ([`Shared::install_child`],
//! [`Shared::remove_child`], [`Shared::set_egress`]) and reads per-SA statistics for liveness and
//! status. Workers stop within 200 ms of [`DataPlane::stop`].
//!
//! The loops batch their I/O and keep the per-packet steps apart from it: `tun_to_udp` drains its
//! TUN queue in bursts and sends each burst's sealed packets with one `sendmmsg`, runs of equal
//! size to one peer as one UDP GSO entry; `udp_to_tun` receives with `recvmmsg`, with UDP GRO on,
//! and opens each segment of a coalesced buffer in place (`crate::udp` batch types, buffers
//! allocated once per worker). More TUN queues means more `tun_to_udp` workers; TUN offloads
//! (`IFF_VNET_HDR`) would change the TUN calls only. The TCP transport is another [`Egress`]
//! variant and another receive loop feeding the same steps.
//!
//! Also here: [`natt`] (what arrives on port 4500), [`drop_log`] (a rate-limited log line for
//! every kind of dropped packet), [`status`] (the status socket),
//! [`logging`] (tracing setup).

pub mod driver;
pub mod drop_log;
pub mod egress;
pub mod ike_sockets;
pub mod install;
pub mod logging;
pub mod natt;
mod refusals;
pub mod sa_book;
pub mod status;
pub mod tcp_admission;
pub mod tcp_conn;
pub mod tcp_stream;
pub mod tcp_transport;
mod worker;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

pub use driver::Driver;
pub use egress::{Egress, EgressTable};
pub use ike_sockets::IkeSockets;
pub use install::{InstallError, InstalledChild};
pub use sa_book::{ChildActivity, SaBook};

/// An IKE message that arrived on a NAT-T socket, marker already removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeDatagram {
    /// The socket's local address.
    pub local: SocketAddr,
    /// The sender.
    pub remote: SocketAddr,
    /// The bare IKE message.
    pub message: Vec<u8>,
}

/// Data-plane counters that belong to no SA (per-SA counters live in `esp`).
#[derive(Debug, Default)]
pub struct Counters {
    /// ESP packets whose SPI matches no inbound SA.
    pub unknown_spi: AtomicU64,
    /// Datagrams too short to be anything.
    pub malformed: AtomicU64,
    /// NAT-keepalives received.
    pub keepalives: AtomicU64,
    /// IKE messages dropped because the control task's queue was full.
    pub ike_dropped: AtomicU64,
    /// Inner packets from TUN with no outbound SA for their destination.
    pub no_route: AtomicU64,
    /// Inner packets an SA refused to seal (malformed, sequence numbers exhausted).
    pub seal_errors: AtomicU64,
    /// Sends that failed.
    pub send_errors: AtomicU64,
    /// Decrypted packets whose destination the policy forbids (another client's address).
    pub forbidden_destination: AtomicU64,
    /// Writes to TUN that failed.
    pub tun_write_errors: AtomicU64,
}

impl Counters {
    /// Packets dropped before or outside any SA's own counters.
    pub fn unmatched_drops(&self) -> u64 {
        [
            &self.unknown_spi,
            &self.malformed,
            &self.ike_dropped,
            &self.no_route,
            &self.seal_errors,
            &self.forbidden_destination,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

/// Which inner destinations a decrypted packet may go to. The inner *source* is checked by `esp`
/// against the peer's traffic selectors (RFC 4301 §5.2); this adds the destination rule a
/// gateway needs so that one client cannot reach another's virtual IP unless allowed.
#[derive(Debug, Clone, Default)]
pub struct DestinationPolicy {
    forbidden: Vec<esp::TrafficSelector>,
}

impl DestinationPolicy {
    /// No restriction (the client).
    pub fn allow_all() -> Self {
        Self::default()
    }

    /// Forbids every destination inside `ranges`.
    pub fn forbid(ranges: Vec<esp::TrafficSelector>) -> Self {
        Self { forbidden: ranges }
    }

    /// Whether an inner packet may be delivered; packets whose destination cannot be read are
    /// refused.
    pub fn allows(&self, packet: &[u8]) -> bool {
        if self.forbidden.is_empty() {
            return true;
        }
        match esp::destination_address(packet) {
            Ok(dst) => !self.forbidden.iter().any(|r| r.contains(dst)),
            Err(_) => false,
        }
    }

    /// Whether `dst` is forbidden (for tests and logs).
    pub fn forbids(&self, dst: IpAddr) -> bool {
        self.forbidden.iter().any(|r| r.contains(dst))
    }
}

/// State shared by the control task and the workers.
#[derive(Debug, Default)]
pub struct Shared {
    /// ESP SAs.
    pub sadb: esp::SaDatabase,
    /// Where sealed packets go.
    pub egress: EgressTable,
    /// Counters outside any SA.
    pub counters: Counters,
    /// Destination rule for decrypted packets.
    pub policy: DestinationPolicy,
    /// Open TPKT' connections (the TCP transport, [`tcp_transport`]).
    pub tcp: tcp_conn::TcpConnections,
    /// Rate-limited log lines for dropped packets.
    pub drops: drop_log::DropLog,
}

impl Shared {
    /// Empty tables with a destination policy.
    pub fn new(policy: DestinationPolicy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }
}

/// Turns IPv6 off on a TUN device whose tunnels carry IPv4 only (no IPv6 inner addresses are
/// configured): IPv6 on the device would only feed the workers the kernel's own chatter (router
/// solicitations, MLD reports) that no SA can carry.
pub fn disable_ipv6(ifname: &str) -> std::io::Result<()> {
    std::fs::write(
        format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6"),
        "1",
    )
}

/// Turns IPv6 on on a TUN device that carries IPv6 inner addresses (a namespace or host may
/// default to `disable_ipv6 = 1`, and then no IPv6 address can be added), without the link
/// chatter the kernel would otherwise send into the tunnel, where no SA matches it: no
/// link-local address (`addr_gen_mode = 1`; nothing on a tunnel talks link-local), no duplicate
/// address detection (the pool assigned the address, there is no link to probe) and no router
/// solicitations or advertisements accepted (`accept_ra = 0`; routes come from the IKE SA).
pub fn enable_ipv6(ifname: &str) -> std::io::Result<()> {
    for (key, value) in [
        ("addr_gen_mode", "1"),
        ("accept_dad", "0"),
        ("accept_ra", "0"),
        ("router_solicitations", "0"),
        ("disable_ipv6", "0"),
    ] {
        std::fs::write(format!("/proc/sys/net/ipv6/conf/{ifname}/{key}"), value)?;
    }
    Ok(())
}

/// The clock the workers read (passed in by the binary: library code never reads the clock).
pub type Clock = fn() -> Instant;

/// What every worker gets.
#[derive(Clone)]
pub(crate) struct WorkerContext {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    clock: Clock,
    ike: tokio::sync::mpsc::Sender<IkeDatagram>,
    sockets: Arc<IkeSockets>,
}

/// What the data plane runs on.
#[derive(Debug)]
pub struct DataPlaneIo {
    /// The TUN device's queues (one `tun_to_udp` worker each).
    pub tun_queues: Vec<crate::tun::TunQueue>,
    /// The sockets: one receiver thread per IKE socket, one `udp_to_tun` worker per NAT-T
    /// socket.
    pub sockets: Arc<IkeSockets>,
}

/// The running workers; dropping it stops and joins them.
#[derive(Debug)]
pub struct DataPlane {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    tun_writer: Arc<crate::tun::TunQueue>,
}

impl DataPlane {
    /// Starts the workers. IKE messages received on any socket go to `ike`.
    pub fn start(
        io: DataPlaneIo,
        shared: Arc<Shared>,
        clock: Clock,
        ike: tokio::sync::mpsc::Sender<IkeDatagram>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let ctx = WorkerContext {
            shared,
            stop: Arc::clone(&stop),
            clock,
            ike,
            sockets: Arc::clone(&io.sockets),
        };
        let queues: Vec<Arc<crate::tun::TunQueue>> =
            io.tun_queues.into_iter().map(Arc::new).collect();
        let Some(first_queue) = queues.first().cloned() else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the data plane needs at least one TUN queue",
            ));
        };
        let mut plane = DataPlane {
            stop,
            threads: Vec::new(),
            tun_writer: Arc::clone(&first_queue),
        };
        for (i, queue) in queues.iter().enumerate() {
            let (ctx, queue) = (ctx.clone(), Arc::clone(queue));
            plane.threads.push(
                std::thread::Builder::new()
                    .name(format!("tun-rx-{i}"))
                    .spawn(move || worker::tun_to_udp(ctx, queue))?,
            );
        }
        for (i, socket) in io.sockets.natt.iter().enumerate() {
            let (ctx, socket, tun) = (ctx.clone(), Arc::clone(socket), Arc::clone(&first_queue));
            plane.threads.push(
                std::thread::Builder::new()
                    .name(format!("natt-rx-{i}"))
                    .spawn(move || worker::udp_to_tun(ctx, socket, tun))?,
            );
        }
        for (i, socket) in io.sockets.ike.iter().enumerate() {
            let (ctx, socket) = (ctx.clone(), Arc::clone(socket));
            plane.threads.push(
                std::thread::Builder::new()
                    .name(format!("ike-rx-{i}"))
                    .spawn(move || worker::ike_receiver(ctx, socket))?,
            );
        }
        Ok(plane)
    }

    /// A TUN queue to write decrypted packets to (for the TCP transport).
    pub fn tun_writer(&self) -> Arc<crate::tun::TunQueue> {
        Arc::clone(&self.tun_writer)
    }

    /// Stops the workers and waits for them.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_to(dst: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        p[3] = 20;
        p[12..16].copy_from_slice(&[198, 18, 1, 2]);
        p[16..20].copy_from_slice(&dst);
        p
    }

    #[test]
    fn destination_policy_blocks_the_pool_only() {
        let pool = esp::TrafficSelector::prefix("198.18.1.0".parse().unwrap(), 24).unwrap();
        let policy = DestinationPolicy::forbid(vec![pool]);
        assert!(!policy.allows(&ipv4_to([198, 18, 1, 3])));
        assert!(policy.allows(&ipv4_to([198, 18, 0, 130])));
        assert!(
            !policy.allows(&[0x45, 0, 0]),
            "unreadable packets are refused"
        );
        assert!(DestinationPolicy::allow_all().allows(&[0x45]));
        assert!(policy.forbids("198.18.1.200".parse().unwrap()));
    }
}
