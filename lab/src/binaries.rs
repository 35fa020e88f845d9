//! Finding and building the workspace's own programs (`eseg-gateway`, `eseg-client`, ...) from a
//! test, a bench or the demo: Cargo sets `CARGO_BIN_EXE_<name>` only for binaries of the test's own
//! package, so the programs of other packages are looked for next to the running executable, in
//! its target profile directory (`target/debug/deps/<test>` and `target/debug/<program>` ->
//! `target/debug`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// The path of the workspace binary `name`, built in the same profile as the running program.
/// Fails with a message saying how to build it when it is missing.
pub fn cargo_bin(name: &str) -> Result<PathBuf> {
    let candidate = profile_dir()?.join(name);
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(Error::Invalid(format!(
            "{} not found; build it first (`cargo build --bins`)",
            candidate.display()
        )))
    }
}

/// Builds the binaries of the workspace packages `packages` (`cargo build -p ...`) into the
/// running program's target directory and profile (`--release` when it runs from
/// `target/release`), and returns that profile directory, where the binaries now are.
///
/// Cargo skips the build when they are up to date, so callers build once per process and then
/// join the binary names onto the returned directory.
pub fn build_workspace_binaries(packages: &[&str]) -> Result<PathBuf> {
    let profile_dir = profile_dir()?;
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| Error::Invalid(format!("{} has no parent", profile_dir.display())))?;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "--quiet"]);
    for package in packages {
        build.args(["-p", package]);
    }
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    build
        .arg("--manifest-path")
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", target_dir);
    let command = format!("cargo build -p {}", packages.join(" -p "));
    let output = build.output().map_err(|source| Error::Spawn {
        command: command.clone(),
        source,
    })?;
    if !output.status.success() {
        return Err(Error::Command {
            command,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(profile_dir)
}

/// The target profile directory of the running program.
fn profile_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| Error::io("locate the running program", e))?;
    let mut dir = exe
        .parent()
        .ok_or_else(|| Error::Invalid(format!("{} has no directory", exe.display())))?
        .to_path_buf();
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    Ok(dir)
}
