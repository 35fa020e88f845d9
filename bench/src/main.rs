//! eseg-bench: the packet-path benchmark. Builds one lab per system (plain veth, eseg over UDP and
//! TCP/80, strongSwan, boringtun), keeps them all running, and measures them interleaved so drift
//! on a shared machine hits all alike; reports a terminal table, `bench.json` with every raw figure
//! and the machine, `throughput.svg` and `packet-rate.svg`, and keeps the daemons' logs. See
//! `eseg-bench --help` and the README's "Benchmarks".

mod cli;
mod clock;
mod error;
mod health;
mod iperf;
mod latency;
mod loadgen;
mod loss;
mod machine;
mod progress;
mod report;
mod setup;
mod stats;
mod systems;
mod throughput;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use lab::Lab;

use cli::{Cli, Phase, Plan};
use error::{Error, Result};
use health::Health;
use machine::Machine;
use progress::Progress;
use report::{Report, SystemEntry};
use systems::{EsegBinaries, SystemSpec, SystemUnderTest};

/// Estimated time to bring one system up.
const STARTUP_ESTIMATE: Duration = Duration::from_secs(4);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let plan = match cli.plan() {
        Ok(plan) => plan,
        Err(message) => {
            eprintln!("eseg-bench: {message}");
            return ExitCode::from(2);
        }
    };
    if !nix::unistd::geteuid().is_root() {
        eprintln!("eseg-bench: needs root (it builds network namespaces)");
        return ExitCode::from(2);
    }
    match run(&plan, &cli.out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eseg-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The planned duration of the whole run, for the progress estimate.
fn planned(plan: &Plan, systems: usize) -> Duration {
    let mut total = STARTUP_ESTIMATE * systems as u32;
    if plan.runs(Phase::Throughput) {
        let cases = throughput::Case::all(plan).len() as u32;
        total +=
            throughput::run_estimate(plan.duration()) * cases * systems as u32 * plan.repetitions;
    }
    if plan.runs(Phase::Latency) {
        total += latency::estimate(plan) * systems as u32 * plan.repetitions;
    }
    if plan.runs(Phase::Loss) {
        total += loss::estimate(plan, systems);
    }
    if plan.runs(Phase::Setup) {
        total += setup::estimate(plan);
    }
    if plan.runs(Phase::Memory) {
        total += setup::memory_estimate(plan, setup::RESPONDERS.len());
    }
    total
}

fn run(plan: &Plan, out: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(format!("create {}", out.display()), e))?;
    let machine = Machine::describe();
    let specs = SystemSpec::expand(&plan.systems, &plan.algorithms);
    let with_algorithm = plan.algorithms.len() > 1;
    let mut progress = Progress::new(planned(plan, specs.len()));
    let eseg = EsegBinaries::locate();

    let labs: Vec<Result<Lab>> = specs
        .iter()
        .map(|_| Lab::builder().build().map_err(Error::from))
        .collect();
    let mut entries = Vec::new();
    let mut running: Vec<SystemUnderTest<'_>> = Vec::new();
    for (spec, lab) in specs.iter().zip(&labs) {
        let label = spec.label(with_algorithm);
        progress.step(&format!("starting {label}"), STARTUP_ESTIMATE);
        let started = lab
            .as_ref()
            .map_err(|e| Error::Failed(e.to_string()))
            .and_then(|lab| SystemUnderTest::start(spec, lab, &eseg));
        let status = match started {
            Ok(sut) => {
                running.push(sut);
                "ran".to_owned()
            }
            Err(e) => {
                eprintln!("  {label}: {e}");
                e.to_string()
            }
        };
        entries.push(SystemEntry {
            label,
            spec: spec.clone(),
            status,
        });
    }
    let labels: Vec<String> = running
        .iter()
        .map(|s| s.spec.label(with_algorithm))
        .collect();
    let running_specs: Vec<SystemSpec> = running.iter().map(|s| s.spec.clone()).collect();

    let mut health = Health::new(out);
    let throughput = if plan.runs(Phase::Throughput) {
        throughput::measure(plan, &mut running, &labels, &mut health, &mut progress)
    } else {
        Vec::new()
    };
    let cpu = throughput::cpu_costs(&throughput, &labels, plan.repetitions);
    let latency = if plan.runs(Phase::Latency) {
        health.check_all(&mut running, &labels, "latency");
        latency::measure(plan, &running, &labels, &mut progress)
    } else {
        Vec::new()
    };
    let tcp80_loss = if plan.runs(Phase::Loss) {
        health.check_all(&mut running, &labels, "loss");
        loss::measure(plan, &mut running, &labels, &mut health, &mut progress)
    } else {
        Vec::new()
    };
    save_logs(&running, &labels, out);
    drop(running);
    drop(labs);

    let (setup_rate, memory_per_sa) = measure_setup(plan, &eseg, &mut progress);

    let mut ratios = report::case_ratios(&throughput, &running_specs, &labels);
    ratios.extend(report::cpu_ratios(&cpu, &running_specs, &labels));
    ratios.extend(report::setup_ratio(&setup_rate));
    ratios.extend(report::memory_ratios(&memory_per_sa));
    let report = Report {
        machine,
        options: plan.clone(),
        systems: entries,
        throughput,
        latency,
        cpu,
        setup_rate,
        memory_per_sa,
        tcp80_loss,
        ratios,
        incidents: health.into_incidents(),
        elapsed_secs: progress.elapsed().as_secs_f64(),
    };
    write_outputs(&report, out)?;
    print!("{}", report::table::render(&report));
    eprintln!(
        "done in {}; wrote bench.json, throughput.svg and packet-rate.svg to {}",
        progress::mm_ss(progress.elapsed()),
        out.display()
    );
    Ok(())
}

/// Writes every running system's daemon logs to `out/logs/<label>-<daemon>.log` at the end of
/// the packet-path phases.
fn save_logs(running: &[SystemUnderTest<'_>], labels: &[String], out: &std::path::Path) {
    let dir = out.join("logs");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("  cannot create {}: {e}", dir.display());
        return;
    }
    for (sut, label) in running.iter().zip(labels) {
        for (daemon, text) in sut.logs() {
            let name = format!("{}-{daemon}.log", label.replace('/', "_"));
            if let Err(e) = std::fs::write(dir.join(&name), text) {
                eprintln!("  cannot write {name}: {e}");
            }
        }
    }
}

/// The setup-rate and memory phases, on labs of their own (built only when one of them runs).
fn measure_setup(
    plan: &Plan,
    eseg: &EsegBinaries,
    progress: &mut Progress,
) -> (Vec<setup::SetupResult>, Vec<setup::MemoryResult>) {
    if !plan.runs(Phase::Setup) && !plan.runs(Phase::Memory) {
        return (Vec::new(), Vec::new());
    }
    let seed = engine_seed();
    let mut labs = Vec::new();
    for kind in setup::RESPONDERS {
        if !plan.systems.contains(&kind) {
            continue;
        }
        progress.step(
            &format!("lab for the {} responder", kind.name()),
            Duration::ZERO,
        );
        match setup::SetupLab::build(kind, plan.setup_concurrency) {
            Ok(lab) => labs.push(lab),
            Err(e) => eprintln!("  {}: {e}", kind.name()),
        }
    }
    let rate = if plan.runs(Phase::Setup) {
        setup::measure_rate(plan, &labs, eseg, seed, progress)
    } else {
        Vec::new()
    };
    let memory = if plan.runs(Phase::Memory) {
        setup::measure_memory(plan, &labs, eseg, seed, progress)
    } else {
        Vec::new()
    };
    (rate, memory)
}

/// Seeds the load generator's IKE engine, once per run.
#[allow(clippy::disallowed_methods)]
fn engine_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    if let Err(e) = getrandom::getrandom(&mut seed) {
        eprintln!("eseg-bench: no OS randomness ({e}); using a fixed seed");
    }
    seed
}

fn write_outputs(report: &Report, out: &std::path::Path) -> Result<()> {
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| Error::Failed(format!("serialise the report: {e}")))?;
    let json_path = out.join("bench.json");
    std::fs::write(&json_path, json)
        .map_err(|e| Error::io(format!("write {}", json_path.display()), e))?;
    let machine = format!("{} on {}", report.machine.date, report.machine.cpu_model);
    let charts = [
        (
            "throughput.svg",
            report::svg::throughput_chart(
                &report.throughput,
                &format!("TCP throughput (median, min-max), {machine}"),
            ),
        ),
        (
            "packet-rate.svg",
            report::svg::packet_rate_chart(
                &report.throughput,
                &format!("UDP packets received (median, min-max), {machine}"),
            ),
        ),
    ];
    for (name, svg) in charts {
        let path = out.join(name);
        std::fs::write(&path, svg)
            .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
    }
    Ok(())
}
