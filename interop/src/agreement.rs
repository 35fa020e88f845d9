//! Does strongSwan's view of a CHILD SA agree with eseg's? The SPIs must be mirrored (their
//! inbound is our outbound), both sides must use UDP encapsulation, and the packet and byte
//! counters (inner-packet bytes on both sides) must match exactly after a loss-free exchange such
//! as a few pings.

use netio::dataplane::status::ChildSaStatus;

use crate::sas::ChildSa;

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
    if (mine.bytes_in, mine.bytes_out) != (theirs.bytes_out, theirs.bytes_in) {
        problems.push(format!(
            "bytes differ: ours in {} out {}, theirs in {} out {}",
            mine.bytes_in, mine.bytes_out, theirs.bytes_in, theirs.bytes_out
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
            bytes_in: 504,
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
        let mut padded = mine.clone();
        padded.bytes_in = 528;
        assert!(child_sas_agree(&padded, &theirs)
            .unwrap_err()
            .contains("bytes"));
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
