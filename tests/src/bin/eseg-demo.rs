//! The demo behind `scripts/demo.sh`: builds a lab of network namespaces (client, gateway, core),
//! starts `eseg-gateway` and `eseg-client` on their built-in defaults, shows the tunnel, pings
//! and transfers through it in both directions (including connections the core opens), measures
//! plain veth next to it, prints a summary and cleans everything up (also on failure: the lab
//! removes its namespaces when dropped).
//!
//! The built-in defaults carry the addresses of the lab's first address block (198.18.0.0/23),
//! and the demo asks the lab for that block. Only when another lab holds it (tests running at the
//! same time) does the demo get another block; then it writes the few address keys of that block
//! into a configuration file and says so.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use eseg_tests::{binaries, Host, Scenario, TUNNEL_UP};
use lab::{IperfOptions, Lab, LabAddresses, ProcessGuard};

/// One line of the summary.
struct Check {
    what: String,
    ok: bool,
    detail: String,
}

fn step(text: &str) {
    println!("\n==> {text}");
}

fn main() -> ExitCode {
    match demo() {
        Ok(checks) => {
            step("summary");
            let width = checks.iter().map(|c| c.what.len()).max().unwrap_or(0);
            for c in &checks {
                let mark = if c.ok { "ok  " } else { "FAIL" };
                println!("  [{mark}] {:<width$}  {}", c.what, c.detail);
            }
            let failed = checks.iter().filter(|c| !c.ok).count();
            if failed == 0 {
                println!(
                    "\nAll {} checks passed; the lab has been removed.",
                    checks.len()
                );
                ExitCode::SUCCESS
            } else {
                println!("\n{failed} check(s) failed; the lab has been removed.");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

// The demo reports how long the tunnel took to come up: real time, read here only.
#[allow(clippy::disallowed_methods)]
fn demo() -> Result<Vec<Check>, String> {
    let bins = binaries();
    step("building the lab: client -- gateway -- core, each in its own network namespace");
    let lab = Lab::builder()
        .prefer_block(0)
        .build()
        .map_err(|e| e.to_string())?;
    let a = lab.addresses().clone();
    println!(
        "  client {}  gateway {} (outer) / {} (core side)  core {}  pool {}",
        a.clients
            .first()
            .map_or_else(String::new, ToString::to_string),
        a.gateway_outer,
        a.gateway_inner,
        a.core,
        a.pool
    );
    let defaults_fit = LabAddresses::plan(0, 1, false).is_ok_and(|d| d.block == a.block);

    step("starting eseg-gateway");
    let mut gateway_argv = vec![bins.gateway.display().to_string()];
    if defaults_fit {
        println!("  on its built-in defaults (no configuration file)");
    } else {
        let config = format!(
            "# Only the addresses differ from the built-in defaults: this lab got block {}.\n\
             [clients]\npool = \"{}\"\ndns = [\"{}\"]\npcscf = [\"{}\"]\nprotected_subnets = [\"{}\"]\n",
            a.block, a.pool, a.dns, a.pcscf, a.protected
        );
        let path = lab
            .write_file("gateway.toml", &config)
            .map_err(|e| e.to_string())?;
        println!(
            "  this lab got address block {} (the built-in defaults are written for the first block,\n  \
             198.18.0.0/23); built-in defaults plus {}:\n{}",
            a.block,
            path.display(),
            indent(&config)
        );
        gateway_argv.extend(["--config".into(), path.display().to_string()]);
    }
    let mut gateway = lab
        .spawn(Host::Gateway, &gateway_argv)
        .map_err(|e| e.to_string())?;
    gateway
        .wait_for_output("gateway up", Duration::from_secs(10))
        .map_err(|e| e.to_string())?;

    step("starting eseg-client");
    let mut client_argv = vec![bins.client.display().to_string()];
    if !defaults_fit {
        client_argv.extend(["--gateway".into(), a.gateway_outer.to_string()]);
    }
    println!("  {}", client_argv.join(" "));
    let started = Instant::now();
    let mut client = lab
        .spawn(Host::Client(0), &client_argv)
        .map_err(|e| e.to_string())?;
    client
        .wait_for_stdout("pcscf=", TUNNEL_UP)
        .map_err(|e| e.to_string())?;
    let setup = started.elapsed();
    println!(
        "  tunnel up in {:.2} s; the client printed:",
        setup.as_secs_f64()
    );
    println!("{}", indent(client.stdout().trim()));
    let vip = client
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("address="))
        .and_then(|v| v.parse::<std::net::Ipv4Addr>().ok())
        .ok_or("the client printed no address")?;

    step("eseg-gateway status");
    show(
        &lab,
        Host::Gateway,
        &[&bins.gateway.display().to_string(), "status"],
    );
    step("eseg-client status");
    show(
        &lab,
        Host::Client(0),
        &[&bins.client.display().to_string(), "status"],
    );
    step("routes on the client");
    show(
        &lab,
        Host::Client(0),
        &["ip", "route", "show", "dev", "eseg-c0"],
    );

    let mut checks = vec![Check {
        what: "tunnel up, virtual IP, DNS, P-CSCF".into(),
        ok: a.pool.contains(&vip),
        detail: format!("{vip} in {} after {:.2} s", a.pool, setup.as_secs_f64()),
    }];

    step("ping through the tunnel");
    let ping_up = lab
        .ping(Host::Client(0), IpAddr::V4(a.core), 3)
        .unwrap_or(false);
    let ping_down = lab.ping(Host::Core, IpAddr::V4(vip), 3).unwrap_or(false);
    checks.push(Check {
        what: "ping client -> core".into(),
        ok: ping_up,
        detail: format!("{vip} -> {}", a.core),
    });
    checks.push(Check {
        what: "ping core -> client".into(),
        ok: ping_down,
        detail: format!("{} -> {vip}", a.core),
    });

    step("the core opens a TCP connection to the client's inner address");
    let core_tcp = lab
        .tcp_echo(Host::Client(0), SocketAddr::new(IpAddr::V4(vip), 5060))
        .and_then(|listener| {
            lab.tcp_roundtrip(
                Host::Core,
                listener.local_addr(),
                b"INVITE sip:ue@ims.example SIP/2.0\r\n",
                Duration::from_secs(5),
            )
        });
    checks.push(Check {
        what: "core-initiated TCP to the client".into(),
        ok: core_tcp.is_ok(),
        detail: core_tcp
            .err()
            .map_or_else(|| format!("{} -> {vip}:5060", a.core), |e| e.to_string()),
    });

    step("iperf3 TCP transfers, 3 s each");
    let transfers = [
        (
            "iperf3 client -> core (tunnel)",
            Host::Client(0),
            Host::Core,
            IpAddr::V4(a.core),
            false,
        ),
        (
            "iperf3 core -> client (tunnel, -R)",
            Host::Client(0),
            Host::Core,
            IpAddr::V4(a.core),
            true,
        ),
        (
            "iperf3 core-initiated -> client (tunnel)",
            Host::Core,
            Host::Client(0),
            IpAddr::V4(vip),
            false,
        ),
        (
            "iperf3 client -> gateway (plain veth)",
            Host::Client(0),
            Host::Gateway,
            IpAddr::V4(a.gateway_outer),
            false,
        ),
    ];
    for (i, (what, from, server_host, server, reverse)) in transfers.into_iter().enumerate() {
        let port = 5201 + u16::try_from(i).unwrap_or(0);
        let result = lab
            .iperf3_server(server_host, port)
            .and_then(|_server: ProcessGuard| {
                lab.iperf3_client(
                    from,
                    &IperfOptions {
                        port,
                        reverse,
                        duration: Duration::from_secs(3),
                        ..IperfOptions::tcp(server)
                    },
                )
            });
        let (ok, detail) = match result {
            Ok(r) => (
                r.received_bytes > 0,
                format!("{:.0} Mbit/s", r.received_bits_per_second / 1e6),
            ),
            Err(e) => (false, e.to_string()),
        };
        println!("  {what}: {detail}");
        checks.push(Check {
            what: what.into(),
            ok,
            detail,
        });
    }

    step("eseg-gateway status after the traffic");
    show(
        &lab,
        Host::Gateway,
        &[&bins.gateway.display().to_string(), "status"],
    );

    step("stopping: SIGTERM to the client (it sends a Delete), then to the gateway");
    let client_exit = client
        .terminate(Duration::from_secs(8))
        .map_err(|e| e.to_string())?;
    let deleted = Scenario::wait_until(Duration::from_secs(5), || {
        gateway.stderr().contains("IKE SA closed")
    });
    let gateway_exit = gateway
        .terminate(Duration::from_secs(8))
        .map_err(|e| e.to_string())?;
    let leftovers = ["eseg-c0", "eseg0"]
        .iter()
        .zip([Host::Client(0), Host::Gateway])
        .filter(|(name, host)| {
            lab.exec(*host, &["ip", "link", "show"])
                .is_ok_and(|o| o.stdout.contains(*name))
        })
        .count();
    checks.push(Check {
        what: "clean shutdown".into(),
        ok: client_exit.success() && gateway_exit.success() && deleted && leftovers == 0,
        detail: format!(
            "client {client_exit}, gateway {gateway_exit}, Delete {}, TUN devices left: {leftovers}",
            if deleted { "seen by the gateway" } else { "not seen" }
        ),
    });
    drop(lab);
    Ok(checks)
}

/// Runs a command in a lab host and prints its output, indented.
fn show(lab: &Lab, host: Host, argv: &[&str]) {
    match lab.exec(host, argv) {
        Ok(out) => println!("{}", indent(out.stdout.trim_end())),
        Err(e) => println!("  ({e})"),
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
