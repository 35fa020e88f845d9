//! A deliberately misbehaving initiator for negative end-to-end tests: it sets up a real IKE SA
//! with a CHILD SA and a virtual IP (an `ikev2::Endpoint` in a lab namespace, over UDP or over a
//! TPKT' connection to TCP port 80), then seals whatever inner packet the test hands it, from any
//! source address, with the CHILD SA's own keys, and sends it to the gateway as ESP-in-UDP
//! (<https://www.rfc-editor.org/rfc/rfc3948#section-2.1>) or as a TPKT' ESP frame.
//!
//! The real client only protects packets from its own virtual IP (its outbound policy drops the
//! rest before sealing), so it cannot exercise the gateway's inbound source check
//! (<https://www.rfc-editor.org/rfc/rfc4301#section-5.2>, step 4): this can. It can also resend
//! an ESP packet byte for byte, to test the replay window.
//!
//! The engine runs on a thread of its own for as long as the value lives, so liveness checks
//! from the gateway are answered while the test works; dropping the value stops the thread.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use esp::{OutboundSa, PacketBuf, SEAL_HEADROOM, SEAL_TAILROOM};
use ikev2::config::{Lifetimes, VirtualIpConfig};
use ikev2::crypto::Secret;
use ikev2::events::Event;
use ikev2::path::{Path, TcpConnectionId, Transport, IKE_PORT, NAT_T_PORT};
use ikev2::{Endpoint, EndpointConfig, NoAddressPool, PeerConfig};
use lab::{Host, Lab};
use netio::clock;
use netio::dataplane::Shared;

/// The 4-byte zero non-ESP marker in front of IKE on port 4500 and in TPKT' frames
/// (<https://www.rfc-editor.org/rfc/rfc3948#section-2.2>).
const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// The PSK the gateway's built-in `*` peer accepts (the tests' gateways keep it).
const LAB_PSK: &[u8] = b"eseg-lab-demo-psk-do-not-deploy";

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_535;

/// Largest inner packet [`RogueClient::seal`] takes.
const MAX_INNER: usize = 1500;

/// How long the engine thread waits for input before looking at its timers.
const POLL: Duration = Duration::from_millis(50);

/// How the rogue reaches the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RogueTransport {
    /// IKE on UDP 500 then 4500, ESP-in-UDP on 4500.
    Udp,
    /// One TCP connection to port 80 carrying TPKT' frames (TR 33.830 clause 8.5.2.3).
    Tcp,
}

/// What the engine thread reports while the tunnel comes up.
enum Setup {
    /// The CHILD SA's outbound direction, sealed with the keys the gateway will check.
    Outbound(Arc<OutboundSa>, Path),
    /// The virtual IP the gateway handed out.
    Address(Ipv4Addr),
    /// The IKE SA died or could not be set up.
    Failed(String),
}

/// An established tunnel to a gateway whose ESP the test writes by hand; see the module docs.
#[derive(Debug)]
pub struct RogueClient {
    carrier: Arc<Carrier>,
    gateway: SocketAddr,
    outbound: Arc<OutboundSa>,
    virtual_ip: Ipv4Addr,
    _engine: EngineThread,
}

impl RogueClient {
    /// Sets up an IKE SA from `host` (bound to `local`, one of that host's addresses) to the
    /// gateway at `gateway` over `transport`, asking for a virtual IP, within `limit`.
    pub fn connect(
        lab: &Lab,
        host: Host,
        local: Ipv4Addr,
        gateway: Ipv4Addr,
        transport: RogueTransport,
        limit: Duration,
    ) -> Result<Self, String> {
        let (carrier, reader, path) = match transport {
            RogueTransport::Udp => {
                let socket = lab
                    .run_in(host, move || {
                        UdpSocket::bind(SocketAddr::new(local.into(), 0))
                    })
                    .map_err(|e| format!("enter {host}: {e}"))?
                    .map_err(|e| format!("bind a UDP socket in {host}: {e}"))?;
                let path = Path::udp(
                    socket.local_addr().map_err(|e| e.to_string())?,
                    SocketAddr::new(gateway.into(), IKE_PORT),
                );
                let reader = Reader::Udp(socket.try_clone().map_err(|e| e.to_string())?);
                (Carrier::Udp(socket), reader, path)
            }
            RogueTransport::Tcp => {
                let remote = SocketAddr::new(gateway.into(), netio::tcp::TPKT_PORT);
                let stream = lab
                    .run_in(host, move || TcpStream::connect_timeout(&remote, limit))
                    .map_err(|e| format!("enter {host}: {e}"))?
                    .map_err(|e| format!("connect to {remote} from {host}: {e}"))?;
                let path = Path {
                    local: stream.local_addr().map_err(|e| e.to_string())?,
                    remote,
                    transport: Transport::Tcp(TcpConnectionId(1)),
                };
                let reader = Reader::tcp(stream.try_clone().map_err(|e| e.to_string())?);
                (Carrier::Tcp(Mutex::new(stream)), reader, path)
            }
        };
        let carrier = Arc::new(carrier);
        let (setup_tx, setup_rx) = mpsc::channel();
        let engine = EngineThread::spawn(Arc::clone(&carrier), reader, path, setup_tx)?;
        let deadline = clock::now() + limit;
        let (mut outbound, mut address): (Option<(Arc<OutboundSa>, Path)>, _) = (None, None);
        loop {
            match (outbound.take(), address) {
                (Some((outbound, path)), Some(virtual_ip)) => {
                    return Ok(RogueClient {
                        carrier,
                        gateway: path.remote,
                        outbound,
                        virtual_ip,
                        _engine: engine,
                    })
                }
                (pending, _) => outbound = pending,
            }
            let left = deadline.saturating_duration_since(clock::now());
            match setup_rx.recv_timeout(left) {
                Ok(Setup::Outbound(sa, path)) => outbound = Some((sa, path)),
                Ok(Setup::Address(a)) => address = Some(a),
                Ok(Setup::Failed(why)) => return Err(why),
                Err(_) => return Err(format!("no tunnel to {gateway} within {limit:?}")),
            }
        }
    }

    /// The virtual IP the gateway assigned.
    pub fn virtual_ip(&self) -> Ipv4Addr {
        self.virtual_ip
    }

    /// The SPI of the CHILD SA's ESP towards the gateway: the gateway's status lists that CHILD
    /// SA with `spi_in` equal to this.
    pub fn gateway_spi(&self) -> u32 {
        self.outbound.spi()
    }

    /// Seals `inner` (an IP packet, any source address) with the CHILD SA's next sequence
    /// number; returns the ESP packet (from the SPI on, without UDP or TPKT' framing).
    pub fn seal(&self, inner: &[u8]) -> Result<Vec<u8>, String> {
        if inner.len() > MAX_INNER {
            return Err(format!("inner packet of {} bytes", inner.len()));
        }
        let mut buf = PacketBuf::new(SEAL_HEADROOM + MAX_INNER + SEAL_TAILROOM);
        buf.fill(SEAL_HEADROOM, inner).map_err(|e| e.to_string())?;
        self.outbound.seal(&mut buf).map_err(|e| e.to_string())?;
        Ok(buf.data().to_vec())
    }

    /// Sends an ESP packet (from [`RogueClient::seal`], possibly one sent before) to the gateway.
    pub fn send_esp(&self, esp: &[u8]) -> Result<(), String> {
        self.carrier
            .send(self.gateway, &[], esp)
            .map_err(|e| format!("send ESP to {}: {e}", self.gateway))
    }

    /// Seals and sends `inner`; returns the ESP packet sent.
    pub fn send_inner(&self, inner: &[u8]) -> Result<Vec<u8>, String> {
        let esp = self.seal(inner)?;
        self.send_esp(&esp)?;
        Ok(esp)
    }
}

/// The sending side of the way to the gateway, shared by the engine thread and the test.
#[derive(Debug)]
enum Carrier {
    Udp(UdpSocket),
    /// Writes go through the lock so that frames from the two threads never interleave.
    Tcp(Mutex<TcpStream>),
}

impl Carrier {
    /// Sends `prefix` + `payload` as one datagram (UDP) or one TPKT' frame (TCP).
    fn send(&self, to: SocketAddr, prefix: &[u8], payload: &[u8]) -> std::io::Result<()> {
        match self {
            Carrier::Udp(socket) => socket.send_to(&[prefix, payload].concat(), to).map(drop),
            Carrier::Tcp(stream) => {
                let header = tpkt::frame_header(prefix.len() + payload.len())
                    .map_err(std::io::Error::other)?;
                let frame = [&header[..], prefix, payload].concat();
                stream
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .write_all(&frame)
            }
        }
    }
}

/// The receiving side, owned by the engine thread.
enum Reader {
    Udp(UdpSocket),
    Tcp {
        stream: TcpStream,
        frames: tpkt::FrameReader<Box<[u8]>>,
    },
}

impl Reader {
    fn tcp(stream: TcpStream) -> Self {
        let decoder = tpkt::Decoder::new();
        let capacity = 2 * decoder.max_frame_len();
        Reader::Tcp {
            stream,
            frames: tpkt::FrameReader::with_capacity(decoder, capacity),
        }
    }

    fn set_timeout(&self, timeout: Duration) -> std::io::Result<()> {
        match self {
            Reader::Udp(socket) => socket.set_read_timeout(Some(timeout)),
            Reader::Tcp { stream, .. } => stream.set_read_timeout(Some(timeout)),
        }
    }

    /// Waits up to [`POLL`] for input and hands every IKE message in it to `ike`, with the
    /// address it came from; ESP and keepalives are ignored. `Err` when the connection is gone.
    fn receive(
        &mut self,
        buffer: &mut [u8],
        mut ike: impl FnMut(SocketAddr, &[u8]),
    ) -> Result<(), String> {
        match self {
            Reader::Udp(socket) => {
                if let Ok((len, remote)) = socket.recv_from(buffer) {
                    let datagram = buffer.get(..len).unwrap_or_default();
                    // On port 4500 IKE follows the marker; anything else there is ESP.
                    let message = if remote.port() == NAT_T_PORT {
                        datagram.strip_prefix(&NON_ESP_MARKER)
                    } else {
                        Some(datagram)
                    };
                    if let Some(message) = message {
                        ike(remote, message);
                    }
                }
                Ok(())
            }
            Reader::Tcp { stream, frames } => {
                let remote = stream.peer_addr().map_err(|e| e.to_string())?;
                match stream.read(frames.spare_mut()) {
                    Ok(0) => return Err("the gateway closed the connection".into()),
                    Ok(n) => frames.commit(n),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) => return Err(format!("TCP: {e}")),
                }
                loop {
                    match frames.next_frame() {
                        Ok(Some(tpkt::Frame::Ike(message))) => ike(remote, message),
                        Ok(Some(_)) => {}
                        Ok(None) => return Ok(()),
                        Err(e) if e.skip().is_some() => {}
                        Err(e) => return Err(format!("TPKT' stream: {e}")),
                    }
                }
            }
        }
    }
}

/// The engine's thread; dropping this stops and joins it.
#[derive(Debug)]
struct EngineThread {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EngineThread {
    fn spawn(
        carrier: Arc<Carrier>,
        reader: Reader,
        path: Path,
        setup: mpsc::Sender<Setup>,
    ) -> Result<Self, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("rogue-ike".into())
                .spawn(move || run_engine(&carrier, reader, path, &stop, &setup))
                .map_err(|e| e.to_string())?
        };
        Ok(EngineThread {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EngineThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The initiator's configuration: the gateway's built-in peer, all IPv4 both ways (the gateway
/// narrows it to our virtual IP), a virtual IP requested, no DPD and no rekeys of our own.
fn peer_config() -> Result<PeerConfig, String> {
    let mut peer = PeerConfig::new(
        "rogue",
        "rogue.eseg.test".parse().map_err(|_| "identity")?,
        "*".parse().map_err(|_| "gateway identity")?,
        Secret::from_slice(LAB_PSK),
    );
    peer.virtual_ip = VirtualIpConfig {
        request_ipv4: true,
        ..VirtualIpConfig::default()
    };
    peer.dpd_delay = None;
    peer.lifetimes = Lifetimes::without_timers();
    Ok(peer)
}

/// The engine thread: initiates, then answers the gateway (liveness checks) until `stop`.
fn run_engine(
    carrier: &Carrier,
    mut reader: Reader,
    path: Path,
    stop: &AtomicBool,
    setup: &mpsc::Sender<Setup>,
) {
    let started = peer_config().and_then(|peer| {
        let seed = clock::seed().map_err(|e| e.to_string())?;
        let mut endpoint = Endpoint::new(
            EndpointConfig::new(seed, Vec::new()),
            Box::new(NoAddressPool),
        );
        endpoint
            .initiate(clock::now(), Arc::new(peer), path)
            .map_err(|e| format!("initiate: {e:?}"))?;
        reader.set_timeout(POLL).map_err(|e| e.to_string())?;
        Ok(endpoint)
    });
    let mut endpoint = match started {
        Ok(endpoint) => endpoint,
        Err(why) => {
            let _ = setup.send(Setup::Failed(why));
            return;
        }
    };
    // Installing into a private table is how the CHILD SA's keys become an `esp` SA; nothing
    // reads this table.
    let installer = Shared::default();
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    while !stop.load(Ordering::Relaxed) {
        while let Some(transmit) = endpoint.poll_transmit() {
            // Port 4500 and TPKT' frames carry IKE behind the non-ESP marker.
            let marker: &[u8] = if transmit.path.needs_non_esp_marker()
                || matches!(transmit.path.transport, Transport::Tcp(_))
            {
                &NON_ESP_MARKER
            } else {
                &[]
            };
            let _ = carrier.send(transmit.path.remote, marker, &transmit.data);
        }
        while let Some(event) = endpoint.poll_event() {
            if let Some(report) = setup_report(&installer, event) {
                let _ = setup.send(report);
            }
        }
        let now = clock::now();
        let received = reader.receive(&mut buffer, |remote, ike| {
            endpoint.handle_datagram(now, Path { remote, ..path }, ike);
        });
        if let Err(why) = received {
            let _ = setup.send(Setup::Failed(why));
            return;
        }
        let now = clock::now();
        if endpoint.poll_timeout().is_some_and(|t| t <= now) {
            endpoint.handle_timeout(now);
        }
    }
}

/// What an engine event means for the setup, if anything.
fn setup_report(installer: &Shared, event: Event) -> Option<Setup> {
    match event {
        Event::ChildSaInstalled(child) => Some(match installer.install_child(&child) {
            Ok(installed) => Setup::Outbound(installed.outbound, child.path),
            Err(e) => Setup::Failed(format!("CHILD SA: {e}")),
        }),
        Event::VirtualIp { assigned, .. } => assigned.addresses.iter().find_map(|a| match a {
            IpAddr::V4(v4) => Some(Setup::Address(*v4)),
            IpAddr::V6(_) => None,
        }),
        Event::Closed { reason, .. } => Some(Setup::Failed(format!("closed: {reason:?}"))),
        _ => None,
    }
}
