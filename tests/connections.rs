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

/// `processes` processes in one Python parent, each with `each` connected UDP sockets
/// to `server`, sending 100 bytes on each once a second for `seconds`, then holding
/// them until stdin closes.
const CHATTERERS: &str = r#"
import os, socket, sys, time
server, port, processes, each, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
kids = []
for _ in range(processes):
    pid = os.fork()
    if pid == 0:
        socks = []
        for _ in range(each):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.connect((server, port))
            socks.append(s)
        for _ in range(seconds):
            for s in socks:
                s.send(b"m" * 100)
            time.sleep(1)
        sys.stdin.read()
        os._exit(0)
    kids.append(pid)
print("ready", flush=True)
sys.stdin.read()
for k in kids:
    os.waitpid(k, 0)
"#;

/// netflow's peak resident memory (KiB) capturing `processes` x `each` connections,
/// and its report (JSON, every connection listed).
fn peak_memory_kib(processes: usize, each: usize) -> (u64, serde_json::Value) {
    let lab = Lab::new();
    let dir = Scratch::new("connections-memory");
    let _sink = Peer::start(&lab, &lab.b, &["udp-sink", &format!("{B4}:7601"), "3"]);
    let report = dir.0.join("report.json");
    let netflow = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.a,
            "/usr/bin/time",
            "-f",
            "maxrss_kib=%M",
            NETFLOW,
        ])
        .args([
            "snapshot", "-d", "8s", "-i", "eth0", "--format", "json", "-n", "0",
        ])
        .args(["--connections=0", "--ebpf", "off", "-q", "-o"])
        .arg(&report)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start netflow under time");
    // /usr/bin/time forks netflow: wait until it captures.
    std::thread::sleep(Duration::from_millis(1_500));
    let mut chatter = lab
        .cmd(&lab.a, std::path::Path::new("/usr/bin/python3"))
        .args(["-c", CHATTERERS, B4, "7601"])
        .args([processes.to_string(), each.to_string(), "4".into()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start python3");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(chatter.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready");
    let out = netflow.wait_with_output().unwrap();
    drop(chatter.stdin.take());
    let _ = chatter.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let kib = stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss_kib="))
        .unwrap_or_else(|| panic!("no maxrss: {stderr}"))
        .trim()
        .parse()
        .unwrap();
    let text = std::fs::read_to_string(&report).unwrap();
    (kib, serde_json::from_str(&text).unwrap())
}

/// Bounded memory for connections (issue #12 item 1): 10,000 connections of 500
/// processes, every one listed in the report, next to 500 connections of as many.
#[test]
#[ignore = "needs root"]
fn ten_thousand_connections_of_five_hundred_processes_fit_in_bounded_memory() {
    let (base, _) = peak_memory_kib(500, 1);
    let (many, report) = peak_memory_kib(500, 20);
    assert_totals_add_up(&report);
    let rows = report["processes"].as_array().unwrap();
    let flows: usize = rows
        .iter()
        .map(|r| r["flows"].as_array().unwrap().len())
        .sum();
    eprintln!(
        "peak RSS: {base} KiB with 500 connections, {many} KiB with {flows} listed of {} processes",
        rows.len()
    );
    assert!(flows >= 9_500, "{flows} connections listed");
    // The ledger keeps at most 128 bytes per flow (1.2 MiB here); the report's rows and
    // the JSON text (about 450 bytes per listed connection) are built once, at the end.
    assert!(
        many - base < 32 * 1024,
        "10,000 connections cost {} KiB",
        many - base
    );
}
