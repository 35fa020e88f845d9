//! One immutable version of the SA database: what the workers look packets up in.
//!
//! Inbound SAs are found by SPI. Outbound SAs are found by the inner destination address:
//! single-address selectors (a gateway's virtual IP per client) in a hash map, wider selectors (a
//! client's protected networks) in a list ordered most specific first, so the narrowest range
//! that contains the destination wins.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::selector::destination_address;
use crate::wire::EspHeader;
use crate::{Error, InboundSa, Opened, OutboundSa, PacketBuf, Sealed, TrafficSelector};

/// A map keyed by SPIs or addresses, with a fixed (unseeded) hasher: the keys are SPIs we chose
/// at random and addresses from our own pool, so no peer can pick colliding keys, and lookups do
/// not depend on process randomness.
type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHasher>>;

/// The SAs in force at one moment. Workers read it; the control plane edits a copy inside
/// [`crate::SaDatabase::update`].
#[derive(Debug, Clone, Default)]
pub struct SaTable {
    inbound: FastMap<u32, Arc<InboundSa>>,
    hosts: FastMap<IpAddr, Arc<OutboundSa>>,
    /// Ranges wider than one address, narrowest first.
    ranges: Vec<(TrafficSelector, Arc<OutboundSa>)>,
}

impl SaTable {
    /// The inbound SA with this SPI.
    pub fn inbound(&self, spi: u32) -> Option<&Arc<InboundSa>> {
        self.inbound.get(&spi)
    }

    /// The outbound SA whose selectors contain `destination`, the most specific one if several do.
    pub fn outbound(&self, destination: IpAddr) -> Option<&Arc<OutboundSa>> {
        self.hosts.get(&destination).or_else(|| {
            self.ranges
                .iter()
                .find(|(selector, _)| selector.contains(destination))
                .map(|(_, sa)| sa)
        })
    }

    /// Opens the ESP packet in `buf` with the inbound SA its SPI names
    /// (see [`InboundSa::open`]); also returns that SA.
    pub fn open(
        &self,
        now: Instant,
        buf: &mut PacketBuf,
    ) -> Result<(Opened, &Arc<InboundSa>), Error> {
        let spi = EspHeader::new_checked(buf.data())?.spi();
        let sa = self.inbound(spi).ok_or(Error::UnknownSpi(spi))?;
        Ok((sa.open(now, buf)?, sa))
    }

    /// Seals the inner packet in `buf` with the outbound SA for its destination
    /// (see [`OutboundSa::seal`]); also returns that SA, whose SPI names the peer to send to.
    pub fn seal(&self, buf: &mut PacketBuf) -> Result<(Sealed, &Arc<OutboundSa>), Error> {
        let destination = destination_address(buf.data())?;
        let sa = self.outbound(destination).ok_or(Error::NoRoute)?;
        Ok((sa.seal(buf)?, sa))
    }

    /// Number of inbound SAs.
    pub fn inbound_len(&self) -> usize {
        self.inbound.len()
    }

    /// All inbound SAs, in no particular order.
    pub fn inbound_sas(&self) -> impl Iterator<Item = &Arc<InboundSa>> {
        self.inbound.values()
    }

    /// All outbound routes: selector and SA, in no particular order.
    pub fn outbound_routes(&self) -> impl Iterator<Item = (TrafficSelector, &Arc<OutboundSa>)> {
        self.hosts
            .iter()
            .map(|(address, sa)| (TrafficSelector::host(*address), sa))
            .chain(self.ranges.iter().map(|(selector, sa)| (*selector, sa)))
    }

    /// Adds an inbound SA; an SA with the same SPI is replaced and returned.
    pub fn insert_inbound(&mut self, sa: Arc<InboundSa>) -> Option<Arc<InboundSa>> {
        self.inbound.insert(sa.spi(), sa)
    }

    /// Removes the inbound SA with this SPI.
    pub fn remove_inbound(&mut self, spi: u32) -> Option<Arc<InboundSa>> {
        self.inbound.remove(&spi)
    }

    /// Sends traffic for each of `selectors` through `sa`, replacing the SA that had exactly that
    /// selector before: during a rekey this is the single step that switches outbound traffic to
    /// the new SA (make-before-break).
    pub fn route_outbound(&mut self, sa: &Arc<OutboundSa>, selectors: &[TrafficSelector]) {
        for selector in selectors {
            if let Some(address) = selector.as_host() {
                self.hosts.insert(address, Arc::clone(sa));
                continue;
            }
            match self.ranges.iter_mut().find(|(known, _)| known == selector) {
                Some((_, routed)) => *routed = Arc::clone(sa),
                None => {
                    let at = self
                        .ranges
                        .partition_point(|(known, _)| known.span() <= selector.span());
                    self.ranges.insert(at, (*selector, Arc::clone(sa)));
                }
            }
        }
    }

    /// Removes every route through `sa` (compared by identity: two peers may pick the same
    /// outbound SPI).
    pub fn remove_outbound(&mut self, sa: &Arc<OutboundSa>) {
        self.hosts.retain(|_, routed| !Arc::ptr_eq(routed, sa));
        self.ranges.retain(|(_, routed)| !Arc::ptr_eq(routed, sa));
    }
}

/// A multiply-rotate word hasher (the Fx hash) for SPIs and addresses.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WordHasher {
    state: u64,
}

impl WordHasher {
    const MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;

    fn add(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(Self::MULTIPLIER);
    }
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let mut word = [0u8; 8];
        let rest = chunks.remainder();
        if !rest.is_empty() {
            if let Some(head) = word.get_mut(..rest.len()) {
                head.copy_from_slice(rest);
            }
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        // Fold the well-mixed high bits into the low bits the table indexes with.
        self.state ^ (self.state >> 29)
    }
}
