//! The client address pools: hand out inner IPv4 addresses (RFC 7296 §3.15.1
//! INTERNAL_IP4_ADDRESS) and, when `clients.pool6` is configured, inner IPv6 host addresses
//! (INTERNAL_IP6_ADDRESS, handed out as /128), and take them back when a client's IKE SA goes away
//! (the engine releases every address of the IKE SA together, so the IPv6 lease goes with the
//! IPv4 one).
//!
//! A pool's network address, its first host (the gateway's own inner address) and its last
//! address (the IPv4 broadcast address; for IPv6 the top of the RFC 2526 reserved anycast range)
//! are never handed out. A client that asks for a specific free address in the pool gets it
//! (so a client reconnecting after a gateway restart keeps its address). Otherwise the pool hands
//! out never-used addresses in ascending order, and once those are gone, released addresses in the
//! order they were released: an address stays unused for as long as the pool allows, so packets
//! still on their way to its previous holder do not reach the next one. The order depends only on
//! the sequence of calls, so allocation is reproducible.
//!
//! Every operation costs O(1) amortized whatever the pool size or the number of leases: a cursor
//! walks the never-used addresses once, and released addresses wait in a queue. Memory grows with
//! the leases only, so a /64 costs no more than a /24.

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ikev2::identity::Identity;
use ipnet::{Ipv4Net, Ipv6Net};

/// The name under which the engine's peer configurations refer to the pools.
pub const POOL_NAME: &str = "clients";

/// Leases out the addresses `first..=last`, written as integers of either family.
///
/// Invariant: every free address below `next_fresh` is in `released` (which may also hold
/// addresses leased again on request since; they are skipped when popped).
#[derive(Debug)]
struct Leases {
    first: u128,
    last: u128,
    /// The lowest address the ascending walk has not reached (`last + 1` once it is done).
    next_fresh: u128,
    leased: HashSet<u128>,
    /// Released addresses below `next_fresh`, oldest release first.
    released: VecDeque<u128>,
    /// The members of `released`, so an address is queued at most once.
    queued: HashSet<u128>,
}

impl Leases {
    /// Leases over `network..=top` minus the network address, the first host and `top`.
    fn new(network: u128, top: u128) -> Self {
        let first = network.saturating_add(2);
        Self {
            first,
            last: top.saturating_sub(1),
            next_fresh: first,
            leased: HashSet::new(),
            released: VecDeque::new(),
            queued: HashSet::new(),
        }
    }

    fn capacity(&self) -> usize {
        let span = self.last.saturating_add(1).saturating_sub(self.first);
        usize::try_from(span).unwrap_or(usize::MAX)
    }

    fn allocate(&mut self, requested: Option<u128>) -> Option<u128> {
        let wanted =
            requested.filter(|a| (self.first..=self.last).contains(a) && !self.leased.contains(a));
        // A wanted address below the cursor stays queued; `next_released` skips it while leased.
        let chosen = wanted
            .or_else(|| self.next_fresh())
            .or_else(|| self.next_released())?;
        self.leased.insert(chosen);
        Some(chosen)
    }

    /// The next never-used address, skipping those leased on request ahead of the cursor.
    fn next_fresh(&mut self) -> Option<u128> {
        // `last` is at most `u128::MAX - 1` (the top address is reserved), so this cannot wrap.
        while self.next_fresh <= self.last {
            let candidate = self.next_fresh;
            self.next_fresh += 1;
            if !self.leased.contains(&candidate) {
                return Some(candidate);
            }
        }
        None
    }

    /// The longest-released free address.
    fn next_released(&mut self) -> Option<u128> {
        while let Some(candidate) = self.released.pop_front() {
            self.queued.remove(&candidate);
            if !self.leased.contains(&candidate) {
                return Some(candidate);
            }
        }
        None
    }

    fn release(&mut self, addr: u128) {
        if !self.leased.remove(&addr) {
            return;
        }
        // Above the cursor the ascending walk will still reach it.
        if addr < self.next_fresh && self.queued.insert(addr) {
            self.released.push_back(addr);
        }
    }
}

/// Leases out addresses of one IPv4 prefix.
#[derive(Debug)]
pub struct AddressPool {
    leases: Leases,
}

impl AddressPool {
    /// A pool over `net`, keeping the network address, the first host and the broadcast address.
    pub fn new(net: Ipv4Net) -> Self {
        Self {
            leases: Leases::new(
                u32::from(net.network()).into(),
                u32::from(net.broadcast()).into(),
            ),
        }
    }

    /// Addresses the pool can lease in all (reserved ones excluded).
    pub fn capacity(&self) -> usize {
        self.leases.capacity()
    }

    /// Leases an address: `requested` when it is in the pool and free, else the next never-used
    /// one, else the longest-released one. `None` when the pool is exhausted.
    pub fn allocate(&mut self, requested: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        let chosen = self
            .leases
            .allocate(requested.map(|a| u32::from(a).into()))?;
        u32::try_from(chosen).ok().map(Ipv4Addr::from)
    }

    /// Returns an address to the pool; returning an address that is not leased does nothing.
    pub fn release(&mut self, addr: Ipv4Addr) {
        self.leases.release(u32::from(addr).into());
    }
}

/// Leases out IPv6 host addresses (/128) of one prefix (`clients.pool6`).
#[derive(Debug)]
pub struct AddressPool6 {
    leases: Leases,
}

impl AddressPool6 {
    /// A pool over `net`, keeping the network address (the subnet-router anycast address), the
    /// first host (the gateway's) and the last address.
    pub fn new(net: Ipv6Net) -> Self {
        Self {
            leases: Leases::new(net.network().into(), net.broadcast().into()),
        }
    }

    /// Leases an address, by the same rules as [`AddressPool::allocate`].
    pub fn allocate(&mut self, requested: Option<Ipv6Addr>) -> Option<Ipv6Addr> {
        self.leases
            .allocate(requested.map(u128::from))
            .map(Ipv6Addr::from)
    }

    /// Returns an address to the pool; returning an address that is not leased does nothing.
    pub fn release(&mut self, addr: Ipv6Addr) {
        self.leases.release(addr.into());
    }
}

/// The gateway's pools as the engine sees them: the IPv4 pool and, when configured, the IPv6 one.
#[derive(Debug)]
pub struct ClientPools {
    /// `clients.pool`.
    pub v4: AddressPool,
    /// `clients.pool6`; without it clients asking for IPv6 get none (their IPv4 address still
    /// counts, so the exchange succeeds).
    pub v6: Option<AddressPool6>,
}

/// The engine asks the gateway's pools while answering a CFG_REQUEST
/// ([RFC 7296 §3.15](https://www.rfc-editor.org/rfc/rfc7296#section-3.15)).
impl ikev2::cp::AddressPool for ClientPools {
    fn allocate_v4(
        &mut self,
        pool: &str,
        peer: &Identity,
        requested: Option<Ipv4Addr>,
    ) -> Option<Ipv4Addr> {
        if pool != POOL_NAME {
            return None;
        }
        let leased = self.v4.allocate(requested);
        match leased {
            // The engine's `VirtualIp` event is logged at `info` with the SA; this is the detail.
            Some(addr) => tracing::debug!(%peer, %addr, "leased virtual IP"),
            None => tracing::warn!(%peer, "address pool exhausted"),
        }
        leased
    }

    fn allocate_v6(
        &mut self,
        pool: &str,
        peer: &Identity,
        requested: Option<Ipv6Addr>,
    ) -> Option<Ipv6Addr> {
        if pool != POOL_NAME {
            return None;
        }
        let v6 = self.v6.as_mut()?;
        let leased = v6.allocate(requested);
        match leased {
            Some(addr) => tracing::debug!(%peer, %addr, "leased IPv6 virtual IP"),
            None => tracing::warn!(%peer, "IPv6 address pool exhausted"),
        }
        leased
    }

    fn release(&mut self, pool: &str, address: IpAddr) {
        if pool != POOL_NAME {
            return;
        }
        match address {
            IpAddr::V4(addr) => self.v4.release(addr),
            IpAddr::V6(addr) => {
                if let Some(v6) = self.v6.as_mut() {
                    v6.release(addr);
                }
            }
        }
        tracing::debug!(%address, "released virtual IP");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(net: &str) -> AddressPool {
        AddressPool::new(net.parse().unwrap())
    }

    fn host(h: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, 0, h)
    }

    #[test]
    fn skips_reserved_addresses_and_exhausts() {
        let mut p = pool("10.200.0.0/29");
        assert_eq!(p.capacity(), 5);
        let got: Vec<_> = std::iter::from_fn(|| p.allocate(None)).collect();
        let want: Vec<Ipv4Addr> = (2..=6).map(host).collect();
        assert_eq!(
            got, want,
            ".0 network, .1 gateway, .7 broadcast are never leased"
        );
        assert_eq!(p.allocate(None), None);
        p.release(host(4));
        assert_eq!(p.allocate(None), Some(host(4)));
        assert_eq!(p.allocate(None), None);
    }

    #[test]
    fn never_used_addresses_first_then_released_ones_oldest_first() {
        let mut p = pool("10.200.0.0/28");
        for h in 2..=5 {
            assert_eq!(p.allocate(None), Some(host(h)));
        }
        p.release(host(4));
        p.release(host(2));
        assert_eq!(
            p.allocate(None),
            Some(host(6)),
            "a released address waits while never-used ones remain"
        );
        while p.allocate(None).is_some_and(|a| a != host(14)) {}
        assert_eq!(p.allocate(None), Some(host(4)), "released first");
        assert_eq!(p.allocate(None), Some(host(2)));
        assert_eq!(p.allocate(None), None);
        assert_eq!(p.leases.leased.len(), p.capacity());
    }

    #[test]
    fn honours_free_requested_address_only() {
        let mut p = pool("10.200.0.0/24");
        let a = host(77);
        assert_eq!(p.allocate(Some(a)), Some(a));
        assert_eq!(p.allocate(Some(a)), Some(host(2)), "taken");
        assert_eq!(
            p.allocate(Some(host(1))),
            Some(host(3)),
            "the gateway's own address is never leased"
        );
        assert_eq!(
            p.allocate(Some(host(255))),
            Some(host(4)),
            "nor the broadcast address"
        );
        assert_eq!(
            p.allocate(Some(Ipv4Addr::new(192, 0, 2, 1))),
            Some(host(5)),
            "outside the pool"
        );
        p.release(Ipv4Addr::new(192, 0, 2, 1));
        p.release(host(200));
        assert_eq!(
            p.leases.leased.len(),
            5,
            "releasing a foreign or free address changes nothing"
        );
    }

    #[test]
    fn requested_addresses_are_never_leased_twice() {
        let mut p = pool("10.200.0.0/29");
        // Ahead of the walk: the walk steps over it.
        assert_eq!(p.allocate(Some(host(3))), Some(host(3)));
        assert_eq!(p.allocate(None), Some(host(2)));
        assert_eq!(p.allocate(None), Some(host(4)), ".3 is skipped");
        // Behind the walk and queued as released: taken on request, skipped in the queue.
        p.release(host(2));
        p.release(host(3));
        assert_eq!(p.allocate(Some(host(2))), Some(host(2)));
        assert_eq!(p.allocate(None), Some(host(5)));
        assert_eq!(p.allocate(None), Some(host(6)));
        assert_eq!(p.allocate(None), Some(host(3)), ".2 is leased again, so .3");
        assert_eq!(p.allocate(None), None);
        // Released, requested and released again: queued once, handed out once.
        p.release(host(2));
        assert_eq!(p.allocate(Some(host(2))), Some(host(2)));
        p.release(host(2));
        assert_eq!(p.allocate(None), Some(host(2)));
        assert_eq!(p.allocate(None), None);
        assert_eq!(p.leases.released.len(), 0);
    }

    #[test]
    fn a_requested_address_released_ahead_of_the_walk_is_reached_by_it() {
        let mut p = pool("10.200.0.0/29");
        assert_eq!(p.allocate(Some(host(5))), Some(host(5)));
        p.release(host(5));
        let got: Vec<_> = std::iter::from_fn(|| p.allocate(None)).collect();
        assert_eq!(got, (2..=6).map(host).collect::<Vec<_>>());
    }

    #[test]
    fn the_queue_stays_bounded_under_request_release_churn() {
        let mut p = pool("10.200.0.0/29");
        assert_eq!(p.allocate(None), Some(host(2)));
        p.release(host(2));
        for _ in 0..1000 {
            assert_eq!(p.allocate(Some(host(2))), Some(host(2)));
            p.release(host(2));
        }
        assert_eq!(p.leases.released.len(), 1);
        assert_eq!(p.leases.queued.len(), 1);
    }

    #[test]
    fn leases_a_whole_slash_12() {
        // A million leases: with a per-lease scan this would not finish in a test's time.
        let mut p = pool("100.64.0.0/12");
        let capacity = p.capacity();
        assert_eq!(capacity, (1 << 20) - 3);
        let mut last = 0;
        for _ in 0..capacity {
            let a = u32::from(p.allocate(None).unwrap());
            assert!(a > last, "ascending");
            last = a;
        }
        assert_eq!(Ipv4Addr::from(last), Ipv4Addr::new(100, 79, 255, 254));
        assert_eq!(p.allocate(None), None);
        for h in [Ipv4Addr::new(100, 70, 1, 2), Ipv4Addr::new(100, 64, 0, 9)] {
            p.release(h);
        }
        assert_eq!(p.allocate(None), Some(Ipv4Addr::new(100, 70, 1, 2)));
        assert_eq!(p.allocate(None), Some(Ipv4Addr::new(100, 64, 0, 9)));
        assert_eq!(p.allocate(None), None);
    }

    #[test]
    fn tiny_prefixes_lease_nothing() {
        for net in ["10.200.0.0/31", "10.200.0.0/32", "10.200.0.0/30"] {
            let mut p = pool(net);
            let expected = usize::from(net.ends_with("/30"));
            assert_eq!(p.capacity(), expected, "{net}");
            assert_eq!(std::iter::from_fn(|| p.allocate(None)).count(), expected);
        }
    }

    fn v6(text: &str) -> Ipv6Addr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv6_pool_hands_out_hosts_after_the_gateways_and_reuses_released_last() {
        let mut p = AddressPool6::new("2001:db8:0:3::/126".parse().unwrap());
        assert_eq!(
            p.leases.capacity(),
            1,
            "::0, ::1 (gateway) and ::3 are reserved"
        );
        assert_eq!(p.allocate(None), Some(v6("2001:db8:0:3::2")));
        assert_eq!(p.allocate(None), None);
        p.release(v6("2001:db8:0:3::2"));
        assert_eq!(p.allocate(None), Some(v6("2001:db8:0:3::2")));

        let mut p = AddressPool6::new("2001:db8:0:3::/64".parse().unwrap());
        assert_eq!(p.leases.capacity(), usize::MAX - 2, "2^64 - 3 addresses");
        assert_eq!(p.allocate(None), Some(v6("2001:db8:0:3::2")));
        assert_eq!(p.allocate(None), Some(v6("2001:db8:0:3::3")));
        assert_eq!(
            p.allocate(Some(v6("2001:db8:0:3::abcd"))),
            Some(v6("2001:db8:0:3::abcd")),
            "a free requested address"
        );
        assert_eq!(
            p.allocate(Some(v6("2001:db8:0:4::5"))),
            Some(v6("2001:db8:0:3::4")),
            "outside the pool"
        );
        assert_eq!(
            p.allocate(Some(v6("2001:db8:0:3::1"))),
            Some(v6("2001:db8:0:3::5")),
            "the gateway's own address is never leased"
        );
        p.release(v6("2001:db8:0:3::3"));
        assert_eq!(p.leases.leased.len(), 4);
    }

    #[test]
    fn the_top_of_the_ipv6_space_does_not_overflow() {
        let mut p = AddressPool6::new("ffff:ffff:ffff:ffff::/126".parse().unwrap());
        assert_eq!(p.allocate(None), Some(v6("ffff:ffff:ffff:ffff::2")));
        assert_eq!(p.allocate(None), None);
    }

    #[test]
    fn client_pools_lease_and_release_both_families_by_name() {
        use ikev2::cp::AddressPool as _;
        let peer: Identity = "ue@ims.example".parse().unwrap();
        let mut pools = ClientPools {
            v4: pool("10.200.0.0/29"),
            v6: Some(AddressPool6::new("2001:db8:0:3::/64".parse().unwrap())),
        };
        let a4 = pools.allocate_v4(POOL_NAME, &peer, None);
        let a6 = pools.allocate_v6(POOL_NAME, &peer, None);
        assert_eq!(a4, Some(host(2)));
        assert_eq!(a6, Some(v6("2001:db8:0:3::2")));
        assert_eq!(pools.allocate_v6("other", &peer, None), None);
        pools.release(POOL_NAME, IpAddr::V6(v6("2001:db8:0:3::2")));
        pools.release(POOL_NAME, IpAddr::V4(host(2)));
        let v6_pool = pools.v6.as_ref().unwrap();
        assert!(v6_pool.leases.leased.is_empty() && pools.v4.leases.leased.is_empty());

        let mut v4_only = ClientPools {
            v4: pool("10.200.0.0/29"),
            v6: None,
        };
        assert_eq!(v4_only.allocate_v6(POOL_NAME, &peer, None), None);
        assert_eq!(v4_only.allocate_v4(POOL_NAME, &peer, None), Some(host(2)));
    }
}
