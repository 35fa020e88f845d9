//! The lab's error type: every failure names the command or file involved, so that a failing test
//! says what went wrong without re-running it by hand.

use std::path::PathBuf;
use std::time::Duration;

/// Result alias for lab operations.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong while building, using or tearing down a lab.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A program could not be started at all (not installed, not executable).
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        /// The command line, space-joined.
        command: String,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A program ran and exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line, space-joined.
        command: String,
        /// The exit status as text (`exit status: 1`, `signal: 9`).
        status: String,
        /// What the program wrote to stderr (trimmed).
        stderr: String,
    },
    /// A program did not finish within its time limit and was killed.
    #[error("`{command}` did not finish within {limit:?}")]
    Timeout {
        /// The command line, space-joined.
        command: String,
        /// The limit that was exceeded.
        limit: Duration,
    },
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What the lab was doing.
        what: String,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A program's output could not be understood.
    #[error("cannot parse output of `{command}`: {reason}")]
    Parse {
        /// The command whose output was read.
        command: String,
        /// Why it could not be parsed.
        reason: String,
    },
    /// The request does not fit the topology or the lab's limits.
    #[error("invalid lab request: {0}")]
    Invalid(String),
    /// A condition the lab waited for did not happen in time.
    #[error("gave up waiting for {what} after {limit:?}")]
    WaitTimeout {
        /// What was awaited.
        what: String,
        /// How long the lab waited.
        limit: Duration,
    },
    /// A check made through the lab failed (wrong echo, unexpected reachability).
    #[error("check failed: {0}")]
    Check(String),
    /// No free address block (all 256 are claimed by live labs).
    #[error("no free lab address block in {dir}")]
    NoFreeBlock {
        /// The directory holding the block claims.
        dir: PathBuf,
    },
}

impl Error {
    /// Wraps an I/O error with a description of what the lab was doing.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}
