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
        print!("{}", outer_paths(&report));
    }
    ExitCode::SUCCESS
}

/// One line per IKE SA with its outer path, `local -> gateway`: the local address is the one
/// the client roams from and to (see `roaming`).
fn outer_paths(report: &netio::dataplane::status::StatusReport) -> String {
    report
        .ike_sas
        .iter()
        .map(|sa| format!("outer path: {} -> {}\n", sa.local, sa.peer))
        .collect()
}

#[cfg(test)]
mod tests {
    use netio::dataplane::status::{IkeSaStatus, StatusReport};

    #[test]
    fn status_shows_each_outer_path() {
        let report = StatusReport {
            ike_sas: vec![
                IkeSaStatus {
                    local: "192.0.2.40:41000".into(),
                    peer: "192.0.2.1:4500".into(),
                    ..IkeSaStatus::default()
                },
                IkeSaStatus {
                    local: "192.0.2.40:52000".into(),
                    peer: "192.0.2.1:80".into(),
                    ..IkeSaStatus::default()
                },
            ],
            ..StatusReport::default()
        };
        assert_eq!(
            super::outer_paths(&report),
            "outer path: 192.0.2.40:41000 -> 192.0.2.1:4500\n\
             outer path: 192.0.2.40:52000 -> 192.0.2.1:80\n"
        );
        assert_eq!(super::outer_paths(&StatusReport::default()), "");
    }
}
