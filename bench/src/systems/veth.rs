//! Plain veth: no tunnel. The client routes the protected subnet to the gateway namespace, which
//! forwards it to the core like any router; the core routes the LAN back. The same two veth hops
//! every tunnel crosses, without any tunnel: the ceiling of the packet path.

use lab::{Host, Lab};

use crate::error::Result;
use crate::systems::CLIENT;

/// Adds the two routes (inside the lab's namespaces) that make the core reachable directly.
pub fn route(lab: &Lab) -> Result<()> {
    let a = lab.addresses();
    lab.exec_checked(
        CLIENT,
        &[
            "ip",
            "route",
            "add",
            &a.protected.to_string(),
            "via",
            &a.lan_next_hop.to_string(),
        ],
    )?;
    lab.exec_checked(
        Host::Core,
        &[
            "ip",
            "route",
            "add",
            &a.lan.to_string(),
            "via",
            &a.gateway_inner.to_string(),
        ],
    )?;
    Ok(())
}
