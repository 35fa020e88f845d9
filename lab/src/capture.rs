//! Packet captures inside the lab: `tcpdump` writes a pcap file on one interface of one host,
//! and [`Capture::finish`] stops it and parses the file, so a test can assert what went over the
//! wire (for example that only TCP/80 segments carrying `01 00 LL LL` frames appear).
//!
//! tcpdump stops at once on SIGINT and drops whatever still waits in its capture ring, which on
//! a loaded machine can be most of a short capture; so `finish` first waits until tcpdump has
//! written everything its filter passed (it asks for tcpdump's counters with SIGUSR1).

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::error::{Error, Result};
use crate::process::ProcessGuard;
use crate::topology::{Host, Lab};

/// pcap link types this module can strip down to the IP header.
const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_RAW: u32 = 101;
const LINKTYPE_LINUX_SLL: u32 = 113;
const LINKTYPE_LINUX_SLL2: u32 = 276;

/// Largest pcap file [`Capture::finish`] reads (captures are for tests, not bulk traffic).
const MAX_PCAP_BYTES: u64 = 256 << 20;

/// How long [`Capture::finish`] waits for tcpdump to write what its filter has passed.
const WRITE_LIMIT: Duration = Duration::from_secs(10);

/// A running capture; dropping it without [`Capture::finish`] just stops tcpdump.
#[derive(Debug)]
pub struct Capture {
    tcpdump: ProcessGuard,
    path: PathBuf,
}

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedPacket {
    /// The pcap link type of `data`.
    pub linktype: u32,
    /// The frame as captured (link-layer header included).
    pub data: Vec<u8>,
}

impl Lab {
    /// Starts capturing on `interface` of `host` with a pcap `filter` (tcpdump syntax, may be
    /// empty) and returns once tcpdump is listening.
    pub fn capture(&self, host: Host, interface: &str, filter: &str) -> Result<Capture> {
        let stem = format!("capture-{host}-{interface}").replace(' ', "");
        let mut path = self.workdir().join(format!("{stem}.pcap"));
        let mut n = 0;
        while path.exists() {
            n += 1;
            path = self.workdir().join(format!("{stem}-{n}.pcap"));
        }
        let path_text = path.to_string_lossy().into_owned();
        let mut argv = vec![
            "tcpdump",
            "-n",
            "-U",
            "--immediate-mode",
            "-Z",
            "root",
            "-i",
            interface,
            "-w",
            &path_text,
        ];
        argv.extend(filter.split_whitespace());
        let mut tcpdump = self.spawn(host, &argv)?;
        tcpdump.wait_for_output("listening on", Duration::from_secs(10))?;
        Ok(Capture { tcpdump, path })
    }
}

impl Capture {
    /// The pcap file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits until tcpdump has written every packet its filter passed so far, then stops it
    /// (SIGINT, so it flushes) and returns every captured frame. Call it once the traffic of
    /// interest has crossed the interface. Meant for the lab's veth and bridge interfaces: on
    /// loopback tcpdump sees each packet twice and writes it once, so it never catches up.
    pub fn finish(mut self) -> Result<Vec<CapturedPacket>> {
        self.wait_until_written()?;
        self.tcpdump.signal(Signal::SIGINT)?;
        if self.tcpdump.wait_timeout(Duration::from_secs(5))?.is_none() {
            self.tcpdump.terminate(Duration::from_secs(1))?;
        }
        let size = std::fs::metadata(&self.path)
            .map_err(|e| Error::io(format!("stat {}", self.path.display()), e))?
            .len();
        if size > MAX_PCAP_BYTES {
            return Err(Error::Invalid(format!(
                "capture of {size} bytes is too large to parse"
            )));
        }
        let bytes = std::fs::read(&self.path)
            .map_err(|e| Error::io(format!("read {}", self.path.display()), e))?;
        parse_pcap(&bytes)
    }

    /// Asks tcpdump for its counters (SIGUSR1 makes it print them on stderr) until the packets
    /// it has written (plus those the kernel dropped, which it never will) catch up with the
    /// packets its filter passed; only then has every packet seen so far reached the file.
    fn wait_until_written(&mut self) -> Result<()> {
        let step = Duration::from_millis(20);
        let mut waited = Duration::ZERO;
        loop {
            self.tcpdump.signal(Signal::SIGUSR1)?;
            std::thread::sleep(step);
            waited += step;
            let counts = self
                .tcpdump
                .stderr()
                .lines()
                .rev()
                .find_map(TcpdumpCounts::parse);
            if counts.is_some_and(|c| c.all_written()) {
                return Ok(());
            }
            if waited >= WRITE_LIMIT {
                return Err(Error::WaitTimeout {
                    what: format!(
                        "tcpdump to write the packets it captured (last counts: {counts:?})"
                    ),
                    limit: WRITE_LIMIT,
                });
            }
        }
    }
}

/// tcpdump's counters from one of its statistics lines (`tcpdump: 1 packet captured, 10 packets
/// received by filter, 0 packets dropped by kernel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TcpdumpCounts {
    /// Packets tcpdump has written to the file.
    captured: u64,
    /// Packets that passed the filter in the kernel, written or not yet.
    received: u64,
    /// Packets the kernel dropped because the ring was full.
    dropped: u64,
}

impl TcpdumpCounts {
    /// The counters in `line`, `None` when it is not a statistics line.
    fn parse(line: &str) -> Option<Self> {
        let counts = line.rsplit_once(": ").map_or(line, |(_, counts)| counts);
        let mut parts = counts.split(", ");
        let mut next = |what: &str| -> Option<u64> {
            let (number, words) = parts.next()?.split_once(' ')?;
            if words.ends_with(what) {
                number.parse().ok()
            } else {
                None
            }
        };
        Some(TcpdumpCounts {
            captured: next("captured")?,
            received: next("received by filter")?,
            dropped: next("dropped by kernel")?,
        })
    }

    /// Whether every packet the filter passed has been written or dropped.
    fn all_written(self) -> bool {
        self.captured.saturating_add(self.dropped) >= self.received
    }
}

/// Parses a classic pcap file (either byte order, micro- or nanosecond timestamps).
pub fn parse_pcap(bytes: &[u8]) -> Result<Vec<CapturedPacket>> {
    let bad = |reason: &str| Error::Parse {
        command: "tcpdump -w".into(),
        reason: reason.into(),
    };
    let header = bytes.get(..24).ok_or_else(|| bad("short pcap header"))?;
    let magic = [header[0], header[1], header[2], header[3]];
    let little = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => return Err(bad("not a pcap file")),
    };
    let word = |b: &[u8], at: usize| -> Option<u32> {
        let w: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        })
    };
    let linktype = word(header, 20).ok_or_else(|| bad("short pcap header"))?;
    let mut packets = Vec::new();
    let mut rest = bytes.get(24..).unwrap_or_default();
    while !rest.is_empty() {
        let record = rest
            .get(..16)
            .ok_or_else(|| bad("truncated record header"))?;
        let len = word(record, 8).ok_or_else(|| bad("truncated record header"))? as usize;
        let data = rest
            .get(16..16 + len)
            .ok_or_else(|| bad("truncated record"))?;
        packets.push(CapturedPacket {
            linktype,
            data: data.to_vec(),
        });
        rest = rest.get(16 + len..).unwrap_or_default();
    }
    Ok(packets)
}

impl CapturedPacket {
    /// The IP packet inside the frame (IPv4 or IPv6), if the link type is known.
    pub fn ip_packet(&self) -> Option<&[u8]> {
        let (ethertype, payload) = match self.linktype {
            LINKTYPE_ETHERNET => (self.data.get(12..14)?, self.data.get(14..)?),
            LINKTYPE_LINUX_SLL => (self.data.get(14..16)?, self.data.get(16..)?),
            LINKTYPE_LINUX_SLL2 => (self.data.get(0..2)?, self.data.get(20..)?),
            LINKTYPE_RAW => return Some(&self.data),
            _ => return None,
        };
        matches!(ethertype, [0x08, 0x00] | [0x86, 0xdd]).then_some(payload)
    }

    /// The transport protocol number and the transport segment (header included).
    fn transport(&self) -> Option<(u8, &[u8])> {
        let ip = self.ip_packet()?;
        match ip.first()? >> 4 {
            4 => {
                let header_len = usize::from(ip.first()? & 0x0f) * 4;
                let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
                Some((*ip.get(9)?, ip.get(header_len..total.min(ip.len()))?))
            }
            6 => Some((*ip.get(6)?, ip.get(40..)?)),
            _ => None,
        }
    }

    /// The payload of a TCP segment (empty for pure ACKs), `None` for anything else.
    pub fn tcp_payload(&self) -> Option<&[u8]> {
        let (protocol, segment) = self.transport()?;
        if protocol != 6 {
            return None;
        }
        let offset = usize::from(segment.get(12)? >> 4) * 4;
        segment.get(offset..)
    }

    /// The payload of a UDP datagram, `None` for anything else.
    pub fn udp_payload(&self) -> Option<&[u8]> {
        let (protocol, datagram) = self.transport()?;
        if protocol != 17 {
            return None;
        }
        datagram.get(8..)
    }

    /// Source and destination ports of a TCP or UDP packet.
    pub fn ports(&self) -> Option<(u16, u16)> {
        let (protocol, segment) = self.transport()?;
        if protocol != 6 && protocol != 17 {
            return None;
        }
        Some((
            u16::from_be_bytes([*segment.first()?, *segment.get(1)?]),
            u16::from_be_bytes([*segment.get(2)?, *segment.get(3)?]),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian pcap with one Ethernet frame carrying IPv4/UDP 4500 -> 500, payload "hi".
    fn sample() -> Vec<u8> {
        let mut f = vec![
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0,
        ];
        f.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        let ip = [
            0x45, 0, 0, 30, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 10, 198, 18, 0, 1,
        ];
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&[0x11, 0x94, 0x01, 0xf4, 0, 10, 0, 0, b'h', b'i']);
        f.extend_from_slice(&[0u8; 8]);
        let len = u32::try_from(frame.len()).unwrap();
        f.extend_from_slice(&len.to_le_bytes());
        f.extend_from_slice(&len.to_le_bytes());
        f.extend_from_slice(&frame);
        f
    }

    #[test]
    fn parses_frames_down_to_the_udp_payload() {
        let packets = parse_pcap(&sample()).unwrap();
        assert_eq!(packets.len(), 1);
        assert_eq!(packets[0].udp_payload(), Some(&b"hi"[..]));
        assert_eq!(packets[0].ports(), Some((4500, 500)));
        assert_eq!(packets[0].tcp_payload(), None);
    }

    #[test]
    fn tcpdump_statistics_lines_are_read_and_others_ignored() {
        let behind = TcpdumpCounts::parse(
            "tcpdump: 1 packet captured, 10 packets received by filter, 0 packets dropped by kernel",
        );
        assert_eq!(
            behind,
            Some(TcpdumpCounts {
                captured: 1,
                received: 10,
                dropped: 0
            })
        );
        assert!(!behind.unwrap().all_written());
        let done = TcpdumpCounts::parse(
            "tcpdump: 8 packets captured, 10 packets received by filter, 2 packets dropped by kernel",
        );
        assert!(done.unwrap().all_written());
        for other in [
            "tcpdump: listening on outer, link-type EN10MB (Ethernet), snapshot length 262144 bytes",
            "10 packets received by filter",
            "tcpdump: x packets captured, 10 packets received by filter, 0 packets dropped by kernel",
        ] {
            assert_eq!(TcpdumpCounts::parse(other), None, "{other}");
        }
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        let full = sample();
        for cut in 0..full.len() {
            let result = parse_pcap(&full[..cut]);
            // A cut exactly after the global header is a valid empty capture.
            if cut == 24 {
                assert_eq!(result.unwrap().len(), 0);
            } else {
                assert!(result.is_err(), "prefix of {cut} bytes accepted");
            }
        }
        assert!(parse_pcap(b"not a pcap file at all, no magic").is_err());
    }
}
