//! Arbitrary bytes as an inner packet, sealed and opened again by a looped-back SA pair of
//! every transform: sealing either refuses with an error or produces a packet that opens to
//! exactly the same bytes; tampering with one byte of it is always detected.
#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

use esp::{
    Algorithm, Error, InboundConfig, InboundSa, Integrity, Opened, OutboundConfig, OutboundSa,
    PacketBuf, TrafficSelector, SEAL_HEADROOM, SEAL_TAILROOM,
};
use libfuzzer_sys::fuzz_target;

const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::AesGcm128,
    Algorithm::ChaCha20Poly1305,
    Algorithm::AesCbc128(Integrity::HmacSha384_192),
    Algorithm::AesCbc256(Integrity::HmacSha256_128),
];

struct Fixture {
    now: Instant,
    pairs: Vec<(OutboundSa, InboundSa)>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let everyone = vec![
            TrafficSelector::prefix([0, 0, 0, 0].into(), 0).unwrap(),
            TrafficSelector::prefix([0u8; 16].into(), 0).unwrap(),
        ];
        let pairs = ALGORITHMS
            .iter()
            .map(|&algorithm| {
                let encryption = vec![0x17; algorithm.encryption_key_len()];
                let integrity = vec![0x71; algorithm.integrity_key_len()];
                let mut outbound_config = OutboundConfig::new(7, algorithm);
                outbound_config.esn = true;
                let mut inbound_config = InboundConfig::new(7, algorithm, everyone.clone());
                inbound_config.esn = true;
                // Sealed packets are opened at once, in order: a small window is enough.
                inbound_config.replay_window = 64;
                (
                    OutboundSa::new(outbound_config, &encryption, &integrity).unwrap(),
                    InboundSa::new(inbound_config, &encryption, &integrity).unwrap(),
                )
            })
            .collect();
        #[allow(clippy::disallowed_methods)] // the fuzz binary: any instant will do
        let now = Instant::now();
        Fixture { now, pairs }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, inner)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    let (outbound, inbound) = &fixture.pairs[usize::from(selector) % fixture.pairs.len()];
    let mut buf = PacketBuf::new(SEAL_HEADROOM + inner.len() + SEAL_TAILROOM);
    buf.fill(SEAL_HEADROOM, inner).unwrap();
    if outbound.seal(&mut buf).is_err() {
        return;
    }
    let sealed = buf.data().to_vec();
    if selector & 0x80 != 0 && !sealed.is_empty() {
        let mut tampered = sealed.clone();
        let at = usize::from(selector) * 7 % tampered.len();
        tampered[at] ^= 1 << (selector % 8);
        buf.fill(0, &tampered).unwrap();
        let result = inbound.open(fixture.now, &mut buf);
        assert!(
            matches!(result, Err(Error::BadIcv | Error::UnknownSpi(_) | Error::Replay)),
            "tampered byte {at}: {result:?}"
        );
    }
    buf.fill(0, &sealed).unwrap();
    assert!(matches!(
        inbound.open(fixture.now, &mut buf),
        Ok(Opened::Packet(_))
    ));
    assert_eq!(buf.data(), inner);
});
