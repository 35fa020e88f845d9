//! One iperf3 run through a system, with the daemon CPU time it cost and the per-second
//! throughput (to see stalls), on top of the lab's iperf3 runner and parser.

use std::time::Duration;

use lab::{parse_iperf3_json, IperfOptions, IperfReport};
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::systems::{SystemUnderTest, CLIENT};

/// What one iperf3 run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// The repetition this run belongs to (0-based): ratios pair runs of the same repetition.
    pub repetition: u32,
    /// Receiver throughput, bit/s.
    pub received_bps: f64,
    /// Sender throughput, bit/s.
    pub sent_bps: f64,
    /// Bytes the receiver got.
    pub received_bytes: u64,
    /// TCP retransmissions.
    pub retransmits: Option<u64>,
    /// UDP datagrams sent.
    pub packets: Option<u64>,
    /// UDP datagrams lost.
    pub lost_packets: Option<u64>,
    /// UDP loss, percent.
    pub lost_percent: Option<f64>,
    /// UDP datagrams that arrived, per second of the run.
    pub received_pps: Option<f64>,
    /// Daemon CPU seconds during the run (both ends), when the system has daemons.
    pub daemon_cpu_secs: Option<f64>,
    /// Throughput of each reporting interval (about one second), bit/s.
    pub intervals_bps: Vec<f64>,
}

/// Datagrams that arrived per second: `(sent - lost) / duration` (UDP only).
fn received_pps(
    packets: Option<u64>,
    lost_packets: Option<u64>,
    duration: Duration,
) -> Option<f64> {
    let arrived = packets?.saturating_sub(lost_packets.unwrap_or(0));
    Some(arrived as f64 / duration.as_secs_f64().max(1e-9))
}

impl Run {
    /// Intervals in which nothing arrived.
    pub fn stalled_intervals(&self) -> usize {
        self.intervals_bps.iter().filter(|b| **b <= 0.0).count()
    }
}

/// Runs iperf3 from the client with `options` (server and port are the system's) as part of
/// `repetition`, and measures the daemons' CPU time around it.
pub fn run(sut: &SystemUnderTest<'_>, mut options: IperfOptions, repetition: u32) -> Result<Run> {
    options.server = sut.target.into();
    let cpu_before = sut.daemon_cpu();
    let out = sut
        .lab
        .command(CLIENT, &options.args())?
        .timeout(options.duration + Duration::from_secs(20))
        .run()?;
    let cpu_after = sut.daemon_cpu();
    let report: IperfReport = parse_iperf3_json(&out.stdout).map_err(|e| {
        Error::Failed(format!(
            "{}: iperf3 {}: {e}; stderr: {}",
            sut.spec.label(true),
            options.args().join(" "),
            out.stderr.trim()
        ))
    })?;
    let daemon_cpu_secs = match (cpu_before, cpu_after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b).as_secs_f64()),
        _ => None,
    };
    Ok(Run {
        repetition,
        received_bps: report.received_bits_per_second,
        sent_bps: report.sent_bits_per_second,
        received_bytes: report.received_bytes,
        retransmits: report.retransmits,
        packets: report.packets,
        lost_packets: report.lost_packets,
        lost_percent: report.lost_percent,
        received_pps: received_pps(report.packets, report.lost_packets, options.duration),
        daemon_cpu_secs,
        intervals_bps: interval_rates(&out.stdout),
    })
}

/// The `bits_per_second` of every `intervals[].sum` in iperf3's JSON.
pub fn interval_rates(json: &str) -> Vec<f64> {
    let Ok(root) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    root.get("intervals")
        .and_then(Value::as_array)
        .map(|intervals| {
            intervals
                .iter()
                .filter_map(|i| i.get("sum")?.get("bits_per_second")?.as_f64())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_read_and_stalls_counted() {
        let json = r#"{"intervals":[{"sum":{"bits_per_second":1e9}},{"sum":{"bits_per_second":0}},
            {"streams":[]},{"sum":{"bits_per_second":5e8}}],"end":{}}"#;
        let rates = interval_rates(json);
        assert_eq!(rates, vec![1e9, 0.0, 5e8]);
        let run = Run {
            repetition: 0,
            received_bps: 0.0,
            sent_bps: 0.0,
            received_bytes: 0,
            retransmits: None,
            packets: Some(1000),
            lost_packets: Some(100),
            lost_percent: Some(10.0),
            received_pps: None,
            daemon_cpu_secs: None,
            intervals_bps: rates,
        };
        assert_eq!(run.stalled_intervals(), 1);
        assert_eq!(
            received_pps(Some(1000), Some(100), Duration::from_secs(2)),
            Some(450.0)
        );
        assert_eq!(received_pps(None, None, Duration::from_secs(2)), None);
        assert!(interval_rates("garbage").is_empty());
    }
}
