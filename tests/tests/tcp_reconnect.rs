//! A TPKT' tunnel whose TCP connection is killed in the middle of a transfer: the client opens a
//! new connection and continues the same IKE SA on it (as RFC 9329 does for TCP), so the inner
//! address stays, no new IKE SA is made, and the inner TCP session of the transfer survives.

use std::net::IpAddr;
use std::time::Duration;

use eseg_tests::{Host, Scenario};
use lab::{Firewall, IperfOptions, Router};

#[test]
fn killed_tcp_connection_resumes_the_same_ike_sa_with_the_same_inner_ip() {
    let mut s = Scenario::with_router(1, Router::Firewall(Firewall::TcpOnly), "");
    s.start_client(0, &["--udp-timeout-ms", "1000"]);
    assert_eq!(s.client_printed(0, "transport"), vec!["tcp".to_owned()]);
    let vip = s.client_vip(0);
    let core = IpAddr::V4(s.lab.addresses().core);
    let before = s.client_status(0);
    assert_eq!(before.ike_sas.len(), 1, "{before:?}");
    let gateway_before = s.gateway_status();
    assert_eq!(gateway_before.ike_sas.len(), 1, "{gateway_before:?}");

    let _server = s
        .lab
        .iperf3_server(Host::Core, 5201)
        .expect("iperf3 on core");
    let report = std::thread::scope(|scope| {
        let transfer = scope.spawn(|| {
            s.lab.iperf3_client(
                Host::Client(0),
                &IperfOptions {
                    duration: Duration::from_secs(4),
                    ..IperfOptions::tcp(core)
                },
            )
        });
        std::thread::sleep(Duration::from_millis(1500));
        s.lab
            .kill_tcp_sockets(Host::Client(0), &["dport", "=", ":80"])
            .expect("ss -K on the client's TPKT' connection");
        transfer.join().expect("iperf3 thread")
    })
    .expect("the transfer survives the reconnect");
    assert!(
        report.received_bytes > 500_000,
        "only {} bytes",
        report.received_bytes
    );

    let client = s.clients[0].as_ref().expect("client running");
    assert!(
        client
            .stderr()
            .contains("IKE SA continues on a new TCP connection"),
        "the client did not resume on a new connection"
    );
    assert_eq!(s.client_printed(0, "address"), vec![vip.to_string()]);
    assert_eq!(
        s.client_printed(0, "transport").len(),
        1,
        "no second IKE SA was set up"
    );
    let after = s.client_status(0);
    assert_eq!(after.ike_sas.len(), 1, "{after:?}");
    assert_eq!(after.ike_sas[0].handle, before.ike_sas[0].handle);
    assert_eq!(
        after.ike_sas[0].child_sas[0].spi_in,
        before.ike_sas[0].child_sas[0].spi_in
    );
    // The gateway moved the IKE SA to the new connection (a new source port at the router).
    let gateway_after = s.gateway_status();
    assert_eq!(gateway_after.ike_sas.len(), 1, "{gateway_after:?}");
    assert_eq!(
        gateway_after.ike_sas[0].handle,
        gateway_before.ike_sas[0].handle
    );
    assert_ne!(
        gateway_after.ike_sas[0].peer,
        gateway_before.ike_sas[0].peer
    );
    assert!(s.ping(Host::Client(0), core), "client -> core after");
    assert!(s.ping(Host::Core, IpAddr::V4(vip)), "core -> client after");
}
