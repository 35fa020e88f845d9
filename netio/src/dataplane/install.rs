//! Turning the engine's [`ChildSaInstalled`] events into `esp` SAs and routes, and taking them
//! out again. `ikev2` and `esp` do not know each other; this is where the driver joins them.
//!
//! Installation is make-before-break (RFC 7296 §2.8): the new inbound SA and the outbound route's
//! switch to the new SA are published in one table update, so the inbound SA is never missing
//! while the route points at it; a replaced CHILD SA's inbound SA stays until the engine reports
//! it deleted.

use std::sync::Arc;

use esp::{InboundConfig, InboundSa, OutboundConfig, OutboundSa};
use ikev2::crypto::{EncrAlg, IntegAlg};
use ikev2::events::ChildSaInstalled;
use ikev2::path::Transport;

use super::egress::Egress;
use super::Shared;

/// Why a CHILD SA could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The negotiated transform has no `esp` implementation.
    #[error("unsupported ESP transform {0:?}")]
    UnsupportedTransform(EncrAlg),
    /// A traffic selector `esp` cannot represent.
    #[error("invalid traffic selector: {0}")]
    Selector(esp::Error),
    /// `esp` refused the keys.
    #[error("ESP SA rejected: {0}")]
    Sa(esp::Error),
    /// The SA is not UDP-encapsulated; this data path only does ESP-in-UDP.
    #[error("CHILD SA without UDP encapsulation (bare ESP is not supported)")]
    NotEncapsulated,
}

/// The `esp` transform for a negotiated cipher suite.
pub fn esp_algorithm(
    encr: EncrAlg,
    integ: Option<IntegAlg>,
) -> Result<esp::Algorithm, InstallError> {
    let esp_integ = integ.map(|i| match i {
        IntegAlg::HmacSha256_128 => esp::Integrity::HmacSha256_128,
        IntegAlg::HmacSha384_192 => esp::Integrity::HmacSha384_192,
        IntegAlg::HmacSha512_256 => esp::Integrity::HmacSha512_256,
    });
    Ok(match (encr, esp_integ) {
        (EncrAlg::AesGcm16_128, None) => esp::Algorithm::AesGcm128,
        (EncrAlg::AesGcm16_256, None) => esp::Algorithm::AesGcm256,
        (EncrAlg::ChaCha20Poly1305, None) => esp::Algorithm::ChaCha20Poly1305,
        (EncrAlg::AesCbc128, Some(i)) => esp::Algorithm::AesCbc128(i),
        (EncrAlg::AesCbc256, Some(i)) => esp::Algorithm::AesCbc256(i),
        (other, _) => return Err(InstallError::UnsupportedTransform(other)),
    })
}

/// The `esp` form of IKE traffic selectors: address range, IP protocol and port range
/// (RFC 7296 §3.13.1), all of which the data path matches.
pub fn esp_selectors(
    selectors: &[ikev2::ts::TrafficSelector],
) -> Result<Vec<esp::TrafficSelector>, InstallError> {
    selectors
        .iter()
        .map(|ts| {
            esp::TrafficSelector::range(ts.start, ts.end)
                .and_then(|range| range.with_ports(ts.protocol, ts.start_port, ts.end_port))
                .map_err(InstallError::Selector)
        })
        .collect()
}

/// What was installed for one CHILD SA, kept by the control task to remove it later.
#[derive(Debug, Clone)]
pub struct InstalledChild {
    /// The inbound SA (our SPI).
    pub inbound: Arc<InboundSa>,
    /// The outbound SA (the peer's SPI).
    pub outbound: Arc<OutboundSa>,
    /// The transform, for status.
    pub algorithm: esp::Algorithm,
}

impl Shared {
    /// Installs both directions of a CHILD SA and routes packets from our traffic selectors
    /// (`ts_local`) to the peer's (`ts_remote`) to its outbound SA; the inbound SA accepts only
    /// packets from `ts_remote` to `ts_local` (RFC 4301 §5.2).
    pub fn install_child(&self, child: &ChildSaInstalled) -> Result<InstalledChild, InstallError> {
        // Over TCP every packet is framed, whatever NAT detection found.
        if !child.udp_encapsulation && child.path.transport == Transport::Udp {
            return Err(InstallError::NotEncapsulated);
        }
        let algorithm = esp_algorithm(child.cipher.encr(), child.cipher.integ())?;
        let peer_selectors = esp_selectors(&child.ts_remote)?;
        let local_selectors = esp_selectors(&child.ts_local)?;
        let mut inbound_config =
            InboundConfig::new(child.inbound.spi, algorithm, peer_selectors.clone());
        inbound_config.local_selectors = local_selectors.clone();
        inbound_config.esn = child.esn;
        let no_key: &[u8] = &[];
        let inbound = Arc::new(
            InboundSa::new(
                inbound_config,
                child.inbound.keys.encr_key_with_salt().expose(),
                child
                    .inbound
                    .keys
                    .integ_key()
                    .map_or(no_key, |k| k.expose()),
            )
            .map_err(InstallError::Sa)?,
        );
        let mut outbound_config = OutboundConfig::new(child.outbound.spi, algorithm);
        outbound_config.esn = child.esn;
        // The egress table is keyed by our inbound SPI: unique among our SAs, while the
        // outbound SPI is the peer's choice and two peers may pick the same one.
        outbound_config.egress_key = child.inbound.spi;
        let outbound = Arc::new(
            OutboundSa::new(
                outbound_config,
                child.outbound.keys.encr_key_with_salt().expose(),
                child
                    .outbound
                    .keys
                    .integ_key()
                    .map_or(no_key, |k| k.expose()),
            )
            .map_err(InstallError::Sa)?,
        );
        self.egress
            .update(|t| t.insert(outbound.egress_key(), Egress::for_path(&child.path)));
        // One update for both directions: each update copies the whole table, so at tens of
        // thousands of SAs a second copy per CHILD SA halves the setup rate. The inbound SA is
        // still in force no later than the outbound route (make-before-break).
        self.sadb.update(|t| {
            t.insert_inbound(Arc::clone(&inbound));
            t.route_outbound_between(&outbound, &local_selectors, &peer_selectors);
        });
        Ok(InstalledChild {
            inbound,
            outbound,
            algorithm,
        })
    }

    /// Removes a CHILD SA's inbound SA, its outbound routes (if still pointing at it) and its
    /// egress entry.
    pub fn remove_child(&self, installed: &InstalledChild) {
        self.sadb.update(|t| {
            t.remove_inbound(installed.inbound.spi());
            t.remove_outbound(&installed.outbound);
        });
        self.egress
            .update(|t| t.remove(&installed.outbound.egress_key()));
    }

    /// Points an outbound SA (by its [`esp::OutboundSa::egress_key`]) at the peer's new address
    /// (NAT rebinding, RFC 7296 §2.23).
    pub fn set_egress(&self, egress_key: u32, egress: Egress) {
        self.egress.update(|t| {
            if let Some(entry) = t.get_mut(&egress_key) {
                *entry = egress;
            }
        });
    }
}

/// The inner addresses a CHILD SA's outbound SA serves, for logs.
pub fn describe_selectors(selectors: &[ikev2::ts::TrafficSelector]) -> String {
    selectors
        .iter()
        .map(|ts| {
            if ts.start == ts.end {
                ts.start.to_string()
            } else {
                format!("{}-{}", ts.start, ts.end)
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}
