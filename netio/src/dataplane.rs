//! Data-plane workers: TUN <-> ESP <-> transport.
