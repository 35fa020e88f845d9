//! The control task's record of its IKE SAs, kept up to date from the engine's events: which
//! CHILD SAs are installed in the data path, where the peer is, what address it was given. It
//! applies the data-path side of each event (install, remove, move), computes the activity
//! reports the engine needs for liveness, and renders the status report.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Instant;

use ikev2::cp::VirtualIp;
use ikev2::events::{ChildSaId, Event, IkeSaHandle};
use ikev2::identity::Identity;
use ikev2::path::Path;

use super::egress::Egress;
use super::install::InstalledChild;
use super::status::{ChildSaStatus, IkeSaStatus, StatusReport};
use super::Shared;

/// IKE SAs whose CHILD SAs one activity report reads at least; up to this many, every report
/// reads them all.
const ACTIVITY_SCAN_MIN: usize = 10_000;

/// Above [`ACTIVITY_SCAN_MIN`] IKE SAs, the reports over which all of them are read once: each
/// report reads its share where the last one stopped, so the control task's cost per report stays
/// bounded by this share and an SA's activity reaches the engine at most this many reports late
/// (liveness checks and byte/packet lifetimes are tens of seconds or more).
const ACTIVITY_SWEEP_REPORTS: usize = 10;

/// One CHILD SA in the data path, with the counters last reported to the engine.
#[derive(Debug)]
struct ChildRecord {
    installed: InstalledChild,
    udp_encapsulated: bool,
    reported_bytes: u64,
    reported_packets: u64,
    reported_last_inbound: Option<Instant>,
}

/// One IKE SA.
#[derive(Debug)]
struct SaRecord {
    path: Path,
    remote_id: Option<Identity>,
    established_at: Option<Instant>,
    virtual_ip: Option<VirtualIp>,
    closing: bool,
    /// We are behind a NAT: keep its mapping alive (RFC 3948 §2.3).
    nat_local: bool,
    /// MOBIKE was negotiated (RFC 4555).
    mobike: bool,
    children: BTreeMap<ChildSaId, ChildRecord>,
}

/// One CHILD SA's activity since the last report, for `Endpoint::report_child_activity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildActivity {
    /// The IKE SA.
    pub sa: IkeSaHandle,
    /// The CHILD SA.
    pub child: ChildSaId,
    /// When ESP last arrived on it.
    pub last_inbound: Option<Instant>,
    /// Bytes carried since the last report (both directions).
    pub bytes: u64,
    /// Packets carried since the last report (both directions).
    pub packets: u64,
}

/// Every IKE SA the control task knows.
#[derive(Debug)]
pub struct SaBook {
    shared: Arc<Shared>,
    sas: BTreeMap<IkeSaHandle, SaRecord>,
    /// The last IKE SA the previous activity report read (the next one starts after it).
    activity_cursor: Option<IkeSaHandle>,
}

impl SaBook {
    /// An empty book over the data plane's shared tables.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            sas: BTreeMap::new(),
            activity_cursor: None,
        }
    }

    /// Records an IKE SA we initiated, before any event about it.
    pub fn initiated(&mut self, sa: IkeSaHandle, path: Path) {
        self.sas.insert(sa, SaRecord::new(path));
    }

    /// The IKE SAs, e.g. to close them all on shutdown.
    pub fn handles(&self) -> Vec<IkeSaHandle> {
        self.sas.keys().copied().collect()
    }

    /// Whether no IKE SA is left.
    pub fn is_empty(&self) -> bool {
        self.sas.is_empty()
    }

    /// Marks an SA as being closed by us (for status).
    pub fn closing(&mut self, sa: IkeSaHandle) {
        if let Some(r) = self.sas.get_mut(&sa) {
            r.closing = true;
        }
    }

    /// The peer's current path of an IKE SA.
    pub fn path(&self, sa: IkeSaHandle) -> Option<Path> {
        self.sas.get(&sa).map(|r| r.path)
    }

    /// The paths of established IKE SAs that sit behind a NAT on our side.
    pub fn natted_paths(&self) -> Vec<Path> {
        self.sas
            .values()
            .filter(|r| r.nat_local && r.established_at.is_some() && !r.closing)
            .map(|r| r.path)
            .collect()
    }

    /// Applies the data-path side of one engine event and logs it inside the IKE SA's span.
    pub fn apply(&mut self, now: Instant, event: &Event) {
        let handle = event.sa();
        let peer = self.sas.get(&handle).map(|r| r.path.remote);
        let span = tracing::info_span!("ike_sa", sa = %handle, peer = ?peer);
        let _entered = span.enter();
        match event {
            Event::IkeSaEstablished {
                remote_id,
                path,
                nat_local,
                nat_remote,
                mobike,
                ..
            } => {
                let record = self
                    .sas
                    .entry(handle)
                    .or_insert_with(|| SaRecord::new(*path));
                record.path = *path;
                record.remote_id = Some(remote_id.clone());
                record.established_at = Some(now);
                record.nat_local = *nat_local;
                record.mobike = *mobike;
                tracing::info!(remote_id = %remote_id, remote = %path.remote, nat_local, nat_remote, mobike, "IKE SA established");
            }
            Event::ChildSaInstalled(child) => {
                let record = self
                    .sas
                    .entry(handle)
                    .or_insert_with(|| SaRecord::new(child.path));
                match self.shared.install_child(child) {
                    Ok(installed) => {
                        tracing::info!(
                            child = %child.child,
                            spi_in = format_args!("{:08x}", child.inbound.spi),
                            spi_out = format_args!("{:08x}", child.outbound.spi),
                            transform = ?installed.algorithm,
                            ts_remote = %super::install::describe_selectors(&child.ts_remote),
                            "CHILD SA installed"
                        );
                        record.children.insert(
                            child.child,
                            ChildRecord {
                                installed,
                                udp_encapsulated: child.udp_encapsulation,
                                reported_bytes: 0,
                                reported_packets: 0,
                                reported_last_inbound: None,
                            },
                        );
                    }
                    Err(e) => {
                        tracing::error!(child = %child.child, error = %e, "cannot install CHILD SA")
                    }
                }
            }
            Event::ChildSaDeleted { child, reason, .. } => {
                if let Some(c) = self
                    .sas
                    .get_mut(&handle)
                    .and_then(|r| r.children.remove(child))
                {
                    self.shared.remove_child(&c.installed);
                }
                tracing::info!(child = %child, ?reason, "CHILD SA removed");
            }
            Event::VirtualIp { assigned, .. } => {
                if let Some(r) = self.sas.get_mut(&handle) {
                    r.virtual_ip = Some(assigned.clone());
                }
                tracing::info!(addresses = ?assigned.addresses, dns = ?assigned.dns, pcscf = ?assigned.pcscf, "virtual IP");
            }
            Event::PathChanged { path, .. } => {
                if let Some(r) = self.sas.get_mut(&handle) {
                    r.path = *path;
                    for c in r.children.values() {
                        self.shared
                            .set_egress(c.installed.outbound.egress_key(), Egress::for_path(path));
                    }
                }
                tracing::info!(remote = %path.remote, "peer moved");
            }
            Event::PathConfirmed {
                path, nat_local, ..
            } => {
                // Moving can put us behind a NAT or take us out from behind one: NAT
                // keepalives follow what the answer on the current path showed (RFC 3948 §2.3).
                if let Some(r) = self.sas.get_mut(&handle).filter(|r| r.path == *path) {
                    r.nat_local = *nat_local;
                }
                tracing::debug!(local = %path.local, nat_local, "NAT keepalives follow the confirmed path");
            }
            Event::PeerAlive { .. } => tracing::debug!("peer alive"),
            Event::Closed { reason, .. } => {
                if let Some(r) = self.sas.remove(&handle) {
                    for c in r.children.values() {
                        self.shared.remove_child(&c.installed);
                    }
                }
                tracing::info!(?reason, "IKE SA closed");
            }
            other => tracing::debug!(event = ?other, "engine event"),
        }
    }

    /// Activity of the CHILD SAs that carried packets since they were last read. Idle CHILD SAs
    /// are left out: reporting nothing new would not change the engine's view. Up to
    /// `ACTIVITY_SCAN_MIN` IKE SAs every call reads them all; above, each reads the next
    /// `1/ACTIVITY_SWEEP_REPORTS` of them (so up to 100k SAs a call reads at most 10k).
    pub fn activity(&mut self) -> Vec<ChildActivity> {
        let share = self
            .sas
            .len()
            .div_ceil(ACTIVITY_SWEEP_REPORTS)
            .max(ACTIVITY_SCAN_MIN);
        self.activity_of_next(share)
    }

    /// Activity of the next `count` IKE SAs' CHILD SAs, after the cursor and wrapping around.
    fn activity_of_next(&mut self, count: usize) -> Vec<ChildActivity> {
        let mut out = Vec::new();
        let mut read = 0;
        let resume = self.activity_cursor.take();
        let after = resume.map_or(Bound::Unbounded, Bound::Excluded);
        for (sa, record) in self.sas.range_mut((after, Bound::Unbounded)).take(count) {
            record.collect_activity(*sa, &mut out);
            read += 1;
            self.activity_cursor = Some(*sa);
        }
        if let Some(wrap_until) = resume {
            for (sa, record) in self.sas.range_mut(..=wrap_until).take(count - read) {
                record.collect_activity(*sa, &mut out);
                self.activity_cursor = Some(*sa);
            }
        }
        out
    }

    /// The status report.
    pub fn report(&self, now: Instant, role: &str, started: Instant) -> StatusReport {
        let ike_sas = self
            .sas
            .iter()
            .map(|(handle, r)| IkeSaStatus {
                handle: handle_number(*handle),
                peer: r.path.remote.to_string(),
                local: r.path.local.to_string(),
                mobike: r.mobike,
                identity: r
                    .remote_id
                    .as_ref()
                    .map_or_else(|| "-".into(), ToString::to_string),
                state: if r.closing {
                    "closing"
                } else if r.established_at.is_some() {
                    "established"
                } else {
                    "connecting"
                }
                .into(),
                virtual_ip: r
                    .virtual_ip
                    .as_ref()
                    .and_then(|v| v.addresses.first())
                    .map(ToString::to_string),
                virtual_ips: r.virtual_ip.as_ref().map_or_else(Vec::new, |v| {
                    v.addresses.iter().map(ToString::to_string).collect()
                }),
                established_secs: r
                    .established_at
                    .map_or(0, |t| now.saturating_duration_since(t).as_secs()),
                child_sas: r
                    .children
                    .values()
                    .map(|c| {
                        let i = c.installed.inbound.stats();
                        let o = c.installed.outbound.stats();
                        ChildSaStatus {
                            spi_in: c.installed.inbound.spi(),
                            spi_out: c.installed.outbound.spi(),
                            transform: format!("{:?}", c.installed.algorithm),
                            udp_encapsulated: c.udp_encapsulated,
                            packets_in: i.packets,
                            bytes_in: i.bytes,
                            packets_out: o.packets,
                            bytes_out: o.bytes,
                            dropped_auth: i.icv_failures,
                            dropped_replay: i.replay_drops,
                            dropped_policy: i.policy_drops,
                        }
                    })
                    .collect(),
            })
            .collect();
        let c = &self.shared.counters;
        StatusReport {
            role: role.into(),
            uptime_secs: now.saturating_duration_since(started).as_secs(),
            ike_sas,
            unmatched_drops: c.unmatched_drops(),
            forbidden_destination_drops: c
                .forbidden_destination
                .load(std::sync::atomic::Ordering::Relaxed),
            tcp: self.shared.tcp.counters.snapshot(),
        }
    }
}

/// The number inside a handle's `ike#N` display form.
fn handle_number(handle: IkeSaHandle) -> u64 {
    handle
        .to_string()
        .trim_start_matches("ike#")
        .parse()
        .unwrap_or(0)
}

impl SaRecord {
    /// Appends this IKE SA's CHILD SAs that carried packets since they were last read.
    fn collect_activity(&mut self, sa: IkeSaHandle, out: &mut Vec<ChildActivity>) {
        for (child, c) in &mut self.children {
            let inbound = c.installed.inbound.stats();
            let outbound = c.installed.outbound.stats();
            let bytes = inbound.bytes.saturating_add(outbound.bytes);
            let packets = inbound.packets.saturating_add(outbound.packets);
            let activity = ChildActivity {
                sa,
                child: *child,
                last_inbound: inbound.last_packet,
                bytes: bytes.saturating_sub(c.reported_bytes),
                packets: packets.saturating_sub(c.reported_packets),
            };
            let idle = activity.bytes == 0
                && activity.packets == 0
                && activity.last_inbound == c.reported_last_inbound;
            if !idle {
                out.push(activity);
            }
            c.reported_bytes = bytes;
            c.reported_packets = packets;
            c.reported_last_inbound = inbound.last_packet;
        }
    }

    fn new(path: Path) -> Self {
        Self {
            path,
            remote_id: None,
            established_at: None,
            virtual_ip: None,
            closing: false,
            nat_local: false,
            mobike: false,
            children: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::DestinationPolicy;
    use ikev2::crypto::{ChildKeys, CipherSuite, EncrAlg, PrfAlg, Secret};
    use ikev2::events::{ChildSaInstalled, EspSaKeys};
    use ikev2::ts::TrafficSelector;
    use std::net::SocketAddr;

    fn path() -> Path {
        let local: SocketAddr = "192.0.2.1:4500".parse().unwrap();
        let remote: SocketAddr = "198.51.100.7:4500".parse().unwrap();
        Path::udp(local, remote)
    }

    /// `count` handles the engine made (handles cannot be made outside it), ascending.
    fn handles(count: usize) -> Vec<IkeSaHandle> {
        let mut endpoint = ikev2::Endpoint::new(
            ikev2::EndpointConfig::new([7; 32], Vec::new()),
            Box::new(ikev2::NoAddressPool),
        );
        let peer = ikev2::PeerConfig::new(
            "t",
            "client@example.org".parse().unwrap(),
            "gateway@example.org".parse().unwrap(),
            Secret::from_slice(b"lab-psk"),
        );
        let peer = Arc::new(peer);
        (0..count)
            .map(|_| {
                endpoint
                    .initiate(crate::clock::now(), Arc::clone(&peer), path())
                    .unwrap()
            })
            .collect()
    }

    /// A CHILD SA installed for `sa` with inbound SPI `spi` (and outbound `spi + 1`).
    fn installed(sa: IkeSaHandle, spi: u32) -> Event {
        let cipher = CipherSuite::new(EncrAlg::AesGcm16_256, None).unwrap();
        let keys = ChildKeys::derive(
            PrfAlg::HmacSha256,
            &Secret::from_slice(&[1; 32]),
            &cipher,
            None,
            &[2; 16],
            &[3; 16],
        )
        .unwrap();
        Event::ChildSaInstalled(Box::new(ChildSaInstalled {
            sa,
            child: ChildSaId(spi),
            inbound: EspSaKeys {
                spi,
                keys: keys.initiator_to_responder,
            },
            outbound: EspSaKeys {
                spi: spi + 1,
                keys: keys.responder_to_initiator,
            },
            cipher,
            esn: false,
            ts_local: vec![TrafficSelector::IPV4_ANY],
            ts_remote: vec![TrafficSelector::IPV4_ANY],
            udp_encapsulation: true,
            path: path(),
            replaces: None,
        }))
    }

    /// Seals one 20-byte packet on the outbound SA of `sa`'s CHILD SA `spi`.
    fn send_one(book: &SaBook, sa: IkeSaHandle, spi: u32) -> u64 {
        let outbound = &book.sas[&sa].children[&ChildSaId(spi)].installed.outbound;
        let mut buf = esp::PacketBuf::new(esp::SEAL_HEADROOM + 64 + esp::SEAL_TAILROOM);
        let packet = [
            0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        buf.fill(esp::SEAL_HEADROOM, &packet).unwrap();
        outbound.seal(&mut buf).unwrap();
        packet.len() as u64
    }

    fn book_with(sas: &[IkeSaHandle]) -> (Arc<Shared>, SaBook) {
        let shared = Arc::new(Shared::new(DestinationPolicy::allow_all()));
        let mut book = SaBook::new(Arc::clone(&shared));
        for (i, sa) in sas.iter().enumerate() {
            book.apply(
                crate::clock::now(),
                &installed(*sa, 0x1000 * (i as u32 + 1)),
            );
        }
        (shared, book)
    }

    #[test]
    fn nat_keepalives_follow_what_a_confirmed_move_showed() {
        let [sa] = handles(1)[..] else { panic!() };
        let (_, mut book) = book_with(&[]);
        let now = crate::clock::now();
        book.apply(
            now,
            &Event::IkeSaEstablished {
                sa,
                local_id: "client@example.org".parse().unwrap(),
                remote_id: "gateway@example.org".parse().unwrap(),
                nat_local: false,
                nat_remote: false,
                path: path(),
                mobike: true,
            },
        );
        assert!(book.natted_paths().is_empty());
        let moved = Path::udp("203.0.113.9:4500".parse().unwrap(), path().remote);
        let confirmed = |path, nat_local| Event::PathConfirmed {
            sa,
            path,
            mobike: true,
            nat_local,
        };
        book.apply(now, &Event::PathChanged { sa, path: moved });
        // An answer for a path we have already left again changes nothing.
        book.apply(now, &confirmed(path(), true));
        assert!(book.natted_paths().is_empty());
        book.apply(now, &confirmed(moved, true));
        assert_eq!(book.natted_paths(), [moved]);
        book.apply(now, &confirmed(moved, false));
        assert!(book.natted_paths().is_empty());
    }

    #[test]
    fn only_child_sas_that_carried_packets_are_reported() {
        let sa = handles(1)[0];
        let (shared, mut book) = book_with(&[sa]);
        assert!(shared.sadb.load().inbound(0x1000).is_some());
        assert!(book.activity().is_empty(), "idle since installed");

        let sent = send_one(&book, sa, 0x1000);
        let reported = book.activity();
        assert_eq!(reported.len(), 1);
        assert_eq!((reported[0].sa, reported[0].packets), (sa, 1));
        assert_eq!(reported[0].bytes, sent);
        assert!(
            book.activity().is_empty(),
            "nothing new since the last report"
        );
    }

    #[test]
    fn a_large_book_is_read_a_share_per_report_where_the_last_one_stopped() {
        let sas = handles(3);
        let (_shared, mut book) = book_with(&sas);
        let spi = |i: usize| 0x1000 * (i as u32 + 1);
        for (i, sa) in sas.iter().enumerate() {
            send_one(&book, *sa, spi(i));
        }
        let read = |activity: Vec<ChildActivity>| -> Vec<(IkeSaHandle, u64)> {
            activity.iter().map(|a| (a.sa, a.packets)).collect()
        };
        assert_eq!(read(book.activity_of_next(2)), [(sas[0], 1), (sas[1], 1)]);
        for (i, sa) in sas.iter().enumerate() {
            send_one(&book, *sa, spi(i));
        }
        assert_eq!(
            read(book.activity_of_next(2)),
            [(sas[2], 2), (sas[0], 1)],
            "resumes after the cursor and wraps around"
        );
        assert_eq!(
            read(book.activity_of_next(10)),
            [(sas[1], 1)],
            "each SA read once however large the share"
        );
        assert!(book.activity().is_empty());
    }
}
