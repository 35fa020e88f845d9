//! Throughput and packet rate: iperf3 TCP with 1 and 4 streams in both directions, and UDP per
//! packet size at fixed offered packet rates and at the sender's maximum (the path's ceiling),
//! each case run on every system before the next case (the system order rotating per
//! repetition) so that drift on a shared machine hits all alike.

use std::time::Duration;

use lab::{IperfOptions, IPERF3_PORT};
use serde::Serialize;

use crate::cli::{OfferedRate, Plan};
use crate::health::Health;
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
    /// Offered rate for UDP.
    pub offered: Option<OfferedRate>,
    /// Inner IP packet size for UDP, bytes.
    pub packet_size: Option<u32>,
}

/// IPv4 and UDP headers: an inner packet of `n` bytes carries `n - 28` bytes of iperf3 payload.
pub const IP_UDP_HEADERS: u32 = 28;

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
                    offered: None,
                    packet_size: None,
                });
            }
        }
        for &size in &plan.packet_sizes {
            for &rate in &plan.udp_rates {
                cases.push(Case {
                    protocol: "udp",
                    streams: 1,
                    direction: Direction::Up,
                    offered: Some(rate),
                    packet_size: Some(size),
                });
            }
        }
        cases
    }

    /// A short name: `tcp x4 down`, `udp 64B 20kpps up`, `udp 1400B max up`.
    pub fn label(&self) -> String {
        let dir = match self.direction {
            Direction::Up => "up",
            Direction::Down => "down",
        };
        match (self.offered, self.packet_size) {
            (Some(rate), Some(size)) => format!("udp {size}B {} {dir}", rate.label()),
            _ => format!("{} x{} {dir}", self.protocol, self.streams),
        }
    }

    /// Whether this is a TCP case.
    pub fn is_tcp(&self) -> bool {
        self.protocol == "tcp"
    }

    /// Whether this UDP case offers as much as the sender can: its received packet rate is the
    /// path's ceiling.
    pub fn is_ceiling(&self) -> bool {
        self.offered == Some(OfferedRate::Max)
    }

    /// The iperf3 options (the server address is filled in per system). iperf3 counts its
    /// bit rate in payload bytes, so a packet rate becomes `pps * payload * 8`; 0 is unlimited.
    pub fn options(&self, duration: Duration) -> IperfOptions {
        let payload = self
            .packet_size
            .map(|size| size.saturating_sub(IP_UDP_HEADERS));
        let udp_bitrate = self.offered.map(|rate| match rate {
            OfferedRate::PacketsPerSecond(pps) => {
                u64::from(pps) * u64::from(payload.unwrap_or(0)) * 8
            }
            OfferedRate::Max => 0,
        });
        IperfOptions {
            server: std::net::Ipv4Addr::UNSPECIFIED.into(),
            port: IPERF3_PORT,
            duration,
            reverse: self.direction == Direction::Down,
            streams: self.streams,
            udp_bitrate,
            length: payload.and_then(|p| usize::try_from(p).ok()),
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

/// Runs every case on every system, `plan.repetitions` times, interleaved. A failed run makes
/// `health` look at the system; if it had broken down and could be brought back, the run is made
/// once more.
pub fn measure(
    plan: &Plan,
    systems: &mut [SystemUnderTest<'_>],
    labels: &[String],
    health: &mut Health<'_>,
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
                let (Some(sut), Some(slot)) =
                    (systems.get_mut(index), result.systems.get_mut(index))
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
                let what = format!("throughput {} (repetition {})", case.label(), rep + 1);
                let mut outcome = iperf::run(sut, case.options(duration), rep);
                if let Err(e) = &outcome {
                    eprintln!("  failed: {e}");
                    if health.check_one(sut, &slot.system, &what) {
                        outcome = iperf::run(sut, case.options(duration), rep);
                    }
                }
                match outcome {
                    Ok(run) => slot.runs.push(run),
                    Err(e) => slot.errors.push(e.to_string()),
                }
                settle(PAUSE);
            }
        }
    }
    for result in &mut results {
        for slot in &mut result.systems {
            let bps: Vec<f64> = slot.runs.iter().map(|r| r.received_bps).collect();
            slot.throughput_bps = Summary::of(&bps);
            let pps: Vec<f64> = slot.runs.iter().filter_map(|r| r.received_pps).collect();
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
    /// Daemon CPU seconds summed over the TCP runs whose CPU time was read.
    pub cpu_seconds: Option<f64>,
    /// Gigabytes (10^9 bytes) received over those runs.
    pub gigabytes: f64,
    /// CPU seconds per GB moved; `None` for systems without daemons (the kernel does the work).
    pub cpu_seconds_per_gb: Option<f64>,
    /// CPU seconds per GB of each repetition's TCP runs, as (repetition, figure).
    pub per_repetition: Vec<(u32, f64)>,
}

/// CPU seconds and bytes summed over `runs` that have a CPU figure; `None` when none has.
fn cpu_and_bytes<'a>(runs: impl Iterator<Item = &'a Run>) -> Option<(f64, u64)> {
    runs.filter_map(|r| Some((r.daemon_cpu_secs?, r.received_bytes)))
        .fold(None, |sum, (cpu, bytes)| {
            let (c, b) = sum.unwrap_or((0.0, 0));
            Some((c + cpu, b + bytes))
        })
}

/// `cpu / GB`, when anything moved.
fn per_gb(cpu: f64, bytes: u64) -> Option<f64> {
    (bytes > 0).then(|| cpu / (bytes as f64 / 1e9))
}

/// CPU-seconds per GB per system, from the TCP runs, overall and per repetition.
pub fn cpu_costs(results: &[CaseResult], labels: &[String], repetitions: u32) -> Vec<CpuCost> {
    labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let runs = || {
                results
                    .iter()
                    .filter(|r| r.case.is_tcp())
                    .filter_map(move |r| r.systems.get(i))
                    .flat_map(|s| &s.runs)
            };
            let all_bytes: u64 = runs().map(|r| r.received_bytes).sum();
            let total = cpu_and_bytes(runs());
            let per_repetition = (0..repetitions)
                .filter_map(|rep| {
                    let (cpu, bytes) = cpu_and_bytes(runs().filter(|r| r.repetition == rep))?;
                    Some((rep, per_gb(cpu, bytes)?))
                })
                .collect();
            CpuCost {
                system: label.clone(),
                cpu_seconds: total.map(|(cpu, _)| cpu),
                gigabytes: total.map_or(all_bytes, |(_, b)| b) as f64 / 1e9,
                cpu_seconds_per_gb: total.and_then(|(cpu, bytes)| per_gb(cpu, bytes)),
                per_repetition,
            }
        })
        .collect()
}
