//! UDP sockets for IKE (port 500) and NAT-T / ESP-in-UDP (port 4500,
//! <https://www.rfc-editor.org/rfc/rfc3948>).
//!
//! [`UdpSocket::bind`] sets what a gateway socket needs: `SO_REUSEADDR`, large receive and send
//! buffers (`SO_RCVBUFFORCE`/`SO_SNDBUFFORCE` when the process may exceed `net.core.rmem_max`,
//! the plain options otherwise), `IP_PKTINFO`/`IPV6_RECVPKTINFO` so each datagram reports the
//! local address it was sent to, and non-blocking mode. IPv6 sockets are IPv6-only by default so
//! an IPv4 socket can bind the same port beside them.
//!
//! [`UdpSocket::recv`] fills a caller-provided buffer and returns a [`RecvMeta`]; replies go out
//! with [`UdpSocket::send_from`] from the same local address the request came to. Demultiplexing
//! IKE from ESP (the non-ESP marker) is not done here; that is the data path's job.
//!
//! The data path moves many datagrams per system call with [`UdpSocket::recv_batch`] and
//! [`UdpSocket::send_batch`] (`recvmmsg`/`sendmmsg`), with the same metadata and source-address
//! rules. UDP GSO/GRO can be added beside these calls: [`RecvMeta`] is `#[non_exhaustive]` so it
//! can grow a segment size without breaking callers.

use std::cell::RefCell;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::AtomicBool;

use nix::sys::socket::{
    recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage,
};
use socket2::{Domain, MsgHdr, Protocol, SockAddr, SockRef, Socket, Type};

mod batch;

pub use batch::{BatchSent, Outgoing, RecvBatch, SendBatch};

/// The IKE port (<https://www.rfc-editor.org/rfc/rfc7296#section-2>).
pub const IKE_PORT: u16 = 500;
/// The NAT-T port (<https://www.rfc-editor.org/rfc/rfc3948#section-2>).
pub const NATT_PORT: u16 = 4500;
/// Default receive and send buffer size asked for: 4 MiB (the kernel doubles it for overhead).
pub const DEFAULT_BUFFER_SIZE: usize = 4 << 20;

/// How to open a UDP socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpConfig {
    bind: SocketAddr,
    buffer_size: usize,
    reuse_address: bool,
    nonblocking: bool,
    only_v6: bool,
}

impl UdpConfig {
    /// Bind to `bind` with 4 MiB buffers, `SO_REUSEADDR`, non-blocking, IPv6-only for IPv6.
    pub fn new(bind: SocketAddr) -> Self {
        UdpConfig {
            bind,
            buffer_size: DEFAULT_BUFFER_SIZE,
            reuse_address: true,
            nonblocking: true,
            only_v6: true,
        }
    }

    /// Receive and send buffer size to ask for, in bytes.
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = bytes;
        self
    }

    /// Whether to set `SO_REUSEADDR`.
    pub fn reuse_address(mut self, reuse: bool) -> Self {
        self.reuse_address = reuse;
        self
    }

    /// Whether reads and writes return `WouldBlock` instead of waiting.
    pub fn nonblocking(mut self, nonblocking: bool) -> Self {
        self.nonblocking = nonblocking;
        self
    }

    /// For IPv6 binds: accept only IPv6 (`true`, default) or also IPv4-mapped traffic.
    pub fn only_v6(mut self, only_v6: bool) -> Self {
        self.only_v6 = only_v6;
        self
    }
}

/// What came with one received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecvMeta {
    /// Bytes written into the buffer.
    pub len: usize,
    /// The sender (IPv4-mapped IPv6 addresses are reported as IPv4).
    pub peer: SocketAddr,
    /// The local address the datagram was sent to (from `IP_PKTINFO`/`IPV6_PKTINFO`).
    pub local_ip: Option<IpAddr>,
    /// The interface it arrived on.
    pub ifindex: Option<u32>,
    /// Whether the datagram was longer than the buffer and got cut (`MSG_TRUNC`).
    pub truncated: bool,
    /// With [`UdpSocket::set_receive_coalescing`]: the buffer holds several datagrams of this
    /// size back to back (the last may be shorter). `None`: one datagram.
    pub segment_size: Option<usize>,
}

/// A UDP socket set up for IKE / NAT-T.
#[derive(Debug)]
pub struct UdpSocket {
    socket: Socket,
    local: SocketAddr,
    /// Whether [`UdpSocket::send_batch`] may hand the kernel several datagrams as one with
    /// `UDP_SEGMENT` (generic segmentation offload): probed at bind, switched off for good when
    /// the kernel answers a segmented send with `EIO` (no checksum offload on the way out).
    gso: AtomicBool,
}

thread_local! {
    /// Per-thread control-message buffer for `recvmsg`, so receiving never allocates.
    static CMSG_BUFFER: RefCell<Vec<u8>> =
        RefCell::new(nix::cmsg_space!(libc::in6_pktinfo, libc::in_pktinfo, libc::c_int));
}

impl UdpSocket {
    /// Opens and binds a socket in the calling thread's network namespace.
    pub fn bind(config: &UdpConfig) -> io::Result<UdpSocket> {
        let domain = Domain::for_address(config.bind);
        let socket = Socket::new(domain, Type::DGRAM.cloexec(), Some(Protocol::UDP))?;
        if config.reuse_address {
            socket.set_reuse_address(true)?;
        }
        if config.bind.is_ipv6() {
            socket.set_only_v6(config.only_v6)?;
            setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)?;
        }
        if config.bind.is_ipv4() || !config.only_v6 {
            // On a dual-stack socket IPv4 datagrams report through IP_PKTINFO.
            let _ = setsockopt(&socket, sockopt::Ipv4PacketInfo, &true);
        }
        set_buffers(&socket, config.buffer_size)?;
        socket.set_nonblocking(config.nonblocking)?;
        socket.bind(&config.bind.into())?;
        let local = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("bound socket has no IP address"))?;
        // Linux >= 4.18 knows the option; an older kernel refuses to read it.
        let gso = nix::sys::socket::getsockopt(&socket, sockopt::UdpGsoSegment).is_ok();
        Ok(UdpSocket {
            socket,
            local,
            gso: AtomicBool::new(gso),
        })
    }

    /// The address the socket is bound to (with the real port after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The receive buffer size the kernel granted (it doubles what was asked for).
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        self.socket.recv_buffer_size()
    }

    /// The send buffer size the kernel granted.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        self.socket.send_buffer_size()
    }

    /// Switches between blocking and non-blocking mode.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.socket.set_nonblocking(nonblocking)
    }

    /// Receives one datagram into `buf`.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<RecvMeta> {
        recv_on(self.socket.as_raw_fd(), buf)
    }

    /// Sends one datagram to `peer` from whatever source address the routing table picks.
    pub fn send_to(&self, payload: &[u8], peer: SocketAddr) -> io::Result<usize> {
        send_from_on(self.socket.as_fd(), self.local, payload, peer, None)
    }

    /// Sends one datagram to `peer` from the local address `source` (normally the
    /// [`RecvMeta::local_ip`] of the request being answered), so a multi-homed gateway answers
    /// from the address the client talked to. `None` behaves like [`UdpSocket::send_to`].
    pub fn send_from(
        &self,
        payload: &[u8],
        peer: SocketAddr,
        source: Option<IpAddr>,
    ) -> io::Result<usize> {
        send_from_on(self.socket.as_fd(), self.local, payload, peer, source)
    }

    /// Asks the kernel to hand over runs of same-flow datagrams as one buffer (`UDP_GRO`);
    /// [`RecvMeta::segment_size`] then tells where each datagram ends. For sockets whose reader
    /// splits on it (the data plane's [`UdpSocket::recv_batch`] loop).
    pub fn set_receive_coalescing(&self, on: bool) -> io::Result<()> {
        setsockopt(&self.socket, sockopt::UdpGroSegment, &on)?;
        Ok(())
    }

    /// The underlying socket2 socket, for options not wrapped here.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Converts into a standard-library socket (for example for `tokio::net::UdpSocket::from_std`).
    pub fn into_std(self) -> std::net::UdpSocket {
        self.socket.into()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// Asks for `size`-byte buffers: forced past `net.core.[rw]mem_max` when the process has
/// CAP_NET_ADMIN, otherwise as much as the limits allow.
fn set_buffers(socket: &Socket, size: usize) -> io::Result<()> {
    if setsockopt(socket, sockopt::RcvBufForce, &size).is_err() {
        socket.set_recv_buffer_size(size)?;
    }
    if setsockopt(socket, sockopt::SndBufForce, &size).is_err() {
        socket.set_send_buffer_size(size)?;
    }
    Ok(())
}

fn storage_to_socket_addr(storage: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = storage.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    let v6 = SocketAddrV6::from(*storage.as_sockaddr_in6()?);
    Some(match v6.ip().to_ipv4_mapped() {
        Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, v6.port())),
        None => SocketAddr::V6(v6),
    })
}

/// `recvmsg` on `fd` with the per-thread control buffer; see [`UdpSocket::recv`].
fn recv_on(fd: RawFd, buf: &mut [u8]) -> io::Result<RecvMeta> {
    CMSG_BUFFER.with(|cmsg| {
        let mut cmsg = cmsg.borrow_mut();
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<SockaddrStorage>(fd, &mut iov, Some(&mut cmsg), MsgFlags::empty())?;
        let peer = msg
            .address
            .as_ref()
            .and_then(storage_to_socket_addr)
            .ok_or_else(|| io::Error::other("datagram without a sender address"))?;
        let mut meta = RecvMeta {
            len: msg.bytes,
            peer,
            local_ip: None,
            ifindex: None,
            truncated: msg.flags.contains(MsgFlags::MSG_TRUNC),
            segment_size: None,
        };
        for c in msg.cmsgs()? {
            match c {
                ControlMessageOwned::Ipv4PacketInfo(info) => {
                    meta.local_ip = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                        info.ipi_addr.s_addr,
                    ))));
                    meta.ifindex = u32::try_from(info.ipi_ifindex).ok();
                }
                ControlMessageOwned::UdpGroSegments(size) => {
                    meta.segment_size = usize::try_from(size).ok().filter(|s| *s > 0);
                }
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    meta.local_ip = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr).to_canonical());
                    meta.ifindex = Some(info.ipi6_ifindex);
                }
                _ => {}
            }
        }
        Ok(meta)
    })
}

/// `sendmsg` on `fd` (bound to `local`) with a source-address control message when `source` is
/// given; see [`UdpSocket::send_from`]. Allocation-free: the control message is built on the
/// stack.
fn send_from_on(
    fd: BorrowedFd<'_>,
    local: SocketAddr,
    payload: &[u8],
    peer: SocketAddr,
    source: Option<IpAddr>,
) -> io::Result<usize> {
    let socket = SockRef::from(&fd);
    let peer = peer_for_family(local, peer);
    let address = SockAddr::from(peer);
    let iov = [IoSlice::new(payload)];
    let control = source.map(|src| SourceControl::new(peer.is_ipv6(), src));
    let mut msg = MsgHdr::new().with_addr(&address).with_buffers(&iov);
    if let Some(control) = &control {
        msg = msg.with_control(control.bytes());
    }
    socket.sendmsg(&msg, 0)
}

/// An `IP_PKTINFO` or `IPV6_PKTINFO` control message choosing the source address, laid out as the
/// kernel reads it (`struct cmsghdr` then `struct in_pktinfo` / `struct in6_pktinfo`, each padded
/// to `size_t` alignment; `CMSG_SPACE`/`CMSG_LEN` of `<sys/socket.h>`).
struct SourceControl {
    buf: [u8; SourceControl::CAPACITY],
    len: usize,
}

impl SourceControl {
    const HEADER: usize = std::mem::size_of::<libc::cmsghdr>();
    /// `CMSG_SPACE(sizeof(struct in6_pktinfo))`, the larger of the two.
    const CAPACITY: usize = Self::HEADER + Self::align(std::mem::size_of::<libc::in6_pktinfo>());

    const fn align(len: usize) -> usize {
        let word = std::mem::size_of::<libc::size_t>();
        (len + word - 1) & !(word - 1)
    }

    /// The control message for a socket of the given family sending from `source` (an IPv4
    /// source on an IPv6 socket is given as IPv4-mapped IPv6).
    fn new(ipv6_socket: bool, source: IpAddr) -> Self {
        let mut data = [0u8; 20];
        let (level, kind, data_len) = match (ipv6_socket, source.to_canonical()) {
            (false, IpAddr::V4(v4)) => {
                // struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
                data[4..8].copy_from_slice(&v4.octets());
                (libc::IPPROTO_IP, libc::IP_PKTINFO, 12)
            }
            (_, addr) => {
                // struct in6_pktinfo { in6_addr ipi6_addr; unsigned ipi6_ifindex; }
                let v6 = match addr {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                    IpAddr::V6(v6) => v6,
                };
                data[..16].copy_from_slice(&v6.octets());
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, 20)
            }
        };
        let mut buf = [0u8; Self::CAPACITY];
        let word = std::mem::size_of::<libc::size_t>();
        let cmsg_len = Self::HEADER + data_len;
        buf[..word].copy_from_slice(&cmsg_len.to_ne_bytes()[..word]);
        buf[word..word + 4].copy_from_slice(&level.to_ne_bytes());
        buf[word + 4..word + 8].copy_from_slice(&kind.to_ne_bytes());
        buf[Self::HEADER..Self::HEADER + data_len].copy_from_slice(&data[..data_len]);
        SourceControl {
            buf,
            len: Self::HEADER + Self::align(data_len),
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// IPv4 peers of a dual-stack IPv6 socket are addressed as IPv4-mapped IPv6.
fn peer_for_family(local: SocketAddr, peer: SocketAddr) -> SocketAddr {
    match (local, peer) {
        (SocketAddr::V6(_), SocketAddr::V4(v4)) => {
            SocketAddr::V6(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
        }
        _ => peer,
    }
}

/// A [`UdpSocket`] driven by tokio: the same calls, awaiting readiness instead of returning
/// `WouldBlock`. For the control task; data-plane workers use the blocking or non-blocking socket.
#[derive(Debug)]
pub struct AsyncUdpSocket {
    inner: tokio::net::UdpSocket,
    local: SocketAddr,
}

impl AsyncUdpSocket {
    /// Registers a socket with the current tokio runtime (it is switched to non-blocking).
    pub fn new(socket: UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let local = socket.local_addr();
        Ok(AsyncUdpSocket {
            inner: tokio::net::UdpSocket::from_std(socket.into_std())?,
            local,
        })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Waits for and receives one datagram (see [`UdpSocket::recv`]).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<RecvMeta> {
        let fd = self.inner.as_raw_fd();
        self.inner
            .async_io(tokio::io::Interest::READABLE, || recv_on(fd, buf))
            .await
    }

    /// Waits until the datagram can be sent, then sends it (see [`UdpSocket::send_from`]).
    pub async fn send_from(
        &self,
        payload: &[u8],
        peer: SocketAddr,
        source: Option<IpAddr>,
    ) -> io::Result<usize> {
        self.inner
            .async_io(tokio::io::Interest::WRITABLE, || {
                send_from_on(self.inner.as_fd(), self.local, payload, peer, source)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_control_messages_match_the_c_layout() {
        let v4 = SourceControl::new(false, IpAddr::V4(Ipv4Addr::new(198, 18, 0, 66)));
        // CMSG_SPACE as computed by the C macros (nix's cmsg_space! reserves exactly that).
        assert_eq!(
            v4.bytes().len(),
            nix::cmsg_space!(libc::in_pktinfo).capacity()
        );
        let word = std::mem::size_of::<libc::size_t>();
        let header = std::mem::size_of::<libc::cmsghdr>();
        let len = usize::from_ne_bytes(v4.bytes()[..word].try_into().unwrap());
        assert_eq!(len, header + std::mem::size_of::<libc::in_pktinfo>());
        assert_eq!(&v4.bytes()[header + 4..header + 8], &[198, 18, 0, 66]);

        let v6 = SourceControl::new(true, IpAddr::V6("2001:2::1".parse().unwrap()));
        assert_eq!(
            v6.bytes().len(),
            nix::cmsg_space!(libc::in6_pktinfo).capacity()
        );
        let len = usize::from_ne_bytes(v6.bytes()[..word].try_into().unwrap());
        assert_eq!(len, header + std::mem::size_of::<libc::in6_pktinfo>());
        let level = i32::from_ne_bytes(v6.bytes()[word..word + 4].try_into().unwrap());
        assert_eq!(level, libc::IPPROTO_IPV6);

        // An IPv4 source on a dual-stack socket goes out as IPv4-mapped IPv6.
        let mapped = SourceControl::new(true, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(
            &mapped.bytes()[header..header + 16],
            &Ipv4Addr::LOCALHOST.to_ipv6_mapped().octets()
        );
    }
}
