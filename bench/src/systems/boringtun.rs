//! boringtun (Cloudflare's userspace WireGuard), optional: one `boringtun-cli` per end with one
//! worker thread (its best setting on these machines), configured with `wg`. The tunnel
//! addresses come from the lab's pool, which the core already routes to the gateway.

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::time::Duration;

use lab::{Host, Lab, ProcessGuard};

use crate::error::{Error, Result};
use crate::systems::CLIENT;

/// WireGuard's usual port.
const PORT: u16 = 51820;

/// Starts boringtun at both ends and routes the protected subnet through it.
pub fn start(lab: &Lab) -> Result<Vec<ProcessGuard>> {
    for program in ["boringtun-cli", "wg"] {
        if !installed(program) {
            return Err(Error::Unavailable(format!(
                "{program} not installed (cargo install boringtun-cli; apt-get install \
                 --no-install-recommends wireguard-tools)"
            )));
        }
    }
    let a = lab.addresses();
    let pool_base = u32::from(a.pool.network());
    let gateway_inner = Ipv4Addr::from(pool_base + 1);
    let client_inner = Ipv4Addr::from(pool_base + 10);
    // Distinct names: the control socket /var/run/wireguard/IFNAME.sock is not per namespace.
    let tag = lab
        .netns(Host::Gateway)?
        .rsplit('-')
        .nth(1)
        .unwrap_or("0")
        .to_owned();
    let gw_if = format!("wgg{}{tag}", std::process::id() % 10_000);
    let cl_if = format!("wgc{}{tag}", std::process::id() % 10_000);
    let gw_key = key_pair(lab)?;
    let cl_key = key_pair(lab)?;
    let gateway = run_end(lab, Host::Gateway, &gw_if)?;
    let client = run_end(lab, CLIENT, &cl_if)?;
    configure(
        lab,
        Host::Gateway,
        &gw_if,
        &gw_key.0,
        &cl_key.1,
        &format!("{client_inner}/32"),
        None,
        gateway_inner,
    )?;
    configure(
        lab,
        CLIENT,
        &cl_if,
        &cl_key.0,
        &gw_key.1,
        &a.protected.to_string(),
        Some(&format!("{}:{PORT}", a.gateway_outer)),
        client_inner,
    )?;
    lab.exec_checked(
        CLIENT,
        &[
            "ip",
            "route",
            "add",
            &a.protected.to_string(),
            "dev",
            &cl_if,
            "src",
            &client_inner.to_string(),
        ],
    )?;
    Ok(vec![gateway, client])
}

fn installed(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A private key file and the public key.
fn key_pair(lab: &Lab) -> Result<(std::path::PathBuf, String)> {
    let private = lab.exec_checked(Host::Core, &["wg", "genkey"])?.stdout;
    let public = lab
        .command(Host::Core, &["wg", "pubkey"])?
        .stdin(private.clone())
        .run_checked()?
        .stdout;
    let name = format!("wg-{}.key", public.trim().replace(['/', '+', '='], "_"));
    let path = lab.write_file(&name, private.trim())?;
    Ok((path, public.trim().to_owned()))
}

fn run_end(lab: &Lab, host: Host, ifname: &str) -> Result<ProcessGuard> {
    let log = lab.workdir().join(format!("{ifname}.log"));
    let guard = lab.spawn(
        host,
        &[
            OsStr::new("boringtun-cli"),
            OsStr::new("-f"),
            OsStr::new("-t"),
            OsStr::new("1"),
            OsStr::new("--disable-drop-privileges"),
            OsStr::new("-l"),
            log.as_os_str(),
            OsStr::new(ifname),
        ],
    )?;
    let socket = format!("/var/run/wireguard/{ifname}.sock");
    for _ in 0..100 {
        if std::path::Path::new(&socket).exists() {
            return Ok(guard);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(Error::Failed(format!(
        "boringtun-cli did not create {socket}"
    )))
}

#[allow(clippy::too_many_arguments)]
fn configure(
    lab: &Lab,
    host: Host,
    ifname: &str,
    private_key: &std::path::Path,
    peer_public: &str,
    allowed: &str,
    endpoint: Option<&str>,
    address: Ipv4Addr,
) -> Result<()> {
    let key = private_key.display().to_string();
    let port = PORT.to_string();
    let mut argv = vec![
        "wg",
        "set",
        ifname,
        "private-key",
        &key,
        "listen-port",
        &port,
        "peer",
        peer_public,
        "allowed-ips",
        allowed,
    ];
    if let Some(endpoint) = endpoint {
        argv.extend(["endpoint", endpoint]);
    }
    lab.exec_checked(host, &argv)?;
    let addr = format!("{address}/32");
    lab.exec_checked(host, &["ip", "addr", "add", &addr, "dev", ifname])?;
    lab.exec_checked(host, &["ip", "link", "set", ifname, "mtu", "1420", "up"])?;
    if host == Host::Gateway {
        lab.exec_checked(host, &["ip", "route", "add", allowed, "dev", ifname])?;
    }
    Ok(())
}
