//! Where the sealed packets of each outbound SA go: the peer's current outer address (and later
//! the TCP connection), looked up by the SA's egress key: our inbound SPI of the same CHILD SA
//! ([`esp::OutboundSa::egress_key`]). Not the outbound SPI: the peer picks that, and two peers
//! may pick the same one, which would send one peer's packets to the other.
//!
//! The table is read by every worker without locks and replaced by the control task when an SA
//! is installed or removed, or when the peer's NAT mapping changes (RFC 7296 §2.23: ESP follows
//! the IKE SA's latest authenticated address). Same pattern as `esp::SaDatabase`, and the same
//! copy-on-write map ([`esp::ShardedMap`]), so an edit copies ~1/256 of the entries, not all.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::{ArcSwap, Cache};
use esp::ShardedMap;
use ikev2::path::{Path, TcpConnectionId, Transport};

/// One published version of the table, by egress key. The keys are SPIs we chose at random, so
/// the fixed hasher of the SA table serves (no peer picks them).
type Map = ShardedMap<u32, Egress>;

/// How one outbound SA's packets leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Egress {
    /// ESP-in-UDP (RFC 3948) from our `local` socket to the peer's `remote` address.
    Udp {
        /// Our address and port (the NAT-T socket it leaves from).
        local: SocketAddr,
        /// The peer's address and port.
        remote: SocketAddr,
    },
    /// TPKT' frames on one TCP connection (TR 33.830 clause 8.5.2.3).
    Tcp {
        /// The connection (see `dataplane::tcp_conn`).
        connection: TcpConnectionId,
    },
}

impl Egress {
    /// Where ESP goes for an IKE SA on `path`: the same UDP addresses or the same TCP
    /// connection.
    pub fn for_path(path: &Path) -> Self {
        match path.transport {
            Transport::Udp => Egress::Udp {
                local: path.local,
                remote: path.remote,
            },
            Transport::Tcp(connection) => Egress::Tcp { connection },
        }
    }
}

/// The egress of every outbound SA, by egress key.
#[derive(Debug)]
pub struct EgressTable {
    current: Arc<ArcSwap<Map>>,
    writer: Mutex<()>,
}

impl EgressTable {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            current: Arc::new(ArcSwap::from_pointee(Map::new())),
            writer: Mutex::new(()),
        }
    }

    /// A per-worker reader.
    pub fn reader(&self) -> EgressReader {
        EgressReader {
            cache: Cache::new(Arc::clone(&self.current)),
        }
    }

    /// Copies the table, edits the copy and publishes it in one step. The copy shares all
    /// but the edited shards with the version before.
    pub fn update<R>(&self, edit: impl FnOnce(&mut Map) -> R) -> R {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut table = Map::clone(&self.current.load());
        let result = edit(&mut table);
        self.current.store(Arc::new(table));
        result
    }

    /// The egress of one SA, for status and tests.
    pub fn get(&self, egress_key: u32) -> Option<Egress> {
        self.current.load().get(&egress_key).copied()
    }
}

impl Default for EgressTable {
    fn default() -> Self {
        Self::new()
    }
}

/// One worker's cached view of the [`EgressTable`].
pub struct EgressReader {
    cache: Cache<Arc<ArcSwap<Map>>, Arc<Map>>,
}

impl EgressReader {
    /// The egress of the outbound SA with this egress key.
    pub fn get(&mut self, egress_key: u32) -> Option<Egress> {
        self.cache.load().get(&egress_key).copied()
    }
}

impl std::fmt::Debug for EgressReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressReader").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_see_updates() {
        let table = EgressTable::new();
        let mut reader = table.reader();
        assert_eq!(reader.get(7), None);
        let first = Egress::Udp {
            local: "0.0.0.0:4500".parse().unwrap(),
            remote: "192.0.2.1:4500".parse().unwrap(),
        };
        table.update(|t| t.insert(7, first));
        assert_eq!(reader.get(7), Some(first));
        let moved = Egress::Udp {
            local: "0.0.0.0:4500".parse().unwrap(),
            remote: "192.0.2.1:61000".parse().unwrap(),
        };
        table.update(|t| t.insert(7, moved));
        assert_eq!(reader.get(7), Some(moved));
        table.update(|t| t.remove(&7));
        assert_eq!(reader.get(7), None);
        assert_eq!(table.get(7), None);
    }

    #[test]
    fn an_edit_leaves_other_sas_and_earlier_versions_alone() {
        let table = EgressTable::new();
        let egress = |spi: u32| Egress::Tcp {
            connection: TcpConnectionId(u64::from(spi)),
        };
        table.update(|t| {
            for spi in 1..=5000 {
                t.insert(spi, egress(spi));
            }
        });
        let before = Arc::clone(&table.current.load());
        let moved = Egress::Tcp {
            connection: TcpConnectionId(99_999),
        };
        table.update(|t| {
            if let Some(entry) = t.get_mut(&42) {
                *entry = moved;
            }
            t.remove(&43);
        });
        let mut reader = table.reader();
        assert_eq!(reader.get(42), Some(moved));
        assert_eq!(reader.get(43), None);
        assert_eq!(reader.get(44), Some(egress(44)));
        assert_eq!(before.get(&42), Some(&egress(42)));
        assert_eq!(before.get(&43), Some(&egress(43)));
        assert_eq!(table.current.load().len(), 4999);
    }
}
