//! Algorithm proposals written the strongSwan way, `aes256gcm16-prfsha256-x25519` for IKE and
//! `aes256gcm16` or `aes128-sha256` for ESP, parsed into the engine's proposal types
//! ([RFC 7296 §3.3](https://www.rfc-editor.org/rfc/rfc7296#section-3.3)). Several algorithms of one
//! kind in one string (`aes256gcm16-aes128gcm16-prfsha256-x25519-ecp256`) all go into the same
//! proposal, preferred in the order written.

use std::fmt;

use ikev2::crypto::{DhGroup, EncrAlg as Encryption, IntegAlg as Integrity, PrfAlg as Prf};
use ikev2::proposal::{EspProposal, IkeProposal};

/// Why a proposal string does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposalError {
    /// A token that names no algorithm we know.
    UnknownToken(String),
    /// A required part is missing.
    Missing(&'static str),
    /// Parts that don't go together.
    Conflict(&'static str),
}

impl fmt::Display for ProposalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownToken(t) => write!(
                f,
                "unknown algorithm `{t}` (known: aes128gcm16, aes256gcm16, chacha20poly1305, \
                 aes128, aes256, sha256, sha384, sha512, prfsha256, prfsha384, prfsha512, \
                 x25519, ecp256, ecp384, esn, noesn)"
            ),
            Self::Missing(what) => write!(f, "no {what} given"),
            Self::Conflict(msg) => f.write_str(msg),
        }
    }
}

/// The algorithms named in one dash-separated string, in order.
#[derive(Default)]
struct Parts {
    encryption: Vec<Encryption>,
    integrity: Vec<Integrity>,
    prf: Vec<Prf>,
    dh: Vec<DhGroup>,
    esn: Vec<bool>,
}

fn encryption(token: &str) -> Option<Encryption> {
    Some(match token {
        "aes128gcm16" | "aes128gcm" => Encryption::AesGcm16_128,
        "aes256gcm16" | "aes256gcm" => Encryption::AesGcm16_256,
        "chacha20poly1305" => Encryption::ChaCha20Poly1305,
        "aes128" | "aes128cbc" => Encryption::AesCbc128,
        "aes256" | "aes256cbc" => Encryption::AesCbc256,
        _ => return None,
    })
}

fn integrity(token: &str) -> Option<Integrity> {
    Some(match token {
        "sha256" | "sha2_256" => Integrity::HmacSha256_128,
        "sha384" | "sha2_384" => Integrity::HmacSha384_192,
        "sha512" | "sha2_512" => Integrity::HmacSha512_256,
        _ => return None,
    })
}

fn prf(token: &str) -> Option<Prf> {
    Some(match token {
        "prfsha256" => Prf::HmacSha256,
        "prfsha384" => Prf::HmacSha384,
        "prfsha512" => Prf::HmacSha512,
        _ => return None,
    })
}

fn dh(token: &str) -> Option<DhGroup> {
    Some(match token {
        "x25519" | "curve25519" => DhGroup::Curve25519,
        "ecp256" => DhGroup::Ecp256,
        "ecp384" => DhGroup::Ecp384,
        _ => return None,
    })
}

/// The PRF strongSwan infers from an integrity algorithm when none is written.
fn prf_for(integ: Integrity) -> Prf {
    match integ {
        Integrity::HmacSha256_128 => Prf::HmacSha256,
        Integrity::HmacSha384_192 => Prf::HmacSha384,
        Integrity::HmacSha512_256 => Prf::HmacSha512,
    }
}

fn split(text: &str) -> Result<Parts, ProposalError> {
    fn push<T: PartialEq>(list: &mut Vec<T>, value: T) {
        if !list.contains(&value) {
            list.push(value);
        }
    }
    let mut parts = Parts::default();
    for token in text.split('-') {
        let token = token.trim().to_ascii_lowercase();
        if let Some(e) = encryption(&token) {
            push(&mut parts.encryption, e);
        } else if let Some(i) = integrity(&token) {
            push(&mut parts.integrity, i);
        } else if let Some(p) = prf(&token) {
            push(&mut parts.prf, p);
        } else if let Some(d) = dh(&token) {
            push(&mut parts.dh, d);
        } else if token == "esn" || token == "noesn" {
            push(&mut parts.esn, token == "esn");
        } else {
            return Err(ProposalError::UnknownToken(token));
        }
    }
    let aead = parts.encryption.iter().filter(|e| e.is_aead()).count();
    match aead {
        0 if parts.encryption.is_empty() => return Err(ProposalError::Missing("cipher")),
        0 if parts.integrity.is_empty() => {
            return Err(ProposalError::Missing(
                "integrity algorithm (a CBC cipher needs e.g. sha256)",
            ))
        }
        0 => {}
        n if n != parts.encryption.len() => {
            return Err(ProposalError::Conflict(
                "AEAD and CBC ciphers cannot share one proposal; write two",
            ))
        }
        _ if !parts.integrity.is_empty() => {
            return Err(ProposalError::Conflict(
                "an AEAD cipher takes no integrity algorithm",
            ))
        }
        _ => {}
    }
    Ok(parts)
}

/// Parses one IKE SA proposal.
pub fn parse_ike(text: &str) -> Result<IkeProposal, ProposalError> {
    let mut parts = split(text)?;
    if !parts.esn.is_empty() {
        return Err(ProposalError::Conflict("ESN applies to ESP proposals only"));
    }
    if parts.prf.is_empty() {
        parts.prf = parts.integrity.iter().map(|i| prf_for(*i)).collect();
    }
    if parts.prf.is_empty() {
        return Err(ProposalError::Missing("PRF (e.g. prfsha256)"));
    }
    if parts.dh.is_empty() {
        return Err(ProposalError::Missing("DH group (e.g. x25519)"));
    }
    Ok(IkeProposal {
        encryption: parts.encryption,
        integrity: parts.integrity,
        prf: parts.prf,
        dh: parts.dh,
    })
}

/// Parses one ESP proposal; a DH group there means PFS on CREATE_CHILD_SA.
pub fn parse_esp(text: &str) -> Result<EspProposal, ProposalError> {
    let parts = split(text)?;
    if !parts.prf.is_empty() {
        return Err(ProposalError::Conflict("ESP takes no PRF"));
    }
    Ok(EspProposal {
        encryption: parts.encryption,
        integrity: parts.integrity,
        dh: parts.dh,
        esn: if parts.esn.is_empty() {
            vec![false, true]
        } else {
            parts.esn
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ike_proposals() {
        let p = parse_ike("aes256gcm16-prfsha256-x25519").unwrap();
        assert_eq!(p.encryption, vec![Encryption::AesGcm16_256]);
        assert!(p.integrity.is_empty());
        assert_eq!(p.prf, vec![Prf::HmacSha256]);
        assert_eq!(p.dh, vec![DhGroup::Curve25519]);
        let p = parse_ike("aes128-sha384-ecp256-ecp384").unwrap();
        assert_eq!(
            p.prf,
            vec![Prf::HmacSha384],
            "PRF follows the integrity algorithm"
        );
        assert_eq!(p.dh, vec![DhGroup::Ecp256, DhGroup::Ecp384]);
    }

    #[test]
    fn rejects_bad_ike_proposals() {
        assert_eq!(
            parse_ike("aes256gcm16-prfsha256-modp1024"),
            Err(ProposalError::UnknownToken("modp1024".into()))
        );
        assert!(matches!(
            parse_ike("aes256gcm16-sha256-prfsha256-x25519"),
            Err(ProposalError::Conflict(_))
        ));
        assert!(matches!(
            parse_ike("aes256gcm16-aes256-sha256-x25519"),
            Err(ProposalError::Conflict(_))
        ));
        assert!(matches!(
            parse_ike("aes256-prfsha256-x25519"),
            Err(ProposalError::Missing(_))
        ));
        assert!(matches!(
            parse_ike("aes256gcm16-prfsha256"),
            Err(ProposalError::Missing(_))
        ));
        assert!(matches!(
            parse_ike("prfsha256-x25519"),
            Err(ProposalError::Missing(_))
        ));
    }

    #[test]
    fn parses_esp_proposals() {
        let p = parse_esp("aes128-sha256-esn").unwrap();
        assert_eq!(p.integrity, vec![Integrity::HmacSha256_128]);
        assert_eq!(p.esn, vec![true]);
        assert_eq!(
            parse_esp("chacha20poly1305").unwrap().esn,
            vec![false, true]
        );
        assert_eq!(
            parse_esp("aes256gcm16-x25519").unwrap().dh,
            vec![DhGroup::Curve25519]
        );
        assert!(parse_esp("aes128").is_err());
        assert!(parse_esp("aes128gcm16-prfsha256").is_err());
    }
}
