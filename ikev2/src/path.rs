//! Where IKE messages travel: the [`Path`] a datagram arrived on or must leave by, and the
//! [`Transmit`] the engine hands back to the driver.
//!
//! The engine never opens sockets. It answers a request on the path the request came in on and,
//! after NAT detection, moves an IKE SA to UDP port 4500 by emitting transmits whose `local`
//! and `remote` addresses carry port 4500
//! ([RFC 7296 §2.23](https://www.rfc-editor.org/rfc/rfc7296#section-2.23)).

use std::net::SocketAddr;

/// The IKE port of RFC 7296 §2.
pub const IKE_PORT: u16 = 500;
/// The NAT traversal port of RFC 3948 / RFC 7296 §2.23.
pub const NAT_T_PORT: u16 = 4500;

/// An opaque TCP connection identifier chosen by the driver (RFC 9329 transport).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TcpConnectionId(pub u64);

/// The transport carrying IKE messages for one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transport {
    /// Plain UDP (port 500) or UDP with the non-ESP marker (port 4500).
    Udp,
    /// A TCP stream with TPKT' framing; the id tells the driver which stream.
    Tcp(TcpConnectionId),
}

/// Local and remote socket address plus transport of an IKE message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path {
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// How the bytes travel.
    pub transport: Transport,
}

impl Path {
    /// A UDP path.
    pub fn udp(local: SocketAddr, remote: SocketAddr) -> Self {
        Path {
            local,
            remote,
            transport: Transport::Udp,
        }
    }

    /// Whether a datagram on this path carries the 4-byte zero non-ESP marker in front of the IKE
    /// header: UDP where neither port is 500
    /// ([RFC 3948 §2.2](https://www.rfc-editor.org/rfc/rfc3948#section-2.2)).
    /// The driver adds it on send and strips it on receive; the engine sees bare IKE messages.
    pub fn needs_non_esp_marker(&self) -> bool {
        self.transport == Transport::Udp
            && self.local.port() != IKE_PORT
            && self.remote.port() != IKE_PORT
    }

    /// The same path moved to UDP port 4500 on both ends (after NAT detection). TCP paths and paths
    /// already off port 500 are returned unchanged.
    pub fn to_nat_t_port(self) -> Self {
        if self.transport != Transport::Udp {
            return self;
        }
        let mut moved = self;
        if moved.local.port() == IKE_PORT {
            moved.local.set_port(NAT_T_PORT);
        }
        if moved.remote.port() == IKE_PORT {
            moved.remote.set_port(NAT_T_PORT);
        }
        moved
    }
}

/// One bare IKE message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it; send from `path.local` (the driver binds 500 and 4500).
    pub path: Path,
    /// The IKE message, header first, without non-ESP marker or TPKT' header.
    pub data: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_only_off_port_500() {
        let a: SocketAddr = "10.0.0.1:500".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:500".parse().unwrap();
        let path = Path::udp(a, b);
        assert!(!path.needs_non_esp_marker());
        let moved = path.to_nat_t_port();
        assert_eq!(moved.local.port(), 4500);
        assert_eq!(moved.remote.port(), 4500);
        assert!(moved.needs_non_esp_marker());
        let tcp = Path {
            transport: Transport::Tcp(TcpConnectionId(7)),
            ..moved
        };
        assert!(!tcp.needs_non_esp_marker());
        assert_eq!(tcp.to_nat_t_port(), tcp);
    }
}
