//! Progress on stderr while a run takes its minutes: one line per step with the time spent and an
//! estimate of what is left (the plan's estimates, scaled by how fast the run has gone so far).

use std::time::{Duration, Instant};

use crate::clock;

/// Counts planned seconds of work done against the plan's total.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    planned: Duration,
    done: Duration,
}

impl Progress {
    /// Starts the clock for a run planned to take about `planned`.
    pub fn new(planned: Duration) -> Self {
        Progress {
            started: clock::now(),
            planned,
            done: Duration::ZERO,
        }
    }

    /// Announces a step planned to take `estimate`, counting it as done.
    pub fn step(&mut self, what: &str, estimate: Duration) {
        let elapsed = clock::now().saturating_duration_since(self.started);
        let remaining = remaining(elapsed, self.done, self.planned);
        eprintln!(
            "[{} elapsed, ~{} left] {what}",
            mm_ss(elapsed),
            mm_ss(remaining)
        );
        self.done = (self.done + estimate).min(self.planned);
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        clock::now().saturating_duration_since(self.started)
    }
}

/// What is left of `planned` once `done` of it took `elapsed`: the plan's remainder, scaled by the
/// run's speed so far.
fn remaining(elapsed: Duration, done: Duration, planned: Duration) -> Duration {
    let left = planned.saturating_sub(done);
    if done.is_zero() {
        return left;
    }
    left.mul_f64((elapsed.as_secs_f64() / done.as_secs_f64()).clamp(0.1, 10.0))
}

/// `m:ss`.
pub fn mm_ss(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_scales_with_observed_speed() {
        let s = Duration::from_secs;
        assert_eq!(remaining(s(0), s(0), s(100)), s(100));
        assert_eq!(remaining(s(20), s(10), s(100)), s(180));
        assert_eq!(remaining(s(5), s(10), s(100)), s(45));
        assert_eq!(remaining(s(5), s(100), s(100)), s(0));
        assert_eq!(mm_ss(s(125)), "2:05");
    }
}
