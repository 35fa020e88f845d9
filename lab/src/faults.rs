//! Faults on the outer path, for tests and the benchmark: random loss and TCP resets, both made
//! with nftables on the gateway's outer interface (this kernel has no netem). Every packet to or
//! from the gateway's outer side passes there, whatever the router does.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::topology::{ifname, Host, Lab};

/// nftables table holding the loss rule.
const LOSS_TABLE: &str = "eseg_loss";
/// nftables table holding the reset rule.
const RESET_TABLE: &str = "eseg_reset";

/// A fault that lasts until this guard is dropped (or [`FaultGuard::remove`]d).
#[derive(Debug)]
pub struct FaultGuard<'lab> {
    lab: &'lab Lab,
    table: &'static str,
}

impl FaultGuard<'_> {
    /// Removes the fault now, reporting any error.
    pub fn remove(self) -> Result<()> {
        let result = self.lab.delete_table(self.table);
        std::mem::forget(self);
        result
    }
}

impl Drop for FaultGuard<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.lab.delete_table(self.table) {
            tracing::warn!(table = self.table, error = %e, "cannot remove fault");
        }
    }
}

impl Lab {
    /// Drops `percent` % of the packets (each way) on the gateway's outer interface, chosen at
    /// random by `numgen random`, with a resolution of 0.01 %. `0.0` removes the loss again.
    pub fn set_outer_loss(&self, percent: f64) -> Result<()> {
        if !(0.0..=100.0).contains(&percent) {
            return Err(Error::Invalid(format!("loss of {percent} %")));
        }
        self.delete_table(LOSS_TABLE)?;
        let basis_points = (percent * 100.0).round() as u32;
        if basis_points == 0 {
            return Ok(());
        }
        let outer = ifname::GATEWAY_OUTER;
        let drop = if basis_points >= 10_000 {
            "drop".to_owned()
        } else {
            format!("numgen random mod 10000 < {basis_points} drop")
        };
        self.nft(
            Host::Gateway,
            &format!(
                "table inet {LOSS_TABLE} {{\n\
                 \tchain input {{ type filter hook input priority -100; iifname \"{outer}\" {drop}; }}\n\
                 \tchain output {{ type filter hook output priority -100; oifname \"{outer}\" {drop}; }}\n\
                 }}\n"
            ),
        )
    }

    /// Resets TCP connections to the gateway's `port` from the outer side until the returned
    /// guard is dropped: each segment arriving there is answered with a TCP RST, so the peer's
    /// connection dies at once (and the gateway's end dies when the peer answers its next segment
    /// with a RST of its own).
    pub fn outer_tcp_reset(&self, port: u16) -> Result<FaultGuard<'_>> {
        let outer = ifname::GATEWAY_OUTER;
        self.delete_table(RESET_TABLE)?;
        self.nft(
            Host::Gateway,
            &format!(
                "table inet {RESET_TABLE} {{\n\
                 \tchain input {{ type filter hook input priority -50; iifname \"{outer}\" tcp dport {port} reject with tcp reset; }}\n\
                 }}\n"
            ),
        )?;
        Ok(FaultGuard {
            lab: self,
            table: RESET_TABLE,
        })
    }

    /// [`Lab::outer_tcp_reset`] for `hold`, then the path opens again.
    pub fn reset_outer_tcp_for(&self, port: u16, hold: Duration) -> Result<()> {
        let guard = self.outer_tcp_reset(port)?;
        std::thread::sleep(hold);
        guard.remove()
    }

    /// Kills TCP sockets in `host` that match an `ss` filter (for example
    /// `["dport", "=", ":80"]`), with `ss -K`: the local end gets an error at once.
    pub fn kill_tcp_sockets(&self, host: Host, filter: &[&str]) -> Result<()> {
        let mut argv = vec!["ss", "-K", "-t"];
        argv.extend_from_slice(filter);
        self.exec_checked(host, &argv).map(drop)
    }

    fn delete_table(&self, table: &str) -> Result<()> {
        let listed = self.exec_checked(Host::Gateway, &["nft", "list", "tables"])?;
        if listed
            .stdout
            .lines()
            .any(|l| l.trim() == format!("table inet {table}"))
        {
            self.exec_checked(Host::Gateway, &["nft", "delete", "table", "inet", table])?;
        }
        Ok(())
    }
}
