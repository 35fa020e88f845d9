//! Emission helpers: back-patching length fields once a structure's end is known.
//!
//! Every length in IKEv2 (message, payload, proposal, transform, attribute, selector) counts
//! the structure it starts. The encoders append a placeholder, write the body, then patch the
//! placeholder with the final size, failing with [`EncodeError::TooLong`] if it does not fit.

use super::error::EncodeError;

/// A length field still to be filled in: the structure starts at `start` in the output and its
/// length field at `start + offset`.
#[derive(Debug)]
pub(crate) struct LengthPatch {
    start: usize,
    field: usize,
}

impl LengthPatch {
    /// Marks a structure that starts at the current end of `out` and whose length field will be
    /// `offset` octets into it.
    pub(crate) fn begin(out: &[u8], offset: usize) -> Self {
        Self {
            start: out.len(),
            field: out.len() + offset,
        }
    }

    /// Writes the 16-bit length of everything appended since [`Self::begin`].
    pub(crate) fn finish_u16(self, out: &mut [u8], what: &'static str) -> Result<(), EncodeError> {
        let length =
            u16::try_from(out.len() - self.start).map_err(|_| EncodeError::TooLong(what))?;
        write_at(out, self.field, &length.to_be_bytes(), what)
    }

    /// Writes the 32-bit length of everything appended since [`Self::begin`].
    pub(crate) fn finish_u32(self, out: &mut [u8], what: &'static str) -> Result<(), EncodeError> {
        let length =
            u32::try_from(out.len() - self.start).map_err(|_| EncodeError::TooLong(what))?;
        write_at(out, self.field, &length.to_be_bytes(), what)
    }
}

/// Overwrites `bytes.len()` octets of `out` at `at`.
fn write_at(
    out: &mut [u8],
    at: usize,
    bytes: &[u8],
    what: &'static str,
) -> Result<(), EncodeError> {
    let slot = out
        .get_mut(at..at + bytes.len())
        .ok_or(EncodeError::TooLong(what))?;
    slot.copy_from_slice(bytes);
    Ok(())
}

/// A count as one octet.
pub(crate) fn count_u8(count: usize, what: &'static str) -> Result<u8, EncodeError> {
    u8::try_from(count).map_err(|_| EncodeError::TooMany(what))
}

/// A count as two octets.
pub(crate) fn count_u16(count: usize, what: &'static str) -> Result<u16, EncodeError> {
    u16::try_from(count).map_err(|_| EncodeError::TooMany(what))
}
