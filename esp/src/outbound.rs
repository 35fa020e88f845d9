//! The outbound SA: seals inner packets into ESP tunnel-mode packets in place.
//!
//! Any number of workers may seal through one [`OutboundSa`] at once (`&self`): the sequence
//! number and the byte count move together under a small spin lock (one atomic
//! read-modify-write per packet), so every packet gets its own number and, for the AEADs, its
//! own IV. The counter never wraps
//! (<https://www.rfc-editor.org/rfc/rfc4303#section-3.3.3>): once it reaches 2^32 - 1
//! (2^64 - 1 with ESN) sealing fails with [`Error::SequenceExhausted`], and `rekey_margin`
//! packets earlier [`Sealed::rekey_due`] and [`OutboundSa::is_rekey_due`] start telling the
//! control plane to rekey.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::cipher::Cipher;
use crate::selector::{ip_version, IpVersion};
use crate::spin::{add_relaxed, SpinLock};
use crate::stats::OutboundStats;
use crate::wire::{EspHeader, EspHeaderRepr, EspTrailerRepr, NextHeader};
use crate::{Algorithm, Error, PacketBuf};

/// Default number of sequence numbers left at which a rekey is due (2^28, minutes of headroom
/// even at millions of packets per second).
pub const DEFAULT_REKEY_MARGIN: u64 = 1 << 28;

/// The parameters of an outbound SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundConfig {
    /// SPI chosen by the peer.
    pub spi: u32,
    /// The caller's key for this SA's egress (where its sealed packets go), read back with
    /// [`OutboundSa::egress_key`]. The SPI cannot serve: peers choose it, so two peers may pick
    /// the same one. netio uses the inbound SPI of the same CHILD SA, which we chose and which is
    /// unique among our SAs. [`OutboundConfig::new`] sets it to `spi`.
    pub egress_key: u32,
    /// Negotiated transform.
    pub algorithm: Algorithm,
    /// Extended (64-bit) sequence numbers negotiated.
    pub esn: bool,
    /// Sequence numbers left when [`Sealed::rekey_due`] turns true.
    pub rekey_margin: u64,
}

impl OutboundConfig {
    /// An SA without ESN and with the default rekey margin.
    pub fn new(spi: u32, algorithm: Algorithm) -> Self {
        Self {
            spi,
            egress_key: spi,
            algorithm,
            esn: false,
            rekey_margin: DEFAULT_REKEY_MARGIN,
        }
    }
}

/// What [`OutboundSa::seal`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    /// The 64-bit sequence number the packet carries.
    pub sequence_number: u64,
    /// Fewer than `rekey_margin` sequence numbers are left: the SA should be rekeyed.
    pub rekey_due: bool,
}

/// One outbound ESP SA.
#[derive(Debug)]
pub struct OutboundSa {
    spi: u32,
    egress_key: u32,
    algorithm: Algorithm,
    esn: bool,
    cipher: Cipher,
    /// Serialises taking a sequence number and counting the bytes.
    lock: SpinLock,
    /// Last sequence number handed out; 0 before the first packet.
    last_sequence: AtomicU64,
    /// Highest sequence number allowed.
    max_sequence: u64,
    /// Sequence numbers above this one leave fewer than `rekey_margin`: a rekey is due.
    rekey_after: u64,
    /// Inner-packet bytes sealed.
    bytes: AtomicU64,
}

impl OutboundSa {
    /// Keys an outbound SA. The key slices are the RFC 7296 section 2.17 KEYMAT pieces: the
    /// encryption key (salt included for the AEADs) and the integrity key (empty for the AEADs).
    pub fn new(
        config: OutboundConfig,
        encryption_key: &[u8],
        integrity_key: &[u8],
    ) -> Result<Self, Error> {
        let cipher = Cipher::new(config.algorithm, encryption_key, integrity_key)?;
        let max_sequence = if config.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        Ok(Self {
            spi: config.spi,
            egress_key: config.egress_key,
            algorithm: config.algorithm,
            esn: config.esn,
            cipher,
            lock: SpinLock::default(),
            last_sequence: AtomicU64::new(0),
            max_sequence,
            rekey_after: max_sequence.saturating_sub(config.rekey_margin),
            bytes: AtomicU64::new(0),
        })
    }

    /// The SPI this SA writes.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// The caller's key for where this SA's packets go ([`OutboundConfig::egress_key`]).
    pub fn egress_key(&self) -> u32 {
        self.egress_key
    }

    /// The transform.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Bytes [`OutboundSa::seal`] needs in front of the inner packet (ESP header + IV), not
    /// counting the transport's own prefix.
    pub fn headroom(&self) -> usize {
        self.algorithm.header_len()
    }

    /// The most bytes [`OutboundSa::seal`] needs behind the inner packet.
    pub fn tailroom(&self) -> usize {
        self.algorithm.max_trailer_len()
    }

    /// Whether fewer than `rekey_margin` sequence numbers are left.
    pub fn is_rekey_due(&self) -> bool {
        self.last_sequence.load(Ordering::Relaxed) > self.rekey_after
    }

    /// Packets and bytes sealed so far, and the sequence state.
    pub fn stats(&self) -> OutboundStats {
        let last_sequence = self.last_sequence.load(Ordering::Relaxed);
        OutboundStats {
            packets: last_sequence,
            bytes: self.bytes.load(Ordering::Relaxed),
            last_sequence,
            rekey_due: last_sequence > self.rekey_after,
        }
    }

    /// Turns the inner IPv4/IPv6 packet in `buf` into an ESP packet in place
    /// (<https://www.rfc-editor.org/rfc/rfc4303#section-3.3>): writes ESP header and IV into the
    /// headroom, padding, pad length and next header (4 or 41) into the tailroom, encrypts and
    /// appends the ICV. On success `buf` holds the ESP packet; on error it is unchanged and no
    /// sequence number was used unless the error is [`Error::SequenceExhausted`].
    pub fn seal(&self, buf: &mut PacketBuf) -> Result<Sealed, Error> {
        let next_header = match ip_version(buf.data())? {
            IpVersion::V4 => NextHeader::Ipv4,
            IpVersion::V6 => NextHeader::Ipv6,
        };
        let inner_len = buf.len();
        let trailer =
            EspTrailerRepr::for_payload(inner_len, self.algorithm.block_len(), next_header);
        let front = self.algorithm.header_len();
        let back = trailer.buffer_len() + self.algorithm.icv_len();
        let new_start = buf
            .start()
            .checked_sub(front)
            .ok_or(Error::BufferTooSmall)?;
        let packet = buf
            .with_room_mut(front, back)
            .ok_or(Error::BufferTooSmall)?;
        let sequence_number = self.next_sequence(inner_len)?;

        let trailer_start = front + inner_len;
        let trailer_bytes = packet
            .get_mut(trailer_start..trailer_start + trailer.buffer_len())
            .ok_or(Error::BufferTooSmall)?;
        trailer.emit(trailer_bytes)?;
        let mut header = EspHeader::new_checked(&mut *packet)?;
        EspHeaderRepr {
            spi: self.spi,
            // The low half goes on the wire; with ESN the high half enters only the ICV.
            sequence_number: sequence_number as u32,
        }
        .emit(&mut header);
        self.cipher.seal(sequence_number, self.esn, packet)?;
        let packet_len = packet.len();

        buf.set_bounds(new_start, new_start + packet_len)?;
        Ok(Sealed {
            sequence_number,
            rekey_due: sequence_number > self.rekey_after,
        })
    }

    /// Takes the next sequence number, refusing to go past the maximum, and counts the
    /// `inner_len` bytes of the packet that will carry it (sealing cannot fail after this).
    fn next_sequence(&self, inner_len: usize) -> Result<u64, Error> {
        let _held = self.lock.lock();
        let last = self.last_sequence.load(Ordering::Relaxed);
        if last >= self.max_sequence {
            return Err(Error::SequenceExhausted);
        }
        self.last_sequence.store(last + 1, Ordering::Relaxed);
        add_relaxed(&self.bytes, inner_len as u64);
        Ok(last + 1)
    }

    /// Moves the counter, so tests can reach the end of the sequence space.
    #[cfg(test)]
    pub(crate) fn set_last_sequence(&self, last: u64) {
        self.last_sequence.store(last, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_packet(buf: &mut PacketBuf, len: usize) {
        let mut packet = vec![0u8; len];
        packet[0] = 0x45;
        buf.fill(64, &packet).unwrap();
    }

    #[test]
    fn refuses_to_wrap_and_signals_rekey_first() {
        let mut config = OutboundConfig::new(1, Algorithm::AesGcm128);
        config.rekey_margin = 2;
        let sa = OutboundSa::new(config, &[7; 20], &[]).unwrap();
        let mut buf = PacketBuf::new(256);
        sa.set_last_sequence(u64::from(u32::MAX) - 3);
        ipv4_packet(&mut buf, 40);
        assert!(!sa.seal(&mut buf).unwrap().rekey_due);
        assert!(!sa.is_rekey_due());
        ipv4_packet(&mut buf, 40);
        let sealed = sa.seal(&mut buf).unwrap();
        assert!(sealed.rekey_due);
        assert!(sa.is_rekey_due());
        ipv4_packet(&mut buf, 40);
        assert_eq!(
            sa.seal(&mut buf).unwrap().sequence_number,
            u64::from(u32::MAX)
        );
        ipv4_packet(&mut buf, 40);
        assert_eq!(sa.seal(&mut buf), Err(Error::SequenceExhausted));
        assert_eq!(sa.seal(&mut buf), Err(Error::SequenceExhausted));
        assert_eq!(buf.len(), 40, "a refused packet stays as it was");
    }

    #[test]
    fn esn_runs_to_the_end_of_64_bits() {
        let mut config = OutboundConfig::new(1, Algorithm::ChaCha20Poly1305);
        config.esn = true;
        let sa = OutboundSa::new(config, &[7; 36], &[]).unwrap();
        sa.set_last_sequence(u64::MAX - 1);
        let mut buf = PacketBuf::new(256);
        ipv4_packet(&mut buf, 40);
        assert_eq!(sa.seal(&mut buf).unwrap().sequence_number, u64::MAX);
        ipv4_packet(&mut buf, 40);
        assert_eq!(sa.seal(&mut buf), Err(Error::SequenceExhausted));
        assert_eq!(sa.stats().last_sequence, u64::MAX);
    }

    #[test]
    fn esn_packets_across_the_low_wrap_open_on_the_other_side() {
        use crate::{InboundConfig, InboundSa, Opened, TrafficSelector};
        for algorithm in [
            Algorithm::AesGcm256,
            Algorithm::AesCbc128(crate::Integrity::HmacSha256_128),
        ] {
            let key = vec![9; algorithm.encryption_key_len()];
            let integrity = vec![4; algorithm.integrity_key_len()];
            let mut config = OutboundConfig::new(77, algorithm);
            config.esn = true;
            let outbound = OutboundSa::new(config, &key, &integrity).unwrap();
            let selectors = vec![TrafficSelector::prefix([0, 0, 0, 0].into(), 0).unwrap()];
            let mut config = InboundConfig::new(77, algorithm, selectors);
            config.esn = true;
            let inbound = InboundSa::new(config, &key, &integrity).unwrap();
            outbound.set_last_sequence(0xffff_fffd);
            #[allow(clippy::disallowed_methods)] // any instant will do
            let now = std::time::Instant::now();
            let mut buf = PacketBuf::new(256);
            for expected in 0xffff_fffe..0x1_0000_0003u64 {
                ipv4_packet(&mut buf, 40);
                assert_eq!(outbound.seal(&mut buf).unwrap().sequence_number, expected);
                let low = u32::from_be_bytes(buf.data()[4..8].try_into().unwrap());
                assert_eq!(low, expected as u32, "only the low half is sent");
                assert_eq!(
                    inbound.open(now, &mut buf),
                    Ok(Opened::Packet(IpVersion::V4))
                );
            }
        }
    }

    #[test]
    fn refuses_short_rooms_without_using_a_sequence_number() {
        let sa =
            OutboundSa::new(OutboundConfig::new(1, Algorithm::AesGcm128), &[7; 20], &[]).unwrap();
        let mut buf = PacketBuf::new(80);
        let packet = [0x45u8; 48];
        buf.fill(15, &packet).unwrap();
        assert_eq!(sa.seal(&mut buf), Err(Error::BufferTooSmall));
        buf.fill(16, &packet).unwrap();
        assert_eq!(sa.seal(&mut buf), Err(Error::BufferTooSmall));
        buf.fill(16, &packet[..20]).unwrap();
        assert_eq!(sa.seal(&mut buf).unwrap().sequence_number, 1);
        buf.fill(16, &[0x15; 20]).unwrap();
        assert_eq!(sa.seal(&mut buf), Err(Error::MalformedInner));
        assert_eq!(sa.stats().packets, 1);
    }
}
