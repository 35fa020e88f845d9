//! Batched datagram I/O: many datagrams per system call with `recvmmsg(2)` and `sendmmsg(2)`.
//!
//! A data-plane worker owns one [`RecvBatch`] and one [`SendBatch`], allocated once with a fixed
//! capacity: the `mmsghdr`, `iovec`, address and control-message arrays are reused by every call,
//! so a batch of datagrams costs one system call and no allocation. The datagram bytes
//! themselves stay in the caller's buffers (received in place, sent from where they were
//! sealed).
//!
//! Receiving ([`UdpSocket::recv_batch`]) waits for the first datagram as [`UdpSocket::recv`]
//! does (blocking up to the socket's read timeout, or `WouldBlock` on a non-blocking socket) and
//! then takes whatever else is already queued (`MSG_WAITFORONE`), up to the batch capacity. Each
//! datagram reports the same [`RecvMeta`] as a single receive, `IP_PKTINFO` included.
//!
//! Sending ([`UdpSocket::send_batch`]) sends every datagram it is given, in order, each to its own
//! peer and from its own source address (an `IP_PKTINFO`/`IPV6_PKTINFO` control message per
//! datagram, as [`UdpSocket::send_from`]). A datagram the kernel refuses is counted and skipped;
//! the ones after it are still sent.
//!
//! Offloads: consecutive datagrams of one size to one peer from one source are handed to the
//! kernel as one `sendmmsg` entry with a `UDP_SEGMENT` control message (UDP GSO, Linux >= 4.18),
//! so the stack below the socket runs once per run instead of once per datagram; the wire still
//! carries ordinary datagrams. If the kernel refuses a segmented entry, its datagrams are sent
//! again one by one. On the receiving side [`UdpSocket::set_receive_coalescing`] (`UDP_GRO`)
//! lets the kernel deliver such runs as one buffer, and [`RecvMeta::segment_size`] tells the
//! reader where to split it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd as _;
use std::sync::atomic::Ordering;

use socket2::SockAddr;

use super::{peer_for_family, RecvMeta, SourceControl, UdpSocket};

/// Control-message room per received datagram: `CMSG_SPACE(sizeof(struct in6_pktinfo))` is 40
/// bytes on 64-bit Linux and `UDP_GRO`'s `CMSG_SPACE(sizeof(int))` 24; 64 holds both. `u64` words keep the
/// `cmsghdr` alignment the `CMSG_*` macros assume.
const RECV_CONTROL_WORDS: usize = 8;

/// One datagram to send: the bytes, the peer, and the local source address (`None`: the
/// routing table picks, as [`UdpSocket::send_to`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing<'a> {
    /// The UDP payload.
    pub payload: &'a [u8],
    /// Where it goes.
    pub peer: SocketAddr,
    /// The local address it leaves from (normally the one the peer talked to).
    pub source: Option<IpAddr>,
}

/// What one [`UdpSocket::send_batch`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchSent {
    /// Datagrams the kernel accepted.
    pub sent: usize,
    /// Datagrams the kernel refused (each skipped, the rest still sent).
    pub failed: usize,
}

/// Reusable `recvmmsg` state for up to [`RecvBatch::capacity`] datagrams per call, and the
/// [`RecvMeta`] of the datagrams the last call received.
pub struct RecvBatch {
    headers: Box<[libc::mmsghdr]>,
    iovecs: Box<[libc::iovec]>,
    names: Box<[libc::sockaddr_storage]>,
    controls: Box<[[u64; RECV_CONTROL_WORDS]]>,
    metas: Vec<Option<RecvMeta>>,
}

impl RecvBatch {
    /// Room for `capacity` datagrams per call (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        RecvBatch {
            headers: (0..capacity).map(|_| zeroed_mmsghdr()).collect(),
            iovecs: (0..capacity).map(|_| empty_iovec()).collect(),
            names: (0..capacity).map(|_| zeroed_storage()).collect(),
            controls: vec![[0; RECV_CONTROL_WORDS]; capacity].into_boxed_slice(),
            metas: Vec::with_capacity(capacity),
        }
    }

    /// Most datagrams one call receives.
    pub fn capacity(&self) -> usize {
        self.headers.len()
    }

    /// What came with each datagram of the last [`UdpSocket::recv_batch`], in the order of the
    /// buffers: `None` for a datagram whose sender address could not be read.
    pub fn metas(&self) -> &[Option<RecvMeta>] {
        &self.metas
    }
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("capacity", &self.capacity())
            .field("received", &self.metas.len())
            .finish()
    }
}

/// Most datagrams one segmented (`UDP_SEGMENT`) send carries; the kernel's limit is 64 on older
/// kernels and 128 on newer ones.
const MAX_SEGMENTS: usize = 64;

/// Most payload bytes one segmented send carries (an IPv4 datagram holds at most 65,507).
const MAX_SEGMENTED_BYTES: usize = 65_000;

/// Control-message room per sent message: a `PKTINFO` message (at most 40 bytes) and a
/// `UDP_SEGMENT` message (24 bytes).
const SEND_CONTROL_BYTES: usize = 64;

/// One `sendmmsg` entry: one datagram, or several equal-sized datagrams to the same peer from
/// the same source that the kernel splits again (generic segmentation offload).
struct Message {
    name: SockAddr,
    peer: SocketAddr,
    source: Option<IpAddr>,
    /// `PKTINFO` first (`source_control` bytes), then `UDP_SEGMENT` when there are segments.
    control: [u8; SEND_CONTROL_BYTES],
    source_control: usize,
    control_len: usize,
    first_iovec: usize,
    segments: usize,
    segment_size: usize,
    last_size: usize,
    bytes: usize,
}

impl Message {
    /// Whether a datagram of `len` bytes to `peer` from `source` can ride along as one more
    /// segment: same addresses, every earlier segment full-sized, this one no larger.
    fn takes(&self, peer: SocketAddr, source: Option<IpAddr>, len: usize) -> bool {
        self.peer == peer
            && self.source == source
            && self.segments < MAX_SEGMENTS
            && self.last_size == self.segment_size
            && (1..=self.segment_size).contains(&len)
            && self.bytes + len <= MAX_SEGMENTED_BYTES
    }

    /// Appends the `UDP_SEGMENT` control message when the entry carries several datagrams.
    fn finish_control(&mut self) {
        self.control_len = self.source_control;
        if self.segments < 2 {
            return;
        }
        let Ok(size) = u16::try_from(self.segment_size) else {
            return;
        };
        let end = self.source_control + SEGMENT_CONTROL_SPACE;
        if let Some(space) = self.control.get_mut(self.source_control..end) {
            write_cmsg(space, libc::SOL_UDP, libc::UDP_SEGMENT, &size.to_ne_bytes());
            self.control_len = end;
        }
    }
}

/// `CMSG_SPACE(sizeof(uint16_t))`.
const SEGMENT_CONTROL_SPACE: usize = cmsg_align(std::mem::size_of::<libc::cmsghdr>() + 2);

const fn cmsg_align(len: usize) -> usize {
    let word = std::mem::size_of::<libc::size_t>();
    (len + word - 1) & !(word - 1)
}

/// Writes one control message (`struct cmsghdr` then `data`) at the start of `space`, laid out
/// as `CMSG_LEN`/`CMSG_DATA` of `<sys/socket.h>` describe; `space` is at least its
/// `CMSG_SPACE`.
fn write_cmsg(space: &mut [u8], level: libc::c_int, kind: libc::c_int, data: &[u8]) {
    let word = std::mem::size_of::<libc::size_t>();
    let header = std::mem::size_of::<libc::cmsghdr>();
    let len = header + data.len();
    let fields = [
        (0, &len.to_ne_bytes()[..word]),
        (word, &level.to_ne_bytes()[..]),
        (word + 4, &kind.to_ne_bytes()[..]),
        (header, data),
    ];
    for (at, bytes) in fields {
        if let Some(slot) = space.get_mut(at..at + bytes.len()) {
            slot.copy_from_slice(bytes);
        }
    }
}

/// Reusable `sendmmsg` state for up to [`SendBatch::capacity`] datagrams per call; larger
/// batches are sent in several calls.
pub struct SendBatch {
    headers: Vec<libc::mmsghdr>,
    iovecs: Vec<libc::iovec>,
    messages: Vec<Message>,
}

impl SendBatch {
    /// Room for `capacity` datagrams per call (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        SendBatch {
            headers: Vec::with_capacity(capacity),
            iovecs: Vec::with_capacity(capacity),
            messages: Vec::with_capacity(capacity),
        }
    }

    /// Most datagrams one `sendmmsg` call carries.
    pub fn capacity(&self) -> usize {
        self.iovecs.capacity()
    }

    fn clear(&mut self) {
        self.headers.clear();
        self.iovecs.clear();
        self.messages.clear();
    }

    /// Adds one datagram, as one more segment of the last entry when `segment` allows and the
    /// datagram fits, else as a new entry. The caller flushes a full batch first.
    fn push(&mut self, datagram: &Outgoing<'_>, peer: SocketAddr, segment: bool) {
        let len = datagram.payload.len();
        self.iovecs.push(libc::iovec {
            iov_base: datagram.payload.as_ptr().cast_mut().cast(),
            iov_len: len,
        });
        if let Some(last) = self.messages.last_mut() {
            if segment && last.takes(peer, datagram.source, len) {
                last.segments += 1;
                last.last_size = len;
                last.bytes += len;
                return;
            }
        }
        let mut control = [0u8; SEND_CONTROL_BYTES];
        let mut source_control = 0;
        if let Some(src) = datagram.source {
            let pktinfo = SourceControl::new(peer.is_ipv6(), src);
            let bytes = pktinfo.bytes();
            if let Some(slot) = control.get_mut(..bytes.len()) {
                slot.copy_from_slice(bytes);
                source_control = bytes.len();
            }
        }
        self.messages.push(Message {
            name: SockAddr::from(peer),
            peer,
            source: datagram.source,
            control,
            source_control,
            control_len: source_control,
            first_iovec: self.iovecs.len() - 1,
            segments: 1,
            segment_size: len,
            last_size: len,
            bytes: len,
        });
    }

    fn is_full(&self) -> bool {
        self.iovecs.len() == self.iovecs.capacity()
    }
}

impl std::fmt::Debug for SendBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBatch")
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl UdpSocket {
    /// Receives up to `batch.capacity()` datagrams in one `recvmmsg`, one into each buffer, and
    /// returns how many arrived; their [`RecvMeta`]s are in [`RecvBatch::metas`]. Waits for the
    /// first datagram like [`UdpSocket::recv`] (same timeout and `WouldBlock` behaviour), then
    /// takes only what is already queued.
    pub fn recv_batch<'a>(
        &self,
        batch: &mut RecvBatch,
        buffers: impl IntoIterator<Item = &'a mut [u8]>,
    ) -> io::Result<usize> {
        batch.metas.clear();
        let mut count = 0usize;
        let slots = batch
            .headers
            .iter_mut()
            .zip(batch.iovecs.iter_mut())
            .zip(batch.names.iter_mut())
            .zip(batch.controls.iter_mut());
        for ((((header, iovec), name), control), buffer) in slots.zip(buffers) {
            *iovec = libc::iovec {
                iov_base: buffer.as_mut_ptr().cast(),
                iov_len: buffer.len(),
            };
            let hdr = &mut header.msg_hdr;
            hdr.msg_name = std::ptr::from_mut(name).cast();
            hdr.msg_namelen = socklen_of::<libc::sockaddr_storage>();
            hdr.msg_iov = std::ptr::from_mut(iovec);
            hdr.msg_iovlen = 1;
            hdr.msg_control = control.as_mut_ptr().cast();
            hdr.msg_controllen = std::mem::size_of_val(control);
            hdr.msg_flags = 0;
            header.msg_len = 0;
            count += 1;
        }
        if count == 0 {
            return Ok(0);
        }
        let vlen = libc::c_uint::try_from(count).unwrap_or(libc::c_uint::MAX);
        // SAFETY: the first `count` headers point at this batch's own iovec, address and control
        // storage (boxed, so they stay put) and at the caller's buffers, which the `'a` borrows
        // keep alive and exclusively ours for the whole call; every length matches its storage.
        let received = unsafe {
            libc::recvmmsg(
                self.socket.as_raw_fd(),
                batch.headers.as_mut_ptr(),
                vlen,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        let received = usize::try_from(received).map_err(|_| io::Error::last_os_error())?;
        for (header, name) in batch.headers.iter().zip(batch.names.iter()).take(received) {
            batch.metas.push(parse_received(header, name));
        }
        Ok(received)
    }

    /// Sends every datagram of `datagrams`, in order, with as few `sendmmsg` calls as the
    /// batch's capacity allows. Like [`UdpSocket::send_from`], each leaves from its `source`
    /// address; a datagram the kernel refuses is counted in [`BatchSent::failed`] and skipped.
    /// Consecutive equal-sized datagrams to one peer go down the stack as one (`UDP_SEGMENT`)
    /// where the kernel supports it; the peer still receives separate datagrams.
    pub fn send_batch<'a>(
        &self,
        batch: &mut SendBatch,
        datagrams: impl IntoIterator<Item = Outgoing<'a>>,
    ) -> BatchSent {
        let mut outcome = BatchSent::default();
        batch.clear();
        let segment = self.gso.load(Ordering::Relaxed);
        for datagram in datagrams {
            if batch.is_full() {
                self.flush(batch, &mut outcome);
            }
            let peer = peer_for_family(self.local, datagram.peer);
            batch.push(&datagram, peer, segment);
        }
        self.flush(batch, &mut outcome);
        outcome
    }

    /// Sends what `batch` holds and empties it. The payload pointers in `batch.iovecs` come
    /// from the `'a` borrows of the running [`UdpSocket::send_batch`] call.
    fn flush(&self, batch: &mut SendBatch, outcome: &mut BatchSent) {
        batch.headers.clear();
        let iovecs = batch.iovecs.as_mut_ptr();
        for message in &mut batch.messages {
            message.finish_control();
            let mut header = zeroed_mmsghdr();
            let hdr = &mut header.msg_hdr;
            hdr.msg_name = message.name.as_ptr().cast_mut().cast();
            hdr.msg_namelen = message.name.len();
            // In bounds: `first_iovec + segments <= iovecs.len()` by construction in `push`.
            hdr.msg_iov = iovecs.wrapping_add(message.first_iovec);
            hdr.msg_iovlen = message.segments;
            if message.control_len > 0 {
                hdr.msg_control = message.control.as_mut_ptr().cast();
                hdr.msg_controllen = message.control_len;
            }
            batch.headers.push(header);
        }
        let mut next = 0usize;
        while let Some(pending) = batch.headers.get_mut(next..).filter(|p| !p.is_empty()) {
            let vlen = libc::c_uint::try_from(pending.len()).unwrap_or(libc::c_uint::MAX);
            // SAFETY: every header points at this batch's address, iovec and control storage,
            // which is not touched until the call returns, and each iovec at a payload the
            // caller lends for the whole `send_batch` call; lengths match their storage.
            let sent =
                unsafe { libc::sendmmsg(self.socket.as_raw_fd(), pending.as_mut_ptr(), vlen, 0) };
            match usize::try_from(sent) {
                Ok(0) => break,
                Ok(n) => {
                    outcome.sent += batch
                        .messages
                        .iter()
                        .skip(next)
                        .take(n)
                        .map(|m| m.segments)
                        .sum::<usize>();
                    next += n;
                }
                Err(_) => {
                    let error = io::Error::last_os_error();
                    if error.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    if let Some(refused) = batch.messages.get(next) {
                        self.refused(refused, &batch.iovecs, &error, outcome);
                    }
                    next += 1;
                }
            }
        }
        batch.clear();
    }

    /// Handles an entry the kernel refused: a single datagram is counted as failed; the
    /// datagrams of a segmented entry are sent again one by one (the path may not take
    /// segments of that size), and a kernel that cannot segment at all (`EIO`) is not asked
    /// again.
    fn refused(
        &self,
        message: &Message,
        iovecs: &[libc::iovec],
        error: &io::Error,
        outcome: &mut BatchSent,
    ) {
        if message.segments < 2 {
            outcome.failed += 1;
            return;
        }
        if error.raw_os_error() == Some(libc::EIO) {
            self.gso.store(false, Ordering::Relaxed);
        }
        let segments = iovecs
            .iter()
            .skip(message.first_iovec)
            .take(message.segments);
        for iovec in segments {
            let mut hdr = zeroed_mmsghdr().msg_hdr;
            hdr.msg_name = message.name.as_ptr().cast_mut().cast();
            hdr.msg_namelen = message.name.len();
            hdr.msg_iov = std::ptr::from_ref(iovec).cast_mut();
            hdr.msg_iovlen = 1;
            if message.source_control > 0 {
                hdr.msg_control = message.control.as_ptr().cast_mut().cast();
                hdr.msg_controllen = message.source_control;
            }
            // SAFETY: `hdr` points at the entry's address and `PKTINFO` bytes and at one iovec
            // whose payload the caller lends for the whole `send_batch` call; the kernel only
            // reads them.
            let sent = unsafe { libc::sendmsg(self.socket.as_raw_fd(), &hdr, 0) };
            if sent < 0 {
                outcome.failed += 1;
            } else {
                outcome.sent += 1;
            }
        }
    }
}

/// The [`RecvMeta`] of one datagram `recvmmsg` filled in; `None` without a usable sender.
fn parse_received(header: &libc::mmsghdr, name: &libc::sockaddr_storage) -> Option<RecvMeta> {
    let hdr = &header.msg_hdr;
    // SAFETY: the kernel wrote a sockaddr of `msg_namelen` bytes (at most the storage size it
    // was given) into `name`; the rest of the storage is plain bytes.
    let sender = unsafe { SockAddr::new(*name, hdr.msg_namelen) };
    let peer = match sender.as_socket()? {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => SocketAddr::V6(v6),
        },
        v4 => v4,
    };
    let mut meta = RecvMeta {
        len: usize::try_from(header.msg_len).unwrap_or(usize::MAX),
        peer,
        local_ip: None,
        ifindex: None,
        truncated: hdr.msg_flags & libc::MSG_TRUNC != 0,
        segment_size: None,
    };
    // SAFETY: `msg_control`/`msg_controllen` describe this batch's control buffer for the datagram,
    // and the kernel set `msg_controllen` to the bytes it wrote; CMSG_FIRSTHDR/CMSG_NXTHDR stay
    // inside that length and return null at its end.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(hdr) };
    while !cmsg.is_null() {
        // SAFETY: non-null results of CMSG_FIRSTHDR/CMSG_NXTHDR point at a whole cmsghdr inside
        // the control buffer.
        let (level, kind, data) =
            unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type, libc::CMSG_DATA(cmsg)) };
        match (level, kind) {
            (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                // SAFETY: an IP_PKTINFO message carries one in_pktinfo; read unaligned.
                let info = unsafe { data.cast::<libc::in_pktinfo>().read_unaligned() };
                meta.local_ip = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    info.ipi_addr.s_addr,
                ))));
                meta.ifindex = u32::try_from(info.ipi_ifindex).ok();
            }
            (libc::SOL_UDP, libc::UDP_GRO) => {
                // SAFETY: a UDP_GRO message carries one int, the segment size; read unaligned.
                let size = unsafe { data.cast::<libc::c_int>().read_unaligned() };
                meta.segment_size = usize::try_from(size).ok().filter(|s| *s > 0);
            }
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                // SAFETY: an IPV6_PKTINFO message carries one in6_pktinfo; read unaligned.
                let info = unsafe { data.cast::<libc::in6_pktinfo>().read_unaligned() };
                meta.local_ip = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr).to_canonical());
                meta.ifindex = Some(info.ipi6_ifindex);
            }
            _ => {}
        }
        // SAFETY: as above; `cmsg` is a header inside `hdr`'s control buffer.
        cmsg = unsafe { libc::CMSG_NXTHDR(hdr, cmsg) };
    }
    Some(meta)
}

fn socklen_of<T>() -> libc::socklen_t {
    libc::socklen_t::try_from(std::mem::size_of::<T>()).unwrap_or(libc::socklen_t::MAX)
}

fn zeroed_mmsghdr() -> libc::mmsghdr {
    // SAFETY: mmsghdr is plain data; all-zero is a valid value (null pointers, zero lengths).
    unsafe { std::mem::zeroed() }
}

fn zeroed_storage() -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain bytes; all-zero is a valid (AF_UNSPEC) value.
    unsafe { std::mem::zeroed() }
}

fn empty_iovec() -> libc::iovec {
    libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }
}
