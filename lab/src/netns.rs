//! Network namespaces owned by the lab: creation, deletion (after killing every process inside),
//! running a closure on a thread that has entered one, and reclaiming namespaces left behind by a
//! process that was killed before it could clean up.
//!
//! Names are `esl-<pid>-<seq>-<role>`: the pid of the process that made the namespace, a
//! per-process counter, and the host's role. A namespace whose pid no longer exists is stale.

use std::fs::File;
use std::process::Command;
use std::sync::{Mutex, Once};

use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// Every lab namespace name starts with this.
pub const NAME_PREFIX: &str = "esl-";

/// Where iproute2 keeps named namespaces.
const NETNS_DIR: &str = "/run/netns";

/// `ip netns add` mounts `/run/netns` on first use; concurrent first uses can race, so the
/// process creates its namespaces one at a time.
static CREATE_LOCK: Mutex<()> = Mutex::new(());

/// A named network namespace, deleted (with every process in it killed) on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace `name` and brings its loopback up.
    pub(crate) fn create(name: String) -> Result<Self> {
        {
            let _serial = CREATE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
            run_ip(&["netns", "add", &name])?;
        }
        let ns = Netns { name };
        run_ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (as `ip netns` knows it).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        destroy(&self.name);
    }
}

/// Kills every process in the namespace and deletes it. Errors are logged, not returned: this
/// runs from `Drop`.
fn destroy(name: &str) {
    for pid in pids_in(name) {
        let _ = kill(pid, Signal::SIGKILL);
    }
    if let Err(e) = run_ip(&["netns", "del", name]) {
        tracing::warn!(netns = name, error = %e, "cannot delete lab namespace");
    }
}

fn pids_in(name: &str) -> Vec<Pid> {
    let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.parse::<i32>().ok())
        .map(Pid::from_raw)
        .collect()
}

/// Runs `ip ARGS` in the current (root) namespace context; used only for `netns` management
/// and for `-n NS` commands that act inside a lab namespace.
pub(crate) fn run_ip(args: &[&str]) -> Result<()> {
    let command = format!("ip {}", args.join(" "));
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|source| Error::Spawn {
            command: command.clone(),
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Command {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Runs `f` on a fresh thread that has entered the network namespace `name`, and returns its
/// result. Sockets and TUN devices created by `f` belong to that namespace for their whole life,
/// whichever thread uses them afterwards. A panic in `f` is propagated to the caller.
pub fn run_in<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
    let path = format!("{NETNS_DIR}/{name}");
    let file = File::open(&path).map_err(|e| Error::io(format!("open {path}"), e))?;
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || {
            nix::sched::setns(&file, CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::io(format!("enter {path}"), std::io::Error::from(e)))?;
            Ok(f())
        });
        match worker.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Deletes lab namespaces whose creating process is gone. Runs once per process.
pub(crate) fn reclaim_stale_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        reclaim_stale();
    });
}

/// Deletes every lab namespace whose creating process no longer exists (killing whatever still
/// runs inside) and returns how many it removed. Labs call this once per process by themselves.
pub fn reclaim_stale() -> usize {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if !owner_alive(pid, created_secs(&entry.path())) {
            tracing::info!(netns = %name, pid, "reclaiming stale lab namespace");
            destroy(&name);
            removed += 1;
        }
    }
    removed
}

/// The pid encoded in a lab namespace name, `None` for names that are not the lab's.
pub(crate) fn owner_pid(name: &str) -> Option<i32> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok()
}

/// Whether the process that created the namespace at `path` still runs: a process with that pid
/// exists, is a process (not a thread of another one: thread ids share the pid space), and
/// started no later than the namespace was made, `created` (otherwise the pid was reused). Boot
/// time and start ticks are coarse, so "no later" allows two seconds.
fn owner_alive(pid: i32, created: Option<u64>) -> bool {
    if !process_exists(pid) {
        return false;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let is_leader = status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse::<i32>().ok())
        .is_none_or(|tgid| tgid == pid);
    if !is_leader {
        return false;
    }
    match (process_start_secs(pid), created) {
        (Some(started), Some(created)) => started <= created + 2,
        _ => true,
    }
}

/// When the process started, in seconds since the epoch (from `/proc`).
fn process_start_secs(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 (starttime, clock ticks since boot) counted after the `)` closing the name.
    let after_name = stat.rsplit_once(')')?.1;
    let ticks: u64 = after_name.split_whitespace().nth(19)?.parse().ok()?;
    let boot: u64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let per_sec = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
    Some(boot + ticks / u64::try_from(per_sec).ok().filter(|t| *t > 0)?)
}

/// When the namespace file was made, in seconds since the epoch.
fn created_secs(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    u64::try_from(std::fs::metadata(path).ok()?.mtime()).ok()
}

fn process_exists(pid: i32) -> bool {
    match kill(Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(errno) => errno != nix::errno::Errno::ESRCH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid that certainly belongs to no process: a child that has exited and been reaped.
    fn dead_pid() -> i32 {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        child.wait().unwrap();
        assert!(!process_exists(pid));
        pid
    }

    #[test]
    fn stale_namespaces_of_dead_processes_are_reclaimed_and_live_ones_kept() {
        let stale = format!("{NAME_PREFIX}{}-0-gw", dead_pid());
        let live = Netns::create(format!("{NAME_PREFIX}{}-990-gw", std::process::id())).unwrap();
        run_ip(&["netns", "add", &stale]).unwrap();
        let sleeper = Command::new("ip")
            .args(["netns", "exec", &stale, "sleep", "100"])
            .spawn()
            .unwrap();
        // Only once the sleeper has entered the namespace can reclaiming find it there.
        for _ in 0..500 {
            if !pids_in(&stale).is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            !pids_in(&stale).is_empty(),
            "the sleeper never entered {stale}"
        );
        assert!(reclaim_stale() >= 1);
        let exists = |n: &str| std::path::Path::new(NETNS_DIR).join(n).exists();
        assert!(!exists(&stale), "stale namespace kept");
        // This process made `live` and is still running, so it is its owner.
        let own_pid = i32::try_from(std::process::id()).unwrap();
        let live_path = std::path::Path::new(NETNS_DIR).join(live.name());
        assert!(owner_alive(own_pid, created_secs(&live_path)));
        assert!(exists(live.name()), "live namespace removed");
        let mut sleeper = sleeper;
        let status = sleeper.wait().unwrap();
        assert!(
            !status.success(),
            "the process inside the stale namespace was not killed"
        );
    }

    #[test]
    fn a_process_started_after_the_namespace_is_not_its_owner() {
        let mut later = Command::new("sleep").arg("5").spawn().unwrap();
        let later_pid = i32::try_from(later.id()).unwrap();
        // A namespace "made" at the epoch: every running process started after it.
        assert!(!owner_alive(later_pid, Some(0)));
        assert!(owner_alive(later_pid, None));
        later.kill().unwrap();
        later.wait().unwrap();
    }

    #[test]
    fn owner_pid_parses_only_lab_names() {
        assert_eq!(owner_pid("esl-1234-7-gw"), Some(1234));
        assert_eq!(owner_pid("esl-1234"), None);
        assert_eq!(owner_pid("other-1234-7-gw"), None);
        assert_eq!(owner_pid("esl-x-7-gw"), None);
    }
}
