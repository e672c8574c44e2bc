//! The dual-stack wildcard rule, live (issue #15 item 5, #17 item 9): IPv6 traffic is
//! never charged to a `0.0.0.0:P` socket, and IPv4 traffic never to a `[::]:P` socket
//! with IPV6_V6ONLY; a dual-stack `[::]:P` still gets its IPv4. Run with the kernel
//! socket log and with the socket tables alone, since both answer "who is bound here?".
#![allow(
    clippy::disallowed_methods,
    reason = "tests drive the real binary: they read clocks and files"
)]

use std::time::Duration;

use crate::common::*;

/// Datagrams sent from namespace b to `to` (count, payload size each); waits until sent.
fn send(lab: &Lab, to: &str, count: u64, size: u64) -> Moved {
    let sender = Peer::start(
        lab,
        &lab.b,
        &["udp-flood", to, &count.to_string(), &size.to_string()],
    );
    let moved = sender.done();
    assert_eq!(moved.sent_packets, count, "{to}: every datagram sent");
    moved
}

/// What a process in namespace a received, from the report: (bytes, packets) in, and
/// nothing out.
fn received(report: &serde_json::Value, peer: &Peer) -> (u64, u64) {
    let r = row(report, peer.pid);
    assert_eq!(num(&r["bytes_out"]), 0, "{r:#}");
    (num(&r["bytes_in"]), num(&r["packets_in"]))
}

/// X holds UDP 0.0.0.0:P and Y [::]:P with IPV6_V6ONLY; Z a dual-stack [::]:P+1 alone;
/// W a V6ONLY [::]:P+2 alone. Each gets exactly the datagrams the kernel hands it: X
/// the IPv4 to P, Y the IPv6 to P, Z the IPv4 to P+1, W the IPv6 to P+2 and none of
/// the IPv4 sent there afterwards (the kernel refuses those).
///
/// Each mode has its own ports: every lab has the same addresses, and a netflow also
/// reads the other labs' namespaces, so two labs with wildcard sockets on one port
/// would share their owners.
fn each_wildcard_socket_gets_its_own_family(ebpf: &str, p: u16) {
    let lab = Lab::new();
    let dir = Scratch::new(&format!("dual-stack-{ebpf}"));
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &[
            "-d", "6s", "-i", "eth0", "--format", "json", "-n", "0", "--ebpf", ebpf,
        ],
    );
    let sink = |addr: String, v6only: bool| {
        let mut args = vec!["udp-sink", &addr, "4"];
        if v6only {
            args.push("v6only");
        }
        Peer::start(&lab, &lab.a, &args)
    };
    let x = sink(format!("0.0.0.0:{p}"), false);
    let y = sink(format!("[::]:{p}"), true);
    let z = sink(format!("[::]:{}", p + 1), false);
    let w = sink(format!("[::]:{}", p + 2), true);

    let to_x = send(&lab, &format!("{A4}:{p}"), 30, 200);
    let to_y = send(&lab, &format!("[{A6}]:{p}"), 25, 300);
    let to_z = send(&lab, &format!("{A4}:{}", p + 1), 20, 400);
    let to_w = send(&lab, &format!("[{A6}]:{}", p + 2), 15, 500);
    // Once W has read (and the socket log, if on, has logged it), IPv4 to its port.
    std::thread::sleep(Duration::from_millis(500));
    let refused = Peer::start(
        &lab,
        &lab.b,
        &["udp-flood", &format!("{A4}:{}", p + 2), "10", "600"],
    );
    refused.done();
    let report = nf.finish(Duration::from_secs(20));
    let log = &report["summary"]["socket_log"];
    let expected = if ebpf == "off" { "off" } else { "active" };
    assert_eq!(log["state"], expected, "{log}");

    let ipv4 = |m: Moved| (m.sent + 28 * m.sent_packets, m.sent_packets);
    let ipv6 = |m: Moved| (m.sent + 48 * m.sent_packets, m.sent_packets);
    let mode = format!("--ebpf {ebpf}");
    assert_eq!(received(&report, &x), ipv4(to_x), "X, 0.0.0.0:P, {mode}");
    assert_eq!(
        received(&report, &y),
        ipv6(to_y),
        "Y, [::]:P v6only, {mode}"
    );
    assert_eq!(
        received(&report, &z),
        ipv4(to_z),
        "Z, [::]:P+1 dual, {mode}"
    );
    assert_eq!(
        received(&report, &w),
        ipv6(to_w),
        "W, [::]:P+2 v6only, {mode}"
    );
    assert_totals_add_up(&report);
}

#[test]
#[ignore = "needs root"]
fn each_wildcard_socket_gets_its_own_family_with_the_socket_log() {
    each_wildcard_socket_gets_its_own_family("auto", 7500);
}

#[test]
#[ignore = "needs root"]
fn each_wildcard_socket_gets_its_own_family_from_the_socket_tables_alone() {
    each_wildcard_socket_gets_its_own_family("off", 7510);
}
