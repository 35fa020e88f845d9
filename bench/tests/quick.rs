//! CI check of the benchmark tool: `eseg-bench --quick` runs to the end as root and writes a
//! well-formed report. Figures are never asserted (the machine is shared and noisy); only that
//! every section is there and the chart is an SVG.

use std::process::Command;

use serde_json::Value;

#[test]
fn quick_run_writes_a_complete_report_and_chart() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: eseg-bench needs root");
        return;
    }
    // eseg-bench looks for eseg-gateway and eseg-client next to itself (same profile).
    if let Err(e) = lab::build_workspace_binaries(&["eseg-gateway", "eseg-client"]) {
        panic!("building eseg-gateway/eseg-client failed: {e}");
    }
    let out = std::env::temp_dir().join(format!("eseg-bench-quick-{}", std::process::id()));
    let run = Command::new(env!("CARGO_BIN_EXE_eseg-bench"))
        .arg("--quick")
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run eseg-bench");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "eseg-bench failed:\n{stderr}");
    assert!(stdout.contains("throughput, Mbit/s"), "no table:\n{stdout}");
    assert!(stderr.contains("elapsed"), "no progress lines:\n{stderr}");

    let json = std::fs::read_to_string(out.join("bench.json")).expect("bench.json");
    let report: Value = serde_json::from_str(&json).expect("bench.json is JSON");
    for key in [
        "machine",
        "options",
        "systems",
        "throughput",
        "latency",
        "cpu",
        "setup_rate",
        "memory_per_sa",
        "tcp80_loss",
        "ratios",
        "incidents",
        "elapsed_secs",
    ] {
        assert!(report.get(key).is_some(), "bench.json has no `{key}`");
    }
    for key in ["cpu_model", "kernel", "cores", "date"] {
        assert!(
            report["machine"].get(key).is_some(),
            "machine has no `{key}`"
        );
    }
    let systems = report["systems"].as_array().expect("systems list");
    assert!(
        systems
            .iter()
            .any(|s| s["label"] == "veth" && s["status"] == "ran"),
        "plain veth did not run: {systems:?}"
    );
    let cases = report["throughput"].as_array().expect("throughput list");
    assert!(!cases.is_empty());
    for case in cases {
        for system in case["systems"].as_array().expect("per-system results") {
            assert!(system.get("throughput_bps").is_some() && system.get("runs").is_some());
        }
    }

    let udp_case = cases
        .iter()
        .find(|c| c["case"]["protocol"] == "udp")
        .expect("a UDP packet-rate case");
    assert!(udp_case["systems"]
        .as_array()
        .expect("per-system results")
        .iter()
        .all(|s| s.get("packets_per_second").is_some() && s.get("loss_percent").is_some()));
    for ratio in report["ratios"].as_array().expect("ratio list") {
        assert!(ratio["of_medians"].as_f64().is_some_and(f64::is_finite));
        assert!(ratio["metric"].is_string() && ratio["case"].is_string());
    }
    assert!(
        stdout.contains("UDP received, kpps"),
        "no packet-rate table:\n{stdout}"
    );

    for chart in ["throughput.svg", "packet-rate.svg"] {
        let svg = std::fs::read_to_string(out.join(chart)).expect(chart);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("<rect") && !svg.contains("NaN"), "{chart}");
    }
    let _ = std::fs::remove_dir_all(&out);
}
