//! The status interface both binaries offer: a unix socket that answers every connection with one
//! JSON [`StatusReport`] and closes, plus the client side (`eseg-gateway status`,
//! `eseg-client status`) that fetches a report and prints it as a table or as JSON.
//!
//! The control task owns the state, so the listener does not read it directly: for each connection
//! it sends a [`StatusRequest`] to the control task and writes back whatever report it gets.

use std::fmt::Write as _;
use std::io::{self, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt as _;
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Largest report `query` accepts. A report is about 400 bytes per IKE SA with one CHILD SA, so
/// this leaves room for a million SAs (100k SAs make about 40 MB).
const MAX_REPORT_LEN: u64 = 512 * 1024 * 1024;

/// How long a status client waits for the next bytes of the report, and how long the daemon
/// keeps writing one report to a client. A report of 100k SAs is ~40 MB of JSON that the daemon
/// builds and serializes before the first byte goes out: a fraction of a second in a release
/// build, seconds in a debug build or on a busy machine. A stuck client only holds its own writer.
const REPORT_IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Reports written at once at most; a connection beyond that is closed unanswered, so clients
/// that never read cannot make the daemon hold more than this many reports (tens of MB each at
/// 100k SAs).
const MAX_REPORTS_IN_FLIGHT: usize = 4;

/// Everything the status command shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// `gateway` or `client`.
    pub role: String,
    /// Seconds since the program started.
    pub uptime_secs: u64,
    /// One entry per IKE SA.
    pub ike_sas: Vec<IkeSaStatus>,
    /// Packets the data plane dropped outside any SA's counters (unknown SPI, no route,
    /// malformed, forbidden destination).
    pub unmatched_drops: u64,
    /// Of those, decrypted packets whose destination the policy forbids (client to client).
    pub forbidden_destination_drops: u64,
    /// The TPKT' transport's connection counters (all zero without TCP).
    #[serde(default)]
    pub tcp: TcpStatus,
}

/// What the TPKT' transport did with connections: opened, refused at accept, closed for cause.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpStatus {
    /// Connections accepted or opened.
    pub opened: u64,
    /// Refused because `max_connections` were open.
    pub refused_over_limit: u64,
    /// Refused because `max_connections_per_source` were open from their source.
    pub refused_per_source: u64,
    /// Closed because their first octets were not TPKT'.
    pub closed_not_tpkt: u64,
    /// Closed on a framing error.
    pub closed_bad_framing: u64,
    /// Closed without a complete frame in time.
    pub closed_idle: u64,
    /// Closed without IKE_SA_INIT completed (or other proof) within the handshake timeout.
    pub closed_no_handshake: u64,
    /// Ended in the middle of a frame.
    pub closed_truncated: u64,
    /// Closed because the peer stopped reading.
    pub closed_stalled: u64,
}

/// One IKE SA.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IkeSaStatus {
    /// Our local handle for the SA.
    pub handle: u64,
    /// The peer's outer address and port.
    pub peer: String,
    /// Our outer address and port on the IKE SA's path (a client shows where it roamed to).
    #[serde(default)]
    pub local: String,
    /// The peer's identity.
    pub identity: String,
    /// Both ends negotiated MOBIKE (RFC 4555): the client announces its address changes.
    #[serde(default)]
    pub mobike: bool,
    /// Connection state, e.g. `established`.
    pub state: String,
    /// The virtual IP assigned to (gateway) or by (client) the peer.
    pub virtual_ip: Option<String>,
    /// Every inner address assigned (IPv4 first, then IPv6 on a dual-stack client).
    #[serde(default)]
    pub virtual_ips: Vec<String>,
    /// Seconds since the SA was established.
    pub established_secs: u64,
    /// Child SAs of this IKE SA.
    pub child_sas: Vec<ChildSaStatus>,
}

/// One Child SA pair with its counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildSaStatus {
    /// Inbound SPI (ours).
    pub spi_in: u32,
    /// Outbound SPI (the peer's).
    pub spi_out: u32,
    /// The ESP transform, e.g. `AES-GCM-16-256`.
    pub transform: String,
    /// Whether ESP travels in UDP (RFC 3948).
    pub udp_encapsulated: bool,
    /// Packets and bytes decrypted.
    pub packets_in: u64,
    /// Inner bytes decrypted.
    pub bytes_in: u64,
    /// Packets encrypted.
    pub packets_out: u64,
    /// Inner bytes encrypted.
    pub bytes_out: u64,
    /// Inbound packets that failed the ICV.
    pub dropped_auth: u64,
    /// Inbound packets refused as replays.
    pub dropped_replay: u64,
    /// Inbound packets whose inner addresses break the policy (spoofed source, forbidden
    /// destination).
    pub dropped_policy: u64,
}

/// One status request: the control task answers with a report on the enclosed channel.
pub type StatusRequest = oneshot::Sender<StatusReport>;

/// Binds the status socket at `path`: creates the parent directory, replaces a stale socket file,
/// and makes the socket readable by its owner only (counters and identities are not for everyone).
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Removes the socket file when dropped.
#[derive(Debug)]
pub struct SocketFileGuard(pub PathBuf);

impl Drop for SocketFileGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Answers status connections until the control task goes away.
pub async fn serve(listener: UnixListener, requests: mpsc::Sender<StatusRequest>) {
    let writers = Arc::new(Semaphore::new(MAX_REPORTS_IN_FLIGHT));
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let Ok(writer) = Arc::clone(&writers).try_acquire_owned() else {
            tracing::debug!(
                "status connection closed: {MAX_REPORTS_IN_FLIGHT} reports still being written"
            );
            continue;
        };
        let (tx, rx) = oneshot::channel();
        if requests.send(tx).await.is_err() {
            return;
        }
        let Ok(report) = rx.await else { return };
        let Ok(json) = serde_json::to_vec(&report) else {
            continue;
        };
        // Each report is written by its own task: a client that reads slowly or hangs up early
        // delays nobody else, and the next connection is served at once.
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REPORT_IO_TIMEOUT, stream.write_all(&json)).await;
            drop(writer);
        });
    }
}

/// Fetches one report from the socket at `path`.
pub fn query(path: &Path) -> io::Result<StatusReport> {
    let stream = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot connect to the status socket {} ({e}); is the daemon running in this \
                 network namespace with the same --status-socket?",
                path.display()
            ),
        )
    })?;
    stream.set_read_timeout(Some(REPORT_IO_TIMEOUT))?;
    let mut json = Vec::new();
    stream
        .take(MAX_REPORT_LEN)
        .read_to_end(&mut json)
        .map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the daemon sent no status for {} s (after {} bytes)",
                    REPORT_IO_TIMEOUT.as_secs(),
                    json.len()
                ),
            ),
            _ => e,
        })?;
    serde_json::from_slice(&json).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Renders a report as a fixed-width table, one line per Child SA (an IKE SA without Child SAs
/// gets one line with dashes).
pub fn render_table(report: &StatusReport) -> String {
    let header = [
        "PEER",
        "IDENTITY",
        "STATE",
        "VIRTUAL IP",
        "SPI IN",
        "SPI OUT",
        "PKTS IN",
        "BYTES IN",
        "PKTS OUT",
        "BYTES OUT",
        "DROPPED",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for sa in &report.ike_sas {
        let ike = [
            sa.peer.clone(),
            sa.identity.clone(),
            if sa.mobike {
                format!("{} (mobike)", sa.state)
            } else {
                sa.state.clone()
            },
            if sa.virtual_ips.is_empty() {
                sa.virtual_ip.clone().unwrap_or_else(|| "-".into())
            } else {
                sa.virtual_ips.join(",")
            },
        ];
        if sa.child_sas.is_empty() {
            let mut row = ike.to_vec();
            row.extend(std::iter::repeat_n(
                "-".to_string(),
                header.len() - ike.len(),
            ));
            rows.push(row);
        }
        for c in &sa.child_sas {
            let mut row = ike.to_vec();
            row.extend([
                format!("{:08x}", c.spi_in),
                format!("{:08x}", c.spi_out),
                c.packets_in.to_string(),
                c.bytes_in.to_string(),
                c.packets_out.to_string(),
                c.bytes_out.to_string(),
                (c.dropped_auth + c.dropped_replay + c.dropped_policy).to_string(),
            ]);
            rows.push(row);
        }
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, String::len))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!(
        "{} up {}s, {} IKE SA(s), {} unmatched packet(s) dropped\n",
        report.role,
        report.uptime_secs,
        report.ike_sas.len(),
        report.unmatched_drops
    );
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StatusReport {
        StatusReport {
            role: "gateway".into(),
            uptime_secs: 12,
            unmatched_drops: 3,
            forbidden_destination_drops: 1,
            tcp: TcpStatus::default(),
            ike_sas: vec![
                IkeSaStatus {
                    handle: 1,
                    peer: "198.18.0.10:4500".into(),
                    local: "198.18.0.1:4500".into(),
                    identity: "client.eseg.test".into(),
                    state: "established".into(),
                    mobike: true,
                    virtual_ip: Some("198.18.1.2".into()),
                    virtual_ips: vec!["198.18.1.2".into(), "2001:2:0:3::2".into()],
                    established_secs: 10,
                    child_sas: vec![ChildSaStatus {
                        spi_in: 0xc1,
                        spi_out: 0xdeadbeef,
                        transform: "AES-GCM-16-256".into(),
                        udp_encapsulated: true,
                        packets_in: 5,
                        bytes_in: 420,
                        packets_out: 6,
                        bytes_out: 504,
                        dropped_auth: 1,
                        dropped_replay: 0,
                        dropped_policy: 2,
                    }],
                },
                IkeSaStatus {
                    handle: 2,
                    peer: "198.18.0.11:500".into(),
                    state: "connecting".into(),
                    ..Default::default()
                },
            ],
        }
    }

    #[test]
    fn table_lists_every_sa_with_counters() {
        let table = render_table(&sample());
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[0].contains("2 IKE SA(s)") && lines[0].contains("3 unmatched"));
        assert!(lines[1].starts_with("PEER"));
        assert!(lines[2].contains("000000c1") && lines[2].contains("deadbeef"));
        assert!(lines[2].contains("established (mobike)"), "{table}");
        assert!(lines[2].contains("198.18.1.2,2001:2:0:3::2"), "{table}");
        assert!(!lines[3].contains("mobike"), "{table}");
        assert!(
            lines[2].trim_end().ends_with(" 3"),
            "dropped = 1 + 0 + 2: {}",
            lines[2]
        );
        assert!(lines[3].contains("connecting") && lines[3].contains(" - "));
    }

    /// Serves `report` on a fresh status socket and queries it.
    /// A status socket answering every connection with `report`, in a fresh directory.
    struct Served {
        path: PathBuf,
        dir: PathBuf,
    }

    impl Drop for Served {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn serve_report(report: StatusReport, tag: &str) -> Served {
        let dir =
            std::env::temp_dir().join(format!("eseg-status-test-{tag}-{}", std::process::id()));
        let path = dir.join("s.sock");
        let listener = bind(&path).unwrap();
        let (tx, mut rx) = mpsc::channel::<StatusRequest>(1);
        tokio::spawn(serve(listener, tx));
        tokio::spawn(async move {
            while let Some(reply) = rx.recv().await {
                let _ = reply.send(report.clone());
            }
        });
        Served { path, dir }
    }

    /// Serves `report` on a fresh status socket and queries it.
    async fn round_trip(report: StatusReport, tag: &str) -> StatusReport {
        let served = serve_report(report, tag);
        let path = served.path.clone();
        tokio::task::spawn_blocking(move || query(&path))
            .await
            .unwrap()
            .unwrap()
    }

    /// A report far larger than a unix socket's buffer, so its writer waits for the reader.
    fn large_report() -> StatusReport {
        let mut report = sample();
        let one = report.ike_sas.swap_remove(0);
        report.ike_sas = (0..10_000)
            .map(|handle| IkeSaStatus {
                handle,
                ..one.clone()
            })
            .collect();
        report
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn clients_that_never_read_hold_at_most_a_few_reports() {
        let served = serve_report(large_report(), "stuck");
        let path = served.path.clone();
        tokio::task::spawn_blocking(move || {
            let connect = || std::os::unix::net::UnixStream::connect(&path).unwrap();
            let stuck: Vec<_> = (0..MAX_REPORTS_IN_FLIGHT).map(|_| connect()).collect();
            // Served in order: the next connection finds every writer busy and is closed
            // unanswered.
            let mut refused = connect();
            refused
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let mut answer = Vec::new();
            refused.read_to_end(&mut answer).unwrap();
            assert!(answer.is_empty(), "{} bytes", answer.len());
            // Once the stuck clients go, their writers end and reports flow again.
            drop(stuck);
            let report = (0..100)
                .find_map(|_| {
                    query(&path).ok().or_else(|| {
                        std::thread::sleep(Duration::from_millis(50));
                        None
                    })
                })
                .expect("a report after the stuck clients left");
            assert_eq!(report.ike_sas.len(), 10_000);
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn socket_round_trip() {
        assert_eq!(round_trip(sample(), "small").await, sample());
    }

    #[tokio::test]
    async fn a_gateway_with_100k_sas_can_still_be_queried() {
        let mut report = sample();
        let one = report.ike_sas.swap_remove(0);
        report.ike_sas = (0..100_000)
            .map(|handle| IkeSaStatus {
                handle,
                ..one.clone()
            })
            .collect();
        let len = serde_json::to_vec(&report).unwrap().len() as u64;
        assert!(len > 16 << 20, "{len} bytes: larger than the old limit");
        let queried = round_trip(report, "large").await;
        assert_eq!(queried.ike_sas.len(), 100_000);
        assert_eq!(queried.ike_sas.last().map(|s| s.handle), Some(99_999));
    }
}
