//! eseg-bench's error type: every failure names the system or step it belongs to.

/// Result alias for the benchmark.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong during a benchmark run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The lab failed (namespaces, processes, commands).
    #[error(transparent)]
    Lab(#[from] lab::Error),
    /// The strongSwan harness failed.
    #[error(transparent)]
    Interop(#[from] eseg_interop::Error),
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What the benchmark was doing.
        what: String,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A system cannot be measured on this machine (not installed, not implemented yet).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A system under test misbehaved (no tunnel, daemon died).
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// Wraps an I/O error with a description of what the benchmark was doing.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}
