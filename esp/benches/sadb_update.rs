//! Cost of one SA-database edit with 1k, 10k and 100k SAs already installed: installing one
//! CHILD SA (its inbound SA and outbound route in one `SaDatabase::update`, as the gateway does)
//! and removing one (inbound SA and outbound routes). Each update publishes a new table made
//! from the old one, so the ratio of the 100k to the 1k figure shows whether an edit's cost
//! grows with the SAs installed; this is the per-SA cost that made the gateway's setup rate
//! collapse past 10k SAs in `eseg-bench` while the whole table was copied per edit.
//!
//! A third group times the same copy-and-edit step on a map shaped like the data plane's egress
//! table (outbound SPI to a pair of socket addresses): a plain `HashMap` copied per edit, as the
//! egress table once did, against [`esp::ShardedMap`].
//!
//! Run with `cargo bench -p esp --bench sadb_update -- --warm-up-time 1 --measurement-time 3`.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use esp::{
    Algorithm, InboundConfig, InboundSa, OutboundConfig, OutboundSa, SaDatabase, ShardedMap,
    TrafficSelector,
};

const KEY: [u8; 36] = [7; 36];
const INSTALLED: [u32; 3] = [1_000, 10_000, 100_000];

/// One CHILD SA as the gateway installs it: both directions, routed to one virtual IP.
struct Child {
    inbound: Arc<InboundSa>,
    outbound: Arc<OutboundSa>,
    host: TrafficSelector,
}

fn child(spi: u32) -> Child {
    let host = TrafficSelector::host(Ipv4Addr::from(0x0a00_0000 + spi).into());
    let config = InboundConfig::new(spi, Algorithm::AesGcm256, vec![host]);
    let inbound = InboundSa::new(config, &KEY, &[]).expect("inbound SA");
    let outbound = OutboundSa::new(OutboundConfig::new(spi, Algorithm::AesGcm256), &KEY, &[])
        .expect("outbound SA");
    Child {
        inbound: Arc::new(inbound),
        outbound: Arc::new(outbound),
        host,
    }
}

fn install(db: &SaDatabase, child: &Child) {
    db.update(|table| {
        table.insert_inbound(Arc::clone(&child.inbound));
        table.route_outbound(&child.outbound, &[child.host]);
    });
}

fn remove(db: &SaDatabase, child: &Child) {
    db.update(|table| {
        table.remove_inbound(child.inbound.spi());
        table.remove_outbound(&child.outbound);
    });
}

/// A database holding `installed` CHILD SAs, built in one update so that setting up the 100k
/// case does not itself take as long as the measurement.
fn populated(installed: u32) -> SaDatabase {
    let children: Vec<Child> = (1..=installed).map(child).collect();
    let db = SaDatabase::new();
    db.update(|table| {
        for child in &children {
            table.insert_inbound(Arc::clone(&child.inbound));
            table.route_outbound(&child.outbound, &[child.host]);
        }
    });
    db
}

fn sadb(c: &mut Criterion) {
    let mut group = c.benchmark_group("sadb_update");
    group.sample_size(20);
    for installed in INSTALLED {
        let db = populated(installed);
        let extra = child(installed + 1);
        group.bench_function(BenchmarkId::new("install", installed), |b| {
            b.iter_batched(
                || remove(&db, &extra),
                |()| install(&db, black_box(&extra)),
                BatchSize::PerIteration,
            )
        });
        group.bench_function(BenchmarkId::new("remove", installed), |b| {
            b.iter_batched(
                || install(&db, &extra),
                |()| remove(&db, black_box(&extra)),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// How one outbound SA's packets leave, as the egress table stores it.
type Egress = (SocketAddr, SocketAddr);

fn egress(spi: u32) -> Egress {
    let local = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 4500));
    let remote = SocketAddr::from((Ipv4Addr::from(0xc000_0200 + spi), 4500));
    (local, remote)
}

fn egress_shaped(c: &mut Criterion) {
    let mut group = c.benchmark_group("egress_update");
    group.sample_size(20);
    for installed in INSTALLED {
        let plain: Arc<HashMap<u32, Egress>> =
            Arc::new((1..=installed).map(|spi| (spi, egress(spi))).collect());
        let extra = installed + 1;
        group.bench_function(BenchmarkId::new("hashmap_copy", installed), |b| {
            b.iter(|| {
                let mut copy = HashMap::clone(&plain);
                copy.insert(black_box(extra), egress(extra));
                copy
            })
        });
        let mut sharded = ShardedMap::new();
        for spi in 1..=installed {
            sharded.insert(spi, egress(spi));
        }
        let sharded = Arc::new(sharded);
        group.bench_function(BenchmarkId::new("sharded_copy", installed), |b| {
            b.iter(|| {
                let mut copy = ShardedMap::clone(&sharded);
                copy.insert(black_box(extra), egress(extra));
                copy
            })
        });
    }
    group.finish();
}

criterion_group!(benches, sadb, egress_shaped);
criterion_main!(benches);
