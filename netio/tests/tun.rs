//! TUN devices in a lab namespace (needs root): packets routed into the device come out of a
//! queue as raw IPv4; packets written into it are routed by the kernel; MTU, addresses and
//! routes are visible to `ip`; the device disappears with its last queue.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};
use lab::{Host, Lab};
use netio::tun::{Tun, TunConfig, TunQueue};

const TUN_NAME: &str = "tun-test";

/// A lab with a TUN in the gateway namespace: the pool routed into it, its address the pool's
/// first host. Returns the lab, the device and its address.
fn lab_with_tun(config: TunConfig) -> (Lab, Tun, Ipv4Addr) {
    let lab = Lab::builder().build().expect("test setup");
    let pool = lab.addresses().pool;
    let tun_addr = pool.hosts().next().expect("test setup");
    let tun = lab
        .run_in(Host::Gateway, || Tun::create(&config))
        .expect("test setup")
        .expect("test setup");
    tun.add_address(IpNet::V4(Ipv4Net::new(tun_addr, 32).expect("test setup")))
        .expect("test setup");
    tun.set_up(true).expect("test setup");
    tun.add_route(IpNet::V4(pool)).expect("test setup");
    (lab, tun, tun_addr)
}

/// Reads packets until one satisfies `want` (the kernel may also emit its own, e.g. IPv6
/// router solicitations).
fn read_matching(queue: &TunQueue, want: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    for _ in 0..50 {
        let n = queue.read(&mut buf).expect("test setup");
        if want(&buf[..n]) {
            return buf[..n].to_vec();
        }
    }
    panic!("no matching packet read from the TUN");
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in bytes.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 ICMP echo request from `src` to `dst`.
fn icmp_echo_request(src: Ipv4Addr, dst: Ipv4Addr, id: u16, payload: &[u8]) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&1u16.to_be_bytes());
    icmp.extend_from_slice(payload);
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = u16::try_from(20 + icmp.len()).expect("test setup");
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 1, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

fn ipv4_src(p: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(p[12], p[13], p[14], p[15])
}

fn ipv4_dst(p: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(p[16], p[17], p[18], p[19])
}

#[test]
fn udp_routed_into_the_tun_comes_out_as_raw_ipv4() {
    let (lab, tun, _) = lab_with_tun(TunConfig::new().name(TUN_NAME).mtu(1400));
    let a = lab.addresses().clone();
    let client_vip = a.pool.hosts().nth(4).expect("test setup");
    // The core sends to a virtual IP; the core routes the pool to the gateway, the gateway
    // routes it into the TUN.
    let sender = lab
        .run_in(Host::Core, || UdpSocket::bind((a.core, 0)))
        .expect("test setup")
        .expect("test setup");
    sender
        .send_to(b"into the tunnel", (client_vip, 9999))
        .expect("test setup");
    let queue = tun.queue().expect("test setup");
    let packet = read_matching(queue, |p| p.len() > 20 && p[0] >> 4 == 4 && p[9] == 17);
    assert_eq!(ipv4_src(&packet), a.core);
    assert_eq!(ipv4_dst(&packet), client_vip);
    let udp = &packet[20..];
    assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), 9999);
    assert_eq!(&udp[8..], b"into the tunnel");
}

#[test]
fn icmp_echo_written_into_the_tun_is_answered_back_through_it() {
    let (lab, tun, _) = lab_with_tun(TunConfig::new().name(TUN_NAME));
    let a = lab.addresses().clone();
    let client_vip = a.pool.hosts().nth(4).expect("test setup");
    let queue = tun.queue().expect("test setup");
    // As if it came out of a client's tunnel: the gateway forwards it to the core, the core's
    // reply comes back to the pool through the TUN.
    let request = icmp_echo_request(client_vip, a.core, 0x4242, b"eseg tun test");
    assert_eq!(queue.write(&request).expect("test setup"), request.len());
    let reply = read_matching(queue, |p| {
        p.len() >= 28 && p[0] >> 4 == 4 && p[9] == 1 && p[20] == 0
    });
    assert_eq!(ipv4_src(&reply), a.core);
    assert_eq!(ipv4_dst(&reply), client_vip);
    assert_eq!(u16::from_be_bytes([reply[24], reply[25]]), 0x4242);
    assert_eq!(&reply[28..], b"eseg tun test");
}

#[test]
fn mtu_addresses_and_routes_are_visible_and_the_device_goes_with_its_queues() {
    let (lab, tun, tun_addr) = lab_with_tun(TunConfig::new().name(TUN_NAME).mtu(1400));
    let ip = |args: &[&str]| {
        lab.exec_checked(Host::Gateway, args)
            .expect("test setup")
            .stdout
    };
    assert_eq!(tun.name(), TUN_NAME);
    assert!(ip(&["ip", "link", "show", "dev", TUN_NAME]).contains("mtu 1400"));
    tun.set_mtu(1280).expect("test setup");
    assert_eq!(tun.mtu().expect("test setup"), 1280);
    assert!(ip(&["ip", "link", "show", "dev", TUN_NAME]).contains("mtu 1280"));
    assert!(tun.is_up().expect("test setup"));
    assert!(
        ip(&["ip", "-4", "addr", "show", "dev", TUN_NAME]).contains(&format!("inet {tun_addr}/32"))
    );

    let extra: IpNet = "198.19.255.0/28".parse().expect("test setup");
    tun.add_route(extra).expect("test setup");
    assert!(ip(&["ip", "route", "show", "dev", TUN_NAME]).contains("198.19.255.0/28"));
    tun.remove_route(extra).expect("test setup");
    assert!(!ip(&["ip", "route", "show", "dev", TUN_NAME]).contains("198.19.255.0/28"));

    // IPv6 from the RFC 5180 benchmarking range.
    let v6: IpNet = "2001:2:0:1::1/64".parse().expect("test setup");
    tun.add_address(v6).expect("test setup");
    assert!(ip(&["ip", "-6", "addr", "show", "dev", TUN_NAME]).contains("2001:2:0:1::1/64"));
    let v6_route: IpNet = "2001:2:0:2::/64".parse().expect("test setup");
    tun.add_route(v6_route).expect("test setup");
    assert!(ip(&["ip", "-6", "route", "show", "dev", TUN_NAME]).contains("2001:2:0:2::/64"));
    tun.remove_route(v6_route).expect("test setup");
    assert!(!ip(&["ip", "-6", "route", "show", "dev", TUN_NAME]).contains("2001:2:0:2::/64"));

    tun.set_up(false).expect("test setup");
    assert!(!tun.is_up().expect("test setup"));
    drop(tun);
    // Another test thread that is starting a program right now holds a copy of every open
    // descriptor until the program is executed (then the copy closes), so the device may go a
    // moment after our last queue does.
    let mut listed = String::new();
    let gone = (0..50).any(|_| {
        let show = lab
            .exec(Host::Gateway, &["ip", "link", "show", "dev", TUN_NAME])
            .expect("test setup");
        let present = show.success();
        if present {
            listed = show.stdout;
            std::thread::sleep(Duration::from_millis(100));
        }
        !present
    });
    assert!(gone, "device still there: {listed}");
}

#[test]
fn multi_queue_device_spreads_flows_and_reads_non_blocking() {
    let (lab, mut tun, _) =
        lab_with_tun(TunConfig::new().name(TUN_NAME).queues(2).nonblocking(true));
    let queues = tun.take_queues();
    assert_eq!(queues.len(), 2);
    assert!(tun.queues().is_empty());
    let mut buf = [0u8; 2048];
    // Once whatever the kernel sent on its own (IPv6 MLD reports when the device came up) is
    // drained, a non-blocking read reports that nothing is waiting.
    for q in &queues {
        let drained = (0..32).find_map(|_| match q.read(&mut buf) {
            Ok(n) => {
                assert_eq!(
                    buf[0] >> 4,
                    6,
                    "unexpected {n}-byte packet before any traffic"
                );
                None
            }
            Err(e) => Some(e.kind()),
        });
        assert_eq!(drained, Some(ErrorKind::WouldBlock));
    }
    let a = lab.addresses().clone();
    let sender = lab
        .run_in(Host::Core, || UdpSocket::bind((a.core, 0)))
        .expect("test setup")
        .expect("test setup");
    // 64 flows (distinct destination ports): the kernel hashes them over both queues.
    for port in 10_000..10_064u16 {
        sender
            .send_to(b"flow", (a.pool.hosts().nth(7).expect("test setup"), port))
            .expect("test setup");
    }
    // Read both queues until all 64 have come out (forwarding them may take a while on a loaded
    // machine), for at most about 5 s.
    let mut per_queue = [0usize; 2];
    for _ in 0..500 {
        for (i, q) in queues.iter().enumerate() {
            loop {
                match q.read(&mut buf) {
                    Ok(n) if n > 20 && buf[0] >> 4 == 4 && buf[9] == 17 => per_queue[i] += 1,
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        if per_queue[0] + per_queue[1] >= 64 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(per_queue[0] + per_queue[1], 64, "{per_queue:?}");
    assert!(per_queue[0] > 0 && per_queue[1] > 0, "{per_queue:?}");
    // Blocking mode can be switched back per queue.
    queues[0].set_nonblocking(false).expect("test setup");
}

#[test]
fn bad_configurations_are_refused() {
    let lab = Lab::builder().build().expect("test setup");
    let result = lab
        .run_in(Host::Gateway, || {
            (
                Tun::create(&TunConfig::new().queues(0)).map(drop),
                Tun::create(&TunConfig::new().name("a-name-far-too-long")).map(drop),
            )
        })
        .expect("test setup");
    assert_eq!(result.0.unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(result.1.unwrap_err().kind(), ErrorKind::InvalidInput);
}

#[test]
fn kernel_names_the_device_from_a_template() {
    let lab = Lab::builder().build().expect("test setup");
    let tun = lab
        .run_in(Host::Gateway, || {
            Tun::create(&TunConfig::new().name("esegt%d"))
        })
        .expect("test setup")
        .expect("test setup");
    assert!(tun.name().starts_with("esegt"), "{}", tun.name());
    assert!(tun.index().expect("test setup") > 0);
}

#[test]
fn an_ipv4_only_device_sends_nothing_of_its_own() {
    let (lab, tun, _) = lab_with_tun(
        TunConfig::new()
            .name(TUN_NAME)
            .ipv6(false)
            .nonblocking(true),
    );
    let v6 = lab
        .exec_checked(
            Host::Gateway,
            &["ip", "-6", "addr", "show", "dev", TUN_NAME],
        )
        .unwrap()
        .stdout;
    assert!(v6.trim().is_empty(), "{v6}");
    std::thread::sleep(Duration::from_millis(300));
    let mut buf = [0u8; 2048];
    let read = tun.queue().unwrap().read(&mut buf);
    assert!(
        matches!(&read, Err(e) if e.kind() == ErrorKind::WouldBlock),
        "{read:?}"
    );
    assert!(tun
        .add_address("2001:2:0:1::1/64".parse().unwrap())
        .is_err());
}
