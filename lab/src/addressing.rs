//! The lab's address plan. Every lab claims one /23 of the RFC 2544 benchmarking range
//! 198.18.0.0/15 (<https://www.rfc-editor.org/rfc/rfc2544#appendix-C.2.2>), so two labs never use
//! the same addresses even when they run side by side. A claim is an exclusive `flock` on a file
//! under `/run/eseg-lab`; the kernel drops it when the process dies, so a killed run cannot leak
//! blocks.
//!
//! Inside a block `B` (offsets from its first address):
//!
//! | range | use |
//! | --- | --- |
//! | `B+0/26` | the clients' LAN: next hop (router or gateway) `B+1`, client *i* `B+10+i` |
//! | `B+64/29` | router <-> gateway link: router `B+65`, gateway `B+66` (only with a router) |
//! | `B+128/25` | the protected subnet behind the gateway: gateway `B+129`, core `B+130`, P-CSCF `B+131`, DNS `B+132` |
//! | `B+256/24` | the virtual-IP pool, routed to the gateway by the core |
//!
//! IPv6 mirrors the plan in the RFC 5180 benchmarking prefix 2001:2::/48
//! (<https://www.rfc-editor.org/rfc/rfc5180#section-5>): block *b* uses the /64s
//! `2001:2:0:bbSS::/64` with segment `SS` = 00 LAN (next hop `::1`, client *i* `::10+i`), 01
//! router <-> gateway (`::1` router, `::2` gateway), 02 protected (`::1` gateway, `::2` core,
//! `::3` P-CSCF, `::4` DNS), 03 pool.

use std::fs::{File, OpenOptions};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use ipnet::{Ipv4Net, Ipv6Net};
use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};

/// First address of the benchmarking range.
const RANGE_START: u32 = u32::from_be_bytes([198, 18, 0, 0]);
/// Addresses per lab block (a /23).
const BLOCK_SIZE: u32 = 512;
/// Number of blocks in 198.18.0.0/15.
pub const BLOCK_COUNT: u32 = 256;
/// Most clients one lab can hold (the LAN /26 minus next hop and spare addresses).
pub const MAX_CLIENTS: usize = 50;

/// Where block claims live.
const CLAIM_DIR: &str = "/run/eseg-lab";

/// Every address and subnet of one lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabAddresses {
    /// The whole block this lab owns.
    pub block: Ipv4Net,
    /// The clients' LAN.
    pub lan: Ipv4Net,
    /// The clients' next hop on the LAN: the router, or the gateway when there is none.
    pub lan_next_hop: Ipv4Addr,
    /// Each client's outer address, by index.
    pub clients: Vec<Ipv4Addr>,
    /// The router <-> gateway link, when there is a router.
    pub wan: Option<Ipv4Net>,
    /// The router's address on the gateway side, when there is a router.
    pub router_wan: Option<Ipv4Addr>,
    /// The gateway's outer address: where clients send IKE and ESP.
    pub gateway_outer: Ipv4Addr,
    /// The protected subnet behind the gateway (the gateway <-> core link).
    pub protected: Ipv4Net,
    /// The gateway's address on the protected subnet (the core's next hop for the pool).
    pub gateway_inner: Ipv4Addr,
    /// The core host's main address.
    pub core: Ipv4Addr,
    /// A second core address to hand out as P-CSCF.
    pub pcscf: Ipv4Addr,
    /// A third core address to hand out as DNS server.
    pub dns: Ipv4Addr,
    /// The virtual-IP pool; the core routes it to the gateway (TR 33.830 clause 8.2 NOTE 2).
    pub pool: Ipv4Net,
    /// The same plan in IPv6.
    pub v6: LabAddresses6,
}

/// The IPv6 addresses of one lab (same roles as in [`LabAddresses`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabAddresses6 {
    /// The clients' LAN.
    pub lan: Ipv6Net,
    /// The clients' next hop on the LAN.
    pub lan_next_hop: Ipv6Addr,
    /// Each client's outer address, by index.
    pub clients: Vec<Ipv6Addr>,
    /// The router <-> gateway link, when there is a router.
    pub wan: Option<Ipv6Net>,
    /// The router's address on the gateway side, when there is a router.
    pub router_wan: Option<Ipv6Addr>,
    /// The gateway's outer address.
    pub gateway_outer: Ipv6Addr,
    /// The protected subnet behind the gateway.
    pub protected: Ipv6Net,
    /// The gateway's address on the protected subnet.
    pub gateway_inner: Ipv6Addr,
    /// The core host's main address.
    pub core: Ipv6Addr,
    /// A second core address to hand out as P-CSCF.
    pub pcscf: Ipv6Addr,
    /// A third core address to hand out as DNS server.
    pub dns: Ipv6Addr,
    /// The virtual-IP pool, routed to the gateway by the core.
    pub pool: Ipv6Net,
}

impl LabAddresses6 {
    fn plan(index: u32, clients: usize, with_router: bool) -> Result<Self> {
        let block = u16::try_from(index).map_err(|e| Error::Invalid(e.to_string()))?;
        let segment = |s: u16| Ipv6Addr::new(0x2001, 2, 0, (block << 8) | s, 0, 0, 0, 0);
        let at = |s: u16, host: u16| Ipv6Addr::new(0x2001, 2, 0, (block << 8) | s, 0, 0, 0, host);
        let net = |s: u16| Ipv6Net::new(segment(s), 64).map_err(|e| Error::Invalid(e.to_string()));
        Ok(LabAddresses6 {
            lan: net(0)?,
            lan_next_hop: at(0, 1),
            clients: (0..clients)
                .map(|i| at(0, 0x10 + u16::try_from(i).unwrap_or(u16::MAX)))
                .collect(),
            wan: if with_router { Some(net(1)?) } else { None },
            router_wan: with_router.then(|| at(1, 1)),
            gateway_outer: if with_router { at(1, 2) } else { at(0, 1) },
            protected: net(2)?,
            gateway_inner: at(2, 1),
            core: at(2, 2),
            pcscf: at(2, 3),
            dns: at(2, 4),
            pool: net(3)?,
        })
    }
}

impl LabAddresses {
    /// The plan for block number `index` (< [`BLOCK_COUNT`]) with `clients` clients.
    pub fn plan(index: u32, clients: usize, with_router: bool) -> Result<Self> {
        if index >= BLOCK_COUNT {
            return Err(Error::Invalid(format!("block {index} out of range")));
        }
        if clients == 0 || clients > MAX_CLIENTS {
            return Err(Error::Invalid(format!(
                "{clients} clients (1..={MAX_CLIENTS} supported)"
            )));
        }
        let base = RANGE_START + index * BLOCK_SIZE;
        let at = |offset: u32| Ipv4Addr::from(base + offset);
        let net = |offset: u32, len: u8| {
            Ipv4Net::new(at(offset), len).map_err(|e| Error::Invalid(e.to_string()))
        };
        let client_addrs = (0..clients)
            .map(|i| at(10 + u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        Ok(LabAddresses {
            block: net(0, 23)?,
            lan: net(0, 26)?,
            lan_next_hop: at(1),
            clients: client_addrs,
            wan: if with_router {
                Some(net(64, 29)?)
            } else {
                None
            },
            router_wan: with_router.then(|| at(65)),
            gateway_outer: if with_router { at(66) } else { at(1) },
            protected: net(128, 25)?,
            gateway_inner: at(129),
            core: at(130),
            pcscf: at(131),
            dns: at(132),
            pool: net(256, 24)?,
            v6: LabAddresses6::plan(index, clients, with_router)?,
        })
    }
}

/// An exclusive claim on one address block, released on drop (or when the process dies).
#[derive(Debug)]
pub(crate) struct BlockClaim {
    index: u32,
    _lock: Flock<File>,
}

impl BlockClaim {
    /// Claims the first free block, probing from `hint`.
    pub(crate) fn acquire(hint: u32) -> Result<Self> {
        let dir = PathBuf::from(CLAIM_DIR);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        for step in 0..BLOCK_COUNT {
            let index = (hint + step) % BLOCK_COUNT;
            let path = dir.join(format!("block-{index}"));
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
            if let Ok(lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                return Ok(BlockClaim { index, _lock: lock });
            }
        }
        Err(Error::NoFreeBlock { dir })
    }

    /// The claimed block's number.
    pub(crate) fn index(&self) -> u32 {
        self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_places_every_subnet_inside_the_block_without_overlap() {
        for index in [0, 1, 255] {
            let a = LabAddresses::plan(index, 3, true).unwrap();
            let subnets = [a.lan, a.wan.unwrap(), a.protected, a.pool];
            for s in subnets {
                assert!(a.block.contains(&s), "{s} outside {}", a.block);
            }
            for (i, x) in subnets.iter().enumerate() {
                for y in &subnets[i + 1..] {
                    assert!(!x.contains(y) && !y.contains(x), "{x} overlaps {y}");
                }
            }
            assert!(a.lan.contains(&a.lan_next_hop));
            assert!(a.clients.iter().all(|c| a.lan.contains(c)));
            assert!(a.wan.unwrap().contains(&a.gateway_outer));
            for h in [a.gateway_inner, a.core, a.pcscf, a.dns] {
                assert!(a.protected.contains(&h));
            }
        }
    }

    #[test]
    fn ipv6_plan_mirrors_ipv4_inside_the_benchmarking_prefix() {
        let range: Ipv6Net = "2001:2::/48".parse().unwrap();
        let a = LabAddresses::plan(255, 2, true).unwrap().v6;
        let nets = [a.lan, a.wan.unwrap(), a.protected, a.pool];
        for (i, n) in nets.iter().enumerate() {
            assert!(range.contains(n), "{n}");
            for m in &nets[i + 1..] {
                assert!(!n.contains(m) && !m.contains(n));
            }
        }
        assert!(a.clients.iter().all(|c| a.lan.contains(c)));
        assert!(a.wan.unwrap().contains(&a.gateway_outer));
        assert!(a.protected.contains(&a.core) && a.protected.contains(&a.dns));
        let other = LabAddresses::plan(254, 2, true).unwrap().v6;
        assert_ne!(other.lan, a.lan);
        let direct = LabAddresses::plan(0, 1, false).unwrap().v6;
        assert_eq!(direct.gateway_outer, direct.lan_next_hop);
    }

    #[test]
    fn blocks_are_disjoint_and_inside_the_benchmarking_range() {
        let range: Ipv4Net = "198.18.0.0/15".parse().unwrap();
        let first = LabAddresses::plan(0, 1, false).unwrap();
        let last = LabAddresses::plan(BLOCK_COUNT - 1, 1, false).unwrap();
        assert!(range.contains(&first.block) && range.contains(&last.block));
        let second = LabAddresses::plan(1, 1, false).unwrap();
        assert!(!first.block.contains(&second.block.network()));
        assert_eq!(first.gateway_outer, first.lan_next_hop);
    }

    #[test]
    fn plan_rejects_bad_requests() {
        assert!(LabAddresses::plan(BLOCK_COUNT, 1, false).is_err());
        assert!(LabAddresses::plan(0, 0, false).is_err());
        assert!(LabAddresses::plan(0, MAX_CLIENTS + 1, false).is_err());
    }
}
