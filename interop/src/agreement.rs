//! Does strongSwan's view of a CHILD SA agree with eseg's? The SPIs must be mirrored (their
//! inbound is our outbound), both sides must use UDP encapsulation, and the packet counters must
//! match exactly after a loss-free exchange such as a few pings.
//!
//! Byte counters differ by definition (see `KNOWN-DIFFERENCES.md`): strongSwan counts inner packet
//! bytes both ways; eseg counts inner packet bytes when sealing but the whole decrypted ESP
//! payload (inner packet, padding, pad length and next header, RFC 4303 §2) when opening. So our
//! inbound bytes exceed their outbound bytes by 2 to 17 bytes per packet.

use netio::dataplane::status::ChildSaStatus;

use crate::sas::ChildSa;

/// Smallest ESP trailer per packet: pad length and next header, no padding.
const MIN_TRAILER: u64 = 2;
/// Largest ESP trailer per packet: 15 bytes of padding for a 16-byte block cipher, plus the two.
const MAX_TRAILER: u64 = 17;

/// Checks that `mine` (eseg's status) and `theirs` (strongSwan's list) describe the same CHILD SA
/// with the same traffic; returns what disagrees.
pub fn child_sas_agree(mine: &ChildSaStatus, theirs: &ChildSa) -> Result<(), String> {
    let mut problems = Vec::new();
    if (mine.spi_in, mine.spi_out) != (theirs.spi_out, theirs.spi_in) {
        problems.push(format!(
            "SPIs not mirrored: ours in {:08x} out {:08x}, theirs in {:08x} out {:08x}",
            mine.spi_in, mine.spi_out, theirs.spi_in, theirs.spi_out
        ));
    }
    if !(mine.udp_encapsulated && theirs.encap) {
        problems.push("UDP encapsulation not on both sides".into());
    }
    if (mine.packets_in, mine.packets_out) != (theirs.packets_out, theirs.packets_in) {
        problems.push(format!(
            "packets differ: ours in {} out {}, theirs in {} out {}",
            mine.packets_in, mine.packets_out, theirs.packets_in, theirs.packets_out
        ));
    }
    if mine.bytes_out != theirs.bytes_in {
        problems.push(format!(
            "bytes we sent ({}) != bytes they received ({})",
            mine.bytes_out, theirs.bytes_in
        ));
    }
    let trailer = mine.bytes_in.checked_sub(theirs.bytes_out);
    let packets = mine.packets_in;
    if !trailer.is_some_and(|t| (MIN_TRAILER * packets..=MAX_TRAILER * packets).contains(&t)) {
        problems.push(format!(
            "bytes we received ({}) are not their bytes sent ({}) plus an ESP trailer per packet",
            mine.bytes_in, theirs.bytes_out
        ));
    }
    if mine.dropped_auth + mine.dropped_replay + mine.dropped_policy != 0 {
        problems.push(format!("we dropped packets: {mine:?}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (ChildSaStatus, ChildSa) {
        let mine = ChildSaStatus {
            spi_in: 0x6a37_44e1,
            spi_out: 0x5565_d86e,
            transform: "AesGcm256".into(),
            udp_encapsulated: true,
            packets_in: 6,
            bytes_in: 528,
            packets_out: 6,
            bytes_out: 504,
            ..ChildSaStatus::default()
        };
        let theirs = ChildSa {
            spi_in: 0x5565_d86e,
            spi_out: 0x6a37_44e1,
            encap: true,
            packets_in: 6,
            bytes_in: 504,
            packets_out: 6,
            bytes_out: 504,
            ..ChildSa::default()
        };
        (mine, theirs)
    }

    #[test]
    fn a_real_pair_agrees() {
        let (mine, theirs) = pair();
        assert_eq!(child_sas_agree(&mine, &theirs), Ok(()));
    }

    #[test]
    fn each_disagreement_is_reported() {
        let (mine, theirs) = pair();
        let mut swapped = theirs.clone();
        std::mem::swap(&mut swapped.spi_in, &mut swapped.spi_out);
        assert!(child_sas_agree(&mine, &swapped)
            .unwrap_err()
            .contains("SPIs"));
        let mut lost = theirs.clone();
        lost.packets_in = 5;
        assert!(child_sas_agree(&mine, &lost)
            .unwrap_err()
            .contains("packets"));
        let mut short = mine.clone();
        short.bytes_in = 504;
        assert!(child_sas_agree(&short, &theirs)
            .unwrap_err()
            .contains("trailer"));
        let mut plain = mine.clone();
        plain.udp_encapsulated = false;
        assert!(child_sas_agree(&plain, &theirs)
            .unwrap_err()
            .contains("encapsulation"));
        let mut dropped = mine;
        dropped.dropped_auth = 1;
        assert!(child_sas_agree(&dropped, &theirs)
            .unwrap_err()
            .contains("dropped"));
    }
}
