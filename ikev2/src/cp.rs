//! The configuration payload exchange
//! ([RFC 7296 §3.15](https://www.rfc-editor.org/rfc/rfc7296#section-3.15), RFC 7651 P-CSCF).
//!
//! The responder answers a CFG_REQUEST with addresses from the gateway's [`AddressPool`] (the
//! pool belongs to the gateway; the engine only asks it and gives addresses back when the IKE SA
//! closes), DNS servers and P-CSCF addresses from the peer configuration. It answers both the
//! RFC 7651 attributes (20/21) and the older private ones (16389/16390) deployed phones send,
//! echoing whichever the request used. The initiator asks and reports what it got.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::VirtualIpConfig;
use crate::identity::Identity;

/// CFG Type codes (§3.15).
pub mod cfg_type {
    /// CFG_REQUEST.
    pub const REQUEST: u8 = 1;
    /// CFG_REPLY.
    pub const REPLY: u8 = 2;
}

/// Configuration attribute types (§3.15.1, RFC 7651, 3GPP private use).
pub mod attr {
    /// INTERNAL_IP4_ADDRESS.
    pub const INTERNAL_IP4_ADDRESS: u16 = 1;
    /// INTERNAL_IP4_NETMASK.
    pub const INTERNAL_IP4_NETMASK: u16 = 2;
    /// INTERNAL_IP4_DNS.
    pub const INTERNAL_IP4_DNS: u16 = 3;
    /// INTERNAL_IP6_ADDRESS (address + prefix length).
    pub const INTERNAL_IP6_ADDRESS: u16 = 8;
    /// INTERNAL_IP6_DNS.
    pub const INTERNAL_IP6_DNS: u16 = 10;
    /// P_CSCF_IP4_ADDRESS (RFC 7651).
    pub const P_CSCF_IP4_ADDRESS: u16 = 20;
    /// P_CSCF_IP6_ADDRESS (RFC 7651).
    pub const P_CSCF_IP6_ADDRESS: u16 = 21;
    /// The pre-RFC 7651 private P-CSCF IPv4 attribute (3GPP TS 24.302 era).
    pub const PRIVATE_P_CSCF_IP4: u16 = 16389;
    /// The pre-RFC 7651 private P-CSCF IPv6 attribute.
    pub const PRIVATE_P_CSCF_IP6: u16 = 16390;
}

/// Upper bound on attributes we read from one CP payload.
pub const MAX_ATTRIBUTES: usize = 64;

/// One configuration attribute as numbers and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute type (without the reserved high bit).
    pub kind: u16,
    /// Value bytes (empty in most requests).
    pub value: Vec<u8>,
}

impl Attribute {
    fn addr(kind: u16, addr: IpAddr) -> Self {
        let value = match addr {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        Attribute { kind, value }
    }
}

/// The address pools owned by the gateway. The engine calls `allocate` while answering a CP
/// request and `release` when the IKE SA holding the address goes away.
pub trait AddressPool {
    /// An IPv4 address from pool `pool` for `peer`, preferably `requested`; `None` when exhausted
    /// or unknown (the engine then answers INTERNAL_ADDRESS_FAILURE).
    fn allocate_v4(
        &mut self,
        pool: &str,
        peer: &Identity,
        requested: Option<Ipv4Addr>,
    ) -> Option<Ipv4Addr>;
    /// An IPv6 address (host /128) from pool `pool`; pools without IPv6 return `None`.
    fn allocate_v6(
        &mut self,
        pool: &str,
        peer: &Identity,
        requested: Option<Ipv6Addr>,
    ) -> Option<Ipv6Addr>;
    /// Gives back an address handed out by `allocate_*`.
    fn release(&mut self, pool: &str, address: IpAddr);
}

/// An [`AddressPool`] with no addresses (initiator-only endpoints, or gateways without pools).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoAddressPool;

impl AddressPool for NoAddressPool {
    fn allocate_v4(&mut self, _: &str, _: &Identity, _: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        None
    }
    fn allocate_v6(&mut self, _: &str, _: &Identity, _: Option<Ipv6Addr>) -> Option<Ipv6Addr> {
        None
    }
    fn release(&mut self, _: &str, _: IpAddr) {}
}

/// What one side learnt or gave through the configuration payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VirtualIp {
    /// Assigned inner addresses (at most one per family).
    pub addresses: Vec<IpAddr>,
    /// DNS servers.
    pub dns: Vec<IpAddr>,
    /// P-CSCF addresses.
    pub pcscf: Vec<IpAddr>,
}

/// The responder's answer to a CFG_REQUEST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Attributes for the CFG_REPLY.
    pub attributes: Vec<Attribute>,
    /// What was handed out (addresses must be released on close).
    pub assigned: VirtualIp,
    /// The peer asked for an address and the pool had none: INTERNAL_ADDRESS_FAILURE (§3.15.4).
    pub address_failure: bool,
}

fn requested_v4(value: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(value)
        .ok()
        .map(Ipv4Addr::from)
        .filter(|a| !a.is_unspecified())
}

fn requested_v6(value: &[u8]) -> Option<Ipv6Addr> {
    value
        .get(..16)
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .map(Ipv6Addr::from)
        .filter(|a| !a.is_unspecified())
}

/// Answers a CFG_REQUEST (responder).
pub fn answer(
    request: &[Attribute],
    config: &VirtualIpConfig,
    peer: &Identity,
    pool: &mut dyn AddressPool,
) -> Reply {
    let mut reply = Reply {
        attributes: Vec::new(),
        assigned: VirtualIp::default(),
        address_failure: false,
    };
    let pool_name = config.pool.as_deref();
    let wants = |kind: u16| request.iter().any(|a| a.kind == kind);
    if let Some(req) = request
        .iter()
        .find(|a| a.kind == attr::INTERNAL_IP4_ADDRESS)
    {
        match pool_name.and_then(|name| pool.allocate_v4(name, peer, requested_v4(&req.value))) {
            Some(addr) => {
                reply
                    .attributes
                    .push(Attribute::addr(attr::INTERNAL_IP4_ADDRESS, addr.into()));
                reply.assigned.addresses.push(addr.into());
            }
            None => reply.address_failure = true,
        }
    }
    if let Some(req) = request
        .iter()
        .find(|a| a.kind == attr::INTERNAL_IP6_ADDRESS)
    {
        if let Some(addr) =
            pool_name.and_then(|name| pool.allocate_v6(name, peer, requested_v6(&req.value)))
        {
            let mut value = addr.octets().to_vec();
            value.push(128);
            reply.attributes.push(Attribute {
                kind: attr::INTERNAL_IP6_ADDRESS,
                value,
            });
            reply.assigned.addresses.push(addr.into());
            reply.address_failure = false;
        } else if reply.assigned.addresses.is_empty() {
            reply.address_failure = true;
        }
    }
    for dns in &config.dns {
        let kind = if dns.is_ipv4() {
            attr::INTERNAL_IP4_DNS
        } else {
            attr::INTERNAL_IP6_DNS
        };
        if wants(kind) {
            reply.attributes.push(Attribute::addr(kind, *dns));
            reply.assigned.dns.push(*dns);
        }
    }
    for pcscf in &config.pcscf {
        let kinds = if pcscf.is_ipv4() {
            [attr::P_CSCF_IP4_ADDRESS, attr::PRIVATE_P_CSCF_IP4]
        } else {
            [attr::P_CSCF_IP6_ADDRESS, attr::PRIVATE_P_CSCF_IP6]
        };
        let mut given = false;
        for kind in kinds.into_iter().filter(|&k| wants(k)) {
            reply.attributes.push(Attribute::addr(kind, *pcscf));
            given = true;
        }
        if given {
            reply.assigned.pcscf.push(*pcscf);
        }
    }
    reply
}

/// The CFG_REQUEST attributes an initiator sends.
pub fn request(config: &VirtualIpConfig) -> Vec<Attribute> {
    let mut out = Vec::new();
    let empty = |kind| Attribute {
        kind,
        value: Vec::new(),
    };
    if config.request_ipv4 {
        out.extend([
            empty(attr::INTERNAL_IP4_ADDRESS),
            empty(attr::INTERNAL_IP4_DNS),
            empty(attr::P_CSCF_IP4_ADDRESS),
        ]);
    }
    if config.request_ipv6 {
        out.extend([
            empty(attr::INTERNAL_IP6_ADDRESS),
            empty(attr::INTERNAL_IP6_DNS),
            empty(attr::P_CSCF_IP6_ADDRESS),
        ]);
    }
    out
}

/// Reads a CFG_REPLY (initiator). Malformed values are skipped.
pub fn read_reply(reply: &[Attribute]) -> VirtualIp {
    let mut out = VirtualIp::default();
    for a in reply.iter().take(MAX_ATTRIBUTES) {
        let v4 = || {
            <[u8; 4]>::try_from(a.value.as_slice())
                .ok()
                .map(|b| IpAddr::from(Ipv4Addr::from(b)))
        };
        let v6 = || requested_v6(&a.value).map(IpAddr::from);
        let (list, addr) = match a.kind {
            attr::INTERNAL_IP4_ADDRESS => (&mut out.addresses, v4()),
            attr::INTERNAL_IP6_ADDRESS => (&mut out.addresses, v6()),
            attr::INTERNAL_IP4_DNS => (&mut out.dns, v4()),
            attr::INTERNAL_IP6_DNS => (&mut out.dns, v6()),
            attr::P_CSCF_IP4_ADDRESS | attr::PRIVATE_P_CSCF_IP4 => (&mut out.pcscf, v4()),
            attr::P_CSCF_IP6_ADDRESS | attr::PRIVATE_P_CSCF_IP6 => (&mut out.pcscf, v6()),
            _ => continue,
        };
        if let Some(addr) = addr.filter(|a| !a.is_unspecified()) {
            if !list.contains(&addr) {
                list.push(addr);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct TestPool {
        next: u8,
        released: Vec<IpAddr>,
    }

    impl AddressPool for TestPool {
        fn allocate_v4(
            &mut self,
            pool: &str,
            _: &Identity,
            requested: Option<Ipv4Addr>,
        ) -> Option<Ipv4Addr> {
            if pool != "p" || self.next >= 2 {
                return None;
            }
            self.next += 1;
            Some(requested.unwrap_or(Ipv4Addr::new(10, 99, 2, self.next)))
        }
        fn allocate_v6(&mut self, _: &str, _: &Identity, _: Option<Ipv6Addr>) -> Option<Ipv6Addr> {
            None
        }
        fn release(&mut self, _: &str, address: IpAddr) {
            self.released.push(address);
        }
    }

    fn config() -> VirtualIpConfig {
        VirtualIpConfig {
            pool: Some("p".into()),
            dns: vec!["10.99.1.53".parse().unwrap()],
            pcscf: vec!["10.99.1.10".parse().unwrap(), "fd00::10".parse().unwrap()],
            request_ipv4: true,
            request_ipv6: false,
        }
    }

    #[test]
    fn strongswan_request_gets_address_and_dns() {
        let mut pool = TestPool::default();
        let peer: Identity = "client.eseg.test".parse().unwrap();
        let req = [
            Attribute {
                kind: attr::INTERNAL_IP4_ADDRESS,
                value: vec![],
            },
            Attribute {
                kind: attr::INTERNAL_IP4_DNS,
                value: vec![],
            },
        ];
        let reply = answer(&req, &config(), &peer, &mut pool);
        assert!(!reply.address_failure);
        assert_eq!(reply.attributes.len(), 2);
        assert_eq!(reply.attributes[0].value, vec![10, 99, 2, 1]);
        assert_eq!(reply.attributes[1].value, vec![10, 99, 1, 53]);
        let got = read_reply(&reply.attributes);
        assert_eq!(got, reply.assigned);
        assert!(got.pcscf.is_empty());
    }

    #[test]
    fn pcscf_old_and_new_attributes_and_exhaustion() {
        let mut pool = TestPool {
            next: 2,
            ..TestPool::default()
        };
        let peer: Identity = "ue@ims.example".parse().unwrap();
        let req = [
            Attribute {
                kind: attr::INTERNAL_IP4_ADDRESS,
                value: vec![0, 0, 0, 0],
            },
            Attribute {
                kind: attr::PRIVATE_P_CSCF_IP4,
                value: vec![],
            },
            Attribute {
                kind: attr::P_CSCF_IP6_ADDRESS,
                value: vec![],
            },
        ];
        let reply = answer(&req, &config(), &peer, &mut pool);
        assert!(reply.address_failure);
        let kinds: Vec<u16> = reply.attributes.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            vec![attr::PRIVATE_P_CSCF_IP4, attr::P_CSCF_IP6_ADDRESS]
        );
        assert_eq!(read_reply(&reply.attributes).pcscf.len(), 2);
        assert_eq!(request(&config()).len(), 3);
    }

    #[test]
    fn malformed_reply_values_are_skipped() {
        let reply = [
            Attribute {
                kind: attr::INTERNAL_IP4_ADDRESS,
                value: vec![1, 2, 3],
            },
            Attribute {
                kind: attr::INTERNAL_IP4_DNS,
                value: vec![0, 0, 0, 0],
            },
            Attribute {
                kind: attr::INTERNAL_IP6_ADDRESS,
                value: vec![0xfd; 17],
            },
        ];
        let got = read_reply(&reply);
        assert_eq!(got.addresses.len(), 1);
        assert!(got.dns.is_empty());
    }
}
