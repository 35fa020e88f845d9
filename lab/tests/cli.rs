//! The `eseg-lab` command and cross-process behaviour (needs root): a lab built by another
//! process gets its own address block and namespaces, and is removed when that process is told
//! to stop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use lab::{Host, Lab};

#[test]
fn a_lab_in_another_process_gets_its_own_block_and_goes_away_on_sigterm() {
    let ours = Lab::builder().build().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_eseg-lab"))
        .args(["up", "--json", "--router", "nat", "--clients", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let theirs: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_ne!(
        theirs["block"].as_str().unwrap(),
        ours.addresses().block.to_string()
    );
    let names: Vec<String> = theirs["namespaces"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 5, "{line}");
    assert!(names
        .iter()
        .all(|n| Path::new("/run/netns").join(n).exists()));
    assert!(!names.contains(&ours.netns(Host::Gateway).unwrap().to_owned()));

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(names
        .iter()
        .all(|n| !Path::new("/run/netns").join(n).exists()));
    // Our own lab is untouched.
    assert!(ours
        .ping(Host::Client(0), ours.gateway_outer().into(), 1)
        .unwrap());
}

#[test]
fn bad_requests_are_refused_with_a_reason() {
    for clients in [0, lab::MAX_CLIENTS + 1] {
        let err = Lab::builder().clients(clients).build().unwrap_err();
        assert!(matches!(err, lab::Error::Invalid(_)), "{err}");
        assert!(err.to_string().contains("clients"), "{err}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_eseg-lab"))
        .args(["up", "--router", "fw9"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("fw9"));
}
