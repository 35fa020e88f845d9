//! The one place the eseg binaries read the clock and the operating system's randomness;
//! everything else (the engine, the data path) gets `now` and seeds from here.

use std::time::Instant;

/// The current time.
#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}

/// A fresh seed for the engine's RNG.
#[allow(clippy::disallowed_methods)]
pub fn seed() -> std::io::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(std::io::Error::other)?;
    Ok(seed)
}
