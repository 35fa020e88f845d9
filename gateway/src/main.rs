//! eseg-gateway: the eSEG daemon. Terminates IKEv2/IPsec tunnels from clients over UDP 500/4500,
//! hands each client an inner address from a pool, and routes between the tunnels and the
//! protected network through a TUN device.

mod config;
mod pool;
mod run;
mod tcp_listener;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use config::Config;

/// The eSEG daemon: IKEv2/IPsec over UDP 500/4500 into a TUN device.
///
/// Without a configuration file it runs on built-in defaults that serve the lab demo (see
/// `--print-defaults`). Logs go to stderr; set the level with `--log` or `ESEG_LOG`
/// (e.g. `info`, `debug`, `eseg_gateway=trace`).
#[derive(Debug, Parser)]
#[command(name = "eseg-gateway", version)]
struct Cli {
    /// TOML configuration file; every key is optional and falls back to the built-in default.
    #[arg(short, long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,

    /// Validate the configuration (the file, or the built-in defaults) and exit; prints every
    /// error with its line, column and key.
    #[arg(long)]
    check_config: bool,

    /// Print an example configuration holding the built-in defaults and exit.
    #[arg(long)]
    print_defaults: bool,

    /// Unix socket of the status interface (overrides `gateway.status_socket`).
    #[arg(long, value_name = "PATH", global = true)]
    status_socket: Option<PathBuf>,

    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "ESEG_LOG", default_value = "info", value_name = "FILTER")]
    log: String,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the IKE and Child SAs of the running gateway with their counters.
    Status {
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load_config(cli.config.as_deref()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let status_socket = cli
        .status_socket
        .clone()
        .unwrap_or_else(|| config.status_socket.clone());
    if cli.check_config {
        println!(
            "{}: configuration OK",
            cli.config
                .as_deref()
                .map_or("built-in defaults".into(), |p| p.display().to_string())
        );
        return ExitCode::SUCCESS;
    }
    if cli.print_defaults {
        print!("{}", config::EXAMPLE);
        return ExitCode::SUCCESS;
    }
    match cli.command {
        Some(Command::Status { json }) => match netio::dataplane::status::query(&status_socket) {
            Ok(report) if json => match serde_json::to_string_pretty(&report) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("eseg-gateway: {e}");
                    ExitCode::FAILURE
                }
            },
            Ok(report) => {
                print!("{}", netio::dataplane::status::render_table(&report));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("eseg-gateway status: {e}");
                ExitCode::FAILURE
            }
        },
        None => {
            netio::dataplane::logging::init(&cli.log);
            match run::run(config, status_socket) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("eseg-gateway: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Reads and validates the configuration; the error text lists every problem, one per line,
/// prefixed with the file name.
fn load_config(path: Option<&std::path::Path>) -> Result<Config, String> {
    let Some(path) = path else {
        return Ok(Config::builtin());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("eseg-gateway: cannot read {}: {e}", path.display()))?;
    Config::from_toml(&text).map_err(|errors| {
        let mut message = format!(
            "eseg-gateway: {} error(s) in {}:",
            errors.len(),
            path.display()
        );
        for e in errors {
            let sep = if e.location.is_some() { ":" } else { ": " };
            message.push_str(&format!("\n{}{sep}{e}", path.display()));
        }
        message
    })
}
