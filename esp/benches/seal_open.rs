//! Seal and open throughput of our SAs against raw ring AEAD calls on the same sizes.
//!
//! Criterion benches each of raw ring seal/open and our seal/open (AES-128-GCM, AES-256-GCM,
//! ChaCha20-Poly1305; 64, 512, 1400 and 8192-byte inner packets). Then, because the machine is
//! shared and neighbours' load moves from one second to the next, a second pass measures raw and
//! ours interleaved in short alternating batches and prints our throughput as a ratio of raw
//! (fastest batch of each, the one least disturbed by neighbours). Run with
//! `cargo bench -p esp -- --warm-up-time 1 --measurement-time 3`.
#![allow(clippy::unwrap_used)] // bench setup: a failed unwrap is a broken bench
#![allow(clippy::disallowed_methods)] // a benchmark measures time

use std::cell::Cell;
use std::collections::HashMap;
use std::hint::black_box;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use esp::{
    Algorithm, Flow, InboundConfig, InboundSa, OutboundConfig, OutboundSa, PacketBuf, SaDatabase,
    TrafficSelector, SEAL_HEADROOM, SEAL_TAILROOM,
};
use ring::aead;

const SIZES: [usize; 4] = [64, 512, 1400, 8192];
const ALGORITHMS: [(Algorithm, &aead::Algorithm, &str); 3] = [
    (Algorithm::AesGcm128, &aead::AES_128_GCM, "aes128gcm"),
    (Algorithm::AesGcm256, &aead::AES_256_GCM, "aes256gcm"),
    (
        Algorithm::ChaCha20Poly1305,
        &aead::CHACHA20_POLY1305,
        "chacha20poly1305",
    ),
];
const CAPACITY: usize = SEAL_HEADROOM + 8192 + SEAL_TAILROOM;

/// Raw ring: one key, nonce from a counter, 8-byte AAD, in place, tag separate.
struct Raw {
    key: aead::LessSafeKey,
    counter: Cell<u64>,
}

impl Raw {
    fn new(algorithm: &'static aead::Algorithm) -> Self {
        let key = vec![7u8; algorithm.key_len()];
        Self {
            key: aead::LessSafeKey::new(aead::UnboundKey::new(algorithm, &key).unwrap()),
            counter: Cell::new(0),
        }
    }

    fn nonce(counter: u64) -> aead::Nonce {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&counter.to_be_bytes());
        aead::Nonce::assume_unique_for_key(nonce)
    }

    /// Seals `data` in place and returns the tag and the counter used.
    fn seal(&self, data: &mut [u8]) -> (aead::Tag, u64) {
        let counter = self.counter.get() + 1;
        self.counter.set(counter);
        let tag = self
            .key
            .seal_in_place_separate_tag(Self::nonce(counter), aead::Aad::from([0u8; 8]), data)
            .unwrap();
        (tag, counter)
    }

    fn open(&self, counter: u64, tag: aead::Tag, data: &mut [u8]) {
        self.key
            .open_in_place_separate_tag(
                Self::nonce(counter),
                aead::Aad::from([0u8; 8]),
                tag,
                data,
                0..,
            )
            .unwrap();
    }
}

/// Our outbound and inbound SA for one transform, looped back.
struct Ours {
    outbound: OutboundSa,
    inbound: InboundSa,
}

impl Ours {
    fn new(algorithm: Algorithm) -> Self {
        let key = vec![7u8; algorithm.encryption_key_len()];
        let everyone = vec![TrafficSelector::prefix([0, 0, 0, 0].into(), 0).unwrap()];
        let mut outbound_config = OutboundConfig::new(1, algorithm);
        outbound_config.esn = true;
        let mut inbound_config = InboundConfig::new(1, algorithm, everyone);
        inbound_config.esn = true;
        Self {
            outbound: OutboundSa::new(outbound_config, &key, &[]).unwrap(),
            inbound: InboundSa::new(inbound_config, &key, &[]).unwrap(),
        }
    }
}

/// Puts an inner IPv4 packet of `size` bytes into `buf` without copying it: only the version
/// byte and the source address need to be right; the rest is whatever the buffer held.
fn load_inner(buf: &mut PacketBuf, size: usize) {
    buf.reset(SEAL_HEADROOM);
    buf.commit(size).unwrap();
    let inner = buf.data_mut();
    inner[0] = 0x45;
    inner[12..16].copy_from_slice(&[10, 0, 0, 1]);
}

/// Any instant will do for the SA's liveness record.
fn now() -> Instant {
    Instant::now()
}

fn criterion_benches(c: &mut Criterion) {
    for (algorithm, ring_algorithm, name) in ALGORITHMS {
        let mut group = c.benchmark_group(name);
        for size in SIZES {
            group.throughput(Throughput::Bytes(size as u64));
            let raw = Raw::new(ring_algorithm);
            let mut data = vec![0u8; size];
            group.bench_function(BenchmarkId::new("raw_seal", size), |b| {
                b.iter(|| black_box(raw.seal(black_box(&mut data))))
            });
            let ours = Ours::new(algorithm);
            let mut buf = PacketBuf::new(CAPACITY);
            group.bench_function(BenchmarkId::new("esp_seal", size), |b| {
                b.iter(|| {
                    load_inner(&mut buf, size);
                    black_box(ours.outbound.seal(black_box(&mut buf)).unwrap())
                })
            });
            group.bench_function(BenchmarkId::new("raw_open", size), |b| {
                b.iter_batched_ref(
                    || {
                        let mut data = vec![0u8; size];
                        let (tag, counter) = raw.seal(&mut data);
                        (data, tag, counter)
                    },
                    |(data, tag, counter)| raw.open(*counter, *tag, black_box(data)),
                    BatchSize::SmallInput,
                )
            });
            let now = now();
            group.bench_function(BenchmarkId::new("esp_open", size), |b| {
                b.iter_batched_ref(
                    || {
                        let mut buf = PacketBuf::new(CAPACITY);
                        load_inner(&mut buf, size);
                        ours.outbound.seal(&mut buf).unwrap();
                        buf
                    },
                    |buf| black_box(ours.inbound.open(now, black_box(buf)).unwrap()),
                    BatchSize::SmallInput,
                )
            });
        }
        group.finish();
    }
}

/// SA lookups: the lock-free `SaReader` against the obvious alternative, an `RwLock` around a
/// plain map, with 10 000 and 100 000 SAs installed (one read lock costs two atomic
/// read-modify-writes; the reader's cached snapshot costs one atomic load).
fn sadb_benches(c: &mut Criterion) {
    let algorithm = Algorithm::AesGcm128;
    let key = vec![7u8; algorithm.encryption_key_len()];
    let mut group = c.benchmark_group("sadb");
    for sas in [10_000u32, 100_000] {
        let db = SaDatabase::new();
        let mut plain = HashMap::new();
        db.update(|table| {
            for spi in 1..=sas {
                let everyone = vec![TrafficSelector::prefix([0, 0, 0, 0].into(), 0).unwrap()];
                let inbound = Arc::new(
                    InboundSa::new(InboundConfig::new(spi, algorithm, everyone), &key, &[])
                        .unwrap(),
                );
                let outbound = Arc::new(
                    OutboundSa::new(OutboundConfig::new(spi, algorithm), &key, &[]).unwrap(),
                );
                let address = IpAddr::from((0x0a00_0000 | spi).to_be_bytes());
                table.insert_inbound(Arc::clone(&inbound));
                table.route_outbound(&outbound, &[TrafficSelector::host(address)]);
                plain.insert(spi, inbound);
            }
        });
        let locked = RwLock::new(plain);
        let mut reader = db.reader();
        let mut spi = 0u32;
        group.bench_function(BenchmarkId::new("reader_inbound", sas), |b| {
            b.iter(|| {
                spi = spi % sas + 1;
                black_box(reader.table().inbound(black_box(spi)).is_some())
            })
        });
        group.bench_function(BenchmarkId::new("reader_outbound", sas), |b| {
            b.iter(|| {
                spi = spi % sas + 1;
                let flow = Flow {
                    source: IpAddr::from([192, 0, 2, 1]),
                    destination: IpAddr::from((0x0a00_0000 | spi).to_be_bytes()),
                    protocol: 17,
                    source_port: Some(4000),
                    destination_port: Some(5060),
                };
                black_box(reader.table().outbound(black_box(&flow)).is_some())
            })
        });
        group.bench_function(BenchmarkId::new("rwlock_inbound", sas), |b| {
            b.iter(|| {
                spi = spi % sas + 1;
                let map = locked.read().unwrap();
                black_box(map.get(&black_box(spi)).is_some())
            })
        });
    }
    group.finish();
}

/// Packets per timed batch in the interleaved pass.
const BATCH: usize = 256;
/// Alternating raw/ours batches per transform, size and direction.
const ROUNDS: usize = 150;

/// The fastest batch: on a shared machine, the one least disturbed by neighbours.
fn fastest(samples: Vec<Duration>) -> Duration {
    samples.into_iter().min().unwrap_or_default()
}

/// Seal: times BATCH raw seals, then BATCH of ours, ROUNDS times; returns the fastest of each.
fn interleaved_seal(
    algorithm: Algorithm,
    ring_algorithm: &'static aead::Algorithm,
    size: usize,
) -> (Duration, Duration) {
    let raw = Raw::new(ring_algorithm);
    let ours = Ours::new(algorithm);
    let mut data = vec![0u8; size];
    let mut buf = PacketBuf::new(CAPACITY);
    let (mut raw_times, mut our_times) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..BATCH {
            let _ = black_box(raw.seal(black_box(&mut data)));
        }
        raw_times.push(start.elapsed());
        let start = Instant::now();
        for _ in 0..BATCH {
            load_inner(&mut buf, size);
            black_box(ours.outbound.seal(black_box(&mut buf)).unwrap());
        }
        our_times.push(start.elapsed());
    }
    (fastest(raw_times), fastest(our_times))
}

/// Open: seals a batch each way untimed, then times opening it, ROUNDS times.
fn interleaved_open(
    algorithm: Algorithm,
    ring_algorithm: &'static aead::Algorithm,
    size: usize,
) -> (Duration, Duration) {
    let raw = Raw::new(ring_algorithm);
    let ours = Ours::new(algorithm);
    let mut raw_batch: Vec<(Vec<u8>, aead::Tag, u64)> = (0..BATCH)
        .map(|_| {
            let mut data = vec![0u8; size];
            let (tag, counter) = raw.seal(&mut data);
            (data, tag, counter)
        })
        .collect();
    let mut our_batch: Vec<PacketBuf> = (0..BATCH).map(|_| PacketBuf::new(CAPACITY)).collect();
    let now = now();
    let (mut raw_times, mut our_times) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        for (data, tag, counter) in &mut raw_batch {
            (*tag, *counter) = raw.seal(data);
        }
        let start = Instant::now();
        for (data, tag, counter) in &mut raw_batch {
            raw.open(*counter, *tag, black_box(data));
        }
        raw_times.push(start.elapsed());
        for buf in &mut our_batch {
            load_inner(buf, size);
            ours.outbound.seal(buf).unwrap();
        }
        let start = Instant::now();
        for buf in &mut our_batch {
            black_box(ours.inbound.open(now, black_box(buf)).unwrap());
        }
        our_times.push(start.elapsed());
    }
    (fastest(raw_times), fastest(our_times))
}

fn print_ratios() {
    println!();
    println!("Interleaved pass: fastest of {ROUNDS} alternating batches of {BATCH} packets each");
    println!(
        "{:<18} {:>6} | {:>10} {:>10} {:>6} | {:>10} {:>10} {:>6}",
        "transform", "bytes", "raw seal", "esp seal", "ratio", "raw open", "esp open", "ratio"
    );
    let gbps =
        |size: usize, batch_time: Duration| (size * BATCH) as f64 / batch_time.as_secs_f64() / 1e9;
    for (algorithm, ring_algorithm, name) in ALGORITHMS {
        for size in SIZES {
            let (raw_seal, our_seal) = interleaved_seal(algorithm, ring_algorithm, size);
            let (raw_open, our_open) = interleaved_open(algorithm, ring_algorithm, size);
            println!(
                "{:<18} {:>6} | {:>7.2} GB/s {:>5.2} GB/s {:>5.2}x | {:>5.2} GB/s {:>5.2} GB/s {:>5.2}x",
                name,
                size,
                gbps(size, raw_seal),
                gbps(size, our_seal),
                raw_seal.as_secs_f64() / our_seal.as_secs_f64(),
                gbps(size, raw_open),
                gbps(size, our_open),
                raw_open.as_secs_f64() / our_open.as_secs_f64(),
            );
        }
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    criterion_benches(&mut criterion);
    sadb_benches(&mut criterion);
    criterion.final_summary();
    // `cargo test --benches` runs this binary without `--bench`: skip the long pass there.
    if std::env::args().any(|argument| argument == "--bench") {
        print_ratios();
    }
}
