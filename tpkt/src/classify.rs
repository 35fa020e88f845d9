//! Telling a TPKT' stream from the other protocols that meet it on a TCP port, by the first
//! octets the client sends.
//!
//! | first octets | [`Classification`] |
//! | --- | --- |
//! | `01 00 LL LL` with `LL LL` ≥ 5 | [`Tpkt`](Classification::Tpkt) (TR 33.830 clause 8.5.2.2) |
//! | `16 03 0x` with x ≤ 4: a TLS handshake record, SSL 3.0 to TLS 1.3 | [`Tls`](Classification::Tls) (<https://www.rfc-editor.org/rfc/rfc8446#section-5.1>) |
//! | `IKETCP` | [`IkeTcp`](Classification::IkeTcp), the RFC 9329 stream prefix (<https://www.rfc-editor.org/rfc/rfc9329#section-4>) |
//! | a request method and a space (`GET `, `POST `, ..., `PRI ` of the HTTP/2 preface) or `HTTP/` | [`Http`](Classification::Http) (<https://www.rfc-editor.org/rfc/rfc9110#section-9>) |
//!
//! The signatures are disjoint: each starts with a different octet, so the answer never depends
//! on the order of the checks. At most [`CLASSIFY_PREFIX_LEN`] octets are ever needed.

use crate::header::{MIN_FRAME_LEN, RESERVED, VERSION};

/// Octets after which [`classify`] never answers [`Classification::NeedMoreBytes`] (the longest
/// signature, `CONNECT ` / `OPTIONS `).
pub const CLASSIFY_PREFIX_LEN: usize = 8;

/// The RFC 9329 stream prefix (<https://www.rfc-editor.org/rfc/rfc9329#section-4>).
pub const IKETCP_PREFIX: &[u8; 6] = b"IKETCP";

/// HTTP/1.x request methods (<https://www.rfc-editor.org/rfc/rfc9110#section-9>, plus PATCH of
/// RFC 5789 and the `PRI` of the HTTP/2 connection preface), each with its trailing space, and
/// the start of a status line.
const HTTP_SIGNATURES: [&[u8]; 11] = [
    b"GET ",
    b"HEAD ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"CONNECT ",
    b"OPTIONS ",
    b"TRACE ",
    b"PATCH ",
    b"PRI ",
    b"HTTP/",
];

/// The TLS record content type of a handshake, the first record of every TLS connection.
const TLS_HANDSHAKE: u8 = 0x16;
/// The major version octet of every SSL 3.0 / TLS record.
const TLS_MAJOR: u8 = 0x03;
/// The highest minor record version (TLS 1.3 records claim 1.2, i.e. `03 03`; 1.3 is `03 04`).
const TLS_MAX_MINOR: u8 = 0x04;

/// What a TCP stream's first octets say it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Classification {
    /// TPKT'-framed IKE/ESP (TR 33.830 clause 8.5.2.2).
    Tpkt,
    /// A TLS handshake (TLS-wrapped RFC 9329, or HTTPS).
    Tls,
    /// HTTP/1.x, or the HTTP/2 cleartext preface.
    Http,
    /// RFC 9329 TCP encapsulation, starting with its `IKETCP` prefix.
    IkeTcp,
    /// None of the above.
    Unknown,
    /// Every signature that still fits needs more octets; read more and classify again.
    NeedMoreBytes,
}

/// Whether a signature matches the octets seen so far.
enum Verdict {
    Match,
    NeedMore,
    NoMatch,
}

/// Checks the octets seen so far against one protocol's signature.
type SignatureCheck = fn(&[u8]) -> Verdict;

/// Every protocol [`classify`] knows, with its check.
const SIGNATURE_CHECKS: [(SignatureCheck, Classification); 4] = [
    (tpkt, Classification::Tpkt),
    (tls, Classification::Tls),
    (ike_tcp, Classification::IkeTcp),
    (http, Classification::Http),
];

/// Classifies a stream by its first octets (any number; more than [`CLASSIFY_PREFIX_LEN`] are
/// ignored). Never looks past the bytes given, never panics.
pub fn classify(first_bytes: &[u8]) -> Classification {
    let mut need_more = false;
    for (check, classification) in SIGNATURE_CHECKS {
        match check(first_bytes) {
            Verdict::Match => return classification,
            Verdict::NeedMore => need_more = true,
            Verdict::NoMatch => {}
        }
    }
    if need_more {
        Classification::NeedMoreBytes
    } else {
        Classification::Unknown
    }
}

fn tpkt(bytes: &[u8]) -> Verdict {
    match bytes {
        [VERSION, RESERVED, high, low, ..] => {
            if usize::from(u16::from_be_bytes([*high, *low])) >= MIN_FRAME_LEN {
                Verdict::Match
            } else {
                Verdict::NoMatch
            }
        }
        [] | [VERSION] | [VERSION, RESERVED] | [VERSION, RESERVED, _] => Verdict::NeedMore,
        _ => Verdict::NoMatch,
    }
}

fn tls(bytes: &[u8]) -> Verdict {
    match bytes {
        [TLS_HANDSHAKE, TLS_MAJOR, minor, ..] if *minor <= TLS_MAX_MINOR => Verdict::Match,
        [] | [TLS_HANDSHAKE] | [TLS_HANDSHAKE, TLS_MAJOR] => Verdict::NeedMore,
        _ => Verdict::NoMatch,
    }
}

fn ike_tcp(bytes: &[u8]) -> Verdict {
    literal(bytes, IKETCP_PREFIX)
}

fn http(bytes: &[u8]) -> Verdict {
    let mut need_more = false;
    for signature in HTTP_SIGNATURES {
        match literal(bytes, signature) {
            Verdict::Match => return Verdict::Match,
            Verdict::NeedMore => need_more = true,
            Verdict::NoMatch => {}
        }
    }
    if need_more {
        Verdict::NeedMore
    } else {
        Verdict::NoMatch
    }
}

/// Compares `bytes` with a fixed `signature` over their common length.
fn literal(bytes: &[u8], signature: &[u8]) -> Verdict {
    if !bytes
        .iter()
        .zip(signature)
        .all(|(seen, expected)| seen == expected)
    {
        Verdict::NoMatch
    } else if bytes.len() >= signature.len() {
        Verdict::Match
    } else {
        Verdict::NeedMore
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Classification::*;

    #[test]
    fn tpkt_ike_sa_init() {
        // TPKT' header, non-ESP marker, then an IKE_SA_INIT header (initiator SPI ...).
        let prefix = hex::decode("0100014c000000008a5f1c3b2e9d0471").unwrap();
        assert_eq!(classify(&prefix), Tpkt);
        assert_eq!(classify(&prefix[..4]), Tpkt);
        for len in 0..4 {
            assert_eq!(classify(&prefix[..len]), NeedMoreBytes, "prefix {len}");
        }
    }

    #[test]
    fn tpkt_with_a_too_small_length_is_unknown() {
        assert_eq!(classify(&[1, 0, 0, 4, 0xff]), Unknown);
        assert_eq!(classify(&[1, 0, 0, 5, 0xff]), Tpkt);
        assert_eq!(classify(&[1, 1, 0, 5, 0xff]), Unknown);
        // RFC 1006 TPKT (version 3) is not TPKT'.
        assert_eq!(classify(&[3, 0, 0, 5, 0xff]), Unknown);
    }

    #[test]
    fn tls_client_hellos() {
        // Record header of a TLS 1.2/1.3 ClientHello (record version 03 01), then handshake type 1.
        assert_eq!(classify(&hex::decode("160301020001").unwrap()), Tls);
        assert_eq!(classify(&hex::decode("16030300").unwrap()), Tls);
        assert_eq!(classify(&[0x16, 0x03, 0x05]), Unknown);
        assert_eq!(classify(&[0x16]), NeedMoreBytes);
        assert_eq!(classify(&[0x16, 0x03]), NeedMoreBytes);
        assert_eq!(classify(&[0x17, 0x03, 0x03]), Unknown);
    }

    #[test]
    fn http_requests_and_responses() {
        for request in [
            &b"GET / HTTP/1.1\r\nHost: example.net\r\n\r\n"[..],
            b"POST /ims HTTP/1.1\r\n",
            b"HEAD / HTTP/1.0\r\n",
            b"CONNECT gw.example.net:443 HTTP/1.1\r\n",
            b"OPTIONS * HTTP/1.1\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n",
        ] {
            assert_eq!(
                classify(request),
                Http,
                "{}",
                String::from_utf8_lossy(request)
            );
        }
        assert_eq!(classify(b"G"), NeedMoreBytes);
        assert_eq!(classify(b"CONNECT"), NeedMoreBytes);
        assert_eq!(classify(b"GETX / HTTP/1.1"), Unknown);
        assert_eq!(
            classify(b"get / HTTP/1.1"),
            Unknown,
            "methods are case-sensitive"
        );
    }

    #[test]
    fn ike_tcp_prefix() {
        let mut stream = b"IKETCP".to_vec();
        // RFC 9329 framing follows: 16-bit length, non-ESP marker, IKE header.
        stream.extend_from_slice(&[0x01, 0x4c, 0, 0, 0, 0]);
        assert_eq!(classify(&stream), IkeTcp);
        assert_eq!(classify(b"IKE"), NeedMoreBytes);
        assert_eq!(classify(b"IKETCX"), Unknown);
    }

    #[test]
    fn other_streams_are_unknown() {
        assert_eq!(classify(b"SSH-2.0-OpenSSH_9.2\r\n"), Unknown);
        assert_eq!(classify(&[0, 0, 0, 0]), Unknown);
        assert_eq!(classify(&[]), NeedMoreBytes);
    }

    #[test]
    fn enough_octets_always_decide() {
        for signature in HTTP_SIGNATURES {
            assert!(signature.len() <= CLASSIFY_PREFIX_LEN);
            for len in 1..signature.len() {
                assert_eq!(classify(&signature[..len]), NeedMoreBytes);
            }
        }
    }
}
