//! Notify and Delete payloads (<https://www.rfc-editor.org/rfc/rfc7296#section-3.10>,
//! <https://www.rfc-editor.org/rfc/rfc7296#section-3.11>).

use super::error::{DecodeError, EncodeError};
use super::notify_type::NotifyType;
use super::reader::Reader;
use super::registry::ProtocolId;
use super::transform_ids::DhGroup;
use super::writer::{count_u16, count_u8};

/// Notify payload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notify<'a> {
    /// Protocol of the SA the notify concerns; [`ProtocolId::Unspecified`] when `spi` is empty.
    pub protocol: ProtocolId,
    /// SPI of the SA the notify concerns, usually empty.
    pub spi: &'a [u8],
    /// The notify message type.
    pub notify_type: NotifyType,
    /// Type-specific notification data.
    pub data: &'a [u8],
}

impl<'a> Notify<'a> {
    /// A notify that concerns no particular SA.
    pub fn new(notify_type: NotifyType, data: &'a [u8]) -> Self {
        Self {
            protocol: ProtocolId::Unspecified,
            spi: &[],
            notify_type,
            data,
        }
    }

    /// The group the responder accepts, from an INVALID_KE_PAYLOAD notify (two octets,
    /// <https://www.rfc-editor.org/rfc/rfc7296#section-1.2>); `None` for another type or a
    /// malformed value.
    pub fn invalid_ke_group(&self) -> Option<DhGroup> {
        if self.notify_type != NotifyType::InvalidKePayload {
            return None;
        }
        <[u8; 2]>::try_from(self.data)
            .ok()
            .map(|octets| DhGroup::from(u16::from_be_bytes(octets)))
    }

    /// The window size of a SET_WINDOW_SIZE notify (four octets,
    /// <https://www.rfc-editor.org/rfc/rfc7296#section-2.3>).
    pub fn window_size(&self) -> Option<u32> {
        if self.notify_type != NotifyType::SetWindowSize {
            return None;
        }
        <[u8; 4]>::try_from(self.data).ok().map(u32::from_be_bytes)
    }

    /// The hash algorithm IDs of a SIGNATURE_HASH_ALGORITHMS notify (a list of two-octet
    /// values, <https://www.rfc-editor.org/rfc/rfc7427#section-4>); `None` for another type or
    /// an odd length.
    pub fn signature_hash_algorithms(&self) -> Option<Vec<u16>> {
        if self.notify_type != NotifyType::SignatureHashAlgorithms || self.data.len() % 2 != 0 {
            return None;
        }
        Some(
            self.data
                .chunks_exact(2)
                .filter_map(|pair| <[u8; 2]>::try_from(pair).ok())
                .map(u16::from_be_bytes)
                .collect(),
        )
    }

    /// Decodes a Notify payload body.
    pub fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        let truncated = || DecodeError::Truncated("Notify payload");
        let protocol = ProtocolId::from(reader.u8().ok_or_else(truncated)?);
        let spi_size = reader.u8().ok_or_else(truncated)?;
        let notify_type = NotifyType::from(reader.u16().ok_or_else(truncated)?);
        let spi = reader.take(usize::from(spi_size)).ok_or_else(truncated)?;
        Ok(Self {
            protocol,
            spi,
            notify_type,
            data: reader.rest(),
        })
    }

    /// Appends the Notify payload body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let spi_size = count_u8(self.spi.len(), "SPI octets")?;
        out.extend_from_slice(&[self.protocol.into(), spi_size]);
        out.extend_from_slice(&u16::from(self.notify_type).to_be_bytes());
        out.extend_from_slice(self.spi);
        out.extend_from_slice(self.data);
        Ok(())
    }
}

/// Delete payload body: SAs of one protocol that the sender deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete<'a> {
    /// Protocol of the deleted SAs.
    pub protocol: ProtocolId,
    /// Size of each SPI: 0 for IKE (the SA is the one the message travels in), 4 for ESP/AH.
    pub spi_size: u8,
    /// The SPIs, each `spi_size` octets; empty for IKE.
    pub spis: Vec<&'a [u8]>,
}

impl<'a> Delete<'a> {
    /// Deletion of the IKE SA the message is protected by.
    pub fn ike() -> Self {
        Self {
            protocol: ProtocolId::Ike,
            spi_size: 0,
            spis: Vec::new(),
        }
    }

    /// Decodes a Delete payload body. A zero SPI size with a non-zero count is refused.
    pub fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        let truncated = || DecodeError::Truncated("Delete payload");
        let protocol_raw = reader.u8().ok_or_else(truncated)?;
        let spi_size = reader.u8().ok_or_else(truncated)?;
        let declared = usize::from(reader.u16().ok_or_else(truncated)?);
        if spi_size == 0 && declared != 0 {
            return Err(DecodeError::InvalidSpiSize {
                protocol: protocol_raw,
                size: spi_size,
            });
        }
        let found = reader.remaining() / usize::from(spi_size.max(1));
        if found != declared || reader.remaining() % usize::from(spi_size.max(1)) != 0 {
            return Err(DecodeError::CountMismatch {
                what: "Delete SPIs",
                declared,
                found,
            });
        }
        let mut spis = Vec::with_capacity(declared);
        for _ in 0..declared {
            spis.push(reader.take(usize::from(spi_size)).ok_or_else(truncated)?);
        }
        Ok(Self {
            protocol: protocol_raw.into(),
            spi_size,
            spis,
        })
    }

    /// Appends the Delete payload body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let count = count_u16(self.spis.len(), "Delete SPIs")?;
        out.extend_from_slice(&[self.protocol.into(), self.spi_size]);
        out.extend_from_slice(&count.to_be_bytes());
        for spi in &self.spis {
            if spi.len() != usize::from(self.spi_size) {
                return Err(EncodeError::SpiSizeMismatch {
                    declared: self.spi_size,
                    actual: spi.len(),
                });
            }
            out.extend_from_slice(spi);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_notification_data() {
        let group = Notify::new(NotifyType::InvalidKePayload, &[0, 31]);
        assert_eq!(group.invalid_ke_group(), Some(DhGroup::Curve25519));
        assert_eq!(
            Notify::new(NotifyType::InvalidKePayload, &[31]).invalid_ke_group(),
            None
        );
        assert_eq!(
            Notify::new(NotifyType::Cookie, &[0, 31]).invalid_ke_group(),
            None
        );

        let window = Notify::new(NotifyType::SetWindowSize, &[0, 0, 1, 0]);
        assert_eq!(window.window_size(), Some(256));
        assert_eq!(
            Notify::new(NotifyType::SetWindowSize, &[1]).window_size(),
            None
        );

        let hashes = Notify::new(NotifyType::SignatureHashAlgorithms, &[0, 2, 0, 5]);
        assert_eq!(hashes.signature_hash_algorithms(), Some(vec![2, 5]));
        let odd = Notify::new(NotifyType::SignatureHashAlgorithms, &[0, 2, 0]);
        assert_eq!(odd.signature_hash_algorithms(), None);
    }
}
