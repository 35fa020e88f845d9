//! The client address pool: hands out inner IPv4 addresses (RFC 7296 §3.15.1 INTERNAL_IP4_ADDRESS)
//! and takes them back when a client's IKE SA goes away.
//!
//! The pool's network address, its first host (the gateway's own inner address) and its broadcast
//! address are never handed out. A client that asks for a specific free address in the pool gets it
//! (so a client reconnecting after a gateway restart keeps its address); otherwise the lowest free
//! address is chosen, which also makes allocation reproducible.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ikev2::identity::Identity;
use ipnet::Ipv4Net;

/// The name under which the engine's peer configurations refer to this pool.
pub const POOL_NAME: &str = "clients";

/// Leases out addresses of one IPv4 prefix.
#[derive(Debug)]
pub struct AddressPool {
    first: u32,
    last: u32,
    leased: BTreeSet<u32>,
}

impl AddressPool {
    /// A pool over `net`, keeping the network address, the first host and the broadcast address.
    pub fn new(net: Ipv4Net) -> Self {
        let network = u32::from(net.network());
        let broadcast = u32::from(net.broadcast());
        Self {
            first: network.saturating_add(2),
            last: broadcast.saturating_sub(1),
            leased: BTreeSet::new(),
        }
    }

    /// Leases an address: `requested` when it is in the pool and free, else the lowest free one.
    /// `None` when the pool is exhausted.
    pub fn allocate(&mut self, requested: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        let wanted = requested
            .map(u32::from)
            .filter(|a| (self.first..=self.last).contains(a) && !self.leased.contains(a));
        let chosen =
            wanted.or_else(|| (self.first..=self.last).find(|a| !self.leased.contains(a)))?;
        self.leased.insert(chosen);
        Some(Ipv4Addr::from(chosen))
    }

    /// Returns an address to the pool; returning an address that is not leased does nothing.
    pub fn release(&mut self, addr: Ipv4Addr) {
        self.leased.remove(&u32::from(addr));
    }
}

/// The engine asks the gateway's pool while answering a CFG_REQUEST
/// ([RFC 7296 §3.15](https://www.rfc-editor.org/rfc/rfc7296#section-3.15)); IPv6 pools are not
/// offered yet.
impl ikev2::cp::AddressPool for AddressPool {
    fn allocate_v4(
        &mut self,
        pool: &str,
        peer: &Identity,
        requested: Option<Ipv4Addr>,
    ) -> Option<Ipv4Addr> {
        if pool != POOL_NAME {
            return None;
        }
        let leased = self.allocate(requested);
        match leased {
            Some(addr) => tracing::info!(%peer, %addr, "leased virtual IP"),
            None => tracing::warn!(%peer, "address pool exhausted"),
        }
        leased
    }

    fn allocate_v6(&mut self, _: &str, _: &Identity, _: Option<Ipv6Addr>) -> Option<Ipv6Addr> {
        None
    }

    fn release(&mut self, pool: &str, address: IpAddr) {
        if let (POOL_NAME, IpAddr::V4(addr)) = (pool, address) {
            self.release(addr);
            tracing::info!(%addr, "released virtual IP");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(net: &str) -> AddressPool {
        AddressPool::new(net.parse().unwrap())
    }

    #[test]
    fn skips_reserved_addresses_and_exhausts() {
        let mut p = pool("10.200.0.0/29");
        let got: Vec<_> = std::iter::from_fn(|| p.allocate(None)).collect();
        let want: Vec<Ipv4Addr> = (2..=6).map(|h| Ipv4Addr::new(10, 200, 0, h)).collect();
        assert_eq!(
            got, want,
            ".0 network, .1 gateway, .7 broadcast are never leased"
        );
        assert_eq!(p.allocate(None), None);
        p.release(Ipv4Addr::new(10, 200, 0, 4));
        assert_eq!(p.allocate(None), Some(Ipv4Addr::new(10, 200, 0, 4)));
    }

    #[test]
    fn honours_free_requested_address_only() {
        let mut p = pool("10.200.0.0/24");
        let a = Ipv4Addr::new(10, 200, 0, 77);
        assert_eq!(p.allocate(Some(a)), Some(a));
        assert_eq!(
            p.allocate(Some(a)),
            Some(Ipv4Addr::new(10, 200, 0, 2)),
            "taken"
        );
        assert_eq!(
            p.allocate(Some(Ipv4Addr::new(10, 200, 0, 1))),
            Some(Ipv4Addr::new(10, 200, 0, 3)),
            "the gateway's own address is never leased"
        );
        assert_eq!(
            p.allocate(Some(Ipv4Addr::new(192, 0, 2, 1))),
            Some(Ipv4Addr::new(10, 200, 0, 4)),
            "outside the pool"
        );
        p.release(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(
            p.leased.len(),
            4,
            "releasing a foreign address changes nothing"
        );
    }
}
