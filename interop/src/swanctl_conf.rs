//! `swanctl.conf` for one strongSwan instance, built from typed parts and rendered to the text
//! `swanctl --load-all --file` reads: connections (with their CHILD configs), address pools with
//! their attributes, and PSK secrets.
//!
//! Every connection forces UDP encapsulation (`encap = yes`): this machine has no kernel ESP, so
//! strongSwan runs its userspace data path (kernel-libipsec), which only works over ESP-in-UDP.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

use lab::LabAddresses;

/// The pre-shared key every scenario uses (both sides, unless a scenario wants a mismatch).
pub const PSK: &str = "eseg-interop-test-psk-0123456789";
/// The gateway's identity in every scenario.
pub const GATEWAY_ID: &str = "gw.eseg.test";
/// The client's identity in every scenario.
pub const CLIENT_ID: &str = "client.eseg.test";

/// A whole `swanctl.conf`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SwanctlConf {
    /// `connections { ... }`.
    pub connections: Vec<Connection>,
    /// `pools { ... }`.
    pub pools: Vec<Pool>,
    /// `secrets { ike-* { ... } }`.
    pub secrets: Vec<PskSecret>,
}

/// One IKE connection (`connections.<name>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// The connection's name (used by `--initiate --ike`, shown by `--list-sas`).
    pub name: String,
    /// Our outer address.
    pub local_addrs: String,
    /// The peer's outer address (`%any` for a responder).
    pub remote_addrs: String,
    /// Ask the peer for a virtual IPv4 address (client role).
    pub request_vip: bool,
    /// IKE proposals, strongSwan syntax (`aes256gcm16-prfsha256-x25519`, or `default`).
    pub proposals: String,
    /// Pools to assign virtual IPs and attributes from (gateway role).
    pub pools: Vec<String>,
    /// Our identity.
    pub local_id: String,
    /// The identity we expect from the peer (`%any` accepts any).
    pub remote_id: String,
    /// Liveness check interval (`dpd_delay`); `None` disables DPD.
    pub dpd_delay: Option<Duration>,
    /// IKE SA rekey time; `None` keeps strongSwan's default (4 h).
    pub rekey_time: Option<Duration>,
    /// Whether MOBIKE (RFC 4555) is offered and used (`mobike = yes`); off unless a scenario
    /// moves an address, so the other scenarios keep exchanging exactly what they always did.
    pub mobike: bool,
    /// CHILD configs.
    pub children: Vec<Child>,
}

/// One CHILD config (`connections.<name>.children.<child>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    /// The child's name (used by `--initiate --child`).
    pub name: String,
    /// Local traffic selectors; empty means `dynamic` (our virtual IP or outer address).
    pub local_ts: Vec<String>,
    /// Remote traffic selectors; empty means `dynamic`.
    pub remote_ts: Vec<String>,
    /// ESP proposals, strongSwan syntax (`aes256gcm16`, `aes256-sha256`, or `default`).
    pub esp_proposals: String,
    /// CHILD SA rekey time; `None` keeps strongSwan's default (1 h).
    pub rekey_time: Option<Duration>,
    /// What to do with the CHILD SA when DPD declares the peer dead (`clear`, `restart`, ...).
    pub dpd_action: Option<String>,
}

/// An address pool with the configuration attributes handed out with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    /// The pool's name.
    pub name: String,
    /// The addresses (a prefix, e.g. `198.18.1.0/24`).
    pub addrs: String,
    /// INTERNAL_IP4_DNS servers.
    pub dns: Vec<Ipv4Addr>,
    /// P_CSCF_IP4_ADDRESS values (RFC 7651 attribute 20; strongSwan 5.9.8 has no name for it, so it
    /// is written as the numeric attribute type).
    pub pcscf: Vec<Ipv4Addr>,
}

/// A PSK shared by a set of identities.
#[derive(Debug, Clone, PartialEq)]
pub struct PskSecret {
    /// The identities the secret belongs to.
    pub ids: Vec<String>,
    /// The key.
    pub secret: String,
}

/// RFC 7651 §3: P_CSCF_IP4_ADDRESS configuration attribute type.
const P_CSCF_IP4_ADDRESS: u16 = 20;

impl Connection {
    /// A road-warrior client connection to `gateway` that asks for a virtual IP and tunnels
    /// `protected` (one child named `net`).
    pub fn client(name: &str, local: Ipv4Addr, gateway: Ipv4Addr, protected: &str) -> Self {
        Connection {
            name: name.to_owned(),
            local_addrs: local.to_string(),
            remote_addrs: gateway.to_string(),
            request_vip: true,
            proposals: "aes256gcm16-prfsha256-x25519".to_owned(),
            pools: Vec::new(),
            local_id: CLIENT_ID.to_owned(),
            remote_id: GATEWAY_ID.to_owned(),
            dpd_delay: None,
            rekey_time: None,
            mobike: false,
            children: vec![Child::new("net", &[], &[protected])],
        }
    }

    /// A gateway connection on `local` that hands out addresses from `pool` and offers
    /// `protected` (one child named `net`).
    pub fn gateway(name: &str, local: Ipv4Addr, pool: &str, protected: &str) -> Self {
        Connection {
            name: name.to_owned(),
            local_addrs: local.to_string(),
            remote_addrs: "%any".to_owned(),
            request_vip: false,
            proposals: "aes256gcm16-prfsha256-x25519".to_owned(),
            pools: vec![pool.to_owned()],
            local_id: GATEWAY_ID.to_owned(),
            remote_id: CLIENT_ID.to_owned(),
            dpd_delay: None,
            rekey_time: None,
            mobike: false,
            children: vec![Child::new("net", &[protected], &[])],
        }
    }

    /// Sets the IKE proposal and the ESP proposal of every child.
    pub fn with_proposals(mut self, ike: &str, esp: &str) -> Self {
        self.proposals = ike.to_owned();
        for child in &mut self.children {
            child.esp_proposals = esp.to_owned();
        }
        self
    }
}

impl Child {
    /// A tunnel-mode child with these selectors and AES-256-GCM.
    pub fn new(name: &str, local_ts: &[&str], remote_ts: &[&str]) -> Self {
        Child {
            name: name.to_owned(),
            local_ts: local_ts.iter().map(|s| (*s).to_owned()).collect(),
            remote_ts: remote_ts.iter().map(|s| (*s).to_owned()).collect(),
            esp_proposals: "aes256gcm16".to_owned(),
            rekey_time: None,
            dpd_action: None,
        }
    }
}

impl PskSecret {
    /// The scenarios' PSK for the gateway and client identities.
    pub fn standard() -> Self {
        PskSecret {
            ids: vec![GATEWAY_ID.to_owned(), CLIENT_ID.to_owned()],
            secret: PSK.to_owned(),
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

fn ts_list(ts: &[String]) -> String {
    if ts.is_empty() {
        "dynamic".to_owned()
    } else {
        ts.join(",")
    }
}

impl SwanctlConf {
    /// strongSwan as the lab's gateway: connection `gw` on the gateway's outer address, pool `rw`
    /// (the lab's pool, DNS and P-CSCF), CHILD `net` offering the protected subnet.
    pub fn lab_gateway(a: &LabAddresses) -> Self {
        SwanctlConf {
            connections: vec![Connection::gateway(
                "gw",
                a.gateway_outer,
                "rw",
                &a.protected.to_string(),
            )],
            pools: vec![Pool {
                name: "rw".to_owned(),
                addrs: a.pool.to_string(),
                dns: vec![a.dns],
                pcscf: vec![a.pcscf],
            }],
            secrets: vec![PskSecret::standard()],
        }
    }

    /// strongSwan as the lab's client 0: connection `c` to the gateway asking for a virtual IP,
    /// CHILD `net` towards the protected subnet.
    pub fn lab_client(a: &LabAddresses) -> Self {
        let local = a.clients.first().copied().unwrap_or(Ipv4Addr::UNSPECIFIED);
        SwanctlConf {
            connections: vec![Connection::client(
                "c",
                local,
                a.gateway_outer,
                &a.protected.to_string(),
            )],
            pools: Vec::new(),
            secrets: vec![PskSecret::standard()],
        }
    }

    /// The connection named `name`, to adjust it before loading.
    pub fn connection(&mut self, name: &str) -> Option<&mut Connection> {
        self.connections.iter_mut().find(|c| c.name == name)
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::from("connections {\n");
        for c in &self.connections {
            render_connection(&mut out, c);
        }
        out.push_str("}\npools {\n");
        for p in &self.pools {
            let _ = writeln!(out, "  {} {{\n    addrs = {}", p.name, p.addrs);
            if !p.dns.is_empty() {
                let _ = writeln!(out, "    dns = {}", join(&p.dns));
            }
            if !p.pcscf.is_empty() {
                let _ = writeln!(out, "    {P_CSCF_IP4_ADDRESS} = {}", join(&p.pcscf));
            }
            out.push_str("  }\n");
        }
        out.push_str("}\nsecrets {\n");
        for (n, s) in self.secrets.iter().enumerate() {
            let _ = writeln!(out, "  ike-{n} {{");
            for (i, id) in s.ids.iter().enumerate() {
                let _ = writeln!(out, "    id-{i} = {id}");
            }
            let _ = writeln!(out, "    secret = \"{}\"\n  }}", s.secret);
        }
        out.push_str("}\n");
        out
    }
}

fn join(addrs: &[Ipv4Addr]) -> String {
    addrs
        .iter()
        .map(Ipv4Addr::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn render_connection(out: &mut String, c: &Connection) {
    let _ = writeln!(
        out,
        "  {} {{\n    version = 2\n    local_addrs = {}\n    remote_addrs = {}\n    \
         proposals = {}\n    encap = yes\n    mobike = {}\n    send_certreq = no\n    \
         unique = never",
        c.name,
        c.local_addrs,
        c.remote_addrs,
        c.proposals,
        if c.mobike { "yes" } else { "no" }
    );
    if c.request_vip {
        out.push_str("    vips = 0.0.0.0\n");
    }
    if !c.pools.is_empty() {
        let _ = writeln!(out, "    pools = {}", c.pools.join(","));
    }
    if let Some(d) = c.dpd_delay {
        let _ = writeln!(out, "    dpd_delay = {}", secs(d));
    }
    if let Some(d) = c.rekey_time {
        let _ = writeln!(
            out,
            "    rekey_time = {}\n    over_time = 10s\n    rand_time = 0s",
            secs(d)
        );
    }
    let _ = writeln!(
        out,
        "    local {{\n      auth = psk\n      id = {}\n    }}\n    remote {{\n      auth = psk\n      \
         id = {}\n    }}\n    children {{",
        c.local_id, c.remote_id
    );
    for child in &c.children {
        let _ = writeln!(
            out,
            "      {} {{\n        mode = tunnel\n        local_ts = {}\n        remote_ts = {}\n        \
             esp_proposals = {}",
            child.name,
            ts_list(&child.local_ts),
            ts_list(&child.remote_ts),
            child.esp_proposals
        );
        if let Some(d) = child.rekey_time {
            let _ = writeln!(
                out,
                "        rekey_time = {}\n        life_time = {}\n        rand_time = 0s",
                secs(d),
                secs(d * 3)
            );
        }
        if let Some(action) = &child.dpd_action {
            let _ = writeln!(out, "        dpd_action = {action}");
        }
        out.push_str("      }\n");
    }
    out.push_str("    }\n  }\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_gateway_with_pool_attributes_and_secrets() {
        let mut gw =
            Connection::gateway("gw", Ipv4Addr::new(198, 18, 0, 1), "rw", "198.18.0.128/25");
        gw.dpd_delay = Some(Duration::from_secs(2));
        gw.children[0].rekey_time = Some(Duration::from_secs(5));
        let conf = SwanctlConf {
            connections: vec![gw],
            pools: vec![Pool {
                name: "rw".into(),
                addrs: "198.18.1.0/24".into(),
                dns: vec![Ipv4Addr::new(198, 18, 0, 132)],
                pcscf: vec![Ipv4Addr::new(198, 18, 0, 131)],
            }],
            secrets: vec![PskSecret::standard()],
        };
        let text = conf.render();
        for needle in [
            "local_addrs = 198.18.0.1",
            "remote_addrs = %any",
            "pools = rw",
            "encap = yes",
            "dpd_delay = 2s",
            "local_ts = 198.18.0.128/25",
            "remote_ts = dynamic",
            "rekey_time = 5s",
            "life_time = 15s",
            "dns = 198.18.0.132",
            "20 = 198.18.0.131",
            "id-0 = gw.eseg.test",
            &format!("secret = \"{PSK}\""),
        ] {
            assert!(text.contains(needle), "{needle:?} missing in\n{text}");
        }
        assert!(!text.contains("vips"), "{text}");
        assert!(
            text.contains("mobike = no"),
            "MOBIKE must stay off by default:\n{text}"
        );
        assert_eq!(text.matches('{').count(), text.matches('}').count());
    }

    #[test]
    fn mobike_is_a_per_connection_option() {
        let mut conf = SwanctlConf::default();
        let a = Ipv4Addr::new(198, 18, 0, 10);
        let gw = Ipv4Addr::new(198, 18, 0, 1);
        let mut moving = Connection::client("moving", a, gw, "198.18.0.128/25");
        moving.mobike = true;
        conf.connections = vec![
            Connection::client("fixed", a, gw, "198.18.0.128/25"),
            moving,
        ];
        let text = conf.render();
        let (fixed, moving) = text.split_once("  moving {").expect("two connections");
        assert!(
            fixed.contains("mobike = no") && !fixed.contains("mobike = yes"),
            "{text}"
        );
        assert!(
            moving.contains("mobike = yes") && !moving.contains("mobike = no"),
            "{text}"
        );
    }

    #[test]
    fn client_asks_for_a_virtual_ip_and_proposals_apply_to_children() {
        let c = Connection::client(
            "c",
            Ipv4Addr::new(198, 18, 0, 10),
            Ipv4Addr::new(198, 18, 0, 1),
            "198.18.0.128/25",
        )
        .with_proposals("aes128gcm16-prfsha256-ecp256", "aes128gcm16");
        let text = SwanctlConf {
            connections: vec![c],
            ..SwanctlConf::default()
        }
        .render();
        assert!(text.contains("vips = 0.0.0.0"), "{text}");
        assert!(text.contains("proposals = aes128gcm16-prfsha256-ecp256"));
        assert!(text.contains("esp_proposals = aes128gcm16"));
        assert!(text.contains("local_ts = dynamic"));
    }
}
