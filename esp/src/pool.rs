//! A per-worker pool of reusable packet buffers.
//!
//! Each data-plane worker owns one [`BufPool`] (`&mut self`, no locks): it takes a buffer for
//! every packet and gives it back when the packet has been written out. In steady state no
//! packet allocates; the pool only allocates when it runs dry and keeps at most `max_pooled`
//! spare buffers so a burst cannot pin memory forever.

use crate::{Error, PacketBuf};

/// A stack of equally sized [`PacketBuf`]s owned by one worker.
#[derive(Debug)]
pub struct BufPool {
    free: Vec<PacketBuf>,
    buffer_capacity: usize,
    max_pooled: usize,
}

impl BufPool {
    /// A pool of buffers of `buffer_capacity` bytes each, pre-filled with `prefill` buffers and
    /// keeping at most `max_pooled` spare ones.
    pub fn new(buffer_capacity: usize, prefill: usize, max_pooled: usize) -> Result<Self, Error> {
        if buffer_capacity == 0 {
            return Err(Error::InvalidConfig("buffer capacity must not be zero"));
        }
        if prefill > max_pooled {
            return Err(Error::InvalidConfig("prefill exceeds max_pooled"));
        }
        let mut free = Vec::with_capacity(max_pooled);
        free.extend((0..prefill).map(|_| PacketBuf::new(buffer_capacity)));
        Ok(Self {
            free,
            buffer_capacity,
            max_pooled,
        })
    }

    /// Capacity of every buffer of this pool.
    pub fn buffer_capacity(&self) -> usize {
        self.buffer_capacity
    }

    /// Spare buffers currently held.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// A buffer with an empty packet `headroom` bytes in; allocates only when the pool is empty.
    pub fn take(&mut self, headroom: usize) -> PacketBuf {
        let mut buf = self
            .free
            .pop()
            .unwrap_or_else(|| PacketBuf::new(self.buffer_capacity));
        buf.reset(headroom);
        buf
    }

    /// Gives a buffer back. Buffers of another capacity, and buffers beyond `max_pooled`, are
    /// freed instead.
    pub fn give(&mut self, buf: PacketBuf) {
        if buf.capacity() == self.buffer_capacity && self.free.len() < self.max_pooled {
            self.free.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_buffers_and_bounds_the_spares() {
        let mut pool = BufPool::new(64, 1, 2).unwrap();
        let a = pool.take(16);
        assert_eq!((a.headroom(), a.len(), a.capacity()), (16, 0, 64));
        assert_eq!(pool.available(), 0);
        let b = pool.take(0);
        let c = pool.take(0);
        pool.give(a);
        pool.give(b);
        pool.give(c);
        assert_eq!(pool.available(), 2);
        pool.give(PacketBuf::new(10));
        assert_eq!(pool.available(), 2);
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(BufPool::new(0, 0, 1).is_err());
        assert!(BufPool::new(10, 3, 2).is_err());
    }
}
