//! A hand-built report with known numbers, shared by the renderer tests.

use std::collections::BTreeMap;

use crate::model::{Counter, DirCounters, MatchQuality, Proto, Unattributed};
use crate::report::{
    CounterDelta, Dropped, InterfaceStats, OtherProcesses, PeerRow, ProcessRow, Report,
    SocketLogStatus, Summary, BYTE_CONVENTION,
};

pub fn sample_report() -> Report {
    let mut unattributed = BTreeMap::new();
    for r in Unattributed::ALL {
        unattributed.insert(r.name(), Counter::default());
    }
    unattributed.insert(
        "no_socket",
        Counter {
            packets: 3,
            bytes: 300,
        },
    );
    unattributed.insert(
        "not_ip",
        Counter {
            packets: 5,
            bytes: 140,
        },
    );
    Report {
        schema_version: 1,
        summary: Summary {
            host: "web-1".into(),
            start_time: "2026-11-26T08:00:00Z".into(),
            start_unix_seconds: 1_795_939_200.0,
            duration_secs: 10.0,
            stopped_by: "duration".into(),
            interfaces: vec!["eth0".into(), "lo".into()],
            interface_stats: vec![InterfaceStats {
                name: "eth0".into(),
                captured: Counter {
                    packets: 1_013,
                    bytes: 1_051_516,
                },
                kernel_dropped_packets: 4,
                counters: Some(CounterDelta {
                    rx_packets: 710,
                    rx_bytes: 1_060_000,
                    tx_packets: 310,
                    tx_bytes: 6_000,
                    ip_bytes: 1_060_000,
                    coverage: Some(1_051_516.0 / 1_060_000.0),
                }),
            }],
            self_limits: vec![],
            filter: Some("tcp or udp".into()),
            byte_convention: BYTE_CONVENTION,
            sort: "total".into(),
            captured: Counter {
                packets: 1_013,
                bytes: 1_051_516,
            },
            both_ends_local: Counter::default(),
            attributed: DirCounters {
                inbound: Counter {
                    packets: 703,
                    bytes: 1_048_876,
                },
                outbound: Counter {
                    packets: 302,
                    bytes: 2_200,
                },
            },
            unattributed: Counter {
                packets: 8,
                bytes: 440,
            },
            dropped: Dropped {
                queue: Counter::default(),
                kernel_packets: 4,
                interface_packets: 0,
            },
            processes_seen: 2,
            flows_seen: 4,
            flows_seen_estimated: false,
            socket_scans: 11,
            attribution_sources: vec!["proc", "socket_log"],
            socket_log: SocketLogStatus {
                state: "active",
                reason: None,
                hooks: vec!["inet_sock_set_state".into(), "sock_send_length".into()],
                records: 57,
                lost: 0,
            },
        },
        processes: vec![
            ProcessRow {
                rank: 1,
                pid: 4242,
                start_time_ticks: 99,
                start_time_ns: Some(990_000_123),
                ppid: 1,
                name: "curl".into(),
                cmdline: "curl -o /dev/null http://example.test/big, file".into(),
                exe: "/usr/bin/curl".into(),
                user: "alice".into(),
                uid: Some(1000),
                bytes_in: 1_048_576,
                bytes_out: 2_000,
                packets_in: 700,
                packets_out: 300,
                avg_bytes_in_per_sec: 104_858,
                avg_bytes_out_per_sec: 200,
                peak_bytes_in_per_sec: 524_288,
                peak_bytes_out_per_sec: 1_500,
                connections: 1,
                matched_by: vec![MatchQuality::Exact],
                cgroup: "/user.slice/user-1000.slice/session-3.scope".into(),
                container_id: None,
                exited: false,
                peers: vec![PeerRow {
                    proto: Proto::Tcp,
                    remote: "[2001:db8::80]:443".into(),
                    bytes_in: 1_048_576,
                    bytes_out: 2_000,
                    packets_in: 700,
                    packets_out: 300,
                }],
                series: vec![[524_288, 1_500], [524_288, 500]].into(),
                processes: 1,
                group: None,
            },
            ProcessRow {
                rank: 2,
                pid: 77,
                start_time_ticks: 5,
                start_time_ns: None,
                ppid: 1,
                name: "dnsd".into(),
                cmdline: "/usr/sbin/dnsd".into(),
                exe: "/usr/sbin/dnsd".into(),
                user: "root".into(),
                uid: Some(0),
                bytes_in: 300,
                bytes_out: 200,
                packets_in: 3,
                packets_out: 2,
                avg_bytes_in_per_sec: 30,
                avg_bytes_out_per_sec: 20,
                peak_bytes_in_per_sec: 300,
                peak_bytes_out_per_sec: 200,
                connections: 2,
                matched_by: vec![MatchQuality::Exact, MatchQuality::BoundUdp],
                cgroup: "/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope".into(),
                container_id: Some("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into()),
                exited: true,
                peers: vec![],
                series: vec![[300, 200]].into(),
                processes: 1,
                group: None,
            },
        ],
        other_processes: OtherProcesses::default(),
        unattributed,
        warnings: vec![],
    }
}

#[test]
fn sample_report_totals_add_up() {
    assert!(sample_report().totals_add_up());
}
