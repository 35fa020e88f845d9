//! The run's report: every raw figure (written as `bench.json`), the ratios that matter, the
//! terminal table ([`table`]) and the throughput chart ([`svg`]).

pub mod svg;
pub mod table;

use serde::Serialize;

use crate::cli::Plan;
use crate::health::Incident;
use crate::latency::Latency;
use crate::loss::LossResult;
use crate::machine::Machine;
use crate::setup::{MemoryResult, SetupResult};
use crate::stats::Summary;
use crate::systems::{SystemKind, SystemSpec};
use crate::throughput::{Case, CaseResult, CpuCost, SystemCase};

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
    /// Systems that broke down during the run: when, why, whether they were brought back.
    pub incidents: Vec<Incident>,
    /// Wall time of the whole run, seconds.
    pub elapsed_secs: f64,
}

/// One system's figure divided by another's, for one case.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// What is compared, e.g. `eseg-udp / strongswan`.
    pub name: String,
    /// The case or figure (`tcp x1 up`, `udp 64B max up`, `IKE SA setup rate`).
    pub case: String,
    /// The figure divided: `throughput`, `packet rate`, `CPU s per GB`, `setups per second`,
    /// `bytes per SA`.
    pub metric: String,
    /// Median of the numerator over median of the denominator.
    pub of_medians: f64,
    /// The spread of the per-repetition ratios (repetition *i* against repetition *i*: the
    /// systems ran interleaved), when both have runs.
    pub per_repetition: Option<Summary>,
}

/// The pairs of systems whose ratios the report gives, per algorithm.
const PAIRS: [(SystemKind, SystemKind); 5] = [
    (SystemKind::EsegUdp, SystemKind::Strongswan),
    (SystemKind::EsegUdp, SystemKind::Veth),
    (SystemKind::EsegTcp, SystemKind::EsegUdp),
    (SystemKind::EsegUdp, SystemKind::Boringtun),
    (SystemKind::EsegTcp, SystemKind::Strongswan),
];

/// The index pairs (numerator, denominator) of [`PAIRS`] present among `specs`: the same
/// algorithm on both sides when both are IPsec.
fn present_pairs(specs: &[SystemSpec]) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    for (a_kind, b_kind) in PAIRS {
        for (ai, a) in specs.iter().enumerate().filter(|(_, s)| s.kind == a_kind) {
            if let Some(bi) = specs.iter().position(|s| {
                s.kind == b_kind && (!b_kind.uses_esp() || s.algorithm == a.algorithm)
            }) {
                pairs.push((ai, bi));
            }
        }
    }
    pairs
}

/// `a / b` of two medians and of the per-repetition figures paired by repetition; `None` when a
/// denominator is missing or zero.
fn ratio_of(
    name: String,
    case: &str,
    metric: &str,
    medians: (Option<f64>, Option<f64>),
    a_runs: &[(u32, f64)],
    b_runs: &[(u32, f64)],
) -> Option<Ratio> {
    let (a, b) = (medians.0?, medians.1?);
    if b <= 0.0 {
        return None;
    }
    let per_rep: Vec<f64> = a_runs
        .iter()
        .filter_map(|(rep, x)| {
            let (_, y) = b_runs.iter().find(|(r, _)| r == rep)?;
            (*y > 0.0).then(|| x / y)
        })
        .collect();
    Some(Ratio {
        name,
        case: case.to_owned(),
        metric: metric.to_owned(),
        of_medians: a / b,
        per_repetition: Summary::of(&per_rep),
    })
}

/// One system's figure in one case: its median and its runs as (repetition, figure).
struct Figure {
    median: Option<f64>,
    runs: Vec<(u32, f64)>,
}

/// The figure a case's ratios compare, and each system's: throughput for TCP, packets received
/// per second for the UDP cases that offer the maximum (the ceiling); `None` for other cases.
fn case_figure(case: &Case, system: &SystemCase) -> Option<(&'static str, Figure)> {
    if case.is_tcp() {
        Some((
            "throughput",
            Figure {
                median: system.throughput_bps.as_ref().map(|s| s.median),
                runs: system
                    .runs
                    .iter()
                    .map(|r| (r.repetition, r.received_bps))
                    .collect(),
            },
        ))
    } else if case.is_ceiling() {
        Some((
            "packet rate",
            Figure {
                median: system.packets_per_second.as_ref().map(|s| s.median),
                runs: system
                    .runs
                    .iter()
                    .filter_map(|r| Some((r.repetition, r.received_pps?)))
                    .collect(),
            },
        ))
    } else {
        None
    }
}

/// Throughput ratios of every pair present, for every TCP case, and packet-rate ratios for every
/// UDP case that offers the maximum (the ceiling).
pub fn case_ratios(results: &[CaseResult], specs: &[SystemSpec], labels: &[String]) -> Vec<Ratio> {
    let mut ratios = Vec::new();
    for (ai, bi) in present_pairs(specs) {
        let (Some(a_label), Some(b_label)) = (labels.get(ai), labels.get(bi)) else {
            continue;
        };
        for result in results {
            let (Some(x), Some(y)) = (result.systems.get(ai), result.systems.get(bi)) else {
                continue;
            };
            let (Some((metric, a)), Some((_, b))) =
                (case_figure(&result.case, x), case_figure(&result.case, y))
            else {
                continue;
            };
            ratios.extend(ratio_of(
                format!("{a_label} / {b_label}"),
                &result.label,
                metric,
                (a.median, b.median),
                &a.runs,
                &b.runs,
            ));
        }
    }
    ratios
}

/// Daemon CPU seconds per GB of every pair present where both have daemons.
pub fn cpu_ratios(costs: &[CpuCost], specs: &[SystemSpec], labels: &[String]) -> Vec<Ratio> {
    present_pairs(specs)
        .into_iter()
        .filter_map(|(ai, bi)| {
            let (x, y) = (costs.get(ai)?, costs.get(bi)?);
            ratio_of(
                format!("{} / {}", labels.get(ai)?, labels.get(bi)?),
                "TCP runs",
                "CPU s per GB",
                (x.cpu_seconds_per_gb, y.cpu_seconds_per_gb),
                &x.per_repetition,
                &y.per_repetition,
            )
        })
        .collect()
}

/// The setup-rate ratio of our gateway against strongSwan's responder (batch *i* against batch
/// *i*: the batches alternate between the responders).
pub fn setup_ratio(results: &[SetupResult]) -> Option<Ratio> {
    let find = |kind: SystemKind| results.iter().find(|r| r.system == kind.name());
    let (ours, theirs) = (find(SystemKind::EsegUdp)?, find(SystemKind::Strongswan)?);
    let numbered = |rates: Vec<f64>| -> Vec<(u32, f64)> { (0u32..).zip(rates).collect() };
    ratio_of(
        "eseg-udp / strongswan".into(),
        "IKE SA setup rate",
        "setups per second",
        (
            ours.rate_per_second.as_ref().map(|s| s.median),
            theirs.rate_per_second.as_ref().map(|s| s.median),
        ),
        &numbered(ours.rates()),
        &numbered(theirs.rates()),
    )
}

/// Memory per SA of our gateway against strongSwan's responder at every SA count both reached.
pub fn memory_ratios(results: &[MemoryResult]) -> Vec<Ratio> {
    let find = |kind: SystemKind| results.iter().find(|r| r.system == kind.name());
    let (Some(ours), Some(theirs)) = (find(SystemKind::EsegUdp), find(SystemKind::Strongswan))
    else {
        return Vec::new();
    };
    ours.points
        .iter()
        .filter_map(|p| {
            let q = theirs.points.iter().find(|q| q.target == p.target)?;
            ratio_of(
                "eseg-udp / strongswan".into(),
                &format!("{} SAs", p.target),
                "bytes per SA",
                (p.bytes_per_sa, q.bytes_per_sa),
                &[],
                &[],
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iperf::Run;
    use crate::throughput::{cpu_costs, Direction};

    fn run(repetition: u32, bps: f64, cpu: Option<f64>) -> Run {
        Run {
            repetition,
            received_bps: bps,
            sent_bps: bps,
            received_bytes: (bps / 8.0) as u64,
            retransmits: None,
            packets: None,
            lost_packets: None,
            lost_percent: None,
            received_pps: None,
            daemon_cpu_secs: cpu,
            intervals_bps: Vec::new(),
        }
    }

    fn system(label: &str, runs: Vec<Run>) -> SystemCase {
        let bps: Vec<f64> = runs.iter().map(|r| r.received_bps).collect();
        SystemCase {
            system: label.into(),
            runs,
            errors: Vec::new(),
            throughput_bps: Summary::of(&bps),
            packets_per_second: None,
            loss_percent: None,
        }
    }

    fn spec(kind: SystemKind) -> SystemSpec {
        SystemSpec {
            kind,
            algorithm: kind.uses_esp().then(|| "aes256gcm16".to_owned()),
        }
    }

    fn tcp_case(systems: Vec<SystemCase>) -> CaseResult {
        CaseResult {
            label: "tcp x1 up".into(),
            case: Case {
                protocol: "tcp",
                streams: 1,
                direction: Direction::Up,
                offered: None,
                packet_size: None,
            },
            systems,
        }
    }

    #[test]
    fn per_repetition_ratios_pair_runs_of_the_same_repetition() {
        // strongSwan's repetition 1 failed: its runs are repetitions 0 and 2.
        let results = vec![tcp_case(vec![
            system(
                "eseg-udp",
                vec![
                    run(0, 400.0, None),
                    run(1, 500.0, None),
                    run(2, 600.0, None),
                ],
            ),
            system("strongswan", vec![run(0, 200.0, None), run(2, 200.0, None)]),
        ])];
        let specs = [spec(SystemKind::EsegUdp), spec(SystemKind::Strongswan)];
        let labels = ["eseg-udp".to_owned(), "strongswan".to_owned()];
        let ratios = case_ratios(&results, &specs, &labels);
        assert_eq!(ratios.len(), 1);
        let r = &ratios[0];
        assert_eq!(r.name, "eseg-udp / strongswan");
        assert_eq!(r.metric, "throughput");
        assert_eq!(r.of_medians, 2.5);
        let spread = r.per_repetition.as_ref().unwrap();
        assert_eq!((spread.min, spread.max, spread.count), (2.0, 3.0, 2));
    }

    #[test]
    fn cpu_per_gb_ignores_runs_without_a_cpu_figure_and_is_given_per_repetition() {
        // 1e9 bit/s for the run = 125 MB received.
        let results = vec![tcp_case(vec![
            system(
                "eseg-udp",
                vec![
                    run(0, 1e9, Some(1.0)),
                    run(1, 1e9, None),
                    run(2, 1e9, Some(2.0)),
                ],
            ),
            system(
                "strongswan",
                vec![run(0, 1e9, Some(4.0)), run(2, 1e9, Some(4.0))],
            ),
        ])];
        let labels = ["eseg-udp".to_owned(), "strongswan".to_owned()];
        let costs = cpu_costs(&results, &labels, 3);
        assert_eq!(costs[0].cpu_seconds, Some(3.0));
        assert_eq!(costs[0].per_repetition, vec![(0, 8.0), (2, 16.0)]);
        assert_eq!(costs[0].cpu_seconds_per_gb, Some(12.0));
        let specs = [spec(SystemKind::EsegUdp), spec(SystemKind::Strongswan)];
        let ratios = cpu_ratios(&costs, &specs, &labels);
        assert_eq!(ratios.len(), 1);
        assert_eq!(ratios[0].of_medians, 12.0 / 32.0);
        let spread = ratios[0].per_repetition.as_ref().unwrap();
        assert_eq!((spread.min, spread.max), (0.25, 0.5));
    }

    #[test]
    fn pairs_need_the_same_algorithm_on_both_ipsec_sides() {
        let mut chacha = spec(SystemKind::Strongswan);
        chacha.algorithm = Some("chacha20poly1305".into());
        let specs = [spec(SystemKind::EsegUdp), chacha, spec(SystemKind::Veth)];
        assert_eq!(present_pairs(&specs), vec![(0, 2)]);
    }
}
