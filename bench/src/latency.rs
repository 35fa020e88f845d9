//! Latency added by each system: ping RTT percentiles from the client to the core, idle and while
//! one TCP stream fills the path.

use std::time::Duration;

use lab::IperfOptions;
use serde::Serialize;

use crate::cli::Plan;
use crate::error::Result;
use crate::progress::Progress;
use crate::stats::percentile;
use crate::systems::{SystemUnderTest, CLIENT};

/// Pings 10 ms apart.
const INTERVAL: Duration = Duration::from_millis(10);

/// RTT figures of one condition.
#[derive(Debug, Clone, Serialize)]
pub struct Rtt {
    /// Median RTT, ms.
    pub p50_ms: Option<f64>,
    /// 99th percentile RTT, ms.
    pub p99_ms: Option<f64>,
    /// Pings sent.
    pub sent: u32,
    /// Replies received.
    pub received: usize,
}

/// One system's latency.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// The system's label.
    pub system: String,
    /// Without other traffic.
    pub idle: Option<Rtt>,
    /// While iperf3 sends one TCP stream up.
    pub loaded: Option<Rtt>,
    /// Failures, with the reason.
    pub errors: Vec<String>,
}

/// Estimated wall time of one system's two measurements.
pub fn estimate(plan: &Plan) -> Duration {
    INTERVAL * plan.pings * 2 + Duration::from_secs(5)
}

/// Measures every system idle, then every system loaded.
pub fn measure(
    plan: &Plan,
    systems: &[SystemUnderTest<'_>],
    labels: &[String],
    progress: &mut Progress,
) -> Vec<Latency> {
    let mut out: Vec<Latency> = labels
        .iter()
        .map(|l| Latency {
            system: l.clone(),
            idle: None,
            loaded: None,
            errors: Vec::new(),
        })
        .collect();
    for loaded in [false, true] {
        for (sut, slot) in systems.iter().zip(&mut out) {
            let what = if loaded { "under load" } else { "idle" };
            progress.step(
                &format!("latency {what} on {}", slot.system),
                estimate(plan) / 2,
            );
            match pings(sut, plan.pings, loaded) {
                Ok(rtt) if loaded => slot.loaded = Some(rtt),
                Ok(rtt) => slot.idle = Some(rtt),
                Err(e) => slot.errors.push(format!("{what}: {e}")),
            }
        }
    }
    out
}

fn pings(sut: &SystemUnderTest<'_>, count: u32, loaded: bool) -> Result<Rtt> {
    let ping_time = INTERVAL * count;
    let load = if loaded {
        let mut options = IperfOptions::tcp(sut.target.into());
        options.duration = ping_time + Duration::from_secs(3);
        let guard = sut.lab.spawn(CLIENT, &options.args())?;
        std::thread::sleep(Duration::from_secs(1));
        Some(guard)
    } else {
        None
    };
    let rtts = sut
        .lab
        .ping_rtts(CLIENT, sut.target.into(), count, INTERVAL)?;
    drop(load);
    let ms: Vec<f64> = rtts.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    Ok(Rtt {
        p50_ms: percentile(&ms, 50.0),
        p99_ms: percentile(&ms, 99.0),
        sent: count,
        received: ms.len(),
    })
}
