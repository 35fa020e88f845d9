//! Decoding whole TCP streams: real strongSwan payloads framed in TPKT', any chunking, hostile
//! input, and property tests that the chunking never changes the outcome.

use proptest::prelude::*;
use tpkt::{
    classify, encode_ike_in_place, encode_in_place, frame_header, ike_prefix, Classification,
    DecodeError, Decoder, Frame, FrameKind, FrameReader, IKE_PREFIX_LEN, KEEPALIVE_FRAME,
};

/// UDP-4500 payloads from a strongSwan capture, by name.
fn captured(name: &str) -> Vec<u8> {
    include_str!("data/udp4500-payloads.txt")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map(|hex| hex::decode(hex).expect("captured payloads are hex"))
        .unwrap_or_else(|| panic!("no captured payload {name}"))
}

/// A frame as the test expects it back: kind and body.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    Ike(Vec<u8>),
    Esp(Vec<u8>),
    Keepalive,
}

impl Expected {
    fn of(frame: Frame<&mut [u8]>) -> Self {
        match frame {
            Frame::Ike(body) => Self::Ike(body.to_vec()),
            Frame::Esp(body) => Self::Esp(body.to_vec()),
            Frame::Keepalive => Self::Keepalive,
        }
    }

    /// Encodes the frame with the crate's encoder, through headroom as a sender would.
    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Ike(message) => {
                let mut buf = vec![0; IKE_PREFIX_LEN + message.len()];
                buf[IKE_PREFIX_LEN..].copy_from_slice(message);
                let end = buf.len();
                assert_eq!(
                    encode_ike_in_place(&mut buf, IKE_PREFIX_LEN..end),
                    Ok(0..end)
                );
                buf
            }
            Self::Esp(packet) => {
                let mut buf = vec![0; 4 + packet.len()];
                buf[4..].copy_from_slice(packet);
                let end = buf.len();
                assert_eq!(encode_in_place(&mut buf, 4..end), Ok(0..end));
                buf
            }
            Self::Keepalive => KEEPALIVE_FRAME.to_vec(),
        }
    }
}

/// What a whole stream decoded to: the frames, then the first error (if any) or `Ok` for a
/// clean end.
type Outcome = (Vec<Expected>, Result<(), DecodeError>);

/// Feeds `stream` to a reader in chunks of the given sizes (cycled), draining frames after each
/// chunk, as a gateway connection does; frame errors are recorded and skipped like a gateway
/// drops a malformed datagram, a stream error ends the connection.
fn decode_chunked(
    decoder: Decoder,
    capacity: usize,
    stream: &[u8],
    chunk_sizes: &[usize],
) -> (Vec<Expected>, Vec<DecodeError>, Result<(), DecodeError>) {
    let mut reader = FrameReader::with_capacity(decoder, capacity);
    let mut frames = Vec::new();
    let mut frame_errors = Vec::new();
    let mut rest = stream;
    let mut sizes = chunk_sizes.iter().copied().cycle();
    while !rest.is_empty() {
        let size = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (mut chunk, tail) = rest.split_at(size);
        rest = tail;
        while !chunk.is_empty() {
            let taken = reader.extend_from_slice(chunk);
            chunk = &chunk[taken..];
            loop {
                match reader.next_frame() {
                    Ok(Some(frame)) => frames.push(Expected::of(frame)),
                    Ok(None) => break,
                    Err(error) if error.skip().is_some() => frame_errors.push(error),
                    Err(error) => return (frames, frame_errors, Err(error)),
                }
            }
        }
    }
    (frames, frame_errors, reader.finish())
}

fn decode_outcome(stream: &[u8], chunk_sizes: &[usize]) -> Outcome {
    let (frames, _, end) = decode_chunked(Decoder::new(), 0, stream, chunk_sizes);
    (frames, end)
}

fn captured_stream() -> (Vec<u8>, Vec<Expected>) {
    let ike = captured("ike_auth_request");
    let expected = vec![
        Expected::Ike(ike[4..].to_vec()),
        Expected::Esp(captured("esp_initiator")),
        Expected::Keepalive,
        Expected::Ike(captured("ike_auth_response")[4..].to_vec()),
        Expected::Esp(captured("esp_responder")),
    ];
    let stream = expected.iter().flat_map(Expected::encode).collect();
    (stream, expected)
}

#[test]
fn captured_payloads_frame_like_udp_4500() {
    // The IKE payload keeps its marker on the wire: the frame is header + UDP payload verbatim.
    let ike = captured("ike_auth_request");
    let frame = Expected::Ike(ike[4..].to_vec()).encode();
    assert_eq!(&frame[..4], &frame_header(ike.len()).unwrap());
    assert_eq!(&frame[4..], &ike[..]);
    assert_eq!(ike_prefix(ike.len() - 4).unwrap()[..], frame[..8]);
    assert_eq!(classify(&frame), Classification::Tpkt);
}

#[test]
fn one_byte_at_a_time() {
    let (stream, expected) = captured_stream();
    assert_eq!(decode_outcome(&stream, &[1]), (expected, Ok(())));
}

#[test]
fn all_frames_in_one_read() {
    let (stream, expected) = captured_stream();
    assert_eq!(decode_outcome(&stream, &[stream.len()]), (expected, Ok(())));
}

#[test]
fn many_frames_in_one_read() {
    let esp = captured("esp_responder");
    let one = Expected::Esp(esp).encode();
    let stream = one.repeat(500);
    let (frames, end) = decode_outcome(&stream, &[stream.len()]);
    assert_eq!(frames.len(), 500);
    assert_eq!(end, Ok(()));
}

#[test]
fn every_split_point_of_two_frames() {
    let (stream, expected) = captured_stream();
    for split in 0..=stream.len() {
        assert_eq!(
            decode_outcome(&stream, &[split, stream.len()]),
            (expected.clone(), Ok(())),
            "split at {split}"
        );
    }
}

#[test]
fn every_truncation_is_reported_at_end_of_stream() {
    let (stream, expected) = captured_stream();
    let boundaries: Vec<usize> = expected
        .iter()
        .scan(0, |end, frame| {
            *end += frame.encode().len();
            Some(*end)
        })
        .collect();
    for len in 1..stream.len() {
        let (frames, end) = decode_outcome(&stream[..len], &[7]);
        let complete = boundaries.iter().filter(|&&end| end <= len).count();
        assert_eq!(frames, expected[..complete], "prefix {len}");
        if boundaries.contains(&len) {
            assert_eq!(end, Ok(()), "prefix {len}");
        } else {
            let last_boundary = complete.checked_sub(1).map_or(0, |i| boundaries[i]);
            let have = len - last_boundary;
            let need = if have < 4 {
                4
            } else {
                expected[complete].encode().len()
            };
            assert_eq!(
                end,
                Err(DecodeError::Truncated { have, need }),
                "prefix {len}"
            );
        }
    }
}

#[test]
fn bad_headers_end_the_stream() {
    let valid = KEEPALIVE_FRAME;
    let cases: [(&[u8], DecodeError); 5] = [
        (&[3, 0, 0, 5, 0xff], DecodeError::BadVersion(3)),
        (&[1, 2, 0, 5, 0xff], DecodeError::ReservedNonZero(2)),
        (&[1, 0, 0, 4, 0xff], DecodeError::LengthTooSmall(4)),
        (&[1, 0, 0, 0], DecodeError::LengthTooSmall(0)),
        (
            &[1, 0, 0x40, 0x01, 0xff],
            DecodeError::LengthTooLarge {
                len: 0x4001,
                max: 0x4000,
            },
        ),
    ];
    for (bad, error) in cases {
        let mut stream = valid.to_vec();
        stream.extend_from_slice(bad);
        stream.extend_from_slice(&valid);
        let (frames, end) = decode_outcome(&stream, &[1]);
        assert_eq!(frames, [Expected::Keepalive], "{error}");
        assert_eq!(end, Err(error));
    }
}

#[test]
fn configured_max_is_enforced_and_65535_works() {
    let esp = {
        let mut packet = vec![0xab; 65531];
        packet[..8].copy_from_slice(&[0xc0, 0, 0, 2, 0, 0, 0, 9]);
        packet
    };
    let stream = Expected::Esp(esp.clone()).encode();
    assert_eq!(&stream[..4], &[1, 0, 0xff, 0xff]);
    let max = Decoder::with_max_frame_len(u16::MAX).unwrap();
    let (frames, _, end) = decode_chunked(max, 0, &stream, &[1000]);
    assert_eq!((frames, end), (vec![Expected::Esp(esp)], Ok(())));
    let (frames, end) = decode_outcome(&stream, &[1000]);
    assert!(frames.is_empty());
    assert_eq!(
        end,
        Err(DecodeError::LengthTooLarge {
            len: 65535,
            max: 16384
        })
    );
}

#[test]
fn malformed_payloads_are_dropped_and_the_stream_continues() {
    let mut stream = Vec::new();
    stream.extend_from_slice(&[1, 0, 0, 5, 0x00]); // keepalive of the wrong value
    stream.extend_from_slice(&[1, 0, 0, 8, 0xc0, 0, 0, 1]); // ESP without a sequence number
    stream.extend_from_slice(&[1, 0, 0, 12, 0, 0, 0, 0, 1, 2, 3, 4]); // marker, 4-octet IKE
    stream.extend_from_slice(&KEEPALIVE_FRAME);
    let (frames, frame_errors, end) = decode_chunked(Decoder::new(), 0, &stream, &[3]);
    assert_eq!(frames, [Expected::Keepalive]);
    assert_eq!(
        frame_errors,
        [
            DecodeError::InvalidKeepalive { value: 0 },
            DecodeError::PayloadTooShort { len: 4 },
            DecodeError::IkeTooShort { len: 4 },
        ]
    );
    assert_eq!(end, Ok(()));
}

#[test]
fn stateless_decoder_over_a_caller_vec() {
    let (stream, expected) = captured_stream();
    let decoder = Decoder::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut frames = Vec::new();
    for chunk in stream.chunks(5) {
        buf.extend_from_slice(chunk);
        while let Some(span) = decoder.decode_span(&buf).unwrap() {
            let frame = span.frame_mut(&mut buf).unwrap();
            assert_eq!(frame.kind(), span.kind());
            assert_eq!(frame.wire_len(), span.frame_len());
            frames.push(Expected::of(frame));
            buf.drain(..span.frame_len());
        }
    }
    assert_eq!(frames, expected);
    assert!(buf.is_empty());
}

fn arb_frame() -> impl Strategy<Value = Expected> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 28..600).prop_map(Expected::Ike),
        (1u32.., proptest::collection::vec(any::<u8>(), 4..600)).prop_map(|(spi, rest)| {
            let mut packet = spi.to_be_bytes().to_vec();
            packet.extend(rest);
            Expected::Esp(packet)
        }),
        Just(Expected::Keepalive),
    ]
}

/// Streams that get past the first octet: valid frames, headers with any length, and noise.
fn arb_hostile_stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        arb_frame().prop_map(|frame| frame.encode()),
        (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|(len, tail)| {
            let mut piece = vec![1, 0];
            piece.extend_from_slice(&len.to_be_bytes());
            piece.extend(tail);
            piece
        }),
        proptest::collection::vec(any::<u8>(), 0..8),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn frame_sequences_survive_any_chunking(
        frames in proptest::collection::vec(arb_frame(), 0..24),
        chunk_sizes in proptest::collection::vec(1usize..700, 1..16),
        capacity in 0usize..40_000,
    ) {
        let stream: Vec<u8> = frames.iter().flat_map(Expected::encode).collect();
        let (decoded, frame_errors, end) =
            decode_chunked(Decoder::new(), capacity, &stream, &chunk_sizes);
        prop_assert_eq!(decoded, frames);
        prop_assert!(frame_errors.is_empty());
        prop_assert_eq!(end, Ok(()));
    }

    #[test]
    fn arbitrary_bytes_decode_the_same_in_any_chunking(
        stream in proptest::collection::vec(any::<u8>(), 0..2000),
        chunk_sizes in proptest::collection::vec(1usize..64, 1..16),
        max in 36u16..2000,
    ) {
        let decoder = Decoder::with_max_frame_len(max).unwrap();
        let whole = decode_chunked(decoder, 0, &stream, &[stream.len()]);
        let chunked = decode_chunked(decoder, 0, &stream, &chunk_sizes);
        prop_assert_eq!(whole, chunked);
    }

    #[test]
    fn hostile_streams_decode_the_same_in_any_chunking(
        stream in arb_hostile_stream(),
        chunk_sizes in proptest::collection::vec(1usize..64, 1..16),
    ) {
        let whole = decode_chunked(Decoder::new(), 0, &stream, &[stream.len()]);
        let chunked = decode_chunked(Decoder::new(), 0, &stream, &chunk_sizes);
        prop_assert_eq!(whole, chunked);
    }

    #[test]
    fn valid_streams_with_tpkt_bytes_prefix_classify_as_tpkt(frame in arb_frame(), tail in proptest::collection::vec(any::<u8>(), 0..16)) {
        let mut stream = frame.encode();
        stream.extend(tail);
        prop_assert_eq!(classify(&stream), Classification::Tpkt);
        prop_assert_eq!(classify(&stream[..4]), Classification::Tpkt);
    }

    #[test]
    fn classify_decides_within_its_prefix_length(bytes in proptest::collection::vec(any::<u8>(), 8..64)) {
        prop_assert_ne!(classify(&bytes), Classification::NeedMoreBytes);
        prop_assert_eq!(classify(&bytes), classify(&bytes[..8]));
    }

    #[test]
    fn frame_kind_matches_the_first_payload_octets(frame in arb_frame()) {
        let encoded = frame.encode();
        let kind = FrameKind::of_payload(&encoded[4..]).unwrap();
        let expected = match frame {
            Expected::Ike(_) => FrameKind::Ike,
            Expected::Esp(_) => FrameKind::Esp,
            Expected::Keepalive => FrameKind::Keepalive,
        };
        prop_assert_eq!(kind, expected);
    }
}
