//! Per-SA counters for lifetimes, operator status and IKE liveness.
//!
//! The data path keeps them; the control plane reads snapshots of them: packet and byte counts
//! drive soft/hard lifetimes (<https://www.rfc-editor.org/rfc/rfc4301#section-4.4.2.1>), the drop
//! counters go to operators, and the time of the last authentic inbound packet (a time the caller
//! gave to `open`: this crate never reads the clock) tells IKE whether the peer is alive.

use std::time::Instant;

/// A snapshot of an inbound SA's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InboundStats {
    /// Packets that verified and passed the replay check.
    pub packets: u64,
    /// Inner-packet bytes of those packets (without padding and trailer).
    pub bytes: u64,
    /// Packets dropped as replayed or too old.
    pub replay_drops: u64,
    /// Packets whose ICV did not verify.
    pub icv_failures: u64,
    /// Authentic packets whose inner source lay outside the peer's traffic selectors.
    pub policy_drops: u64,
    /// Authentic packets with a bad pad length or padding.
    pub padding_errors: u64,
    /// Packets too short to hold an ESP packet, or authentic ones carrying something other than
    /// a well-formed IPv4/IPv6 packet or a dummy packet.
    pub malformed: u64,
    /// When the last authentic packet was opened, as given by the caller.
    pub last_packet: Option<Instant>,
}

/// A snapshot of an outbound SA's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboundStats {
    /// Packets sealed.
    pub packets: u64,
    /// Inner-packet bytes sealed.
    pub bytes: u64,
    /// Last sequence number used.
    pub last_sequence: u64,
    /// The sequence space is close to exhaustion: rekey.
    pub rekey_due: bool,
}
