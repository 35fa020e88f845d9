//! A borrowing cursor over received bytes, in the style of rustls `msgs/codec.rs`.
//!
//! Every read is checked: `take(n)` returns `None` instead of panicking when fewer than `n`
//! bytes remain, and length-delimited bodies are read through sub-readers so that a nested
//! structure can never run past its own length field.

/// A cursor over a byte slice; reads advance it and return sub-slices of the input.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The next `n` bytes, or `None` if fewer remain (then nothing is consumed).
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(n)?;
        self.rest = tail;
        Some(head)
    }

    /// A reader over the next `n` bytes, which this reader skips.
    pub(crate) fn sub(&mut self, n: usize) -> Option<Reader<'a>> {
        self.take(n).map(Reader::new)
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// One octet.
    pub(crate) fn u8(&mut self) -> Option<u8> {
        let [octet] = self.array::<1>()?;
        Some(octet)
    }

    /// A big-endian 16-bit integer.
    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    /// A big-endian 32-bit integer.
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    /// A big-endian 64-bit integer.
    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }

    /// Everything that remains; the reader is empty afterwards.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// The number of bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Whether every byte has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_advance_and_never_overrun() {
        let mut reader = Reader::new(&[1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(reader.u8(), Some(1));
        assert_eq!(reader.u16(), Some(0x0203));
        assert_eq!(reader.take(8), None);
        assert_eq!(reader.remaining(), 4);
        assert_eq!(reader.u64(), None);
        assert_eq!(reader.u32(), Some(0x0405_0607));
        assert!(reader.is_empty());
        assert_eq!(reader.u8(), None);
    }

    #[test]
    fn sub_reader_is_bounded() {
        let mut reader = Reader::new(&[9, 8, 7]);
        let mut inner = reader.sub(2).expect("two bytes");
        assert_eq!(inner.u16(), Some(0x0908));
        assert_eq!(inner.u8(), None);
        assert_eq!(reader.rest(), &[7]);
        assert!(reader.is_empty());
    }
}
