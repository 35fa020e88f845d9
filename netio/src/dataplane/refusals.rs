//! Log lines for what the IKE engine refused or dropped.
//!
//! The engine counts every malformed, unauthenticated, out-of-window or unacceptable message
//! ([`ikev2::Counters`]) but does no logging of its own (it is sans-IO). After each message the
//! driver compares the counters from before and after and says, in one line with the peer's
//! address, which of them moved. Refusals an operator acts on (no common proposal, wrong
//! credentials, refused CHILD SAs, overload) are `info`; drops of hostile or stale input are
//! `debug`, so a flood cannot flood the log at the default level.

use ikev2::path::Path;
use ikev2::Counters;

/// One counter the driver reports on: its name in the log, how to read it, and whether it is an
/// operator-relevant refusal (`info`) or a quiet drop (`debug`).
struct Watched {
    what: &'static str,
    read: fn(&Counters) -> u64,
    refusal: bool,
}

const WATCHED: &[Watched] = &[
    Watched {
        what: "answered NO_PROPOSAL_CHOSEN (no common IKE or ESP proposal)",
        read: |c| c.no_proposal_chosen,
        refusal: true,
    },
    Watched {
        what: "authentication failed",
        read: |c| c.authentication_failed,
        refusal: true,
    },
    Watched {
        what: "CHILD SA refused",
        read: |c| c.child_sa_refused,
        refusal: true,
    },
    Watched {
        what: "IKE_SA_INIT dropped: IKE SA or half-open limit reached",
        read: |c| c.dropped_overload,
        refusal: true,
    },
    Watched {
        what: "asked for another key-exchange group (INVALID_KE_PAYLOAD)",
        read: |c| c.invalid_ke_sent,
        refusal: false,
    },
    Watched {
        what: "asked for a COOKIE",
        read: |c| c.cookies_sent,
        refusal: false,
    },
    Watched {
        what: "dropped a malformed message",
        read: |c| c.dropped_malformed,
        refusal: false,
    },
    Watched {
        what: "dropped a message for an unknown IKE SA",
        read: |c| c.dropped_unknown_spi,
        refusal: false,
    },
    Watched {
        what: "dropped a message that failed integrity",
        read: |c| c.dropped_integrity,
        refusal: false,
    },
    Watched {
        what: "dropped a message outside the message-ID window",
        read: |c| c.dropped_message_id,
        refusal: false,
    },
    Watched {
        what: "refused a MOBIKE address update (RFC 4555: NAT not allowed, or a COOKIE2 that did not match)",
        read: |c| c.address_updates_failed,
        refusal: true,
    },
    Watched {
        what: "dropped a message unexpected in the SA's state",
        read: |c| c.dropped_unexpected,
        refusal: false,
    },
];

/// Logs every watched counter that grew between `before` and `after` (the engine's counters
/// around one received message from `path`).
pub fn log_refusals(before: &Counters, after: &Counters, path: &Path) {
    for watched in WATCHED {
        let grew = (watched.read)(after).saturating_sub((watched.read)(before));
        if grew == 0 {
            continue;
        }
        if watched.refusal {
            tracing::info!(peer = %path.remote, count = grew, "IKE: {}", watched.what);
        } else {
            tracing::debug!(peer = %path.remote, count = grew, "IKE: {}", watched.what);
        }
    }
}
