//! IKE SA setup rate and memory per established SA, for our gateway and strongSwan's responder,
//! driven by the same load generator ([`crate::loadgen`]) from many source addresses of client 0.
//!
//! Each responder runs in a lab of its own with a virtual-IP pool large enough for every SA
//! (100.64.0.0/10, inside the gateway namespace only). Setup-rate batches start a fresh responder
//! each time and alternate between the two; the memory measurement grows one responder's SA count
//! step by step and reads its resident memory at each step: (RSS - RSS before the first SA) / SAs.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use eseg_interop::{Charon, CharonOptions, SwanctlConf};
use lab::{Host, Lab, ProcessGuard};
use serde::Serialize;

use crate::cli::Plan;
use crate::error::{Error, Result};
use crate::loadgen::{Batch, LoadGenerator, PER_SOURCE_LIMIT};
use crate::progress::Progress;
use crate::stats::Summary;
use crate::systems::{
    gateway_toml, large_pool, start_gateway, EsegBinaries, GatewayToml, SystemKind, CLIENT,
};

/// Most extra source addresses on client 0 (the LAN /26 has room for 50 after the client).
const MAX_SOURCES: usize = 50;

/// The responders measured.
pub const RESPONDERS: [SystemKind; 2] = [SystemKind::EsegUdp, SystemKind::Strongswan];

/// One batch with the responder's own CPU time.
#[derive(Debug, Clone, Serialize)]
pub struct SetupBatch {
    /// What the generator saw.
    #[serde(flatten)]
    pub batch: Batch,
    /// CPU seconds the responder used during the batch.
    pub responder_cpu_secs: Option<f64>,
}

/// Setup rate of one responder.
#[derive(Debug, Clone, Serialize)]
pub struct SetupResult {
    /// `eseg-udp` (our gateway) or `strongswan`.
    pub system: String,
    /// Every batch.
    pub batches: Vec<SetupBatch>,
    /// Setups per second over the batches.
    pub rate_per_second: Option<Summary>,
    /// Failures, with the reason.
    pub errors: Vec<String>,
}

impl SetupResult {
    /// The rate of each batch, in order.
    pub fn rates(&self) -> Vec<f64> {
        self.batches
            .iter()
            .map(|b| b.batch.rate_per_second)
            .collect()
    }
}

/// Resident memory at one SA count.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryPoint {
    /// SAs asked for.
    pub target: usize,
    /// SAs established and alive when memory was read.
    pub established: usize,
    /// Responder RSS, bytes.
    pub rss_bytes: u64,
    /// (RSS - baseline) / established.
    pub bytes_per_sa: Option<f64>,
    /// Time spent reaching this point from the previous one, seconds.
    pub elapsed_secs: f64,
}

/// Memory per SA of one responder.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryResult {
    /// `eseg-udp` (our gateway) or `strongswan`.
    pub system: String,
    /// RSS before the first SA, bytes.
    pub baseline_rss_bytes: Option<u64>,
    /// One entry per SA count reached or attempted.
    pub points: Vec<MemoryPoint>,
    /// Why a count was not reached, if one was not.
    pub note: Option<String>,
    /// Failures, with the reason.
    pub errors: Vec<String>,
}

/// A responder under load.
#[derive(Debug)]
enum Responder<'lab> {
    Eseg(ProcessGuard),
    Strongswan(Charon<'lab>),
}

impl Responder<'_> {
    fn pid(&self) -> Option<u32> {
        match self {
            Responder::Eseg(p) => Some(p.pid()),
            Responder::Strongswan(c) => std::fs::read_to_string(c.dir().join("charon.pid"))
                .ok()?
                .trim()
                .parse()
                .ok(),
        }
    }

    fn cpu(&self) -> Option<Duration> {
        self.pid().and_then(lab::cpu_time_of)
    }

    fn rss(&self) -> Option<u64> {
        self.pid().and_then(lab::resident_memory_of)
    }
}

/// The labs of the two responders, with client 0's extra source addresses.
#[derive(Debug)]
pub struct SetupLab {
    kind: SystemKind,
    lab: Lab,
    sources: Vec<Ipv4Addr>,
}

impl SetupLab {
    /// Builds a lab for `kind` with enough source addresses for `concurrency` initiators.
    pub fn build(kind: SystemKind, concurrency: usize) -> Result<Self> {
        let lab = Lab::builder().build()?;
        let count = concurrency.div_ceil(PER_SOURCE_LIMIT).clamp(1, MAX_SOURCES);
        let lan = lab.addresses().lan;
        let base = u32::from(lab.client_outer(0)?);
        let mut sources = Vec::with_capacity(count);
        for i in 0..count {
            let addr = Ipv4Addr::from(base + 1 + u32::try_from(i).unwrap_or(0));
            let with_len = format!("{addr}/{}", lan.prefix_len());
            lab.exec_checked(
                CLIENT,
                &["ip", "addr", "add", &with_len, "dev", lab::ifname::CLIENT],
            )?;
            sources.push(addr);
        }
        Ok(SetupLab { kind, lab, sources })
    }

    fn sockets(&self) -> Result<Vec<UdpSocket>> {
        let sources = self.sources.clone();
        self.lab
            .run_in(CLIENT, move || {
                sources
                    .iter()
                    .map(|ip| UdpSocket::bind((*ip, 0)))
                    .collect::<std::io::Result<Vec<_>>>()
            })?
            .map_err(|e| Error::io("bind the load generator's sockets", e))
    }

    fn start(&self, eseg: &EsegBinaries, sas: usize) -> Result<Responder<'_>> {
        let pool = large_pool(sas);
        let a = self.lab.addresses();
        match self.kind {
            SystemKind::Strongswan => {
                let options = CharonOptions {
                    ike_log_level: 0,
                    ..CharonOptions::default()
                };
                let mut charon = Charon::start(&self.lab, Host::Gateway, "gw", &options)?;
                let mut conf = SwanctlConf::lab_gateway(a);
                for p in &mut conf.pools {
                    p.addrs = pool.to_string();
                }
                charon.load(&conf)?;
                Ok(Responder::Strongswan(charon))
            }
            _ => {
                let socket = self.lab.workdir().join("eseg-gateway.sock");
                let toml = gateway_toml(&GatewayToml {
                    addresses: a,
                    status_socket: &socket,
                    esp: "aes256gcm16",
                    pool,
                    liveness_secs: 3600,
                });
                Ok(Responder::Eseg(start_gateway(&self.lab, eseg, &toml)?))
            }
        }
    }

    fn generator(&self, capacity: usize, seed: [u8; 32]) -> Result<LoadGenerator> {
        LoadGenerator::new(self.sockets()?, self.lab.gateway_outer(), capacity, seed)
    }
}

/// Time allowed for one setup-rate batch.
fn batch_limit(sas: usize) -> Duration {
    Duration::from_secs(30) + Duration::from_millis(u64::try_from(sas).unwrap_or(0) * 20)
}

/// Estimated wall time of the setup-rate phase.
pub fn estimate(plan: &Plan) -> Duration {
    (Duration::from_secs(2) + Duration::from_millis(plan.setup_sas as u64 * 3))
        * 2
        * plan.repetitions
}

/// Measures the setup rate of every responder lab, alternating per repetition.
pub fn measure_rate(
    plan: &Plan,
    labs: &[SetupLab],
    eseg: &EsegBinaries,
    seed: [u8; 32],
    progress: &mut Progress,
) -> Vec<SetupResult> {
    let mut results: Vec<SetupResult> = labs
        .iter()
        .map(|l| SetupResult {
            system: l.kind.name().to_owned(),
            batches: Vec::new(),
            errors: Vec::new(),
            rate_per_second: None,
        })
        .collect();
    let mut generation = 0u8;
    for rep in 0..plan.repetitions {
        let n = labs.len();
        for k in 0..n {
            let i = (k + rep as usize) % n;
            let (Some(setup), Some(slot)) = (labs.get(i), results.get_mut(i)) else {
                continue;
            };
            progress.step(
                &format!(
                    "IKE setup rate of {} ({} SAs, {} at once; repetition {}/{})",
                    slot.system,
                    plan.setup_sas,
                    plan.setup_concurrency,
                    rep + 1,
                    plan.repetitions
                ),
                estimate(plan) / (2 * plan.repetitions),
            );
            generation = generation.wrapping_add(1);
            let mut seed = seed;
            seed[31] ^= generation;
            match one_batch(plan, setup, eseg, seed) {
                Ok(batch) => {
                    eprintln!(
                        "  {} of {} in {:.1} s: {:.0}/s",
                        batch.batch.established,
                        batch.batch.requested,
                        batch.batch.elapsed_secs,
                        batch.batch.rate_per_second
                    );
                    slot.batches.push(batch);
                }
                Err(e) => {
                    eprintln!("  failed: {e}");
                    slot.errors.push(e.to_string());
                }
            }
        }
    }
    for slot in &mut results {
        slot.rate_per_second = Summary::of(&slot.rates());
    }
    results
}

fn one_batch(
    plan: &Plan,
    setup: &SetupLab,
    eseg: &EsegBinaries,
    seed: [u8; 32],
) -> Result<SetupBatch> {
    let responder = setup.start(eseg, plan.setup_sas)?;
    let mut generator = setup.generator(plan.setup_sas, seed)?;
    let cpu_before = responder.cpu();
    let batch = generator.establish(
        plan.setup_sas,
        plan.setup_concurrency,
        batch_limit(plan.setup_sas),
    );
    let cpu_after = responder.cpu();
    drop(generator);
    drop(responder);
    Ok(SetupBatch {
        batch,
        responder_cpu_secs: cpu_before
            .zip(cpu_after)
            .map(|(b, a)| a.saturating_sub(b).as_secs_f64()),
    })
}

/// Estimated wall time of the memory phase (its time limit per responder, at most).
pub fn memory_estimate(plan: &Plan, responders: usize) -> Duration {
    let largest = plan.memory_sas.last().copied().unwrap_or(0) as u64;
    Duration::from_millis(largest * 4)
        .min(Duration::from_secs(plan.memory_time_limit_secs))
        .saturating_add(Duration::from_secs(3))
        * u32::try_from(responders).unwrap_or(1)
}

/// Grows each responder to every SA count of the plan (within the time limit) and reads its
/// memory at each.
pub fn measure_memory(
    plan: &Plan,
    labs: &[SetupLab],
    eseg: &EsegBinaries,
    seed: [u8; 32],
    progress: &mut Progress,
) -> Vec<MemoryResult> {
    labs.iter()
        .enumerate()
        .map(|(i, setup)| {
            progress.step(
                &format!(
                    "memory per SA of {} at {:?} SAs (at most {} s)",
                    setup.kind.name(),
                    plan.memory_sas,
                    plan.memory_time_limit_secs
                ),
                memory_estimate(plan, 1),
            );
            let mut seed = seed;
            seed[30] ^= 0x80 | u8::try_from(i).unwrap_or(0);
            let mut result = MemoryResult {
                system: setup.kind.name().to_owned(),
                baseline_rss_bytes: None,
                points: Vec::new(),
                note: None,
                errors: Vec::new(),
            };
            if let Err(e) = grow(plan, setup, eseg, seed, &mut result) {
                eprintln!("  failed: {e}");
                result.errors.push(e.to_string());
            }
            result
        })
        .collect()
}

fn grow(
    plan: &Plan,
    setup: &SetupLab,
    eseg: &EsegBinaries,
    seed: [u8; 32],
    result: &mut MemoryResult,
) -> Result<()> {
    let largest = plan.memory_sas.last().copied().unwrap_or(0);
    let responder = setup.start(eseg, largest)?;
    std::thread::sleep(Duration::from_millis(500));
    let baseline = responder
        .rss()
        .ok_or_else(|| Error::Failed("cannot read the responder's memory".into()))?;
    result.baseline_rss_bytes = Some(baseline);
    let mut generator = setup.generator(largest, seed)?;
    let mut left = Duration::from_secs(plan.memory_time_limit_secs);
    for &target in &plan.memory_sas {
        let more = target.saturating_sub(generator.alive());
        let batch = generator.establish(more, plan.setup_concurrency, left);
        left = left.saturating_sub(Duration::from_secs_f64(batch.elapsed_secs));
        std::thread::sleep(Duration::from_millis(300));
        let rss = responder.rss().unwrap_or(0);
        let established = generator.alive();
        eprintln!(
            "  {established} SAs: RSS {:.1} MB (baseline {:.1} MB)",
            rss as f64 / 1e6,
            baseline as f64 / 1e6
        );
        result.points.push(MemoryPoint {
            target,
            established,
            rss_bytes: rss,
            bytes_per_sa: (established > 0)
                .then(|| rss.saturating_sub(baseline) as f64 / established as f64),
            elapsed_secs: batch.elapsed_secs,
        });
        if established < target {
            result.note = Some(format!(
                "reached {established} of {target} SAs within the {} s limit \
                 ({} setups failed, {} unfinished)",
                plan.memory_time_limit_secs, batch.failed, batch.unfinished
            ));
            break;
        }
    }
    drop(generator);
    drop(responder);
    Ok(())
}
