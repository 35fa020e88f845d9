//! Latency added by each system: ping RTT percentiles from the client to the core, idle and while
//! one TCP stream fills the path, once per repetition with the systems interleaved.

use std::time::Duration;

use lab::IperfOptions;
use serde::Serialize;

use crate::cli::Plan;
use crate::error::Result;
use crate::progress::Progress;
use crate::stats::{percentile, Summary};
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

/// One condition (idle or loaded) over the repetitions.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Condition {
    /// Every repetition's figures, in order.
    pub runs: Vec<Rtt>,
    /// The median RTT over the repetitions, ms.
    pub p50_ms: Option<Summary>,
    /// The 99th percentile RTT over the repetitions, ms.
    pub p99_ms: Option<Summary>,
}

impl Condition {
    fn summarise(&mut self) {
        let p50: Vec<f64> = self.runs.iter().filter_map(|r| r.p50_ms).collect();
        let p99: Vec<f64> = self.runs.iter().filter_map(|r| r.p99_ms).collect();
        self.p50_ms = Summary::of(&p50);
        self.p99_ms = Summary::of(&p99);
    }
}

/// One system's latency.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// The system's label.
    pub system: String,
    /// Without other traffic.
    pub idle: Condition,
    /// While iperf3 sends one TCP stream up.
    pub loaded: Condition,
    /// Failures, with the reason.
    pub errors: Vec<String>,
}

/// Seconds of TCP load before the pings start.
const LOAD_LEAD: Duration = Duration::from_secs(1);

/// Estimated wall time of one system's two measurements in one repetition.
pub fn estimate(plan: &Plan) -> Duration {
    INTERVAL * plan.pings * 2 + LOAD_LEAD + Duration::from_secs(1)
}

/// Measures every system idle, then every system loaded, per repetition (the system order
/// rotating per repetition).
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
            idle: Condition::default(),
            loaded: Condition::default(),
            errors: Vec::new(),
        })
        .collect();
    let n = systems.len();
    for rep in 0..plan.repetitions {
        for loaded in [false, true] {
            for k in 0..n {
                let index = (k + rep as usize) % n;
                let (Some(sut), Some(slot)) = (systems.get(index), out.get_mut(index)) else {
                    continue;
                };
                let what = if loaded { "under load" } else { "idle" };
                progress.step(
                    &format!(
                        "latency {what} on {} (repetition {}/{})",
                        slot.system,
                        rep + 1,
                        plan.repetitions
                    ),
                    estimate(plan) / 2,
                );
                match pings(sut, plan.pings, loaded) {
                    Ok(rtt) if loaded => slot.loaded.runs.push(rtt),
                    Ok(rtt) => slot.idle.runs.push(rtt),
                    Err(e) => slot.errors.push(format!("{what}: {e}")),
                }
            }
        }
    }
    for slot in &mut out {
        slot.idle.summarise();
        slot.loaded.summarise();
    }
    out
}

fn pings(sut: &SystemUnderTest<'_>, count: u32, loaded: bool) -> Result<Rtt> {
    let ping_time = INTERVAL * count;
    let load = if loaded {
        let mut options = IperfOptions::tcp(sut.target.into());
        options.duration = ping_time + LOAD_LEAD + Duration::from_secs(2);
        let guard = sut.lab.spawn(CLIENT, &options.args())?;
        std::thread::sleep(LOAD_LEAD);
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
