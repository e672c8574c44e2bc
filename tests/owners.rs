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

/// Two processes that got the same pid within one clock tick (so /proc/PID/stat gives
/// both the same start time): A makes 3 exchanges of 200 bytes and exits at once, B
/// makes 3 of 300 and lingers. Returns the report, the pid and each one's (in, out).
fn same_tick_pair(ebpf: &str, port: u16) -> (serde_json::Value, u32, (u64, u64), (u64, u64)) {
    let lab = Lab::new();
    let dir = Scratch::new(&format!("same-tick-{ebpf}"));
    let _server = Peer::start(
        &lab,
        &lab.b,
        &["udp-server", &format!("{B4}:{port}"), "1000", "64"],
    );
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &[
            "-d", "3s", "-i", "eth0", "--format", "json", "-n", "0", "--ebpf", ebpf,
        ],
    );
    let pair = Peer::start(
        &lab,
        &lab.a,
        &["same-tick-pair", &format!("{B4}:{port}"), "3", "200", "300"],
    );
    let line = pair.line(Duration::from_secs(10));
    let fields: Vec<u64> = line
        .strip_prefix("pair ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    let (pid, a_replies, b_replies) = (fields[0] as u32, fields[1], fields[2]);
    assert_eq!((a_replies, b_replies), (3, 3));
    let report = nf.finish(Duration::from_secs(30));
    let a = (3 * (64 + UDP4), 3 * (200 + UDP4));
    let b = (3 * (64 + UDP4), 3 * (300 + UDP4));
    assert_totals_add_up(&report);
    (report, pid, a, b)
}

/// The (in, out) bytes of every row of `pid`, sorted.
fn rows_of(report: &serde_json::Value, pid: u32) -> Vec<(u64, u64)> {
    let mut rows: Vec<(u64, u64)> = report["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["pid"] == pid)
        .map(bytes)
        .collect();
    rows.sort_unstable();
    rows
}

#[test]
#[ignore = "needs root"]
fn two_processes_with_one_pid_in_one_tick_are_two_rows_with_the_socket_log() {
    let (report, pid, a, b) = same_tick_pair("auto", 7631);
    assert_eq!(report["summary"]["socket_log"]["state"], "active");
    assert_eq!(rows_of(&report, pid), [a, b], "{report:#}");
    let starts: Vec<&serde_json::Value> = report["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["pid"] == pid)
        .map(|r| &r["start_time_ns"])
        .collect();
    assert_ne!(starts[0], starts[1], "told apart by their start in ns");
}

#[test]
#[ignore = "needs root"]
fn two_processes_with_one_pid_in_one_tick_with_proc_alone_keep_the_second_exact() {
    // /proc cannot tell them apart (one start tick), and the first lived for less than a
    // tick, before any scan its packets asked for: its bytes are no_socket, and the row
    // of the pid is the second process's alone.
    let (report, pid, a, b) = same_tick_pair("off", 7632);
    assert_eq!(rows_of(&report, pid), [b], "{report:#}");
    let no_socket = &report["unattributed"]["no_socket"];
    assert!(num(&no_socket["bytes"]) >= a.0 + a.1, "{no_socket}");
}
