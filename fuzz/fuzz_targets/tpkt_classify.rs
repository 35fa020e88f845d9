//! Arbitrary first octets through the stream classifier: no panic, a decision within
//! `CLASSIFY_PREFIX_LEN` octets, and agreement with the decoder on what is TPKT'.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpkt::{classify, Classification, Decoder, CLASSIFY_PREFIX_LEN};

fuzz_target!(|data: &[u8]| {
    let classification = classify(data);
    let prefix = &data[..data.len().min(CLASSIFY_PREFIX_LEN)];
    assert_eq!(classification, classify(prefix));
    if data.len() >= CLASSIFY_PREFIX_LEN {
        assert_ne!(classification, Classification::NeedMoreBytes);
    }
    // A stream classified as TPKT' has a header the most permissive decoder accepts: decoding it
    // may need more bytes or find a bad payload, but never a stream error.
    if classification == Classification::Tpkt {
        let permissive = Decoder::with_max_frame_len(u16::MAX).unwrap_or_default();
        if let Err(error) = permissive.decode_span(data) {
            assert!(error.skip().is_some(), "{error} on {data:02x?}");
        }
    }
});
