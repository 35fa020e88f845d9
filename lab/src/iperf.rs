//! iperf3 inside the lab: a server guard, a client runner, and the parser for `iperf3 -J`
//! output. (`-J` is never combined with `-f`: iperf3 then prints broken JSON.)

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::process::ProcessGuard;
use crate::topology::{Host, Lab};

/// iperf3's usual port.
pub const IPERF3_PORT: u16 = 5201;

/// What an iperf3 client run should do.
#[derive(Debug, Clone, PartialEq)]
pub struct IperfOptions {
    /// The server's address.
    pub server: IpAddr,
    /// The server's port.
    pub port: u16,
    /// How long to send.
    pub duration: Duration,
    /// Server sends, client receives (`-R`).
    pub reverse: bool,
    /// Parallel streams (`-P`).
    pub streams: u32,
    /// UDP at this offered rate in bit/s (`-u -b`); `None` means TCP.
    pub udp_bitrate: Option<u64>,
    /// Buffer / datagram length in bytes (`-l`).
    pub length: Option<usize>,
}

impl IperfOptions {
    /// A 3-second single-stream TCP test towards `server` on the default port.
    pub fn tcp(server: IpAddr) -> Self {
        IperfOptions {
            server,
            port: IPERF3_PORT,
            duration: Duration::from_secs(3),
            reverse: false,
            streams: 1,
            udp_bitrate: None,
            length: None,
        }
    }

    /// The iperf3 client arguments for these options.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "iperf3".to_owned(),
            "-J".to_owned(),
            "-c".to_owned(),
            self.server.to_string(),
            "-p".to_owned(),
            self.port.to_string(),
            "-t".to_owned(),
            self.duration.as_secs().max(1).to_string(),
            "-P".to_owned(),
            self.streams.max(1).to_string(),
        ];
        if self.reverse {
            args.push("-R".to_owned());
        }
        if let Some(rate) = self.udp_bitrate {
            args.extend(["-u".to_owned(), "-b".to_owned(), rate.to_string()]);
        }
        if let Some(len) = self.length {
            args.extend(["-l".to_owned(), len.to_string()]);
        }
        args
    }
}

/// The figures of one iperf3 run (from its `end` summary).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IperfReport {
    /// Throughput seen by the receiver, bit/s.
    pub received_bits_per_second: f64,
    /// Throughput offered by the sender, bit/s.
    pub sent_bits_per_second: f64,
    /// Bytes the receiver got.
    pub received_bytes: u64,
    /// TCP retransmissions by the sender (TCP only).
    pub retransmits: Option<u64>,
    /// UDP datagrams lost (UDP only).
    pub lost_packets: Option<u64>,
    /// UDP datagrams sent (UDP only).
    pub packets: Option<u64>,
    /// UDP loss in percent (UDP only).
    pub lost_percent: Option<f64>,
    /// UDP jitter in milliseconds (UDP only).
    pub jitter_ms: Option<f64>,
}

/// Parses the JSON that `iperf3 -J` prints on the client side.
pub fn parse_iperf3_json(json: &str) -> Result<IperfReport> {
    let bad = |reason: String| Error::Parse {
        command: "iperf3 -J".into(),
        reason,
    };
    let root: Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    if let Some(error) = root.get("error").and_then(Value::as_str) {
        return Err(bad(format!("iperf3 reported: {error}")));
    }
    let end = root
        .get("end")
        .ok_or_else(|| bad("no `end` summary".into()))?;
    let sent = end
        .get("sum_sent")
        .or_else(|| end.get("sum"))
        .ok_or_else(|| bad("no `sum_sent`".into()))?;
    let received = end
        .get("sum_received")
        .or_else(|| end.get("sum"))
        .ok_or_else(|| bad("no `sum_received`".into()))?;
    let f = |v: &Value, key: &str| v.get(key).and_then(Value::as_f64);
    let u = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64);
    let udp = received.get("lost_packets").is_some();
    Ok(IperfReport {
        received_bits_per_second: f(received, "bits_per_second")
            .ok_or_else(|| bad("no receiver bits_per_second".into()))?,
        sent_bits_per_second: f(sent, "bits_per_second")
            .ok_or_else(|| bad("no sender bits_per_second".into()))?,
        received_bytes: u(received, "bytes").unwrap_or(0),
        retransmits: u(sent, "retransmits"),
        lost_packets: if udp {
            u(received, "lost_packets")
        } else {
            None
        },
        packets: if udp { u(received, "packets") } else { None },
        lost_percent: if udp {
            f(received, "lost_percent")
        } else {
            None
        },
        jitter_ms: if udp { f(received, "jitter_ms") } else { None },
    })
}

impl Lab {
    /// Starts `iperf3 -s` on `port` in `host` and waits until it listens.
    pub fn iperf3_server(&self, host: Host, port: u16) -> Result<ProcessGuard> {
        let guard = self.spawn(host, &["iperf3", "-s", "-p", &port.to_string()])?;
        self.wait_for_tcp_listener(host, port, Duration::from_secs(10))?;
        Ok(guard)
    }

    /// Runs an iperf3 client in `host` and returns its figures. The run is bounded by the test
    /// duration plus 20 seconds.
    pub fn iperf3_client(&self, host: Host, options: &IperfOptions) -> Result<IperfReport> {
        let out = self
            .command(host, &options.args())?
            .timeout(options.duration + Duration::from_secs(20))
            .run()?;
        parse_iperf3_json(&out.stdout).map_err(|e| match e {
            Error::Parse { reason, .. } => Error::Parse {
                command: out.command.clone(),
                reason: format!("{reason}; stderr: {}", out.stderr.trim()),
            },
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = r#"{"start":{},"intervals":[],"end":{
        "sum_sent":{"bytes":2624061440,"bits_per_second":20991903746.6951,"retransmits":3,"sender":true},
        "sum_received":{"bytes":2620129280,"bits_per_second":20932126972.65077,"sender":true}}}"#;
    const UDP: &str = r#"{"start":{},"intervals":[],"end":{
        "sum":{"bytes":1277952,"bits_per_second":10222675.5,"jitter_ms":0.008,"lost_packets":0,"packets":39,"lost_percent":0,"sender":true},
        "sum_sent":{"bytes":1277952,"bits_per_second":10222675.5,"jitter_ms":0,"lost_packets":0,"packets":39,"lost_percent":0,"sender":true},
        "sum_received":{"bytes":1277000,"bits_per_second":10066141.2,"jitter_ms":0.02,"lost_packets":2,"packets":39,"lost_percent":5.1,"sender":false}}}"#;

    #[test]
    fn parses_tcp_summary() {
        let r = parse_iperf3_json(TCP).unwrap();
        assert_eq!(r.retransmits, Some(3));
        assert_eq!(r.received_bytes, 2_620_129_280);
        assert!((r.received_bits_per_second - 20_932_126_972.65).abs() < 1.0);
        assert_eq!(r.lost_packets, None);
    }

    #[test]
    fn parses_udp_receiver_side() {
        let r = parse_iperf3_json(UDP).unwrap();
        assert_eq!(r.lost_packets, Some(2));
        assert_eq!(r.packets, Some(39));
        assert_eq!(r.lost_percent, Some(5.1));
        assert_eq!(r.jitter_ms, Some(0.02));
    }

    #[test]
    fn reports_iperf_errors_and_garbage() {
        let e = parse_iperf3_json(r#"{"start":{},"end":{},"error":"unable to connect to server"}"#);
        assert!(
            matches!(e, Err(Error::Parse { reason, .. }) if reason.contains("unable to connect"))
        );
        assert!(parse_iperf3_json("not json").is_err());
        assert!(parse_iperf3_json(r#"{"end":{}}"#).is_err());
    }

    #[test]
    fn udp_options_never_ask_for_a_format() {
        let mut o = IperfOptions::tcp("198.18.0.130".parse().unwrap());
        o.udp_bitrate = Some(100_000_000);
        o.reverse = true;
        let args = o.args();
        assert!(args.contains(&"-J".to_owned()) && args.contains(&"-u".to_owned()));
        assert!(args.contains(&"-R".to_owned()));
        assert!(!args.contains(&"-f".to_owned()));
    }
}
