//! The systems under test and how each is brought up in a lab of its own: plain veth routing
//! (the ceiling), eseg over UDP, eseg over TCP/80, strongSwan to strongSwan, and boringtun.
//!
//! Every system gets its own [`Lab`] (client 0, gateway, core) and keeps running for the whole
//! benchmark, so measurements of different systems can be interleaved without setting tunnels up
//! again. Traffic always goes from client 0 to the core host (or back) through the gateway
//! namespace; only what the gateway namespace does differs.

mod boringtun;
mod eseg;
mod strongswan;
mod veth;

use std::net::Ipv4Addr;
use std::time::Duration;

use eseg_interop::Charon;
use lab::{Host, Lab, ProcessGuard, IPERF3_PORT};
use serde::Serialize;

use crate::error::{Error, Result};

pub use eseg::{gateway_toml, large_pool, start_gateway, EsegBinaries, GatewayToml};

/// ESP algorithms the IPsec systems can be asked to use (strongSwan proposal syntax, which the
/// eseg gateway's configuration shares).
pub const ALGORITHMS: [&str; 3] = ["aes256gcm16", "aes128gcm16", "chacha20poly1305"];

/// A kind of system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SystemKind {
    /// Plain veth links routed by the gateway namespace: no tunnel, the ceiling.
    #[serde(rename = "veth")]
    Veth,
    /// eseg-client to eseg-gateway over UDP 4500 (ESP-in-UDP).
    #[serde(rename = "eseg-udp")]
    EsegUdp,
    /// eseg-client to eseg-gateway over TCP/80 (TPKT').
    #[serde(rename = "eseg-tcp")]
    EsegTcp,
    /// strongSwan client to strongSwan gateway (kernel-libipsec, ESP-in-UDP).
    #[serde(rename = "strongswan")]
    Strongswan,
    /// boringtun (userspace WireGuard), one instance per end.
    #[serde(rename = "boringtun")]
    Boringtun,
}

impl SystemKind {
    /// Every kind, in the order tables list them.
    pub const ALL: [SystemKind; 5] = [
        SystemKind::Veth,
        SystemKind::EsegUdp,
        SystemKind::EsegTcp,
        SystemKind::Strongswan,
        SystemKind::Boringtun,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            SystemKind::Veth => "veth",
            SystemKind::EsegUdp => "eseg-udp",
            SystemKind::EsegTcp => "eseg-tcp",
            SystemKind::Strongswan => "strongswan",
            SystemKind::Boringtun => "boringtun",
        }
    }

    /// Parses a name from the command line.
    pub fn parse(text: &str) -> std::result::Result<SystemKind, String> {
        SystemKind::ALL
            .into_iter()
            .find(|k| k.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = SystemKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown system `{text}` ({})", names.join(", "))
            })
    }

    /// Whether the system runs IPsec, so the ESP algorithm applies.
    pub fn uses_esp(self) -> bool {
        matches!(
            self,
            SystemKind::EsegUdp | SystemKind::EsegTcp | SystemKind::Strongswan
        )
    }
}

/// One system as measured: a kind plus, for IPsec, the ESP algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SystemSpec {
    /// The kind.
    pub kind: SystemKind,
    /// The ESP algorithm (IPsec systems only).
    pub algorithm: Option<String>,
}

impl SystemSpec {
    /// Every system of the plan: IPsec kinds once per algorithm, the others once.
    pub fn expand(kinds: &[SystemKind], algorithms: &[String]) -> Vec<SystemSpec> {
        let mut specs = Vec::new();
        for &kind in kinds {
            if kind.uses_esp() {
                specs.extend(algorithms.iter().map(|a| SystemSpec {
                    kind,
                    algorithm: Some(a.clone()),
                }));
            } else {
                specs.push(SystemSpec {
                    kind,
                    algorithm: None,
                });
            }
        }
        specs
    }

    /// `kind` or `kind/algorithm` when several algorithms are measured.
    pub fn label(&self, with_algorithm: bool) -> String {
        match (&self.algorithm, with_algorithm) {
            (Some(a), true) => format!("{}/{a}", self.kind.name()),
            _ => self.kind.name().to_owned(),
        }
    }

    /// The ESP algorithm, AES-256-GCM when none was set.
    pub fn esp(&self) -> &str {
        self.algorithm.as_deref().unwrap_or("aes256gcm16")
    }
}

/// A daemon whose CPU time counts as the system's cost.
#[derive(Debug)]
enum Daemon<'lab> {
    /// A program the lab started.
    Process(ProcessGuard),
    /// A strongSwan instance (its pid comes from its pid file).
    Charon(Charon<'lab>),
}

impl Daemon<'_> {
    fn pid(&self) -> Option<u32> {
        match self {
            Daemon::Process(p) => Some(p.pid()),
            Daemon::Charon(c) => std::fs::read_to_string(c.dir().join("charon.pid"))
                .ok()?
                .trim()
                .parse()
                .ok(),
        }
    }
}

/// A running system: its lab, the address traffic goes to, its daemons and an iperf3 server on
/// the core host.
#[derive(Debug)]
pub struct SystemUnderTest<'lab> {
    /// What this is.
    pub spec: SystemSpec,
    /// Its lab.
    pub lab: &'lab Lab,
    /// The core address traffic is sent to (through the tunnel, if any).
    pub target: Ipv4Addr,
    daemons: Vec<Daemon<'lab>>,
    eseg: EsegBinaries,
    _iperf3: ProcessGuard,
}

/// Where traffic starts.
pub const CLIENT: Host = Host::Client(0);

impl<'lab> SystemUnderTest<'lab> {
    /// Brings `spec` up in `lab` (a fresh lab with one client and no router) and checks that the
    /// core answers pings from the client.
    pub fn start(spec: &SystemSpec, lab: &'lab Lab, eseg: &EsegBinaries) -> Result<Self> {
        if spec.kind == SystemKind::Veth {
            veth::route(lab)?;
        }
        let daemons = start_daemons(spec, lab, eseg)?;
        let target = lab.addresses().core;
        let iperf3 = lab.iperf3_server(Host::Core, IPERF3_PORT)?;
        if !lab.ping(CLIENT, target.into(), 3)? {
            return Err(Error::Failed(format!(
                "{}: the core does not answer pings from the client",
                spec.label(true)
            )));
        }
        Ok(SystemUnderTest {
            spec: spec.clone(),
            lab,
            target,
            daemons,
            eseg: eseg.clone(),
            _iperf3: iperf3,
        })
    }

    /// Brings a broken-down system back and says how: strongSwan with both daemons alive
    /// re-initiates its tunnel; otherwise every daemon is stopped and started again. The caller
    /// checks [`SystemUnderTest::problem`] afterwards.
    pub fn recover(&mut self) -> Result<String> {
        if self.spec.kind == SystemKind::Veth {
            return Err(Error::Failed("plain veth has no daemon to restart".into()));
        }
        let all_alive = self.daemons.iter().all(|d| d.pid().is_some_and(is_alive));
        if let (SystemKind::Strongswan, true, Some(Daemon::Charon(client))) =
            (self.spec.kind, all_alive, self.daemons.last())
        {
            strongswan::reinitiate(client)?;
            return Ok("re-initiated the strongSwan tunnel".into());
        }
        while let Some(daemon) = self.daemons.pop() {
            drop(daemon);
        }
        self.daemons = start_daemons(&self.spec, self.lab, &self.eseg)?;
        Ok("restarted its daemons".into())
    }

    /// Every daemon's log so far, as (name, text): charon's log file (`charon-gw`), or a
    /// program's stderr and stdout (`eseg-client-2`: program and daemon number, as both ends of
    /// boringtun run the same program).
    pub fn logs(&self) -> Vec<(String, String)> {
        self.daemons
            .iter()
            .enumerate()
            .map(|(i, daemon)| match daemon {
                Daemon::Charon(c) => (
                    c.dir()
                        .file_name()
                        .map_or_else(|| "charon".into(), |n| n.to_string_lossy().into_owned()),
                    c.log(),
                ),
                Daemon::Process(p) => {
                    // The command reads `[namespace] program args...`.
                    let program = p
                        .command()
                        .split_whitespace()
                        .find(|word| !word.starts_with('['))
                        .unwrap_or("daemon");
                    let name = program.rsplit('/').next().unwrap_or(program);
                    (
                        format!("{name}-{}", i + 1),
                        format!("{}{}", p.stderr(), p.stdout()),
                    )
                }
            })
            .collect()
    }

    /// What is wrong with the system now, if anything: a daemon has exited, or the core no
    /// longer answers pings (checked between phases, so a report says why figures are missing).
    pub fn problem(&self) -> Option<String> {
        for (i, daemon) in self.daemons.iter().enumerate() {
            if !daemon.pid().is_some_and(is_alive) {
                return Some(format!(
                    "daemon {} of {} has exited",
                    i + 1,
                    self.daemons.len()
                ));
            }
        }
        match self.lab.ping(CLIENT, self.target.into(), 3) {
            Ok(true) => None,
            Ok(false) => Some("the core no longer answers pings through it".into()),
            Err(e) => Some(format!("cannot ping through it: {e}")),
        }
    }

    /// CPU time all the system's daemons have used so far; `None` for a system without daemons
    /// (plain veth: the kernel does the work) or when one has died.
    pub fn daemon_cpu(&self) -> Option<Duration> {
        if self.daemons.is_empty() {
            return None;
        }
        self.daemons
            .iter()
            .map(|d| d.pid().and_then(lab::cpu_time_of))
            .sum()
    }
}

/// Starts the daemons of `spec` in `lab` and brings its tunnel up.
fn start_daemons<'lab>(
    spec: &SystemSpec,
    lab: &'lab Lab,
    eseg: &EsegBinaries,
) -> Result<Vec<Daemon<'lab>>> {
    Ok(match spec.kind {
        SystemKind::Veth => Vec::new(),
        SystemKind::EsegUdp => eseg::start(lab, eseg, spec.esp(), eseg::Transport::Udp)?
            .into_iter()
            .map(Daemon::Process)
            .collect(),
        SystemKind::EsegTcp => eseg::start(lab, eseg, spec.esp(), eseg::Transport::Tcp)?
            .into_iter()
            .map(Daemon::Process)
            .collect(),
        SystemKind::Strongswan => strongswan::start(lab, spec.esp())?
            .into_iter()
            .map(Daemon::Charon)
            .collect(),
        SystemKind::Boringtun => boringtun::start(lab)?
            .into_iter()
            .map(Daemon::Process)
            .collect(),
    })
}

/// Whether process `pid` exists and has not exited (a zombie waiting to be reaped has).
fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_owned();
            Some(state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

/// Waits `pause`, a short settling time between measurements.
pub fn settle(pause: Duration) {
    std::thread::sleep(pause);
}
