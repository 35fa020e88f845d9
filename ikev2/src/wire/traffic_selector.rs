//! Traffic Selector payloads, TSi and TSr
//! (<https://www.rfc-editor.org/rfc/rfc7296#section-3.13>).
//!
//! IPv4 and IPv6 ranges are decoded into typed addresses; selectors of other types (Fibre
//! Channel, security labels) are kept as received so that the engine can narrow them away.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::error::{DecodeError, EncodeError};
use super::reader::Reader;
use super::registry::TsType;
use super::writer::{count_u8, LengthPatch};

/// Traffic Selector payload body: a list of selectors (an OR of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficSelectors<'a> {
    /// The selectors, in order.
    pub selectors: Vec<TrafficSelector<'a>>,
}

/// One traffic selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficSelector<'a> {
    /// TS_IPV4_ADDR_RANGE.
    Ipv4(AddressRange<Ipv4Addr>),
    /// TS_IPV6_ADDR_RANGE.
    Ipv6(AddressRange<Ipv6Addr>),
    /// Another selector type, kept as received.
    Other {
        /// The TS type.
        ts_type: TsType,
        /// The octet after the type (IP protocol ID for address ranges).
        second_octet: u8,
        /// The selector after its 4-octet type/length header.
        body: &'a [u8],
    },
}

/// An address range with an IP protocol and a port range; both bounds inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressRange<A> {
    /// IP protocol ID (e.g. 6 TCP, 17 UDP), 0 for any.
    pub ip_protocol: u8,
    /// First port (0 with `end_port` 65535 for any; ICMP type/code for ICMP).
    pub start_port: u16,
    /// Last port.
    pub end_port: u16,
    /// First address.
    pub start_address: A,
    /// Last address.
    pub end_address: A,
}

impl<A> AddressRange<A> {
    /// All ports and protocols between two addresses.
    pub fn any_protocol(start_address: A, end_address: A) -> Self {
        Self {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_address,
            end_address,
        }
    }
}

/// Length of the type, protocol and length fields that start every selector.
const SELECTOR_HEADER: usize = 4;
/// Length of an IPv4 range selector: header, two ports, two 4-octet addresses.
const IPV4_SELECTOR_LEN: usize = SELECTOR_HEADER + 4 + 2 * 4;
/// Length of an IPv6 range selector: header, two ports, two 16-octet addresses.
const IPV6_SELECTOR_LEN: usize = SELECTOR_HEADER + 4 + 2 * 16;

impl<'a> TrafficSelector<'a> {
    /// The TS type.
    pub fn ts_type(&self) -> TsType {
        match self {
            Self::Ipv4(_) => TsType::Ipv4AddrRange,
            Self::Ipv6(_) => TsType::Ipv6AddrRange,
            Self::Other { ts_type, .. } => *ts_type,
        }
    }

    fn decode(reader: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let truncated = || DecodeError::Truncated("traffic selector");
        let ts_type = TsType::from(reader.u8().ok_or_else(truncated)?);
        let second_octet = reader.u8().ok_or_else(truncated)?;
        let length = usize::from(reader.u16().ok_or_else(truncated)?);
        let bad_length = || DecodeError::InvalidSelectorLength {
            ts_type: ts_type.into(),
            length,
        };
        let expected = match ts_type {
            TsType::Ipv4AddrRange => Some(IPV4_SELECTOR_LEN),
            TsType::Ipv6AddrRange => Some(IPV6_SELECTOR_LEN),
            _ => None,
        };
        if expected.is_some_and(|expected| expected != length) || length < SELECTOR_HEADER {
            return Err(bad_length());
        }
        let mut body = reader.sub(length - SELECTOR_HEADER).ok_or_else(truncated)?;
        match ts_type {
            TsType::Ipv4AddrRange => {
                let (start_port, end_port) = ports(&mut body).ok_or_else(truncated)?;
                let start = body.array::<4>().ok_or_else(truncated)?;
                let end = body.array::<4>().ok_or_else(truncated)?;
                Ok(Self::Ipv4(AddressRange {
                    ip_protocol: second_octet,
                    start_port,
                    end_port,
                    start_address: start.into(),
                    end_address: end.into(),
                }))
            }
            TsType::Ipv6AddrRange => {
                let (start_port, end_port) = ports(&mut body).ok_or_else(truncated)?;
                let start = body.array::<16>().ok_or_else(truncated)?;
                let end = body.array::<16>().ok_or_else(truncated)?;
                Ok(Self::Ipv6(AddressRange {
                    ip_protocol: second_octet,
                    start_port,
                    end_port,
                    start_address: start.into(),
                    end_address: end.into(),
                }))
            }
            _ => Ok(Self::Other {
                ts_type,
                second_octet,
                body: body.rest(),
            }),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let patch = LengthPatch::begin(out, 2);
        match self {
            Self::Ipv4(range) => {
                encode_range_head(out, TsType::Ipv4AddrRange, range);
                out.extend_from_slice(&range.start_address.octets());
                out.extend_from_slice(&range.end_address.octets());
            }
            Self::Ipv6(range) => {
                encode_range_head(out, TsType::Ipv6AddrRange, range);
                out.extend_from_slice(&range.start_address.octets());
                out.extend_from_slice(&range.end_address.octets());
            }
            Self::Other {
                ts_type,
                second_octet,
                body,
            } => {
                out.extend_from_slice(&[(*ts_type).into(), *second_octet, 0, 0]);
                out.extend_from_slice(body);
            }
        }
        patch.finish_u16(out, "traffic selector")
    }
}

fn ports(reader: &mut Reader<'_>) -> Option<(u16, u16)> {
    Some((reader.u16()?, reader.u16()?))
}

/// Type, protocol, a length placeholder and the two ports.
fn encode_range_head<A>(out: &mut Vec<u8>, ts_type: TsType, range: &AddressRange<A>) {
    out.extend_from_slice(&[ts_type.into(), range.ip_protocol, 0, 0]);
    out.extend_from_slice(&range.start_port.to_be_bytes());
    out.extend_from_slice(&range.end_port.to_be_bytes());
}

impl<'a> TrafficSelectors<'a> {
    /// Decodes a TSi or TSr payload body, checking the declared selector count.
    pub fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        let truncated = || DecodeError::Truncated("Traffic Selector payload");
        let declared = usize::from(reader.u8().ok_or_else(truncated)?);
        reader.take(3).ok_or_else(truncated)?;
        let mut selectors = Vec::new();
        while !reader.is_empty() {
            selectors.push(TrafficSelector::decode(&mut reader)?);
        }
        if selectors.len() != declared {
            return Err(DecodeError::CountMismatch {
                what: "traffic selectors",
                declared,
                found: selectors.len(),
            });
        }
        Ok(Self { selectors })
    }

    /// Appends the TSi/TSr payload body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let count = count_u8(self.selectors.len(), "traffic selectors")?;
        out.extend_from_slice(&[count, 0, 0, 0]);
        for selector in &self.selectors {
            selector.encode(out)?;
        }
        Ok(())
    }
}
