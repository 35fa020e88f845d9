//! The command line of eseg-bench and the run plan it turns into.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::Serialize;

use crate::systems::SystemKind;

/// Measures the packet path of eseg against plain veth and strongSwan, in one run: throughput
/// (iperf3 TCP 1 and 4 streams both ways, UDP at fixed offered rates), ping RTT idle and under
/// load, daemon CPU per GB, IKE SA setup rate and memory per SA, and TCP/80 under outer loss.
///
/// Systems are measured interleaved (every case is run on every system before the next case, the
/// order rotating per repetition) so drift on a shared machine hits all alike; compare ratios
/// within one run, not absolute figures across runs. Needs root, iproute2, nftables, iperf3 and
/// the strongSwan packages; `eseg-gateway`/`eseg-client` are taken from the same directory as this
/// program (`cargo build --release --bins`).
///
/// Writes a table to stdout, `bench.json` (every raw figure and the machine) and
/// `throughput.svg` and `packet-rate.svg` (the comparison charts) to `--out`, and the daemons' logs
/// to `--out`/logs.
#[derive(Debug, Parser)]
#[command(name = "eseg-bench", version)]
pub struct Cli {
    /// Seconds per iperf3 run.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub duration: Option<u64>,

    /// Repetitions of every throughput case per system.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repetitions: Option<u32>,

    /// Systems to measure (comma-separated): veth, eseg-udp, eseg-tcp, strongswan, boringtun.
    #[arg(long, value_delimiter = ',', value_parser = SystemKind::parse)]
    pub systems: Option<Vec<SystemKind>>,

    /// ESP algorithms for the IPsec systems, strongSwan syntax (comma-separated):
    /// aes256gcm16, aes128gcm16, chacha20poly1305.
    #[arg(long, value_delimiter = ',', default_value = "aes256gcm16")]
    pub algorithms: Vec<String>,

    /// Inner IP packet sizes in bytes for the UDP packet-rate cases (comma-separated; the
    /// datagram payload is 28 bytes less). 1400 fits every tunnel's MTU.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(64..=1400))]
    pub packet_sizes: Option<Vec<u32>>,

    /// Offered UDP rates for the packet-rate cases, in packets per second (comma-separated;
    /// `20k` is 20000, `max` sends as fast as iperf3 can, to find the ceiling).
    #[arg(long, value_delimiter = ',', value_parser = OfferedRate::parse)]
    pub udp_rates: Option<Vec<OfferedRate>>,

    /// IKE SAs established per setup-rate measurement.
    #[arg(long, value_name = "N")]
    pub setup_sas: Option<usize>,

    /// Simultaneous initiators of the setup-rate load generator.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=150))]
    pub setup_concurrency: Option<u32>,

    /// SA counts at which the gateway's memory per SA is measured (comma-separated, increasing).
    #[arg(long, value_delimiter = ',')]
    pub memory_sas: Option<Vec<usize>>,

    /// Longest time spent establishing SAs for the memory measurement, per system (seconds).
    #[arg(long, value_name = "SECS")]
    pub memory_time_limit: Option<u64>,

    /// Outer loss rates in percent for the TCP/80 loss cases (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub loss: Option<Vec<f64>>,

    /// Leave out phases (comma-separated): throughput, latency, setup, memory, loss.
    #[arg(long, value_delimiter = ',', value_parser = Phase::parse)]
    pub skip: Vec<Phase>,

    /// The CI mode: short runs and small SA counts, under two minutes in total.
    #[arg(long)]
    pub quick: bool,

    /// Directory for bench.json, the charts and the logs (created if missing).
    #[arg(long, value_name = "DIR", default_value = "bench-out")]
    pub out: PathBuf,
}

/// An offered UDP rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferedRate {
    /// This many packets per second.
    PacketsPerSecond(u32),
    /// As fast as the sender can (`iperf3 -b 0`): the receiver sees the path's ceiling.
    Max,
}

impl OfferedRate {
    fn parse(text: &str) -> Result<OfferedRate, String> {
        if text == "max" {
            return Ok(OfferedRate::Max);
        }
        let (digits, scale) = match text.strip_suffix('k') {
            Some(d) => (d, 1000),
            None => (text, 1),
        };
        digits
            .parse::<u32>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .filter(|pps| *pps > 0)
            .map(OfferedRate::PacketsPerSecond)
            .ok_or_else(|| format!("`{text}` is not a packet rate (e.g. 20000, 20k or max)"))
    }

    /// `20kpps`, `1500pps` or `max`.
    pub fn label(self) -> String {
        match self {
            OfferedRate::PacketsPerSecond(pps) if pps % 1000 == 0 => format!("{}kpps", pps / 1000),
            OfferedRate::PacketsPerSecond(pps) => format!("{pps}pps"),
            OfferedRate::Max => "max".to_owned(),
        }
    }
}

impl Serialize for OfferedRate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            OfferedRate::PacketsPerSecond(pps) => serializer.serialize_u32(*pps),
            OfferedRate::Max => serializer.serialize_str("max"),
        }
    }
}

/// A part of the run that `--skip` can leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// iperf3 throughput and UDP packet rate.
    Throughput,
    /// ping RTT idle and under load.
    Latency,
    /// IKE SA setup rate.
    Setup,
    /// Memory per established SA.
    Memory,
    /// TCP/80 inner throughput under outer loss.
    Loss,
}

impl Phase {
    fn parse(text: &str) -> Result<Phase, String> {
        match text {
            "throughput" => Ok(Phase::Throughput),
            "latency" => Ok(Phase::Latency),
            "setup" => Ok(Phase::Setup),
            "memory" => Ok(Phase::Memory),
            "loss" => Ok(Phase::Loss),
            other => Err(format!(
                "unknown phase `{other}` (throughput, latency, setup, memory, loss)"
            )),
        }
    }
}

/// Everything a run does, after defaults and `--quick` are applied.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Seconds per iperf3 run.
    pub duration_secs: u64,
    /// Repetitions per throughput case.
    pub repetitions: u32,
    /// Systems asked for.
    pub systems: Vec<SystemKind>,
    /// ESP algorithms.
    pub algorithms: Vec<String>,
    /// Inner IP packet sizes of the UDP cases, bytes.
    pub packet_sizes: Vec<u32>,
    /// Offered UDP rates, packets per second (or `max`).
    pub udp_rates: Vec<OfferedRate>,
    /// Pings per latency measurement (10 ms apart).
    pub pings: u32,
    /// IKE SAs per setup-rate measurement.
    pub setup_sas: usize,
    /// Simultaneous initiators.
    pub setup_concurrency: usize,
    /// SA counts for the memory measurement.
    pub memory_sas: Vec<usize>,
    /// Time limit of the memory measurement per system, seconds.
    pub memory_time_limit_secs: u64,
    /// Outer loss rates, percent.
    pub loss_percent: Vec<f64>,
    /// Phases left out.
    pub skipped: Vec<Phase>,
    /// Whether this is the CI mode.
    pub quick: bool,
}

impl Cli {
    /// The plan: explicit options win, then the `--quick` or full defaults.
    pub fn plan(&self) -> Result<Plan, String> {
        let q = self.quick;
        let memory_sas = self.memory_sas.clone().unwrap_or_else(|| {
            if q {
                vec![200]
            } else {
                vec![10_000, 100_000]
            }
        });
        if memory_sas.windows(2).any(|w| w[0] >= w[1]) || memory_sas.contains(&0) {
            return Err("--memory-sas: counts must be positive and increasing".into());
        }
        let loss_percent = self.loss.clone().unwrap_or_else(|| {
            if q {
                vec![0.0, 2.0]
            } else {
                vec![0.0, 0.5, 2.0]
            }
        });
        if loss_percent.iter().any(|p| !(0.0..=100.0).contains(p)) {
            return Err("--loss: rates are percentages (0..=100)".into());
        }
        for algorithm in &self.algorithms {
            if !crate::systems::ALGORITHMS.contains(&algorithm.as_str()) {
                return Err(format!(
                    "--algorithms: `{algorithm}` is not one of {}",
                    crate::systems::ALGORITHMS.join(", ")
                ));
            }
        }
        let setup_sas = self.setup_sas.unwrap_or(if q { 60 } else { 2000 });
        if setup_sas == 0 {
            return Err("--setup-sas: at least one SA".into());
        }
        Ok(Plan {
            duration_secs: self.duration.unwrap_or(if q { 1 } else { 10 }),
            repetitions: self.repetitions.unwrap_or(if q { 1 } else { 3 }),
            systems: self.systems.clone().unwrap_or_else(|| {
                if q {
                    vec![
                        SystemKind::Veth,
                        SystemKind::EsegUdp,
                        SystemKind::EsegTcp,
                        SystemKind::Strongswan,
                    ]
                } else {
                    SystemKind::ALL.to_vec()
                }
            }),
            algorithms: self.algorithms.clone(),
            packet_sizes: self.packet_sizes.clone().unwrap_or_else(|| {
                if q {
                    vec![1400]
                } else {
                    vec![64, 1400]
                }
            }),
            udp_rates: self.udp_rates.clone().unwrap_or_else(|| {
                if q {
                    vec![OfferedRate::Max]
                } else {
                    vec![OfferedRate::PacketsPerSecond(20_000), OfferedRate::Max]
                }
            }),
            pings: if q { 30 } else { 200 },
            setup_sas,
            setup_concurrency: self
                .setup_concurrency
                .map_or(if q { 12 } else { 60 }, |c| c as usize),
            memory_sas,
            memory_time_limit_secs: self.memory_time_limit.unwrap_or(if q { 15 } else { 300 }),
            loss_percent,
            skipped: self.skip.clone(),
            quick: q,
        })
    }
}

impl Plan {
    /// Whether `phase` runs.
    pub fn runs(&self, phase: Phase) -> bool {
        !self.skipped.contains(&phase)
    }

    /// Seconds per iperf3 run.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(args: &[&str]) -> Result<Plan, String> {
        Cli::try_parse_from(std::iter::once("eseg-bench").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?
            .plan()
    }

    #[test]
    fn quick_is_small_and_explicit_options_win() {
        let p = plan(&["--quick"]).unwrap();
        assert_eq!((p.duration_secs, p.repetitions), (1, 1));
        assert!(p.memory_sas.iter().all(|n| *n <= 1000));
        let p = plan(&["--quick", "--duration", "5", "--systems", "veth"]).unwrap();
        assert_eq!(p.duration_secs, 5);
        assert_eq!(p.systems, vec![SystemKind::Veth]);
        let p = plan(&["--udp-rates", "20k,1500,max", "--packet-sizes", "64,1400"]).unwrap();
        assert_eq!(
            p.udp_rates,
            vec![
                OfferedRate::PacketsPerSecond(20_000),
                OfferedRate::PacketsPerSecond(1500),
                OfferedRate::Max
            ]
        );
        let labels: Vec<String> = p.udp_rates.iter().map(|r| r.label()).collect();
        assert_eq!(labels, ["20kpps", "1500pps", "max"]);
        let full = plan(&[]).unwrap();
        assert_eq!(full.packet_sizes, vec![64, 1400]);
        assert!(full.udp_rates.contains(&OfferedRate::Max));
        assert_eq!(full.memory_sas, vec![10_000, 100_000]);
        assert_eq!(full.systems.len(), SystemKind::ALL.len());
    }

    #[test]
    fn bad_options_are_refused() {
        for args in [
            &["--systems", "ipsec-tools"][..],
            &["--algorithms", "des"][..],
            &["--memory-sas", "100,10"][..],
            &["--loss", "120"][..],
            &["--skip", "everything"][..],
            &["--setup-sas", "0"][..],
            &["--udp-rates", "0"][..],
            &["--udp-rates", "fast"][..],
            &["--packet-sizes", "1500"][..],
        ] {
            assert!(plan(args).is_err(), "{args:?} accepted");
        }
    }
}
