//! eseg-client: the tunnelling client.

fn main() {}
