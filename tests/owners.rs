//! Who owns a flow, for processes that are easy to miss (issue #17): a lone burst on a
//! quiet link, a process whose main thread has exited, two processes that got the same
//! pid within one clock tick, a late peer in another namespace. Each runs with the
//! socket log (`--ebpf auto`) and with /proc alone (`--ebpf off`), with exact bytes.
#![allow(
    clippy::disallowed_methods,
    reason = "tests drive the real binary: they read clocks and files"
)]

use std::time::Duration;

use crate::common::*;

/// IPv4 and UDP headers on every datagram.
const UDP4: u64 = 28;

/// The IP bytes a UDP peer moved: `(in, out)`.
fn udp_ip_bytes(m: &Moved) -> (u64, u64) {
    (
        m.recv + UDP4 * m.recv_packets,
        m.sent + UDP4 * m.sent_packets,
    )
}

/// Nothing of the UDP traffic went unattributed (ARP and ICMPv6 on the link do).
fn assert_no_udp_unattributed(report: &serde_json::Value) {
    for reason in ["no_socket", "no_process", "ambiguous", "pending_overflow"] {
        assert_eq!(
            num(&report["unattributed"][reason]["bytes"]),
            0,
            "{reason}: {:#}",
            report["unattributed"]
        );
    }
}

fn bytes(r: &serde_json::Value) -> (u64, u64) {
    (num(&r["bytes_in"]), num(&r["bytes_out"]))
}

/// A client that starts after netflow, makes 10 UDP round trips and then holds its
/// socket for 3 s on a link that is otherwise quiet. Its packets must reach the
/// engine while it lives: the scan they ask for is the only one that can find it.
fn lone_burst(ebpf: &str, port: u16) {
    let lab = Lab::new();
    let dir = Scratch::new(&format!("lone-burst-{ebpf}"));
    let server = Peer::start(
        &lab,
        &lab.b,
        &["udp-server", &format!("{B4}:{port}"), "10", "64"],
    );
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &[
            "-d", "6s", "-i", "eth0", "--format", "json", "-n", "0", "--ebpf", ebpf,
        ],
    );
    let client = Peer::start(
        &lab,
        &lab.a,
        &["udp-client", &format!("{B4}:{port}"), "10", "200"],
    );
    let moved = client.done();
    assert_eq!(moved.recv_packets, 10);
    std::thread::sleep(Duration::from_secs(3));
    let client_pid = client.pid;
    drop(client);
    let server_moved = server.done();
    let report = nf.finish(Duration::from_secs(30));

    assert_eq!(
        bytes(row(&report, client_pid)),
        udp_ip_bytes(&moved),
        "--ebpf {ebpf}: {report:#}"
    );
    assert_eq!(bytes(row(&report, server.pid)), udp_ip_bytes(&server_moved));
    assert_no_udp_unattributed(&report);
    assert_totals_add_up(&report);
}

#[test]
#[ignore = "needs root"]
fn a_lone_burst_on_a_quiet_link_is_attributed_with_proc_alone() {
    lone_burst("off", 7601);
}

#[test]
#[ignore = "needs root"]
fn a_lone_burst_on_a_quiet_link_is_attributed_with_the_socket_log() {
    lone_burst("auto", 7602);
}

/// A client whose connected UDP socket netflow knows from its first scan talks to a
/// server in another namespace that started after netflow (nothing of that namespace
/// was known): the client's end is attributed at once, and the server's end must not
/// be left out.
fn late_peer_in_another_namespace(ebpf: &str, port: u16) {
    let lab = Lab::new();
    let dir = Scratch::new(&format!("late-peer-{ebpf}"));
    let mut client = Peer::start(
        &lab,
        &lab.a,
        &["udp-client", &format!("{B4}:{port}"), "10", "200", "wait"],
    );
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &[
            "-d", "4s", "-i", "eth0", "--format", "json", "-n", "0", "--ebpf", ebpf,
        ],
    );
    // The first scan has run once a scan's worth of time has passed.
    std::thread::sleep(Duration::from_millis(500));
    let server = Peer::start(
        &lab,
        &lab.b,
        &["udp-server", &format!("{B4}:{port}"), "10", "64"],
    );
    client.go();
    let moved = client.done();
    let server_moved = server.done();
    assert_eq!(moved.recv_packets, 10, "{moved:?} {server_moved:?}");
    let report = nf.finish(Duration::from_secs(30));

    assert_eq!(
        bytes(row(&report, client.pid)),
        udp_ip_bytes(&moved),
        "--ebpf {ebpf}"
    );
    assert_eq!(
        bytes(row(&report, server.pid)),
        udp_ip_bytes(&server_moved),
        "--ebpf {ebpf}: {report:#}"
    );
    assert_no_udp_unattributed(&report);
    assert_totals_add_up(&report);
}

#[test]
#[ignore = "needs root"]
fn a_late_peer_in_another_namespace_is_found_with_proc_alone() {
    late_peer_in_another_namespace("off", 7611);
}

#[test]
#[ignore = "needs root"]
fn a_late_peer_in_another_namespace_is_found_with_the_socket_log() {
    late_peer_in_another_namespace("auto", 7612);
}

/// A client whose main thread exited (pthread_exit) before it opened its socket: its
/// /proc/PID/fd is empty, its fds are listed under /proc/PID/task/TID/fd.
fn main_thread_exited(ebpf: &str, port: u16) {
    let lab = Lab::new();
    let dir = Scratch::new(&format!("main-exited-{ebpf}"));
    let server = Peer::start(
        &lab,
        &lab.b,
        &["udp-server", &format!("{B4}:{port}"), "10", "64"],
    );
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &[
            "-d", "3s", "-i", "eth0", "--format", "json", "-n", "0", "--ebpf", ebpf,
        ],
    );
    let client = Peer::start(
        &lab,
        &lab.a,
        &[
            "udp-client-main-exits",
            &format!("{B4}:{port}"),
            "10",
            "200",
        ],
    );
    let moved = client.done();
    let server_moved = server.done();
    assert_eq!(moved.recv_packets, 10, "{moved:?} {server_moved:?}");
    let state = std::fs::read_to_string(format!("/proc/{}/stat", client.pid)).unwrap();
    assert!(
        state.contains(") Z "),
        "the main thread has exited: {state}"
    );
    let report = nf.finish(Duration::from_secs(30));

    let r = row(&report, client.pid);
    assert_eq!(bytes(r), udp_ip_bytes(&moved), "--ebpf {ebpf}: {r:#}");
    assert!(
        r["cmdline"]
            .as_str()
            .unwrap()
            .contains("udp-client-main-exits"),
        "named from a live thread: {r:#}"
    );
    assert_eq!(r["exited"], false, "it still runs: {r:#}");
    assert_eq!(bytes(row(&report, server.pid)), udp_ip_bytes(&server_moved));
    assert_no_udp_unattributed(&report);
    assert_totals_add_up(&report);
}

#[test]
#[ignore = "needs root"]
fn a_process_whose_main_thread_exited_is_found_with_proc_alone() {
    main_thread_exited("off", 7621);
}

#[test]
#[ignore = "needs root"]
fn a_process_whose_main_thread_exited_is_found_with_the_socket_log() {
    main_thread_exited("auto", 7622);
}
