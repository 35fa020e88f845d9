//! The UDP sockets IKE and ESP travel on: port 500 (bare IKE) and port 4500 (IKE behind the
//! non-ESP marker, ESP-in-UDP, keepalives), opened with large buffers and `IP_PKTINFO`
//! ([`crate::udp`]), blocking with a short read timeout so their worker threads can stop.
//!
//! Sending IKE: a [`Transmit`]'s `path.local` picks the socket (exact address, else same port),
//! the reply leaves from the address the request came to, and the marker is added when the path
//! needs it ([RFC 3948 §2.2](https://www.rfc-editor.org/rfc/rfc3948#section-2.2)).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ikev2::path::{Transmit, Transport};

use super::natt::NON_ESP_MARKER;
use super::worker::STOP_POLL;
use crate::udp::{RecvMeta, UdpConfig, UdpSocket};

/// The IKE (500) and NAT-T (4500) sockets.
#[derive(Debug, Clone)]
pub struct IkeSockets {
    /// Port-500 sockets.
    pub ike: Vec<Arc<UdpSocket>>,
    /// Port-4500 sockets (read by the data-plane workers).
    pub natt: Vec<Arc<UdpSocket>>,
}

impl IkeSockets {
    /// Binds one IKE and one NAT-T socket per `(ike, natt)` address pair.
    pub fn bind(addresses: impl IntoIterator<Item = (SocketAddr, SocketAddr)>) -> io::Result<Self> {
        let mut sockets = IkeSockets {
            ike: Vec::new(),
            natt: Vec::new(),
        };
        for (ike, natt) in addresses {
            sockets.ike.push(Arc::new(bind_blocking(ike)?));
            sockets.natt.push(Arc::new(bind_blocking(natt)?));
        }
        Ok(sockets)
    }

    /// One socket on an ephemeral port for everything (a client: IKE to the gateway's port 500
    /// and 4500, and ESP-in-UDP), bound to `local` (port 0 for any).
    pub fn single(local: SocketAddr) -> io::Result<Self> {
        Ok(IkeSockets {
            ike: Vec::new(),
            natt: vec![Arc::new(bind_blocking(local)?)],
        })
    }

    /// The NAT-T socket for a local address: the one bound to it, else one on the same port.
    pub fn natt_for(&self, local: SocketAddr) -> Option<&UdpSocket> {
        pick(&self.natt, local)
    }

    /// Sends one engine transmit on the socket its path names, with the non-ESP marker where
    /// the path needs one.
    pub fn send(&self, transmit: &Transmit) -> io::Result<()> {
        let path = transmit.path;
        if path.transport != Transport::Udp {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "IKE over TCP is not served by the UDP sockets",
            ));
        }
        let source = specific(path.local.ip());
        if path.needs_non_esp_marker() {
            let socket = self.natt_for(path.local).ok_or_else(no_socket)?;
            let mut framed = Vec::with_capacity(NON_ESP_MARKER.len() + transmit.data.len());
            framed.extend_from_slice(&NON_ESP_MARKER);
            framed.extend_from_slice(&transmit.data);
            socket.send_from(&framed, path.remote, source)?;
        } else {
            // A gateway answers from its port-500 socket; a client has one socket for both.
            let socket = pick(&self.ike, path.local)
                .or_else(|| self.natt_for(path.local))
                .ok_or_else(no_socket)?;
            socket.send_from(&transmit.data, path.remote, source)?;
        }
        Ok(())
    }
}

/// Opens a blocking socket whose reads give up after [`STOP_POLL`].
fn bind_blocking(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = UdpSocket::bind(&UdpConfig::new(addr).nonblocking(false))
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind UDP {addr}: {e}")))?;
    socket.socket().set_read_timeout(Some(STOP_POLL))?;
    Ok(socket)
}

/// `Some(ip)` unless it is the wildcard address.
pub(crate) fn specific(ip: IpAddr) -> Option<IpAddr> {
    (!ip.is_unspecified()).then_some(ip)
}

/// The local socket address a datagram was received on: the bound port with the `IP_PKTINFO`
/// destination address when the socket is bound to a wildcard.
pub(crate) fn local_of(socket: &UdpSocket, meta: &RecvMeta) -> SocketAddr {
    let bound = socket.local_addr();
    SocketAddr::new(meta.local_ip.unwrap_or(bound.ip()), bound.port())
}

fn no_socket() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "no socket bound for this path")
}

/// The socket bound to `local`, else one bound to the same port.
fn pick(sockets: &[Arc<UdpSocket>], local: SocketAddr) -> Option<&UdpSocket> {
    sockets
        .iter()
        .find(|s| s.local_addr() == local)
        .or_else(|| {
            sockets
                .iter()
                .find(|s| s.local_addr().port() == local.port())
        })
        .map(AsRef::as_ref)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ikev2::path::Path;

    #[test]
    fn marker_added_only_off_port_500_and_socket_chosen_by_port() {
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let sockets = IkeSockets::bind([(
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        )])
        .unwrap();
        let natt_addr = sockets.natt[0].local_addr();
        let mut buf = [0u8; 64];
        // Neither port is 500: the marker goes in front, sent from the NAT-T socket.
        let marked = Transmit {
            path: Path::udp(natt_addr, peer.local_addr().unwrap()),
            data: vec![9, 9],
        };
        sockets.send(&marked).unwrap();
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&[0, 0, 0, 0, 9, 9][..], natt_addr));
        // A wildcard local address with the NAT-T port still finds the NAT-T socket.
        let mut wildcard = natt_addr;
        wildcard.set_ip("0.0.0.0".parse().unwrap());
        assert_eq!(sockets.natt_for(wildcard).unwrap().local_addr(), natt_addr);
        assert!(sockets.natt_for("0.0.0.0:1".parse().unwrap()).is_none());
    }
}
