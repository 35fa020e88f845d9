//! Shared I/O for the eseg binaries: the TUN device, UDP and TCP socket setup, and the data-plane
//! workers that move packets between TUN, the ESP data path and the transports.
//!
//! Linux only. `unsafe` appears only around ioctls, each block with a `// SAFETY:` comment.

pub mod clock;
pub mod dataplane;
pub mod http_proxy;
pub mod ifctl;
pub mod tcp;
pub mod tun;
pub mod udp;
