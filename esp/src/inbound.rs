//! The inbound SA: opens ESP tunnel-mode packets in place.
//!
//! [`InboundSa::open`] follows <https://www.rfc-editor.org/rfc/rfc4303#section-3.4>: a cheap
//! replay check first, then ICV verification and decryption in place, then the trailer, then the
//! replay window is marked (only authentic packets move it), then the inner-packet policy
//! (<https://www.rfc-editor.org/rfc/rfc4301#section-5.2>). Workers may open packets of one SA
//! concurrently (`&self`): the replay check before decryption reads the window without a lock;
//! marking it, and counting packets, bytes and the last-packet time, happen under one
//! [`SpinLock`] taken once per packet (one atomic read-modify-write). The drop counters are
//! atomics touched only on the drop paths.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::cipher::{high_bits, Cipher};
use crate::flow::Flow;
use crate::replay::{ReplayWindow, DEFAULT_REPLAY_WINDOW};
use crate::selector::{ip_version, IpVersion, TrafficSelector};
use crate::spin::{add_relaxed, SpinLock};
use crate::stats::InboundStats;
use crate::wire::{EspHeader, EspTrailer, NextHeader};
use crate::{Algorithm, Error, PacketBuf};

/// The parameters of an inbound SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundConfig {
    /// SPI we chose for the peer to use.
    pub spi: u32,
    /// Negotiated transform.
    pub algorithm: Algorithm,
    /// Extended (64-bit) sequence numbers negotiated.
    pub esn: bool,
    /// Replay window size in packets (multiple of 64).
    pub replay_window: u32,
    /// The peer's traffic selectors: every inner packet's source side (address, protocol, source
    /// port) must match one of them.
    pub peer_selectors: Vec<TrafficSelector>,
    /// Our traffic selectors: every inner packet's destination side must match one of them;
    /// empty accepts any destination.
    pub local_selectors: Vec<TrafficSelector>,
}

impl InboundConfig {
    /// An SA without ESN, with the default replay window, accepting inner sources in
    /// `peer_selectors`, to any destination.
    pub fn new(spi: u32, algorithm: Algorithm, peer_selectors: Vec<TrafficSelector>) -> Self {
        Self {
            spi,
            algorithm,
            esn: false,
            replay_window: DEFAULT_REPLAY_WINDOW,
            peer_selectors,
            local_selectors: Vec::new(),
        }
    }
}

/// What an authentic inbound packet carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// An inner packet of this IP version, now the content of the buffer.
    Packet(IpVersion),
    /// A dummy packet (next header 59) for traffic flow confidentiality: drop it quietly
    /// (<https://www.rfc-editor.org/rfc/rfc4303#section-2.6>).
    Dummy,
}

/// One inbound ESP SA.
#[derive(Debug)]
pub struct InboundSa {
    spi: u32,
    algorithm: Algorithm,
    esn: bool,
    cipher: Cipher,
    peer_selectors: Box<[TrafficSelector]>,
    local_selectors: Box<[TrafficSelector]>,
    window: ReplayWindow,
    /// Serialises marking the window and the three counters below.
    lock: SpinLock,
    packets: AtomicU64,
    bytes: AtomicU64,
    /// Nanoseconds from `epoch` to the last authentic packet, plus one; 0 before the first.
    last_packet: AtomicU64,
    /// The `now` of the first packet opened: the zero of `last_packet`.
    epoch: OnceLock<Instant>,
    replay_drops: AtomicU64,
    icv_failures: AtomicU64,
    policy_drops: AtomicU64,
    padding_errors: AtomicU64,
    malformed: AtomicU64,
}

impl InboundSa {
    /// Keys an inbound SA (see [`crate::OutboundSa::new`] for the key slices).
    pub fn new(
        config: InboundConfig,
        encryption_key: &[u8],
        integrity_key: &[u8],
    ) -> Result<Self, Error> {
        let cipher = Cipher::new(config.algorithm, encryption_key, integrity_key)?;
        Ok(Self {
            spi: config.spi,
            algorithm: config.algorithm,
            esn: config.esn,
            cipher,
            peer_selectors: config.peer_selectors.into_boxed_slice(),
            local_selectors: config.local_selectors.into_boxed_slice(),
            window: ReplayWindow::new(config.replay_window)?,
            lock: SpinLock::default(),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            last_packet: AtomicU64::new(0),
            epoch: OnceLock::new(),
            replay_drops: AtomicU64::new(0),
            icv_failures: AtomicU64::new(0),
            policy_drops: AtomicU64::new(0),
            padding_errors: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
        })
    }

    /// The SPI this SA accepts.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// The transform.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The peer's traffic selectors.
    pub fn peer_selectors(&self) -> &[TrafficSelector] {
        &self.peer_selectors
    }

    /// Our traffic selectors (empty: any destination).
    pub fn local_selectors(&self) -> &[TrafficSelector] {
        &self.local_selectors
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> InboundStats {
        let (packets, bytes, last_packet) = {
            let _held = self.lock.lock();
            (
                self.packets.load(Ordering::Relaxed),
                self.bytes.load(Ordering::Relaxed),
                self.last_packet.load(Ordering::Relaxed),
            )
        };
        let last_packet = match (last_packet.checked_sub(1), self.epoch.get()) {
            (Some(nanos), Some(epoch)) => epoch.checked_add(Duration::from_nanos(nanos)),
            _ => None,
        };
        InboundStats {
            packets,
            bytes,
            replay_drops: self.replay_drops.load(Ordering::Relaxed),
            icv_failures: self.icv_failures.load(Ordering::Relaxed),
            policy_drops: self.policy_drops.load(Ordering::Relaxed),
            padding_errors: self.padding_errors.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            last_packet,
        }
    }

    /// Opens the ESP packet in `buf` (starting at the SPI) in place. On
    /// `Ok(Opened::Packet(_))` the buffer holds the inner packet; on `Ok(Opened::Dummy)` and on
    /// error its content is unspecified and the packet is to be dropped. `now` is recorded as the
    /// time of the last authentic packet.
    pub fn open(&self, now: Instant, buf: &mut PacketBuf) -> Result<Opened, Error> {
        let result = self.open_counted(now, buf);
        if let Err(error) = result {
            let counter = match error {
                Error::Replay => &self.replay_drops,
                Error::BadIcv => &self.icv_failures,
                Error::PolicyViolation => &self.policy_drops,
                Error::BadPadding => &self.padding_errors,
                _ => &self.malformed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn open_counted(&self, now: Instant, buf: &mut PacketBuf) -> Result<Opened, Error> {
        let packet_start = buf.start();
        let packet = buf.data_mut();
        let header = EspHeader::new_checked(&*packet)?;
        if header.spi() != self.spi {
            return Err(Error::UnknownSpi(header.spi()));
        }
        let low = header.sequence_number();
        let sequence = if self.esn {
            self.window.infer_esn(low).ok_or(Error::Replay)?
        } else {
            u64::from(low)
        };
        self.window.check(sequence)?;

        let plaintext_range = self
            .cipher
            .open(self.esn.then_some(high_bits(sequence)), packet)?;
        let plaintext = packet
            .get(plaintext_range.clone())
            .ok_or(Error::Truncated)?;
        let trailer = EspTrailer::new_checked(plaintext)?;
        trailer.check_padding()?;

        let since_epoch = now.saturating_duration_since(*self.epoch.get_or_init(|| now));
        let stamp = u64::try_from(since_epoch.as_nanos())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1);
        {
            let held = self.lock.lock();
            self.window.check_and_mark_locked(sequence, &held)?;
            add_relaxed(&self.packets, 1);
            add_relaxed(&self.bytes, trailer.payload_len() as u64);
            if stamp > self.last_packet.load(Ordering::Relaxed) {
                self.last_packet.store(stamp, Ordering::Relaxed);
            }
        }

        let inner = trailer.payload();
        let inner_len = inner.len();
        let version = match trailer.next_header() {
            NextHeader::NoNext => return Ok(Opened::Dummy),
            NextHeader::Ipv4 => IpVersion::V4,
            NextHeader::Ipv6 => IpVersion::V6,
            NextHeader::Unknown(other) => return Err(Error::UnsupportedNextHeader(other)),
        };
        if ip_version(inner)? != version {
            return Err(Error::MalformedInner);
        }
        let flow = Flow::of(inner)?;
        let from_peer = self
            .peer_selectors
            .iter()
            .any(|peer| peer.matches(flow.source, flow.protocol, flow.source_port));
        let to_us = self.local_selectors.is_empty()
            || self
                .local_selectors
                .iter()
                .any(|local| local.matches(flow.destination, flow.protocol, flow.destination_port));
        if !(from_peer && to_us) {
            return Err(Error::PolicyViolation);
        }
        let inner_start = packet_start + plaintext_range.start;
        buf.set_bounds(inner_start, inner_start + inner_len)?;
        Ok(Opened::Packet(version))
    }
}
