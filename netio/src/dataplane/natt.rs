//! What arrives on UDP port 4500 ([RFC 3948 §2](https://www.rfc-editor.org/rfc/rfc3948#section-2)):
//! a NAT-keepalive (one 0xFF byte), an IKE message behind the 4-byte zero non-ESP marker, or an
//! ESP packet starting with its non-zero SPI. One more case is accepted because strongSwan sends
//! it: an IKE_SA_INIT request on port 4500 *without* the marker, recognised by its header (unknown
//! SPI position holding an IKE initiator SPI, zero responder SPI, version 2.0, exchange type 34,
//! length field equal to the datagram length).

/// The non-ESP marker: four zero bytes where ESP has its SPI (RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// The NAT-keepalive payload (RFC 3948 §2.3).
pub const NAT_KEEPALIVE: u8 = 0xFF;

/// Length of the fixed IKE header (RFC 7296 §3.1).
const IKE_HEADER_LEN: usize = 28;
/// IKE_SA_INIT exchange type (RFC 7296 §3.1).
const IKE_SA_INIT: u8 = 34;
/// Major version 2, minor 0.
const IKE_VERSION_2: u8 = 0x20;

/// The kind of one UDP-4500 payload, borrowing the part that matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NattPayload<'a> {
    /// A NAT-keepalive; nothing to do but note the peer is alive.
    Keepalive,
    /// A bare IKE message (marker removed, or an IKE_SA_INIT that came without it).
    Ike(&'a [u8]),
    /// An ESP packet; `spi` is its first four bytes.
    Esp {
        /// The Security Parameters Index.
        spi: u32,
    },
    /// Too short to be anything (1-7 bytes other than a keepalive, or an empty datagram).
    Malformed,
}

/// Classifies one datagram received on port 4500.
pub fn classify(payload: &[u8]) -> NattPayload<'_> {
    if payload == [NAT_KEEPALIVE] {
        return NattPayload::Keepalive;
    }
    let Some((head, rest)) = payload.split_first_chunk::<4>() else {
        return NattPayload::Malformed;
    };
    if *head == NON_ESP_MARKER {
        return if rest.is_empty() {
            NattPayload::Malformed
        } else {
            NattPayload::Ike(rest)
        };
    }
    if is_unmarked_ike_sa_init(payload) {
        return NattPayload::Ike(payload);
    }
    // An ESP header is SPI + sequence number; anything shorter cannot be ESP (RFC 4303 §2).
    if payload.len() < 8 {
        return NattPayload::Malformed;
    }
    NattPayload::Esp {
        spi: u32::from_be_bytes(*head),
    }
}

/// Whether `payload` is an IKE_SA_INIT request sent to port 4500 without the non-ESP marker.
fn is_unmarked_ike_sa_init(payload: &[u8]) -> bool {
    let Some(header) = payload.get(..IKE_HEADER_LEN) else {
        return false;
    };
    let responder_spi_zero = header.get(8..16).is_some_and(|s| s.iter().all(|b| *b == 0));
    let length = header
        .get(24..28)
        .and_then(|l| <[u8; 4]>::try_from(l).ok())
        .map(u32::from_be_bytes);
    responder_spi_zero
        && header.get(17) == Some(&IKE_VERSION_2)
        && header.get(18) == Some(&IKE_SA_INIT)
        && length.is_some_and(|l| usize::try_from(l).ok() == Some(payload.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ike_sa_init(len: usize) -> Vec<u8> {
        let mut m = vec![0u8; len];
        m[..8].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        m[16] = 33; // SA payload first
        m[17] = IKE_VERSION_2;
        m[18] = IKE_SA_INIT;
        m[19] = 0x08; // initiator
        m[24..28].copy_from_slice(&(len as u32).to_be_bytes());
        m
    }

    #[test]
    fn keepalive_marker_and_esp() {
        assert_eq!(classify(&[0xFF]), NattPayload::Keepalive);
        let mut ike = NON_ESP_MARKER.to_vec();
        ike.extend_from_slice(&ike_sa_init(40));
        assert_eq!(classify(&ike), NattPayload::Ike(&ike[4..]));
        let esp = [0, 0, 0x10, 0x01, 0, 0, 0, 1, 0xAA, 0xBB];
        assert_eq!(classify(&esp), NattPayload::Esp { spi: 0x1001 });
    }

    #[test]
    fn ike_sa_init_without_marker_is_ike() {
        let m = ike_sa_init(300);
        assert_eq!(classify(&m), NattPayload::Ike(&m[..]));
        let mut wrong_len = m.clone();
        wrong_len[27] ^= 1;
        assert!(matches!(classify(&wrong_len), NattPayload::Esp { .. }));
        let mut not_init = m.clone();
        not_init[18] = 35;
        assert!(matches!(classify(&not_init), NattPayload::Esp { .. }));
        let mut has_responder_spi = m;
        has_responder_spi[15] = 1;
        assert!(matches!(
            classify(&has_responder_spi),
            NattPayload::Esp { .. }
        ));
    }

    #[test]
    fn every_short_prefix_is_classified_without_panic() {
        let m = ike_sa_init(64);
        for len in 0..m.len() {
            let kind = classify(&m[..len]);
            if len < 8 {
                assert_eq!(kind, NattPayload::Malformed, "len {len}");
            }
        }
        assert_eq!(classify(&[]), NattPayload::Malformed);
        assert_eq!(classify(&[0, 0, 0, 0]), NattPayload::Malformed);
        assert_eq!(classify(&[0xFF, 0xFF]), NattPayload::Malformed);
    }
}
