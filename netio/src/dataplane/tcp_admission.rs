//! Which TPKT' connections the transport takes on: at most `max_connections` at once in total and
//! at most `max_connections_per_source` from one source, so that one host flooding the port
//! cannot take every slot from the clients behind other addresses. A source is one IPv4
//! address, or one IPv6 /64 (a single host commonly holds a whole /64).
//!
//! An admitted connection holds a [`Ticket`]; dropping it frees the slot, whatever way the
//! connection ended. The table of sources holds only sources with a live connection, so it never
//! grows past the total limit. Refusals are counted by the caller and logged through a
//! [`RefusalLog`], at most one line per interval (a flood must not become a flood of logs).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The unit the per-source limit counts: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    /// The source a peer address belongs to.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Source(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Source(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => v4.fmt(f),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Why a connection was not taken on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_connections` are open.
    Total,
    /// `max_connections_per_source` are open from this source.
    PerSource(Source),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Total => f.write_str("connection limit reached"),
            Self::PerSource(source) => {
                write!(f, "per-source connection limit reached for {source}")
            }
        }
    }
}

#[derive(Debug, Default)]
struct Slots {
    total: u64,
    by_source: HashMap<Source, u64>,
}

/// The connection limits and what is open now.
#[derive(Debug)]
pub struct Admission {
    max_total: u64,
    max_per_source: u64,
    slots: Mutex<Slots>,
}

impl Admission {
    /// Limits of `max_total` connections at once, `max_per_source` of them from one source.
    pub fn new(max_total: u64, max_per_source: u64) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_source,
            slots: Mutex::new(Slots::default()),
        })
    }

    /// Takes on a connection from `peer`, or says why not.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Ticket, Refusal> {
        let source = Source::of(peer);
        let mut slots = self.lock();
        if slots.total >= self.max_total {
            return Err(Refusal::Total);
        }
        // Looked up before inserting: a refused source must leave no entry behind.
        if slots.by_source.get(&source).copied().unwrap_or(0) >= self.max_per_source {
            return Err(Refusal::PerSource(source));
        }
        *slots.by_source.entry(source).or_insert(0) += 1;
        slots.total += 1;
        Ok(Ticket {
            admission: Arc::clone(self),
            source: Some(source),
        })
    }

    /// Counts a connection we opened ourselves (the client's); no limit applies to it.
    pub fn admit_own(self: &Arc<Self>) -> Ticket {
        self.lock().total += 1;
        Ticket {
            admission: Arc::clone(self),
            source: None,
        }
    }

    /// Connections open now.
    pub fn live(&self) -> u64 {
        self.lock().total
    }

    /// Connections open now from the source of `peer`.
    pub fn live_from(&self, peer: IpAddr) -> u64 {
        self.lock()
            .by_source
            .get(&Source::of(peer))
            .copied()
            .unwrap_or(0)
    }

    fn release(&self, source: Option<Source>) {
        let mut slots = self.lock();
        slots.total = slots.total.saturating_sub(1);
        if let Some(source) = source {
            if let Some(n) = slots.by_source.get_mut(&source) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    slots.by_source.remove(&source);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One admitted connection's slot, freed on drop.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    source: Option<Source>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.release(self.source);
    }
}

/// Logs refusals at most once per interval, with how many were not logged in between.
#[derive(Debug)]
pub struct RefusalLog {
    interval: Duration,
    last: Option<Instant>,
    unlogged: u64,
}

impl RefusalLog {
    /// A log of at most one line per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
            unlogged: 0,
        }
    }

    /// Notes a refusal at `now`; logs it (with the count of refusals since the last line) when
    /// the interval has passed, and returns whether it did.
    pub fn note(
        &mut self,
        now: Instant,
        refusal: Refusal,
        peer: IpAddr,
        refused_total: u64,
    ) -> bool {
        let due = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if !due {
            self.unlogged += 1;
            return false;
        }
        tracing::warn!(
            %peer,
            %refusal,
            refused_total,
            not_logged_since_last = self.unlogged,
            "TCP connection refused"
        );
        self.last = Some(now);
        self.unlogged = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_source_and_total_limits_and_release_on_drop() {
        let admission = Admission::new(5, 2);
        let a1 = admission.admit(ip("192.0.2.1")).unwrap();
        let _a2 = admission.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(
            admission.admit(ip("192.0.2.1")).unwrap_err(),
            Refusal::PerSource(Source::of(ip("192.0.2.1")))
        );
        let _b1 = admission.admit(ip("192.0.2.2")).unwrap();
        let _b2 = admission.admit(ip("192.0.2.2")).unwrap();
        let _own = admission.admit_own();
        assert_eq!(admission.live(), 5);
        assert_eq!(
            admission.admit(ip("192.0.2.3")).unwrap_err(),
            Refusal::Total
        );
        drop(a1);
        assert_eq!(admission.live_from(ip("192.0.2.1")), 1);
        let _a3 = admission.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(admission.live(), 5);
    }

    #[test]
    fn the_source_table_only_holds_live_sources() {
        let admission = Admission::new(1000, 1);
        for i in 0..500u32 {
            let ticket = admission.admit(IpAddr::from((0xc633_6400 + i).to_be_bytes()));
            drop(ticket.unwrap());
        }
        assert_eq!(admission.live(), 0);
        assert!(admission.lock().by_source.is_empty());
        // Refusals leave nothing behind either, whichever limit refused.
        let none_per_source = Admission::new(1000, 0);
        let full = Admission::new(0, 10);
        for i in 0..500u32 {
            let peer = IpAddr::from((0xc633_6400 + i).to_be_bytes());
            assert!(none_per_source.admit(peer).is_err() && full.admit(peer).is_err());
        }
        assert!(none_per_source.lock().by_source.is_empty() && full.lock().by_source.is_empty());
    }

    #[test]
    fn ipv6_hosts_of_one_64_share_a_source_and_mapped_ipv4_is_ipv4() {
        assert_eq!(
            Source::of(ip("2001:db8:1:2::1")),
            Source::of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            Source::of(ip("2001:db8:1:2::1")),
            Source::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            Source::of(ip("::ffff:192.0.2.7")),
            Source::of(ip("192.0.2.7"))
        );
        assert_eq!(
            Source::of(ip("2001:db8:1:2::1")).to_string(),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn refusals_are_logged_once_per_interval() {
        let mut log = RefusalLog::new(Duration::from_secs(10));
        #[allow(clippy::disallowed_methods)] // A test's own clock.
        let t0 = Instant::now();
        let peer = ip("192.0.2.1");
        assert!(log.note(t0, Refusal::Total, peer, 1));
        assert!(!log.note(t0 + Duration::from_secs(1), Refusal::Total, peer, 2));
        assert!(!log.note(t0 + Duration::from_secs(9), Refusal::Total, peer, 3));
        assert_eq!(log.unlogged, 2);
        assert!(log.note(t0 + Duration::from_secs(10), Refusal::Total, peer, 4));
        assert_eq!(log.unlogged, 0);
    }
}
