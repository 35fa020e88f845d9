//! Configuration payload, CP (<https://www.rfc-editor.org/rfc/rfc7296#section-3.15>): the
//! virtual address, DNS and P-CSCF servers a remote-access client asks for and is given.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::error::{DecodeError, EncodeError};
use super::reader::Reader;
use super::registry::{CfgType, ConfigAttributeType};

/// The reserved bit in front of the 15-bit attribute type.
const RESERVED_BIT: u16 = 0x8000;

/// Configuration payload body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration<'a> {
    /// Request, reply, set or acknowledgement.
    pub cfg_type: CfgType,
    /// The attributes in order.
    pub attributes: Vec<ConfigAttribute<'a>>,
}

/// A configuration attribute (<https://www.rfc-editor.org/rfc/rfc7296#section-3.15.1>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigAttribute<'a> {
    /// Attribute type (15 bits).
    pub kind: ConfigAttributeType,
    /// The value; empty in a request for "any".
    pub value: &'a [u8],
}

impl<'a> ConfigAttribute<'a> {
    /// An attribute with an empty value, as sent in a CFG_REQUEST.
    pub fn request(kind: ConfigAttributeType) -> Self {
        Self { kind, value: &[] }
    }

    /// The value as an IPv4 address, if it is exactly 4 octets.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        <[u8; 4]>::try_from(self.value).ok().map(Ipv4Addr::from)
    }

    /// The address of a 17-octet INTERNAL_IP6_ADDRESS-style value (address and prefix
    /// length), or of a 16-octet value (INTERNAL_IP6_DNS, P_CSCF_IP6_ADDRESS).
    pub fn ipv6(&self) -> Option<(Ipv6Addr, Option<u8>)> {
        let mut reader = Reader::new(self.value);
        let address = Ipv6Addr::from(reader.array::<16>()?);
        let prefix = reader.u8();
        reader.is_empty().then_some((address, prefix))
    }

    fn decode(reader: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let truncated = || DecodeError::Truncated("configuration attribute");
        let kind = ConfigAttributeType::from(reader.u16().ok_or_else(truncated)? & !RESERVED_BIT);
        let length = reader.u16().ok_or_else(truncated)?;
        let value = reader.take(usize::from(length)).ok_or_else(truncated)?;
        if !valid_length(kind, value.len()) {
            return Err(DecodeError::InvalidAttributeLength {
                kind: kind.into(),
                length,
            });
        }
        Ok(Self { kind, value })
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let kind = u16::from(self.kind);
        if kind & RESERVED_BIT != 0 {
            return Err(EncodeError::OutOfRange("configuration attribute type"));
        }
        let length = u16::try_from(self.value.len())
            .map_err(|_| EncodeError::TooLong("configuration attribute"))?;
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(self.value);
        Ok(())
    }
}

/// Whether `length` is allowed for an attribute of type `kind`: 0 (a request) or the size of
/// the value (<https://www.rfc-editor.org/rfc/rfc7296#section-3.15.1>,
/// <https://www.rfc-editor.org/rfc/rfc7651#section-3>). Types without a fixed size pass.
fn valid_length(kind: ConfigAttributeType, length: usize) -> bool {
    use ConfigAttributeType as Kind;
    match kind {
        Kind::InternalIp4Address
        | Kind::InternalIp4Netmask
        | Kind::InternalIp4Dns
        | Kind::InternalIp4Nbns
        | Kind::InternalIp4Dhcp
        | Kind::PCscfIp4Address => length == 0 || length == 4,
        Kind::InternalIp6Address => length == 0 || length == 17,
        Kind::InternalIp6Dns | Kind::InternalIp6Dhcp | Kind::PCscfIp6Address => {
            length == 0 || length == 16
        }
        Kind::InternalIp4Subnet => length == 0 || length == 8,
        Kind::InternalIp6Subnet => length == 17,
        Kind::SupportedAttributes => length % 2 == 0,
        Kind::ApplicationVersion
        | Kind::InternalDnsDomain
        | Kind::LegacyPCscfIp4Address
        | Kind::LegacyPCscfIp6Address
        | Kind::Unknown(_) => true,
    }
}

impl<'a> Configuration<'a> {
    /// Decodes a CP payload body.
    pub fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        let truncated = || DecodeError::Truncated("Configuration payload");
        let cfg_type = CfgType::from(reader.u8().ok_or_else(truncated)?);
        reader.take(3).ok_or_else(truncated)?;
        let mut attributes = Vec::new();
        while !reader.is_empty() {
            attributes.push(ConfigAttribute::decode(&mut reader)?);
        }
        Ok(Self {
            cfg_type,
            attributes,
        })
    }

    /// Appends the CP payload body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&[self.cfg_type.into(), 0, 0, 0]);
        for attribute in &self.attributes {
            attribute.encode(out)?;
        }
        Ok(())
    }
}
