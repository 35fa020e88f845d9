//! Interface control by ioctl: MTU, up/down, IPv4 and IPv6 addresses, and device routes, for an
//! interface named in the network namespace of a control socket.
//!
//! A [`Control`] holds one AF_INET and (when the kernel has IPv6) one AF_INET6 datagram socket.
//! Interface ioctls act in the namespace the socket was created in, so a `Control` made next to
//! a TUN device keeps configuring that device's namespace whichever thread calls it.
//!
//! The request structures are our own `#[repr(C)]` mirrors of the kernel's (`struct ifreq`,
//! `struct rtentry`, `struct in6_ifreq`, `struct in6_rtmsg`), filled field by field, so the only
//! `unsafe` is the `ioctl` call itself.

use std::ffi::CString;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

/// Longest interface name the kernel accepts (`IFNAMSIZ` minus the terminating NUL).
pub const MAX_IFNAME_LEN: usize = libc::IFNAMSIZ - 1;

/// `struct ifreq`: the name, then a 24-byte union (`sizeof(struct ifreq)` is 40 on 64-bit Linux).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: [u8; 24],
}

impl IfReq {
    /// A request for interface `name` with a zeroed union.
    pub(crate) fn new(name: &str) -> io::Result<Self> {
        check_name(name)?;
        let bytes = name.as_bytes();
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            data: [0; 24],
        };
        req.name[..bytes.len()].copy_from_slice(bytes);
        Ok(req)
    }

    /// The interface name the kernel wrote back (up to the first NUL).
    pub(crate) fn name(&self) -> String {
        let end = self
            .name
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(self.name.len());
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }

    pub(crate) fn set_short(&mut self, value: libc::c_short) {
        self.data[..2].copy_from_slice(&value.to_ne_bytes());
    }

    fn short(&self) -> libc::c_short {
        libc::c_short::from_ne_bytes([self.data[0], self.data[1]])
    }

    fn set_int(&mut self, value: libc::c_int) {
        self.data[..4].copy_from_slice(&value.to_ne_bytes());
    }

    fn int(&self) -> libc::c_int {
        libc::c_int::from_ne_bytes([self.data[0], self.data[1], self.data[2], self.data[3]])
    }

    fn set_ipv4(&mut self, addr: Ipv4Addr) {
        self.data[..16].copy_from_slice(&sockaddr_in_bytes(addr));
    }
}

/// Fails unless `name` can name an interface (1..=15 bytes, no NUL).
pub(crate) fn check_name(name: &str) -> io::Result<()> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_IFNAME_LEN || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?} (1..={MAX_IFNAME_LEN} bytes, no NUL)"),
        ));
    }
    Ok(())
}

/// `struct sockaddr_in` as 16 bytes: family (native endian), port 0, address, zero padding.
fn sockaddr_in_bytes(addr: Ipv4Addr) -> [u8; 16] {
    let mut b = [0u8; 16];
    let family = libc::sa_family_t::try_from(libc::AF_INET).unwrap_or_default();
    b[..2].copy_from_slice(&family.to_ne_bytes());
    b[4..8].copy_from_slice(&addr.octets());
    b
}

/// `struct rtentry` (`<net/route.h>`), for SIOCADDRT/SIOCDELRT on IPv4.
#[repr(C)]
struct RtEntry {
    pad1: libc::c_ulong,
    dst: [u8; 16],
    gateway: [u8; 16],
    genmask: [u8; 16],
    flags: libc::c_ushort,
    pad2: libc::c_short,
    pad3: libc::c_ulong,
    tos: libc::c_uchar,
    class: libc::c_uchar,
    pad4: [libc::c_short; 3],
    metric: libc::c_short,
    dev: *const libc::c_char,
    mtu: libc::c_ulong,
    window: libc::c_ulong,
    irtt: libc::c_ushort,
}

/// `struct in6_ifreq` (`<linux/ipv6.h>`), for SIOCSIFADDR/SIOCDIFADDR on IPv6.
#[repr(C)]
struct In6IfReq {
    addr: [u8; 16],
    prefix_len: u32,
    ifindex: libc::c_int,
}

/// `struct in6_rtmsg` (`<linux/ipv6_route.h>`), for SIOCADDRT/SIOCDELRT on IPv6.
#[repr(C)]
struct In6RtMsg {
    dst: [u8; 16],
    src: [u8; 16],
    gateway: [u8; 16],
    kind: u32,
    dst_len: u16,
    src_len: u16,
    metric: u32,
    info: libc::c_ulong,
    flags: u32,
    ifindex: libc::c_int,
}

/// Issues `request` on `fd` with `arg`.
///
/// Every caller passes a `#[repr(C)]` mirror of exactly the structure the kernel reads (and
/// possibly writes) for that request, so the kernel never touches memory outside `arg`.
fn ioctl<T>(fd: &OwnedFd, request: libc::c_ulong, arg: &mut T) -> io::Result<()> {
    // SAFETY: `fd` is an open descriptor owned by the caller for the duration of the call;
    // `arg` is a valid, exclusively borrowed `T` that matches the layout `request` expects (see
    // each caller), and the kernel copies at most `size_of::<T>()` bytes in or out of it.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request, std::ptr::from_mut(arg)) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Issues a TUN ioctl (`TUNSETIFF` and friends) with an [`IfReq`].
pub(crate) fn tun_ioctl(fd: &OwnedFd, request: libc::c_ulong, req: &mut IfReq) -> io::Result<()> {
    ioctl(fd, request, req)
}

/// Control sockets for configuring interfaces in one network namespace.
#[derive(Debug)]
pub struct Control {
    inet: OwnedFd,
    inet6: Option<OwnedFd>,
}

impl Control {
    /// Opens the control sockets in the calling thread's network namespace.
    pub fn new() -> io::Result<Self> {
        let open = |family| {
            socket(family, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)
                .map_err(io::Error::from)
        };
        Ok(Control {
            inet: open(AddressFamily::Inet)?,
            inet6: open(AddressFamily::Inet6).ok(),
        })
    }

    fn inet6(&self) -> io::Result<&OwnedFd> {
        self.inet6.as_ref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "IPv6 is not available in this namespace",
            )
        })
    }

    /// The interface's index.
    pub fn index(&self, ifname: &str) -> io::Result<u32> {
        let mut req = IfReq::new(ifname)?;
        ioctl(&self.inet, libc::SIOCGIFINDEX, &mut req)?;
        u32::try_from(req.int()).map_err(|_| io::Error::other("negative interface index"))
    }

    /// The interface's MTU.
    pub fn mtu(&self, ifname: &str) -> io::Result<u32> {
        let mut req = IfReq::new(ifname)?;
        ioctl(&self.inet, libc::SIOCGIFMTU, &mut req)?;
        u32::try_from(req.int()).map_err(|_| io::Error::other("negative MTU"))
    }

    /// Sets the interface's MTU.
    pub fn set_mtu(&self, ifname: &str, mtu: u32) -> io::Result<()> {
        let mut req = IfReq::new(ifname)?;
        req.set_int(
            libc::c_int::try_from(mtu)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "MTU too large"))?,
        );
        ioctl(&self.inet, libc::SIOCSIFMTU, &mut req)
    }

    /// Whether the interface is administratively up.
    pub fn is_up(&self, ifname: &str) -> io::Result<bool> {
        let mut req = IfReq::new(ifname)?;
        ioctl(&self.inet, libc::SIOCGIFFLAGS, &mut req)?;
        Ok(libc::c_int::from(req.short()) & libc::IFF_UP != 0)
    }

    /// Brings the interface up or down.
    pub fn set_up(&self, ifname: &str, up: bool) -> io::Result<()> {
        let mut req = IfReq::new(ifname)?;
        ioctl(&self.inet, libc::SIOCGIFFLAGS, &mut req)?;
        let mut flags = libc::c_int::from(req.short());
        if up {
            flags |= libc::IFF_UP;
        } else {
            flags &= !libc::IFF_UP;
        }
        req.set_short(libc::c_short::try_from(flags & 0xffff).unwrap_or_default());
        ioctl(&self.inet, libc::SIOCSIFFLAGS, &mut req)
    }

    /// Sets the interface's IPv4 address and prefix (replacing a previous IPv4 address). The
    /// kernel adds the route for the prefix through the interface.
    pub fn set_ipv4(&self, ifname: &str, net: Ipv4Net) -> io::Result<()> {
        let mut req = IfReq::new(ifname)?;
        req.set_ipv4(net.addr());
        ioctl(&self.inet, libc::SIOCSIFADDR, &mut req)?;
        let mut req = IfReq::new(ifname)?;
        req.set_ipv4(net.netmask());
        ioctl(&self.inet, libc::SIOCSIFNETMASK, &mut req)
    }

    /// Adds an IPv6 address with its prefix to the interface.
    pub fn add_ipv6(&self, ifname: &str, net: Ipv6Net) -> io::Result<()> {
        self.ipv6_address(ifname, net, libc::SIOCSIFADDR)
    }

    /// Removes an IPv6 address from the interface.
    pub fn remove_ipv6(&self, ifname: &str, net: Ipv6Net) -> io::Result<()> {
        self.ipv6_address(ifname, net, libc::SIOCDIFADDR)
    }

    fn ipv6_address(&self, ifname: &str, net: Ipv6Net, request: libc::c_ulong) -> io::Result<()> {
        let mut req = In6IfReq {
            addr: net.addr().octets(),
            prefix_len: u32::from(net.prefix_len()),
            ifindex: self.signed_index(ifname)?,
        };
        ioctl(self.inet6()?, request, &mut req)
    }

    fn signed_index(&self, ifname: &str) -> io::Result<libc::c_int> {
        libc::c_int::try_from(self.index(ifname)?)
            .map_err(|_| io::Error::other("interface index out of range"))
    }

    /// Adds a route for `dest` through the interface (a device route: no next hop, which is
    /// what a point-to-point TUN needs).
    pub fn add_route(&self, ifname: &str, dest: IpNet) -> io::Result<()> {
        self.route(ifname, dest, libc::SIOCADDRT)
    }

    /// Removes a route for `dest` through the interface.
    pub fn remove_route(&self, ifname: &str, dest: IpNet) -> io::Result<()> {
        self.route(ifname, dest, libc::SIOCDELRT)
    }

    fn route(&self, ifname: &str, dest: IpNet, request: libc::c_ulong) -> io::Result<()> {
        match dest.trunc() {
            IpNet::V4(net) => {
                check_name(ifname)?;
                let dev = CString::new(ifname).map_err(io::Error::other)?;
                let mut entry = RtEntry {
                    pad1: 0,
                    dst: sockaddr_in_bytes(net.network()),
                    gateway: sockaddr_in_bytes(Ipv4Addr::UNSPECIFIED),
                    genmask: sockaddr_in_bytes(net.netmask()),
                    flags: libc::RTF_UP,
                    pad2: 0,
                    pad3: 0,
                    tos: 0,
                    class: 0,
                    pad4: [0; 3],
                    metric: 0,
                    dev: dev.as_ptr(),
                    mtu: 0,
                    window: 0,
                    irtt: 0,
                };
                // `dev` outlives the call; the kernel only reads the name through `entry.dev`.
                ioctl(&self.inet, request, &mut entry)
            }
            IpNet::V6(net) => {
                let mut msg = In6RtMsg {
                    dst: net.network().octets(),
                    src: Ipv6Addr::UNSPECIFIED.octets(),
                    gateway: Ipv6Addr::UNSPECIFIED.octets(),
                    kind: 0,
                    dst_len: u16::from(net.prefix_len()),
                    src_len: 0,
                    metric: 0,
                    info: 0,
                    flags: u32::from(libc::RTF_UP),
                    ifindex: self.signed_index(ifname)?,
                };
                ioctl(self.inet6()?, request, &mut msg)
            }
        }
    }

    /// Adds an address of either family: IPv4 replaces the interface's IPv4 address, IPv6 adds.
    pub fn add_address(&self, ifname: &str, net: IpNet) -> io::Result<()> {
        match net {
            IpNet::V4(v4) => self.set_ipv4(ifname, v4),
            IpNet::V6(v6) => self.add_ipv6(ifname, v6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layouts_match_the_kernel() {
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
        assert_eq!(std::mem::size_of::<RtEntry>(), 120);
        assert_eq!(std::mem::size_of::<In6IfReq>(), 24);
        assert_eq!(std::mem::size_of::<In6RtMsg>(), 80);
    }

    #[test]
    fn interface_names_are_checked() {
        assert!(IfReq::new("").is_err());
        assert!(IfReq::new("sixteen-chars-xx").is_err());
        assert!(IfReq::new("a\0b").is_err());
        let req = IfReq::new("eseg0").unwrap();
        assert_eq!(req.name(), "eseg0");
    }

    #[test]
    fn sockaddr_in_encoding() {
        let b = sockaddr_in_bytes(Ipv4Addr::new(198, 18, 1, 2));
        assert_eq!(u16::from_ne_bytes([b[0], b[1]]), libc::AF_INET as u16);
        assert_eq!(&b[2..8], &[0, 0, 198, 18, 1, 2]);
        assert!(b[8..].iter().all(|x| *x == 0));
    }
}
