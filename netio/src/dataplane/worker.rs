//! The two worker loops. Each worker owns its buffers (a per-worker `esp::BufPool`) and its
//! cached views of the SA and egress tables; nothing is locked per packet.
//!
//! - [`tun_to_udp`]: read an inner packet from a TUN queue into a buffer with headroom and
//!   tailroom, pick the outbound SA by inner destination, seal in place, send to the SA's egress.
//! - [`udp_to_tun`]: receive a NAT-T datagram, classify it (keepalive, IKE, ESP); IKE goes to the
//!   control task over a channel, ESP is opened in place (replay, ICV, inner-source policy in
//!   `esp`), checked against the destination policy, and written to the TUN device.
//!
//! Both loops handle one packet per step through `step` functions that know nothing of the loop,
//! so batched I/O (recvmmsg/sendmmsg, GSO/GRO) replaces only the loop bodies' I/O calls.

use std::io;
use std::os::fd::AsRawFd as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use esp::{BufPool, Opened, PacketBuf, SaReader, SEAL_HEADROOM, SEAL_TAILROOM};

use super::egress::{Egress, EgressReader};
use super::ike_sockets::{local_of, specific};
use super::natt::{classify, NattPayload};
use super::{IkeDatagram, WorkerContext};
use crate::tun::TunQueue;
use crate::udp::UdpSocket;

/// How long a blocked worker waits before checking whether it should stop.
pub(crate) const STOP_POLL: Duration = Duration::from_millis(200);

/// Largest packet a buffer holds: a full IP datagram (room for TUN/UDP offloads later).
const MAX_PACKET: usize = 65_535;

/// Capacity of every data-plane buffer.
pub(crate) const BUFFER_CAPACITY: usize = SEAL_HEADROOM + MAX_PACKET + SEAL_TAILROOM;

fn new_pool() -> BufPool {
    // Cannot fail: the capacity is non-zero and prefill <= max.
    BufPool::new(BUFFER_CAPACITY, 4, 64).unwrap_or_else(|_| unreachable_pool())
}

#[allow(clippy::panic)]
fn unreachable_pool() -> BufPool {
    panic!("buffer pool parameters are constants and valid")
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

/// Reads inner packets from one TUN queue and sends them sealed, until told to stop.
pub(crate) fn tun_to_udp(ctx: WorkerContext, queue: Arc<TunQueue>) {
    let mut pool = new_pool();
    let mut sas = ctx.shared.sadb.reader();
    let mut egress = ctx.shared.egress.reader();
    while !ctx.stop.load(Ordering::Relaxed) {
        match wait_readable(&queue) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::error!(error = %e, "TUN poll failed; worker stops");
                return;
            }
        }
        let mut buf = pool.take(SEAL_HEADROOM);
        let room = buf.spare_mut().len().saturating_sub(SEAL_TAILROOM);
        let read = buf
            .spare_mut()
            .get_mut(..room)
            .map_or(Ok(0), |spare| queue.read(spare));
        match read {
            Ok(n) if n > 0 && buf.commit(n).is_ok() => {
                seal_step(&ctx, &mut sas, &mut egress, &mut buf);
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                tracing::error!(error = %e, "TUN read failed; worker stops");
                pool.give(buf);
                return;
            }
        }
        pool.give(buf);
    }
}

/// Seals one inner packet and sends it.
fn seal_step(
    ctx: &WorkerContext,
    sas: &mut SaReader,
    egress: &mut EgressReader,
    buf: &mut PacketBuf,
) {
    let counters = &ctx.shared.counters;
    let spi = match sas.table().seal(buf) {
        Ok((_, sa)) => sa.spi(),
        Err(esp::Error::NoRoute) => {
            counters.no_route.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Err(e) => {
            counters.seal_errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = %e, "seal failed");
            return;
        }
    };
    match egress.get(spi) {
        Some(Egress::Udp { local, remote }) => {
            let sent = ctx
                .sockets
                .natt_for(local)
                .map(|s| s.send_from(buf.data(), remote, specific(local.ip())));
            if !matches!(sent, Some(Ok(_))) {
                counters.send_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        Some(Egress::Tcp { connection }) => {
            // Drops (queue full, connection gone) are counted by the TCP transport.
            ctx.shared.tcp.send_esp(connection, buf.data());
        }
        None => {
            counters.no_route.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Receives NAT-T datagrams on one socket until told to stop.
pub(crate) fn udp_to_tun(ctx: WorkerContext, socket: Arc<UdpSocket>, tun: Arc<TunQueue>) {
    let mut pool = new_pool();
    let mut sas = ctx.shared.sadb.reader();
    while !ctx.stop.load(Ordering::Relaxed) {
        let mut buf = pool.take(0);
        match socket.recv(buf.spare_mut()) {
            Ok(meta) if !meta.truncated && buf.commit(meta.len).is_ok() => {
                let local = local_of(&socket, &meta);
                receive_step(&ctx, &mut sas, &tun, local, meta.peer, &mut buf);
            }
            Ok(_) => {
                ctx.shared
                    .counters
                    .malformed
                    .fetch_add(1, Ordering::Relaxed);
            }
            Err(e) if is_timeout(&e) => {}
            // ICMP errors surface here as ECONNREFUSED and the like; they are not fatal.
            Err(e) => tracing::debug!(error = %e, "NAT-T receive error"),
        }
        pool.give(buf);
    }
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
    local: std::net::SocketAddr,
    from: std::net::SocketAddr,
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
    match kind {
        NattPayload::Keepalive => {
            counters.keepalives.fetch_add(1, Ordering::Relaxed);
        }
        NattPayload::Malformed => {
            counters.malformed.fetch_add(1, Ordering::Relaxed);
        }
        NattPayload::Ike(message) => {
            let datagram = IkeDatagram {
                local,
                remote: from,
                message: message.to_vec(),
            };
            if ctx.ike.try_send(datagram).is_err() {
                counters.ike_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        NattPayload::Esp { .. } => match sas.table().open((ctx.clock)(), buf) {
            Ok((Opened::Packet(_), _)) => {
                if !ctx.shared.policy.allows(buf.data()) {
                    counters
                        .forbidden_destination
                        .fetch_add(1, Ordering::Relaxed);
                    return;
                }
                if tun.write(buf.data()).is_err() {
                    counters.tun_write_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok((Opened::Dummy, _)) => {}
            Err(esp::Error::UnknownSpi(_)) => {
                counters.unknown_spi.fetch_add(1, Ordering::Relaxed);
            }
            // Everything else (ICV, replay, padding, spoofed inner source) is counted per SA by
            // `esp`.
            Err(_) => {}
        },
    }
}
