//! Connections (issue #12 item 1): every process row lists its flows, each with the
//! exact bytes the wire carried for its 4-tuple.
//!
//! Ground truth is tcpdump reading netflow's own pcap file, one 4-tuple at a time.

#![allow(
    clippy::disallowed_methods,
    reason = "tests drive the real binary: they read clocks and files"
)]

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::*;

/// tcpdump's view of one flow from its local end: ((out packets, bytes), (in packets, bytes)).
fn flow_truth(
    pcap: &std::path::Path,
    proto: &str,
    local: SocketAddr,
    remote: SocketAddr,
) -> [(u64, u64); 2] {
    let way = |from: SocketAddr, to: SocketAddr| {
        format!(
            "{proto} and src host {} and src port {} and dst host {} and dst port {}",
            from.ip(),
            from.port(),
            to.ip(),
            to.port()
        )
    };
    [
        tcpdump_ip_bytes(pcap, &way(local, remote)),
        tcpdump_ip_bytes(pcap, &way(remote, local)),
    ]
}

fn addr(v: &serde_json::Value) -> SocketAddr {
    v.as_str()
        .unwrap_or_else(|| panic!("not an address: {v}"))
        .parse()
        .unwrap()
}

#[test]
#[ignore = "needs root"]
fn each_connection_of_a_process_carries_exactly_its_own_bytes() {
    let lab = Lab::new();
    let dir = Scratch::new("connections");
    // --ebpf off: every connection is then matched from /proc (`exact`).
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &[
            "-d", "5s", "-i", "eth0", "--format", "json", "-n", "0", "--ebpf", "off",
        ],
    );
    // The same traffic, seen by two more netflows: one CSV row per connection, and the
    // table with its connections listed.
    let csv_dir = Scratch::new("connections-csv");
    let csv = Netflow::start(
        &lab,
        &lab.a,
        &csv_dir.0,
        &[
            "-d", "5s", "-i", "eth0", "--format", "csv", "--rows", "flows", "-n", "0", "--ebpf",
            "off",
        ],
    );
    let table_dir = Scratch::new("connections-table");
    let table = Netflow::start(
        &lab,
        &lab.a,
        &table_dir.0,
        &[
            "-d", "5s", "-i", "eth0", "--format", "table", "-c", "-n", "0", "--ebpf", "off",
        ],
    );
    let _udp_server = Peer::start(
        &lab,
        &lab.b,
        &["udp-server", &format!("{B4}:7401"), "100", "64"],
    );
    let _tcp_server = Peer::start(
        &lab,
        &lab.b,
        &["tcp-server", &format!("{B4}:7402"), "300000", "20000"],
    );
    // One process, four connected UDP sockets, three datagrams each (and replies).
    let chatter = Peer::start(
        &lab,
        &lab.a,
        &["udp-chatter", &format!("{B4}:7401"), "4", "3"],
    );
    let tcp = Peer::start(
        &lab,
        &lab.a,
        &["tcp-client", &format!("{B4}:7402"), "300000", "20000"],
    );
    let chatted = chatter.done();
    tcp.done();
    let pcap = nf.pcap.clone();
    let report = nf.finish(Duration::from_secs(20));
    assert_totals_add_up(&report);
    let (start_ms, end_ms) = {
        let s = &report["summary"];
        let start = s["start_unix_seconds"].as_f64().unwrap() * 1_000.0;
        let secs = s["duration_secs"].as_f64().unwrap() * 1_000.0;
        (start as u64, (start + secs) as u64 + 1_000)
    };

    for (what, peer, proto, expected_flows) in [
        ("udp chatter", &chatter, "udp", 4),
        ("tcp client", &tcp, "tcp", 1),
    ] {
        let r = row(&report, peer.pid);
        let flows = r["flows"].as_array().unwrap();
        assert_eq!(flows.len(), expected_flows, "{what}: {flows:#?}");
        assert_eq!(num(&r["connections"]), expected_flows as u64, "{what}");
        let mut locals = Vec::new();
        for f in flows {
            let (local, remote) = (addr(&f["local"]), addr(&f["remote"]));
            assert_eq!(f["proto"], proto, "{what}");
            assert_eq!((f["count"].as_u64(), &f["rest"]), (Some(1), &false.into()));
            let [(out_p, out_b), (in_p, in_b)] = flow_truth(&pcap, proto, local, remote);
            assert_eq!(
                (num(&f["packets_out"]), num(&f["bytes_out"])),
                (out_p, out_b),
                "{what} {local}->{remote}: out vs tcpdump"
            );
            assert_eq!(
                (num(&f["packets_in"]), num(&f["bytes_in"])),
                (in_p, in_b),
                "{what} {local}->{remote}: in vs tcpdump"
            );
            assert!(out_p > 0 && in_p > 0, "{what}: traffic both ways");
            let (first, last) = (num(&f["first_unix_ms"]), num(&f["last_unix_ms"]));
            assert!(
                start_ms <= first && first <= last && last <= end_ms,
                "{what}: {first}..{last} outside the capture {start_ms}..{end_ms}"
            );
            assert_eq!(f["matched_by"], serde_json::json!(["exact"]), "{what}");
            locals.push(local);
        }
        locals.sort();
        locals.dedup();
        assert_eq!(locals.len(), expected_flows, "{what}: distinct local ends");
        // The flows add up to the process's row.
        for key in ["bytes_in", "bytes_out", "packets_in", "packets_out"] {
            let sum: u64 = flows.iter().map(|f| num(&f[key])).sum();
            assert_eq!(sum, num(&r[key]), "{what}: {key}");
        }
    }
    // Each chatter datagram: 100 bytes of payload + 28 of IPv4 and UDP headers.
    let out: u64 = row(&report, chatter.pid)["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| num(&f["bytes_out"]))
        .sum();
    assert_eq!(out, chatted.sent + chatted.sent_packets * 28);

    // CSV: a row per connection, each exactly its 4-tuple in that netflow's pcap.
    let (csv_pcap, csv_report) = (csv.pcap.clone(), csv.report.clone());
    csv.finish_raw(Duration::from_secs(20));
    let mut reader = csv::Reader::from_path(&csv_report).unwrap();
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let chatter_pid = chatter.pid.to_string();
    let mine: Vec<&csv::StringRecord> = rows
        .iter()
        .filter(|r| r[col("pid")] == chatter_pid)
        .collect();
    assert_eq!(mine.len(), 4, "{rows:#?}");
    for r in mine {
        let (local, remote) = (
            r[col("flow_local")].parse().unwrap(),
            r[col("flow_remote")].parse().unwrap(),
        );
        let [(out_p, out_b), (in_p, in_b)] = flow_truth(&csv_pcap, "udp", local, remote);
        let n = |c: &str| r[col(c)].parse::<u64>().unwrap();
        assert_eq!(
            (n("flow_packets_out"), n("flow_bytes_out")),
            (out_p, out_b),
            "csv {local}"
        );
        assert_eq!(
            (n("flow_packets_in"), n("flow_bytes_in")),
            (in_p, in_b),
            "csv {local}"
        );
        assert_eq!(&r[col("name")], "traffic-peer");
    }

    // The table: each of the chatter's connections on a line under it.
    let table_report = table.report.clone();
    table.finish_raw(Duration::from_secs(20));
    let text = std::fs::read_to_string(table_report).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with(&format!("{chatter_pid} ")))
        .unwrap_or_else(|| panic!("no chatter row:\n{text}"));
    let remote = format!("-> {B4}:7401");
    for line in &lines[at + 1..at + 5] {
        assert!(
            line.trim_start().starts_with(&format!("udp  {A4}:")),
            "{text}"
        );
        assert!(
            line.contains(&remote) && line.ends_with("(exact)"),
            "{text}"
        );
    }
}

/// Asserts a clean refusal: exit 2, one `netflow:` line containing `needle`.
fn refused(args: &[&str], needle: &str) {
    let out = std::process::Command::new(NETFLOW)
        .args(args)
        .output()
        .expect("run netflow");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(
        stderr.starts_with("netflow: ") && stderr.contains(needle),
        "{args:?}: {stderr}"
    );
    assert!(out.stdout.is_empty(), "{args:?}");
}

#[test]
fn a_negative_connection_count_and_rows_without_csv_are_refused() {
    refused(&["snapshot", "-d", "1h", "--connections", "-1"], "'-1'");
    refused(&["snapshot", "-d", "1h", "--connections=-1"], "-1");
    refused(
        &[
            "snapshot", "-d", "1h", "--rows", "flows", "--format", "json",
        ],
        "--rows flows",
    );
    refused(&["snapshot", "-d", "1h", "--rows", "nonsense"], "nonsense");
}
