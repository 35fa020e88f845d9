//! Userspace ESP tunnel-mode data path (RFC 4303).
#![forbid(unsafe_code)]
