//! Harness for the end-to-end tests in `tests/`: builds `eseg-gateway` and `eseg-client` once,
//! then gives each test a [`Scenario`]: its own lab (namespaces, addresses, cleaned up on drop
//! even when the test panics), a gateway configured for that lab's addresses, and clients
//! started on demand. Every wait is bounded.

pub mod rogue_client;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use lab::{Host, Lab, ProcessGuard};
use netio::dataplane::status::StatusReport;
use nix::sys::signal::Signal;

/// How long a tunnel may take to come up.
pub const TUNNEL_UP: Duration = Duration::from_secs(20);

/// The two programs under test.
#[derive(Debug)]
pub struct Binaries {
    /// `eseg-gateway`.
    pub gateway: PathBuf,
    /// `eseg-client`.
    pub client: PathBuf,
}

/// Builds the binaries (same profile and target directory as this test) once per test process.
pub fn binaries() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(|| {
        let profile_dir = lab::build_workspace_binaries(&["eseg-gateway", "eseg-client"])
            .unwrap_or_else(|e| panic!("building eseg-gateway and eseg-client failed: {e}"));
        Binaries {
            gateway: profile_dir.join("eseg-gateway"),
            client: profile_dir.join("eseg-client"),
        }
    })
}

/// The gateway configuration for a lab: the lab's pool, DNS, P-CSCF and protected subnet, a
/// status socket in the lab's work directory, short liveness checks, plus `clients_extra` keys in
/// `[clients]` and `extra` TOML appended at the end (whole sections such as `[tcp]`).
pub fn gateway_config(lab: &Lab, clients_extra: &str, extra: &str) -> String {
    gateway_config_with(lab, "", clients_extra, extra)
}

/// [`gateway_config`] with `gateway_extra` keys in the `[gateway]` section too.
pub fn gateway_config_with(
    lab: &Lab,
    gateway_extra: &str,
    clients_extra: &str,
    extra: &str,
) -> String {
    let a = lab.addresses();
    format!(
        "[gateway]\nstatus_socket = \"{status}\"\n{gateway_extra}\n\n\
         [clients]\npool = \"{pool}\"\ndns = [\"{dns}\"]\npcscf = [\"{pcscf}\"]\n\
         protected_subnets = [\"{protected}\"]\n{clients_extra}\n\n\
         [ike]\nliveness_interval_secs = 5\n\n{extra}",
        status = lab.workdir().join("gateway.sock").display(),
        pool = a.pool,
        dns = a.dns,
        pcscf = a.pcscf,
        protected = a.protected,
    )
}

/// One test's world: a lab, a gateway, clients.
#[derive(Debug)]
pub struct Scenario {
    /// Dropped last (fields drop in order): kills what still runs inside, deletes namespaces.
    pub gateway: Option<ProcessGuard>,
    /// Client processes by index.
    pub clients: Vec<Option<ProcessGuard>>,
    /// The lab.
    pub lab: Lab,
    config_path: PathBuf,
}

impl Scenario {
    /// A lab with `clients` client hosts and a running gateway configured by
    /// [`gateway_config`] with the given extras.
    pub fn new(clients: usize, clients_extra: &str) -> Self {
        Self::build(Lab::builder().clients(clients), clients_extra, "")
    }

    /// Like [`Scenario::new`] with extra keys in the gateway's `[gateway]` section.
    pub fn with_gateway_config(clients: usize, clients_extra: &str, gateway_extra: &str) -> Self {
        Self::build(
            Lab::builder().clients(clients),
            clients_extra,
            gateway_extra,
        )
    }

    /// Like [`Scenario::new`] with a router (NAT or firewall) between clients and gateway.
    pub fn with_router(clients: usize, router: lab::Router, clients_extra: &str) -> Self {
        Self::build(
            Lab::builder().clients(clients).with_router(router),
            clients_extra,
            "",
        )
    }

    /// A lab with `clients` client hosts and a running gateway whose whole configuration file
    /// `config` writes from the lab (for tests that change keys [`gateway_config`] fixes, such
    /// as `clients.dns`).
    pub fn with_config_file(clients: usize, config: impl FnOnce(&Lab) -> String) -> Self {
        Self::build_with(Lab::builder().clients(clients), config)
    }

    fn build(builder: lab::LabBuilder, clients_extra: &str, gateway_extra: &str) -> Self {
        Self::build_with(builder, |lab| {
            gateway_config_with(lab, gateway_extra, clients_extra, "")
        })
    }

    fn build_with(builder: lab::LabBuilder, config: impl FnOnce(&Lab) -> String) -> Self {
        let lab = builder.build().unwrap_or_else(|e| panic!("lab: {e}"));
        let clients = lab.addresses().clients.len();
        let config = config(&lab);
        let config_path = lab
            .write_file("gateway.toml", config)
            .unwrap_or_else(|e| panic!("write config: {e}"));
        let mut scenario = Scenario {
            gateway: None,
            clients: (0..clients).map(|_| None).collect(),
            lab,
            config_path,
        };
        scenario.start_gateway();
        scenario
    }

    /// Starts (or restarts) the gateway and waits until it serves.
    pub fn start_gateway(&mut self) {
        let bin = &binaries().gateway;
        let mut gateway = self
            .lab
            .command(
                Host::Gateway,
                &[
                    bin.as_os_str(),
                    "--config".as_ref(),
                    self.config_path.as_os_str(),
                    "--log".as_ref(),
                    "debug".as_ref(),
                ],
            )
            .and_then(|c| c.spawn())
            .unwrap_or_else(|e| panic!("start gateway: {e}"));
        gateway
            .wait_for_output("gateway up", Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("gateway did not come up: {e}"));
        self.gateway = Some(gateway);
    }

    /// Kills the gateway with SIGKILL (a crash: no Delete reaches the clients), then starts it
    /// again and waits until it serves.
    pub fn crash_and_restart_gateway(&mut self) {
        let mut old = self.gateway.take().expect("gateway");
        old.signal(Signal::SIGKILL).expect("kill gateway");
        old.wait_timeout(Duration::from_secs(5))
            .expect("gateway gone");
        self.start_gateway();
    }

    /// Waits until client `n` has printed at least `count` `key` lines (a tunnel that comes up
    /// prints its `key=value` lines again), for up to [`TUNNEL_UP`] plus 15 s (a reconnect
    /// waits for the client to notice first). Returns whether it did.
    pub fn wait_for_printed(&self, n: usize, key: &str, count: usize) -> bool {
        Self::wait_until(TUNNEL_UP + Duration::from_secs(15), || {
            self.client_printed(n, key).len() >= count
        })
    }

    /// What the gateway has logged so far (its stderr).
    pub fn gateway_log(&self) -> String {
        self.gateway
            .as_ref()
            .map(ProcessGuard::stderr)
            .unwrap_or_default()
    }

    /// The status socket of client `n`.
    pub fn client_socket(&self, n: usize) -> PathBuf {
        self.lab.workdir().join(format!("client{n}.sock"))
    }

    /// Starts client `n` with test-friendly timers plus `extra` arguments, and waits until it
    /// printed its P-CSCF (the tunnel is up).
    pub fn start_client(&mut self, n: usize, extra: &[&str]) {
        let bin = binaries().client.display().to_string();
        let gateway = self.lab.gateway_outer().to_string();
        let socket = self.client_socket(n).display().to_string();
        let mut argv = vec![
            bin.as_str(),
            "--gateway",
            &gateway,
            "--status-socket",
            &socket,
            "--liveness-secs",
            "2",
            "--retransmit-initial-ms",
            "500",
            "--retransmit-tries",
            "3",
            "--reconnect-min-secs",
            "1",
            "--reconnect-max-secs",
            "2",
            "--log",
            "debug",
        ];
        argv.extend_from_slice(extra);
        let mut client = self
            .lab
            .spawn(Host::Client(n), &argv)
            .unwrap_or_else(|e| panic!("start client {n}: {e}"));
        client
            .wait_for_stdout("pcscf=", TUNNEL_UP)
            .unwrap_or_else(|e| panic!("client {n}: tunnel did not come up: {e}"));
        if let Some(slot) = self.clients.get_mut(n) {
            *slot = Some(client);
        }
    }

    /// What client `n` printed as `key=value` lines (`address`, `dns`, `pcscf`), latest last.
    pub fn client_printed(&self, n: usize, key: &str) -> Vec<String> {
        let prefix = format!("{key}=");
        self.clients
            .get(n)
            .and_then(Option::as_ref)
            .map(|c| {
                c.stdout()
                    .lines()
                    .filter_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Client `n`'s current virtual IP (the last one it printed).
    pub fn client_vip(&self, n: usize) -> Ipv4Addr {
        self.client_printed(n, "address")
            .last()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("client {n} printed no address"))
    }

    /// The gateway's status report.
    pub fn gateway_status(&self) -> StatusReport {
        let socket = self.lab.workdir().join("gateway.sock");
        self.status(Host::Gateway, &binaries().gateway, &socket)
    }

    /// Client `n`'s status report.
    pub fn client_status(&self, n: usize) -> StatusReport {
        self.status(Host::Client(n), &binaries().client, &self.client_socket(n))
    }

    fn status(&self, host: Host, bin: &Path, socket: &Path) -> StatusReport {
        let out = self
            .lab
            .exec_checked(
                host,
                &[
                    bin.as_os_str(),
                    "status".as_ref(),
                    "--json".as_ref(),
                    "--status-socket".as_ref(),
                    socket.as_os_str(),
                ],
            )
            .unwrap_or_else(|e| panic!("status in {host}: {e}"));
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("status JSON: {e}"))
    }

    /// Pings `to` from `from` (3 packets, must all come back... or at least one, per `lab::ping`).
    pub fn ping(&self, from: Host, to: IpAddr) -> bool {
        self.lab.ping(from, to, 3).unwrap_or(false)
    }

    /// Waits until `check` holds, up to `limit`; returns whether it did.
    // The harness measures real time (it waits for real processes); no engine runs here.
    #[allow(clippy::disallowed_methods)]
    pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        loop {
            if check() {
                return true;
            }
            if start.elapsed() >= limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The `ip` command's output in `host` (for route and link assertions).
    pub fn ip(&self, host: Host, args: &[&str]) -> String {
        let mut argv = vec!["ip"];
        argv.extend_from_slice(args);
        self.lab
            .exec_checked(host, &argv)
            .map(|o| o.stdout)
            .unwrap_or_else(|e| panic!("ip {args:?} in {host}: {e}"))
    }
}
