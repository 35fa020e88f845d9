//! eseg-client: the tunnelling client. Connects to an eSEG gateway over IKEv2/IPsec (UDP
//! 500/4500), brings up a TUN device with the virtual IP it is given, routes the gateway's
//! protected subnets into it, and keeps the tunnel up.

mod cli;
mod ladder;
mod roaming;
mod routes;
mod run;

use std::process::ExitCode;

use clap::Parser as _;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Status { json }) = cli.command {
        return status(&cli, json);
    }
    let settings = match cli.settings() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("eseg-client: {e}");
            return ExitCode::from(2);
        }
    };
    netio::dataplane::logging::init(&cli.log);
    match run::run(settings, cli.status_socket.clone()) {
        Ok(run::Outcome::Stopped) => ExitCode::SUCCESS,
        Ok(run::Outcome::TunnelDown) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("eseg-client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn status(cli: &Cli, json: bool) -> ExitCode {
    use netio::dataplane::status;
    let report = match status::query(&cli.status_socket) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("eseg-client status: {e}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("eseg-client status: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", status::render_table(&report));
    }
    ExitCode::SUCCESS
}
