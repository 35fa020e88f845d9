//! Log lines for the packets the data plane drops, rate-limited so a flood cannot flood the log.
//!
//! Every drop is counted (the [`super::Counters`] outside any SA, `esp`'s per-SA statistics);
//! this adds the log line an operator needs to notice and find the sender. For each reason at most
//! one line per [`LINE_INTERVAL`] is written, across all workers and TCP connections, with the
//! peer's address, the SPI when there is one and how many drops of that reason went unlogged
//! since the previous line. Hostile or broken input (forged, replayed, spoofed, malformed ESP)
//! is `warn`; what also happens in normal operation (an SA just deleted, a route not yet there)
//! is `info`.
//!
//! Cost on the packet path: nothing while no packet is dropped; per dropped packet a `try_lock`
//! on the reason's slot and an atomic add. Writing the line allocates, at most once per interval.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, TryLockError};
use std::time::{Duration, Instant};

/// Least time between two log lines for the same reason.
pub const LINE_INTERVAL: Duration = Duration::from_secs(10);

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// ESP whose SPI names no inbound SA.
    UnknownSpi,
    /// A datagram or frame too short or too odd to be ESP, IKE or a keepalive.
    Malformed,
    /// ESP whose integrity check failed (forged, corrupted, or under an old key).
    BadIcv,
    /// ESP whose sequence number was seen before or lies left of the replay window.
    Replay,
    /// Authentic ESP whose inner packet is malformed (padding, next header, IP header).
    BadInnerPacket,
    /// Authentic ESP whose inner source lies outside the peer's traffic selectors: spoofing.
    SpoofedSource,
    /// Authentic ESP whose inner destination the gateway's policy forbids.
    ForbiddenDestination,
    /// An inner packet from TUN with no SA to carry it.
    NoRoute,
    /// An inner packet an SA could not seal.
    SealFailed,
    /// An IKE message dropped because the control task's queue was full (overload).
    IkeQueueFull,
}

impl DropReason {
    const ALL: [DropReason; 10] = [
        DropReason::UnknownSpi,
        DropReason::Malformed,
        DropReason::BadIcv,
        DropReason::Replay,
        DropReason::BadInnerPacket,
        DropReason::SpoofedSource,
        DropReason::ForbiddenDestination,
        DropReason::NoRoute,
        DropReason::SealFailed,
        DropReason::IkeQueueFull,
    ];

    /// Why `esp` refused to open a packet.
    pub fn of_open_error(error: esp::Error) -> Self {
        match error {
            esp::Error::UnknownSpi(_) => DropReason::UnknownSpi,
            esp::Error::BadIcv => DropReason::BadIcv,
            esp::Error::Replay => DropReason::Replay,
            esp::Error::PolicyViolation => DropReason::SpoofedSource,
            esp::Error::Truncated => DropReason::Malformed,
            _ => DropReason::BadInnerPacket,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            DropReason::UnknownSpi => "ESP with an unknown SPI",
            DropReason::Malformed => "malformed datagram or ESP packet",
            DropReason::BadIcv => "ESP failed its integrity check",
            DropReason::Replay => "replayed or too old ESP sequence number",
            DropReason::BadInnerPacket => "ESP carried a malformed inner packet",
            DropReason::SpoofedSource => {
                "ESP inner source outside the peer's traffic selectors (spoofed)"
            }
            DropReason::ForbiddenDestination => "ESP inner destination forbidden by policy",
            DropReason::NoRoute => "inner packet with no SA to carry it",
            DropReason::SealFailed => "inner packet could not be sealed",
            DropReason::IkeQueueFull => "IKE message dropped: control task overloaded",
        }
    }

    /// Hostile or broken input is worth a warning; the rest happens in normal operation too.
    fn is_hostile(self) -> bool {
        !matches!(
            self,
            DropReason::UnknownSpi | DropReason::NoRoute | DropReason::IkeQueueFull
        )
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One reason's rate limit.
#[derive(Debug, Default)]
struct Slot {
    /// When the next line may be written; `None` before the first.
    next_line: Mutex<Option<Instant>>,
    /// Drops of this reason since the last line.
    unlogged: AtomicU64,
}

/// The rate-limited drop logger shared by all workers and connections.
#[derive(Debug, Default)]
pub struct DropLog {
    slots: [Slot; DropReason::ALL.len()],
}

impl DropLog {
    /// Notes one dropped packet: writes a line if this reason's interval has passed, otherwise
    /// counts it for the next line. Returns whether a line was written.
    pub fn record(
        &self,
        now: Instant,
        reason: DropReason,
        peer: Option<SocketAddr>,
        spi: Option<u32>,
    ) -> bool {
        let Some(slot) = self.slots.get(reason.index()) else {
            return false;
        };
        let mut next_line = match slot.next_line.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            // Another thread is writing this reason's line right now.
            Err(TryLockError::WouldBlock) => {
                slot.unlogged.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        };
        if next_line.is_some_and(|at| now < at) {
            slot.unlogged.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        *next_line = Some(now + LINE_INTERVAL);
        drop(next_line);
        let unlogged = slot.unlogged.swap(0, Ordering::Relaxed);
        let what = reason.describe();
        let peer = peer.map(tracing::field::display);
        let spi = spi.map(|spi| format!("{spi:#010x}"));
        let spi = spi.as_deref();
        if reason.is_hostile() {
            tracing::warn!(peer, spi, unlogged, "dropped: {what}");
        } else {
            tracing::info!(peer, spi, unlogged, "dropped: {what}");
        }
        true
    }

    /// Drops of `reason` not yet reported in a line.
    pub fn unlogged(&self, reason: DropReason) -> u64 {
        self.slots
            .get(reason.index())
            .map_or(0, |slot| slot.unlogged.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // Tests read the clock.
    fn now() -> Instant {
        Instant::now()
    }

    #[test]
    fn one_line_per_reason_per_interval_and_the_rest_counted() {
        let log = DropLog::default();
        let start = now();
        let peer = Some("192.0.2.7:4500".parse().unwrap());
        assert!(log.record(start, DropReason::Replay, peer, Some(7)));
        for k in 1..=5 {
            let now = start + Duration::from_secs(k);
            assert!(!log.record(now, DropReason::Replay, peer, Some(7)));
        }
        assert_eq!(log.unlogged(DropReason::Replay), 5);
        // Another reason has its own interval.
        assert!(log.record(start, DropReason::SpoofedSource, peer, Some(7)));
        assert_eq!(log.unlogged(DropReason::SpoofedSource), 0);
        // Once the interval has passed, the next drop writes a line carrying the five.
        assert!(log.record(start + LINE_INTERVAL, DropReason::Replay, peer, None));
        assert_eq!(log.unlogged(DropReason::Replay), 0);
        assert!(!log.record(start + LINE_INTERVAL, DropReason::Replay, peer, None));
        assert_eq!(log.unlogged(DropReason::Replay), 1);
    }

    #[test]
    fn every_reason_has_its_own_slot() {
        let log = DropLog::default();
        let now = now();
        for (k, reason) in DropReason::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), k, "{reason:?} out of order in ALL");
            assert!(log.record(now, reason, None, None), "{reason:?}");
            assert!(!log.record(now, reason, None, None), "{reason:?}");
            assert_eq!(log.unlogged(reason), 1, "{reason:?}");
        }
    }

    #[test]
    fn open_errors_map_to_their_reasons() {
        assert_eq!(
            DropReason::of_open_error(esp::Error::UnknownSpi(9)),
            DropReason::UnknownSpi
        );
        assert_eq!(
            DropReason::of_open_error(esp::Error::PolicyViolation),
            DropReason::SpoofedSource
        );
        assert_eq!(
            DropReason::of_open_error(esp::Error::Replay),
            DropReason::Replay
        );
        assert_eq!(
            DropReason::of_open_error(esp::Error::BadIcv),
            DropReason::BadIcv
        );
        assert_eq!(
            DropReason::of_open_error(esp::Error::BadPadding),
            DropReason::BadInnerPacket
        );
    }
}
