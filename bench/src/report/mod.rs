//! The run's report: every raw figure (written as `bench.json`), the ratios that matter, the
//! terminal table ([`table`]) and the throughput chart ([`svg`]).

pub mod svg;
pub mod table;

use serde::Serialize;

use crate::cli::Plan;
use crate::latency::Latency;
use crate::loss::LossResult;
use crate::machine::Machine;
use crate::setup::{MemoryResult, SetupResult};
use crate::stats::Summary;
use crate::systems::{SystemKind, SystemSpec};
use crate::throughput::{CaseResult, CpuCost};

/// A system as the report lists it.
#[derive(Debug, Clone, Serialize)]
pub struct SystemEntry {
    /// The label used everywhere in the report.
    pub label: String,
    /// Kind and algorithm.
    pub spec: SystemSpec,
    /// Whether it ran; otherwise why not.
    pub status: String,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The machine and date.
    pub machine: Machine,
    /// What was asked for.
    pub options: Plan,
    /// Every system asked for, with whether it ran.
    pub systems: Vec<SystemEntry>,
    /// Throughput and packet-rate cases.
    pub throughput: Vec<CaseResult>,
    /// Ping RTTs.
    pub latency: Vec<Latency>,
    /// Daemon CPU per GB.
    pub cpu: Vec<CpuCost>,
    /// IKE SA setup rate per responder.
    pub setup_rate: Vec<SetupResult>,
    /// Memory per established SA per responder.
    pub memory_per_sa: Vec<MemoryResult>,
    /// Inner TCP throughput under outer loss (TCP/80, and the UDP tunnels for comparison).
    pub tcp80_loss: Vec<LossResult>,
    /// The ratios between systems.
    pub ratios: Vec<Ratio>,
    /// Systems that broke down during the run, and before which phase.
    pub incidents: Vec<String>,
    /// Wall time of the whole run, seconds.
    pub elapsed_secs: f64,
}

/// One system's figure divided by another's, for one case.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// What is compared, e.g. `eseg-udp / strongswan`.
    pub name: String,
    /// The case or figure (`tcp x1 up`, `setup rate`).
    pub case: String,
    /// Median of the numerator over median of the denominator.
    pub of_medians: f64,
    /// The spread of the per-repetition ratios (run *i* against run *i*), when both have runs.
    pub per_repetition: Option<Summary>,
}

/// The pairs of systems whose throughput ratios the report gives, per algorithm.
const PAIRS: [(SystemKind, SystemKind); 4] = [
    (SystemKind::EsegUdp, SystemKind::Strongswan),
    (SystemKind::EsegUdp, SystemKind::Veth),
    (SystemKind::EsegTcp, SystemKind::EsegUdp),
    (SystemKind::EsegUdp, SystemKind::Boringtun),
];

/// Throughput ratios of every pair present in the run, for every TCP case.
pub fn throughput_ratios(
    results: &[CaseResult],
    specs: &[SystemSpec],
    labels: &[String],
) -> Vec<Ratio> {
    let mut ratios = Vec::new();
    for (a_kind, b_kind) in PAIRS {
        for (ai, a) in specs.iter().enumerate().filter(|(_, s)| s.kind == a_kind) {
            let Some(bi) = specs.iter().position(|s| {
                s.kind == b_kind && (!b_kind.uses_esp() || s.algorithm == a.algorithm)
            }) else {
                continue;
            };
            let (Some(a_label), Some(b_label)) = (labels.get(ai), labels.get(bi)) else {
                continue;
            };
            for result in results.iter().filter(|r| r.case.is_tcp()) {
                let (Some(x), Some(y)) = (result.systems.get(ai), result.systems.get(bi)) else {
                    continue;
                };
                let (Some(xs), Some(ys)) = (&x.throughput_bps, &y.throughput_bps) else {
                    continue;
                };
                if ys.median <= 0.0 {
                    continue;
                }
                let per_rep: Vec<f64> = x
                    .runs
                    .iter()
                    .zip(&y.runs)
                    .filter(|(_, b)| b.received_bps > 0.0)
                    .map(|(a, b)| a.received_bps / b.received_bps)
                    .collect();
                ratios.push(Ratio {
                    name: format!("{a_label} / {b_label}"),
                    case: result.label.clone(),
                    of_medians: xs.median / ys.median,
                    per_repetition: Summary::of(&per_rep),
                });
            }
        }
    }
    ratios
}

/// The setup-rate ratio of our gateway against strongSwan's responder.
pub fn setup_ratio(results: &[SetupResult]) -> Option<Ratio> {
    let find = |kind: SystemKind| results.iter().find(|r| r.system == kind.name());
    let (ours, theirs) = (find(SystemKind::EsegUdp)?, find(SystemKind::Strongswan)?);
    let (a, b) = (
        ours.rate_per_second.as_ref()?,
        theirs.rate_per_second.as_ref()?,
    );
    if b.median <= 0.0 {
        return None;
    }
    let per_rep: Vec<f64> = ours
        .rates()
        .iter()
        .zip(theirs.rates())
        .filter(|(_, b)| *b > 0.0)
        .map(|(a, b)| a / b)
        .collect();
    Some(Ratio {
        name: "eseg-udp / strongswan".into(),
        case: "IKE SA setup rate".into(),
        of_medians: a.median / b.median,
        per_repetition: Summary::of(&per_rep),
    })
}
