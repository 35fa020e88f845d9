//! One strongSwan daemon (`charon` 5.9.8) inside a lab namespace, driven through `swanctl`.
//!
//! Each instance gets a directory in the lab's work directory that is bind-mounted over `/run`
//! inside the daemon's own mount namespace (`ip netns exec` gives every program one): charon's
//! compiled-in pid file, its VICI socket and its log land there, so several daemons run side by
//! side without touching the host. Its `strongswan.conf` is generated with an explicit plugin list
//! (nothing from `/etc` is read), with `kernel-libipsec` before `kernel-netlink`: this kernel has
//! no ESP, so strongSwan must use its userspace data path (a TUN device), and the first IPsec
//! backend registered wins.
//!
//! The daemon is stopped when the [`Charon`] is dropped (the lab's process guard sends SIGTERM,
//! then SIGKILL), and the lab deletes the namespace afterwards.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lab::{ExecOutput, Host, Lab, ProcessGuard};
use nix::sys::signal::Signal;

use crate::error::{Error, Result};
use crate::sas::{parse_list_sas, IkeSa};
use crate::swanctl_conf::SwanctlConf;

/// The daemon binary of the Debian packages.
pub const CHARON: &str = "/usr/lib/ipsec/charon";

/// How long charon may take to open its VICI socket.
const STARTUP_LIMIT: Duration = Duration::from_secs(10);

/// Plugins loaded by every instance, in load order. `kernel-libipsec` must precede
/// `kernel-netlink`; `resolve` makes a client ask for DNS servers (and writes them to
/// `/run/resolv.conf`, i.e. the instance directory).
const PLUGINS: &str = "random nonce openssl aes sha1 sha2 hmac gcm chapoly curve25519 x509 pem \
                       pkcs1 pubkey kdf attr resolve kernel-libipsec kernel-netlink socket-default \
                       updown vici";

/// Daemon-wide settings that scenarios change.
#[derive(Debug, Clone, PartialEq)]
pub struct CharonOptions {
    /// First IKE retransmission timeout (`charon.retransmit_timeout`).
    pub retransmit_timeout: Duration,
    /// Retransmissions before giving up (`charon.retransmit_tries`).
    pub retransmit_tries: u32,
    /// Log level of the `ike` and `cfg` subsystems (1 shows every message with its payloads).
    pub ike_log_level: u8,
}

impl Default for CharonOptions {
    /// Short retransmissions (1 s, three tries, factor 1.4) so that failures show within
    /// seconds instead of strongSwan's default of minutes.
    fn default() -> Self {
        CharonOptions {
            retransmit_timeout: Duration::from_secs(1),
            retransmit_tries: 3,
            ike_log_level: 2,
        }
    }
}

impl CharonOptions {
    /// The `strongswan.conf` for an instance whose `/run` is its own directory.
    pub fn strongswan_conf(&self) -> String {
        format!(
            "charon {{\n  load = {PLUGINS}\n  install_routes = yes\n  install_virtual_ip = yes\n  \
             cisco_unity = no\n  retransmit_timeout = {timeout}\n  retransmit_tries = {tries}\n  \
             retransmit_base = 1.4\n  plugins {{\n    vici {{\n      socket = unix:///run/charon.vici\n    }}\n    \
             resolve {{\n      file = /run/resolv.conf\n    }}\n  }}\n  filelog {{\n    main {{\n      \
             path = /run/charon.log\n      time_format = %T\n      time_add_ms = yes\n      \
             ike_name = yes\n      flush_line = yes\n      default = 1\n      ike = {level}\n      \
             cfg = {level}\n      net = 1\n    }}\n  }}\n}}\n",
            timeout = self.retransmit_timeout.as_secs_f64(),
            tries = self.retransmit_tries,
            level = self.ike_log_level,
        )
    }
}

/// A running charon inside one lab host.
#[derive(Debug)]
pub struct Charon<'lab> {
    lab: &'lab Lab,
    host: Host,
    dir: PathBuf,
    process: ProcessGuard,
    loads: u32,
}

impl<'lab> Charon<'lab> {
    /// Starts charon in `host`'s namespace with its own directory `charon-<name>` in the lab's
    /// work directory, and waits until its VICI socket answers.
    pub fn start(lab: &'lab Lab, host: Host, name: &str, options: &CharonOptions) -> Result<Self> {
        let dir = lab.workdir().join(format!("charon-{name}"));
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let conf = dir.join("strongswan.conf");
        std::fs::write(&conf, options.strongswan_conf())
            .map_err(|e| Error::io(format!("write {}", conf.display()), e))?;
        let script = format!(
            "mount --bind '{}' /run && exec env STRONGSWAN_CONF='{}' {CHARON}",
            dir.display(),
            conf.display()
        );
        let process = lab.spawn(host, &["sh", "-c", &script])?;
        let mut charon = Charon {
            lab,
            host,
            dir,
            process,
            loads: 0,
        };
        charon.wait_until_ready()?;
        Ok(charon)
    }

    fn wait_until_ready(&mut self) -> Result<()> {
        let step = Duration::from_millis(50);
        let mut waited = Duration::ZERO;
        loop {
            if self.dir.join("charon.vici").exists() && self.swanctl(&["--stats"]).is_ok() {
                return Ok(());
            }
            if !self.process.is_running() {
                return Err(Error::Strongswan(format!(
                    "charon exited at start: {}{}",
                    self.process.stderr(),
                    self.log()
                )));
            }
            if waited >= STARTUP_LIMIT {
                return Err(Error::Strongswan(format!(
                    "charon's VICI socket did not answer within {STARTUP_LIMIT:?}"
                )));
            }
            std::thread::sleep(step);
            waited += step;
        }
    }

    /// The lab host charon runs in.
    pub fn host(&self) -> Host {
        self.host
    }

    /// The instance directory (charon's `/run`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `--uri` that reaches this instance's VICI socket.
    pub fn uri(&self) -> String {
        format!("unix://{}", self.dir.join("charon.vici").display())
    }

    /// Everything charon has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("charon.log")).unwrap_or_default()
    }

    /// The DNS servers strongSwan's `resolve` plugin received (client role).
    pub fn resolv_conf(&self) -> String {
        std::fs::read_to_string(self.dir.join("resolv.conf")).unwrap_or_default()
    }

    /// Waits until `needle` appears in charon's log.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> Result<()> {
        wait_until(limit, &format!("{needle:?} in charon's log"), || {
            Ok(self.log().contains(needle))
        })
    }

    /// Runs `swanctl ARGS --uri <this instance>` with `limit` and returns its output whatever its
    /// exit status.
    pub fn swanctl_with_limit(&self, args: &[&str], limit: Duration) -> Result<ExecOutput> {
        let uri = self.uri();
        let mut argv: Vec<&OsStr> = vec![OsStr::new("swanctl")];
        argv.extend(args.iter().map(OsStr::new));
        argv.extend([OsStr::new("--uri"), OsStr::new(&uri)]);
        Ok(self.lab.command(self.host, &argv)?.timeout(limit).run()?)
    }

    /// Runs `swanctl ARGS` and fails unless it exits with 0.
    pub fn swanctl(&self, args: &[&str]) -> Result<ExecOutput> {
        let out = self.swanctl_with_limit(args, Duration::from_secs(20))?;
        if out.success() {
            Ok(out)
        } else {
            Err(Error::Strongswan(format!(
                "`{}` failed: {}{}",
                out.command,
                out.stdout.trim(),
                out.stderr.trim()
            )))
        }
    }

    /// Loads `conf` (connections, pools, secrets), replacing whatever was loaded before.
    pub fn load(&mut self, conf: &SwanctlConf) -> Result<()> {
        self.loads += 1;
        let path = self.dir.join(format!("swanctl-{}.conf", self.loads));
        std::fs::write(&path, conf.render())
            .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
        let file = path.display().to_string();
        let out = self.swanctl(&["--load-all", "--noprompt", "--clear", "--file", &file])?;
        let failed = out
            .stdout
            .lines()
            .chain(out.stderr.lines())
            .find(|l| l.contains("failed") && !l.contains("opening directory"));
        match failed {
            Some(line) => Err(Error::Strongswan(format!("loading {file}: {line}"))),
            None => Ok(()),
        }
    }

    /// Initiates CHILD `child` of connection `ike` and waits for the result (up to `limit`).
    /// The output is returned whether it succeeded or not; see [`Initiated::succeeded`].
    pub fn initiate(&self, ike: &str, child: &str, limit: Duration) -> Result<Initiated> {
        let secs = limit.as_secs().max(1).to_string();
        let out = self.swanctl_with_limit(
            &[
                "--initiate",
                "--ike",
                ike,
                "--child",
                child,
                "--timeout",
                &secs,
            ],
            limit + Duration::from_secs(5),
        )?;
        Ok(Initiated { output: out })
    }

    /// Deletes IKE SA `ike` (with its CHILD SAs) by an INFORMATIONAL exchange.
    pub fn terminate_ike(&self, ike: &str) -> Result<()> {
        self.swanctl(&["--terminate", "--ike", ike, "--timeout", "10"])
            .map(drop)
    }

    /// Rekeys the CHILD SAs of config `child`.
    pub fn rekey_child(&self, child: &str) -> Result<()> {
        self.swanctl(&["--rekey", "--child", child]).map(drop)
    }

    /// Rekeys the IKE SAs of connection `ike`.
    pub fn rekey_ike(&self, ike: &str) -> Result<()> {
        self.swanctl(&["--rekey", "--ike", ike]).map(drop)
    }

    /// strongSwan's current SAs.
    pub fn list_sas(&self) -> Result<Vec<IkeSa>> {
        let out = self.swanctl(&["--list-sas", "--raw"])?;
        parse_list_sas(&out.stdout).map_err(|e| Error::Parse {
            what: "swanctl --list-sas --raw".into(),
            reason: format!("{e}; output: {}", out.stdout),
        })
    }

    /// Waits until some IKE SA is established with at least `children` installed CHILD SAs,
    /// and returns the SA list at that moment.
    pub fn wait_for_established(&self, children: usize, limit: Duration) -> Result<Vec<IkeSa>> {
        let mut last = Vec::new();
        wait_until(limit, "an established IKE SA in strongSwan", || {
            last = self.list_sas()?;
            Ok(last
                .iter()
                .any(|sa| sa.is_established() && sa.installed_children().count() >= children))
        })?;
        Ok(last)
    }

    /// Waits until strongSwan holds no IKE SA at all.
    pub fn wait_for_no_sas(&self, limit: Duration) -> Result<()> {
        wait_until(limit, "strongSwan to drop every IKE SA", || {
            Ok(self.list_sas()?.is_empty())
        })
    }

    /// Kills the daemon outright (SIGKILL): no Delete is sent, as if the host had died.
    pub fn kill(&mut self) -> Result<()> {
        self.process.signal(Signal::SIGKILL)?;
        self.process
            .wait_timeout(Duration::from_secs(5))?
            .ok_or_else(|| Error::Strongswan("charon survived SIGKILL".into()))
            .map(drop)
    }
}

/// The result of `swanctl --initiate`.
#[derive(Debug, Clone)]
pub struct Initiated {
    /// swanctl's output: the daemon's log lines for this exchange, then the verdict.
    pub output: ExecOutput,
}

impl Initiated {
    /// Whether swanctl reported success.
    pub fn succeeded(&self) -> bool {
        self.output.success()
            && self
                .output
                .stdout
                .contains("initiate completed successfully")
    }

    /// Everything swanctl printed.
    pub fn text(&self) -> String {
        format!("{}{}", self.output.stdout, self.output.stderr)
    }
}

/// Polls `check` every 100 ms until it holds or about `limit` has passed (counted in sleeps: the
/// harness reads no clock).
pub fn wait_until(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let step = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    loop {
        if check()? {
            return Ok(());
        }
        if waited >= limit {
            return Err(Error::Timeout {
                what: what.to_owned(),
                limit,
            });
        }
        std::thread::sleep(step);
        waited += step;
    }
}
