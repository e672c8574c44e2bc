//! The whole pipeline without root: a committed seed capture, a fixture /proc tree and a
//! fixed clock go in through the session the command line runs (`Session::open` →
//! `run`, with `Sources::Replay` at the OS seam); the full report comes out, exact.
//!
//! The capture is tests/fixtures/pcap/ethernet-seed.pcap (93 frames taken on the lab's
//! `a` side, 198.18.0.1 and fd4e::1); the tree is tests/fixtures/proc/veth-seed (see its
//! README). The expected numbers were counted from the capture with `tcpdump -nn -r`,
//! as IP header + payload bytes:
//!
//! - TCP 198.18.0.1:58950 ↔ 198.18.0.2:9001 (uploader): out 8 packets, 60 (SYN) +
//!   52 × 4 (ACKs, FIN) + 52 × 4 + 7,240 + 7,240 + 1,904 + 3,616 (data) = 20,424 bytes;
//!   in 8 packets, 60 (SYN-ACK) + 52 × 7 + 5,000 = 5,424 bytes.
//! - UDP [fd4e::1]:39627 ↔ [fd4e::2]:9002 (probe): out 20 × 148, in 20 × 78.
//! - UDP 198.18.0.1:35497 → 198.18.0.2:9002, no socket in the tree: 13 × 128.
//! - ICMP (9 port unreachables, 156 bytes each) and ICMPv6 (13: neighbour discovery,
//!   MLD, router solicitations; 1,072 bytes): not TCP or UDP. 2 ARP frames (28 each):
//!   not IP.
#![allow(
    clippy::disallowed_methods,
    reason = "this test reads the report schema"
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use netflow::model::{Counter, MatchQuality, Proto};
use netflow::pipeline::{Replay, ReplayFile, Session, SnapshotRequest, SocketLogMode, Sources};
use netflow::render::{self, Format, Width};
use netflow::report::{AttributionSource, PeerRow, Report, SocketLogState, StoppedBy};

/// 2026-11-26T10:20:22Z: the whole second before the capture's first frame
/// (10:20:22.243298); its last is at 10:20:26.275291.
const START_SECS: u64 = 1_795_688_422;

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// The seed capture as `eth0`, over the veth-seed tree, from the fixed start.
fn replay() -> Replay {
    Replay {
        captures: vec![ReplayFile {
            interface: "eth0".into(),
            path: fixture("pcap/ethernet-seed.pcap"),
        }],
        proc_root: fixture("proc/veth-seed"),
        passwd: Some(fixture("proc/veth-seed.passwd")),
        start: UNIX_EPOCH + Duration::from_secs(START_SECS),
        host: "lab-a".into(),
    }
}

fn request(duration: Duration) -> SnapshotRequest {
    SnapshotRequest {
        duration,
        sources: Sources::Replay(replay()),
        ..SnapshotRequest::default()
    }
}

/// Runs a session exactly as the command line does, but over the replay.
fn run(request: SnapshotRequest) -> Report {
    let snapshot = Session::open(request)
        .expect("a replay opens without root")
        .run(|_| {})
        .expect("threads start");
    assert!(snapshot.complete, "{:?}", snapshot.report.warnings);
    snapshot.report
}

fn json(report: &Report) -> Vec<u8> {
    let mut out = Vec::new();
    render::render(report, Format::Json, Width::Unlimited, &mut out).unwrap();
    out
}

fn counter(packets: u64, bytes: u64) -> Counter {
    Counter { packets, bytes }
}

#[test]
fn replayed_capture_over_a_proc_fixture_gives_the_exact_report() {
    let report = run(request(Duration::from_secs(10)));
    let s = &report.summary;

    // Time: the fixed start, and the capture's own end.
    assert_eq!(s.host, "lab-a");
    assert_eq!(s.start_time, "2026-11-26T10:20:22Z");
    assert_eq!(s.start_unix_seconds, START_SECS as f64);
    assert_eq!(
        s.duration_secs, 4.275291,
        "to the last frame, 10:20:26.275291"
    );
    assert_eq!(s.stopped_by, StoppedBy::EndOfInput);

    // What came in, and where every byte went.
    assert_eq!(s.interfaces, ["eth0"]);
    assert_eq!(s.interface_stats.len(), 1);
    let eth0 = &s.interface_stats[0];
    assert_eq!(eth0.name, "eth0");
    assert_eq!(eth0.captured, counter(93, 34_564));
    assert_eq!(eth0.kernel_dropped_packets, 0);
    assert!(eth0.counters.is_none(), "a file has no interface counters");
    assert_eq!(s.captured, counter(93, 34_564));
    assert_eq!(s.both_ends_local, counter(0, 0));
    assert_eq!(s.attributed.inbound, counter(28, 5_424 + 1_560));
    assert_eq!(s.attributed.outbound, counter(28, 20_424 + 2_960));
    assert_eq!(s.unattributed, counter(37, 1_664 + 2_476 + 56));
    assert_eq!(s.dropped.queue, counter(0, 0));
    assert_eq!(
        (s.dropped.kernel_packets, s.dropped.interface_packets),
        (0, 0)
    );
    assert!(report.totals_add_up());
    assert_eq!(s.processes_seen, 2, "sshd and bash moved nothing");
    assert_eq!(s.flows_seen, 3);
    assert!(!s.flows_seen_estimated);
    assert_eq!(
        s.socket_scans, 2,
        "one before the first packet, one after the last"
    );
    assert_eq!(s.attribution_sources, [AttributionSource::Proc]);
    assert_eq!(s.socket_log.state, SocketLogState::Off);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    let nonzero: Vec<(&str, Counter)> = report
        .unattributed
        .iter()
        .filter(|(_, c)| !c.is_zero())
        .map(|(&reason, &c)| (reason, c))
        .collect();
    assert_eq!(
        nonzero,
        [
            ("no_socket", counter(13, 13 * 128)),
            ("not_ip", counter(2, 2 * 28)),
            ("not_tcp_udp", counter(22, 9 * 156 + 1_072)),
        ]
    );
    assert_eq!(report.unattributed.len(), 10, "every reason is present");

    // Per process, ranked by total bytes.
    assert_eq!(report.processes.len(), 2);
    assert_eq!(report.other_processes.count, 0);
    let up = &report.processes[0];
    assert_eq!(
        (up.rank, up.pid, up.ppid, up.start_time_ticks),
        (1, 700, 1, 170_000)
    );
    assert_eq!(up.name, "uploader");
    assert_eq!(up.cmdline, "/usr/local/bin/uploader --to 198.18.0.2:9001");
    assert_eq!(up.exe, "/usr/local/bin/uploader");
    assert_eq!((up.user.as_str(), up.uid), ("alice", Some(1000)));
    assert_eq!((up.bytes_in, up.bytes_out), (5_424, 20_424));
    assert_eq!((up.packets_in, up.packets_out), (8, 8));
    // Averages over the 4.275291 s, rounded; every packet fell in second 1.
    assert_eq!(
        (up.avg_bytes_in_per_sec, up.avg_bytes_out_per_sec),
        (1_269, 4_777)
    );
    assert_eq!(
        (up.peak_bytes_in_per_sec, up.peak_bytes_out_per_sec),
        (5_424, 20_424)
    );
    assert_eq!(
        up.series.seconds().collect::<Vec<_>>(),
        [[0, 0], [5_424, 20_424]]
    );
    assert_eq!(up.connections, 1);
    assert_eq!(up.matched_by, [MatchQuality::Exact]);
    assert_eq!(up.cgroup, "/user.slice/user-1000.slice/session-3.scope");
    assert_eq!(up.container_id, None);
    assert!(!up.exited);
    assert_eq!(
        up.peers,
        [PeerRow {
            proto: Proto::Tcp,
            remote: "198.18.0.2:9001".into(),
            bytes_in: 5_424,
            bytes_out: 20_424,
            packets_in: 8,
            packets_out: 8,
        }]
    );

    let probe = &report.processes[1];
    assert_eq!(
        (probe.rank, probe.pid, probe.start_time_ticks),
        (2, 710, 170_100)
    );
    assert_eq!(probe.name, "probe");
    assert_eq!(probe.cmdline, "probe -6 fd4e::2 9002");
    assert_eq!((probe.user.as_str(), probe.uid), ("bob", Some(1001)));
    assert_eq!((probe.bytes_in, probe.bytes_out), (20 * 78, 20 * 148));
    assert_eq!((probe.packets_in, probe.packets_out), (20, 20));
    assert_eq!(
        (probe.avg_bytes_in_per_sec, probe.avg_bytes_out_per_sec),
        (365, 692)
    );
    assert_eq!(
        probe.series.seconds().collect::<Vec<_>>(),
        [[0, 0], [1_560, 2_960]]
    );
    assert_eq!(probe.matched_by, [MatchQuality::BoundUdp]);
    assert_eq!(
        probe.container_id.as_deref(),
        Some("4f1c2b0e9d8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e")
    );
    assert_eq!(probe.peers.len(), 1);
    assert_eq!(probe.peers[0].remote, "[fd4e::2]:9002");

    // The JSON a program would read says the same.
    let v: serde_json::Value = serde_json::from_slice(&json(&report)).unwrap();
    let summary = &v["summary"];
    assert_eq!(summary["start_time"], "2026-11-26T10:20:22Z");
    assert_eq!(summary["start_unix_seconds"], 1_795_688_422.0);
    assert_eq!(summary["duration_secs"], 4.275291);
    assert_eq!(summary["stopped_by"], "end_of_input");
    assert_eq!(summary["captured"]["bytes"], 34_564);
    assert_eq!(summary["attributed"]["in"]["bytes"], 6_984);
    assert_eq!(summary["attributed"]["out"]["bytes"], 23_384);
    assert_eq!(summary["unattributed"]["packets"], 37);
    assert_eq!(v["unattributed"]["no_socket"]["bytes"], 1_664);
    assert_eq!(v["unattributed"]["not_tcp_udp"]["packets"], 22);
    assert_eq!(v["processes"][0]["name"], "uploader");
    assert_eq!(v["processes"][0]["bytes_out"], 20_424);
    assert_eq!(v["processes"][0]["matched_by"][0], "exact");
    assert_eq!(v["processes"][1]["pid"], 710);
    assert_eq!(v["processes"][1]["matched_by"][0], "bound_udp");
    assert_eq!(
        v["processes"][1]["series"],
        serde_json::json!([[0, 0], [1_560, 2_960]])
    );

    // The published schema knows this way of ending.
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("../schema/report.schema.json")).unwrap())
            .unwrap();
    let endings = &schema["properties"]["summary"]["properties"]["stopped_by"]["enum"];
    assert!(
        endings.as_array().unwrap().contains(&summary["stopped_by"]),
        "{endings}"
    );
}

#[test]
fn a_replay_gives_the_same_report_every_time() {
    let first = String::from_utf8(json(&run(request(Duration::from_secs(10))))).unwrap();
    for queue_capacity in [65_536, 1, 65_536] {
        // The smallest queue (two batches) makes the reader wait on the engine: a
        // replay waits rather than drops, so the report is the same.
        let again = run(SnapshotRequest {
            queue_capacity,
            ..request(Duration::from_secs(10))
        });
        assert_eq!(String::from_utf8(json(&again)).unwrap(), first);
    }
}

#[test]
fn a_replay_ends_at_its_window_like_a_live_capture() {
    // Two seconds from 10:20:22: the frames from 10:20:24.227312 on are not read.
    let report = run(request(Duration::from_secs(2)));
    let s = &report.summary;
    assert_eq!(s.stopped_by, StoppedBy::Duration);
    assert_eq!(s.duration_secs, 2.0);
    // 12 frames fewer: 6 UDP datagrams (128), 3 ICMP (156), 3 ICMPv6 (96, 56, 96).
    assert_eq!(
        s.captured,
        counter(81, 34_564 - 6 * 128 - 3 * 156 - 96 - 56 - 96)
    );
    assert_eq!(report.unattributed["no_socket"], counter(7, 7 * 128));
    assert_eq!(
        report.processes[0].bytes_out, 20_424,
        "the flows in the window are whole"
    );
    assert!(report.totals_add_up());
}

#[test]
fn a_replay_refuses_what_needs_a_live_host() {
    let refused = |request: SnapshotRequest| match Session::open(request) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("opened"),
    };
    let mut with_interfaces = request(Duration::from_secs(1));
    with_interfaces.interfaces = vec!["lo".into()];
    assert!(refused(with_interfaces).contains("capture files"));
    let mut with_socket_log = request(Duration::from_secs(1));
    with_socket_log.socket_log = SocketLogMode::On;
    assert!(refused(with_socket_log).contains("socket log"));
    let mut with_limits = request(Duration::from_secs(1));
    with_limits.limits.memory_bytes = Some(64 << 20);
    assert!(refused(with_limits).contains("self-limits"));
    let mut no_tree = replay();
    no_tree.proc_root = fixture("pcap");
    assert!(refused(SnapshotRequest {
        sources: Sources::Replay(no_tree),
        ..SnapshotRequest::default()
    })
    .contains("not a /proc tree"));
    let mut no_file = replay();
    no_file.captures[0].path = fixture("pcap/missing.pcap");
    assert!(refused(SnapshotRequest {
        sources: Sources::Replay(no_file),
        ..SnapshotRequest::default()
    })
    .contains("missing.pcap"));
}
