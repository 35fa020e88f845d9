//! Arbitrary bytes, cut into arbitrary chunks, through the TPKT' stream reader and the stateless
//! decoder: neither may panic, and both must see the same frames and the same first stream error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpkt::{Decoder, Frame, FrameReader};

/// The frames (kind and body) and the error that ended the stream, if any.
type Outcome = (Vec<(tpkt::FrameKind, Vec<u8>)>, Option<tpkt::DecodeError>);

fn record(frame: Frame<&mut [u8]>) -> (tpkt::FrameKind, Vec<u8>) {
    (frame.kind(), frame.body().to_vec())
}

/// Feeds `stream` to a minimal-capacity reader in chunks whose sizes cycle through `sizes`.
fn through_reader(decoder: Decoder, stream: &[u8], sizes: &[u8]) -> Outcome {
    let mut reader = FrameReader::with_capacity(decoder, 0);
    let mut frames = Vec::new();
    let mut rest = stream;
    let mut sizes = sizes.iter().map(|&size| usize::from(size).max(1)).cycle();
    while !rest.is_empty() {
        let size = sizes.next().unwrap_or(rest.len()).min(rest.len());
        let (mut chunk, tail) = rest.split_at(size);
        rest = tail;
        while !chunk.is_empty() {
            let taken = reader.extend_from_slice(chunk);
            chunk = &chunk[taken..];
            loop {
                match reader.next_frame() {
                    Ok(Some(frame)) => frames.push(record(frame)),
                    Ok(None) => break,
                    Err(error) if error.skip().is_some() => {}
                    Err(error) => return (frames, Some(error)),
                }
            }
        }
    }
    (frames, reader.finish().err())
}

/// Decodes `stream` held whole in a caller buffer with the stateless decoder.
fn through_decoder(decoder: Decoder, stream: &[u8]) -> Outcome {
    let mut buf = stream.to_vec();
    let mut frames = Vec::new();
    let mut offset = 0;
    loop {
        match decoder.decode_mut(&mut buf[offset..]) {
            Ok(Some(frame)) => {
                offset += frame.wire_len();
                frames.push(record(frame));
            }
            Ok(None) => break,
            Err(error) => match error.skip() {
                Some(skip) => offset += skip,
                None => return (frames, Some(error)),
            },
        }
    }
    let left_over = stream.len() - offset;
    (frames, (left_over > 0).then_some(left_over).map(|have| {
        let need = match stream[offset..] {
            [_, _, high, low, ..] => usize::from(u16::from_be_bytes([high, low])),
            _ => tpkt::HEADER_LEN,
        };
        tpkt::DecodeError::Truncated { have, need }
    }))
}

fuzz_target!(|data: &[u8]| {
    // Layout: max frame length (2 octets), chunk-size count (1), chunk sizes, then the stream.
    let [max_high, max_low, count, rest @ ..] = data else {
        return;
    };
    let decoder = Decoder::with_max_frame_len(u16::from_be_bytes([*max_high, *max_low]))
        .unwrap_or_default();
    let (sizes, stream) = rest.split_at(usize::from(*count).min(rest.len()));
    let chunked = through_reader(decoder, stream, sizes);
    let whole = through_decoder(decoder, stream);
    assert_eq!(chunked, whole);
});
