//! The harness tested on itself: strongSwan client against strongSwan gateway in the lab. This is
//! also the baseline the scenarios against eseg are compared with (same lab, same configs).

mod common;

use std::net::IpAddr;
use std::time::Duration;

use eseg_interop::{exclusive, Charon, CharonOptions, SwanctlConf};
use lab::{Host, Lab};

use common::{report_throughput, strongswan_gateway, INITIATE_LIMIT};

#[test]
fn strongswan_client_to_strongswan_gateway() {
    let _serial = exclusive();
    let lab = Lab::builder().build().expect("lab");
    let a = lab.addresses().clone();
    let gateway = strongswan_gateway(&lab, &SwanctlConf::lab_gateway(&a));
    let mut client =
        Charon::start(&lab, Host::Client(0), "c0", &CharonOptions::default()).expect("client");
    client
        .load(&SwanctlConf::lab_client(&a))
        .expect("load client");

    let up = client
        .initiate("c", "net", INITIATE_LIMIT)
        .expect("swanctl");
    assert!(up.succeeded(), "{}", up.text());
    assert!(
        lab.ping(Host::Client(0), IpAddr::V4(a.core), 3).unwrap(),
        "client -> core through the tunnel"
    );

    let c = client.list_sas().expect("client SAs");
    let g = gateway.list_sas().expect("gateway SAs");
    assert_eq!((c.len(), g.len()), (1, 1), "{c:?}\n{g:?}");
    let (c, g) = (&c[0], &g[0]);
    assert!(c.is_established() && g.is_established());
    assert!(c.initiator && !g.initiator);
    assert_eq!(c.initiator_spi, g.initiator_spi);
    assert_eq!(c.responder_spi, g.responder_spi);
    assert_eq!(c.local_vips, g.remote_vips);
    let vip: std::net::Ipv4Addr = c.local_vips[0].parse().unwrap();
    assert!(a.pool.contains(&vip), "{vip} outside {}", a.pool);
    assert_eq!((c.local_port, g.local_port), (4500, 4500));
    let (cc, gc) = (&c.child_sas[0], &g.child_sas[0]);
    assert_eq!((cc.spi_in, cc.spi_out), (gc.spi_out, gc.spi_in));
    assert_eq!(cc.local_ts, gc.remote_ts);
    assert_eq!(cc.remote_ts, vec![a.protected.to_string()]);
    assert!(cc.encap && gc.encap);
    assert!(cc.packets_out >= 3 && gc.packets_in >= 3, "{cc:?} {gc:?}");
    assert_eq!(cc.packets_out, gc.packets_in);
    assert!(
        client.resolv_conf().contains(&a.dns.to_string()),
        "DNS not received: {}",
        client.resolv_conf()
    );
    assert!(
        client
            .log()
            .contains("processing P_CSCF_IP4_ADDRESS attribute"),
        "P-CSCF attribute not received"
    );

    report_throughput(&lab, "strongSwan baseline");

    client.terminate_ike("c").expect("terminate");
    gateway
        .wait_for_no_sas(Duration::from_secs(5))
        .expect("gateway deletes the SA");
    assert!(client.list_sas().unwrap().is_empty());
    drop(client);
    drop(gateway);
}
