//! eseg-gateway: the eSEG daemon.

fn main() {}
