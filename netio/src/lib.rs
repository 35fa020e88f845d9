//! Shared I/O for the eseg binaries.
