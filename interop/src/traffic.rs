//! Traffic through a tunnel while something happens to it (a rekey, a peer's death): a steady
//! `ping` whose replies are counted per sequence number, so a test can state "no gap longer than
//! one lost packet" without reading a clock.

use std::net::IpAddr;
use std::time::Duration;

use lab::{Host, IperfOptions, Lab, ProcessGuard, IPERF3_PORT};

use crate::error::{Error, Result};

/// A `ping` running in the background.
#[derive(Debug)]
pub struct PingRun {
    process: ProcessGuard,
    count: u32,
    interval: Duration,
}

/// What a finished [`PingRun`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingReport {
    /// Echo requests sent.
    pub sent: u32,
    /// Sequence numbers that got a reply.
    pub replied: Vec<u32>,
    /// The longest run of consecutive sequence numbers without a reply.
    pub longest_gap: u32,
}

impl PingReport {
    /// Reads ping's output (`-n`, one line per reply with `icmp_seq=N`) for `sent` requests
    /// numbered from 1.
    pub fn parse(output: &str, sent: u32) -> Self {
        let mut replied: Vec<u32> = output
            .lines()
            .filter_map(|l| {
                let rest = l.split("icmp_seq=").nth(1)?;
                rest.split_whitespace().next()?.parse().ok()
            })
            .filter(|seq| (1..=sent).contains(seq))
            .collect();
        replied.sort_unstable();
        replied.dedup();
        let mut longest_gap = 0;
        let mut previous = 0;
        for &seq in replied.iter().chain(std::iter::once(&(sent + 1))) {
            longest_gap = longest_gap.max(seq - previous - 1);
            previous = seq;
        }
        PingReport {
            sent,
            replied,
            longest_gap,
        }
    }

    /// Requests without a reply.
    pub fn lost(&self) -> u32 {
        self.sent - u32::try_from(self.replied.len()).unwrap_or(self.sent)
    }
}

impl PingRun {
    /// Starts `count` pings from `from` to `to`, one every `interval` (at least 10 ms).
    pub fn start(
        lab: &Lab,
        from: Host,
        to: IpAddr,
        count: u32,
        interval: Duration,
    ) -> Result<Self> {
        let interval = interval.max(Duration::from_millis(10));
        let process = lab.spawn(
            from,
            &[
                "ping".to_owned(),
                "-n".to_owned(),
                "-i".to_owned(),
                format!("{:.3}", interval.as_secs_f64()),
                "-W".to_owned(),
                "1".to_owned(),
                "-c".to_owned(),
                count.to_string(),
                to.to_string(),
            ],
        )?;
        Ok(PingRun {
            process,
            count,
            interval,
        })
    }

    /// Waits for ping to finish (its planned duration plus a few seconds) and reads its output.
    pub fn finish(mut self) -> Result<PingReport> {
        let limit = self.interval * self.count + Duration::from_secs(5);
        if self.process.wait_timeout(limit)?.is_none() {
            return Err(Error::Timeout {
                what: format!("`{}` to finish", self.process.command()),
                limit,
            });
        }
        Ok(PingReport::parse(&self.process.stdout(), self.count))
    }
}

/// Throughput through a tunnel, in Mbit/s as seen by the receiver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    /// Client 0 sends to the core.
    pub upload_mbps: f64,
    /// The core sends to client 0 (`iperf3 -R`).
    pub download_mbps: f64,
}

/// Runs two-second single-stream TCP iperf3 tests from client 0 to `core` and back (server in the
/// core host). Fails if either direction moved nothing.
pub fn iperf_both_ways(lab: &Lab, core: IpAddr) -> Result<Throughput> {
    let _server = lab.iperf3_server(Host::Core, IPERF3_PORT)?;
    let mut options = IperfOptions::tcp(core);
    options.duration = Duration::from_secs(2);
    let up = lab.iperf3_client(Host::Client(0), &options)?;
    options.reverse = true;
    let down = lab.iperf3_client(Host::Client(0), &options)?;
    if up.received_bytes == 0 || down.received_bytes == 0 {
        return Err(Error::Timeout {
            what: format!("iperf3 traffic (up {up:?}, down {down:?})"),
            limit: options.duration,
        });
    }
    Ok(Throughput {
        upload_mbps: up.received_bits_per_second / 1e6,
        download_mbps: down.received_bits_per_second / 1e6,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "PING 198.18.0.130 (198.18.0.130) 56(84) bytes of data.\n\
        64 bytes from 198.18.0.130: icmp_seq=1 ttl=63 time=0.474 ms\n\
        64 bytes from 198.18.0.130: icmp_seq=2 ttl=63 time=0.415 ms\n\
        64 bytes from 198.18.0.130: icmp_seq=5 ttl=63 time=0.415 ms\n\
        64 bytes from 198.18.0.130: icmp_seq=6 ttl=63 time=0.415 ms\n\
        --- 198.18.0.130 ping statistics ---\n\
        8 packets transmitted, 4 received, 50% packet loss, time 203ms\n";

    #[test]
    fn gaps_count_missing_sequence_numbers_including_the_tail() {
        let r = PingReport::parse(OUTPUT, 6);
        assert_eq!(r.replied, vec![1, 2, 5, 6]);
        assert_eq!((r.longest_gap, r.lost()), (2, 2));
        let r = PingReport::parse(OUTPUT, 9);
        assert_eq!((r.longest_gap, r.lost()), (3, 5));
    }

    #[test]
    fn nothing_received_is_one_long_gap_and_duplicates_count_once() {
        assert_eq!(PingReport::parse("", 4).longest_gap, 4);
        let dup = "icmp_seq=1 ttl=1\nicmp_seq=1 ttl=1 (DUP!)\nicmp_seq=2\nicmp_seq=99\n";
        let r = PingReport::parse(dup, 2);
        assert_eq!((r.replied.len(), r.longest_gap), (2, 0));
    }
}
