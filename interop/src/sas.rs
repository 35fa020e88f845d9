//! strongSwan's view of its SAs: `swanctl --list-sas --raw` read into [`IkeSa`] and [`ChildSa`].
//!
//! Only the fields the scenarios compare are kept; the names follow swanctl's keys
//! (`spi-in`, `encr-alg`, `remote-vips`, ...). SPIs are numbers here (swanctl prints them in hex)
//! so they compare directly with eseg's status report.

use crate::vici_text::{parse_messages, ParseError, Section};

/// One IKE SA as strongSwan lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IkeSa {
    /// The connection name (`connections.<name>` in swanctl.conf).
    pub name: String,
    /// `CONNECTING`, `ESTABLISHED`, `REKEYING`, `DELETING`, ...
    pub state: String,
    /// Our outer address.
    pub local_host: String,
    /// Our outer port (4500 once NAT-T floated).
    pub local_port: u16,
    /// The peer's outer address.
    pub remote_host: String,
    /// The peer's outer port.
    pub remote_port: u16,
    /// Our identity.
    pub local_id: String,
    /// The peer's identity.
    pub remote_id: String,
    /// Whether strongSwan initiated this SA.
    pub initiator: bool,
    /// The initiator's IKE SPI (hex, as printed).
    pub initiator_spi: String,
    /// The responder's IKE SPI (hex, as printed).
    pub responder_spi: String,
    /// Encryption algorithm, e.g. `AES_GCM_16`.
    pub encr_alg: String,
    /// Encryption key size in bits.
    pub encr_keysize: Option<u32>,
    /// Integrity algorithm (absent for AEADs).
    pub integ_alg: Option<String>,
    /// PRF, e.g. `PRF_HMAC_SHA2_256`.
    pub prf_alg: String,
    /// Key-exchange group, e.g. `CURVE_25519`, `ECP_256`.
    pub dh_group: String,
    /// Virtual IPs strongSwan received (as client).
    pub local_vips: Vec<String>,
    /// Virtual IPs strongSwan assigned (as gateway).
    pub remote_vips: Vec<String>,
    /// The CHILD SAs of this IKE SA.
    pub child_sas: Vec<ChildSa>,
}

/// One CHILD SA (a pair of ESP SAs) as strongSwan lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildSa {
    /// The child's configuration name.
    pub name: String,
    /// strongSwan's unique id of this CHILD SA (grows with every rekey).
    pub unique_id: u32,
    /// `INSTALLED`, `REKEYING`, `REKEYED`, `DELETING`, ...
    pub state: String,
    /// `TUNNEL` or `TRANSPORT`.
    pub mode: String,
    /// Whether ESP travels in UDP (RFC 3948).
    pub encap: bool,
    /// Inbound SPI (chosen by strongSwan).
    pub spi_in: u32,
    /// Outbound SPI (chosen by the peer).
    pub spi_out: u32,
    /// Encryption algorithm, e.g. `AES_GCM_16`, `CHACHA20_POLY1305`, `AES_CBC`.
    pub encr_alg: String,
    /// Encryption key size in bits (absent for ChaCha20-Poly1305).
    pub encr_keysize: Option<u32>,
    /// Integrity algorithm (absent for AEADs).
    pub integ_alg: Option<String>,
    /// Inner bytes received.
    pub bytes_in: u64,
    /// Packets received.
    pub packets_in: u64,
    /// Inner bytes sent.
    pub bytes_out: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// Local traffic selectors.
    pub local_ts: Vec<String>,
    /// Remote traffic selectors.
    pub remote_ts: Vec<String>,
}

impl IkeSa {
    /// Whether the SA is established.
    pub fn is_established(&self) -> bool {
        self.state == "ESTABLISHED"
    }

    /// The CHILD SAs in state `INSTALLED`.
    pub fn installed_children(&self) -> impl Iterator<Item = &ChildSa> {
        self.child_sas.iter().filter(|c| c.state == "INSTALLED")
    }
}

/// Reads the output of `swanctl --list-sas --raw`: one IKE SA per `list-sa event`.
pub fn parse_list_sas(text: &str) -> Result<Vec<IkeSa>, ParseError> {
    let mut sas = Vec::new();
    for (name, message) in parse_messages(text)? {
        if name != "list-sa event" {
            continue;
        }
        for (conn, ike) in message.sections() {
            sas.push(ike_sa(conn, ike)?);
        }
    }
    Ok(sas)
}

fn ike_sa(name: &str, s: &Section) -> Result<IkeSa, ParseError> {
    let mut children = Vec::new();
    if let Some(list) = s.section("child-sas") {
        for (_, child) in list.sections() {
            children.push(child_sa(child)?);
        }
    }
    Ok(IkeSa {
        name: name.to_owned(),
        state: required(s, "state")?,
        local_host: text(s, "local-host"),
        local_port: number(s, "local-port")?.unwrap_or(0),
        remote_host: text(s, "remote-host"),
        remote_port: number(s, "remote-port")?.unwrap_or(0),
        local_id: text(s, "local-id"),
        remote_id: text(s, "remote-id"),
        initiator: s.text("initiator") == Some("yes"),
        initiator_spi: text(s, "initiator-spi"),
        responder_spi: text(s, "responder-spi"),
        encr_alg: text(s, "encr-alg"),
        encr_keysize: number(s, "encr-keysize")?,
        integ_alg: s.text("integ-alg").map(str::to_owned),
        prf_alg: text(s, "prf-alg"),
        dh_group: text(s, "dh-group"),
        local_vips: s.list("local-vips"),
        remote_vips: s.list("remote-vips"),
        child_sas: children,
    })
}

fn child_sa(s: &Section) -> Result<ChildSa, ParseError> {
    Ok(ChildSa {
        name: required(s, "name")?,
        unique_id: number(s, "uniqueid")?.unwrap_or(0),
        state: required(s, "state")?,
        mode: text(s, "mode"),
        encap: s.text("encap") == Some("yes"),
        spi_in: spi(s, "spi-in")?,
        spi_out: spi(s, "spi-out")?,
        encr_alg: text(s, "encr-alg"),
        encr_keysize: number(s, "encr-keysize")?,
        integ_alg: s.text("integ-alg").map(str::to_owned),
        bytes_in: number(s, "bytes-in")?.unwrap_or(0),
        packets_in: number(s, "packets-in")?.unwrap_or(0),
        bytes_out: number(s, "bytes-out")?.unwrap_or(0),
        packets_out: number(s, "packets-out")?.unwrap_or(0),
        local_ts: s.list("local-ts"),
        remote_ts: s.list("remote-ts"),
    })
}

fn text(s: &Section, key: &str) -> String {
    s.text(key).unwrap_or_default().to_owned()
}

fn required(s: &Section, key: &str) -> Result<String, ParseError> {
    s.text(key)
        .map(str::to_owned)
        .ok_or_else(|| ParseError(format!("`{key}` missing")))
}

fn number<T: std::str::FromStr>(s: &Section, key: &str) -> Result<Option<T>, ParseError> {
    s.text(key)
        .map(|t| {
            t.parse()
                .map_err(|_| ParseError(format!("`{key}={t}` is not a number")))
        })
        .transpose()
}

fn spi(s: &Section, key: &str) -> Result<u32, ParseError> {
    let t = s
        .text(key)
        .ok_or_else(|| ParseError(format!("`{key}` missing")))?;
    u32::from_str_radix(t, 16).map_err(|_| ParseError(format!("`{key}={t}` is not a hex SPI")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from strongSwan 5.9.8 on this project's lab (client side, then gateway side of the
    /// same tunnel).
    const CLIENT: &str = "list-sa event {c {uniqueid=1 version=2 state=ESTABLISHED \
        local-host=198.18.46.10 local-port=4500 local-id=client.eseg.test remote-host=198.18.46.1 \
        remote-port=4500 remote-id=gw.eseg.test initiator=yes initiator-spi=f39e367653f40013 \
        responder-spi=0786aa1411bd6fbd nat-remote=yes nat-any=yes encr-alg=AES_GCM_16 \
        encr-keysize=256 prf-alg=PRF_HMAC_SHA2_256 dh-group=CURVE_25519 established=0 \
        rekey-time=13844 local-vips=[198.18.47.1] child-sas {net-1 {name=net uniqueid=1 reqid=1 \
        state=INSTALLED mode=TUNNEL protocol=ESP encap=yes spi-in=d9e2f30a spi-out=56bad477 \
        encr-alg=AES_GCM_16 encr-keysize=256 bytes-in=0 packets-in=0 bytes-out=0 packets-out=0 \
        rekey-time=3330 life-time=3960 install-time=0 local-ts=[198.18.47.1/32] \
        remote-ts=[198.18.46.128/25]}}}}\nlist-sas reply {}\n";
    const GATEWAY: &str = "list-sa event {gw {uniqueid=1 version=2 state=ESTABLISHED \
        local-host=198.18.46.1 local-port=4500 local-id=gw.eseg.test remote-host=198.18.46.10 \
        remote-port=4500 remote-id=client.eseg.test initiator-spi=f39e367653f40013 \
        responder-spi=0786aa1411bd6fbd nat-remote=yes nat-any=yes encr-alg=AES_GCM_16 \
        encr-keysize=256 prf-alg=PRF_HMAC_SHA2_256 dh-group=CURVE_25519 established=1 \
        rekey-time=13293 remote-vips=[198.18.47.1] child-sas {net-1 {name=net uniqueid=1 reqid=1 \
        state=INSTALLED mode=TUNNEL protocol=ESP encap=yes spi-in=56bad477 spi-out=d9e2f30a \
        encr-alg=AES_GCM_16 encr-keysize=256 bytes-in=228 packets-in=3 use-in=0 bytes-out=208 \
        packets-out=3 use-out=0 rekey-time=3264 life-time=3959 install-time=1 \
        local-ts=[198.18.46.128/25] remote-ts=[198.18.47.1/32]}}}}\nlist-sas reply {}\n";

    #[test]
    fn reads_both_ends_of_one_tunnel() {
        let client = parse_list_sas(CLIENT).unwrap();
        let gateway = parse_list_sas(GATEWAY).unwrap();
        assert_eq!((client.len(), gateway.len()), (1, 1));
        let (c, g) = (&client[0], &gateway[0]);
        assert!(c.is_established() && c.initiator && !g.initiator);
        assert_eq!(c.local_vips, vec!["198.18.47.1"]);
        assert_eq!(g.remote_vips, c.local_vips);
        assert_eq!((c.local_port, c.remote_port), (4500, 4500));
        assert_eq!(c.initiator_spi, g.initiator_spi);
        assert_eq!(c.dh_group, "CURVE_25519");
        assert_eq!(c.encr_keysize, Some(256));
        assert_eq!(c.integ_alg, None);
        let (cc, gc) = (&c.child_sas[0], &g.child_sas[0]);
        assert_eq!(cc.spi_in, 0xd9e2_f30a);
        assert_eq!((cc.spi_in, cc.spi_out), (gc.spi_out, gc.spi_in));
        assert_eq!(gc.packets_in, 3);
        assert_eq!(gc.bytes_out, 208);
        assert_eq!(cc.local_ts, gc.remote_ts);
        assert!(cc.encap);
        assert_eq!(c.installed_children().count(), 1);
    }

    #[test]
    fn no_sas_is_an_empty_list() {
        assert!(parse_list_sas("list-sas reply {}\n").unwrap().is_empty());
        assert!(parse_list_sas("").unwrap().is_empty());
    }

    #[test]
    fn bad_numbers_and_missing_fields_are_errors() {
        let bad_spi = CLIENT.replace("spi-in=d9e2f30a", "spi-in=zz");
        assert!(parse_list_sas(&bad_spi).is_err());
        let bad_count = CLIENT.replace("bytes-in=0", "bytes-in=-1");
        assert!(parse_list_sas(&bad_count).is_err());
        let no_state = GATEWAY.replace("state=ESTABLISHED ", "");
        assert!(parse_list_sas(&no_state).is_err());
        for cut in [10, 200, CLIENT.len() - 30] {
            assert!(parse_list_sas(&CLIENT[..cut]).is_err());
        }
    }
}
