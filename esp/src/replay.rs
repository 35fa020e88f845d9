//! The anti-replay window (<https://www.rfc-editor.org/rfc/rfc4303#section-3.4.3>), with
//! extended sequence numbers (<https://www.rfc-editor.org/rfc/rfc4303#appendix-A2>).
//!
//! The window remembers which of the last `size` sequence numbers up to the highest one accepted
//! (`top`) have been seen. A packet is checked cheaply before decryption
//! ([`ReplayWindow::check`]) and marked only after its ICV verified
//! ([`ReplayWindow::check_and_mark`], which checks again so two copies of one packet racing
//! through different workers cannot both pass).
//!
//! The bitmap is a ring of 64-bit words, one word more than the window needs, so sliding the
//! window clears whole words and never shifts bits.
//!
//! The words and `top` are atomics so that an SA shared by several workers can check without a
//! lock (relaxed loads: a stale view only ever costs a wasted decryption, the check is repeated
//! when marking) and mark under its [`crate::spin::SpinLock`] with plain loads and stores.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::spin::SpinGuard;
use crate::Error;

/// Default window size: large enough that several sender cores and a reordering path do not
/// cause false drops.
pub const DEFAULT_REPLAY_WINDOW: u32 = 1024;
/// Largest window accepted (1 Mi packets, 128 KiB of bitmap).
pub const MAX_REPLAY_WINDOW: u32 = 1 << 20;

/// Bits per bitmap word.
const WORD_BITS: u64 = 64;

/// A sliding bitmap of seen sequence numbers.
pub struct ReplayWindow {
    /// Window size in packets, a multiple of 64.
    size: u64,
    /// The highest sequence number accepted so far; 0 before the first packet.
    top: AtomicU64,
    /// Ring of `size / 64 + 1` words; sequence `s` is bit `s % 64` of word `(s / 64) % len`.
    words: Box<[AtomicU64]>,
}

impl ReplayWindow {
    /// A window of `size` packets: a multiple of 64, from 64 to [`MAX_REPLAY_WINDOW`].
    pub fn new(size: u32) -> Result<Self, Error> {
        if size == 0 || size % 64 != 0 || size > MAX_REPLAY_WINDOW {
            return Err(Error::InvalidConfig(
                "replay window must be a multiple of 64 between 64 and 2^20",
            ));
        }
        let size = u64::from(size);
        let words = usize::try_from(size / WORD_BITS + 1)
            .map_err(|_| Error::InvalidConfig("replay window too large"))?;
        Ok(Self {
            size,
            top: AtomicU64::new(0),
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    /// Window size in packets.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The highest sequence number accepted so far (0 before the first).
    pub fn top(&self) -> u64 {
        self.top.load(Ordering::Relaxed)
    }

    /// Whether `sequence` may be accepted: not zero, not left of the window, not seen.
    pub fn check(&self, sequence: u64) -> Result<(), Error> {
        let top = self.top();
        if sequence == 0 {
            return Err(Error::Replay);
        }
        if sequence > top {
            return Ok(());
        }
        if top - sequence >= self.size {
            return Err(Error::Replay);
        }
        let (word, bit) = self.position(sequence);
        match self.words.get(word) {
            Some(bits) if bits.load(Ordering::Relaxed) & bit == 0 => Ok(()),
            _ => Err(Error::Replay),
        }
    }

    /// Checks `sequence` again and records it, sliding the window if it is the new highest.
    pub fn check_and_mark(&mut self, sequence: u64) -> Result<(), Error> {
        self.mark(sequence)
    }

    /// [`ReplayWindow::check_and_mark`] for a window shared between threads, whose writers
    /// serialise on the lock `_held` proves they hold.
    pub(crate) fn check_and_mark_locked(
        &self,
        sequence: u64,
        _held: &SpinGuard<'_>,
    ) -> Result<(), Error> {
        self.mark(sequence)
    }

    /// The marking itself: plain loads and stores, correct as long as writers are serialised.
    fn mark(&self, sequence: u64) -> Result<(), Error> {
        self.check(sequence)?;
        if sequence > self.top() {
            self.slide_to(sequence);
        }
        let (word, bit) = self.position(sequence);
        if let Some(bits) = self.words.get(word) {
            bits.store(bits.load(Ordering::Relaxed) | bit, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The full 64-bit sequence number of a packet that carries only the low 32 bits, guessed
    /// from the window as in <https://www.rfc-editor.org/rfc/rfc4303#appendix-A2.2>: the high
    /// half that puts the packet inside or to the right of the window. `None` if that would
    /// exceed 64 bits.
    pub fn infer_esn(&self, low: u32) -> Option<u64> {
        let top = self.top();
        let top_low = top as u32;
        let top_high = (top >> 32) as u32;
        // The window is at most 2^20 packets, so it fits in the low half.
        let reach = (self.size - 1) as u32;
        let bottom_low = top_low.wrapping_sub(reach);
        let high = if top_low >= reach {
            // The window lies within one 2^32 subspace.
            if low >= bottom_low {
                top_high
            } else {
                top_high.checked_add(1)?
            }
        } else if low >= bottom_low {
            // The window spans two subspaces and the packet lies in the lower one; before the
            // first subspace there is nothing, so the packet is read as in the current one.
            top_high.saturating_sub(1)
        } else {
            top_high
        };
        Some(u64::from(high) << 32 | u64::from(low))
    }

    /// Word index and bit mask of `sequence`.
    fn position(&self, sequence: u64) -> (usize, u64) {
        let words = self.words.len() as u64;
        let word = (sequence / WORD_BITS) % words;
        (word as usize, 1u64 << (sequence % WORD_BITS))
    }

    /// Moves `top` up to `sequence`, clearing the words that come into the window.
    fn slide_to(&self, sequence: u64) {
        let old_block = self.top() / WORD_BITS;
        let new_block = sequence / WORD_BITS;
        let words = self.words.len() as u64;
        let to_clear = (new_block - old_block).min(words);
        for step in 1..=to_clear {
            let word = ((old_block + step) % words) as usize;
            if let Some(bits) = self.words.get(word) {
                bits.store(0, Ordering::Relaxed);
            }
        }
        self.top.store(sequence, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for ReplayWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayWindow")
            .field("size", &self.size)
            .field("top", &self.top())
            .finish_non_exhaustive()
    }
}
