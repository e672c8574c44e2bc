//! A hand-built report with known numbers, shared by the renderer tests.

use std::collections::BTreeMap;

use crate::model::{Counter, DirCounters, MatchQuality, Proto, Unattributed};
use crate::report::{
    AttributionSource, CounterDelta, Dropped, FlowRow, InterfaceStats, OtherProcesses, PeerRow,
    ProcessRow, Report, SocketLogState, SocketLogStatus, SortKey, StoppedBy, Summary,
    BYTE_CONVENTION,
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
            stopped_by: StoppedBy::Duration,
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
            sort: SortKey::Total,
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
            filtered_out: Default::default(),
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
            attribution_sources: vec![AttributionSource::Proc, AttributionSource::SocketLog],
            socket_log: SocketLogStatus {
                state: SocketLogState::Active,
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
                flows: vec![FlowRow {
                    proto: Some(Proto::Tcp),
                    local: Some("[2001:db8::2]:51000".into()),
                    remote: Some("[2001:db8::80]:443".into()),
                    bytes_in: 1_048_576,
                    bytes_out: 2_000,
                    packets_in: 700,
                    packets_out: 300,
                    first_unix_ms: 1_795_939_200_120,
                    last_unix_ms: 1_795_939_201_950,
                    matched_by: vec![MatchQuality::Exact],
                    open: None,
                    count: 1,
                    rest: false,
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
                // As with --connections=1: one connection, then the rest added up.
                flows: vec![
                    FlowRow {
                        proto: Some(Proto::Udp),
                        local: Some("10.0.0.2:53".into()),
                        remote: Some("10.0.0.7:40000".into()),
                        bytes_in: 200,
                        bytes_out: 150,
                        packets_in: 2,
                        packets_out: 1,
                        first_unix_ms: 1_795_939_200_010,
                        last_unix_ms: 1_795_939_200_300,
                        matched_by: vec![MatchQuality::BoundUdp],
                        open: Some(false),
                        count: 1,
                        rest: false,
                    },
                    FlowRow {
                        proto: Some(Proto::Tcp),
                        local: None,
                        remote: None,
                        bytes_in: 100,
                        bytes_out: 50,
                        packets_in: 1,
                        packets_out: 1,
                        first_unix_ms: 1_795_939_200_500,
                        last_unix_ms: 1_795_939_200_500,
                        matched_by: vec![MatchQuality::Exact],
                        open: Some(false),
                        count: 1,
                        rest: true,
                    },
                ],
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
