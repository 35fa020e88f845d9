//! Pre-shared key authentication (RFC 7296 §2.15) and the proof token the engine's established
//! state requires.

use subtle::ConstantTimeEq;

use crate::crypto::{CryptoError, PrfAlg, Secret};

/// The 17 ASCII octets "Key Pad for IKEv2", without a terminator (RFC 7296 §2.15).
pub const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// What one side's AUTH payload signs (<https://www.rfc-editor.org/rfc/rfc7296#section-2.15>).
///
/// For the initiator's AUTH: its own IKE_SA_INIT request, Nr, SK_pi and the IDi body; for the
/// responder's: its IKE_SA_INIT response, Ni, SK_pr and the IDr body.
#[derive(Debug, Clone, Copy)]
pub struct SignedOctets<'a> {
    /// The exact octets of the signer's IKE_SA_INIT message as sent or received (never a
    /// re-encoding).
    pub real_message: &'a [u8],
    /// The body of the peer's Nonce payload.
    pub peer_nonce: &'a [u8],
    /// SK_pi for the initiator, SK_pr for the responder.
    pub sk_p: &'a Secret,
    /// The ID payload body after the generic header: ID Type, 3 reserved octets, ID data.
    pub id_payload_body: &'a [u8],
}

/// Proof that a peer's AUTH payload verified. Only [`verify_psk_auth`] can make one, so a state
/// that requires it cannot be reached without the check.
#[derive(Debug)]
pub struct AuthVerified {
    _private: (),
}

/// `AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)` with
/// `<SignedOctets> = RealMessage | NonceData | prf(SK_p, RestOfIDPayload)`.
pub fn psk_auth(prf: PrfAlg, psk: &Secret, octets: &SignedOctets<'_>) -> Secret {
    let maced_id = prf.compute(octets.sk_p.expose(), &[octets.id_payload_body]);
    let auth_key = prf.compute(psk.expose(), &[KEY_PAD]);
    prf.compute(
        auth_key.expose(),
        &[octets.real_message, octets.peer_nonce, maced_id.expose()],
    )
}

/// Recomputes the peer's AUTH with `psk` and compares it with `received` in constant time.
pub fn verify_psk_auth(
    prf: PrfAlg,
    psk: &Secret,
    octets: &SignedOctets<'_>,
    received: &[u8],
) -> Result<AuthVerified, CryptoError> {
    let expected = psk_auth(prf, psk, octets);
    if bool::from(expected.expose().ct_eq(received)) {
        Ok(AuthVerified { _private: () })
    } else {
        Err(CryptoError::AuthenticationFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn octets<'a>(sk_p: &'a Secret) -> SignedOctets<'a> {
        SignedOctets {
            real_message: b"IKE_SA_INIT octets",
            peer_nonce: b"nonce",
            sk_p,
            id_payload_body: b"\x02\x00\x00\x00host.example",
        }
    }

    #[test]
    fn auth_follows_the_definition() {
        let sk_p = Secret::from_slice(&[5; 32]);
        let psk = Secret::from_slice(b"psk");
        let prf = PrfAlg::HmacSha256;
        let inner = prf.compute(b"psk", &[b"Key Pad for IKEv2"]);
        let maced = prf.compute(&[5; 32], &[b"\x02\x00\x00\x00host.example"]);
        let expected = prf.compute(
            inner.expose(),
            &[b"IKE_SA_INIT octets", b"nonce", maced.expose()],
        );
        assert_eq!(psk_auth(prf, &psk, &octets(&sk_p)), expected);
    }

    #[test]
    fn verification_rejects_wrong_psk_value_and_length() {
        let sk_p = Secret::from_slice(&[5; 48]);
        let psk = Secret::from_slice(b"psk");
        let prf = PrfAlg::HmacSha384;
        let good = psk_auth(prf, &psk, &octets(&sk_p));
        assert!(verify_psk_auth(prf, &psk, &octets(&sk_p), good.expose()).is_ok());

        let mut flipped = good.expose().to_vec();
        flipped[47] ^= 1;
        assert_eq!(
            verify_psk_auth(prf, &psk, &octets(&sk_p), &flipped).err(),
            Some(CryptoError::AuthenticationFailed)
        );
        assert!(verify_psk_auth(prf, &psk, &octets(&sk_p), &good.expose()[..32]).is_err());
        let other_psk = Secret::from_slice(b"psk2");
        assert!(verify_psk_auth(prf, &other_psk, &octets(&sk_p), good.expose()).is_err());
    }
}
