//! `eseg-lab`: the lab from the command line, for the demo script and for people exploring by
//! hand. `eseg-lab up` builds a lab, prints its namespaces and addresses, and keeps it until
//! SIGINT or SIGTERM, then removes everything; `eseg-lab reclaim` removes namespaces left by
//! killed runs.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lab::{Host, Lab, Router};
use nix::sys::signal::{SigSet, Signal};

/// Network-namespace lab for eseg (needs root).
#[derive(Debug, Parser)]
#[command(name = "eseg-lab", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a lab and keep it until SIGINT/SIGTERM.
    Up {
        /// Number of client hosts (1-50).
        #[arg(long, default_value_t = 1)]
        clients: usize,
        /// What sits between clients and gateway: plain, nat, fw5 (ports 80/443 only), fw6 (TCP
        /// only), fw7 (TCP to 80/443 only), fw8 (HTTP proxy only); none when omitted.
        #[arg(long)]
        router: Option<Router>,
        /// Print one JSON object (one line) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove lab namespaces whose creating process is gone.
    Reclaim,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Reclaim => {
            println!("removed {} stale lab namespace(s)", lab::reclaim_stale());
            ExitCode::SUCCESS
        }
        Command::Up {
            clients,
            router,
            json,
        } => match up(clients, router, json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("eseg-lab: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn up(clients: usize, router: Option<Router>, json: bool) -> lab::Result<()> {
    let mut builder = Lab::builder().clients(clients);
    if let Some(router) = router {
        builder = builder.with_router(router);
    }
    let lab = builder.build()?;
    // Block the stop signals only now: programs the lab started (tinyproxy) must not inherit a
    // mask that hides SIGTERM from them. The build's helper threads have all ended, so the wait
    // below is the only receiver.
    let mut stop = SigSet::empty();
    stop.add(Signal::SIGINT);
    stop.add(Signal::SIGTERM);
    stop.thread_block()
        .map_err(|e| lab::Error::Invalid(format!("block signals: {e}")))?;
    if json {
        println!("{}", describe_json(&lab)?);
    } else {
        print!("{}", describe_table(&lab)?);
        println!("lab is up; Ctrl-C (SIGINT) or SIGTERM removes it");
    }
    let signal = stop
        .wait()
        .map_err(|e| lab::Error::Invalid(format!("wait for signal: {e}")))?;
    if !json {
        println!("{signal}: removing the lab");
    }
    drop(lab);
    Ok(())
}

fn describe_json(lab: &Lab) -> lab::Result<String> {
    let a = lab.addresses();
    let mut namespaces = serde_json::Map::new();
    for host in lab.hosts() {
        namespaces.insert(key(host), lab.netns(host)?.into());
    }
    let value = serde_json::json!({
        "namespaces": namespaces,
        "workdir": lab.workdir().display().to_string(),
        "block": a.block.to_string(),
        "clients": a.clients.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "gateway_outer": a.gateway_outer.to_string(),
        "gateway_inner": a.gateway_inner.to_string(),
        "router_wan": a.router_wan.map(|r| r.to_string()),
        "lan": a.lan.to_string(),
        "protected": a.protected.to_string(),
        "core": a.core.to_string(),
        "pcscf": a.pcscf.to_string(),
        "dns": a.dns.to_string(),
        "pool": a.pool.to_string(),
        "proxy": lab.proxy().map(|p| p.to_string()),
        "v6": {
            "clients": a.v6.clients.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "gateway_outer": a.v6.gateway_outer.to_string(),
            "gateway_inner": a.v6.gateway_inner.to_string(),
            "router_wan": a.v6.router_wan.map(|r| r.to_string()),
            "lan": a.v6.lan.to_string(),
            "protected": a.v6.protected.to_string(),
            "core": a.v6.core.to_string(),
            "pcscf": a.v6.pcscf.to_string(),
            "dns": a.v6.dns.to_string(),
            "pool": a.v6.pool.to_string(),
        },
    });
    Ok(value.to_string())
}

fn key(host: Host) -> String {
    match host {
        Host::Client(n) => format!("client{n}"),
        Host::Router => "router".into(),
        Host::Gateway => "gateway".into(),
        Host::Core => "core".into(),
    }
}

fn describe_table(lab: &Lab) -> lab::Result<String> {
    let a = lab.addresses();
    let mut out = String::new();
    for host in lab.hosts() {
        out.push_str(&format!(
            "{:<10} ip netns exec {}\n",
            key(host),
            lab.netns(host)?
        ));
    }
    for (i, (c, c6)) in a.clients.iter().zip(&a.v6.clients).enumerate() {
        out.push_str(&format!(
            "client{i} outer    {c} / {c6} (LAN {} / {})\n",
            a.lan, a.v6.lan
        ));
    }
    out.push_str(&format!(
        "gateway outer    {} / {}\n",
        a.gateway_outer, a.v6.gateway_outer
    ));
    out.push_str(&format!(
        "protected subnet {} (gateway {}, core {})\n",
        a.protected, a.gateway_inner, a.core
    ));
    out.push_str(&format!(
        "                 {} (gateway {}, core {})\n",
        a.v6.protected, a.v6.gateway_inner, a.v6.core
    ));
    out.push_str(&format!("P-CSCF / DNS     {} / {}\n", a.pcscf, a.dns));
    out.push_str(&format!(
        "pool             {} / {} (routed to the gateway by the core)\n",
        a.pool, a.v6.pool
    ));
    if let Some(proxy) = lab.proxy() {
        out.push_str(&format!("HTTP proxy       {proxy}\n"));
    }
    Ok(out)
}
