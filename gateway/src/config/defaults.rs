//! Built-in defaults, chosen so that `eseg-gateway` with no file serves the lab demo: the
//! addresses are those of the lab's first address block (198.18.0.0/23, RFC 2544 benchmarking
//! space), see `lab::addressing`. The `[tcp]` defaults live with the listener
//! (`crate::tcp_listener`).

/// Our IKE identity (ID_FQDN).
pub const IDENTITY: &str = "gw.eseg.test";
/// Listen on every IPv4 address.
pub const LISTEN: &[&str] = &["0.0.0.0"];
/// RFC 7296 §2 IKE port.
pub const IKE_PORT: u16 = 500;
/// RFC 3948 NAT-T port.
pub const NATT_PORT: u16 = 4500;
/// Where `eseg-gateway status` connects.
pub const STATUS_SOCKET: &str = "/run/eseg/gateway.sock";
/// Data-plane worker pairs.
pub const WORKERS: u32 = 1;
/// The inner-side TUN device.
pub const TUN_NAME: &str = "eseg0";
/// Inner MTU: 1500 minus the worst-case ESP-in-UDP overhead, rounded down.
pub const TUN_MTU: u32 = 1400;
/// The client address pool; the first address is the gateway's own inner address.
pub const POOL: &str = "198.18.1.0/24";
/// DNS servers handed to clients (INTERNAL_IP4_DNS).
pub const DNS: &[&str] = &["198.18.0.132"];
/// P-CSCF addresses handed to clients (RFC 7651 P_CSCF_IP4_ADDRESS).
pub const PCSCF: &[&str] = &["198.18.0.131"];
/// Networks behind the gateway that clients reach through the tunnel.
pub const PROTECTED_SUBNETS: &[&str] = &["198.18.0.128/25"];
/// The one built-in peer: any identity, with a PSK that is fine for the lab and nowhere else.
pub const PEER_ID: &str = "*";
/// The built-in PSK (the gateway warns when it is in use).
pub const PEER_PSK: &str = "eseg-lab-demo-psk-do-not-deploy";
/// IKE SA proposals, most preferred first.
pub const IKE_PROPOSALS: &[&str] = &[
    "aes256gcm16-aes128gcm16-chacha20poly1305-prfsha256-prfsha384-prfsha512-x25519-ecp256-ecp384",
    "aes256-aes128-sha256-sha384-sha512-x25519-ecp256-ecp384",
];
/// Child SA proposals, most preferred first.
pub const ESP_PROPOSALS: &[&str] = &[
    "aes256gcm16-aes128gcm16-chacha20poly1305",
    "aes256-aes128-sha256-sha384-sha512",
];
/// IKE SA lifetime before rekeying.
pub const IKE_LIFETIME_SECS: u64 = 4 * 3600;
/// Child SA lifetime before rekeying.
pub const CHILD_LIFETIME_SECS: u64 = 3600;
/// Seconds without traffic from a peer before a liveness check (RFC 7296 §2.4).
pub const LIVENESS_INTERVAL_SECS: u64 = 30;
/// Milliseconds before the first retransmission of an unanswered IKE request (RFC 7296 §2.1);
/// each further wait is 1.8 times longer. The engine's (and strongSwan's) default.
pub const RETRANSMIT_INITIAL_MS: u64 = 4000;
/// Retransmissions of an unanswered IKE request before the peer is declared dead and its IKE SA,
/// CHILD SAs and inner address are released. The engine's (and strongSwan's) default.
pub const RETRANSMIT_TRIES: u32 = 5;
/// Half-open IKE SAs before IKE_SA_INIT requires a COOKIE (RFC 7296 §2.6).
pub const COOKIE_THRESHOLD: u32 = 64;
/// Offer and accept MOBIKE (RFC 4555), so a client that changes network keeps its IKE SA and
/// virtual IP; strongSwan's default too.
pub const MOBIKE: bool = true;
