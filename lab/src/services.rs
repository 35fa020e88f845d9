//! Small network services for tests, run as threads inside a lab namespace: a UDP echo, a TCP
//! echo listener (the core uses it to call a client's inner address, the direction the core
//! opens), and one-shot round-trip checks against them. No helper binary is needed: a socket
//! created on a thread that entered a namespace stays in that namespace.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::topology::{Host, Lab};

/// How often service threads look at their stop flag.
const POLL: Duration = Duration::from_millis(50);
/// Largest datagram or read the echo services handle.
const MAX_MESSAGE: usize = 65_536;
/// Most simultaneous connections one TCP echo serves; more are closed at once.
const MAX_CONNECTIONS: usize = 64;

/// A running service thread; stopped and joined on drop.
#[derive(Debug)]
pub struct ServiceGuard {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ServiceGuard {
    /// The address the service is bound to (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for ServiceGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Lab {
    /// Starts a UDP echo bound to `bind` inside `host`: every datagram goes back to its sender.
    pub fn udp_echo(&self, host: Host, bind: SocketAddr) -> Result<ServiceGuard> {
        let socket = self
            .run_in(host, || UdpSocket::bind(bind))?
            .map_err(|e| Error::io(format!("bind UDP {bind} in {host}"), e))?;
        socket
            .set_read_timeout(Some(POLL))
            .map_err(|e| Error::io("set UDP read timeout", e))?;
        let local = socket
            .local_addr()
            .map_err(|e| Error::io("UDP local address", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; MAX_MESSAGE];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((len, peer)) = socket.recv_from(&mut buf) {
                    let _ = socket.send_to(buf.get(..len).unwrap_or_default(), peer);
                }
            }
        });
        Ok(ServiceGuard {
            local,
            stop,
            thread: Some(thread),
        })
    }

    /// Starts a TCP echo listener bound to `bind` inside `host`: each connection gets back what
    /// it sends until it closes.
    pub fn tcp_echo(&self, host: Host, bind: SocketAddr) -> Result<ServiceGuard> {
        let listener = self
            .run_in(host, || TcpListener::bind(bind))?
            .map_err(|e| Error::io(format!("bind TCP {bind} in {host}"), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("set listener non-blocking", e))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io("TCP local address", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || serve_tcp_echo(&listener, &flag));
        Ok(ServiceGuard {
            local,
            stop,
            thread: Some(thread),
        })
    }

    /// From inside `host`, sends `payload` over UDP to `to` and checks that the same bytes come
    /// back within `limit`.
    pub fn udp_roundtrip(
        &self,
        host: Host,
        to: SocketAddr,
        payload: &[u8],
        limit: Duration,
    ) -> Result<()> {
        let unspecified: SocketAddr = if to.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let socket = self
            .run_in(host, || UdpSocket::bind(unspecified))?
            .map_err(|e| Error::io(format!("bind UDP in {host}"), e))?;
        socket
            .set_read_timeout(Some(limit))
            .map_err(|e| Error::io("set UDP read timeout", e))?;
        socket
            .send_to(payload, to)
            .map_err(|e| Error::io(format!("send UDP to {to} from {host}"), e))?;
        let mut buf = vec![0u8; MAX_MESSAGE];
        let (len, from) = socket
            .recv_from(&mut buf)
            .map_err(|e| Error::io(format!("UDP echo from {to} to {host}"), e))?;
        if from != to || buf.get(..len) != Some(payload) {
            return Err(Error::Check(format!(
                "UDP echo from {from} ({len} bytes) does not match what {host} sent to {to}"
            )));
        }
        Ok(())
    }

    /// From inside `host`, connects to `to` (within `limit`), sends `payload` and checks that
    /// the same bytes come back. This is how the core calls a client's inner address.
    pub fn tcp_roundtrip(
        &self,
        host: Host,
        to: SocketAddr,
        payload: &[u8],
        limit: Duration,
    ) -> Result<()> {
        let mut stream = self
            .run_in(host, || TcpStream::connect_timeout(&to, limit))?
            .map_err(|e| Error::io(format!("TCP connect {host} -> {to}"), e))?;
        stream
            .set_read_timeout(Some(limit))
            .map_err(|e| Error::io("set TCP read timeout", e))?;
        stream
            .write_all(payload)
            .map_err(|e| Error::io(format!("TCP write {host} -> {to}"), e))?;
        let mut echoed = vec![0u8; payload.len()];
        stream
            .read_exact(&mut echoed)
            .map_err(|e| Error::io(format!("TCP echo {to} -> {host}"), e))?;
        if echoed != payload {
            return Err(Error::Check(format!(
                "TCP echo from {to} does not match what {host} sent"
            )));
        }
        Ok(())
    }
}

fn serve_tcp_echo(listener: &TcpListener, stop: &Arc<AtomicBool>) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        workers.retain(|w| !w.is_finished());
        match listener.accept() {
            Ok((stream, _)) if workers.len() < MAX_CONNECTIONS => {
                let flag = Arc::clone(stop);
                workers.push(std::thread::spawn(move || echo_connection(stream, &flag)));
            }
            Ok(_) => {}
            Err(_) => std::thread::sleep(POLL),
        }
    }
    for worker in workers {
        let _ = worker.join();
    }
}

fn echo_connection(mut stream: TcpStream, stop: &AtomicBool) {
    if stream.set_nonblocking(false).is_err() || stream.set_read_timeout(Some(POLL)).is_err() {
        return;
    }
    let mut buf = vec![0u8; MAX_MESSAGE];
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if stream.write_all(buf.get(..n).unwrap_or_default()).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}
