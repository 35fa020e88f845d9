//! iperf3 TCP through the tunnel in both directions (client -> core, core -> client with `-R`,
//! and a transfer the core opens towards the client), next to plain veth between the client and
//! the gateway in the same run. Prints the figures; run with `--release -- --nocapture` to
//! measure.

use std::net::IpAddr;
use std::time::Duration;

use eseg_tests::{Host, Scenario};
use lab::IperfOptions;

fn mbit(bits_per_second: f64) -> f64 {
    bits_per_second / 1e6
}

#[test]
fn iperf3_tcp_through_the_tunnel_both_ways_next_to_plain_veth() {
    let mut s = Scenario::new(1, "");
    s.start_client(0, &[]);
    let a = s.lab.addresses().clone();
    let vip = s.client_vip(0);
    let options = |server: IpAddr, port: u16, reverse: bool| IperfOptions {
        port,
        reverse,
        duration: Duration::from_secs(3),
        ..IperfOptions::tcp(server)
    };

    let _core_server = s
        .lab
        .iperf3_server(Host::Core, 5201)
        .expect("iperf3 on core");
    let up = s
        .lab
        .iperf3_client(Host::Client(0), &options(IpAddr::V4(a.core), 5201, false))
        .expect("client -> core");
    let down = s
        .lab
        .iperf3_client(Host::Client(0), &options(IpAddr::V4(a.core), 5201, true))
        .expect("core -> client (-R)");

    let _client_server = s
        .lab
        .iperf3_server(Host::Client(0), 5202)
        .expect("iperf3 on the client");
    let core_opened = s
        .lab
        .iperf3_client(Host::Core, &options(IpAddr::V4(vip), 5202, false))
        .expect("core-initiated transfer to the client's inner address");

    let _veth_server = s
        .lab
        .iperf3_server(Host::Gateway, 5203)
        .expect("iperf3 on the gateway");
    let veth = s
        .lab
        .iperf3_client(
            Host::Client(0),
            &options(IpAddr::V4(a.gateway_outer), 5203, false),
        )
        .expect("plain veth client -> gateway");

    println!(
        "iperf3 TCP, 3 s each: tunnel client->core {:.0} Mbit/s, core->client {:.0} Mbit/s, \
         core-initiated {:.0} Mbit/s; plain veth client->gateway {:.0} Mbit/s",
        mbit(up.received_bits_per_second),
        mbit(down.received_bits_per_second),
        mbit(core_opened.received_bits_per_second),
        mbit(veth.received_bits_per_second),
    );
    for (what, report) in [("up", &up), ("down", &down), ("core-opened", &core_opened)] {
        assert!(
            report.received_bytes > 1_000_000,
            "{what}: only {} bytes through the tunnel",
            report.received_bytes
        );
    }
    let status = s.gateway_status();
    let child = &status.ike_sas[0].child_sas[0];
    assert!(
        child.bytes_in > 1_000_000 && child.bytes_out > 1_000_000,
        "{child:?}"
    );
}

#[test]
fn multi_queue_tun_with_two_workers_carries_traffic() {
    let mut s = Scenario::with_gateway_config(1, "", "workers = 2");
    s.start_client(0, &[]);
    let a = s.lab.addresses().clone();
    let vip = s.client_vip(0);
    let _server = s
        .lab
        .iperf3_server(Host::Core, 5201)
        .expect("iperf3 on core");
    let report = s
        .lab
        .iperf3_client(
            Host::Client(0),
            &IperfOptions {
                streams: 4,
                reverse: true,
                duration: Duration::from_secs(2),
                ..IperfOptions::tcp(IpAddr::V4(a.core))
            },
        )
        .expect("core -> client with 4 streams over 2 TUN queues");
    assert!(report.received_bytes > 1_000_000, "{report:?}");
    assert!(s.ping(Host::Client(0), IpAddr::V4(a.core)));
    assert!(s.ping(Host::Core, IpAddr::V4(vip)));
}
