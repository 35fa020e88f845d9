//! TUN devices: layer-3 packets in and out of the kernel, one queue per data-plane worker.
//!
//! [`Tun::create`] opens `/dev/net/tun` with `TUNSETIFF` (`IFF_TUN | IFF_NO_PI`, and
//! `IFF_MULTI_QUEUE` when more than one queue is asked for), then sets the MTU. Each
//! [`TunQueue`] reads and writes whole IP packets into caller-provided buffers, so the data path
//! can read at an offset that leaves headroom for ESP and framing headers. Addresses, up/down and
//! routes go through [`crate::ifctl::Control`], created together with the device so it acts in
//! the device's network namespace.
//!
//! The device is not persistent: the kernel deletes it, with its addresses and routes, when the
//! last queue is closed (dropping the [`Tun`] and every queue taken from it).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use ipnet::{IpNet, Ipv6Net};
use nix::fcntl::{fcntl, FcntlArg, OFlag};

use crate::ifctl::{tun_ioctl, Control, IfReq};

/// The clone device.
const TUN_CLONE_DEVICE: &str = "/dev/net/tun";

/// Most queues one device may have (the kernel's `MAX_TAP_QUEUES`).
pub const MAX_QUEUES: usize = 256;

/// How to create a TUN device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunConfig {
    name: String,
    queues: usize,
    mtu: Option<u32>,
    nonblocking: bool,
    ipv6: bool,
}

impl Default for TunConfig {
    fn default() -> Self {
        TunConfig {
            name: "eseg%d".to_owned(),
            queues: 1,
            mtu: None,
            nonblocking: false,
            ipv6: true,
        }
    }
}

impl TunConfig {
    /// One blocking queue, kernel-chosen name `eseg<N>`, default MTU.
    pub fn new() -> Self {
        Self::default()
    }

    /// The device name, or a template with `%d` for the kernel to number (at most 15 bytes).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Number of queues (1..=[`MAX_QUEUES`]); more than one uses `IFF_MULTI_QUEUE` and the
    /// kernel spreads flows across them.
    pub fn queues(mut self, queues: usize) -> Self {
        self.queues = queues;
        self
    }

    /// The MTU to set right after creation.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// Opens the queues non-blocking (reads return `WouldBlock` when no packet is waiting).
    pub fn nonblocking(mut self, nonblocking: bool) -> Self {
        self.nonblocking = nonblocking;
        self
    }

    /// Whether the device speaks IPv6 (default). Without it the kernel gives the device no
    /// link-local address and sends none of its own IPv6 packets (MLD reports, router
    /// solicitations) into the tunnel.
    pub fn ipv6(mut self, ipv6: bool) -> Self {
        self.ipv6 = ipv6;
        self
    }
}

/// A TUN device and its queues.
#[derive(Debug)]
pub struct Tun {
    name: String,
    queues: Vec<TunQueue>,
    control: Control,
}

impl Tun {
    /// Creates the device in the calling thread's network namespace.
    pub fn create(config: &TunConfig) -> io::Result<Tun> {
        if config.queues == 0 || config.queues > MAX_QUEUES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} TUN queues (1..={MAX_QUEUES})", config.queues),
            ));
        }
        let mut flags = libc::IFF_TUN | libc::IFF_NO_PI;
        if config.queues > 1 {
            flags |= libc::IFF_MULTI_QUEUE;
        }
        let control = Control::new()?;
        let mut name = config.name.clone();
        let mut queues = Vec::with_capacity(config.queues);
        for _ in 0..config.queues {
            let (queue, actual) = TunQueue::attach(&name, flags, config.nonblocking)?;
            name = actual;
            queues.push(queue);
        }
        let tun = Tun {
            name,
            queues,
            control,
        };
        if let Some(mtu) = config.mtu {
            tun.set_mtu(mtu)?;
        }
        if !config.ipv6 {
            // /proc/sys/net is that of the calling thread's namespace, where the device was made.
            let path = format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", tun.name);
            match std::fs::write(&path, "1") {
                Ok(()) => {}
                // No IPv6 in this kernel or namespace: nothing to disable.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        tracing::debug!(name = %tun.name, queues = tun.queues.len(), "TUN created");
        Ok(tun)
    }

    /// The device name the kernel gave (the template with `%d` filled in).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface index.
    pub fn index(&self) -> io::Result<u32> {
        self.control.index(&self.name)
    }

    /// The queues still held by this `Tun`.
    pub fn queues(&self) -> &[TunQueue] {
        &self.queues
    }

    /// The first queue (every device has at least one until they are taken).
    pub fn queue(&self) -> Option<&TunQueue> {
        self.queues.first()
    }

    /// Hands the queues to their owners (one per worker). The device lives until the last
    /// queue is dropped, even after this `Tun` is.
    pub fn take_queues(&mut self) -> Vec<TunQueue> {
        std::mem::take(&mut self.queues)
    }

    /// The MTU.
    pub fn mtu(&self) -> io::Result<u32> {
        self.control.mtu(&self.name)
    }

    /// Sets the MTU.
    pub fn set_mtu(&self, mtu: u32) -> io::Result<()> {
        self.control.set_mtu(&self.name, mtu)
    }

    /// Brings the device up or down.
    pub fn set_up(&self, up: bool) -> io::Result<()> {
        self.control.set_up(&self.name, up)
    }

    /// Whether the device is administratively up.
    pub fn is_up(&self) -> io::Result<bool> {
        self.control.is_up(&self.name)
    }

    /// Assigns an address: IPv4 replaces the device's IPv4 address, IPv6 is added. The prefix's
    /// route through the device comes with it.
    pub fn add_address(&self, net: IpNet) -> io::Result<()> {
        self.control.add_address(&self.name, net)
    }

    /// Removes an IPv6 address (an inner address the tunnel no longer holds).
    pub fn remove_ipv6_address(&self, net: Ipv6Net) -> io::Result<()> {
        self.control.remove_ipv6(&self.name, net)
    }

    /// Routes `dest` into the device (which must be up: the kernel refuses routes through a
    /// device that is down).
    pub fn add_route(&self, dest: IpNet) -> io::Result<()> {
        self.control.add_route(&self.name, dest)
    }

    /// Removes a route for `dest` through the device.
    pub fn remove_route(&self, dest: IpNet) -> io::Result<()> {
        self.control.remove_route(&self.name, dest)
    }
}

/// One queue of a TUN device: each `read` returns one IP packet, each `write` injects one.
#[derive(Debug)]
pub struct TunQueue {
    file: File,
}

impl TunQueue {
    /// Opens the clone device and attaches it to `name` with `flags`; returns the queue and the
    /// name the kernel chose.
    fn attach(name: &str, flags: libc::c_int, nonblocking: bool) -> io::Result<(TunQueue, String)> {
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        if nonblocking {
            options.custom_flags(libc::O_NONBLOCK);
        }
        let file = options.open(TUN_CLONE_DEVICE)?;
        let fd = OwnedFd::from(file);
        let mut req = IfReq::new(name)?;
        req.set_short(
            libc::c_short::try_from(flags)
                .map_err(|_| io::Error::other("TUN flags out of range"))?,
        );
        tun_ioctl(&fd, libc::TUNSETIFF, &mut req)?;
        Ok((
            TunQueue {
                file: File::from(fd),
            },
            req.name(),
        ))
    }

    /// Reads one packet into `buf` and returns its length. A packet longer than `buf` is
    /// truncated by the kernel; give a buffer of at least the MTU.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }

    /// Writes one whole IP packet.
    pub fn write(&self, packet: &[u8]) -> io::Result<usize> {
        (&self.file).write(packet)
    }

    /// Switches between blocking and non-blocking reads and writes.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        let current = fcntl(self.file.as_raw_fd(), FcntlArg::F_GETFL)?;
        let mut flags = OFlag::from_bits_truncate(current);
        flags.set(OFlag::O_NONBLOCK, nonblocking);
        fcntl(self.file.as_raw_fd(), FcntlArg::F_SETFL(flags))?;
        Ok(())
    }
}

impl AsFd for TunQueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for TunQueue {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}
