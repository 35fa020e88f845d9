//! Interop of eseg with real strongSwan (5.9.8, the Debian packages) inside the lab's network
//! namespaces; the scenarios live in `tests/`, the list of known differences in
//! `KNOWN-DIFFERENCES.md`.
//!
//! The harness:
//! - [`Charon`] starts one strongSwan daemon in a lab host with a generated `strongswan.conf`
//!   (its own `/run`, userspace ESP through kernel-libipsec), loads a [`SwanctlConf`], and drives
//!   it with `swanctl` (`--initiate`, `--terminate`, `--rekey`, `--list-sas --raw`).
//! - [`parse_list_sas`] reads strongSwan's SA list into [`IkeSa`]/[`ChildSa`] for comparison with
//!   eseg's own status report.
//! - [`EsegProcess`] starts `eseg-gateway` or `eseg-client` with the same identities and PSK.
//! - [`child_sas_agree`] checks that both sides describe the same CHILD SA and traffic.
//! - [`PingRun`] measures reply gaps while a tunnel is rekeyed or a peer dies.
//!
//! Everything is stopped when its guard is dropped, and the [`lab::Lab`] removes the namespaces,
//! also when a scenario panics. Needs root, iproute2 and the strongSwan packages.

mod agreement;
mod charon;
mod error;
mod eseg;
mod sas;
mod swanctl_conf;
mod traffic;
mod vici_text;

use std::sync::{Mutex, MutexGuard};

pub use agreement::child_sas_agree;
pub use charon::{wait_until, Charon, CharonOptions, Initiated, CHARON};
pub use error::{Error, Result};
pub use eseg::{binaries, Binaries, EsegProcess, GatewaySettings, BIN_DIR_ENV};
pub use sas::{parse_list_sas, ChildSa, IkeSa};
pub use swanctl_conf::{
    Child, Connection, Pool, PskSecret, SwanctlConf, CLIENT_ID, GATEWAY_ID, PSK,
};
pub use traffic::{iperf_both_ways, PingReport, PingRun, Throughput};
pub use vici_text::{parse_messages, ParseError, Section, Value};

/// Runs scenarios of one test program one at a time: they measure gaps and timeouts, which two
/// labs sharing two CPUs would blur. Hold the guard for the whole scenario.
pub fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
