//! The replay window against a naive reference model: a set of every sequence number accepted
//! and the highest one. A number is accepted iff it is not zero, not in the set, and greater
//! than `highest - size` (<https://www.rfc-editor.org/rfc/rfc4303#section-3.4.3>).
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::HashSet;

use esp::{Error, ReplayWindow};
use proptest::prelude::*;

/// The reference: remembers everything.
struct Model {
    size: u64,
    seen: HashSet<u64>,
    top: u64,
}

impl Model {
    fn new(size: u32) -> Self {
        Self {
            size: u64::from(size),
            seen: HashSet::new(),
            top: 0,
        }
    }

    fn accepts(&self, sequence: u64) -> bool {
        sequence != 0
            && !self.seen.contains(&sequence)
            && (sequence > self.top || self.top - sequence < self.size)
    }

    fn check_and_mark(&mut self, sequence: u64) -> bool {
        let accepted = self.accepts(sequence);
        if accepted {
            self.seen.insert(sequence);
            self.top = self.top.max(sequence);
        }
        accepted
    }
}

fn run(size: u32, sequences: &[u64]) {
    let mut window = ReplayWindow::new(size).unwrap();
    let mut model = Model::new(size);
    for &sequence in sequences {
        let expected = model.accepts(sequence);
        assert_eq!(
            window.check(sequence).is_ok(),
            expected,
            "check {sequence} after {sequences:?}"
        );
        let marked = window.check_and_mark(sequence);
        assert_eq!(marked.is_ok(), model.check_and_mark(sequence));
        if !expected {
            assert_eq!(marked, Err(Error::Replay));
        }
        assert_eq!(window.top(), model.top);
    }
}

#[test]
fn every_pair_and_triple_of_small_sequence_numbers() {
    // Two words and a bit of a 64-packet window: every relation (left of it, inside, ahead,
    // word edges).
    let size = 64;
    for a in 0..=140u64 {
        for b in 0..=140u64 {
            // Marks a and b, compares each step with the model...
            run(size, &[a, b]);
            // ...then every number up to 210 against the state they left.
            let mut window = ReplayWindow::new(size).unwrap();
            let mut model = Model::new(size);
            for sequence in [a, b] {
                let _ = window.check_and_mark(sequence);
                model.check_and_mark(sequence);
            }
            for c in 0..=210u64 {
                assert_eq!(window.check(c).is_ok(), model.accepts(c), "{a} {b} {c}");
            }
        }
    }
}

#[test]
fn every_position_relative_to_a_full_window() {
    for size in [64u32, 1024] {
        let top = 10_000u64;
        let mut base = ReplayWindow::new(size).unwrap();
        // Mark every other number up to `top`.
        for sequence in (top - 3 * u64::from(size)..=top).step_by(2) {
            base.check_and_mark(sequence).unwrap();
        }
        for sequence in 0..top + 3 * u64::from(size) {
            let left_of_window = sequence + u64::from(size) <= top;
            let seen = sequence <= top && (top - sequence) % 2 == 0;
            let expected = sequence != 0 && !left_of_window && !seen;
            assert_eq!(base.check(sequence).is_ok(), expected, "{size} {sequence}");
        }
    }
}

#[test]
fn rejects_sizes_that_are_not_multiples_of_64() {
    for size in [0, 1, 63, 65, 1000, (1 << 20) + 64] {
        assert!(ReplayWindow::new(size).is_err(), "{size}");
    }
    for size in [64, 1024, 1 << 20] {
        assert_eq!(ReplayWindow::new(size).unwrap().size(), u64::from(size));
    }
}

#[test]
fn esn_inference_across_the_wrap_of_the_low_half() {
    let mut window = ReplayWindow::new(1024).unwrap();
    window.check_and_mark(0xffff_ff00).unwrap();
    assert_eq!(window.infer_esn(0xffff_fff0), Some(0xffff_fff0));
    assert_eq!(window.infer_esn(5), Some(0x1_0000_0005));
    assert_eq!(window.infer_esn(0xffff_fb01), Some(0xffff_fb01));
    window.check_and_mark(0x1_0000_0005).unwrap();
    // Inside the window, just before the wrap: the lower subspace.
    assert_eq!(window.infer_esn(0xffff_fff0), Some(0xffff_fff0));
    // Beyond the window's bottom: read as ahead (it will fail the ICV if it was old).
    assert_eq!(window.infer_esn(0x8000_0000), Some(0x1_8000_0000));
    assert_eq!(window.infer_esn(6), Some(0x1_0000_0006));
    // A fresh window reads everything as the first subspace.
    let fresh = ReplayWindow::new(64).unwrap();
    assert_eq!(fresh.infer_esn(0xffff_ffff), Some(0xffff_ffff));
    assert_eq!(fresh.infer_esn(1), Some(1));
    // At the very top of the 64-bit space nothing lies ahead.
    let mut last = ReplayWindow::new(64).unwrap();
    last.check_and_mark(u64::MAX - 10).unwrap();
    assert_eq!(last.infer_esn(u32::MAX - 20), Some(u64::MAX - 20));
    assert_eq!(last.infer_esn(5), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn matches_the_model_on_random_nearby_sequences(
        size in prop::sample::select(vec![64u32, 128, 1024, 4096]),
        start in 0u64..1 << 40,
        steps in prop::collection::vec(-5000i64..5000, 1..400),
    ) {
        let sequences: Vec<u64> = steps
            .iter()
            .scan(start, |at, step| {
                *at = at.saturating_add_signed(*step);
                Some(*at)
            })
            .collect();
        run(size, &sequences);
    }

    #[test]
    fn matches_the_model_with_esn_across_wraps(
        size in prop::sample::select(vec![64u32, 1024]),
        subspace in 0u64..4,
        start_below_wrap in 0u64..3000,
        steps in prop::collection::vec(-900i64..900, 1..400),
    ) {
        // Walk around 2^32 * (subspace + 1), sending only the low 32 bits; keep every packet
        // within the window's reach (older ones would fail the ICV in real life).
        let mut window = ReplayWindow::new(size).unwrap();
        let mut model = Model::new(size);
        let mut at = ((subspace + 1) << 32) - start_below_wrap;
        // The receiver has followed the sender up to here.
        window.check_and_mark(at).unwrap();
        model.check_and_mark(at);
        for step in steps {
            let candidate = at.saturating_add_signed(step);
            let reach = u64::from(size) - 1;
            if candidate == 0 || candidate + reach < model.top {
                continue;
            }
            at = candidate;
            let inferred = window.infer_esn(at as u32);
            prop_assert_eq!(inferred, Some(at));
            let accepted = window.check_and_mark(at).is_ok();
            prop_assert_eq!(accepted, model.check_and_mark(at));
        }
    }
}
