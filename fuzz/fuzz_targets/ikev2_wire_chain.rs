//! Raw bytes into `parse_chain`, as decrypted SK content would arrive: the first byte chooses
//! the first payload type, the rest is the chain. Parsing must never panic; whatever parses must
//! re-encode (same first type, same length) and re-parse to the same payloads.
#![no_main]

use ikev2::wire::{encode_chain, parse_chain, PayloadType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, chain)) = data.split_first() else {
        return;
    };
    let first = PayloadType::from(first);
    let Ok(payloads) = parse_chain(first, chain) else {
        return;
    };
    let (encoded_first, encoded) = encode_chain(&payloads).expect("a parsed chain re-encodes");
    assert_eq!(encoded.len(), chain.len(), "re-encoding keeps every length");
    if !payloads.is_empty() {
        assert_eq!(encoded_first, first);
    }
    let again = parse_chain(encoded_first, &encoded).expect("a re-encoded chain parses");
    assert_eq!(again, payloads);
});
