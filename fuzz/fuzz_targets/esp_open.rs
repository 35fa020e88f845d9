//! Arbitrary bytes into `open` for fixed SAs of every transform, with and without ESN, at any
//! headroom, directly and through the SA database: never a panic, and a buffer that still holds
//! a packet inside its memory afterwards.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use esp::{
    Algorithm, InboundConfig, InboundSa, Integrity, PacketBuf, SaDatabase, SaReader,
    TrafficSelector,
};
use libfuzzer_sys::fuzz_target;

const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::AesGcm128,
    Algorithm::AesGcm256,
    Algorithm::ChaCha20Poly1305,
    Algorithm::AesCbc128(Integrity::HmacSha256_128),
    Algorithm::AesCbc256(Integrity::HmacSha512_256),
];

struct Fixture {
    now: Instant,
    /// One SA per transform and ESN setting; SPI = index + 1.
    sas: Vec<InboundSa>,
    db: SaDatabase,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let everyone = vec![
            TrafficSelector::prefix([10, 0, 0, 0].into(), 8).unwrap(),
            TrafficSelector::prefix([0u8; 16].into(), 1).unwrap(),
        ];
        let mut sas = Vec::new();
        for (index, algorithm) in ALGORITHMS.iter().flat_map(|a| [(a, false), (a, true)]).enumerate()
        {
            let (algorithm, esn) = (*algorithm.0, algorithm.1);
            let mut config = InboundConfig::new(index as u32 + 1, algorithm, everyone.clone());
            config.esn = esn;
            config.replay_window = 128;
            let encryption = vec![0x42; algorithm.encryption_key_len()];
            let integrity = vec![0x24; algorithm.integrity_key_len()];
            sas.push(InboundSa::new(config, &encryption, &integrity).unwrap());
        }
        let db = SaDatabase::new();
        db.update(|table| {
            for (index, algorithm) in ALGORITHMS.iter().enumerate() {
                let config = InboundConfig::new(0x100 + index as u32, *algorithm, everyone.clone());
                let encryption = vec![0x42; algorithm.encryption_key_len()];
                let integrity = vec![0x24; algorithm.integrity_key_len()];
                table.insert_inbound(Arc::new(
                    InboundSa::new(config, &encryption, &integrity).unwrap(),
                ));
            }
        });
        #[allow(clippy::disallowed_methods)] // the fuzz binary: any instant will do
        let now = Instant::now();
        Fixture { now, sas, db }
    })
}

thread_local! {
    static READER: std::cell::RefCell<Option<SaReader>> = const { std::cell::RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some((&headroom, packet)) = rest.split_first() else {
        return;
    };
    let fixture = fixture();
    let mut buf = PacketBuf::new(usize::from(headroom) + packet.len() + 64);
    if buf.fill(usize::from(headroom), packet).is_err() {
        return;
    }
    let capacity = buf.capacity();
    let result = match fixture.sas.get(usize::from(selector) % (fixture.sas.len() + 1)) {
        Some(sa) => sa.open(fixture.now, &mut buf).map(|_| ()),
        None => READER.with(|reader| {
            let mut reader = reader.borrow_mut();
            let reader = reader.get_or_insert_with(|| fixture.db.reader());
            reader.table().open(fixture.now, &mut buf).map(|_| ())
        }),
    };
    assert!(buf.headroom() + buf.len() + buf.tailroom() == capacity);
    if result.is_ok() {
        assert!(buf.len() < packet.len());
    }
});
