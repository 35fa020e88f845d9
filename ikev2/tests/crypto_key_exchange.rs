//! Key exchange groups 19, 20 and 31 against the RFC test vectors, plus the refusal of
//! wrong-length, off-curve and low-order public values.

// Helpers outside #[test] functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use ikev2::crypto::{CryptoError, DhGroup, KeyExchange};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

mod crypto_support;
use crypto_support::{unhex, FixedBytes};

fn known_key(group: DhGroup, private: &str) -> KeyExchange {
    KeyExchange::generate(group, &mut FixedBytes(unhex(private)))
}

struct Vector {
    group: DhGroup,
    private_i: &'static str,
    public_i: &'static str,
    private_r: &'static str,
    public_r: &'static str,
    shared: &'static str,
}

const VECTORS: [Vector; 3] = [
    // RFC 7748 §6.1 (Alice = i, Bob = r).
    Vector {
        group: DhGroup::Curve25519,
        private_i: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        public_i: "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
        private_r: "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        public_r: "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
        shared: "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
    },
    // RFC 5903 §8.1: public values are gix || giy, the shared secret is girx.
    Vector {
        group: DhGroup::Ecp256,
        private_i: "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433",
        public_i: "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180
                   5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3",
        private_r: "C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53",
        public_r: "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63
                   56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB",
        shared: "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE",
    },
    // RFC 5903 §8.2.
    Vector {
        group: DhGroup::Ecp384,
        private_i: "099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655
                    E35B538041E649EE3FAEF896783AB194",
        public_i: "667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6
                   DE3AC808ACB4BDB4C88732AEE95F41AA9482ED1FC0EEB9CAFC4984625CCFC23F
                   65032149E0E144ADA024181535A0F38EEB9FCFF3C2C947DAE69B4C634573A81C",
        private_r: "41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942
                    E0308312916B8ED2960E4BD55A7448FC",
        public_r: "E558DBEF53EECDE3D3FCCFC1AEA08A89A987475D12FD950D83CFA41732BC509D
                   0D1AC43A0336DEF96FDA41D0774A3571DCFBEC7AACF3196472169E838430367F
                   66EEBE3C6E70C416DD5F0C68759DD1FFF83FA40142209DFF5EAAD96DB9E6386C",
        shared: "11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4
                 D603135569B9E9D09CF5D4A270F59746",
    },
];

#[test]
fn rfc_vectors_give_the_published_public_values_and_shared_secret() {
    for vector in &VECTORS {
        let initiator = known_key(vector.group, vector.private_i);
        let responder = known_key(vector.group, vector.private_r);
        assert_eq!(
            initiator.public_value(),
            unhex(vector.public_i),
            "{:?}",
            vector.group
        );
        assert_eq!(
            responder.public_value(),
            unhex(vector.public_r),
            "{:?}",
            vector.group
        );
        assert_eq!(initiator.group(), vector.group);

        let from_i = initiator.agree(&unhex(vector.public_r)).unwrap();
        let from_r = responder.agree(&unhex(vector.public_i)).unwrap();
        assert_eq!(from_i.expose(), unhex(vector.shared), "{:?}", vector.group);
        assert_eq!(from_i, from_r);
        assert_eq!(from_i.len(), vector.group.shared_secret_len());
    }
}

#[test]
fn generated_pairs_agree_and_differ_per_draw() {
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    for group in [DhGroup::Curve25519, DhGroup::Ecp256, DhGroup::Ecp384] {
        let a = KeyExchange::generate(group, &mut rng);
        let b = KeyExchange::generate(group, &mut rng);
        assert_eq!(a.public_value().len(), group.public_len());
        assert_ne!(a.public_value(), b.public_value());
        let public_a = a.public_value().to_vec();
        let shared_a = a.agree(b.public_value()).unwrap();
        assert_eq!(shared_a, b.agree(&public_a).unwrap());
    }
}

#[test]
fn same_seed_gives_same_key_pair() {
    for group in [DhGroup::Curve25519, DhGroup::Ecp256, DhGroup::Ecp384] {
        let a = KeyExchange::generate(group, &mut ChaCha20Rng::from_seed([9; 32]));
        let b = KeyExchange::generate(group, &mut ChaCha20Rng::from_seed([9; 32]));
        assert_eq!(a.public_value(), b.public_value());
    }
}

#[test]
fn wrong_lengths_are_refused_with_the_expected_length() {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    for group in [DhGroup::Curve25519, DhGroup::Ecp256, DhGroup::Ecp384] {
        let peer = KeyExchange::generate(group, &mut rng)
            .public_value()
            .to_vec();
        let expected = group.public_len();
        let mut with_prefix = vec![0x04];
        with_prefix.extend_from_slice(&peer);
        for bad in [&peer[..expected - 1], &with_prefix[..], &[][..]] {
            let own = KeyExchange::generate(group, &mut rng);
            assert_eq!(
                own.agree(bad),
                Err(CryptoError::InvalidPublicValueLength {
                    expected,
                    actual: bad.len()
                }),
                "{group:?}"
            );
        }
    }
}

#[test]
fn points_off_the_curve_are_refused() {
    let mut rng = ChaCha20Rng::from_seed([2; 32]);
    for (group, vector) in [
        (DhGroup::Ecp256, &VECTORS[1]),
        (DhGroup::Ecp384, &VECTORS[2]),
    ] {
        let mut off_curve = unhex(vector.public_r);
        let last = off_curve.len() - 1;
        off_curve[last] ^= 1;
        let own = KeyExchange::generate(group, &mut rng);
        assert_eq!(own.agree(&off_curve), Err(CryptoError::InvalidPublicValue));

        let own = KeyExchange::generate(group, &mut rng);
        let identity = vec![0; group.public_len()];
        assert_eq!(own.agree(&identity), Err(CryptoError::InvalidPublicValue));

        // x beyond the field prime.
        let own = KeyExchange::generate(group, &mut rng);
        assert_eq!(
            own.agree(&vec![0xFF; group.public_len()]),
            Err(CryptoError::InvalidPublicValue)
        );
    }
}

#[test]
fn curve25519_low_order_points_are_refused() {
    // u = 0 and u = 1 are of small order: the shared secret would be all zeros (RFC 8031 §2.3).
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    for low_order in [[0u8; 32], one] {
        let own = KeyExchange::generate(DhGroup::Curve25519, &mut rng);
        assert_eq!(own.agree(&low_order), Err(CryptoError::InvalidPublicValue));
    }
}

#[test]
fn debug_output_hides_the_private_value() {
    let key = known_key(DhGroup::Curve25519, VECTORS[0].private_i);
    let printed = format!("{key:?}");
    assert!(printed.contains("Curve25519"));
    assert!(!printed.to_lowercase().contains("77076d0a"));
    assert!(!printed.contains("119, 7, 109"), "{printed}");
}
