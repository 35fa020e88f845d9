//! IKE SA setup rate and memory per established SA, for our gateway and strongSwan's responder,
//! driven by the same load generator ([`crate::loadgen`]) from many source addresses of client 0.
//!
//! Each responder runs in a lab of its own with a virtual-IP pool large enough for every SA
//! (100.64.0.0/10, inside the gateway namespace only). Setup-rate batches start a fresh responder
//! each time and alternate between the two; the memory measurement grows one responder's SA count
//! in steps of [`GROWTH_STEP`] (recording the setup rate of each, so a rate that falls with the SA
//! count shows), holds the SAs for [`HOLD`] at every count of the plan while answering whatever the
//! responder sends, and then reads its resident memory: (RSS - RSS before the first SA) / SAs.
//! When the last step's rate says the next count cannot be reached within the time limit, it stops
//! there and says so in the result's note.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use eseg_interop::{Charon, CharonOptions, SwanctlConf};
use lab::{Host, Lab, ProcessGuard};
use serde::Serialize;

use crate::cli::Plan;
use crate::error::{Error, Result};
use crate::loadgen::{own_memory, Batch, Held, LoadGenerator, PER_SOURCE_LIMIT};
use crate::progress::Progress;
use crate::stats::Summary;
use crate::systems::{
    gateway_toml, large_pool, start_gateway, EsegBinaries, GatewayToml, SystemKind, CLIENT,
};

/// Most extra source addresses on client 0 (the LAN /26 has room for 50 after the client).
const MAX_SOURCES: usize = 50;

/// SAs added per growth step of the memory measurement.
pub const GROWTH_STEP: usize = 10_000;

/// How long the SAs are held at each SA count before the responder's memory is read.
pub const HOLD: Duration = Duration::from_secs(3);

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
    /// What the responder did while the SAs were held before reading its memory (any request
    /// or close means the SAs were not idle).
    pub held: Held,
    /// RSS of the eseg-bench process, which runs the load generator (it holds the initiator
    /// side of every SA), bytes. The heap does not shrink when an earlier responder's generator
    /// is dropped, so for every responder but the first this is an upper bound.
    pub generator_rss_bytes: Option<u64>,
}

/// One growth step of the memory measurement.
#[derive(Debug, Clone, Serialize)]
pub struct GrowthStep {
    /// SAs alive after the step.
    pub sas: usize,
    /// What the generator saw during the step.
    #[serde(flatten)]
    pub batch: Batch,
    /// CPU seconds the responder used during the step.
    pub responder_cpu_secs: Option<f64>,
    /// Responder RSS after the step, bytes.
    pub rss_bytes: Option<u64>,
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
    /// Every growth step, in order: the setup rate against the SA count.
    pub steps: Vec<GrowthStep>,
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
                steps: Vec::new(),
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
    let limit = Duration::from_secs(plan.memory_time_limit_secs);
    let mut left = limit;
    for &target in &plan.memory_sas {
        let started_at = generator.alive();
        let mut elapsed = 0.0;
        while generator.alive() < target {
            let wanted = target - generator.alive();
            if let Some(why) = out_of_time(result.steps.last(), wanted, target, left, limit) {
                result.note = Some(why);
                break;
            }
            let step = wanted.min(GROWTH_STEP);
            let cpu_before = responder.cpu();
            let batch = generator.establish(step, plan.setup_concurrency, left);
            left = left.saturating_sub(Duration::from_secs_f64(batch.elapsed_secs));
            elapsed += batch.elapsed_secs;
            let rss = responder.rss();
            eprintln!(
                "  {} SAs: +{} in {:.1} s ({:.0}/s, {} failed), RSS {:.1} MB",
                generator.alive(),
                batch.established,
                batch.elapsed_secs,
                batch.rate_per_second,
                batch.failed,
                rss.unwrap_or(0) as f64 / 1e6
            );
            let stuck = batch.established == 0;
            result.steps.push(GrowthStep {
                sas: generator.alive(),
                responder_cpu_secs: cpu_before
                    .zip(responder.cpu())
                    .map(|(b, a)| a.saturating_sub(b).as_secs_f64()),
                rss_bytes: rss,
                batch,
            });
            if stuck {
                break;
            }
        }
        if generator.alive() == started_at && result.note.is_some() {
            break;
        }
        let held = generator.hold(HOLD);
        let rss = responder.rss().unwrap_or(0);
        let established = generator.alive();
        eprintln!(
            "  {established} SAs held {:.0} s ({} requests from the responder, {} closed): \
             RSS {:.1} MB (baseline {:.1} MB)",
            held.secs,
            held.responder_requests,
            held.closed,
            rss as f64 / 1e6,
            baseline as f64 / 1e6
        );
        result.points.push(MemoryPoint {
            target,
            established,
            rss_bytes: rss,
            bytes_per_sa: (established > 0)
                .then(|| rss.saturating_sub(baseline) as f64 / established as f64),
            elapsed_secs: elapsed,
            held,
            generator_rss_bytes: own_memory(),
        });
        if established < target {
            if result.note.is_none() {
                let (failed, unfinished) = result
                    .steps
                    .last()
                    .map_or((0, 0), |s| (s.batch.failed, s.batch.unfinished));
                result.note = Some(format!(
                    "reached {established} of {target} SAs within the {} s limit \
                     (last step: {failed} setups failed, {unfinished} unfinished)",
                    plan.memory_time_limit_secs
                ));
            }
            break;
        }
    }
    drop(generator);
    drop(responder);
    Ok(())
}

/// Why the next `wanted` SAs (towards `target`) cannot be set up in the `left` of the `limit`,
/// judging by the last step's rate; `None` when they can (or there is no step to judge by).
fn out_of_time(
    last: Option<&GrowthStep>,
    wanted: usize,
    target: usize,
    left: Duration,
    limit: Duration,
) -> Option<String> {
    let rate = last?.batch.rate_per_second;
    let needed = if rate > 0.0 {
        wanted as f64 / rate
    } else {
        f64::INFINITY
    };
    (needed > left.as_secs_f64()).then(|| {
        format!(
            "stopped at {} SAs: at the last step's {rate:.0} setups/s the {wanted} more to {target} \
             would take ~{needed:.0} s, and {:.0} s of the {} s limit were left",
            target - wanted,
            left.as_secs_f64(),
            limit.as_secs()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(sas: usize, rate: f64) -> GrowthStep {
        GrowthStep {
            sas,
            batch: Batch {
                requested: GROWTH_STEP,
                established: GROWTH_STEP,
                failed: 0,
                unfinished: 0,
                elapsed_secs: GROWTH_STEP as f64 / rate,
                rate_per_second: rate,
                generator_cpu_secs: 0.0,
            },
            responder_cpu_secs: None,
            rss_bytes: None,
        }
    }

    #[test]
    fn growth_stops_when_the_last_rate_cannot_reach_the_target_in_time() {
        let s = Duration::from_secs;
        assert_eq!(out_of_time(None, 10_000, 10_000, s(1), s(600)), None);
        let fast = step(10_000, 500.0);
        assert_eq!(
            out_of_time(Some(&fast), 90_000, 100_000, s(200), s(600)),
            None
        );
        let slow = step(10_000, 200.0);
        let note = out_of_time(Some(&slow), 90_000, 100_000, s(300), s(600)).unwrap();
        assert!(note.contains("stopped at 10000 SAs"), "{note}");
        assert!(note.contains("~450 s"), "{note}");
        let stuck = step(10_000, 0.0);
        assert!(out_of_time(Some(&stuck), 1, 10_001, s(600), s(600)).is_some());
    }
}
