//! Throughput and packet rate: iperf3 TCP with 1 and 4 streams in both directions, and UDP at
//! fixed offered rates per packet size, each case run on every system before the next case (the
//! system order rotating per repetition) so that drift on a shared machine hits all alike.

use std::time::Duration;

use lab::{IperfOptions, IPERF3_PORT};
use serde::Serialize;

use crate::cli::Plan;
use crate::iperf::{self, Run};
use crate::progress::Progress;
use crate::stats::Summary;
use crate::systems::{settle, SystemUnderTest};

/// Which way the data flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Client to core (into the tunnel at the client).
    Up,
    /// Core to client (`iperf3 -R`).
    Down,
}

/// One kind of traffic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    /// `tcp` or `udp`.
    pub protocol: &'static str,
    /// Parallel streams.
    pub streams: u32,
    /// Which way.
    pub direction: Direction,
    /// Offered rate for UDP, Mbit/s.
    pub offered_mbps: Option<u32>,
    /// UDP datagram size, bytes.
    pub packet_size: Option<u32>,
}

impl Case {
    /// The cases of a plan: TCP x1 and x4 both ways, then UDP per size and rate, up.
    pub fn all(plan: &Plan) -> Vec<Case> {
        let mut cases = Vec::new();
        for streams in [1, 4] {
            for direction in [Direction::Up, Direction::Down] {
                cases.push(Case {
                    protocol: "tcp",
                    streams,
                    direction,
                    offered_mbps: None,
                    packet_size: None,
                });
            }
        }
        for &size in &plan.packet_sizes {
            for &rate in &plan.udp_rates_mbps {
                cases.push(Case {
                    protocol: "udp",
                    streams: 1,
                    direction: Direction::Up,
                    offered_mbps: Some(rate),
                    packet_size: Some(size),
                });
            }
        }
        cases
    }

    /// A short name: `tcp x4 down`, `udp 100M 1200B up`.
    pub fn label(&self) -> String {
        let dir = match self.direction {
            Direction::Up => "up",
            Direction::Down => "down",
        };
        match (self.offered_mbps, self.packet_size) {
            (Some(rate), Some(size)) => format!("udp {rate}M {size}B {dir}"),
            _ => format!("{} x{} {dir}", self.protocol, self.streams),
        }
    }

    /// Whether this is a TCP case.
    pub fn is_tcp(&self) -> bool {
        self.protocol == "tcp"
    }

    /// The iperf3 options (the server address is filled in per system).
    pub fn options(&self, duration: Duration) -> IperfOptions {
        IperfOptions {
            server: std::net::Ipv4Addr::UNSPECIFIED.into(),
            port: IPERF3_PORT,
            duration,
            reverse: self.direction == Direction::Down,
            streams: self.streams,
            udp_bitrate: self.offered_mbps.map(|m| u64::from(m) * 1_000_000),
            length: self.packet_size.and_then(|s| usize::try_from(s).ok()),
        }
    }
}

/// One case on one system, over all repetitions.
#[derive(Debug, Clone, Serialize)]
pub struct SystemCase {
    /// The system's label.
    pub system: String,
    /// Every run, in order.
    pub runs: Vec<Run>,
    /// Runs that failed, with the reason.
    pub errors: Vec<String>,
    /// Receiver throughput over the runs, bit/s.
    pub throughput_bps: Option<Summary>,
    /// Received packets per second (UDP).
    pub packets_per_second: Option<Summary>,
    /// UDP loss in percent.
    pub loss_percent: Option<Summary>,
}

/// One case on every system.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The case's label.
    pub label: String,
    /// The case.
    pub case: Case,
    /// Per system, in the plan's order.
    pub systems: Vec<SystemCase>,
}

/// Pause between runs so queues drain and TCP state from the last run is gone.
const PAUSE: Duration = Duration::from_millis(300);

/// Estimated wall time of one run of `duration`.
pub fn run_estimate(duration: Duration) -> Duration {
    duration + Duration::from_millis(900)
}

/// Runs every case on every system, `plan.repetitions` times, interleaved.
pub fn measure(
    plan: &Plan,
    systems: &[SystemUnderTest<'_>],
    labels: &[String],
    progress: &mut Progress,
) -> Vec<CaseResult> {
    let cases = Case::all(plan);
    let duration = plan.duration();
    let mut results: Vec<CaseResult> = cases
        .iter()
        .map(|case| CaseResult {
            label: case.label(),
            case: case.clone(),
            systems: labels
                .iter()
                .map(|l| SystemCase {
                    system: l.clone(),
                    runs: Vec::new(),
                    errors: Vec::new(),
                    throughput_bps: None,
                    packets_per_second: None,
                    loss_percent: None,
                })
                .collect(),
        })
        .collect();
    for rep in 0..plan.repetitions {
        for (case, result) in cases.iter().zip(&mut results) {
            let n = systems.len();
            for k in 0..n {
                let index = (k + rep as usize) % n;
                let (Some(sut), Some(slot)) = (systems.get(index), result.systems.get_mut(index))
                else {
                    continue;
                };
                progress.step(
                    &format!(
                        "throughput {} on {} (repetition {}/{})",
                        case.label(),
                        slot.system,
                        rep + 1,
                        plan.repetitions
                    ),
                    run_estimate(duration),
                );
                match iperf::run(sut, case.options(duration)) {
                    Ok(run) => slot.runs.push(run),
                    Err(e) => {
                        eprintln!("  failed: {e}");
                        slot.errors.push(e.to_string());
                    }
                }
                settle(PAUSE);
            }
        }
    }
    for result in &mut results {
        for slot in &mut result.systems {
            let bps: Vec<f64> = slot.runs.iter().map(|r| r.received_bps).collect();
            slot.throughput_bps = Summary::of(&bps);
            let pps: Vec<f64> = slot
                .runs
                .iter()
                .filter_map(|r| r.received_pps(duration))
                .collect();
            slot.packets_per_second = Summary::of(&pps);
            let loss: Vec<f64> = slot.runs.iter().filter_map(|r| r.lost_percent).collect();
            slot.loss_percent = Summary::of(&loss);
        }
    }
    results
}

/// Daemon CPU cost of one system over all its TCP runs.
#[derive(Debug, Clone, Serialize)]
pub struct CpuCost {
    /// The system's label.
    pub system: String,
    /// Daemon CPU seconds summed over the TCP runs.
    pub cpu_seconds: Option<f64>,
    /// Gigabytes (10^9 bytes) received over those runs.
    pub gigabytes: f64,
    /// CPU seconds per GB moved; `None` for systems without daemons (the kernel does the work).
    pub cpu_seconds_per_gb: Option<f64>,
}

/// CPU-seconds per GB per system, from the TCP runs.
pub fn cpu_costs(results: &[CaseResult], labels: &[String]) -> Vec<CpuCost> {
    labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let runs = results
                .iter()
                .filter(|r| r.case.is_tcp())
                .filter_map(|r| r.systems.get(i))
                .flat_map(|s| &s.runs);
            let mut cpu = Some(0.0);
            let mut bytes = 0u64;
            for run in runs {
                cpu = cpu.zip(run.daemon_cpu_secs).map(|(a, b)| a + b);
                bytes += run.received_bytes;
            }
            let gigabytes = bytes as f64 / 1e9;
            CpuCost {
                system: label.clone(),
                cpu_seconds: cpu,
                gigabytes,
                cpu_seconds_per_gb: cpu.filter(|_| gigabytes > 0.0).map(|c| c / gigabytes),
            }
        })
        .collect()
}
