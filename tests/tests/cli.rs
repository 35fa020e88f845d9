//! Bad configuration files and bad command lines: a clear error naming the offending key or
//! option, exit status 2, never a panic. No lab needed.

use std::path::PathBuf;
use std::process::{Command, Output};

use eseg_tests::binaries;

fn run(program: &PathBuf, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .expect("run the program")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eseg-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write temp file");
    path
}

#[test]
fn check_config_reports_every_error_with_location_and_key() {
    let path = temp_file(
        "bad.toml",
        "[clients]\npool = \"198.18.1.9/24\"\npcscf = [\"p-cscf\"]\n\n[ike]\nproposals = [\"aes256gcm16-md5-x25519\"]\n",
    );
    let out = run(
        &binaries().gateway,
        &["--config", path.to_str().expect("utf-8"), "--check-config"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("3 error(s)"), "{err}");
    assert!(err.contains("bad.toml:2:8: `clients.pool`"), "{err}");
    assert!(err.contains("bad.toml:3:10: `clients.pcscf[0]`"), "{err}");
    assert!(
        err.contains("`ike.proposals[0]`") && err.contains("md5"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn syntax_and_type_errors_name_the_line_and_key() {
    for (text, needle) in [
        ("[gateway]\nike_port = 70000\n", "2:12: `gateway.ike_port`"),
        ("[tun]\nmtu = \"big\"\n", "2:7: `tun.mtu`"),
        ("[gateway\n", "1:9"),
        ("[clients]\npol = \"10.0.0.0/24\"\n", "`clients.pol`"),
    ] {
        let path = temp_file("syntax.toml", text);
        let out = run(
            &binaries().gateway,
            &["--config", path.to_str().expect("utf-8"), "--check-config"],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(needle), "{text}: expected {needle:?} in {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn built_in_defaults_and_the_printed_example_are_valid() {
    let gateway = &binaries().gateway;
    let out = run(gateway, &["--check-config"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let example = run(gateway, &["--print-defaults"]);
    assert!(example.status.success());
    let path = temp_file("example.toml", &String::from_utf8_lossy(&example.stdout));
    let out = run(
        gateway,
        &["--config", path.to_str().expect("utf-8"), "--check-config"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let help = String::from_utf8_lossy(&run(gateway, &["--help"]).stdout).into_owned();
    for option in [
        "--config",
        "--check-config",
        "--print-defaults",
        "--status-socket",
        "--log",
        "status",
    ] {
        assert!(help.contains(option), "--help lacks {option}: {help}");
    }
}

#[test]
fn bad_command_lines_name_the_option() {
    let (gateway, client) = (&binaries().gateway, &binaries().client);
    for (program, args, needle) in [
        (gateway, &["--bogus"][..], "--bogus"),
        (
            gateway,
            &["--config", "/nonexistent/eseg.toml"][..],
            "/nonexistent/eseg.toml",
        ),
        (
            client,
            &["--tun-name", "far-too-long-a-name"][..],
            "--tun-name",
        ),
        (client, &["--tun-mtu", "70000"][..], "--tun-mtu"),
        (client, &["--identity", "fqdn:"][..], "--identity"),
        (
            client,
            &["--reconnect-min-secs", "10", "--reconnect-max-secs", "5"][..],
            "--reconnect-min-secs",
        ),
        (client, &["--liveness-secs", "zero"][..], "--liveness-secs"),
    ] {
        let out = run(program, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: expected {needle:?} in {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn status_without_a_daemon_says_so() {
    for program in [&binaries().gateway, &binaries().client] {
        let out = run(
            program,
            &["status", "--status-socket", "/nonexistent/eseg.sock"],
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("/nonexistent/eseg.sock"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
