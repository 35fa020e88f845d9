//! Our side of each scenario: `eseg-gateway` and `eseg-client` started inside lab hosts with the
//! same identities and PSK as the strongSwan configurations ([`crate::swanctl_conf`]), and their
//! status reports (the JSON of the status socket) read for comparison with strongSwan's SA list.
//!
//! The binaries are built once per test process, in the profile of the running test.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::OnceLock;
use std::time::Duration;

use lab::{Host, Lab, ProcessGuard};
use netio::dataplane::status::{self, StatusReport};
use nix::sys::signal::Signal;

use crate::charon::wait_until;
use crate::error::{Error, Result};
use crate::swanctl_conf::{CLIENT_ID, GATEWAY_ID, PSK};

/// The paths of the two programs under test.
#[derive(Debug)]
pub struct Binaries {
    /// `eseg-gateway`.
    pub gateway: PathBuf,
    /// `eseg-client`.
    pub client: PathBuf,
}

/// Environment variable naming a directory with prebuilt `eseg-gateway` and `eseg-client` (for
/// example release builds); when it is unset the harness builds them.
pub const BIN_DIR_ENV: &str = "ESEG_INTEROP_BIN_DIR";

/// The programs under test: from [`BIN_DIR_ENV`] when set, otherwise built once per process
/// (same profile and target directory as the running test).
pub fn binaries() -> Result<&'static Binaries> {
    static BUILT: OnceLock<std::result::Result<Binaries, String>> = OnceLock::new();
    BUILT
        .get_or_init(build_binaries)
        .as_ref()
        .map_err(|e| Error::Eseg(e.clone()))
}

fn build_binaries() -> std::result::Result<Binaries, String> {
    let dir = match std::env::var_os(BIN_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => lab::build_workspace_binaries(&["eseg-gateway", "eseg-client"])
            .map_err(|e| e.to_string())?,
    };
    Ok(Binaries {
        gateway: dir.join("eseg-gateway"),
        client: dir.join("eseg-client"),
    })
}

/// Settings of an eseg-gateway run that scenarios change.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewaySettings {
    /// `[[peers]]` as (identity pattern, PSK).
    pub peers: Vec<(String, String)>,
    /// `ike.proposals`; `None` keeps the built-in list.
    pub ike_proposals: Option<Vec<String>>,
    /// `ike.esp_proposals`; `None` keeps the built-in list.
    pub esp_proposals: Option<Vec<String>>,
    /// `ike.ike_lifetime_secs`.
    pub ike_lifetime_secs: Option<u64>,
    /// `ike.child_lifetime_secs`.
    pub child_lifetime_secs: Option<u64>,
    /// `ike.liveness_interval_secs`.
    pub liveness_secs: u64,
    /// `ike.mobike` (RFC 4555); `None` keeps the gateway's default (on).
    pub mobike: Option<bool>,
    /// `clients.pool`; `None` gives clients the lab's whole pool.
    pub pool: Option<String>,
    /// `ike.retransmit_initial_ms`; `None` keeps the gateway's default (4000).
    pub retransmit_initial_ms: Option<u64>,
    /// `ike.retransmit_tries`; `None` keeps the gateway's default (5).
    pub retransmit_tries: Option<u32>,
}

impl Default for GatewaySettings {
    /// The scenarios' client identity and PSK, built-in proposals and lifetimes, 5 s liveness.
    fn default() -> Self {
        GatewaySettings {
            peers: vec![(CLIENT_ID.to_owned(), PSK.to_owned())],
            ike_proposals: None,
            esp_proposals: None,
            ike_lifetime_secs: None,
            child_lifetime_secs: None,
            liveness_secs: 5,
            mobike: None,
            pool: None,
            retransmit_initial_ms: None,
            retransmit_tries: None,
        }
    }
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

impl GatewaySettings {
    /// The gateway's TOML configuration for `lab`, with its status socket at `socket`.
    pub fn toml(&self, lab: &Lab, socket: &Path) -> String {
        let a = lab.addresses();
        let mut text = format!(
            "[gateway]\nidentity = \"{GATEWAY_ID}\"\nstatus_socket = \"{}\"\n\n\
             [clients]\npool = \"{}\"\ndns = [\"{}\"]\npcscf = [\"{}\"]\nprotected_subnets = [\"{}\"]\n\n",
            socket.display(),
            self.pool.clone().unwrap_or_else(|| a.pool.to_string()),
            a.dns,
            a.pcscf,
            a.protected
        );
        for (id, psk) in &self.peers {
            text.push_str(&format!("[[peers]]\nid = \"{id}\"\npsk = \"{psk}\"\n\n"));
        }
        text.push_str(&format!(
            "[ike]\nliveness_interval_secs = {}\n",
            self.liveness_secs
        ));
        if let Some(p) = &self.ike_proposals {
            text.push_str(&format!("proposals = {}\n", toml_list(p)));
        }
        if let Some(p) = &self.esp_proposals {
            text.push_str(&format!("esp_proposals = {}\n", toml_list(p)));
        }
        if let Some(s) = self.ike_lifetime_secs {
            text.push_str(&format!("ike_lifetime_secs = {s}\n"));
        }
        if let Some(s) = self.child_lifetime_secs {
            text.push_str(&format!("child_lifetime_secs = {s}\n"));
        }
        if let Some(on) = self.mobike {
            text.push_str(&format!("mobike = {on}\n"));
        }
        if let Some(ms) = self.retransmit_initial_ms {
            text.push_str(&format!("retransmit_initial_ms = {ms}\n"));
        }
        if let Some(tries) = self.retransmit_tries {
            text.push_str(&format!("retransmit_tries = {tries}\n"));
        }
        text
    }
}

/// A running eseg program (gateway or client) with its status socket.
#[derive(Debug)]
pub struct EsegProcess {
    process: ProcessGuard,
    socket: PathBuf,
}

impl EsegProcess {
    /// Starts eseg-gateway in the lab's gateway host and waits until it serves.
    pub fn gateway(lab: &Lab, settings: &GatewaySettings) -> Result<Self> {
        let socket = lab.workdir().join("eseg-gateway.sock");
        let config = lab.write_file("eseg-gateway.toml", settings.toml(lab, &socket))?;
        let bin = &binaries()?.gateway;
        let mut process = lab.spawn(
            Host::Gateway,
            &[
                bin.as_os_str(),
                "--config".as_ref(),
                config.as_os_str(),
                "--log".as_ref(),
                "debug".as_ref(),
            ],
        )?;
        process.wait_for_output("gateway up", Duration::from_secs(30))?;
        Ok(EsegProcess { process, socket })
    }

    /// Starts eseg-client in client host 0 towards the lab's gateway address with the scenarios'
    /// identities and PSK, short timers, `--once`, plus `extra` arguments. It does not wait for
    /// the tunnel; see [`EsegProcess::wait_for_tunnel`].
    pub fn client(lab: &Lab, psk: &str, extra: &[&str]) -> Result<Self> {
        Self::client_as(lab, CLIENT_ID, psk, extra)
    }

    /// Like [`EsegProcess::client`] with another identity (IDi).
    pub fn client_as(lab: &Lab, identity: &str, psk: &str, extra: &[&str]) -> Result<Self> {
        let socket = lab.workdir().join("eseg-client.sock");
        let bin = binaries()?.client.display().to_string();
        let gateway = lab.gateway_outer().to_string();
        let socket_arg = socket.display().to_string();
        let mut argv = vec![
            bin.as_str(),
            "--gateway",
            &gateway,
            "--identity",
            identity,
            "--gateway-id",
            GATEWAY_ID,
            "--psk",
            psk,
            "--status-socket",
            &socket_arg,
            "--retransmit-initial-ms",
            "500",
            "--retransmit-tries",
            "3",
            "--once",
            "--log",
            "debug",
        ];
        argv.extend_from_slice(extra);
        let process = lab.spawn(Host::Client(0), &argv)?;
        Ok(EsegProcess { process, socket })
    }

    /// Waits until the client logs that its tunnel is up (routes installed).
    pub fn wait_for_tunnel(&mut self, limit: Duration) -> Result<()> {
        self.process.wait_for_output("tunnel up", limit)?;
        Ok(())
    }

    /// Waits until `needle` appears in the program's output.
    pub fn wait_for_output(&mut self, needle: &str, limit: Duration) -> Result<()> {
        self.process.wait_for_output(needle, limit)?;
        Ok(())
    }

    /// The program's log (stderr).
    pub fn log(&self) -> String {
        self.process.stderr()
    }

    /// The values the client printed as `key=value` lines on stdout (`address`, `dns`, `pcscf`).
    pub fn printed(&self, key: &str) -> Vec<String> {
        let prefix = format!("{key}=");
        self.process
            .stdout()
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
            .collect()
    }

    /// The client's virtual IP (the last `address=` line).
    pub fn virtual_ip(&self) -> Result<Ipv4Addr> {
        self.printed("address")
            .last()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| Error::Eseg(format!("no address printed; log: {}", self.log())))
    }

    /// The program's status report.
    pub fn status(&self) -> Result<StatusReport> {
        status::query(&self.socket)
            .map_err(|e| Error::Eseg(format!("status {}: {e}", self.socket.display())))
    }

    /// Waits until the status report satisfies `check`, and returns that report.
    pub fn wait_for_status(
        &self,
        what: &str,
        limit: Duration,
        mut check: impl FnMut(&StatusReport) -> bool,
    ) -> Result<StatusReport> {
        let mut last = StatusReport::default();
        wait_until(limit, what, || {
            last = self.status()?;
            Ok(check(&last))
        })?;
        Ok(last)
    }

    /// Sends SIGTERM and waits up to `limit` for a clean exit.
    pub fn terminate(&mut self, limit: Duration) -> Result<ExitStatus> {
        self.process.signal(Signal::SIGTERM)?;
        self.process.wait_timeout(limit)?.ok_or_else(|| {
            Error::Eseg(format!(
                "no exit within {limit:?} after SIGTERM; log: {}",
                self.log()
            ))
        })
    }

    /// Kills the program outright (SIGKILL): nothing is sent to the peer.
    pub fn kill(&mut self) -> Result<()> {
        self.process.signal(Signal::SIGKILL)?;
        self.process.wait_timeout(Duration::from_secs(5))?;
        Ok(())
    }

    /// The exit status if the program has exited.
    pub fn exited(&mut self) -> Result<Option<ExitStatus>> {
        Ok(self.process.try_status()?)
    }
}
