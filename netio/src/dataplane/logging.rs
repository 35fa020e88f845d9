//! Log setup shared by both binaries: `tracing` to stderr with an `EnvFilter`. Spans carry the IKE
//! SA (`ike_sa{peer=.. id=..}`) so every line of one tunnel can be found; key material is never a
//! field of any span or event. Colours only on a terminal: a log file or journal gets plain text.

use std::io::IsTerminal as _;

/// Installs the global subscriber; `filter` uses `EnvFilter` syntax (`info`,
/// `eseg_gateway=debug,netio=trace`). An invalid filter is reported and `info` used instead.
pub fn init(filter: &str) {
    let env_filter = match tracing_subscriber::EnvFilter::try_new(filter) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("invalid log filter `{filter}` ({e}); using `info`");
            tracing_subscriber::EnvFilter::new("info")
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
