//! The lab topology: clients on a LAN, an optional router (plain, NAT or firewall), the gateway,
//! and a core host on the protected subnet behind it.
//!
//! ```text
//!  client 0 ─┐                       ┌──────────┐            ┌─────────┐          ┌──────┐
//!  client 1 ─┼─ LAN ─[lan] router [wan]─ WAN ─[outer] gateway [core]─ protected ─[eth0] core │
//!  ...      ─┘                       └──────────┘            └─────────┘          └──────┘
//! ```
//!
//! Every link carries IPv4 and IPv6 (see [`crate::LabAddresses`]). Without a router the LAN ends
//! directly on the gateway's `outer` interface. With more than one
//! client the LAN side is a bridge. The core routes the virtual-IP pool to the gateway; nothing
//! else is routed anywhere, so the only way from a client to the core is through the gateway's
//! tunnel. Nothing is added to the root namespace: every link is created with both ends inside
//! lab namespaces.

use std::ffi::OsStr;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::addressing::{BlockClaim, LabAddresses};
use crate::error::{Error, Result};
use crate::firewall::{tinyproxy_config, Firewall, Router, PROXY_PORT};
use crate::netns::{self, run_ip, Netns, NAME_PREFIX};
use crate::process::{ExecOutput, NetnsCommand, ProcessGuard};
use crate::workdir::WorkDir;

/// Interface names inside the lab namespaces (each namespace has its own, so they are fixed).
pub mod ifname {
    /// A client's interface on the LAN.
    pub const CLIENT: &str = "eth0";
    /// The router's interface on the LAN (a bridge when there are several clients).
    pub const ROUTER_LAN: &str = "lan";
    /// The router's interface towards the gateway.
    pub const ROUTER_WAN: &str = "wan";
    /// The gateway's outer interface (towards the router, or the LAN when there is no router).
    pub const GATEWAY_OUTER: &str = "outer";
    /// The gateway's interface on the protected subnet.
    pub const GATEWAY_CORE: &str = "core";
    /// The core host's interface.
    pub const CORE: &str = "eth0";
}

/// A host of the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host {
    /// Client number `n` (from 0).
    Client(usize),
    /// The router between clients and gateway (exists only when the lab was built with one).
    Router,
    /// The gateway.
    Gateway,
    /// The core host on the protected subnet.
    Core,
}

impl Host {
    fn role(self) -> String {
        match self {
            Host::Client(n) => format!("c{n}"),
            Host::Router => "r".into(),
            Host::Gateway => "gw".into(),
            Host::Core => "core".into(),
        }
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Client(n) => write!(f, "client {n}"),
            Host::Router => f.write_str("router"),
            Host::Gateway => f.write_str("gateway"),
            Host::Core => f.write_str("core"),
        }
    }
}

/// Builds a [`Lab`]; see [`Lab::builder`].
#[derive(Debug, Clone)]
pub struct LabBuilder {
    clients: usize,
    router: Option<Router>,
    preferred_block: Option<u32>,
}

impl LabBuilder {
    /// Number of client hosts (default 1, at most [`crate::MAX_CLIENTS`]).
    pub fn clients(mut self, count: usize) -> Self {
        self.clients = count;
        self
    }

    /// Puts a router between the clients and the gateway.
    pub fn with_router(mut self, router: Router) -> Self {
        self.router = Some(router);
        self
    }

    /// Asks for address block `index` (see [`LabAddresses::plan`]); when another lab holds it,
    /// the next free block is taken. Without this, the block is chosen from the process id so
    /// that parallel labs rarely probe the same blocks. The demo asks for block 0, the one the
    /// binaries' built-in defaults are written for.
    pub fn prefer_block(mut self, index: u32) -> Self {
        self.preferred_block = Some(index);
        self
    }

    /// Creates the namespaces, links, addresses, routes and rules. On error everything created
    /// so far is removed again.
    pub fn build(self) -> Result<Lab> {
        Lab::build(self)
    }
}

/// A running lab. Dropping it kills every process in its namespaces, deletes the namespaces
/// (and with them every link), releases its address block and removes its work directory.
#[derive(Debug)]
pub struct Lab {
    proxy: Option<ProcessGuard>,
    namespaces: Vec<(Host, Netns)>,
    workdir: WorkDir,
    addresses: LabAddresses,
    router: Option<Router>,
    _claim: BlockClaim,
}

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

impl Lab {
    /// Starts describing a lab: one client, no router.
    pub fn builder() -> LabBuilder {
        LabBuilder {
            clients: 1,
            router: None,
            preferred_block: None,
        }
    }

    fn build(spec: LabBuilder) -> Result<Lab> {
        netns::reclaim_stale_once();
        let pid = std::process::id();
        let seq = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let hint = spec
            .preferred_block
            .unwrap_or_else(|| pid.wrapping_mul(31).wrapping_add(seq));
        let claim = BlockClaim::acquire(hint)?;
        let addresses = LabAddresses::plan(claim.index(), spec.clients, spec.router.is_some())?;
        let workdir = WorkDir::create(std::env::temp_dir().join(format!("eseg-lab-{pid}-{seq}")))?;
        let mut lab = Lab {
            proxy: None,
            namespaces: Vec::new(),
            workdir,
            addresses,
            router: spec.router,
            _claim: claim,
        };
        let mut hosts: Vec<Host> = (0..spec.clients).map(Host::Client).collect();
        if spec.router.is_some() {
            hosts.push(Host::Router);
        }
        hosts.extend([Host::Gateway, Host::Core]);
        for host in hosts {
            let name = format!("{NAME_PREFIX}{pid}-{seq}-{}", host.role());
            lab.namespaces.push((host, Netns::create(name)?));
        }
        lab.wire()?;
        tracing::info!(block = %lab.addresses.block, router = ?lab.router, "lab up");
        Ok(lab)
    }

    fn ip(&self, host: Host, args: &[&str]) -> Result<()> {
        let ns = self.netns(host)?;
        let mut full = vec!["-n", ns];
        full.extend_from_slice(args);
        run_ip(&full)
    }

    /// Creates a veth pair with one end in each namespace, both down.
    fn veth(&self, a: Host, a_if: &str, b: Host, b_if: &str) -> Result<()> {
        let b_ns = self.netns(b)?.to_owned();
        self.ip(
            a,
            &[
                "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", &b_ns,
            ],
        )
    }

    /// Assigns addresses (IPv6 without duplicate-address detection, so they are usable at
    /// once) and brings the interface up. Its link-local address skips detection too: while
    /// that address is tentative (a second or two after the link comes up) the kernel sends no
    /// neighbour solicitation for a packet it forwards, so the first IPv6 packets routed across
    /// a fresh lab would be lost.
    fn up_with_addresses(&self, host: Host, dev: &str, addrs: &[(IpAddr, u8)]) -> Result<()> {
        for (addr, len) in addrs {
            let prefix = format!("{addr}/{len}");
            let mut args = vec!["addr", "add", &prefix, "dev", dev];
            if addr.is_ipv6() {
                args.push("nodad");
            }
            self.ip(host, &args)?;
        }
        self.sysctl(host, &[(&format!("net.ipv6.conf.{dev}.accept_dad"), "0")])?;
        self.ip(host, &["link", "set", dev, "up"])
    }

    /// Adds a route for `dest` (a prefix or `default`) via `next_hop`.
    fn route_via(&self, host: Host, dest: &str, next_hop: IpAddr) -> Result<()> {
        let family = if next_hop.is_ipv6() { "-6" } else { "-4" };
        self.ip(
            host,
            &[family, "route", "add", dest, "via", &next_hop.to_string()],
        )
    }

    fn wire(&mut self) -> Result<()> {
        let a = self.addresses.clone();
        let a6 = a.v6.clone();
        let lan_host = if self.router.is_some() {
            Host::Router
        } else {
            Host::Gateway
        };
        let lan_if = if self.router.is_some() {
            ifname::ROUTER_LAN
        } else {
            ifname::GATEWAY_OUTER
        };
        if a.clients.len() == 1 {
            self.veth(Host::Client(0), ifname::CLIENT, lan_host, lan_if)?;
        } else {
            self.ip(lan_host, &["link", "add", lan_if, "type", "bridge"])?;
            for i in 0..a.clients.len() {
                let port = format!("p{i}");
                self.veth(Host::Client(i), ifname::CLIENT, lan_host, &port)?;
                self.ip(lan_host, &["link", "set", &port, "master", lan_if, "up"])?;
            }
        }
        let (lan_len, lan6_len) = (a.lan.prefix_len(), a6.lan.prefix_len());
        self.up_with_addresses(
            lan_host,
            lan_if,
            &[
                (a.lan_next_hop.into(), lan_len),
                (a6.lan_next_hop.into(), lan6_len),
            ],
        )?;
        for (i, (client, client6)) in a.clients.iter().zip(&a6.clients).enumerate() {
            self.up_with_addresses(
                Host::Client(i),
                ifname::CLIENT,
                &[((*client).into(), lan_len), ((*client6).into(), lan6_len)],
            )?;
            if self.router.is_some() {
                self.route_via(Host::Client(i), "default", a.lan_next_hop.into())?;
                self.route_via(Host::Client(i), "default", a6.lan_next_hop.into())?;
            }
        }
        if let (Some(router), Some(wan), Some(router_wan), Some(wan6), Some(router_wan6)) =
            (self.router, a.wan, a.router_wan, a6.wan, a6.router_wan)
        {
            self.veth(
                Host::Router,
                ifname::ROUTER_WAN,
                Host::Gateway,
                ifname::GATEWAY_OUTER,
            )?;
            self.up_with_addresses(
                Host::Router,
                ifname::ROUTER_WAN,
                &[
                    (router_wan.into(), wan.prefix_len()),
                    (router_wan6.into(), wan6.prefix_len()),
                ],
            )?;
            self.up_with_addresses(
                Host::Gateway,
                ifname::GATEWAY_OUTER,
                &[
                    (a.gateway_outer.into(), wan.prefix_len()),
                    (a6.gateway_outer.into(), wan6.prefix_len()),
                ],
            )?;
            if !router.masquerades() {
                self.route_via(Host::Gateway, &a.lan.to_string(), router_wan.into())?;
                self.route_via(Host::Gateway, &a6.lan.to_string(), router_wan6.into())?;
            }
            self.sysctl(Host::Router, &forwarding_sysctls())?;
        }
        self.veth(
            Host::Gateway,
            ifname::GATEWAY_CORE,
            Host::Core,
            ifname::CORE,
        )?;
        let (len, len6) = (a.protected.prefix_len(), a6.protected.prefix_len());
        self.up_with_addresses(
            Host::Gateway,
            ifname::GATEWAY_CORE,
            &[
                (a.gateway_inner.into(), len),
                (a6.gateway_inner.into(), len6),
            ],
        )?;
        self.up_with_addresses(
            Host::Core,
            ifname::CORE,
            &[
                (a.core.into(), len),
                (a.pcscf.into(), len),
                (a.dns.into(), len),
                (a6.core.into(), len6),
                (a6.pcscf.into(), len6),
                (a6.dns.into(), len6),
            ],
        )?;
        self.route_via(Host::Core, &a.pool.to_string(), a.gateway_inner.into())?;
        self.route_via(Host::Core, &a6.pool.to_string(), a6.gateway_inner.into())?;
        self.sysctl(Host::Gateway, &forwarding_sysctls())?;
        if let Some(router) = self.router {
            let rules = router.ruleset();
            if !rules.is_empty() {
                self.nft(Host::Router, &rules)?;
            }
            if router.firewall() == Some(Firewall::HttpProxyOnly) {
                self.proxy = Some(self.start_proxy()?);
            }
        }
        Ok(())
    }

    fn start_proxy(&self) -> Result<ProcessGuard> {
        let log = self.workdir.path().join("tinyproxy.log");
        let conf = tinyproxy_config(
            self.addresses.lan_next_hop,
            self.addresses.lan,
            &log.to_string_lossy(),
        );
        let conf_path = self.write_file("tinyproxy.conf", conf)?;
        let guard = self
            .command(
                Host::Router,
                &[
                    OsStr::new("tinyproxy"),
                    OsStr::new("-d"),
                    OsStr::new("-c"),
                    conf_path.as_os_str(),
                ],
            )?
            .spawn()?;
        self.wait_for_tcp_listener(Host::Router, PROXY_PORT, Duration::from_secs(10))?;
        Ok(guard)
    }

    /// Writes `key = value` sysctls (relative to `/proc/sys/`) inside the host's namespace.
    pub fn sysctl(&self, host: Host, settings: &[(&str, &str)]) -> Result<()> {
        let ns = self.netns(host)?;
        netns::run_in(ns, || {
            for (key, value) in settings {
                let path = format!("/proc/sys/{}", key.replace('.', "/"));
                std::fs::write(&path, value).map_err(|e| Error::io(format!("write {path}"), e))?;
            }
            Ok(())
        })?
    }

    /// Every address and subnet of this lab.
    pub fn addresses(&self) -> &LabAddresses {
        &self.addresses
    }

    /// The router this lab was built with, if any.
    pub fn router(&self) -> Option<Router> {
        self.router
    }

    /// The hosts of this lab, clients first.
    pub fn hosts(&self) -> Vec<Host> {
        self.namespaces.iter().map(|(h, _)| *h).collect()
    }

    /// The network namespace name of `host` (for `ip netns exec` and friends).
    pub fn netns(&self, host: Host) -> Result<&str> {
        self.namespaces
            .iter()
            .find(|(h, _)| *h == host)
            .map(|(_, ns)| ns.name())
            .ok_or_else(|| Error::Invalid(format!("this lab has no {host}")))
    }

    /// The gateway's outer address: where clients send IKE and ESP.
    pub fn gateway_outer(&self) -> Ipv4Addr {
        self.addresses.gateway_outer
    }

    /// Client `n`'s outer (LAN) address.
    pub fn client_outer(&self, n: usize) -> Result<Ipv4Addr> {
        self.addresses
            .clients
            .get(n)
            .copied()
            .ok_or_else(|| Error::Invalid(format!("this lab has no client {n}")))
    }

    /// The HTTP proxy clients must use (type 8 firewall only).
    pub fn proxy(&self) -> Option<SocketAddr> {
        self.proxy
            .as_ref()
            .map(|_| SocketAddr::V4(SocketAddrV4::new(self.addresses.lan_next_hop, PROXY_PORT)))
    }

    /// The lab's work directory (program output, generated configs).
    pub fn workdir(&self) -> &Path {
        self.workdir.path()
    }

    /// Writes `contents` to `name` in the work directory and returns the full path.
    pub fn write_file(&self, name: &str, contents: impl AsRef<[u8]>) -> Result<PathBuf> {
        let path = self.workdir.path().join(name);
        std::fs::write(&path, contents)
            .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
        Ok(path)
    }

    /// A command to run in `host`'s namespace; finish it with `run`, `run_checked` or `spawn`.
    pub fn command<S: AsRef<OsStr>>(&self, host: Host, argv: &[S]) -> Result<NetnsCommand<'_>> {
        Ok(NetnsCommand::new(&self.workdir, self.netns(host)?, argv))
    }

    /// Runs a program in `host`'s namespace with the default time limit and returns its output
    /// whatever its exit status.
    pub fn exec<S: AsRef<OsStr>>(&self, host: Host, argv: &[S]) -> Result<ExecOutput> {
        self.command(host, argv)?.run()
    }

    /// Like [`Lab::exec`], but a non-zero exit is an error.
    pub fn exec_checked<S: AsRef<OsStr>>(&self, host: Host, argv: &[S]) -> Result<ExecOutput> {
        self.command(host, argv)?.run_checked()
    }

    /// Starts a program in `host`'s namespace; it is killed when the guard is dropped.
    pub fn spawn<S: AsRef<OsStr>>(&self, host: Host, argv: &[S]) -> Result<ProcessGuard> {
        self.command(host, argv)?.spawn()
    }

    /// Loads an nftables ruleset (`nft -f` syntax) into `host`'s namespace.
    pub fn nft(&self, host: Host, ruleset: &str) -> Result<()> {
        self.command(host, &["nft", "-f", "-"])?
            .stdin(ruleset)
            .run_checked()
            .map(drop)
    }

    /// Runs `f` on a thread inside `host`'s namespace (sockets and TUN devices it creates live
    /// there); see [`crate::run_in`].
    pub fn run_in<T: Send>(&self, host: Host, f: impl FnOnce() -> T + Send) -> Result<T> {
        netns::run_in(self.netns(host)?, f)
    }

    /// Sends `count` pings (one per 0.2 s, 1 s reply timeout) and reports whether any reply came.
    pub fn ping(&self, from: Host, to: IpAddr, count: u32) -> Result<bool> {
        let out = self
            .command(
                from,
                &[
                    "ping",
                    "-n",
                    "-q",
                    "-i",
                    "0.2",
                    "-W",
                    "1",
                    "-c",
                    &count.to_string(),
                    &to.to_string(),
                ],
            )?
            .run()?;
        Ok(out.success())
    }

    /// Sends `count` pings at `interval` (at least 0.002 s as root) and returns the round-trip
    /// time of each reply, in order; lost pings are simply absent.
    pub fn ping_rtts(
        &self,
        from: Host,
        to: IpAddr,
        count: u32,
        interval: Duration,
    ) -> Result<Vec<Duration>> {
        let interval = format!("{:.3}", interval.as_secs_f64().max(0.002));
        let limit = Duration::from_secs_f64(count as f64 * interval.parse::<f64>().unwrap_or(1.0))
            + Duration::from_secs(5);
        let out = self
            .command(
                from,
                &[
                    "ping",
                    "-n",
                    "-i",
                    &interval,
                    "-W",
                    "1",
                    "-c",
                    &count.to_string(),
                    &to.to_string(),
                ],
            )?
            .timeout(limit)
            .run()?;
        Ok(parse_ping_rtts(&out.stdout))
    }

    /// Waits until something in `host` listens on TCP `port`.
    pub fn wait_for_tcp_listener(&self, host: Host, port: u16, limit: Duration) -> Result<()> {
        self.wait_for_socket(host, "-ltn", port, limit)
    }

    /// Waits until something in `host` has a UDP socket bound to `port`.
    pub fn wait_for_udp_socket(&self, host: Host, port: u16, limit: Duration) -> Result<()> {
        self.wait_for_socket(host, "-lun", port, limit)
    }

    fn wait_for_socket(&self, host: Host, kind: &str, port: u16, limit: Duration) -> Result<()> {
        let filter = format!("sport = :{port}");
        let step = Duration::from_millis(50);
        let mut waited = Duration::ZERO;
        loop {
            let out = self.exec_checked(host, &["ss", "-H", kind, &filter])?;
            if !out.stdout.trim().is_empty() {
                return Ok(());
            }
            if waited >= limit {
                return Err(Error::WaitTimeout {
                    what: format!("{host} to listen on port {port} ({kind})"),
                    limit,
                });
            }
            std::thread::sleep(step);
            waited += step;
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.proxy = None;
        while let Some((_, ns)) = self.namespaces.pop() {
            drop(ns);
        }
    }
}

/// The `time=X ms` figures of ping's per-reply lines.
fn parse_ping_rtts(output: &str) -> Vec<Duration> {
    output
        .lines()
        .filter_map(|line| {
            line.split_once("time=")?
                .1
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .collect()
}

fn forwarding_sysctls() -> [(&'static str, &'static str); 4] {
    [
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.default.rp_filter", "0"),
        ("net.ipv6.conf.all.forwarding", "1"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_rtts_are_read_from_reply_lines_only() {
        let out = "PING 198.18.0.1 (198.18.0.1) 56(84) bytes of data.\n\
                   64 bytes from 198.18.0.1: icmp_seq=1 ttl=64 time=0.042 ms\n\
                   64 bytes from 198.18.0.1: icmp_seq=3 ttl=64 time=1.50 ms\n\
                   \n--- 198.18.0.1 ping statistics ---\n\
                   3 packets transmitted, 2 received, 33.3333% packet loss, time 2003ms\n\
                   rtt min/avg/max/mdev = 0.042/0.771/1.500/0.729 ms\n";
        let rtts = parse_ping_rtts(out);
        assert_eq!(
            rtts,
            vec![Duration::from_micros(42), Duration::from_micros(1500)]
        );
    }
}
