//! One immutable version of the SA database: what the workers look packets up in.
//!
//! Inbound SAs are found by SPI. Outbound SAs are found by the inner packet's selector fields
//! ([`Flow`]): each route is a pair of traffic selectors (the peer's, which the destination side
//! must match, and ours, which the source side must match) and an SA
//! (<https://www.rfc-editor.org/rfc/rfc4301#section-4.4.1>). Routes whose peer selector is a
//! single address (a gateway's virtual IP per client) sit in a hash map keyed by that address,
//! each entry a short list of candidates; wider ones (a client's protected networks) in one list.
//! Both lists are ordered most specific first (narrowest peer range, then narrowest local range,
//! then a named protocol before "any", then the narrowest ports), so the first match wins: two
//! CHILD SAs to one virtual IP, say SIP on port 5060 and RTP on 10000-20000, each get their own
//! packets, and a catch-all SA gets the rest.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::flow::Flow;
use crate::selector::ANY_PROTOCOL;
use crate::wire::EspHeader;
use crate::{Error, InboundSa, Opened, OutboundSa, PacketBuf, Sealed, TrafficSelector};

/// A map keyed by SPIs or addresses, with a fixed (unseeded) hasher: the keys are SPIs we chose
/// at random and addresses from our own pool, so no peer can pick colliding keys, and lookups do
/// not depend on process randomness.
type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHasher>>;

/// One outbound route: the selectors a packet must match, and the SA it then goes through.
#[derive(Debug, Clone)]
struct Route {
    /// Our selector, matched by the packet's source side; `None` matches any source.
    local: Option<TrafficSelector>,
    /// The peer's selector, matched by the packet's destination side.
    remote: TrafficSelector,
    sa: Arc<OutboundSa>,
}

impl Route {
    fn matches(&self, flow: &Flow) -> bool {
        self.remote
            .matches(flow.destination, flow.protocol, flow.destination_port)
            && self
                .local
                .is_none_or(|local| local.matches(flow.source, flow.protocol, flow.source_port))
    }

    /// Orders routes most specific first: peer address span, local address span, any protocol
    /// after a named one, then the ports' spans.
    fn specificity(&self) -> (u128, u128, bool, u32) {
        let local = self.local.as_ref();
        let any_protocol = self.remote.protocol() == ANY_PROTOCOL
            && local.is_none_or(|local| local.protocol() == ANY_PROTOCOL);
        let port_span = u32::from(self.remote.port_span())
            + local.map_or(u32::from(u16::MAX), |local| u32::from(local.port_span()));
        (
            self.remote.span(),
            local.map_or(u128::MAX, TrafficSelector::span),
            any_protocol,
            port_span,
        )
    }

    /// Adds `route` to `routes` in order of specificity, or, if a route with the same selectors
    /// is there, points that one at the new SA.
    fn insert(routes: &mut Vec<Route>, route: Route) {
        if let Some(known) = routes
            .iter_mut()
            .find(|known| known.local == route.local && known.remote == route.remote)
        {
            known.sa = route.sa;
            return;
        }
        let key = route.specificity();
        let at = routes.partition_point(|known| known.specificity() <= key);
        routes.insert(at, route);
    }
}

/// The SAs in force at one moment. Workers read it; the control plane edits a copy inside
/// [`crate::SaDatabase::update`].
#[derive(Debug, Clone, Default)]
pub struct SaTable {
    inbound: FastMap<u32, Arc<InboundSa>>,
    /// Routes to a single peer address, by that address, most specific first.
    hosts: FastMap<IpAddr, Vec<Route>>,
    /// Routes to wider peer ranges, most specific first.
    ranges: Vec<Route>,
}

impl SaTable {
    /// The inbound SA with this SPI.
    pub fn inbound(&self, spi: u32) -> Option<&Arc<InboundSa>> {
        self.inbound.get(&spi)
    }

    /// The outbound SA whose selectors match `flow`, the most specific one if several do.
    pub fn outbound(&self, flow: &Flow) -> Option<&Arc<OutboundSa>> {
        self.hosts
            .get(&flow.destination)
            .and_then(|routes| routes.iter().find(|route| route.matches(flow)))
            .or_else(|| self.ranges.iter().find(|route| route.matches(flow)))
            .map(|route| &route.sa)
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

    /// Seals the inner packet in `buf` with the outbound SA its selectors pick
    /// (see [`OutboundSa::seal`]); also returns that SA, whose SPI names the peer to send to.
    pub fn seal(&self, buf: &mut PacketBuf) -> Result<(Sealed, &Arc<OutboundSa>), Error> {
        let flow = Flow::of(buf.data())?;
        let sa = self.outbound(&flow).ok_or(Error::NoRoute)?;
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

    /// All outbound routes: the peer's selector and SA, in no particular order.
    pub fn outbound_routes(&self) -> impl Iterator<Item = (TrafficSelector, &Arc<OutboundSa>)> {
        self.hosts
            .values()
            .flatten()
            .chain(&self.ranges)
            .map(|route| (route.remote, &route.sa))
    }

    /// Adds an inbound SA; an SA with the same SPI is replaced and returned.
    pub fn insert_inbound(&mut self, sa: Arc<InboundSa>) -> Option<Arc<InboundSa>> {
        self.inbound.insert(sa.spi(), sa)
    }

    /// Removes the inbound SA with this SPI.
    pub fn remove_inbound(&mut self, spi: u32) -> Option<Arc<InboundSa>> {
        self.inbound.remove(&spi)
    }

    /// Sends traffic to each of the peer's `selectors`, from any source, through `sa` (see
    /// [`Self::route_outbound_between`]).
    pub fn route_outbound(&mut self, sa: &Arc<OutboundSa>, selectors: &[TrafficSelector]) {
        self.route_outbound_between(sa, &[], selectors);
    }

    /// Sends traffic from any of our `local` selectors (empty: any source) to any of the peer's
    /// `remote` selectors through `sa`, replacing the SA that had exactly that selector pair
    /// before: during a rekey this is the single step that switches outbound traffic to the new
    /// SA (make-before-break).
    pub fn route_outbound_between(
        &mut self,
        sa: &Arc<OutboundSa>,
        local: &[TrafficSelector],
        remote: &[TrafficSelector],
    ) {
        let locals: Vec<Option<TrafficSelector>> = if local.is_empty() {
            vec![None]
        } else {
            local.iter().copied().map(Some).collect()
        };
        for remote in remote {
            for local in &locals {
                let routes = match remote.as_host() {
                    Some(address) => self.hosts.entry(address).or_default(),
                    None => &mut self.ranges,
                };
                let route = Route {
                    local: *local,
                    remote: *remote,
                    sa: Arc::clone(sa),
                };
                Route::insert(routes, route);
            }
        }
    }

    /// Removes every route through `sa` (compared by identity: two peers may pick the same
    /// outbound SPI).
    pub fn remove_outbound(&mut self, sa: &Arc<OutboundSa>) {
        for routes in self.hosts.values_mut() {
            routes.retain(|route| !Arc::ptr_eq(&route.sa, sa));
        }
        self.hosts.retain(|_, routes| !routes.is_empty());
        self.ranges.retain(|route| !Arc::ptr_eq(&route.sa, sa));
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
