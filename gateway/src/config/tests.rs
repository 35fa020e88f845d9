//! Tests of loading and validating the configuration.

use super::error::Location;
use super::*;

fn errors(text: &str) -> Vec<ConfigError> {
    Config::from_toml(text).expect_err("config should be rejected")
}

#[test]
fn builtin_defaults_match_the_example_file() {
    let builtin = Config::builtin();
    let example = Config::from_toml(EXAMPLE).unwrap();
    assert_eq!(format!("{builtin:?}"), format!("{example:?}"));
    assert_eq!(builtin.pool.to_string(), defaults::POOL);
    assert_eq!(builtin.inner_address(), Ipv4Addr::new(198, 18, 1, 1));
    assert_eq!(builtin.ike_proposals.len(), 2);
    assert!(builtin.uses_builtin_psk());
    assert!(
        !format!("{builtin:?}").contains(defaults::PEER_PSK),
        "PSK leaked into Debug"
    );
}

#[test]
fn reports_every_semantic_error_with_key_and_line() {
    let text = "\
[clients]
pool = \"198.18.1.7/24\"
dns = [\"198.18.0.132\", \"not-an-ip\"]
protected_subnets = [\"198.18.0.0/16\"]

[[peers]]
id = \"*\"
psk = \"short\"

[ike]
proposals = [\"aes256gcm16-prfsha256-modp1024\"]
liveness_interval_secs = 0
";
    let errs = errors(text);
    let found: Vec<(Option<&str>, Option<usize>)> = errs
        .iter()
        .map(|e| (e.key.as_deref(), e.location.map(|l| l.line)))
        .collect();
    assert!(
        found.contains(&(Some("clients.pool"), Some(2))),
        "{errs:#?}"
    );
    assert!(
        found.contains(&(Some("clients.dns[1]"), Some(3))),
        "{errs:#?}"
    );
    assert!(
        found.contains(&(Some("peers[0].psk"), Some(8))),
        "{errs:#?}"
    );
    assert!(
        found.contains(&(Some("ike.proposals[0]"), Some(11))),
        "{errs:#?}"
    );
    assert!(
        found.contains(&(Some("ike.liveness_interval_secs"), Some(12))),
        "{errs:#?}"
    );
    let text = errs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("modp1024"), "{text}");
    assert!(!text.contains("short\""), "the PSK is never echoed: {text}");
}

#[test]
fn overlap_between_pool_and_protected_subnets_is_rejected() {
    let errs = errors("[clients]\nprotected_subnets = [\"198.18.0.0/16\"]\n");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].key.as_deref(), Some("clients.protected_subnets[0]"));
    assert!(errs[0].message.contains("overlaps"));
}

#[test]
fn syntax_type_and_unknown_key_errors_carry_a_location() {
    for (text, line, needle) in [
        ("[gateway]\nike_port = \"five hundred\"\n", 2, "ike_port"),
        ("[gateway]\nik_port = 500\n", 2, "ik_port"),
        ("[tun]\nname = \"eseg0\"\nmtu = \n", 3, ""),
        ("[[peers]]\nid = \"*\"\n", 1, "psk"),
    ] {
        let errs = errors(text);
        assert_eq!(errs.len(), 1, "{text}: {errs:#?}");
        let loc = errs[0].location.expect("location");
        assert_eq!(loc.line, line, "{text}: {errs:#?}");
        assert!(errs[0].to_string().contains(needle), "{text}: {}", errs[0]);
    }
}

#[test]
fn duplicate_peers_and_bad_names_are_rejected() {
    let text = "\
[tun]
name = \"this-name-is-far-too-long\"

[[peers]]
id = \"*.ims.example\"
psk = \"0123456789abcdef0123\"

[[peers]]
id = \"*.ims.example\"
psk = \"0123456789abcdef0123\"
";
    let keys: Vec<_> = errors(text).into_iter().filter_map(|e| e.key).collect();
    assert_eq!(keys, vec!["tun.name", "peers[1].id"]);
}

#[test]
fn peers_are_ordered_most_specific_first() {
    let text = "\
[[peers]]
id = \"*\"
psk = \"0123456789abcdef0123\"

[[peers]]
id = \"ue1.ims.example\"
psk = \"0123456789abcdef0123\"
";
    let config = Config::from_toml(text).unwrap();
    assert_eq!(config.peers[0].id, "ue1.ims.example".parse().unwrap());
    assert!(!config.uses_builtin_psk());
}

#[test]
fn location_counts_lines_and_characters() {
    let text = "a\nbé = 1\n";
    assert_eq!(Location::of(text, 0), Location { line: 1, column: 1 });
    assert_eq!(Location::of(text, 2), Location { line: 2, column: 1 });
    assert_eq!(Location::of(text, 6), Location { line: 2, column: 4 });
}

#[test]
fn mobike_is_on_by_default_and_can_be_turned_off() {
    assert!(Config::builtin().mobike);
    assert!(Config::from_toml(EXAMPLE).unwrap().mobike);
    assert!(!Config::from_toml("[ike]\nmobike = false\n").unwrap().mobike);
    assert!(Config::from_toml("[ike]\nmobike = true\n").unwrap().mobike);
    let errs = errors("[ike]\ncookie_threshold = 64\nmobike = \"yes\"\n");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].location.expect("location").line, 3, "{errs:#?}");
    assert!(errs[0].to_string().contains("mobike"), "{}", errs[0]);
}

#[test]
fn retransmit_defaults_are_the_engines() {
    let builtin = Config::builtin();
    assert_eq!(
        builtin.retransmit,
        ikev2::config::RetransmitConfig::default()
    );
    assert_eq!(
        Config::from_toml(EXAMPLE).unwrap().retransmit,
        builtin.retransmit
    );
    // 30 s idle, then 4 s x (1 + 1.8 + 1.8^2 + 1.8^3 + 1.8^4 + 1.8^5) = 165.06 s of retries.
    let hold = builtin.dead_peer_hold_limit().as_secs_f64();
    assert!((hold - 195.061_12).abs() < 1e-3, "{hold}");
}

#[test]
fn retransmit_keys_set_the_schedule_and_the_hold_limit() {
    let config = Config::from_toml(
        "[ike]\nliveness_interval_secs = 2\nretransmit_initial_ms = 500\nretransmit_tries = 3\n",
    )
    .unwrap();
    assert_eq!(config.retransmit.initial, Duration::from_millis(500));
    assert_eq!(config.retransmit.tries, 3);
    assert_eq!(config.retransmit.timeout(1), Duration::from_millis(900));
    // 2 s + 0.5 s x (1 + 1.8 + 3.24 + 5.832) = 2 s + 5.936 s.
    assert_eq!(config.dead_peer_hold_limit(), Duration::from_millis(7936));
    // The second example in example.toml: 10 s + 1 s x 11.872.
    let config = Config::from_toml(
        "[ike]\nliveness_interval_secs = 10\nretransmit_initial_ms = 1000\nretransmit_tries = 3\n",
    )
    .unwrap();
    assert_eq!(config.dead_peer_hold_limit(), Duration::from_millis(21_872));
}

#[test]
fn nonsense_retransmit_schedules_are_rejected_with_a_location() {
    for (text, key, line, needle) in [
        (
            "[ike]\nretransmit_tries = 0\n",
            "ike.retransmit_tries",
            2,
            "out of range 1..=20",
        ),
        (
            "[ike]\ncookie_threshold = 64\nretransmit_initial_ms = 10\n",
            "ike.retransmit_initial_ms",
            3,
            "out of range 100..=60000",
        ),
        (
            "[ike]\nretransmit_initial_ms = 60000\nretransmit_tries = 8\n",
            "ike.retransmit_tries",
            3,
            "over the limit of 3600 s",
        ),
        (
            "[ike]\nretransmit_tries = 12\n",
            "ike.retransmit_tries",
            2,
            "give up after",
        ),
    ] {
        let errs = errors(text);
        assert_eq!(errs.len(), 1, "{text}: {errs:#?}");
        assert_eq!(errs[0].key.as_deref(), Some(key), "{text}: {errs:#?}");
        let location = errs[0].location.expect("location");
        assert_eq!(location.line, line, "{text}: {errs:#?}");
        // The value, right after `name = `.
        let value_column = key.len() - "ike.".len() + " = ".len() + 1;
        assert_eq!(location.column, value_column, "{text}");
        assert!(errs[0].to_string().contains(needle), "{text}: {}", errs[0]);
    }
    let longest = Config::from_toml("[ike]\nretransmit_initial_ms = 60000\nretransmit_tries = 5\n")
        .unwrap()
        .retransmit;
    assert!(longest.give_up_after() <= Duration::from_secs(3600));
}

#[test]
fn pool6_is_off_by_default_and_the_example_documents_it() {
    let builtin = Config::builtin();
    assert_eq!(builtin.pool6, None);
    assert_eq!(builtin.inner_address6(), None);
    assert!(
        EXAMPLE.contains("# pool6 = "),
        "--print-defaults shows pool6"
    );
    let uncommented = EXAMPLE.replace("# pool6 = ", "pool6 = ");
    let example = Config::from_toml(&uncommented).unwrap();
    assert_eq!(
        example.pool6.map(|p| p.to_string()).as_deref(),
        Some("2001:db8:0:3::/64")
    );
}

#[test]
fn pool6_with_ipv6_dns_pcscf_and_protected_subnets() {
    let config = Config::from_toml(
        "[clients]\n\
         pool6 = \"2001:2:0:3::/64\"\n\
         dns = [\"198.18.0.132\", \"2001:2:0:2::4\"]\n\
         pcscf = [\"2001:2:0:2::3\"]\n\
         protected_subnets = [\"198.18.0.128/25\", \"2001:2:0:2::/64\"]\n",
    )
    .unwrap();
    assert_eq!(
        config.inner_address6(),
        Some("2001:2:0:3::1".parse().unwrap())
    );
    let dns: Vec<String> = config.dns.iter().map(ToString::to_string).collect();
    assert_eq!(dns, ["198.18.0.132", "2001:2:0:2::4"]);
    assert_eq!(config.pcscf, ["2001:2:0:2::3".parse::<IpAddr>().unwrap()]);
    let subnets: Vec<String> = config
        .protected_subnets
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(subnets, ["198.18.0.128/25", "2001:2:0:2::/64"]);
}

#[test]
fn pool6_prefix_length_and_host_bits_are_checked_with_a_location() {
    for (value, needle) in [
        ("2001:2::/48", "prefix length 48 is outside 64..=126"),
        ("2001:2:0:3::/127", "prefix length 127 is outside 64..=126"),
        ("2001:2:0:3::5/64", "host bits are set"),
        ("198.18.1.0/24", "invalid IP address syntax"),
    ] {
        let text = format!("[clients]\npool = \"198.18.1.0/24\"\n  pool6 = \"{value}\"\n");
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{value}: {errs:#?}");
        assert_eq!(errs[0].key.as_deref(), Some("clients.pool6"));
        assert_eq!(
            errs[0].location,
            Some(Location {
                line: 3,
                column: 11
            }),
            "{value}"
        );
        let shown = errs[0].to_string();
        assert!(shown.starts_with("3:11: `clients.pool6`: "), "{shown}");
        assert!(shown.contains(needle), "{value}: {shown}");
    }
    for ok in ["2001:2:0:3::/64", "2001:2:0:3::/126", "2001:2:0:3:0:1::/96"] {
        let text = format!("[clients]\npool6 = \"{ok}\"\n");
        assert!(Config::from_toml(&text).is_ok(), "{ok}");
    }
}

#[test]
fn ipv6_entries_without_pool6_are_rejected_each_with_a_location() {
    let text = "\
[clients]
dns = [\"198.18.0.132\", \"2001:2:0:2::4\"]
pcscf = [\"2001:2:0:2::3\"]
protected_subnets = [\"198.18.0.128/25\", \"2001:2:0:2::/64\"]
";
    let errs = errors(text);
    let found: Vec<(Option<&str>, Option<usize>)> = errs
        .iter()
        .map(|e| (e.key.as_deref(), e.location.map(|l| l.line)))
        .collect();
    assert_eq!(
        found,
        [
            (Some("clients.dns[1]"), Some(2)),
            (Some("clients.pcscf[0]"), Some(3)),
            (Some("clients.protected_subnets[1]"), Some(4)),
        ],
        "{errs:#?}"
    );
    assert!(errs
        .iter()
        .all(|e| e.message.contains("needs clients.pool6")));
}

#[test]
fn ipv6_protected_subnets_must_not_overlap_pool6() {
    let errs = errors(
        "[clients]\npool6 = \"2001:2:0:3::/64\"\n\
         protected_subnets = [\"198.18.0.128/25\", \"2001:2:0::/48\"]\n",
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].key.as_deref(), Some("clients.protected_subnets[1]"));
    assert!(
        errs[0]
            .message
            .contains("overlaps the address pool 2001:2:0:3::/64"),
        "{}",
        errs[0]
    );
}
