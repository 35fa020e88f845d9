//! Counters the engine keeps about what it received, sent and refused (for status output and
//! for tests that check hostile input was noticed).

/// Monotonic counters since the endpoint was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Datagrams handed to [`crate::Endpoint::handle_datagram`].
    pub received: u64,
    /// Transmits produced (including retransmissions).
    pub sent: u64,
    /// Messages that did not parse or failed a syntax check.
    pub dropped_malformed: u64,
    /// Messages for an IKE SA we do not have.
    pub dropped_unknown_spi: u64,
    /// Protected messages whose SK payload failed to authenticate or decrypt.
    pub dropped_integrity: u64,
    /// Requests outside the window and responses to nothing outstanding.
    pub dropped_message_id: u64,
    /// Messages valid in themselves but not in the SA's state.
    pub dropped_unexpected: u64,
    /// IKE_SA_INIT requests dropped because of the IKE SA / half-open limits.
    pub dropped_overload: u64,
    /// COOKIE notifies sent (§2.6).
    pub cookies_sent: u64,
    /// INVALID_KE_PAYLOAD notifies sent.
    pub invalid_ke_sent: u64,
    /// NO_PROPOSAL_CHOSEN answers to IKE_SA_INIT.
    pub no_proposal_chosen: u64,
    /// Failed AUTH checks (either side).
    pub authentication_failed: u64,
    /// CHILD SA requests refused or failed.
    pub child_sa_refused: u64,
    /// Retransmitted requests of ours.
    pub retransmits: u64,
    /// Retransmitted requests of the peer answered from the response cache.
    pub retransmitted_requests: u64,
    /// Requests given up after all retransmissions.
    pub exchanges_timed_out: u64,
    /// IKE SAs that completed IKE_AUTH.
    pub ike_sas_established: u64,
    /// IKE SAs closed (any reason).
    pub ike_sas_closed: u64,
    /// IKE SAs replaced by a rekey.
    pub ike_sas_rekeyed: u64,
    /// CHILD SAs installed.
    pub child_sas_installed: u64,
    /// IKE SAs established with MOBIKE negotiated (RFC 4555 §3.2).
    pub mobike_established: u64,
    /// MOBIKE address updates completed: as responder, IKE SAs moved by an
    /// UPDATE_SA_ADDRESSES request; as initiator, updates the peer acknowledged.
    pub address_updates: u64,
    /// MOBIKE address updates refused or failed: UNEXPECTED_NAT_DETECTED sent, an error
    /// answer received, or a response without our COOKIE2.
    pub address_updates_failed: u64,
}
