//! Sans-IO IKEv2 engine (RFC 7296).
#![forbid(unsafe_code)]
