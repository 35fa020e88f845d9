//! Finding the workspace's own programs (`eseg-gateway`, `eseg-client`, ...) from a test or a
//! bench: Cargo sets `CARGO_BIN_EXE_<name>` only for binaries of the test's own package, so the
//! end-to-end tests in other crates look next to their own executable instead, in the target
//! profile directory (`target/debug/deps/<test>` -> `target/debug/<name>`).

use std::path::PathBuf;

use crate::error::{Error, Result};

/// The path of the workspace binary `name`, built in the same profile as the running program.
/// Fails with a message saying how to build it when it is missing.
pub fn cargo_bin(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| Error::io("locate the running program", e))?;
    let mut dir = exe
        .parent()
        .ok_or_else(|| Error::Invalid(format!("{} has no directory", exe.display())))?
        .to_path_buf();
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    let candidate = dir.join(name);
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(Error::Invalid(format!(
            "{} not found; build it first (`cargo build --bins`)",
            candidate.display()
        )))
    }
}
