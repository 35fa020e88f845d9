//! Algorithms, configured proposals and proposal selection
//! ([RFC 7296 §2.7](https://www.rfc-editor.org/rfc/rfc7296#section-2.7), §3.3).
//!
//! Algorithms are the crypto layer's enums ([`EncrAlg`], [`IntegAlg`], [`PrfAlg`],
//! [`DhGroup`]). A received SA payload is first turned into a list of [`Offer`]s (plain
//! numbers, nothing dropped), then [`select_ike`] / [`select_esp`] pick one offered proposal
//! that a configured proposal accepts, taking the configured proposals in order (the gateway's
//! preference) and, within one, the offers in the initiator's order.

use crate::crypto::{CipherSuite, DhGroup, EncrAlg, IkeSuite, IntegAlg, PrfAlg};

/// Protocol IDs of RFC 7296 §3.3.1.
pub mod protocol {
    /// IKE SA.
    pub const IKE: u8 = 1;
    /// ESP CHILD SA.
    pub const ESP: u8 = 3;
}

/// Transform types of RFC 7296 §3.3.2.
pub mod transform_type {
    /// EncrAlg algorithm (ENCR).
    pub const ENCR: u8 = 1;
    /// Pseudorandom function (PRF).
    pub const PRF: u8 = 2;
    /// IntegAlg algorithm (INTEG).
    pub const INTEG: u8 = 3;
    /// Key exchange method (D-H group).
    pub const DH: u8 = 4;
    /// Extended sequence numbers.
    pub const ESN: u8 = 5;
}

/// The AEADs of the default IKE and ESP proposals, preferred first.
const DEFAULT_AEADS: [EncrAlg; 3] = [
    EncrAlg::AesGcm16_256,
    EncrAlg::AesGcm16_128,
    EncrAlg::ChaCha20Poly1305,
];
/// The CBC ciphers of the default IKE and ESP proposals, preferred first.
const DEFAULT_CBC: [EncrAlg; 2] = [EncrAlg::AesCbc256, EncrAlg::AesCbc128];
/// The integrity algorithms paired with [`DEFAULT_CBC`], preferred first.
const DEFAULT_INTEGRITY: [IntegAlg; 3] = [
    IntegAlg::HmacSha256_128,
    IntegAlg::HmacSha384_192,
    IntegAlg::HmacSha512_256,
];

/// An IKE SA proposal: every combination of the listed algorithms is acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeProposal {
    /// EncrAlg algorithms, preferred first. AEADs and CBC must not be mixed in one proposal.
    pub encryption: Vec<EncrAlg>,
    /// IntegAlg algorithms (empty for AEAD proposals).
    pub integrity: Vec<IntegAlg>,
    /// PRFs.
    pub prf: Vec<PrfAlg>,
    /// Key exchange groups; the first is the one an initiator sends a KE for.
    pub dh: Vec<DhGroup>,
}

impl IkeProposal {
    /// The default proposals: AEADs first (AES-GCM-16 256/128, ChaCha20-Poly1305), then AES-CBC
    /// with HMAC-SHA2; PRF HMAC-SHA2-256/384/512; groups x25519, ECP-256, ECP-384.
    pub fn defaults() -> Vec<IkeProposal> {
        let prf = vec![PrfAlg::HmacSha256, PrfAlg::HmacSha384, PrfAlg::HmacSha512];
        let dh = vec![DhGroup::Curve25519, DhGroup::Ecp256, DhGroup::Ecp384];
        vec![
            IkeProposal {
                encryption: DEFAULT_AEADS.to_vec(),
                integrity: Vec::new(),
                prf: prf.clone(),
                dh: dh.clone(),
            },
            IkeProposal {
                encryption: DEFAULT_CBC.to_vec(),
                integrity: DEFAULT_INTEGRITY.to_vec(),
                prf,
                dh,
            },
        ]
    }
}

/// An ESP CHILD SA proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspProposal {
    /// EncrAlg algorithms, preferred first.
    pub encryption: Vec<EncrAlg>,
    /// IntegAlg algorithms (empty for AEAD proposals).
    pub integrity: Vec<IntegAlg>,
    /// PFS groups for CREATE_CHILD_SA; empty means no PFS. Never used in IKE_AUTH (§1.2).
    pub dh: Vec<DhGroup>,
    /// Accepted ESN settings, preferred first (`true` = extended sequence numbers).
    pub esn: Vec<bool>,
}

impl EspProposal {
    /// The default proposals: AES-GCM-16 256/128 and ChaCha20-Poly1305, then AES-CBC with HMAC-SHA2;
    /// ESN off or on; no PFS.
    pub fn defaults() -> Vec<EspProposal> {
        vec![
            EspProposal {
                encryption: DEFAULT_AEADS.to_vec(),
                integrity: Vec::new(),
                dh: Vec::new(),
                esn: vec![false, true],
            },
            EspProposal {
                encryption: DEFAULT_CBC.to_vec(),
                integrity: DEFAULT_INTEGRITY.to_vec(),
                dh: Vec::new(),
                esn: vec![false, true],
            },
        ]
    }
}

/// One transform of a received proposal, as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferedTransform {
    /// Transform type.
    pub kind: u8,
    /// Transform ID.
    pub id: u16,
    /// The Key Length attribute, if present.
    pub key_bits: Option<u16>,
    /// Whether the transform carried an attribute other than Key Length (makes it unacceptable,
    /// RFC 7296 §3.3.6).
    pub unknown_attribute: bool,
}

/// One received proposal substructure, as numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Proposal number (echoed in the answer).
    pub number: u8,
    /// Protocol ID.
    pub protocol: u8,
    /// The sender's SPI (empty in IKE_SA_INIT, 4 octets for ESP, 8 for an IKE rekey).
    pub spi: Vec<u8>,
    /// Transforms in received order.
    pub transforms: Vec<OfferedTransform>,
}

/// The algorithms chosen for an IKE SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IkeAlgorithms {
    /// Encryption and integrity (none with an AEAD).
    pub cipher: CipherSuite,
    /// PRF.
    pub prf: PrfAlg,
    /// Key exchange group.
    pub dh: DhGroup,
}

/// The algorithms chosen for an ESP CHILD SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspAlgorithms {
    /// Encryption and integrity (none with an AEAD).
    pub cipher: CipherSuite,
    /// PFS group, if a key exchange was done for this CHILD SA.
    pub dh: Option<DhGroup>,
    /// Extended sequence numbers.
    pub esn: bool,
}

impl IkeAlgorithms {
    /// The crypto layer's view: PRF plus SK payload protection.
    pub fn crypto_suite(&self) -> IkeSuite {
        IkeSuite {
            prf: self.prf,
            cipher: self.cipher,
        }
    }
}

/// The outcome of selection: the chosen offer's number and SPI plus the algorithms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected<S> {
    /// Proposal number to echo.
    pub number: u8,
    /// The peer's SPI from the chosen proposal.
    pub spi: Vec<u8>,
    /// The chosen algorithms.
    pub suite: S,
}

/// Why no proposal was selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectError {
    /// Nothing acceptable: answer NO_PROPOSAL_CHOSEN.
    NoProposalChosen,
    /// An acceptable proposal exists but with a different key exchange group than the KE payload
    /// carries: answer INVALID_KE_PAYLOAD with this group (§1.2, §3.10.1).
    InvalidKe(DhGroup),
}

/// What one offer allows, per transform type, after dropping unsupported transforms.
struct Allowed {
    encryption: Vec<EncrAlg>,
    integrity: Vec<IntegAlg>,
    prf: Vec<PrfAlg>,
    dh: Vec<u16>,
    esn: Vec<bool>,
    integrity_none: bool,
}

fn allowed(offer: &Offer) -> Option<Allowed> {
    let mut out = Allowed {
        encryption: Vec::new(),
        integrity: Vec::new(),
        prf: Vec::new(),
        dh: Vec::new(),
        esn: Vec::new(),
        integrity_none: false,
    };
    for t in &offer.transforms {
        if t.unknown_attribute {
            continue;
        }
        match t.kind {
            transform_type::ENCR => out
                .encryption
                .extend(EncrAlg::from_transform_id(t.id, t.key_bits)),
            transform_type::PRF => out.prf.extend(PrfAlg::from_transform_id(t.id)),
            transform_type::INTEG if t.id == 0 => out.integrity_none = true,
            transform_type::INTEG => out.integrity.extend(IntegAlg::from_transform_id(t.id)),
            transform_type::DH => out.dh.push(t.id),
            transform_type::ESN => out.esn.extend(match t.id {
                0 => Some(false),
                1 => Some(true),
                _ => None,
            }),
            // A transform type we do not understand makes the proposal unacceptable (§3.3.6).
            _ => return None,
        }
    }
    Some(out)
}

fn pick<T: Copy + PartialEq>(ours: &[T], theirs: &[T]) -> Option<T> {
    ours.iter().copied().find(|a| theirs.contains(a))
}

/// Picks encryption and integrity together: an AEAD takes no integrity (or INTEG NONE), a
/// non-AEAD needs one.
fn pick_cipher(enc: &[EncrAlg], integ: &[IntegAlg], offered: &Allowed) -> Option<CipherSuite> {
    enc.iter()
        .filter(|e| offered.encryption.contains(e))
        .find_map(|&e| {
            if e.is_aead() {
                offered
                    .integrity
                    .is_empty()
                    .then(|| CipherSuite::new(e, None).ok())
                    .flatten()
            } else {
                pick(integ, &offered.integrity).and_then(|i| CipherSuite::new(e, Some(i)).ok())
            }
        })
}

/// Selects an IKE SA proposal (IKE_SA_INIT or IKE rekey). `ke_group` is the group of the KE
/// payload that came with the offers.
pub fn select_ike(
    configured: &[IkeProposal],
    offers: &[Offer],
    ke_group: u16,
) -> Result<Selected<IkeAlgorithms>, SelectError> {
    let mut wrong_group = None;
    for ours in configured {
        for offer in offers.iter().filter(|o| o.protocol == protocol::IKE) {
            let Some(theirs) = allowed(offer) else {
                continue;
            };
            let Some(cipher) = pick_cipher(&ours.encryption, &ours.integrity, &theirs) else {
                continue;
            };
            let Some(prf) = pick(&ours.prf, &theirs.prf) else {
                continue;
            };
            let groups: Vec<DhGroup> = ours
                .dh
                .iter()
                .copied()
                .filter(|g| theirs.dh.contains(&g.transform_id()))
                .collect();
            match groups.iter().find(|g| g.transform_id() == ke_group) {
                Some(&dh) => {
                    return Ok(Selected {
                        number: offer.number,
                        spi: offer.spi.clone(),
                        suite: IkeAlgorithms { cipher, prf, dh },
                    })
                }
                None => {
                    if wrong_group.is_none() {
                        wrong_group = groups.first().copied();
                    }
                }
            }
        }
    }
    Err(wrong_group.map_or(SelectError::NoProposalChosen, SelectError::InvalidKe))
}

/// Selects an ESP proposal. `ke_group` is the group of the KE payload sent with the offers
/// (CREATE_CHILD_SA with PFS) or `None` (no KE payload: then only configured proposals without
/// PFS groups match). For the first CHILD SA in IKE_AUTH, which never has a key exchange (§1.2),
/// pass the configured proposals through [`without_pfs`].
pub fn select_esp(
    configured: &[EspProposal],
    offers: &[Offer],
    ke_group: Option<u16>,
) -> Result<Selected<EspAlgorithms>, SelectError> {
    let mut wrong_group = None;
    for ours in configured {
        for offer in offers
            .iter()
            .filter(|o| o.protocol == protocol::ESP && o.spi.len() == 4)
        {
            let Some(theirs) = allowed(offer) else {
                continue;
            };
            let Some(cipher) = pick_cipher(&ours.encryption, &ours.integrity, &theirs) else {
                continue;
            };
            let esn_offered = if theirs.esn.is_empty() {
                vec![false]
            } else {
                theirs.esn.clone()
            };
            let Some(esn) = pick(&ours.esn, &esn_offered) else {
                continue;
            };
            let suite = |dh| EspAlgorithms { cipher, dh, esn };
            let selected = |dh| Selected {
                number: offer.number,
                spi: offer.spi.clone(),
                suite: suite(dh),
            };
            let offered_none = theirs.dh.is_empty() || theirs.dh.contains(&0);
            match ke_group {
                None if ours.dh.is_empty() => return Ok(selected(None)),
                None => {}
                Some(group) => {
                    let groups: Vec<DhGroup> = ours
                        .dh
                        .iter()
                        .copied()
                        .filter(|g| theirs.dh.contains(&g.transform_id()))
                        .collect();
                    if let Some(&dh) = groups.iter().find(|g| g.transform_id() == group) {
                        return Ok(selected(Some(dh)));
                    }
                    if ours.dh.is_empty() && offered_none {
                        return Ok(selected(None));
                    }
                    if wrong_group.is_none() {
                        wrong_group = groups.first().copied();
                    }
                }
            }
        }
    }
    Err(wrong_group.map_or(SelectError::NoProposalChosen, SelectError::InvalidKe))
}

/// The proposals with their PFS groups removed (the first CHILD SA, created in IKE_AUTH).
pub fn without_pfs(configured: &[EspProposal]) -> Vec<EspProposal> {
    configured
        .iter()
        .map(|p| EspProposal {
            dh: Vec::new(),
            ..p.clone()
        })
        .collect()
}

/// The transforms (type, id, key length) to put in a proposal for an IKE suite, in §3.3.2 order.
pub fn ike_suite_transforms(suite: &IkeAlgorithms) -> Vec<OfferedTransform> {
    let encr = suite.cipher.encr();
    let mut out = vec![transform(
        transform_type::ENCR,
        encr.transform_id(),
        encr.key_bits_attribute(),
    )];
    out.push(transform(
        transform_type::PRF,
        suite.prf.transform_id(),
        None,
    ));
    if let Some(integ) = suite.cipher.integ() {
        out.push(transform(transform_type::INTEG, integ.transform_id(), None));
    }
    out.push(transform(transform_type::DH, suite.dh.transform_id(), None));
    out
}

/// The transforms for an ESP suite.
pub fn esp_suite_transforms(suite: &EspAlgorithms) -> Vec<OfferedTransform> {
    let encr = suite.cipher.encr();
    let mut out = vec![transform(
        transform_type::ENCR,
        encr.transform_id(),
        encr.key_bits_attribute(),
    )];
    if let Some(integ) = suite.cipher.integ() {
        out.push(transform(transform_type::INTEG, integ.transform_id(), None));
    }
    if let Some(dh) = suite.dh {
        out.push(transform(transform_type::DH, dh.transform_id(), None));
    }
    out.push(transform(transform_type::ESN, u16::from(suite.esn), None));
    out
}

/// The transforms offering everything in a configured IKE proposal, `first_group` first among
/// the groups (it is the one the KE payload carries).
pub fn ike_proposal_transforms(p: &IkeProposal, first_group: DhGroup) -> Vec<OfferedTransform> {
    let mut out: Vec<_> = p
        .encryption
        .iter()
        .map(|e| {
            transform(
                transform_type::ENCR,
                e.transform_id(),
                e.key_bits_attribute(),
            )
        })
        .collect();
    out.extend(
        p.prf
            .iter()
            .map(|f| transform(transform_type::PRF, f.transform_id(), None)),
    );
    out.extend(
        p.integrity
            .iter()
            .map(|i| transform(transform_type::INTEG, i.transform_id(), None)),
    );
    if p.dh.contains(&first_group) {
        out.push(transform(
            transform_type::DH,
            first_group.transform_id(),
            None,
        ));
    }
    out.extend(
        p.dh.iter()
            .filter(|&&g| g != first_group)
            .map(|g| transform(transform_type::DH, g.transform_id(), None)),
    );
    out
}

/// The transforms offering everything in a configured ESP proposal; `pfs` adds the DH groups.
pub fn esp_proposal_transforms(p: &EspProposal, pfs: Option<DhGroup>) -> Vec<OfferedTransform> {
    let mut out: Vec<_> = p
        .encryption
        .iter()
        .map(|e| {
            transform(
                transform_type::ENCR,
                e.transform_id(),
                e.key_bits_attribute(),
            )
        })
        .collect();
    out.extend(
        p.integrity
            .iter()
            .map(|i| transform(transform_type::INTEG, i.transform_id(), None)),
    );
    if let Some(first) = pfs {
        out.push(transform(transform_type::DH, first.transform_id(), None));
        out.extend(
            p.dh.iter()
                .filter(|&&g| g != first)
                .map(|g| transform(transform_type::DH, g.transform_id(), None)),
        );
    }
    out.extend(
        p.esn
            .iter()
            .map(|&esn| transform(transform_type::ESN, u16::from(esn), None)),
    );
    out
}

fn transform(kind: u8, id: u16, key_bits: Option<u16>) -> OfferedTransform {
    OfferedTransform {
        kind,
        id,
        key_bits,
        unknown_attribute: false,
    }
}

/// Checks that the responder's single chosen proposal is one we offered and returns its suite
/// (§2.7: the answer must contain exactly one proposal with one transform of each type).
pub fn accept_ike_answer(
    offered: &[IkeProposal],
    answer: &[Offer],
) -> Option<Selected<IkeAlgorithms>> {
    let [single] = answer else { return None };
    let suite = single_suite(single)?;
    let dh = DhGroup::from_transform_id(*suite.dh.first()?)?;
    let prf = *suite.prf.first()?;
    let cipher = single_cipher(&suite)?;
    let (encryption, integrity) = (cipher.encr(), cipher.integ());
    offered
        .iter()
        .any(|p| {
            p.encryption.contains(&encryption)
                && p.prf.contains(&prf)
                && p.dh.contains(&dh)
                && integrity.is_none_or(|i| p.integrity.contains(&i))
        })
        .then(|| Selected {
            number: single.number,
            spi: single.spi.clone(),
            suite: IkeAlgorithms { cipher, prf, dh },
        })
}

/// Checks the responder's chosen ESP proposal against what we offered.
pub fn accept_esp_answer(
    offered: &[EspProposal],
    pfs: Option<DhGroup>,
    answer: &[Offer],
) -> Option<Selected<EspAlgorithms>> {
    let [single] = answer else { return None };
    if single.protocol != protocol::ESP || single.spi.len() != 4 {
        return None;
    }
    let suite = single_suite(single)?;
    let cipher = single_cipher(&suite)?;
    let (encryption, integrity) = (cipher.encr(), cipher.integ());
    let esn = suite.esn.first().copied().unwrap_or(false);
    let dh = match suite.dh.first() {
        Some(&id) => Some(DhGroup::from_transform_id(id)?),
        None => None,
    };
    if dh.is_some() != pfs.is_some() {
        return None;
    }
    offered
        .iter()
        .any(|p| {
            p.encryption.contains(&encryption)
                && p.esn.contains(&esn)
                && integrity.is_none_or(|i| p.integrity.contains(&i))
                && dh.is_none_or(|g| p.dh.contains(&g))
        })
        .then(|| Selected {
            number: single.number,
            spi: single.spi.clone(),
            suite: EspAlgorithms { cipher, dh, esn },
        })
}

fn single_suite(offer: &Offer) -> Option<Allowed> {
    let suite = allowed(offer)?;
    let counts = [
        suite.encryption.len(),
        suite.prf.len(),
        suite.integrity.len() + usize::from(suite.integrity_none),
        suite.dh.len(),
        suite.esn.len(),
    ];
    (counts.iter().all(|&n| n <= 1) && offer.transforms.len() == counts.iter().sum::<usize>())
        .then_some(suite)
}

fn single_cipher(suite: &Allowed) -> Option<CipherSuite> {
    CipherSuite::new(*suite.encryption.first()?, suite.integrity.first().copied()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(number: u8, protocol: u8, spi: &[u8], transforms: Vec<OfferedTransform>) -> Offer {
        Offer {
            number,
            protocol,
            spi: spi.to_vec(),
            transforms,
        }
    }

    /// One IKE proposal (number 1, no SPI) by IANA numbers: ENCR `encr` with `key_bits`,
    /// PRF_HMAC_SHA2_256 (5) and DH `group`.
    fn ike_offer(encr: u16, key_bits: u16, group: u16) -> [Offer; 1] {
        [offer(
            1,
            protocol::IKE,
            &[],
            vec![
                transform(transform_type::ENCR, encr, Some(key_bits)),
                transform(transform_type::PRF, 5, None),
                transform(transform_type::DH, group, None),
            ],
        )]
    }

    /// One ESP proposal (number 1) with a 4-byte SPI and `transforms`.
    fn esp_offer(transforms: Vec<OfferedTransform>) -> [Offer; 1] {
        [offer(1, protocol::ESP, &[1, 2, 3, 4], transforms)]
    }

    #[test]
    fn ike_selection_prefers_ke_group_and_asks_for_another() {
        let ours = IkeProposal::defaults();
        let strongswan = IkeProposal {
            encryption: vec![EncrAlg::AesGcm16_256],
            integrity: vec![],
            prf: vec![PrfAlg::HmacSha256],
            dh: vec![DhGroup::Curve25519, DhGroup::Ecp256],
        };
        let offers = [offer(
            1,
            protocol::IKE,
            &[],
            ike_proposal_transforms(&strongswan, DhGroup::Curve25519),
        )];
        let chosen = select_ike(&ours, &offers, 31).unwrap();
        assert_eq!(chosen.suite.dh, DhGroup::Curve25519);
        assert_eq!(chosen.suite.cipher.encr(), EncrAlg::AesGcm16_256);
        assert_eq!(chosen.suite.cipher.integ(), None);
        // KE for a group we accept but not the one in the KE payload.
        let only_p256 = [IkeProposal {
            dh: vec![DhGroup::Ecp256],
            ..ours[0].clone()
        }];
        assert_eq!(
            select_ike(&only_p256, &offers, 31),
            Err(SelectError::InvalidKe(DhGroup::Ecp256))
        );
        let unknown_group = ike_offer(20, 128, 14);
        assert_eq!(
            select_ike(&ours, &unknown_group, 14),
            Err(SelectError::NoProposalChosen)
        );
    }

    #[test]
    fn cbc_needs_integrity_and_unknown_type_rejects() {
        let ours = IkeProposal::defaults();
        let cbc_without_integ = ike_offer(12, 256, 31);
        assert_eq!(
            select_ike(&ours, &cbc_without_integ, 31),
            Err(SelectError::NoProposalChosen)
        );
        let mut with_unknown_type = cbc_without_integ[0].clone();
        with_unknown_type
            .transforms
            .push(transform(transform_type::INTEG, 12, None));
        assert!(select_ike(&ours, &[with_unknown_type.clone()], 31).is_ok());
        with_unknown_type.transforms.push(transform(9, 1, None));
        assert_eq!(
            select_ike(&ours, &[with_unknown_type], 31),
            Err(SelectError::NoProposalChosen)
        );
        let bad_key = ike_offer(20, 192, 31);
        assert_eq!(
            select_ike(&ours, &bad_key, 31),
            Err(SelectError::NoProposalChosen)
        );
    }

    #[test]
    fn esp_selection_and_answer_check() {
        let ours = EspProposal::defaults();
        let offers = [offer(
            2,
            protocol::ESP,
            &[1, 2, 3, 4],
            esp_proposal_transforms(&ours[1], None),
        )];
        let chosen = select_esp(&ours, &offers, None).unwrap();
        assert_eq!(chosen.number, 2);
        assert_eq!(chosen.spi, vec![1, 2, 3, 4]);
        assert_eq!(chosen.suite.cipher.encr(), EncrAlg::AesCbc256);
        assert_eq!(chosen.suite.cipher.integ(), Some(IntegAlg::HmacSha256_128));
        assert!(!chosen.suite.esn);
        let answer = [offer(
            2,
            protocol::ESP,
            &[9, 9, 9, 9],
            esp_suite_transforms(&chosen.suite),
        )];
        assert_eq!(
            accept_esp_answer(&ours, None, &answer).unwrap().suite,
            chosen.suite
        );
        // Two proposals in an answer, or a transform we did not offer, are refused.
        assert!(accept_esp_answer(&ours, None, &[answer[0].clone(), answer[0].clone()]).is_none());
        let only_gcm = [EspProposal {
            encryption: vec![EncrAlg::AesGcm16_128],
            ..ours[0].clone()
        }];
        assert!(accept_esp_answer(&only_gcm, None, &answer).is_none());
        // Bad SPI length.
        let short_spi = [offer(
            1,
            protocol::ESP,
            &[1, 2],
            esp_proposal_transforms(&ours[0], None),
        )];
        assert_eq!(
            select_esp(&ours, &short_spi, None),
            Err(SelectError::NoProposalChosen)
        );
    }

    #[test]
    fn esp_pfs_selection() {
        let pfs = [EspProposal {
            dh: vec![DhGroup::Ecp256],
            ..EspProposal::defaults()[0].clone()
        }];
        let offers = esp_offer(esp_proposal_transforms(&pfs[0], Some(DhGroup::Ecp256)));
        assert_eq!(
            select_esp(&pfs, &offers, Some(19)).unwrap().suite.dh,
            Some(DhGroup::Ecp256)
        );
        assert_eq!(
            select_esp(&pfs, &offers, Some(31)),
            Err(SelectError::InvalidKe(DhGroup::Ecp256))
        );
        // We require PFS, the peer offers none.
        let no_pfs = esp_offer(esp_proposal_transforms(&pfs[0], None));
        assert_eq!(
            select_esp(&pfs, &no_pfs, None),
            Err(SelectError::NoProposalChosen)
        );
        // ... which is fine in IKE_AUTH, where no key exchange happens.
        assert_eq!(
            select_esp(&without_pfs(&pfs), &offers, None)
                .unwrap()
                .suite
                .dh,
            None
        );
    }

    #[test]
    fn ike_answer_must_be_single_and_offered() {
        let ours = IkeProposal::defaults();
        let suite = IkeAlgorithms {
            cipher: CipherSuite::new(EncrAlg::AesCbc128, Some(IntegAlg::HmacSha512_256)).unwrap(),
            prf: PrfAlg::HmacSha384,
            dh: DhGroup::Ecp384,
        };
        let answer = [offer(2, protocol::IKE, &[], ike_suite_transforms(&suite))];
        assert_eq!(accept_ike_answer(&ours, &answer).unwrap().suite, suite);
        let mut two_dh = answer[0].clone();
        two_dh
            .transforms
            .push(transform(transform_type::DH, 19, None));
        assert!(accept_ike_answer(&ours, &[two_dh]).is_none());
        let mut aead_with_integ = answer[0].clone();
        aead_with_integ.transforms[0] = transform(transform_type::ENCR, 20, Some(128));
        assert!(accept_ike_answer(&ours, &[aead_with_integ]).is_none());
    }
}
