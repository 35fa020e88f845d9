//! eseg: `eseg-gateway` in the gateway host and `eseg-client` in client 0, with the interop
//! scenarios' identities and PSK, logging only warnings (per-SA and per-packet logs would be
//! measured too). The programs are taken from the directory eseg-bench itself runs from.

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use eseg_interop::{CLIENT_ID, GATEWAY_ID, PSK};
use ipnet::Ipv4Net;
use lab::{Host, Lab, LabAddresses, ProcessGuard};

use crate::error::{Error, Result};
use crate::systems::CLIENT;

/// How long a tunnel may take to come up.
const TUNNEL_UP: Duration = Duration::from_secs(20);

/// Where the eseg programs are, or why they are not there.
#[derive(Debug, Clone)]
pub struct EsegBinaries {
    found: std::result::Result<(PathBuf, PathBuf), String>,
}

impl EsegBinaries {
    /// Looks for `eseg-gateway` and `eseg-client` next to the running program.
    pub fn locate() -> Self {
        let found = lab::cargo_bin("eseg-gateway")
            .and_then(|g| Ok((g, lab::cargo_bin("eseg-client")?)))
            .map_err(|e| e.to_string());
        EsegBinaries { found }
    }

    /// The gateway program.
    pub fn gateway(&self) -> Result<&Path> {
        self.found
            .as_ref()
            .map(|(g, _)| g.as_path())
            .map_err(|e| Error::Unavailable(e.clone()))
    }

    /// The client program.
    pub fn client(&self) -> Result<&Path> {
        self.found
            .as_ref()
            .map(|(_, c)| c.as_path())
            .map_err(|e| Error::Unavailable(e.clone()))
    }
}

/// The transport between client and gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP 500/4500, ESP-in-UDP.
    Udp,
    /// TCP/80 with TPKT' framing.
    Tcp,
}

/// Settings of a benchmark gateway that differ between the packet-path and the setup-rate labs.
#[derive(Debug, Clone)]
pub struct GatewayToml<'a> {
    /// The lab's addresses (DNS, P-CSCF, protected subnet).
    pub addresses: &'a LabAddresses,
    /// Status socket path.
    pub status_socket: &'a Path,
    /// ESP proposal.
    pub esp: &'a str,
    /// The virtual-IP pool (the lab's /24, or a larger one for many SAs).
    pub pool: Ipv4Net,
    /// Idle seconds before a liveness check.
    pub liveness_secs: u64,
}

/// The gateway's TOML configuration: the interop identities and PSK, one ESP proposal.
pub fn gateway_toml(s: &GatewayToml<'_>) -> String {
    let a = s.addresses;
    format!(
        "[gateway]\nidentity = \"{GATEWAY_ID}\"\nstatus_socket = \"{socket}\"\n\n\
         [clients]\npool = \"{pool}\"\ndns = [\"{dns}\"]\npcscf = [\"{pcscf}\"]\n\
         protected_subnets = [\"{protected}\"]\n\n\
         [[peers]]\nid = \"{CLIENT_ID}\"\npsk = \"{PSK}\"\n\n\
         [ike]\nliveness_interval_secs = {liveness}\nesp_proposals = [\"{esp}\"]\n",
        socket = s.status_socket.display(),
        pool = s.pool,
        dns = a.dns,
        pcscf = a.pcscf,
        protected = a.protected,
        liveness = s.liveness_secs,
        esp = s.esp,
    )
}

/// Starts eseg-gateway in `lab` with `toml` and waits until it listens on UDP 4500.
pub fn start_gateway(lab: &Lab, binaries: &EsegBinaries, toml: &str) -> Result<ProcessGuard> {
    let config = lab.write_file("eseg-gateway.toml", toml)?;
    let mut gateway = lab.spawn(
        Host::Gateway,
        &[
            binaries.gateway()?.as_os_str(),
            OsStr::new("--config"),
            config.as_os_str(),
            OsStr::new("--log"),
            OsStr::new("warn"),
        ],
    )?;
    if let Err(e) = lab.wait_for_udp_socket(Host::Gateway, 4500, Duration::from_secs(10)) {
        return Err(Error::Failed(format!(
            "eseg-gateway did not start ({e}): {}",
            gateway.stderr().trim()
        )));
    }
    if !gateway.is_running() {
        return Err(Error::Failed(format!(
            "eseg-gateway exited: {}",
            gateway.stderr().trim()
        )));
    }
    Ok(gateway)
}

/// Starts gateway and client over `transport` with ESP `algorithm`; returns both once the
/// client's tunnel is up.
pub fn start(
    lab: &Lab,
    binaries: &EsegBinaries,
    algorithm: &str,
    transport: Transport,
) -> Result<Vec<ProcessGuard>> {
    let a = lab.addresses();
    if transport == Transport::Tcp {
        block_udp_ike(lab)?;
    }
    let socket = lab.workdir().join("eseg-gateway.sock");
    let toml = gateway_toml(&GatewayToml {
        addresses: a,
        status_socket: &socket,
        esp: algorithm,
        pool: a.pool,
        liveness_secs: 30,
    });
    let gateway = start_gateway(lab, binaries, &toml)?;
    let client_socket = lab.workdir().join("eseg-client.sock");
    let mut client = lab.spawn(
        CLIENT,
        &[
            binaries.client()?.as_os_str(),
            OsStr::new("--gateway"),
            OsStr::new(&a.gateway_outer.to_string()),
            OsStr::new("--identity"),
            OsStr::new(CLIENT_ID),
            OsStr::new("--gateway-id"),
            OsStr::new(GATEWAY_ID),
            OsStr::new("--psk"),
            OsStr::new(PSK),
            OsStr::new("--status-socket"),
            client_socket.as_os_str(),
            OsStr::new("--once"),
            OsStr::new("--udp-timeout-ms"),
            OsStr::new("300"),
            OsStr::new("--log"),
            OsStr::new("warn"),
        ],
    )?;
    if let Err(e) = client.wait_for_stdout("pcscf=", TUNNEL_UP) {
        return Err(Error::Failed(format!(
            "eseg tunnel did not come up ({e}); client: {}",
            client.stderr().trim()
        )));
    }
    let wanted = match transport {
        Transport::Udp => "transport=udp",
        Transport::Tcp => "transport=tcp",
    };
    if !client.stdout().lines().any(|l| l.trim() == wanted) {
        return Err(Error::Failed(format!(
            "eseg tunnel came up on the wrong transport (wanted {wanted}): {}",
            client.stdout().trim()
        )));
    }
    Ok(vec![gateway, client])
}

/// Makes the client's transport ladder fall back to TCP/80 on the same topology as the UDP
/// system: client 0 drops its own IKE/NAT-T datagrams (UDP to ports 500 and 4500).
fn block_udp_ike(lab: &Lab) -> Result<()> {
    lab.nft(
        CLIENT,
        "table inet eseg_bench_tcp_only {\n\
         \tchain output { type filter hook output priority 0; udp dport { 500, 4500 } drop; }\n\
         }\n",
    )?;
    Ok(())
}

/// The first address of a pool large enough for `sas` clients, outside every lab block:
/// 100.64.0.0/10 (RFC 6598), used only inside the gateway namespace.
pub fn large_pool(sas: usize) -> Ipv4Net {
    let needed = u32::try_from(sas).unwrap_or(u32::MAX).saturating_add(8);
    let bits = 32 - needed.next_power_of_two().trailing_zeros().min(22);
    Ipv4Net::new(
        Ipv4Addr::new(100, 64, 0, 0),
        u8::try_from(bits).unwrap_or(10),
    )
    .unwrap_or_else(|_| Ipv4Net::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_pools_hold_the_sas() {
        for sas in [1, 200, 10_000, 100_000, 1_000_000] {
            let pool = large_pool(sas);
            assert!(pool.hosts().count() >= sas + 2, "{pool} for {sas}");
            assert!("100.64.0.0/10".parse::<Ipv4Net>().unwrap().contains(&pool));
        }
    }
}
