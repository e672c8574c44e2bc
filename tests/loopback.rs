//! Loopback's own numbers: what lo's counters say it carried, and what the kernel says
//! it dropped, next to packets counted by the processes that sent them.

#![allow(
    clippy::disallowed_methods,
    reason = "tests drive the real binary: they read clocks and files"
)]

use std::time::Duration;

use crate::common::*;

/// lo's counters hold IP bytes (the kernel strips the Ethernet header before counting),
/// so netflow's capture of every packet on it is 100 % of what it carried, not 118 %.
#[test]
#[ignore = "needs root"]
fn loopback_coverage_is_whole_for_small_packets() {
    let lab = Lab::new();
    let dir = Scratch::new("lo-coverage");
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &["-d", "3s", "-i", "lo", "--format", "json", "-q"],
    );
    // Small datagrams, where a 14-byte error per packet shows most (64 + 28 bytes).
    let server = Peer::start(&lab, &lab.a, &["udp-server", "127.0.0.1:7801", "300", "64"]);
    let client = Peer::start(&lab, &lab.a, &["udp-client", "127.0.0.1:7801", "300", "64"]);
    let moved = client.done();
    server.done();
    let report = nf.finish(Duration::from_secs(15));
    assert_eq!(moved.sent_packets, 300);
    let lo = &report["summary"]["interface_stats"][0];
    assert_eq!(lo["name"], "lo");
    // The exchange alone (a fresh namespace's lo carries nothing else) is 600 packets.
    assert_eq!(num(&lo["captured"]["packets"]), 600, "{lo:#}");
    assert_eq!(num(&lo["counters"]["ip_bytes"]), 600 * (64 + 28), "{lo:#}");
    assert_coverage_near_one(&report);
}

/// With netflow stopped (SIGSTOP) during a flood, its 1 MiB ring overflows: the kernel's
/// drop count must be the packets that really went missing, not twice as many (lo
/// hands a packet socket every packet twice, as sent and as received).
#[test]
#[ignore = "needs root"]
fn loopback_kernel_drops_are_the_packets_really_lost() {
    let lab = Lab::new();
    let dir = Scratch::new("lo-drops");
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &[
            "-d",
            "4s",
            "-i",
            "lo",
            "-f",
            "udp port 7802",
            "--buffer-size",
            "1",
            "--ebpf",
            "off",
            "--format",
            "json",
            "-q",
        ],
    );
    let sink = Peer::start(&lab, &lab.a, &["udp-sink", "127.0.0.1:7802", "1"]);
    let pid = nf.pid().to_string();
    run(&["kill", "-STOP", &pid]);
    let flood = Peer::start(
        &lab,
        &lab.a,
        &["udp-flood", "127.0.0.1:7802", "20000", "64"],
    );
    let sent = flood.done().sent_packets;
    run(&["kill", "-CONT", &pid]);
    sink.done();
    let report = nf.finish(Duration::from_secs(15));

    let s = &report["summary"];
    let captured = num(&s["captured"]["packets"]);
    let dropped = num(&s["dropped"]["kernel_packets"]);
    assert_eq!(sent, 20_000);
    assert!(dropped > 0, "the stopped capture dropped nothing: {s:#}");
    assert_eq!(
        dropped,
        sent - captured,
        "kernel drops vs packets missing: {s:#}"
    );
    assert_eq!(
        num(&s["interface_stats"][0]["kernel_dropped_packets"]),
        dropped
    );
    // And the report says what to do about it.
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains(&format!("the kernel dropped {dropped} packets"))
            && warnings.contains("--buffer-size"),
        "{warnings}"
    );
}
