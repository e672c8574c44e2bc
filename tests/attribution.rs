//! Attribution under churn: short connections, pre-fork servers, processes that exit.
//! Real traffic between two network namespaces; the ground truth for each scenario is
//! tcpdump's reading of the pcap file netflow wrote.
#![allow(
    clippy::disallowed_methods,
    reason = "tests drive the real binary: they read clocks and files"
)]

use std::time::Duration;

use crate::common::*;

/// IP bytes tcpdump reads for TCP packets to and from `host:port`: (to, from).
fn port_truth(pcap: &std::path::Path, host: &str, port: u16) -> (u64, u64) {
    let to = tcpdump_ip_bytes(
        pcap,
        &format!("tcp and dst host {host} and dst port {port}"),
    );
    let from = tcpdump_ip_bytes(
        pcap,
        &format!("tcp and src host {host} and src port {port}"),
    );
    (to.1, from.1)
}

fn share(part: u64, whole: u64) -> f64 {
    assert!(whole > 0, "no traffic to measure");
    part as f64 / whole as f64
}

#[test]
#[ignore = "needs root"]
fn server_storm_of_short_connections_is_charged_to_the_server() {
    let lab = Lab::exclusive();
    let dir = Scratch::new("server-storm");
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &["-d", "14s", "-i", "eth0", "--format", "json", "-n", "0"],
    );
    let server = Peer::start(
        &lab,
        &lab.a,
        &["tcp-storm-server", &format!("{A4}:7400"), "2000", "10240"],
    );
    let client = Peer::start(
        &lab,
        &lab.b,
        &[
            "tcp-storm-client",
            &format!("{A4}:7400"),
            "2000",
            "10240",
            "4",
        ],
    );
    let sent = client.done();
    assert_eq!(server.done().recv, sent.sent, "the server read every byte");
    let report = nf.finish(Duration::from_secs(40));

    let (to_server, from_server) = port_truth(&dir.0.join("capture.pcap"), A4, 7400);
    let r = row(&report, server.pid);
    let (bytes_in, bytes_out) = (num(&r["bytes_in"]), num(&r["bytes_out"]));
    println!(
        "server storm: {:.2}% of inbound and {:.2}% of outbound bytes charged to the server ({:?})",
        share(bytes_in, to_server) * 100.0,
        share(bytes_out, from_server) * 100.0,
        r["matched_by"]
    );
    assert!(
        bytes_in <= to_server && bytes_out <= from_server,
        "more than was sent"
    );
    assert!(
        share(bytes_in + bytes_out, to_server + from_server) >= 0.99,
        "{r:#}"
    );
    assert_totals_add_up(&report);
    assert_coverage_near_one(&report);
}

#[test]
#[ignore = "needs root"]
fn pre_fork_server_traffic_goes_to_the_family_never_to_strangers() {
    let lab = Lab::new();
    let dir = Scratch::new("prefork");
    // The /proc path (shared sockets, listener fallback). With the kernel socket log,
    // each worker is charged what it read itself: tests/socket_log.rs.
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &[
            "-d", "8s", "-i", "eth0", "--format", "json", "-n", "0", "--ebpf", "off",
        ],
    );
    let (parent, workers) = start_prefork(&lab, &lab.a, &format!("{A4}:7402"), 3, 100, 10240);
    let client = Peer::start(
        &lab,
        &lab.b,
        &[
            "tcp-storm-client",
            &format!("{A4}:7402"),
            "300",
            "10240",
            "5",
        ],
    );
    client.done();
    let report = nf.finish(Duration::from_secs(30));

    let (to_server, from_server) = port_truth(&dir.0.join("capture.pcap"), A4, 7402);
    let family: Vec<u32> = std::iter::once(parent.pid)
        .chain(workers.iter().copied())
        .collect();
    let mut charged = 0;
    for r in report["processes"].as_array().unwrap() {
        let pid = num(&r["pid"]) as u32;
        assert!(
            family.contains(&pid) || pid == client.pid,
            "bytes charged to a stranger: {r:#}"
        );
        if family.contains(&pid) {
            charged += num(&r["bytes_in"]) + num(&r["bytes_out"]);
        }
    }
    let parent_row = row(&report, parent.pid);
    println!(
        "pre-fork: {:.2}% of the server side charged to the family, {} bytes to the parent ({:?})",
        share(charged, to_server + from_server) * 100.0,
        num(&parent_row["bytes_in"]),
        parent_row["matched_by"]
    );
    assert!(share(charged, to_server + from_server) >= 0.99);
    // Connections gone before a scan go to the parent of the workers sharing the listener.
    assert!(num(&parent_row["bytes_in"]) > 0);
    // By the listener it shares with its workers; `listener` alone if a scan ran
    // before the workers were forked.
    for quality in parent_row["matched_by"].as_array().unwrap() {
        assert!(
            quality == "shared_parent" || quality == "listener",
            "{parent_row:#}"
        );
    }
    assert_totals_add_up(&report);
    assert_coverage_near_one(&report);
}

#[test]
#[ignore = "needs root"]
fn process_that_exits_mid_capture_keeps_its_bytes_and_is_marked_exited() {
    let lab = Lab::new();
    let dir = Scratch::new("exit");
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &["-d", "4s", "-i", "eth0", "--format", "json"],
    );
    let server = Peer::start(
        &lab,
        &lab.b,
        &["tcp-server", &format!("{B4}:7403"), "5000000", "0"],
    );
    let client = Peer::start(
        &lab,
        &lab.a,
        &["tcp-client", &format!("{B4}:7403"), "5000000", "0", "exit"],
    );
    let moved = client.done();
    server.done();
    let report = nf.finish(Duration::from_secs(20));

    let r = row(&report, client.pid);
    assert_eq!(r["exited"], true, "{r:#}");
    let (to, from) = port_truth(&dir.0.join("capture.pcap"), B4, 7403);
    // Everything the client sent, except what came after its socket was already gone
    // from /proc (its closing packets), is charged to it.
    assert!(num(&r["bytes_out"]) >= moved.sent, "{r:#}");
    assert!(share(num(&r["bytes_out"]), to) >= 0.99, "{r:#}");
    assert!(num(&r["bytes_in"]) <= from);
    assert_eq!(row(&report, server.pid)["exited"], false);
    assert_totals_add_up(&report);
    assert_coverage_near_one(&report);
}
