//! Cost of one SA-database edit (one CHILD SA's inbound SA and outbound route, as the gateway
//! installs it) with 1k and with 10k SAs already installed. Each `SaDatabase::update` copies the
//! table, so the cost grows at least linearly with the SAs installed (measured on a loaded
//! 2-core machine: ~120 µs at 1k, ~7 ms at 10k); a table with structural sharing would bring
//! the ratio of the two reported times near 1. This is the per-SA cost that made the gateway's
//! setup rate collapse past 10k SAs in `eseg-bench`.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use esp::{
    Algorithm, InboundConfig, InboundSa, OutboundConfig, OutboundSa, SaDatabase, TrafficSelector,
};

const KEY: [u8; 36] = [7; 36];

fn child(spi: u32) -> (Arc<InboundSa>, Arc<OutboundSa>, TrafficSelector) {
    let host = TrafficSelector::host(Ipv4Addr::from(0x0a00_0000 + spi).into());
    let config = InboundConfig::new(spi, Algorithm::AesGcm256, vec![host]);
    let inbound = InboundSa::new(config, &KEY, &[]).expect("inbound SA");
    let outbound = OutboundSa::new(OutboundConfig::new(spi, Algorithm::AesGcm256), &KEY, &[])
        .expect("outbound SA");
    (Arc::new(inbound), Arc::new(outbound), host)
}

fn install(db: &SaDatabase, spi: u32) {
    let (inbound, outbound, host) = child(spi);
    db.update(|table| {
        table.insert_inbound(inbound);
        table.route_outbound(&outbound, &[host]);
    });
}

fn bench(c: &mut Criterion) {
    for installed in [1_000u32, 10_000] {
        let db = SaDatabase::new();
        for spi in 1..=installed {
            install(&db, spi);
        }
        let extra = installed + 1;
        c.bench_function(
            &format!("install one CHILD SA with {installed} installed"),
            |b| b.iter(|| install(&db, black_box(extra))),
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
