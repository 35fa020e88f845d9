//! The two worker loops. Each worker owns its buffers and its cached views of the SA and egress
//! tables; nothing is locked per packet and nothing is allocated per packet.
//!
//! - [`tun_to_udp`]: read inner packets from a TUN queue into buffers with headroom and tailroom,
//!   pick each one's outbound SA by its selectors, seal in place, send the batch to the SAs'
//!   egresses with one `sendmmsg` per NAT-T socket (equal-sized packets to one peer as one UDP
//!   GSO run).
//! - [`udp_to_tun`]: receive a batch of NAT-T datagrams with one `recvmmsg`, classify each
//!   (keepalive, IKE, ESP); IKE goes to the control task over a channel, ESP is opened in place
//!   (replay, ICV, inner-source policy in `esp`), checked against the destination policy, and
//!   written to the TUN device. A buffer holding a coalesced run of datagrams (UDP GRO) is
//!   handled one datagram at a time, each opened in place where it lies.
//!
//! Both loops work in bursts of up to [`BATCH`] packets: a TUN queue is read (non-blocking) until
//! it is empty or the burst is full, and waited on with `poll` only once it is empty; a NAT-T
//! socket's `recvmmsg` waits for the first datagram and takes what else is queued. The
//! per-packet `step` functions know nothing of the batching. Every wait gives up after
//! [`STOP_POLL`] so a worker notices [`super::DataPlane::stop`].

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use esp::{Opened, PacketBuf, SaReader, SEAL_HEADROOM, SEAL_TAILROOM};

use super::drop_log::DropReason;
use super::egress::{Egress, EgressReader};
use super::ike_sockets::{local_of, specific};
use super::natt::{classify, NattPayload};
use super::{IkeDatagram, WorkerContext};
use crate::tun::TunQueue;
use crate::udp::{Outgoing, RecvBatch, SendBatch, UdpSocket};

/// How long a blocked worker waits before checking whether it should stop.
pub(crate) const STOP_POLL: Duration = Duration::from_millis(200);

/// Most packets a worker moves per burst (and per `recvmmsg`/`sendmmsg`).
pub(crate) const BATCH: usize = 32;

/// Largest packet a buffer holds: a full IP datagram (room for TUN/UDP offloads later).
const MAX_PACKET: usize = 65_535;

/// Capacity of every data-plane buffer.
pub(crate) const BUFFER_CAPACITY: usize = SEAL_HEADROOM + MAX_PACKET + SEAL_TAILROOM;

/// One worker's packet buffers, allocated once.
fn burst_buffers() -> Vec<PacketBuf> {
    (0..BATCH)
        .map(|_| PacketBuf::new(BUFFER_CAPACITY))
        .collect()
}

/// Waits until `file` is readable or [`STOP_POLL`] passes.
fn wait_readable(file: &TunQueue) -> io::Result<bool> {
    let mut pollfd = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let timeout_ms = libc::c_int::try_from(STOP_POLL.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `pollfd` is a valid, exclusively borrowed pollfd for the whole call, the count is
    // 1, and the descriptor stays open because `file` is borrowed.
    let ready = unsafe { libc::poll(&mut pollfd, 1, timeout_ms) };
    if ready < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(ready > 0)
}

/// Where one sealed packet goes over UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UdpRoute {
    local: SocketAddr,
    remote: SocketAddr,
}

/// Reads inner packets from one TUN queue and sends them sealed, until told to stop.
pub(crate) fn tun_to_udp(ctx: WorkerContext, queue: Arc<TunQueue>) {
    if let Err(e) = queue.set_nonblocking(true) {
        tracing::error!(error = %e, "cannot make the TUN queue non-blocking; worker stops");
        return;
    }
    let mut bufs = burst_buffers();
    let mut routes = [None; BATCH];
    let mut sender = SendBatch::new(BATCH);
    let mut sas = ctx.shared.sadb.reader();
    let mut egress = ctx.shared.egress.reader();
    // Whether the queue may hold more packets (the last burst was full): read before polling.
    let mut more = false;
    while !ctx.stop.load(Ordering::Relaxed) {
        if !more {
            match wait_readable(&queue) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "TUN poll failed; worker stops");
                    return;
                }
            }
        }
        let read = match read_burst(&queue, &mut bufs) {
            Ok(read) => read,
            Err(e) => {
                tracing::error!(error = %e, "TUN read failed; worker stops");
                return;
            }
        };
        more = read == BATCH;
        for (buf, route) in bufs.iter_mut().zip(routes.iter_mut()).take(read) {
            *route = seal_step(&ctx, &mut sas, &mut egress, buf);
        }
        send_sealed(
            &ctx,
            &mut sender,
            &bufs,
            routes.get(..read).unwrap_or_default(),
        );
    }
}

/// Reads packets from a non-blocking TUN queue into `bufs` (after [`SEAL_HEADROOM`], leaving
/// [`SEAL_TAILROOM`]) until the queue is empty or every buffer holds one; returns how many.
fn read_burst(queue: &TunQueue, bufs: &mut [PacketBuf]) -> io::Result<usize> {
    let mut read = 0;
    for buf in bufs.iter_mut() {
        buf.reset(SEAL_HEADROOM);
        let room = buf.spare_mut().len().saturating_sub(SEAL_TAILROOM);
        let result = buf
            .spare_mut()
            .get_mut(..room)
            .map_or(Ok(0), |spare| queue.read(spare));
        match result {
            Ok(n) if n > 0 && buf.commit(n).is_ok() => read += 1,
            Ok(_) => break,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                break
            }
            // Report the error once the packets already read are on their way.
            Err(e) if read == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(read)
}

/// Sends the sealed packets of one burst: consecutive packets leaving from the same local
/// address go out in one [`UdpSocket::send_batch`].
fn send_sealed(
    ctx: &WorkerContext,
    sender: &mut SendBatch,
    bufs: &[PacketBuf],
    routes: &[Option<UdpRoute>],
) {
    let counters = &ctx.shared.counters;
    let mut sealed = routes
        .iter()
        .zip(bufs)
        .filter_map(|(route, buf)| route.map(|route| (route, buf)))
        .peekable();
    while let Some(&(first, _)) = sealed.peek() {
        let same_local = |(route, _): &(UdpRoute, &PacketBuf)| route.local == first.local;
        let Some(socket) = ctx.sockets.natt_for(first.local) else {
            while sealed.next_if(same_local).is_some() {
                counters.send_errors.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        };
        let run = std::iter::from_fn(|| sealed.next_if(same_local)).map(|(route, buf)| Outgoing {
            payload: buf.data(),
            peer: route.remote,
            source: specific(route.local.ip()),
        });
        let outcome = socket.send_batch(sender, run);
        if outcome.failed > 0 {
            counters
                .send_errors
                .fetch_add(outcome.failed as u64, Ordering::Relaxed);
        }
    }
}

/// Seals one inner packet; returns where it goes when that is UDP (TCP egress is queued on its
/// connection right here). Drops are counted.
fn seal_step(
    ctx: &WorkerContext,
    sas: &mut SaReader,
    egress: &mut EgressReader,
    buf: &mut PacketBuf,
) -> Option<UdpRoute> {
    let counters = &ctx.shared.counters;
    let egress_key = match sas.table().seal(buf) {
        Ok((_, sa)) => sa.egress_key(),
        Err(esp::Error::NoRoute) => {
            counters.no_route.fetch_add(1, Ordering::Relaxed);
            ctx.shared
                .drops
                .record((ctx.clock)(), DropReason::NoRoute, None, None);
            return None;
        }
        Err(e) => {
            counters.seal_errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = %e, "seal failed");
            ctx.shared
                .drops
                .record((ctx.clock)(), DropReason::SealFailed, None, None);
            return None;
        }
    };
    match egress.get(egress_key) {
        Some(Egress::Udp { local, remote }) => Some(UdpRoute { local, remote }),
        Some(Egress::Tcp { connection }) => {
            // Drops (queue full, connection gone) are counted by the TCP transport.
            ctx.shared.tcp.send_esp(connection, buf.data());
            None
        }
        None => {
            counters.no_route.fetch_add(1, Ordering::Relaxed);
            ctx.shared
                .drops
                .record((ctx.clock)(), DropReason::NoRoute, None, None);
            None
        }
    }
}

/// Receives NAT-T datagrams on one socket, a batch per system call, until told to stop.
pub(crate) fn udp_to_tun(ctx: WorkerContext, socket: Arc<UdpSocket>, tun: Arc<TunQueue>) {
    let mut bufs = burst_buffers();
    let mut batch = RecvBatch::new(BATCH);
    let mut sas = ctx.shared.sadb.reader();
    if let Err(e) = socket.set_receive_coalescing(true) {
        tracing::debug!(error = %e, "no UDP receive coalescing; one datagram per buffer");
    }
    while !ctx.stop.load(Ordering::Relaxed) {
        for buf in &mut bufs {
            buf.reset(0);
        }
        let received =
            match socket.recv_batch(&mut batch, bufs.iter_mut().map(PacketBuf::spare_mut)) {
                Ok(received) => received,
                Err(e) if is_timeout(&e) => continue,
                // ICMP errors surface here as ECONNREFUSED and the like; they are not fatal.
                Err(e) => {
                    tracing::debug!(error = %e, "NAT-T receive error");
                    continue;
                }
            };
        // One clock reading per batch: the packets of a batch arrived together.
        let now = (ctx.clock)();
        for (buf, meta) in bufs.iter_mut().zip(batch.metas()).take(received) {
            match meta {
                Some(meta) if !meta.truncated => {
                    let local = local_of(&socket, meta);
                    for (offset, len) in segments(meta.len, meta.segment_size) {
                        buf.reset(offset);
                        if buf.commit(len).is_ok() {
                            receive_step(&ctx, &mut sas, &tun, now, local, meta.peer, buf);
                        }
                    }
                }
                _ => {
                    ctx.shared
                        .counters
                        .malformed
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Where the datagrams of a receive buffer of `total` bytes lie (offset, length): one, or
/// `segment_size`-byte pieces of a coalesced run (the last may be shorter). Always at least one,
/// so an empty datagram is still looked at (and counted as malformed).
fn segments(total: usize, segment_size: Option<usize>) -> impl Iterator<Item = (usize, usize)> {
    let size = segment_size.unwrap_or(total).max(1);
    let count = total.div_ceil(size).max(1);
    (0..count).map(move |k| {
        let offset = k * size;
        (offset, size.min(total - offset))
    })
}

/// Receives IKE datagrams on a port-500 socket and hands them to the control task.
pub(crate) fn ike_receiver(ctx: WorkerContext, socket: Arc<UdpSocket>) {
    let mut buf = vec![0u8; MAX_PACKET];
    while !ctx.stop.load(Ordering::Relaxed) {
        match socket.recv(&mut buf) {
            Ok(meta) if !meta.truncated => {
                let datagram = IkeDatagram {
                    local: local_of(&socket, &meta),
                    remote: meta.peer,
                    message: buf.get(..meta.len).unwrap_or_default().to_vec(),
                };
                if ctx.ike.try_send(datagram).is_err() {
                    ctx.shared
                        .counters
                        .ike_dropped
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(_) => {
                ctx.shared
                    .counters
                    .malformed
                    .fetch_add(1, Ordering::Relaxed);
            }
            Err(e) if is_timeout(&e) => {}
            Err(e) => tracing::debug!(error = %e, "IKE receive error"),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Handles one datagram received on a NAT-T socket.
fn receive_step(
    ctx: &WorkerContext,
    sas: &mut SaReader,
    tun: &TunQueue,
    now: Instant,
    local: SocketAddr,
    from: SocketAddr,
    buf: &mut PacketBuf,
) {
    let counters = &ctx.shared.counters;
    // Only port 4500 carries the marker: from the peer's port 500 everything is bare IKE (a
    // client's single socket talks to both of the gateway's ports).
    let kind = if from.port() == ikev2::path::IKE_PORT {
        NattPayload::Ike(buf.data())
    } else {
        classify(buf.data())
    };
    let drops = &ctx.shared.drops;
    match kind {
        NattPayload::Keepalive => {
            counters.keepalives.fetch_add(1, Ordering::Relaxed);
        }
        NattPayload::Malformed => {
            counters.malformed.fetch_add(1, Ordering::Relaxed);
            drops.record(now, DropReason::Malformed, Some(from), None);
        }
        NattPayload::Ike(message) => {
            let datagram = IkeDatagram {
                local,
                remote: from,
                message: message.to_vec(),
            };
            if ctx.ike.try_send(datagram).is_err() {
                counters.ike_dropped.fetch_add(1, Ordering::Relaxed);
                drops.record(now, DropReason::IkeQueueFull, Some(from), None);
            }
        }
        NattPayload::Esp { spi } => match sas.table().open(now, buf) {
            Ok((Opened::Packet(_), _)) => {
                if !ctx.shared.policy.allows(buf.data()) {
                    counters
                        .forbidden_destination
                        .fetch_add(1, Ordering::Relaxed);
                    drops.record(now, DropReason::ForbiddenDestination, Some(from), Some(spi));
                    return;
                }
                if tun.write(buf.data()).is_err() {
                    counters.tun_write_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok((Opened::Dummy, _)) => {}
            Err(e) => {
                // ICV, replay, padding and spoofed inner sources are also counted per SA by
                // `esp`; an unknown SPI has no SA to count it.
                if let esp::Error::UnknownSpi(_) = e {
                    counters.unknown_spi.fetch_add(1, Ordering::Relaxed);
                }
                drops.record(now, DropReason::of_open_error(e), Some(from), Some(spi));
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::segments;

    #[test]
    fn a_coalesced_buffer_splits_into_its_datagrams() {
        let split: Vec<_> = segments(2_500, Some(1_000)).collect();
        assert_eq!(split, [(0, 1_000), (1_000, 1_000), (2_000, 500)]);
        assert_eq!(segments(3_000, Some(1_000)).count(), 3);
        assert_eq!(segments(80, None).collect::<Vec<_>>(), [(0, 80)]);
        // A segment size larger than the buffer is one datagram; an empty datagram is still
        // seen once (and counted as malformed by the caller).
        assert_eq!(segments(80, Some(200)).collect::<Vec<_>>(), [(0, 80)]);
        assert_eq!(segments(0, None).collect::<Vec<_>>(), [(0, 0)]);
        assert_eq!(segments(0, Some(64)).collect::<Vec<_>>(), [(0, 0)]);
    }
}
