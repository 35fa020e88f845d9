//! The machine a run was made on: CPU model, core count, memory, kernel, load at the start, date,
//! and the versions of the external programs measured (so two reports can be compared
//! knowingly).

use serde::Serialize;

use crate::clock;

/// Facts about the machine and the run's start.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// `model name` of the first CPU in `/proc/cpuinfo`.
    pub cpu_model: String,
    /// CPUs this process may run on.
    pub cores: usize,
    /// Total memory, bytes (`MemTotal` of `/proc/meminfo`).
    pub memory_bytes: Option<u64>,
    /// The running kernel (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
    /// 1-, 5- and 15-minute load averages at the start (`/proc/loadavg`): how busy the shared
    /// machine was.
    pub load_average: String,
    /// Host name.
    pub hostname: String,
    /// Start of the run, RFC 3339 UTC.
    pub date: String,
    /// `iperf3 --version`, the line naming it.
    pub iperf3: String,
    /// `swanctl --version`, the line naming it.
    pub strongswan: String,
    /// `boringtun-cli --version`.
    pub boringtun: String,
    /// This program's version.
    pub eseg_bench: String,
}

impl Machine {
    /// Reads the facts of this machine now.
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned());
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".to_owned())
        };
        let memory_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| mem_total_bytes(&m));
        let load_average = read("/proc/loadavg")
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        Machine {
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_bytes,
            kernel: read("/proc/sys/kernel/osrelease"),
            load_average,
            hostname: read("/proc/sys/kernel/hostname"),
            date: clock::rfc3339_utc(clock::unix_seconds()),
            iperf3: version_line(&["iperf3", "--version"], "iperf"),
            strongswan: version_line(&["swanctl", "--version"], "strongSwan"),
            boringtun: version_line(&["boringtun-cli", "--version"], "boringtun"),
            eseg_bench: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// The first line containing `needle` in what `argv` prints (stdout or stderr: `swanctl
/// --version` prints its version and then fails to reach a daemon).
fn version_line(argv: &[&str], needle: &str) -> String {
    let Some((program, args)) = argv.split_first() else {
        return String::new();
    };
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|out| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            text.lines()
                .find(|l| l.contains(needle))
                .map(|l| l.trim().to_owned())
        })
        .unwrap_or_else(|| "not installed".to_owned())
}

/// `MemTotal` of `/proc/meminfo` text, in bytes.
fn mem_total_bytes(meminfo: &str) -> Option<u64> {
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_memory_is_read_from_meminfo() {
        let text = "MemFree:  100 kB\nMemTotal:       8141564 kB\n";
        assert_eq!(mem_total_bytes(text), Some(8_141_564 * 1024));
        assert_eq!(mem_total_bytes("MemTotal: lots"), None);
        assert_eq!(mem_total_bytes(""), None);
    }
}
