//! The network-namespace lab used by the demo, the end-to-end tests, interop and the benchmarks.
//!
//! [`Lab::builder`] builds a topology of namespaces (clients, an optional router that can be a NAT
//! or one of the TR 33.830 firewall types, the gateway, and a core host), wires them with veth
//! links, addresses and routes, and gives back a [`Lab`] that runs programs inside them
//! ([`Lab::exec`], [`Lab::spawn`]), loads nftables rules, injects faults, and offers small
//! core-side services (UDP/TCP echo, iperf3).
//!
//! Contract:
//! - Nothing is ever added to the root namespace: links are created with both ends inside lab
//!   namespaces; addresses come from 198.18.0.0/15, one /23 per lab (see [`LabAddresses`]).
//! - Everything is removed when the [`Lab`] is dropped, including on panic: processes (whole
//!   process groups) are killed, namespaces deleted. Namespaces left by a process that was killed
//!   outright are reclaimed by the next lab built on the machine.
//! - Labs are independent: unique names (`esl-<pid>-<seq>-<role>`) and address blocks, so tests may
//!   run in parallel.
//!
//! Needs root, iproute2 and nftables; iperf3, tcpdump and tinyproxy for the features that use
//! them. `eseg-lab up` (this crate's binary) builds a lab from the command line.
//!
//! ```no_run
//! use std::net::{IpAddr, SocketAddr};
//! use std::time::Duration;
//! use lab::{Firewall, Host, IperfOptions, Lab, Router};
//!
//! # fn main() -> lab::Result<()> {
//! let lab = Lab::builder().with_router(Router::Firewall(Firewall::Tcp80And443)).build()?;
//! let a = lab.addresses();
//! // Start a program inside the gateway namespace; it is killed when `gateway` is dropped.
//! let config = lab.write_file("gateway.toml", format!("pool = \"{}\"\n", a.pool))?;
//! let mut gateway = lab.spawn(Host::Gateway, &["eseg-gateway", "--config", &config.to_string_lossy()])?;
//! gateway.wait_for_output("listening", Duration::from_secs(10))?;
//! // Core-side services and checks.
//! let _echo = lab.tcp_echo(Host::Client(0), SocketAddr::from(([0, 0, 0, 0], 7)))?;
//! let _iperf = lab.iperf3_server(Host::Core, lab::IPERF3_PORT)?;
//! let report = lab.iperf3_client(Host::Client(0), &IperfOptions::tcp(IpAddr::V4(a.core)))?;
//! println!("{:.2} Gbit/s", report.received_bits_per_second / 1e9);
//! # Ok(())
//! # }
//! ```

mod addressing;
mod binaries;
mod capture;
mod craft;
mod error;
mod faults;
mod firewall;
mod iperf;
mod netns;
mod process;
mod services;
mod topology;
mod workdir;

pub use addressing::{LabAddresses, LabAddresses6, BLOCK_COUNT, MAX_CLIENTS};
pub use binaries::{build_workspace_binaries, cargo_bin};
pub use capture::{parse_pcap, Capture, CapturedPacket};
pub use craft::{ipv4_udp_packet, MAX_SPOOFED_PAYLOAD};
pub use error::{Error, Result};
pub use faults::FaultGuard;
pub use firewall::{Firewall, Router, PROXY_PORT};
pub use iperf::{parse_iperf3_json, IperfOptions, IperfReport, IPERF3_PORT};
pub use netns::{reclaim_stale, run_in, NAME_PREFIX};
pub use process::{
    cpu_time_of, resident_memory_of, ExecOutput, NetnsCommand, ProcessGuard, DEFAULT_GRACE,
    DEFAULT_TIMEOUT,
};
pub use services::ServiceGuard;
pub use topology::{ifname, Host, Lab, LabBuilder};
