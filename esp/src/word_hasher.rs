//! The hasher of the SA database's maps: a multiply-rotate (Fx) hash over whole words.
//!
//! The keys are SPIs we chose at random and addresses from our own pool, so no peer can pick
//! colliding keys, and a fixed, unseeded hasher keeps lookups cheap and independent of process
//! randomness.

use std::hash::Hasher;

/// A multiply-rotate word hasher (the Fx hash) for SPIs and addresses: fast, unkeyed, so only
/// for keys no peer chooses (the default hasher of [`crate::ShardedMap`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct WordHasher {
    state: u64,
}

impl WordHasher {
    const MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;

    fn add(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(Self::MULTIPLIER);
    }
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let mut word = [0u8; 8];
        let rest = chunks.remainder();
        if !rest.is_empty() {
            if let Some(head) = word.get_mut(..rest.len()) {
                head.copy_from_slice(rest);
            }
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        // Fold the well-mixed high bits into the low bits the table indexes with.
        self.state ^ (self.state >> 29)
    }
}
