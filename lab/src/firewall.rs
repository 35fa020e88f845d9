//! What sits between the clients and the gateway: nothing, a plain router, a NAT, or one of the
//! firewall types of 3GPP TR 33.830 clause 4.1 that the eSEG must get through. Each is an
//! nftables ruleset loaded into the router namespace (plus tinyproxy for type 8).
//!
//! The firewall types also masquerade, as the edge firewalls they model do. Rules are in the
//! `inet` family, so IPv4 and IPv6 are treated alike. Every filter is
//! stateful: replies to allowed connections (and the ICMP errors related to them, which path-MTU
//! discovery needs) pass; everything else from the LAN side is dropped.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::topology::ifname;

/// The TCP port tinyproxy listens on in the router (type 8).
pub const PROXY_PORT: u16 = 8888;

/// The box between the clients and the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Router {
    /// Forwards everything, no address translation: the gateway sees the clients' own addresses.
    Plain,
    /// Source NAT (masquerade) towards the gateway, nothing filtered: TR 33.830 NIMSFW types 1-4.
    Nat,
    /// NAT plus one of the filtering firewall types.
    Firewall(Firewall),
}

/// The filtering firewall types of TR 33.830 clause 4.1 (numbers as in the study).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Firewall {
    /// Type 5: only destination ports 80 and 443 open (TCP and UDP).
    Ports80And443,
    /// Type 6: TCP only, any port.
    TcpOnly,
    /// Type 7: TCP only, and only to ports 80 and 443.
    Tcp80And443,
    /// Type 8: nothing forwarded; only an HTTP proxy in the router (CONNECT to 80 and 443).
    HttpProxyOnly,
}

impl Firewall {
    /// Every firewall type, in the study's order.
    pub const ALL: [Firewall; 4] = [
        Firewall::Ports80And443,
        Firewall::TcpOnly,
        Firewall::Tcp80And443,
        Firewall::HttpProxyOnly,
    ];

    /// The NIMSFW type number of TR 33.830 clause 4.1.
    pub fn nimsfw_type(self) -> u8 {
        match self {
            Firewall::Ports80And443 => 5,
            Firewall::TcpOnly => 6,
            Firewall::Tcp80And443 => 7,
            Firewall::HttpProxyOnly => 8,
        }
    }

    /// The nftables expression that accepts new LAN -> WAN traffic, if any is forwarded at all.
    fn forward_match(self) -> Option<&'static str> {
        match self {
            Firewall::Ports80And443 => Some("meta l4proto { tcp, udp } th dport { 80, 443 }"),
            Firewall::TcpOnly => Some("meta l4proto tcp"),
            Firewall::Tcp80And443 => Some("tcp dport { 80, 443 }"),
            Firewall::HttpProxyOnly => None,
        }
    }
}

impl std::str::FromStr for Router {
    type Err = String;

    /// `plain`, `nat`, or a firewall type `fw5`..`fw8` (TR 33.830 clause 4.1 numbering).
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "plain" => Ok(Router::Plain),
            "nat" => Ok(Router::Nat),
            "fw5" => Ok(Router::Firewall(Firewall::Ports80And443)),
            "fw6" => Ok(Router::Firewall(Firewall::TcpOnly)),
            "fw7" => Ok(Router::Firewall(Firewall::Tcp80And443)),
            "fw8" => Ok(Router::Firewall(Firewall::HttpProxyOnly)),
            other => Err(format!(
                "unknown router {other:?}: expected plain, nat, fw5, fw6, fw7 or fw8"
            )),
        }
    }
}

impl Router {
    /// Whether the router rewrites source addresses towards the gateway.
    pub fn masquerades(self) -> bool {
        !matches!(self, Router::Plain)
    }

    /// The firewall type, if this router filters.
    pub fn firewall(self) -> Option<Firewall> {
        match self {
            Router::Firewall(f) => Some(f),
            Router::Plain | Router::Nat => None,
        }
    }

    /// The complete nftables ruleset for the router namespace (empty for [`Router::Plain`]).
    pub fn ruleset(self) -> String {
        let mut rules = String::new();
        if self.masquerades() {
            rules.push_str(&format!(
                "table inet eseg_nat {{\n\
                 \tchain postrouting {{\n\
                 \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
                 \t\toifname \"{wan}\" masquerade\n\
                 \t}}\n\
                 }}\n",
                wan = ifname::ROUTER_WAN
            ));
        }
        if let Some(firewall) = self.firewall() {
            rules.push_str(&filter_ruleset(firewall));
        }
        rules
    }
}

fn filter_ruleset(firewall: Firewall) -> String {
    let lan = ifname::ROUTER_LAN;
    let wan = ifname::ROUTER_WAN;
    let allow = firewall
        .forward_match()
        .map(|m| format!("\t\tiifname \"{lan}\" oifname \"{wan}\" {m} accept\n"))
        .unwrap_or_default();
    let input = if firewall == Firewall::HttpProxyOnly {
        format!(
            "\tchain input {{\n\
             \t\ttype filter hook input priority filter; policy drop;\n\
             \t\tiif lo accept\n\
             \t\tct state established,related accept\n\
             \t\ticmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept\n\
             \t\tiifname \"{lan}\" tcp dport {PROXY_PORT} accept\n\
             \t}}\n"
        )
    } else {
        String::new()
    };
    format!(
        "table inet eseg_fw {{\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy drop;\n\
         \t\tct state established,related accept\n\
         {allow}\
         \t}}\n\
         {input}\
         }}\n"
    )
}

/// tinyproxy's configuration for type 8: listen on the router's LAN address, serve only the
/// LAN, allow CONNECT only to ports 80 and 443, log into `log_file`.
pub(crate) fn tinyproxy_config(listen: Ipv4Addr, lan: Ipv4Net, log_file: &str) -> String {
    format!(
        "User root\n\
         Group root\n\
         Port {PROXY_PORT}\n\
         Listen {listen}\n\
         Timeout 3600\n\
         MaxClients 200\n\
         Allow {lan}\n\
         ConnectPort 80\n\
         ConnectPort 443\n\
         DisableViaHeader Yes\n\
         LogLevel Info\n\
         LogFile \"{log_file}\"\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routers_parse_from_their_names() {
        assert_eq!("nat".parse::<Router>(), Ok(Router::Nat));
        assert_eq!(
            "fw7".parse::<Router>(),
            Ok(Router::Firewall(Firewall::Tcp80And443))
        );
        for fw in Firewall::ALL {
            let name = format!("fw{}", fw.nimsfw_type());
            assert_eq!(name.parse::<Router>(), Ok(Router::Firewall(fw)));
        }
        assert!("fw9".parse::<Router>().unwrap_err().contains("fw9"));
    }

    #[test]
    fn plain_router_loads_no_rules() {
        assert!(Router::Plain.ruleset().is_empty());
    }

    #[test]
    fn nat_masquerades_and_filters_nothing() {
        let r = Router::Nat.ruleset();
        assert!(r.contains("masquerade"));
        assert!(!r.contains("policy drop"));
    }

    #[test]
    fn each_firewall_type_drops_by_default_and_allows_its_own_traffic() {
        for fw in Firewall::ALL {
            let r = Router::Firewall(fw).ruleset();
            assert!(r.contains("masquerade"), "type {}", fw.nimsfw_type());
            assert!(r.contains("hook forward priority filter; policy drop"));
            match fw {
                Firewall::Ports80And443 => assert!(r.contains("{ tcp, udp } th dport { 80, 443 }")),
                Firewall::TcpOnly => assert!(r.contains("meta l4proto tcp accept")),
                Firewall::Tcp80And443 => assert!(r.contains("tcp dport { 80, 443 } accept")),
                Firewall::HttpProxyOnly => {
                    assert!(!r.contains("oifname \"wan\" meta") && !r.contains("dport { 80"));
                    assert!(r.contains(&format!("tcp dport {PROXY_PORT} accept")));
                }
            }
        }
    }

    #[test]
    fn tinyproxy_allows_connect_only_to_80_and_443() {
        let conf = tinyproxy_config(
            Ipv4Addr::new(198, 18, 0, 1),
            "198.18.0.0/26".parse().unwrap(),
            "/tmp/x.log",
        );
        assert!(conf.contains("ConnectPort 80\n") && conf.contains("ConnectPort 443\n"));
        assert!(conf.contains("Listen 198.18.0.1\n") && conf.contains("Allow 198.18.0.0/26\n"));
    }
}
