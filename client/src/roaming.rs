//! Roaming: the client keeps its IKE SA, inner address and sessions when its own outer address
//! changes (Wi-Fi to LTE and back), in the spirit of MOBIKE
//! ([RFC 4555 §3.5](https://www.rfc-editor.org/rfc/rfc4555#section-3.5): the initiator decides
//! which addresses to use and tells the responder).
//!
//! Every `--roam-check-ms` the run loop asks the kernel which source address it would use
//! towards the far end of the tunnel's transport (the gateway, or the HTTP proxy on the proxy
//! rung) with [`source_towards`]: a UDP socket `connect`ed there, then its `local_addr()`. That
//! is a route lookup; no packet leaves. [`RoamWatch`] compares the answer with the address the
//! IKE SA uses and says what to do: nothing, move the SA to the new address (the run loop then
//! calls `Endpoint::migrate` on UDP, or opens a new TCP connection on the TCP rungs), or note
//! that there is no route at all and keep the SA while checking on. When a route comes back the
//! SA moves even if the address is the same, because the old path may have broken meanwhile (a
//! TCP connection reset, a NAT mapping gone).
//!
//! [`NetworkEvents`] wakes the run loop for a check as soon as the kernel reports an address,
//! route or link change (rtnetlink), so a move is not left waiting for the next period; the
//! periodic check stays, for kernels or sandboxes without those notifications.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd as _, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    self, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};
use nix::sys::time::TimeVal;
use tokio::sync::mpsc;

/// The rtnetlink groups whose messages mean "the way to the gateway may have changed": IPv4 and
/// IPv6 addresses and routes, and links going up or down.
const CHANGE_GROUPS: libc::c_int = libc::RTMGRP_LINK
    | libc::RTMGRP_IPV4_IFADDR
    | libc::RTMGRP_IPV4_ROUTE
    | libc::RTMGRP_IPV6_IFADDR
    | libc::RTMGRP_IPV6_ROUTE;

/// Buffer for one notification read; longer ones are truncated, which is fine as they are not
/// read.
const NOTIFICATION_BUF: usize = 8192;

/// How often (seconds) the notification thread looks whether the run loop is still there.
const STOP_POLL_SECS: libc::time_t = 1;

/// Address, route and link change notifications from the kernel (rtnetlink multicast), read
/// by a thread of their own. The messages are not parsed: each only means "check now", so
/// nothing in them is trusted, and a burst of them makes one wake-up.
#[derive(Debug)]
pub struct NetworkEvents {
    changes: mpsc::Receiver<()>,
}

impl NetworkEvents {
    /// Subscribes to the change notifications and starts the thread that reads them; it ends
    /// within [`STOP_POLL_SECS`] of this value being dropped.
    pub fn open() -> io::Result<Self> {
        let fd = socket::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )?;
        let groups = u32::try_from(CHANGE_GROUPS).map_err(io::Error::other)?;
        socket::bind(fd.as_raw_fd(), &NetlinkAddr::new(0, groups))?;
        socket::setsockopt(
            &fd,
            sockopt::ReceiveTimeout,
            &TimeVal::new(STOP_POLL_SECS, 0),
        )?;
        let (signal, changes) = mpsc::channel(1);
        std::thread::Builder::new()
            .name("eseg-netlink".into())
            .spawn(move || read_notifications(&fd, &signal))?;
        Ok(Self { changes })
    }

    /// Waits until a change was reported since the last call; `Err` when the notifications
    /// stopped (logged by the thread).
    pub async fn changed(&mut self) -> io::Result<()> {
        self.changes
            .recv()
            .await
            .ok_or_else(|| io::Error::other("address change notifications stopped"))
    }
}

/// Turns notifications into wake-ups until the receiver is gone or the socket fails.
fn read_notifications(fd: &OwnedFd, signal: &mpsc::Sender<()>) {
    let mut buf = [0u8; NOTIFICATION_BUF];
    while !signal.is_closed() {
        match socket::recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            // An overrun lost notifications: that, too, means something changed. A full channel
            // already holds a wake-up.
            Ok(_) | Err(Errno::ENOBUFS) => {
                let _ = signal.try_send(());
            }
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot read address change notifications");
                return;
            }
        }
    }
}

/// The local address the kernel would pick as source towards `target` now; `Err` when there is
/// no route (link down, address gone). Sends nothing: connecting a UDP socket only looks up the
/// route.
pub fn source_towards(target: SocketAddr) -> io::Result<IpAddr> {
    let any = match target {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let socket = UdpSocket::bind(SocketAddr::new(any, 0))?;
    socket.connect(target)?;
    let source = socket.local_addr()?.ip();
    if source.is_unspecified() {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "the kernel picked no source address",
        ));
    }
    Ok(source)
}

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roam {
    /// The IKE SA's address is still the one the kernel would use.
    Stay,
    /// Move the IKE SA from `from` (the address it uses) to `to`. `from == to` when a lost
    /// route came back with the same address.
    Move {
        /// The address the IKE SA uses now.
        from: IpAddr,
        /// The address the kernel uses now.
        to: IpAddr,
    },
    /// The route to the far end just went away: keep the IKE SA and keep checking. Reported
    /// once per loss.
    RouteLost,
}

/// The roaming state of one established IKE SA: whether its route is lost and the last source
/// address seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoamWatch {
    route_lost: bool,
    last_source: Option<IpAddr>,
}

impl RoamWatch {
    /// Feeds one check: `in_use` is the local address of the IKE SA's path, `probe` what
    /// [`source_towards`] answered (`None`: no route). A wildcard `in_use` (the SA's path never
    /// learned its local address) is compared with the last address seen instead.
    pub fn observe(&mut self, in_use: IpAddr, probe: Option<IpAddr>) -> Roam {
        let Some(source) = probe else {
            if self.route_lost {
                return Roam::Stay;
            }
            self.route_lost = true;
            return Roam::RouteLost;
        };
        let returned = std::mem::take(&mut self.route_lost);
        let current = if in_use.is_unspecified() {
            self.last_source.unwrap_or(source)
        } else {
            in_use
        };
        self.last_source = Some(source);
        if returned || current != source {
            Roam::Move {
                from: current,
                to: source,
            }
        } else {
            Roam::Stay
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIFI: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    const LTE: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    const ANY: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

    #[test]
    fn the_same_address_stays() {
        let mut watch = RoamWatch::default();
        for _ in 0..3 {
            assert_eq!(watch.observe(WIFI, Some(WIFI)), Roam::Stay);
        }
    }

    #[test]
    fn a_new_source_moves_the_sa_and_back_again() {
        let mut watch = RoamWatch::default();
        assert_eq!(
            watch.observe(WIFI, Some(LTE)),
            Roam::Move {
                from: WIFI,
                to: LTE
            }
        );
        // The run loop migrated: the SA's path now says LTE.
        assert_eq!(watch.observe(LTE, Some(LTE)), Roam::Stay);
        assert_eq!(
            watch.observe(LTE, Some(WIFI)),
            Roam::Move {
                from: LTE,
                to: WIFI
            }
        );
    }

    #[test]
    fn a_lost_route_is_reported_once_and_its_return_moves_even_to_the_same_address() {
        let mut watch = RoamWatch::default();
        assert_eq!(watch.observe(WIFI, Some(WIFI)), Roam::Stay);
        assert_eq!(watch.observe(WIFI, None), Roam::RouteLost);
        assert_eq!(watch.observe(WIFI, None), Roam::Stay);
        assert_eq!(watch.observe(WIFI, None), Roam::Stay);
        assert_eq!(
            watch.observe(WIFI, Some(WIFI)),
            Roam::Move {
                from: WIFI,
                to: WIFI
            }
        );
        assert_eq!(watch.observe(WIFI, Some(WIFI)), Roam::Stay);
        assert_eq!(watch.observe(WIFI, None), Roam::RouteLost);
        assert_eq!(
            watch.observe(WIFI, Some(LTE)),
            Roam::Move {
                from: WIFI,
                to: LTE
            }
        );
    }

    #[test]
    fn a_wildcard_path_compares_with_the_last_source_seen() {
        let mut watch = RoamWatch::default();
        assert_eq!(watch.observe(ANY, Some(WIFI)), Roam::Stay);
        assert_eq!(watch.observe(ANY, Some(WIFI)), Roam::Stay);
        assert_eq!(
            watch.observe(ANY, Some(LTE)),
            Roam::Move {
                from: WIFI,
                to: LTE
            }
        );
        assert_eq!(watch.observe(ANY, Some(LTE)), Roam::Stay);
    }

    #[test]
    fn the_kernel_names_the_loopback_source_for_a_loopback_target() {
        let target: SocketAddr = "127.0.0.1:500".parse().unwrap();
        assert_eq!(
            source_towards(target).unwrap(),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
    }

    #[test]
    fn an_address_change_is_notified() {
        // A namespace of our own, so the address added below touches nothing else. Needs
        // CAP_SYS_ADMIN; without it there is nothing to check.
        let (events, added) = match std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).ok()?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            let mut events = NetworkEvents::open().ok()?;
            let added = std::process::Command::new("ip")
                .args(["addr", "add", "192.0.2.9/32", "dev", "lo"])
                .status()
                .ok()?;
            let woke = runtime.block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(5), events.changed()).await
            });
            Some((woke.map(|r| r.is_ok()), added.success()))
        })
        .join()
        .unwrap()
        {
            Some(result) => result,
            None => {
                eprintln!("no CAP_SYS_ADMIN or no `ip`: cannot change addresses in a namespace");
                return;
            }
        };
        assert!(added, "ip addr add failed");
        assert_eq!(events, Ok(true), "no notification within 5 s");
    }

    #[test]
    fn no_route_is_an_error() {
        // A thread in a network namespace of its own has no route anywhere (not even loopback
        // is up). Creating one needs CAP_SYS_ADMIN; without it there is nothing to check.
        let checked = std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                .ok()
                .map(|()| source_towards("192.0.2.1:500".parse().unwrap()))
        })
        .join()
        .unwrap();
        match checked {
            Some(result) => assert!(result.is_err(), "{result:?}"),
            None => eprintln!("no CAP_SYS_ADMIN: cannot make a namespace without routes"),
        }
    }
}
