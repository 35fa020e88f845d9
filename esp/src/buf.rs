//! A packet buffer with headroom and tailroom, so headers and trailers are written in place.
//!
//! A [`PacketBuf`] owns a fixed block of memory and marks the packet inside it with `start..end`.
//! Bytes before `start` are headroom (room for the ESP header and IV, then the transport's own
//! prefix such as the 4-byte TPKT' header), bytes after `end` are tailroom (padding, trailer,
//! ICV). Sealing grows the packet into both; opening shrinks it to the inner packet. The memory
//! is allocated once and reused through a [`crate::BufPool`].

use crate::Error;

/// A packet inside a reusable block of memory, with headroom in front and tailroom behind.
pub struct PacketBuf {
    storage: Box<[u8]>,
    start: usize,
    end: usize,
}

impl PacketBuf {
    /// A zeroed buffer of `capacity` bytes holding an empty packet at offset 0.
    pub fn new(capacity: usize) -> Self {
        Self {
            storage: vec![0; capacity].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// Total bytes of memory, headroom + packet + tailroom.
    pub fn capacity(&self) -> usize {
        self.storage.len()
    }

    /// Empties the packet and places its start `headroom` bytes into the memory (clamped to the
    /// capacity), ready to receive a packet with [`PacketBuf::spare_mut`] and
    /// [`PacketBuf::commit`].
    pub fn reset(&mut self, headroom: usize) {
        let at = headroom.min(self.storage.len());
        self.start = at;
        self.end = at;
    }

    /// The packet bytes.
    pub fn data(&self) -> &[u8] {
        self.storage.get(self.start..self.end).unwrap_or_default()
    }

    /// The packet bytes, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.storage
            .get_mut(self.start..self.end)
            .unwrap_or_default()
    }

    /// Length of the packet.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the packet is empty.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Bytes free in front of the packet.
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// Bytes free behind the packet.
    pub fn tailroom(&self) -> usize {
        self.storage.len() - self.end
    }

    /// The free memory behind the packet, for a `read`/`recv` to fill; follow with
    /// [`PacketBuf::commit`].
    pub fn spare_mut(&mut self) -> &mut [u8] {
        self.storage.get_mut(self.end..).unwrap_or_default()
    }

    /// Appends `n` bytes that a read placed into [`PacketBuf::spare_mut`].
    pub fn commit(&mut self, n: usize) -> Result<(), Error> {
        if n > self.tailroom() {
            return Err(Error::BufferTooSmall);
        }
        self.end += n;
        Ok(())
    }

    /// Replaces the packet with a copy of `bytes`, `headroom` bytes into the memory.
    pub fn fill(&mut self, headroom: usize, bytes: &[u8]) -> Result<(), Error> {
        let end = headroom
            .checked_add(bytes.len())
            .filter(|&end| end <= self.storage.len())
            .ok_or(Error::BufferTooSmall)?;
        self.storage
            .get_mut(headroom..end)
            .ok_or(Error::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.start = headroom;
        self.end = end;
        Ok(())
    }

    /// Grows the packet by `n` bytes at the front and returns them (e.g. to write the TPKT'
    /// header in front of an ESP packet).
    pub fn push_front(&mut self, n: usize) -> Result<&mut [u8], Error> {
        let start = self.start.checked_sub(n).ok_or(Error::BufferTooSmall)?;
        self.start = start;
        Ok(self.storage.get_mut(start..start + n).unwrap_or_default())
    }

    /// Removes `n` bytes from the front of the packet (e.g. a framing header after reading it).
    pub fn pull_front(&mut self, n: usize) -> Result<(), Error> {
        if n > self.len() {
            return Err(Error::Truncated);
        }
        self.start += n;
        Ok(())
    }

    /// Grows the packet by `n` bytes at the back and returns them.
    pub fn push_back(&mut self, n: usize) -> Result<&mut [u8], Error> {
        if n > self.tailroom() {
            return Err(Error::BufferTooSmall);
        }
        let end = self.end;
        self.end += n;
        Ok(self.storage.get_mut(end..end + n).unwrap_or_default())
    }

    /// Shortens the packet to `len` bytes (no effect if it is already shorter).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.end = self.start + len;
        }
    }

    /// The packet plus `front` bytes of headroom and `back` bytes of tailroom, as one writable
    /// slice, or `None` if the room is not there. Sealing writes header and trailer through this.
    pub(crate) fn with_room_mut(&mut self, front: usize, back: usize) -> Option<&mut [u8]> {
        let start = self.start.checked_sub(front)?;
        let end = self.end.checked_add(back)?;
        self.storage.get_mut(start..end)
    }

    /// Moves the packet bounds to `start..end` (offsets into the memory); used after sealing
    /// and opening in place. Bounds outside the memory are refused.
    pub(crate) fn set_bounds(&mut self, start: usize, end: usize) -> Result<(), Error> {
        if start > end || end > self.storage.len() {
            return Err(Error::BufferTooSmall);
        }
        self.start = start;
        self.end = end;
        Ok(())
    }

    /// The current packet start as an offset into the memory.
    pub(crate) fn start(&self) -> usize {
        self.start
    }
}

impl std::fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketBuf")
            .field("capacity", &self.storage.len())
            .field("start", &self.start)
            .field("end", &self.end)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_then_prepend_and_strip() {
        let mut buf = PacketBuf::new(32);
        buf.reset(8);
        assert_eq!((buf.headroom(), buf.tailroom(), buf.len()), (8, 24, 0));
        buf.spare_mut()[..3].copy_from_slice(b"abc");
        buf.commit(3).unwrap();
        assert_eq!(buf.data(), b"abc");
        buf.push_front(4).unwrap().copy_from_slice(&[1, 0, 0, 7]);
        assert_eq!(buf.data(), &[1, 0, 0, 7, b'a', b'b', b'c']);
        buf.pull_front(4).unwrap();
        assert_eq!(buf.data(), b"abc");
        buf.push_back(2).unwrap().copy_from_slice(b"de");
        assert_eq!(buf.data(), b"abcde");
        buf.truncate(1);
        assert_eq!(buf.data(), b"a");
    }

    #[test]
    fn refuses_to_grow_past_the_memory() {
        let mut buf = PacketBuf::new(8);
        buf.reset(2);
        assert_eq!(buf.push_front(3).err(), Some(Error::BufferTooSmall));
        assert_eq!(buf.commit(7).err(), Some(Error::BufferTooSmall));
        assert_eq!(buf.push_back(7).err(), Some(Error::BufferTooSmall));
        assert_eq!(buf.pull_front(1).err(), Some(Error::Truncated));
        assert_eq!(buf.fill(4, &[0; 5]).err(), Some(Error::BufferTooSmall));
        assert_eq!(
            buf.fill(usize::MAX, &[0; 5]).err(),
            Some(Error::BufferTooSmall)
        );
        buf.reset(100);
        assert_eq!((buf.headroom(), buf.tailroom()), (8, 0));
        assert!(buf.with_room_mut(9, 0).is_none());
    }
}
