//! Inner TCP throughput under outer packet loss (random drops by nftables `numgen random` on the
//! gateway's outer interface, both directions): how TCP over TCP/80 behaves, and whether anything
//! stalls for good. The same sweep runs on the UDP tunnels for comparison.

use std::time::Duration;

use lab::IperfOptions;
use serde::Serialize;

use crate::cli::Plan;
use crate::health::Health;
use crate::iperf::{self, Run};
use crate::progress::Progress;
use crate::stats::Summary;
use crate::systems::{settle, SystemKind, SystemUnderTest};
use crate::throughput::run_estimate;

/// One system at one loss rate.
#[derive(Debug, Clone, Serialize)]
pub struct LossResult {
    /// The system's label.
    pub system: String,
    /// Outer loss, percent each way.
    pub loss_percent: f64,
    /// Every run (TCP, one stream, up).
    pub runs: Vec<Run>,
    /// Runs that failed, with the reason.
    pub errors: Vec<String>,
    /// Inner throughput over the runs, bit/s.
    pub throughput_bps: Option<Summary>,
    /// Reporting intervals (about a second each) in which nothing arrived, over all runs.
    pub stalled_intervals: usize,
}

/// The systems the loss sweep runs on: the tunnels (not plain veth).
pub fn applies_to(kind: SystemKind) -> bool {
    kind != SystemKind::Veth
}

/// Estimated wall time of the sweep on `systems` systems.
pub fn estimate(plan: &Plan, systems: usize) -> Duration {
    run_estimate(plan.duration()) * (plan.loss_percent.len() * systems) as u32 * plan.repetitions
}

/// Runs the sweep: per repetition, per loss rate, every system. A failed run makes `health` look
/// at the system (and bring it back) before the next one.
pub fn measure(
    plan: &Plan,
    systems: &mut [SystemUnderTest<'_>],
    labels: &[String],
    health: &mut Health<'_>,
    progress: &mut Progress,
) -> Vec<LossResult> {
    let targets: Vec<usize> = systems
        .iter()
        .enumerate()
        .filter(|(_, s)| applies_to(s.spec.kind))
        .map(|(i, _)| i)
        .collect();
    let mut results: Vec<LossResult> = Vec::new();
    for &loss in &plan.loss_percent {
        for i in &targets {
            results.push(LossResult {
                system: labels.get(*i).cloned().unwrap_or_default(),
                loss_percent: loss,
                runs: Vec::new(),
                errors: Vec::new(),
                throughput_bps: None,
                stalled_intervals: 0,
            });
        }
    }
    let duration = plan.duration();
    for rep in 0..plan.repetitions {
        for (l, &loss) in plan.loss_percent.iter().enumerate() {
            for (t, &index) in targets.iter().enumerate() {
                let (Some(sut), Some(slot)) = (
                    systems.get_mut(index),
                    results.get_mut(l * targets.len() + t),
                ) else {
                    continue;
                };
                progress.step(
                    &format!(
                        "TCP under {loss} % outer loss on {} (repetition {}/{})",
                        slot.system,
                        rep + 1,
                        plan.repetitions
                    ),
                    run_estimate(duration),
                );
                let mut options = IperfOptions::tcp(sut.target.into());
                options.duration = duration;
                let outcome = sut
                    .lab
                    .set_outer_loss(loss)
                    .map_err(crate::error::Error::from)
                    .and_then(|()| iperf::run(sut, options, rep));
                if let Err(e) = sut.lab.set_outer_loss(0.0) {
                    slot.errors.push(format!("removing the loss: {e}"));
                }
                match outcome {
                    Ok(run) => slot.runs.push(run),
                    Err(e) => {
                        eprintln!("  failed: {e}");
                        slot.errors.push(e.to_string());
                        let when = format!("TCP under {loss} % loss (repetition {})", rep + 1);
                        health.check_one(sut, &slot.system, &when);
                    }
                }
                settle(Duration::from_millis(300));
            }
        }
    }
    for slot in &mut results {
        let bps: Vec<f64> = slot.runs.iter().map(|r| r.received_bps).collect();
        slot.throughput_bps = Summary::of(&bps);
        slot.stalled_intervals = slot.runs.iter().map(Run::stalled_intervals).sum();
    }
    results
}
