//! Programs run inside a namespace: one-shot commands with a time limit ([`NetnsCommand::run`])
//! and long-running ones owned by a [`ProcessGuard`] that kills them (and their children) on drop.
//!
//! Every program is started as `ip netns exec NS PROGRAM ...` in a process group of its own, so a
//! signal to the group also reaches whatever the program forked. Output goes to files in the lab's
//! work directory, never to pipes: nothing can block on a full pipe, and the files stay readable
//! for diagnostics after the program has died.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::workdir::WorkDir;

/// Time limit of [`NetnsCommand::run`] unless [`NetnsCommand::timeout`] sets another.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a [`ProcessGuard`] waits after SIGTERM before it sends SIGKILL on drop.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3);

/// A command to run inside one network namespace; built by `Lab::command`.
#[derive(Debug)]
pub struct NetnsCommand<'a> {
    workdir: &'a WorkDir,
    netns: String,
    argv: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
}

/// The result of a finished one-shot command.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    /// The command line, space-joined (for messages).
    pub command: String,
    /// How the program exited.
    pub status: ExitStatus,
    /// Everything it wrote to stdout (lossy UTF-8).
    pub stdout: String,
    /// Everything it wrote to stderr (lossy UTF-8).
    pub stderr: String,
}

impl ExecOutput {
    /// Whether the program exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Turns a non-zero exit into [`Error::Command`] carrying stderr.
    pub fn check(self) -> Result<Self> {
        if self.success() {
            Ok(self)
        } else {
            Err(Error::Command {
                command: self.command,
                status: self.status.to_string(),
                stderr: self.stderr.trim().to_owned(),
            })
        }
    }
}

impl<'a> NetnsCommand<'a> {
    pub(crate) fn new<S: AsRef<std::ffi::OsStr>>(
        workdir: &'a WorkDir,
        netns: &str,
        argv: &[S],
    ) -> Self {
        NetnsCommand {
            workdir,
            netns: netns.to_owned(),
            argv: argv.iter().map(|a| a.as_ref().to_owned()).collect(),
            env: Vec::new(),
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets an environment variable for the program.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Feeds these bytes to the program's stdin (otherwise stdin is `/dev/null`).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Sets the time limit of [`NetnsCommand::run`]; the program is killed when it is exceeded.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = limit;
        self
    }

    fn display(&self) -> String {
        let words: Vec<String> = self
            .argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        format!("[{}] {}", self.netns, words.join(" "))
    }

    fn start(&self, tag: &str) -> Result<(Child, PathBuf, PathBuf)> {
        let command = self.display();
        let Some(program) = self.argv.first() else {
            return Err(Error::Invalid("empty command line".into()));
        };
        let base = Path::new(program)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = self.workdir.unique_stem(&format!("{tag}-{base}"));
        let out_path = self.workdir.path().join(format!("{stem}.out"));
        let err_path = self.workdir.path().join(format!("{stem}.err"));
        let create =
            |p: &Path| File::create(p).map_err(|e| Error::io(format!("create {}", p.display()), e));
        let stdout = create(&out_path)?;
        let stderr = create(&err_path)?;
        let stdin = match &self.stdin {
            Some(bytes) => {
                let in_path = self.workdir.path().join(format!("{stem}.in"));
                std::fs::write(&in_path, bytes)
                    .map_err(|e| Error::io(format!("write {}", in_path.display()), e))?;
                let file = File::open(&in_path)
                    .map_err(|e| Error::io(format!("open {}", in_path.display()), e))?;
                // The open descriptor keeps the bytes readable for the program.
                let _ = std::fs::remove_file(&in_path);
                Stdio::from(file)
            }
            None => Stdio::null(),
        };
        let mut cmd = Command::new("ip");
        cmd.arg("netns")
            .arg("exec")
            .arg(&self.netns)
            .args(&self.argv)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|source| Error::Spawn { command, source })?;
        Ok((child, out_path, err_path))
    }

    /// Runs the program to completion (or until the time limit) and returns its output. A
    /// non-zero exit is not an error here; use [`ExecOutput::check`] for that.
    pub fn run(self) -> Result<ExecOutput> {
        let command = self.display();
        let (mut child, out_path, err_path) = self.start("run")?;
        let status = match wait_with_limit(&mut child, self.timeout)
            .map_err(|e| Error::io(format!("wait for {command}"), e))?
        {
            Some(status) => status,
            None => {
                kill_group(&child, Signal::SIGKILL);
                let _ = child.wait();
                return Err(Error::Timeout {
                    command,
                    limit: self.timeout,
                });
            }
        };
        let stdout = read_lossy(&out_path);
        let stderr = read_lossy(&err_path);
        for path in [&out_path, &err_path] {
            let _ = std::fs::remove_file(path);
        }
        Ok(ExecOutput {
            command,
            status,
            stdout,
            stderr,
        })
    }

    /// Runs the program and fails unless it exits with status 0.
    pub fn run_checked(self) -> Result<ExecOutput> {
        self.run()?.check()
    }

    /// Starts the program in the background; the returned guard kills it on drop.
    pub fn spawn(self) -> Result<ProcessGuard> {
        let command = self.display();
        let (child, stdout, stderr) = self.start("bg")?;
        tracing::debug!(pid = child.id(), %command, "spawned");
        Ok(ProcessGuard {
            child,
            command,
            stdout,
            stderr,
            exited: None,
        })
    }
}

/// A background program inside a lab namespace. Dropping the guard sends SIGTERM to its process
/// group, waits up to [`DEFAULT_GRACE`], then sends SIGKILL and reaps it.
#[derive(Debug)]
pub struct ProcessGuard {
    child: Child,
    command: String,
    stdout: PathBuf,
    stderr: PathBuf,
    exited: Option<ExitStatus>,
}

impl ProcessGuard {
    /// The program's pid (also its process-group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The command line, for messages.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The file receiving the program's stdout.
    pub fn stdout_path(&self) -> &Path {
        &self.stdout
    }

    /// The file receiving the program's stderr.
    pub fn stderr_path(&self) -> &Path {
        &self.stderr
    }

    /// What the program has written to stdout so far (lossy UTF-8).
    pub fn stdout(&self) -> String {
        read_lossy(&self.stdout)
    }

    /// What the program has written to stderr so far (lossy UTF-8).
    pub fn stderr(&self) -> String {
        read_lossy(&self.stderr)
    }

    /// Waits until `needle` appears in the program's stdout or stderr (for example a daemon's
    /// "ready" line), or fails after about `limit` or when the program exits first.
    pub fn wait_for_output(&mut self, needle: &str, limit: Duration) -> Result<()> {
        self.wait_until_printed(needle, limit, |p| {
            p.stdout().contains(needle) || p.stderr().contains(needle)
        })
    }

    /// Like [`Self::wait_for_output`], but only stdout counts: for what a program prints as its
    /// result when its log on stderr may name the same key earlier.
    pub fn wait_for_stdout(&mut self, needle: &str, limit: Duration) -> Result<()> {
        self.wait_until_printed(needle, limit, |p| p.stdout().contains(needle))
    }

    fn wait_until_printed(
        &mut self,
        needle: &str,
        limit: Duration,
        printed: impl Fn(&Self) -> bool,
    ) -> Result<()> {
        let step = Duration::from_millis(20);
        let mut waited = Duration::ZERO;
        loop {
            if printed(self) {
                return Ok(());
            }
            if let Some(status) = self.try_status()? {
                return Err(Error::Check(format!(
                    "`{}` exited ({status}) before printing {needle:?}; stderr: {}",
                    self.command,
                    self.stderr().trim()
                )));
            }
            if waited >= limit {
                return Err(Error::WaitTimeout {
                    what: format!("{needle:?} from `{}`", self.command),
                    limit,
                });
            }
            std::thread::sleep(step);
            waited += step;
        }
    }

    /// CPU time the program has used so far (user + system, all its threads), from
    /// `/proc/<pid>/stat`; `None` once it has been reaped.
    pub fn cpu_time(&mut self) -> Option<Duration> {
        if self.exited.is_some() {
            return None;
        }
        cpu_time_of(self.child.id())
    }

    /// The program's resident memory in bytes (`VmRSS` of `/proc/<pid>/status`); `None` once it
    /// has been reaped.
    pub fn resident_memory(&mut self) -> Option<u64> {
        if self.exited.is_some() {
            return None;
        }
        resident_memory_of(self.child.id())
    }

    /// The exit status if the program has exited, without waiting.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>> {
        if self.exited.is_none() {
            self.exited = self
                .child
                .try_wait()
                .map_err(|e| Error::io(format!("wait for {}", self.command), e))?;
        }
        Ok(self.exited)
    }

    /// Whether the program is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.try_status(), Ok(None))
    }

    /// Waits up to `limit` for the program to exit by itself.
    pub fn wait_timeout(&mut self, limit: Duration) -> Result<Option<ExitStatus>> {
        if self.exited.is_none() {
            self.exited = wait_with_limit(&mut self.child, limit)
                .map_err(|e| Error::io(format!("wait for {}", self.command), e))?;
        }
        Ok(self.exited)
    }

    /// Sends `signal` to the program's process group (no-op once it has been reaped).
    pub fn signal(&mut self, signal: Signal) -> Result<()> {
        if self.exited.is_some() {
            return Ok(());
        }
        killpg(pgid(&self.child), signal).map_err(|e| {
            Error::io(
                format!("send {signal} to {}", self.command),
                std::io::Error::from(e),
            )
        })
    }

    /// Stops the program: SIGTERM to its group, up to `grace` to exit, then SIGKILL.
    pub fn terminate(&mut self, grace: Duration) -> Result<ExitStatus> {
        if let Some(status) = self.exited {
            return Ok(status);
        }
        kill_group(&self.child, Signal::SIGTERM);
        if let Some(status) = self.wait_timeout(grace)? {
            return Ok(status);
        }
        kill_group(&self.child, Signal::SIGKILL);
        let status = self
            .child
            .wait()
            .map_err(|e| Error::io(format!("wait for {}", self.command), e))?;
        self.exited = Some(status);
        Ok(status)
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        if let Err(e) = self.terminate(DEFAULT_GRACE) {
            tracing::warn!(command = %self.command, error = %e, "cannot stop lab process");
        }
    }
}

/// CPU time process `pid` has used so far (user + system, all its threads), from
/// `/proc/<pid>/stat`; `None` when there is no such process. For processes the lab did not start
/// itself (a daemon that reports its own pid); [`ProcessGuard::cpu_time`] for the ones it did.
pub fn cpu_time_of(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // utime and stime are fields 14 and 15, counted after the `)` closing the name.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    let per_sec = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
    let per_sec = u64::try_from(per_sec).ok().filter(|t| *t > 0)?;
    let ticks = user + system;
    Some(
        Duration::from_secs(ticks / per_sec)
            + Duration::from_secs_f64((ticks % per_sec) as f64 / per_sec as f64),
    )
}

/// Resident memory of process `pid` in bytes (`VmRSS` of `/proc/<pid>/status`); `None` when
/// there is no such process.
pub fn resident_memory_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

fn pgid(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX))
}

/// Signals the child's process group. Only called while the child is not yet reaped, so the
/// group id cannot have been reused.
fn kill_group(child: &Child, signal: Signal) {
    let _ = killpg(pgid(child), signal);
}

/// Polls `child` until it exits or about `limit` has passed (the sum of the sleeps; the lab reads
/// no clock).
pub(crate) fn wait_with_limit(
    child: &mut Child,
    limit: Duration,
) -> std::io::Result<Option<ExitStatus>> {
    let mut waited = Duration::ZERO;
    let mut step = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if waited >= limit {
            return Ok(None);
        }
        std::thread::sleep(step);
        waited += step;
        step = (step * 2).min(Duration::from_millis(50));
    }
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
