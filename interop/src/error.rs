//! The harness's error type: every failure says which program, file or condition was involved, so
//! a failing scenario explains itself without re-running it by hand.

use std::time::Duration;

/// Result alias for harness operations.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong while driving strongSwan or eseg in the lab.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The lab itself failed (namespaces, processes, commands).
    #[error(transparent)]
    Lab(#[from] lab::Error),
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// strongSwan (charon or swanctl) refused or failed.
    #[error("strongSwan: {0}")]
    Strongswan(String),
    /// eseg-gateway or eseg-client refused or failed.
    #[error("eseg: {0}")]
    Eseg(String),
    /// Output that could not be understood.
    #[error("cannot parse {what}: {reason}")]
    Parse {
        /// Whose output.
        what: String,
        /// Why.
        reason: String,
    },
    /// A condition did not hold in time.
    #[error("gave up waiting for {what} after {limit:?}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the harness waited.
        limit: Duration,
    },
}

impl Error {
    /// Wraps an I/O error with a description of what the harness was doing.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}
