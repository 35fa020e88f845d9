//! Raw bytes into `Message::parse`, as a datagram from the network would arrive. Parsing must
//! never panic; whatever parses must re-emit, and the re-emitted bytes must parse to the same
//! payloads (the codec may only normalize reserved bits). SK/SKF messages also exercise
//! `protected_parts`, whose prefix and body must rebuild the datagram exactly.
#![no_main]

use ikev2::wire::{check_critical_payloads, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = Message::parse(data) else {
        return;
    };
    let _ = check_critical_payloads(&message.payloads);
    if let Some(parts) = message.protected_parts(data) {
        let rebuilt = [parts.authenticated_prefix, parts.body].concat();
        assert_eq!(rebuilt, data);
    }
    let emitted = message.emit().expect("a parsed message re-emits");
    assert_eq!(emitted.len(), data.len(), "re-emission keeps every length");
    let again = Message::parse(&emitted).expect("a re-emitted message parses");
    assert_eq!(again.payloads, message.payloads);
    assert_eq!(again.header, message.header);
});
