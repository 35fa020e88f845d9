//! Engine configuration: the [`EndpointConfig`] (limits, timers, RNG seed, accepted peers) and one
//! [`PeerConfig`] per peer (identities, PSK, proposals, traffic selectors, address pool, lifetimes).
//!
//! A responder finds the peer configuration by the initiator's identity (IDi) with
//! [`EndpointConfig::find_peer`]: the most specific [`IdentityPattern`] wins, ties go to the first
//! listed. An initiator names its peer configuration in [`crate::Endpoint::initiate`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::crypto::Secret;
use crate::identity::{Identity, IdentityPattern};
use crate::proposal::{EspProposal, IkeProposal};
use crate::ts::TrafficSelector;

/// Settings for the whole endpoint.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Seed of the engine's ChaCha20 RNG (SPIs, nonces, key exchange secrets, jitter). Drivers seed
    /// it from the OS once; tests fix it so runs replay byte for byte.
    pub seed: [u8; 32],
    /// Peers this endpoint accepts as responder.
    pub peers: Vec<Arc<PeerConfig>>,
    /// IKE proposals accepted as responder in IKE_SA_INIT (before the peer is known).
    pub ike_proposals: Vec<IkeProposal>,
    /// Half-open IKE SAs above which IKE_SA_INIT requests must carry a COOKIE (§2.6).
    pub cookie_threshold: usize,
    /// Half-open IKE SAs above which IKE_SA_INIT requests are dropped outright.
    pub max_half_open: usize,
    /// Upper bound on IKE SAs (all states); new IKE_SA_INIT requests beyond it are dropped.
    pub max_ike_sas: usize,
    /// Upper bound on CHILD SAs per IKE SA (rekeys briefly need two); more CREATE_CHILD_SA
    /// requests are answered NO_ADDITIONAL_SAS.
    pub max_child_sas_per_ike: usize,
    /// How long a responder keeps a half-open IKE SA waiting for IKE_AUTH.
    pub half_open_timeout: Duration,
    /// Request retransmission.
    pub retransmit: RetransmitConfig,
    /// Always use UDP encapsulation (port 4500, ESP-in-UDP), as if behind a NAT. Our data path is
    /// userspace ESP-in-UDP, so this defaults to `true` (like strongSwan's kernel-libipsec); the
    /// engine then sends a NAT_DETECTION_SOURCE_IP that cannot match, so the peer encapsulates too.
    pub force_encapsulation: bool,
    /// Offer and accept MOBIKE ([RFC 4555](https://www.rfc-editor.org/rfc/rfc4555)): the
    /// initiator sends MOBIKE_SUPPORTED in IKE_AUTH, a responder answers it when offered. On an
    /// IKE SA where both did, [`crate::Endpoint::migrate`] announces the new addresses with
    /// UPDATE_SA_ADDRESSES and the responder moves only on that announcement (or on NAT
    /// rebinding of a peer behind a NAT). Defaults to `true`, like strongSwan.
    pub mobike: bool,
}

impl EndpointConfig {
    /// Defaults (strongSwan-like limits) with the given seed and peers.
    pub fn new(seed: [u8; 32], peers: Vec<Arc<PeerConfig>>) -> Self {
        EndpointConfig {
            seed,
            peers,
            ike_proposals: IkeProposal::defaults(),
            cookie_threshold: 30,
            max_half_open: 1000,
            max_ike_sas: 100_000,
            max_child_sas_per_ike: 32,
            half_open_timeout: Duration::from_secs(30),
            retransmit: RetransmitConfig::default(),
            force_encapsulation: true,
            mobike: true,
        }
    }

    /// The peer configuration for a remote identity: the most specific matching pattern, the first
    /// listed among equals.
    pub fn find_peer(&self, remote: &Identity) -> Option<&Arc<PeerConfig>> {
        let mut best: Option<&Arc<PeerConfig>> = None;
        for peer in self.peers.iter().filter(|p| p.remote_id.matches(remote)) {
            if best.is_none_or(|b| peer.remote_id.specificity() > b.remote_id.specificity()) {
                best = Some(peer);
            }
        }
        best
    }
}

/// Retransmission of requests (§2.1): first timeout `initial`, multiplied by `base` after each try,
/// giving up after `tries` retransmissions. Defaults are strongSwan's (4 s, 1.8, 5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetransmitConfig {
    /// Timeout before the first retransmission.
    pub initial: Duration,
    /// Growth factor per retransmission.
    pub base: f64,
    /// Retransmissions before the exchange (and the IKE SA) is given up.
    pub tries: u32,
}

impl Default for RetransmitConfig {
    fn default() -> Self {
        RetransmitConfig {
            initial: Duration::from_secs(4),
            base: 1.8,
            tries: 5,
        }
    }
}

impl RetransmitConfig {
    /// The timeout after send number `attempt` (0 = the first transmission).
    pub fn timeout(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        self.initial.mul_f64(self.base.powi(exponent).min(1.0e6))
    }

    /// Total time from the first transmission until the exchange is given up.
    pub fn give_up_after(&self) -> Duration {
        (0..=self.tries).map(|attempt| self.timeout(attempt)).sum()
    }
}

/// What to do when a second IKE SA is established with the same remote identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UniquePolicy {
    /// Keep both (a device with one tunnel per access network). The default.
    #[default]
    KeepBoth,
    /// Close the older IKE SA (sending a Delete) once the new one is established.
    Replace,
}

/// SA lifetimes. Soft limits start a rekey (minus up to `jitter` of random time), hard limits
/// delete. Zero durations / `None` disable a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// IKE SA rekey time.
    pub ike_rekey: Option<Duration>,
    /// CHILD SA rekey time.
    pub child_rekey: Option<Duration>,
    /// CHILD SA hard lifetime (delete if rekey did not happen).
    pub child_hard: Option<Duration>,
    /// CHILD SA soft limit in bytes (either direction, as reported by the data path).
    pub child_rekey_bytes: Option<u64>,
    /// CHILD SA soft limit in packets.
    pub child_rekey_packets: Option<u64>,
    /// CHILD SA hard limit in bytes: deleted when reached without a rekey.
    pub child_hard_bytes: Option<u64>,
    /// CHILD SA hard limit in packets.
    pub child_hard_packets: Option<u64>,
    /// Random time subtracted from soft limits so both peers rarely rekey at once.
    pub jitter: Duration,
}

impl Default for Lifetimes {
    /// strongSwan-like: IKE rekey 4 h, CHILD rekey 1 h, CHILD hard 1 h 10 min, 10 % jitter; a
    /// CHILD rekey after 3e9 packets and a delete after 4e9, before a 32-bit ESP sequence
    /// number wraps (2^32 ≈ 4.29e9).
    fn default() -> Self {
        Lifetimes {
            ike_rekey: Some(Duration::from_secs(4 * 3600)),
            child_rekey: Some(Duration::from_secs(3600)),
            child_hard: Some(Duration::from_secs(3600 + 600)),
            child_rekey_bytes: None,
            child_rekey_packets: Some(3_000_000_000),
            child_hard_bytes: None,
            child_hard_packets: Some(4_000_000_000),
            jitter: Duration::from_secs(360),
        }
    }
}

impl Lifetimes {
    /// No rekey or expiry on a timer (and no jitter), for SAs held open as long as a test or
    /// load generator needs them; the packet limits of [`Lifetimes::default`] stay, so a
    /// 32-bit sequence number still never wraps.
    pub fn without_timers() -> Self {
        Lifetimes {
            ike_rekey: None,
            child_rekey: None,
            child_hard: None,
            jitter: Duration::ZERO,
            ..Lifetimes::default()
        }
    }
}

/// Configuration attributes a responder hands out / an initiator asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VirtualIpConfig {
    /// Responder: the pool (by name) of the gateway's [`crate::AddressPool`]. Initiator: ignored.
    pub pool: Option<String>,
    /// Responder: DNS servers given out (INTERNAL_IP4_DNS / INTERNAL_IP6_DNS).
    pub dns: Vec<IpAddr>,
    /// Responder: P-CSCF addresses given out (RFC 7651, and the older 16389/16390).
    pub pcscf: Vec<IpAddr>,
    /// Initiator: ask for an IPv4 address, DNS and P-CSCF in IKE_AUTH.
    pub request_ipv4: bool,
    /// Initiator: also ask for an IPv6 address.
    pub request_ipv6: bool,
}

/// One peer: who we are to it, who it is, how we authenticate and what we allow.
#[derive(Clone)]
pub struct PeerConfig {
    /// Name for logs and status.
    pub name: String,
    /// Our identity (IDi as initiator, IDr as responder).
    pub local_id: Identity,
    /// The identities accepted from the peer. An initiator sends IDr when this is `Exact`.
    pub remote_id: IdentityPattern,
    /// The pre-shared key (§2.15), same on both sides.
    pub psk: Secret,
    /// IKE proposals an initiator offers (the responder uses [`EndpointConfig::ike_proposals`]).
    pub ike_proposals: Vec<IkeProposal>,
    /// ESP proposals offered / accepted.
    pub esp_proposals: Vec<EspProposal>,
    /// Our side's traffic selectors (responder: TSr allowed; initiator: TSi proposed).
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's side (responder: TSi allowed, replaced by the virtual IP /32 when one is
    /// assigned; initiator: TSr proposed).
    pub remote_ts: Vec<TrafficSelector>,
    /// Configuration payload handling.
    pub virtual_ip: VirtualIpConfig,
    /// Second IKE SA with the same identity.
    pub unique: UniquePolicy,
    /// Rekey and expiry.
    pub lifetimes: Lifetimes,
    /// Liveness check after this long without inbound traffic (`None` disables DPD).
    pub dpd_delay: Option<Duration>,
}

impl std::fmt::Debug for PeerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerConfig")
            .field("name", &self.name)
            .field("local_id", &self.local_id)
            .field("remote_id", &self.remote_id)
            .field("psk", &self.psk)
            .field("local_ts", &self.local_ts)
            .field("remote_ts", &self.remote_ts)
            .field("virtual_ip", &self.virtual_ip)
            .field("unique", &self.unique)
            .finish_non_exhaustive()
    }
}

impl PeerConfig {
    /// A peer with default proposals, lifetimes and DPD (30 s), traffic selectors for all IPv4
    /// on both sides, no virtual IP.
    pub fn new(name: &str, local_id: Identity, remote_id: IdentityPattern, psk: Secret) -> Self {
        PeerConfig {
            name: name.to_owned(),
            local_id,
            remote_id,
            psk,
            ike_proposals: IkeProposal::defaults(),
            esp_proposals: EspProposal::defaults(),
            local_ts: vec![TrafficSelector::IPV4_ANY],
            remote_ts: vec![TrafficSelector::IPV4_ANY],
            virtual_ip: VirtualIpConfig::default(),
            unique: UniquePolicy::KeepBoth,
            lifetimes: Lifetimes::default(),
            dpd_delay: Some(Duration::from_secs(30)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(name: &str, pattern: &str) -> Arc<PeerConfig> {
        Arc::new(PeerConfig::new(
            name,
            "gw.eseg.test".parse().unwrap(),
            pattern.parse().unwrap(),
            Secret::from_slice(b"k"),
        ))
    }

    #[test]
    fn lookup_prefers_the_most_specific_pattern() {
        let config = EndpointConfig::new(
            [0; 32],
            vec![
                peer("any", "*"),
                peer("ims", "*.ims.example"),
                peer("one", "ue1.ims.example"),
            ],
        );
        let find = |id: &str| {
            config
                .find_peer(&id.parse().unwrap())
                .map(|p| p.name.clone())
        };
        assert_eq!(find("ue1.ims.example").as_deref(), Some("one"));
        assert_eq!(find("ue2.ims.example").as_deref(), Some("ims"));
        assert_eq!(find("10.0.0.1").as_deref(), Some("any"));
        let strict = EndpointConfig::new([0; 32], vec![peer("ims", "*.ims.example")]);
        assert!(strict
            .find_peer(&"other.example".parse().unwrap())
            .is_none());
    }

    #[test]
    fn retransmit_schedule_matches_strongswan() {
        let r = RetransmitConfig::default();
        assert_eq!(r.timeout(0), Duration::from_secs(4));
        assert_eq!(r.timeout(1), Duration::from_secs_f64(7.2));
        // 4 * (1 + 1.8 + ... + 1.8^5) = 165 s, strongSwan's documented total.
        assert_eq!(r.give_up_after().as_secs(), 165);
        assert!(format!("{:?}", peer("x", "*")).contains("redacted"));
    }
}
