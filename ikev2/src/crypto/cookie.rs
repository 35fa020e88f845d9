//! Stateless COOKIE values for a responder under load
//! (<https://www.rfc-editor.org/rfc/rfc7296#section-2.6>).
//!
//! `Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)`. The RFC leaves the hash to
//! the implementation; this one is HMAC-SHA-256 keyed with the secret over
//! `SPIi | address family | IPi | Ni` (fixed-size fields first, so no two inputs concatenate to
//! the same octets). The 4-octet version ID names the secret, so after [`CookieSecrets::rotate`]
//! cookies made with the previous secret still verify for one more period.

use std::net::IpAddr;

use rand_core::CryptoRngCore;
use ring::hmac;
use subtle::ConstantTimeEq;

use crate::crypto::prf::hmac_parts;
use crate::crypto::Secret;

/// Length of a cookie: 4-octet version ID and a 32-octet HMAC-SHA-256.
pub const COOKIE_LEN: usize = 4 + 32;

/// Length of each cookie secret.
const SECRET_LEN: usize = 32;

/// The responder's current and previous cookie secrets.
#[derive(Debug)]
pub struct CookieSecrets {
    current: VersionedSecret,
    previous: Option<VersionedSecret>,
}

#[derive(Debug)]
struct VersionedSecret {
    version: u32,
    key: Secret,
}

impl VersionedSecret {
    fn generate<R: CryptoRngCore + ?Sized>(version: u32, rng: &mut R) -> Self {
        let mut key = vec![0u8; SECRET_LEN];
        rng.fill_bytes(&mut key);
        Self {
            version,
            key: Secret::new(key),
        }
    }

    fn cookie(&self, ni: &[u8], initiator_ip: IpAddr, spi_i: u64) -> Vec<u8> {
        let (family, address): (u8, Vec<u8>) = match initiator_ip {
            IpAddr::V4(ip) => (4, ip.octets().to_vec()),
            IpAddr::V6(ip) => (6, ip.octets().to_vec()),
        };
        let hash = hmac_parts(
            hmac::HMAC_SHA256,
            self.key.expose(),
            &[&spi_i.to_be_bytes(), &[family], &address, ni],
        );
        let mut cookie = Vec::with_capacity(COOKIE_LEN);
        cookie.extend_from_slice(&self.version.to_be_bytes());
        cookie.extend_from_slice(hash.as_ref());
        cookie
    }
}

impl CookieSecrets {
    /// Starts with a fresh secret (version 0) drawn from `rng`.
    pub fn generate<R: CryptoRngCore + ?Sized>(rng: &mut R) -> Self {
        Self {
            current: VersionedSecret::generate(0, rng),
            previous: None,
        }
    }

    /// Replaces the secret with a fresh one from `rng`; the old one keeps verifying until the
    /// next rotation. The caller decides the period (RFC 7296 §2.6 suggests regular changes).
    pub fn rotate<R: CryptoRngCore + ?Sized>(&mut self, rng: &mut R) {
        let next = VersionedSecret::generate(self.current.version.wrapping_add(1), rng);
        self.previous = Some(core::mem::replace(&mut self.current, next));
    }

    /// The cookie to send in a COOKIE notify to the initiator of this IKE_SA_INIT request.
    pub fn cookie(&self, ni: &[u8], initiator_ip: IpAddr, spi_i: u64) -> Vec<u8> {
        self.current.cookie(ni, initiator_ip, spi_i)
    }

    /// Whether `cookie` was made by the current or the previous secret for this request.
    /// The comparison runs in constant time.
    pub fn verify(&self, cookie: &[u8], ni: &[u8], initiator_ip: IpAddr, spi_i: u64) -> bool {
        let Some(version) = cookie.first_chunk::<4>().map(|v| u32::from_be_bytes(*v)) else {
            return false;
        };
        let secret = if version == self.current.version {
            &self.current
        } else {
            match &self.previous {
                Some(previous) if previous.version == version => previous,
                _ => return false,
            }
        };
        bool::from(secret.cookie(ni, initiator_ip, spi_i).ct_eq(cookie))
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

    #[test]
    fn cookie_verifies_only_for_its_request() {
        let mut rng = ChaCha20Rng::from_seed([1; 32]);
        let secrets = CookieSecrets::generate(&mut rng);
        let cookie = secrets.cookie(b"nonce-i", IP, 42);
        assert_eq!(cookie.len(), COOKIE_LEN);
        assert!(secrets.verify(&cookie, b"nonce-i", IP, 42));
        assert!(!secrets.verify(&cookie, b"nonce-j", IP, 42));
        assert!(!secrets.verify(&cookie, b"nonce-i", "192.0.2.8".parse().unwrap(), 42));
        assert!(!secrets.verify(&cookie, b"nonce-i", IP, 43));
        assert!(!secrets.verify(&cookie[..COOKIE_LEN - 1], b"nonce-i", IP, 42));
        assert!(!secrets.verify(&[], b"nonce-i", IP, 42));
        let mut tampered = cookie.clone();
        tampered[10] ^= 0x80;
        assert!(!secrets.verify(&tampered, b"nonce-i", IP, 42));
    }

    #[test]
    fn rotation_keeps_exactly_one_previous_secret() {
        let mut rng = ChaCha20Rng::from_seed([2; 32]);
        let mut secrets = CookieSecrets::generate(&mut rng);
        let first = secrets.cookie(b"n", IP, 1);
        secrets.rotate(&mut rng);
        let second = secrets.cookie(b"n", IP, 1);
        assert_ne!(first, second);
        assert_eq!(&second[..4], &1u32.to_be_bytes());
        assert!(secrets.verify(&first, b"n", IP, 1));
        assert!(secrets.verify(&second, b"n", IP, 1));
        secrets.rotate(&mut rng);
        assert!(!secrets.verify(&first, b"n", IP, 1));
        assert!(secrets.verify(&second, b"n", IP, 1));
    }
}
