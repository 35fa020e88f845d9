//! IKE identities (ID payload contents, [RFC 7296 §3.5](https://www.rfc-editor.org/rfc/rfc7296#section-3.5))
//! and the patterns a peer configuration uses to match them (`*.ims.example`, `*@example`, `*`).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// ID Type codes of RFC 7296 §3.5.
pub mod id_type {
    /// A single four-octet IPv4 address.
    pub const IPV4_ADDR: u8 = 1;
    /// A fully qualified domain name.
    pub const FQDN: u8 = 2;
    /// An RFC 822 e-mail address.
    pub const RFC822_ADDR: u8 = 3;
    /// A single sixteen-octet IPv6 address.
    pub const IPV6_ADDR: u8 = 5;
    /// An opaque octet string.
    pub const KEY_ID: u8 = 11;
}

/// Upper bound on the length of identity data we accept from the wire.
pub const MAX_IDENTITY_LEN: usize = 255;

/// An IKE identity.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Identity {
    /// `ID_FQDN`, e.g. `gw.eseg.test`.
    Fqdn(String),
    /// `ID_RFC822_ADDR`, e.g. `alice@ims.example`.
    Rfc822(String),
    /// `ID_IPV4_ADDR`.
    Ipv4(Ipv4Addr),
    /// `ID_IPV6_ADDR`.
    Ipv6(Ipv6Addr),
    /// `ID_KEY_ID`, opaque bytes.
    KeyId(Vec<u8>),
}

/// Why ID payload contents could not be turned into an [`Identity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// An ID type this engine does not accept (e.g. DER ASN.1 DN).
    #[error("unsupported ID type {0}")]
    UnsupportedType(u8),
    /// Wrong length for an address, empty, too long, or not UTF-8 for a name.
    #[error("malformed identity data")]
    Malformed,
}

impl Identity {
    /// Parses the identity part of an ID payload (type + data).
    pub fn from_wire(kind: u8, data: &[u8]) -> Result<Self, IdentityError> {
        if data.is_empty() || data.len() > MAX_IDENTITY_LEN {
            return Err(IdentityError::Malformed);
        }
        let text = || {
            std::str::from_utf8(data)
                .map(str::to_owned)
                .map_err(|_| IdentityError::Malformed)
        };
        match kind {
            id_type::FQDN => Ok(Identity::Fqdn(text()?)),
            id_type::RFC822_ADDR => Ok(Identity::Rfc822(text()?)),
            id_type::IPV4_ADDR => <[u8; 4]>::try_from(data)
                .map(|b| Identity::Ipv4(Ipv4Addr::from(b)))
                .map_err(|_| IdentityError::Malformed),
            id_type::IPV6_ADDR => <[u8; 16]>::try_from(data)
                .map(|b| Identity::Ipv6(Ipv6Addr::from(b)))
                .map_err(|_| IdentityError::Malformed),
            id_type::KEY_ID => Ok(Identity::KeyId(data.to_vec())),
            other => Err(IdentityError::UnsupportedType(other)),
        }
    }

    /// The ID Type code.
    pub fn id_type(&self) -> u8 {
        match self {
            Identity::Fqdn(_) => id_type::FQDN,
            Identity::Rfc822(_) => id_type::RFC822_ADDR,
            Identity::Ipv4(_) => id_type::IPV4_ADDR,
            Identity::Ipv6(_) => id_type::IPV6_ADDR,
            Identity::KeyId(_) => id_type::KEY_ID,
        }
    }

    /// The identification data octets as they go on the wire.
    pub fn data(&self) -> Vec<u8> {
        match self {
            Identity::Fqdn(s) | Identity::Rfc822(s) => s.as_bytes().to_vec(),
            Identity::Ipv4(a) => a.octets().to_vec(),
            Identity::Ipv6(a) => a.octets().to_vec(),
            Identity::KeyId(k) => k.clone(),
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Fqdn(s) => write!(f, "fqdn:{s}"),
            Identity::Rfc822(s) => write!(f, "email:{s}"),
            Identity::Ipv4(a) => write!(f, "ipv4:{a}"),
            Identity::Ipv6(a) => write!(f, "ipv6:{a}"),
            Identity::KeyId(k) => {
                f.write_str("keyid:")?;
                k.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

/// Parses the configuration notation: `fqdn:NAME`, `email:USER@DOMAIN`, `ipv4:A.B.C.D`,
/// `ipv6:ADDR`, `keyid:HEX`; without a prefix an IP address, a name with `@` (e-mail) or a
/// domain name is inferred.
impl FromStr for Identity {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (prefix, rest) = s.split_once(':').unwrap_or(("", s));
        let identity = match prefix {
            "fqdn" => Identity::Fqdn(rest.to_owned()),
            "email" => Identity::Rfc822(rest.to_owned()),
            "ipv4" => Identity::Ipv4(rest.parse().map_err(|_| IdentityError::Malformed)?),
            "ipv6" => Identity::Ipv6(rest.parse().map_err(|_| IdentityError::Malformed)?),
            "keyid" => Identity::KeyId(parse_hex(rest).ok_or(IdentityError::Malformed)?),
            _ => {
                if let Ok(addr) = s.parse::<Ipv4Addr>() {
                    Identity::Ipv4(addr)
                } else if let Ok(addr) = s.parse::<Ipv6Addr>() {
                    Identity::Ipv6(addr)
                } else if s.contains('@') {
                    Identity::Rfc822(s.to_owned())
                } else {
                    Identity::Fqdn(s.to_owned())
                }
            }
        };
        let len = identity.data().len();
        if len == 0 || len > MAX_IDENTITY_LEN {
            return Err(IdentityError::Malformed);
        }
        Ok(identity)
    }
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

/// Which remote identities a peer configuration accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityPattern {
    /// Any identity (`*`).
    Any,
    /// Exactly this identity (names compared case-insensitively).
    Exact(Identity),
    /// FQDNs ending in `.suffix` and e-mail addresses whose domain is or ends in `.suffix`
    /// (written `*.suffix`, or `*@suffix` for e-mail only).
    Suffix {
        /// The domain after the wildcard, without the leading dot.
        domain: String,
        /// Whether FQDN identities match (`*.domain`); e-mail identities always do.
        fqdn: bool,
    },
}

impl IdentityPattern {
    /// Whether `identity` is accepted.
    pub fn matches(&self, identity: &Identity) -> bool {
        match self {
            IdentityPattern::Any => true,
            IdentityPattern::Exact(Identity::Fqdn(want)) => {
                matches!(identity, Identity::Fqdn(got) if got.eq_ignore_ascii_case(want))
            }
            IdentityPattern::Exact(Identity::Rfc822(want)) => {
                matches!(identity, Identity::Rfc822(got) if got.eq_ignore_ascii_case(want))
            }
            IdentityPattern::Exact(want) => want == identity,
            IdentityPattern::Suffix { domain, fqdn } => match identity {
                Identity::Fqdn(name) if *fqdn => has_domain_suffix(name, domain, false),
                Identity::Rfc822(address) => address
                    .rsplit_once('@')
                    .is_some_and(|(_, host)| has_domain_suffix(host, domain, true)),
                _ => false,
            },
        }
    }

    /// How specific the pattern is; lookup prefers the most specific match.
    pub fn specificity(&self) -> usize {
        match self {
            IdentityPattern::Any => 0,
            IdentityPattern::Suffix { domain, .. } => 1 + domain.len(),
            IdentityPattern::Exact(_) => usize::MAX,
        }
    }
}

fn has_domain_suffix(name: &str, domain: &str, allow_equal: bool) -> bool {
    let name = name.to_ascii_lowercase();
    let domain = domain.to_ascii_lowercase();
    (allow_equal && name == domain)
        || name
            .strip_suffix(domain.as_str())
            .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
}

impl FromStr for IdentityPattern {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "*" || s == "%any" {
            Ok(IdentityPattern::Any)
        } else if let Some(domain) = s.strip_prefix("*.") {
            Ok(IdentityPattern::Suffix {
                domain: domain.to_owned(),
                fqdn: true,
            })
        } else if let Some(domain) = s.strip_prefix("*@") {
            Ok(IdentityPattern::Suffix {
                domain: domain.to_owned(),
                fqdn: false,
            })
        } else {
            s.parse().map(IdentityPattern::Exact)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_round_trip_and_rejections() {
        for text in [
            "gw.eseg.test",
            "alice@ims.example",
            "10.1.2.3",
            "::1",
            "keyid:00ff10",
        ] {
            let id: Identity = text.parse().unwrap();
            assert_eq!(Identity::from_wire(id.id_type(), &id.data()).unwrap(), id);
        }
        assert_eq!(
            Identity::from_wire(1, &[1, 2, 3]),
            Err(IdentityError::Malformed)
        );
        assert_eq!(Identity::from_wire(2, &[]), Err(IdentityError::Malformed));
        assert_eq!(
            Identity::from_wire(2, &[0xff, 0xfe]),
            Err(IdentityError::Malformed)
        );
        assert_eq!(
            Identity::from_wire(9, b"cn=x"),
            Err(IdentityError::UnsupportedType(9))
        );
        assert_eq!(
            Identity::from_wire(2, &[b'a'; 256]),
            Err(IdentityError::Malformed)
        );
    }

    #[test]
    fn wildcard_patterns() {
        let ims: IdentityPattern = "*.ims.example".parse().unwrap();
        assert!(ims.matches(&"ue1.ims.example".parse().unwrap()));
        assert!(ims.matches(&"UE1.IMS.example".parse().unwrap()));
        assert!(ims.matches(&"alice@ims.example".parse().unwrap()));
        assert!(ims.matches(&"alice@x.ims.example".parse().unwrap()));
        assert!(!ims.matches(&"ims.example".parse().unwrap()));
        assert!(!ims.matches(&"evilims.example".parse().unwrap()));
        assert!(!ims.matches(&"10.0.0.1".parse().unwrap()));
        let mail: IdentityPattern = "*@ims.example".parse().unwrap();
        assert!(!mail.matches(&"ue1.ims.example".parse().unwrap()));
        assert!(mail.matches(&"bob@ims.example".parse().unwrap()));
        let exact: IdentityPattern = "client.eseg.test".parse().unwrap();
        assert!(exact.matches(&"fqdn:Client.Eseg.Test".parse().unwrap()));
        assert!(!exact.matches(&"email:client.eseg.test".parse().unwrap()));
        assert!(exact.specificity() > ims.specificity());
        assert!(ims.specificity() > IdentityPattern::Any.specificity());
    }
}
