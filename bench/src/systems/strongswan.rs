//! strongSwan to strongSwan: one charon in the client host, one in the gateway host (the interop
//! harness's launcher and configurations), kernel-libipsec ESP-in-UDP with the chosen algorithm.

use std::time::Duration;

use eseg_interop::{Charon, CharonOptions, SwanctlConf};
use lab::{Host, Lab};

use crate::error::{Error, Result};
use crate::systems::CLIENT;

/// Starts both daemons with ESP `algorithm` and brings the tunnel up.
pub fn start<'lab>(lab: &'lab Lab, algorithm: &str) -> Result<Vec<Charon<'lab>>> {
    let a = lab.addresses();
    let options = CharonOptions {
        ike_log_level: 1,
        ..CharonOptions::default()
    };
    let mut gateway = Charon::start(lab, Host::Gateway, "gw", &options)?;
    let mut client = Charon::start(lab, CLIENT, "c0", &options)?;
    gateway.load(&with_esp(SwanctlConf::lab_gateway(a), algorithm))?;
    client.load(&with_esp(SwanctlConf::lab_client(a), algorithm))?;
    let up = client.initiate("c", "net", Duration::from_secs(15))?;
    if !up.succeeded() {
        return Err(Error::Failed(format!(
            "strongSwan tunnel did not come up: {}",
            up.text()
        )));
    }
    Ok(vec![gateway, client])
}

/// Brings the tunnel of a running strongSwan client up again: deletes what is left of the old
/// IKE SA (if anything) and initiates a new one.
pub fn reinitiate(client: &Charon<'_>) -> Result<()> {
    let _ = client.terminate_ike("c");
    let up = client.initiate("c", "net", Duration::from_secs(15))?;
    if up.succeeded() {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "strongSwan tunnel did not come up again: {}",
            up.text()
        )))
    }
}

fn with_esp(mut conf: SwanctlConf, algorithm: &str) -> SwanctlConf {
    for connection in &mut conf.connections {
        for child in &mut connection.children {
            child.esp_proposals = algorithm.to_owned();
        }
    }
    conf
}
