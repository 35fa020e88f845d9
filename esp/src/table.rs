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
//!
//! Every edit publishes a new version, so the maps are [`ShardedMap`]s: a version shares all
//! but the edited shards with the one before, so an edit copies ~1/256 of the SAs, not all.
//! An index from each outbound SA to the places it is routed under lets
//! [`SaTable::remove_outbound`] visit only those.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::flow::Flow;
use crate::selector::ANY_PROTOCOL;
use crate::wire::EspHeader;
use crate::{Error, InboundSa, Opened, OutboundSa, PacketBuf, Sealed, ShardedMap, TrafficSelector};

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
    /// is there, points that one at the new SA and returns the SA it pointed at before (if that
    /// was another one).
    fn insert(routes: &mut Vec<Route>, route: Route) -> Option<Arc<OutboundSa>> {
        if let Some(known) = routes
            .iter_mut()
            .find(|known| known.local == route.local && known.remote == route.remote)
        {
            let previous = std::mem::replace(&mut known.sa, route.sa);
            return (!Arc::ptr_eq(&previous, &known.sa)).then_some(previous);
        }
        let key = route.specificity();
        let at = routes.partition_point(|known| known.specificity() <= key);
        routes.insert(at, route);
        None
    }

    fn goes_through(&self, sa: &Arc<OutboundSa>) -> bool {
        Arc::ptr_eq(&self.sa, sa)
    }
}

/// An outbound SA's identity in the route index: its address. An SA is in the index only while
/// a route holds it, so no other SA can have its address meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SaId(usize);

impl SaId {
    fn of(sa: &Arc<OutboundSa>) -> Self {
        Self(Arc::as_ptr(sa).addr())
    }
}

/// Where one outbound SA has routes: the single peer addresses, and whether in the ranges.
#[derive(Debug, Clone, Default)]
struct RoutedUnder {
    hosts: Addresses,
    ranges: bool,
}

/// One place routes live: the list for a single peer address, or the ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Host(IpAddr),
    Ranges,
}

impl RoutedUnder {
    fn with(&self, place: Place) -> Self {
        match place {
            Place::Host(address) if !self.hosts.as_slice().contains(&address) => Self {
                hosts: Addresses::from(
                    self.hosts
                        .as_slice()
                        .iter()
                        .copied()
                        .chain([address])
                        .collect::<Vec<_>>(),
                ),
                ranges: self.ranges,
            },
            Place::Host(_) => self.clone(),
            Place::Ranges => Self {
                hosts: self.hosts.clone(),
                ranges: true,
            },
        }
    }

    /// Without `place`; `None` if that leaves nothing.
    fn without(&self, place: Place) -> Option<Self> {
        let remaining = match place {
            Place::Host(address) => Self {
                hosts: Addresses::from(
                    self.hosts
                        .as_slice()
                        .iter()
                        .copied()
                        .filter(|&known| known != address)
                        .collect::<Vec<_>>(),
                ),
                ranges: self.ranges,
            },
            Place::Ranges => Self {
                hosts: self.hosts.clone(),
                ranges: false,
            },
        };
        (remaining.ranges || !remaining.hosts.as_slice().is_empty()).then_some(remaining)
    }
}

/// A few addresses: one inline (a gateway's CHILD SA is routed to one virtual IP), more behind
/// a shared pointer. Copying a shard of the index then reads no memory outside it in the
/// common case.
#[derive(Debug, Clone, Default)]
enum Addresses {
    #[default]
    None,
    One(IpAddr),
    Many(Arc<[IpAddr]>),
}

impl Addresses {
    fn as_slice(&self) -> &[IpAddr] {
        match self {
            Addresses::None => &[],
            Addresses::One(address) => std::slice::from_ref(address),
            Addresses::Many(addresses) => addresses,
        }
    }
}

impl From<Vec<IpAddr>> for Addresses {
    fn from(addresses: Vec<IpAddr>) -> Self {
        match addresses.as_slice() {
            [] => Addresses::None,
            [address] => Addresses::One(*address),
            _ => Addresses::Many(addresses.into()),
        }
    }
}

/// The SAs in force at one moment. Workers read it; the control plane edits a copy inside
/// [`crate::SaDatabase::update`].
#[derive(Debug, Clone, Default)]
pub struct SaTable {
    inbound: ShardedMap<u32, Arc<InboundSa>>,
    /// Routes to a single peer address, by that address, most specific first.
    hosts: ShardedMap<IpAddr, Arc<[Route]>>,
    /// Routes to wider peer ranges, most specific first (few: a client's protected networks).
    ranges: Arc<Vec<Route>>,
    /// Where each outbound SA with routes is routed under.
    routed: ShardedMap<SaId, RoutedUnder>,
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
            .flat_map(|routes| routes.iter())
            .chain(self.ranges.iter())
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
                let route = Route {
                    local: *local,
                    remote: *remote,
                    sa: Arc::clone(sa),
                };
                let place = remote.as_host().map_or(Place::Ranges, Place::Host);
                self.add_route(place, route);
            }
        }
    }

    /// Removes every route through `sa` (compared by identity: two peers may pick the same
    /// outbound SPI). Visits only the places the index lists for `sa`.
    pub fn remove_outbound(&mut self, sa: &Arc<OutboundSa>) {
        let Some(under) = self.routed.remove(&SaId::of(sa)) else {
            return;
        };
        for address in under.hosts.as_slice() {
            let Some(routes) = self.hosts.get(address) else {
                continue;
            };
            let kept: Arc<[Route]> = routes
                .iter()
                .filter(|route| !route.goes_through(sa))
                .cloned()
                .collect();
            if kept.is_empty() {
                self.hosts.remove(address);
            } else {
                self.hosts.insert(*address, kept);
            }
        }
        if under.ranges {
            Arc::make_mut(&mut self.ranges).retain(|route| !route.goes_through(sa));
        }
    }

    /// Adds `route` at `place` and notes it in the index; a route it replaces no longer counts
    /// for the SA that route went through.
    fn add_route(&mut self, place: Place, route: Route) {
        let id = SaId::of(&route.sa);
        let displaced = match place {
            Place::Host(address) => {
                let mut routes = self
                    .hosts
                    .get(&address)
                    .map_or_else(Vec::new, |routes| routes.to_vec());
                let displaced = Route::insert(&mut routes, route);
                self.hosts.insert(address, routes.into());
                displaced
            }
            Place::Ranges => Route::insert(Arc::make_mut(&mut self.ranges), route),
        };
        let under = self.routed.get(&id).map_or_else(
            || RoutedUnder::default().with(place),
            |under| under.with(place),
        );
        self.routed.insert(id, under);
        if let Some(displaced) = displaced {
            self.forget_unless_routed(&displaced, place);
        }
    }

    /// Drops `place` from `sa`'s index entry if no route there goes through `sa` any more, and
    /// the entry if that leaves it empty.
    fn forget_unless_routed(&mut self, sa: &Arc<OutboundSa>, place: Place) {
        let still_routed = match place {
            Place::Host(address) => self
                .hosts
                .get(&address)
                .is_some_and(|routes| routes.iter().any(|route| route.goes_through(sa))),
            Place::Ranges => self.ranges.iter().any(|route| route.goes_through(sa)),
        };
        let id = SaId::of(sa);
        if still_routed {
            return;
        }
        match self.routed.get(&id).map(|under| under.without(place)) {
            Some(Some(remaining)) => {
                self.routed.insert(id, remaining);
            }
            Some(None) => {
                self.routed.remove(&id);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::*;
    use crate::{Algorithm, OutboundConfig};

    fn outbound(spi: u32) -> Arc<OutboundSa> {
        let config = OutboundConfig::new(spi, Algorithm::AesGcm128);
        Arc::new(OutboundSa::new(config, &[7; 20], &[]).unwrap())
    }

    fn host(last: u8) -> TrafficSelector {
        TrafficSelector::host(IpAddr::from([10, 0, 0, last]))
    }

    fn udp(destination: IpAddr, port: u16) -> Flow {
        Flow {
            source: IpAddr::from([192, 0, 2, 1]),
            destination,
            protocol: 17,
            source_port: Some(4000),
            destination_port: Some(port),
        }
    }

    /// The index lists, for every SA with a route, exactly the places its routes are, and
    /// nothing for any other SA.
    fn assert_index_exact(table: &SaTable) {
        let mut expected: HashMap<SaId, (Vec<IpAddr>, bool)> = HashMap::new();
        for (address, routes) in table.hosts.iter() {
            for route in routes.iter() {
                let entry = expected.entry(SaId::of(&route.sa)).or_default();
                if !entry.0.contains(address) {
                    entry.0.push(*address);
                }
            }
        }
        for route in table.ranges.iter() {
            expected.entry(SaId::of(&route.sa)).or_default().1 = true;
        }
        assert_eq!(table.routed.len(), expected.len());
        for (id, (mut hosts, ranges)) in expected {
            let under = table.routed.get(&id).expect("SA with routes is indexed");
            let mut indexed = under.hosts.as_slice().to_vec();
            indexed.sort_unstable();
            hosts.sort_unstable();
            assert_eq!((indexed, under.ranges), (hosts, ranges));
        }
    }

    #[test]
    fn remove_outbound_removes_exactly_that_sas_routes_even_with_a_shared_spi() {
        let mut table = SaTable::default();
        // Two peers picked the same SPI.
        let first = outbound(0x100);
        let second = outbound(0x100);
        let wide = TrafficSelector::prefix(IpAddr::from([10, 1, 0, 0]), 16).unwrap();
        table.route_outbound(&first, &[host(1), wide]);
        table.route_outbound(&second, &[host(2)]);
        table.route_outbound(&second, &[host(1).with_ports(17, 5060, 5060).unwrap()]);
        assert_index_exact(&table);

        table.remove_outbound(&first);
        assert_index_exact(&table);
        let through = |table: &SaTable, address: [u8; 4], port| {
            table
                .outbound(&udp(IpAddr::from(address), port))
                .map(Arc::as_ptr)
        };
        assert_eq!(
            through(&table, [10, 0, 0, 1], 5060),
            Some(Arc::as_ptr(&second))
        );
        assert_eq!(through(&table, [10, 0, 0, 1], 53), None);
        assert_eq!(
            through(&table, [10, 0, 0, 2], 53),
            Some(Arc::as_ptr(&second))
        );
        assert_eq!(through(&table, [10, 1, 2, 3], 53), None);
        assert_eq!(table.outbound_routes().count(), 2);

        table.remove_outbound(&second);
        assert_eq!(table.outbound_routes().count(), 0);
        assert!(table.hosts.is_empty() && table.ranges.is_empty() && table.routed.is_empty());
        // Removing an SA with no routes changes nothing.
        table.remove_outbound(&first);
        assert_index_exact(&table);
    }

    #[test]
    fn a_route_taken_over_by_a_new_sa_leaves_the_old_sa_unindexed() {
        let mut table = SaTable::default();
        let old = outbound(1);
        let new = outbound(2);
        let wide = TrafficSelector::prefix(IpAddr::from([10, 1, 0, 0]), 16).unwrap();
        table.route_outbound(&old, &[host(1), wide]);
        table.route_outbound(&new, &[host(1), wide]);
        assert_index_exact(&table);
        assert!(table.routed.get(&SaId::of(&old)).is_none());
        // Removing the old SA afterwards must not take the new SA's routes with it.
        table.remove_outbound(&old);
        assert_eq!(table.outbound_routes().count(), 2);
        assert_index_exact(&table);
    }

    #[test]
    fn an_older_snapshot_keeps_its_routes() {
        let mut table = SaTable::default();
        let sa = outbound(1);
        table.route_outbound(&sa, &[host(1)]);
        let snapshot = table.clone();
        table.remove_outbound(&sa);
        assert!(table
            .outbound(&udp(IpAddr::from([10, 0, 0, 1]), 53))
            .is_none());
        assert!(snapshot
            .outbound(&udp(IpAddr::from([10, 0, 0, 1]), 53))
            .is_some());
    }

    /// One edit of the routes, on a few SAs and a few addresses so that edits collide.
    #[derive(Debug, Clone)]
    enum Edit {
        /// Route SA `sa` to host `host` (0..4), or to the wide range for host 4; with a port
        /// restriction if `port` is set.
        Route {
            sa: usize,
            host: u8,
            port: bool,
        },
        Remove {
            sa: usize,
        },
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            3 => (0..6usize, 0..5u8, any::<bool>())
                .prop_map(|(sa, host, port)| Edit::Route { sa, host, port }),
            1 => (0..6usize).prop_map(|sa| Edit::Remove { sa }),
        ]
    }

    /// The table as it was before sharding: every list in one map, removal by a full scan.
    #[derive(Default)]
    struct Model {
        hosts: HashMap<IpAddr, Vec<Route>>,
        ranges: Vec<Route>,
    }

    impl Model {
        fn route(&mut self, route: Route) {
            let routes = match route.remote.as_host() {
                Some(address) => self.hosts.entry(address).or_default(),
                None => &mut self.ranges,
            };
            Route::insert(routes, route);
        }

        fn remove(&mut self, sa: &Arc<OutboundSa>) {
            for routes in self.hosts.values_mut() {
                routes.retain(|route| !route.goes_through(sa));
            }
            self.ranges.retain(|route| !route.goes_through(sa));
        }

        fn outbound(&self, flow: &Flow) -> Option<*const OutboundSa> {
            self.hosts
                .get(&flow.destination)
                .and_then(|routes| routes.iter().find(|route| route.matches(flow)))
                .or_else(|| self.ranges.iter().find(|route| route.matches(flow)))
                .map(|route| Arc::as_ptr(&route.sa))
        }
    }

    proptest! {
        /// Under any sequence of routes and removals (including SAs sharing an SPI), the table
        /// picks the same SA for every flow as the unsharded table did, and its index stays
        /// exact.
        #[test]
        fn routes_like_the_unsharded_table(edits in proptest::collection::vec(edit(), 0..60)) {
            // SAs 0 and 1 share an SPI, as two peers' SAs may.
            let sas: Vec<Arc<OutboundSa>> = [7, 7, 8, 9, 10, 11].map(outbound).to_vec();
            let wide = TrafficSelector::prefix(IpAddr::from([10, 0, 0, 0]), 24).unwrap();
            let mut table = SaTable::default();
            let mut model = Model::default();
            for edit in edits {
                match edit {
                    Edit::Route { sa, host: which, port } => {
                        let remote = if which < 4 { host(which) } else { wide };
                        let remote = if port { remote.with_ports(17, 5060, 5060).unwrap() } else { remote };
                        table.route_outbound(&sas[sa], &[remote]);
                        model.route(Route { local: None, remote, sa: Arc::clone(&sas[sa]) });
                    }
                    Edit::Remove { sa } => {
                        table.remove_outbound(&sas[sa]);
                        model.remove(&sas[sa]);
                    }
                }
                assert_index_exact(&table);
                for last in 0..6u8 {
                    for port in [53, 5060] {
                        let flow = udp(IpAddr::from(Ipv4Addr::new(10, 0, 0, last)), port);
                        prop_assert_eq!(table.outbound(&flow).map(Arc::as_ptr), model.outbound(&flow));
                    }
                }
            }
        }
    }
}
