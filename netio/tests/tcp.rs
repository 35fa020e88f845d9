//! TCP setup for the TPKT' transport in a lab namespace (needs root): options are set, data
//! flows, a listener port is reusable at once, and the user timeout fails a connection whose
//! path died in bounded time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use lab::{Host, Lab, Router};
use netio::tcp::{connect, listen, StreamOptions};
use socket2::SockRef;

const SHORT: Duration = Duration::from_secs(2);

#[test]
fn client_and_gateway_streams_carry_the_tunnel_options() {
    let lab = Lab::builder().with_router(Router::Nat).build().unwrap();
    let bind = SocketAddr::from((lab.gateway_outer(), 80));
    let listener = lab
        .run_in(Host::Gateway, || listen(bind, 128))
        .unwrap()
        .unwrap();
    let options = StreamOptions::new().keepalive(Duration::from_secs(7), Duration::from_secs(3), 2);
    let mut client = lab
        .run_in(Host::Client(0), || connect(bind, SHORT, &options))
        .unwrap()
        .unwrap();
    let (mut accepted, peer) = listener.accept().unwrap();
    assert_eq!(
        peer.ip(),
        std::net::IpAddr::V4(lab.addresses().router_wan.unwrap())
    );
    options.apply(&accepted).unwrap();
    for stream in [&client, &accepted] {
        let s = SockRef::from(stream);
        assert!(s.nodelay().unwrap());
        assert!(s.keepalive().unwrap());
        assert_eq!(s.keepalive_time().unwrap(), Duration::from_secs(7));
        assert_eq!(s.keepalive_interval().unwrap(), Duration::from_secs(3));
        assert_eq!(s.keepalive_retries().unwrap(), 2);
        assert_eq!(s.tcp_user_timeout().unwrap(), Some(Duration::from_secs(30)));
    }
    client.write_all(&[0x01, 0x00, 0x00, 0x05, 0xff]).unwrap();
    let mut frame = [0u8; 5];
    accepted.read_exact(&mut frame).unwrap();
    assert_eq!(frame, [0x01, 0x00, 0x00, 0x05, 0xff]);
}

#[test]
fn a_restarted_listener_rebinds_its_port_at_once() {
    let lab = Lab::builder().build().unwrap();
    let bind = SocketAddr::from((lab.gateway_outer(), 80));
    let listener = lab
        .run_in(Host::Gateway, || listen(bind, 16))
        .unwrap()
        .unwrap();
    let client = lab
        .run_in(Host::Client(0), || TcpStream::connect_timeout(&bind, SHORT))
        .unwrap()
        .unwrap();
    let (accepted, _) = listener.accept().unwrap();
    // The gateway closes first, so its side of the connection sits in TIME_WAIT.
    drop(accepted);
    drop(client);
    drop(listener);
    // Another test thread that is starting a program right now holds a copy of every open
    // descriptor until the program is executed, which keeps the old listener listening for a
    // moment (and a bind then fails however the socket is set up): wait until it is gone.
    let filter = format!("sport = :{}", bind.port());
    let old_listener_gone = (0..50).any(|_| {
        let listening = lab
            .exec_checked(Host::Gateway, &["ss", "-H", "-ltn", &filter])
            .unwrap()
            .stdout;
        let gone = listening.trim().is_empty();
        if !gone {
            std::thread::sleep(Duration::from_millis(100));
        }
        gone
    });
    assert!(old_listener_gone, "the old listener stayed open");
    let again = lab.run_in(Host::Gateway, || listen(bind, 16)).unwrap();
    assert!(again.is_ok(), "{again:?}");
}

#[test]
fn user_timeout_fails_a_connection_whose_path_died() {
    let lab = Lab::builder().build().unwrap();
    let bind = SocketAddr::from((lab.gateway_outer(), 80));
    let listener = lab
        .run_in(Host::Gateway, || listen(bind, 16))
        .unwrap()
        .unwrap();
    let options = StreamOptions::new().user_timeout(Some(Duration::from_millis(1500)));
    let mut client = lab
        .run_in(Host::Client(0), || connect(bind, SHORT, &options))
        .unwrap()
        .unwrap();
    let _accepted = listener.accept().unwrap();
    lab.set_outer_loss(100.0).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    client.write_all(b"into the void").unwrap();
    let mut buf = [0u8; 16];
    let err = client.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
}
