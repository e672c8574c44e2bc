//! The report: an immutable, serialisable picture of one capture.
//!
//! Owns the JSON schema (`schema_version`) and the totals equation.
//! Does not format anything for people (that is `render`) or gather anything from
//! the OS: it is built from the engine's ledger plus facts the pipeline passes in.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use serde::Serialize;

use crate::account::{Folded, Ledger, ProcessAccount};
use crate::engine::Finished;
use crate::model::{
    Counter, DirCounters, Direction, MatchQuality, ProcessKey, Proto, Unattributed,
};

/// Bumped only when a field is removed or changes meaning; new fields keep the version.
pub const SCHEMA_VERSION: u32 = 1;

/// The byte convention, stated in every JSON report.
pub const BYTE_CONVENTION: &str =
    "ip: bytes are IP header + payload (link-layer headers are not counted)";

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub summary: Summary,
    /// Ranked by the chosen sort key, at most `--top` rows.
    pub processes: Vec<ProcessRow>,
    /// Processes beyond `--top`, added up, so the rows still reconcile.
    pub other_processes: OtherProcesses,
    /// Traffic no process could be charged with, by reason (every reason present).
    pub unattributed: BTreeMap<&'static str, Counter>,
    /// Conditions that make the numbers less complete (unreadable processes, ...).
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub host: String,
    /// RFC 3339, UTC.
    pub start_time: String,
    /// The same instant as Unix time, for programs.
    pub start_unix_seconds: f64,
    pub duration_secs: f64,
    /// Why capture ended: `duration`, `signal`.
    pub stopped_by: String,
    pub interfaces: Vec<String>,
    /// Per interface: what netflow captured next to what the interface itself counted.
    pub interface_stats: Vec<InterfaceStats>,
    /// The self-limits netflow ran under (`--cpu-limit`, `--mem-limit`), if any.
    pub self_limits: Vec<String>,
    pub filter: Option<String>,
    pub byte_convention: &'static str,
    pub sort: String,
    /// Every packet pcap delivered to netflow.
    pub captured: Counter,
    /// Packets with a local socket at both ends (loopback): charged to the sender as
    /// `out` and to the receiver as `in`, so they count twice below.
    pub both_ends_local: Counter,
    pub attributed: DirCounters,
    pub unattributed: Counter,
    pub dropped: Dropped,
    pub processes_seen: usize,
    /// Distinct flows (one per 4-tuple and local end), exact up to
    /// [`crate::account::EXACT_FLOWS`].
    pub flows_seen: u64,
    /// `flows_seen` is a HyperLogLog estimate (within about 2 %): more distinct flows
    /// than netflow counts exactly in bounded memory.
    pub flows_seen_estimated: bool,
    pub socket_scans: u32,
    /// What attributed traffic: `proc` always, `socket_log` when the kernel socket log
    /// was active.
    pub attribution_sources: Vec<&'static str>,
    pub socket_log: SocketLogStatus,
}

/// The kernel socket log (eBPF) during the capture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SocketLogStatus {
    /// `active`, `off` (`--ebpf off`) or `unavailable` (it could not be loaded).
    pub state: &'static str,
    /// Why it is unavailable, as the kernel said.
    pub reason: Option<String>,
    /// The tracepoints it was attached to.
    pub hooks: Vec<String>,
    /// Socket records read (one per socket and process that used it).
    pub records: u64,
    /// Records the kernel dropped because netflow read too slowly.
    pub lost: u64,
}

impl SocketLogStatus {
    pub fn off() -> SocketLogStatus {
        SocketLogStatus {
            state: "off",
            reason: None,
            hooks: Vec::new(),
            records: 0,
            lost: 0,
        }
    }

    pub fn unavailable(reason: String) -> SocketLogStatus {
        SocketLogStatus {
            state: "unavailable",
            reason: Some(reason),
            ..SocketLogStatus::off()
        }
    }

    pub fn is_active(&self) -> bool {
        self.state == "active"
    }
}

/// One interface's view of the capture window.
#[derive(Clone, Debug, Serialize)]
pub struct InterfaceStats {
    pub name: String,
    pub captured: Counter,
    pub kernel_dropped_packets: u64,
    /// The interface's own counters over the capture window (absent for `any`).
    pub counters: Option<CounterDelta>,
}

/// The interface's counters over the capture window, and how much of it was captured.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CounterDelta {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// The IP bytes these counters imply: link bytes minus the link header per packet
    /// (14 bytes on Ethernet; none on loopback, whose counters hold IP bytes). Loopback
    /// counts each packet on both send and receive, so only its send side is used.
    pub ip_bytes: u64,
    /// captured bytes / ip_bytes: 1.0 means netflow saw everything the interface
    /// carried (a capture filter, or VLAN tags and TSO on real NICs, move it).
    pub coverage: Option<f64>,
}

/// A raw reading of an interface's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub link_header_bytes: u64,
    pub loopback: bool,
}

impl InterfaceStats {
    /// Combines what one capture thread counted with the interface's counters read
    /// before and after the capture.
    pub fn new(
        name: String,
        captured: Counter,
        kernel_dropped_packets: u64,
        before: Option<LinkCounters>,
        after: Option<LinkCounters>,
    ) -> InterfaceStats {
        let counters = before.zip(after).map(|(b, a)| {
            let d = LinkCounters {
                rx_packets: a.rx_packets.saturating_sub(b.rx_packets),
                rx_bytes: a.rx_bytes.saturating_sub(b.rx_bytes),
                tx_packets: a.tx_packets.saturating_sub(b.tx_packets),
                tx_bytes: a.tx_bytes.saturating_sub(b.tx_bytes),
                ..a
            };
            let (packets, bytes) = if d.loopback {
                (d.tx_packets, d.tx_bytes)
            } else {
                (d.rx_packets + d.tx_packets, d.rx_bytes + d.tx_bytes)
            };
            let ip_bytes = bytes.saturating_sub(packets * d.link_header_bytes);
            CounterDelta {
                rx_packets: d.rx_packets,
                rx_bytes: d.rx_bytes,
                tx_packets: d.tx_packets,
                tx_bytes: d.tx_bytes,
                ip_bytes,
                coverage: (ip_bytes > 0).then(|| captured.bytes as f64 / ip_bytes as f64),
            }
        });
        InterfaceStats {
            name,
            captured,
            kernel_dropped_packets,
            counters,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Dropped {
    /// Packets netflow received but could not queue (its consumer fell behind).
    pub queue: Counter,
    /// Packets the kernel dropped before netflow saw them (pcap statistics; no bytes known).
    pub kernel_packets: u64,
    /// Packets the interface dropped (pcap statistics).
    pub interface_packets: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProcessRow {
    pub rank: usize,
    pub pid: u32,
    /// Kernel clock ticks since boot; with `pid`, identifies the process uniquely.
    pub start_time_ticks: u64,
    /// Nanoseconds since boot, when the kernel socket log saw the process: two processes
    /// that got the same pid within one tick share `start_time_ticks` and differ here.
    pub start_time_ns: Option<u64>,
    pub ppid: u32,
    pub name: String,
    pub cmdline: String,
    pub exe: String,
    pub user: String,
    pub uid: Option<u32>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub avg_bytes_in_per_sec: u64,
    pub avg_bytes_out_per_sec: u64,
    pub peak_bytes_in_per_sec: u64,
    pub peak_bytes_out_per_sec: u64,
    pub connections: u64,
    pub matched_by: Vec<MatchQuality>,
    /// The cgroup path, and the container id when the path names one.
    pub cgroup: String,
    pub container_id: Option<String>,
    /// The process had exited by the end of the capture (its bytes are still here).
    pub exited: bool,
    /// Its busiest remote ends (at most [`TOP_PEERS`]), busiest first.
    pub peers: Vec<PeerRow>,
    /// Bytes per second of the capture, `[in, out]`, from its first second.
    pub series: SeriesRow,
    /// Processes in this row: 1, or (with pid 0) how many processes past netflow's
    /// 8,192 tracked ones were added up under this name.
    pub processes: u32,
    /// For a row of several processes added up (pid 0): what they share.
    pub group: Option<Group>,
}

/// What the processes of one row share: `by` names the property, `key` its value.
/// `by` is `name` (processes past the first 8,192, by name; `key` is the name) or
/// `other` (those past 1,024 such names too; `key` is empty).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Group {
    pub by: &'static str,
    pub key: String,
}

impl Group {
    fn of(p: &ProcessAccount) -> Option<Group> {
        p.folded.map(|f| match f {
            Folded::ByName => Group {
                by: "name",
                key: p.info.name.clone(),
            },
            Folded::Rest => Group {
                by: "other",
                key: String::new(),
            },
        })
    }
}

/// A process's bytes per second, `[in, out]`, from the capture's first second: held
/// from the process's first active second, and written out with the zeros before it
/// (never built in memory: a report of many short-lived processes in a long capture
/// would hold mostly zeros).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeriesRow {
    /// Seconds of silence before `active[0]`.
    pub quiet: usize,
    pub active: Vec<[u64; 2]>,
}

impl SeriesRow {
    fn from_series(series: &crate::account::Series) -> SeriesRow {
        let (quiet, active) = series.held_from();
        SeriesRow {
            quiet,
            active: active.to_vec(),
        }
    }

    /// Every second, `[in, out]`, from the capture's first.
    pub fn seconds(&self) -> impl Iterator<Item = [u64; 2]> + '_ {
        std::iter::repeat_n([0, 0], self.quiet).chain(self.active.iter().copied())
    }
}

impl From<Vec<[u64; 2]>> for SeriesRow {
    fn from(active: Vec<[u64; 2]>) -> SeriesRow {
        SeriesRow { quiet: 0, active }
    }
}

impl Serialize for SeriesRow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.seconds())
    }
}

/// One remote end a process talked to, all its flows to that address:port added up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeerRow {
    pub proto: Proto,
    pub remote: String,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub packets_out: u64,
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct OtherProcesses {
    pub count: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub packets_out: u64,
}

/// The ranking key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Total,
    In,
    Out,
}

impl SortKey {
    pub fn name(self) -> &'static str {
        match self {
            SortKey::Total => "total",
            SortKey::In => "in",
            SortKey::Out => "out",
        }
    }
}

/// Facts about the capture that only the pipeline knows.
#[derive(Clone, Debug)]
pub struct CaptureFacts {
    pub host: String,
    pub start_time: String,
    pub start_unix_seconds: f64,
    pub duration_secs: f64,
    pub stopped_by: String,
    pub interfaces: Vec<String>,
    pub interface_stats: Vec<InterfaceStats>,
    pub self_limits: Vec<String>,
    pub filter: Option<String>,
    pub captured: Counter,
    pub dropped: Dropped,
    pub socket_log: SocketLogStatus,
    pub warnings: Vec<String>,
}

/// How the processes are ranked and cut.
#[derive(Clone, Copy, Debug)]
pub struct Ranking {
    pub sort: SortKey,
    /// 0 means every process.
    pub top: usize,
}

impl Report {
    pub fn build(finished: &Finished, facts: CaptureFacts, ranking: Ranking) -> Report {
        let ledger = &finished.ledger;
        let mut order: Vec<&ProcessAccount> = ledger
            .processes()
            .iter()
            .filter(|p| !p.traffic.total().is_zero())
            .collect();
        order.sort_by(|a, b| {
            sort_value(b, ranking.sort)
                .cmp(&sort_value(a, ranking.sort))
                .then(b.traffic.total().bytes.cmp(&a.traffic.total().bytes))
                .then(a.info.key.pid.cmp(&b.info.key.pid))
        });
        let shown = if ranking.top == 0 {
            order.len()
        } else {
            ranking.top.min(order.len())
        };
        let secs = facts.duration_secs.max(0.001);
        let peers = peers_by_process(ledger);
        let processes = order[..shown]
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut row = process_row(i + 1, p, secs);
                row.peers = peers.get(&p.info.key).cloned().unwrap_or_default();
                row
            })
            .collect();
        let mut other = OtherProcesses::default();
        for p in &order[shown..] {
            other.count += 1;
            other.bytes_in += p.traffic.inbound.bytes;
            other.bytes_out += p.traffic.outbound.bytes;
            other.packets_in += p.traffic.inbound.packets;
            other.packets_out += p.traffic.outbound.packets;
        }
        let mut warnings = facts.warnings;
        if finished.unreadable_processes > 0 {
            warnings.push(format!(
                "the open files of {} processes could not be read; their traffic shows as no_process or no_socket",
                finished.unreadable_processes
            ));
        }
        let skipped = finished.skipped;
        if skipped.any() {
            warnings.push(format!(
                "netflow's memory limit left room for {} of {} sockets in a scan: {} sockets were skipped, and {} fds of {} processes were not read; their traffic shows as no_socket or no_process",
                skipped.sockets_seen - skipped.sockets,
                skipped.sockets_seen,
                skipped.sockets,
                skipped.fds,
                skipped.processes
            ));
        }
        Report {
            schema_version: SCHEMA_VERSION,
            summary: Summary {
                host: facts.host,
                start_time: facts.start_time,
                start_unix_seconds: facts.start_unix_seconds,
                duration_secs: facts.duration_secs,
                stopped_by: facts.stopped_by,
                interfaces: facts.interfaces,
                interface_stats: facts.interface_stats,
                self_limits: facts.self_limits,
                filter: facts.filter,
                byte_convention: BYTE_CONVENTION,
                sort: ranking.sort.name().to_string(),
                captured: facts.captured,
                both_ends_local: finished.both_ends,
                attributed: ledger.attributed(),
                unattributed: ledger.unattributed_total(),
                dropped: facts.dropped,
                processes_seen: order.len(),
                flows_seen: finished.flows.count,
                flows_seen_estimated: finished.flows.estimated,
                socket_scans: finished.scans,
                attribution_sources: if facts.socket_log.is_active() {
                    vec!["proc", "socket_log"]
                } else {
                    vec!["proc"]
                },
                socket_log: facts.socket_log,
            },
            processes,
            other_processes: other,
            unattributed: unattributed_by_reason(ledger),
            warnings,
        }
    }

    /// The totals equation: every captured packet (loopback ones twice) is attributed,
    /// unattributed for a reason, or dropped from the queue. Holds for packets and bytes.
    pub fn totals_add_up(&self) -> bool {
        let s = &self.summary;
        let lhs = |f: fn(&Counter) -> u64| f(&s.captured) + f(&s.both_ends_local);
        let rhs = |f: fn(&Counter) -> u64| {
            f(&s.attributed.inbound)
                + f(&s.attributed.outbound)
                + f(&s.unattributed)
                + f(&s.dropped.queue)
        };
        lhs(|c| c.packets) == rhs(|c| c.packets) && lhs(|c| c.bytes) == rhs(|c| c.bytes)
    }
}

fn sort_value(p: &ProcessAccount, key: SortKey) -> u64 {
    match key {
        SortKey::Total => p.traffic.total().bytes,
        SortKey::In => p.traffic.inbound.bytes,
        SortKey::Out => p.traffic.outbound.bytes,
    }
}

/// Peers shown per process, busiest first.
pub const TOP_PEERS: usize = 5;

/// Each process's busiest remote ends: its flows grouped by protocol and remote
/// address:port (a client's many connections to one server are one peer).
fn peers_by_process(ledger: &Ledger) -> HashMap<ProcessKey, Vec<PeerRow>> {
    let mut grouped: HashMap<(u32, Proto, SocketAddr), DirCounters> = HashMap::new();
    for f in ledger.flows() {
        grouped
            .entry((f.owner, f.proto, f.remote))
            .or_default()
            .merge(f.traffic);
    }
    let mut out: HashMap<ProcessKey, Vec<PeerRow>> = HashMap::new();
    for ((owner, proto, remote), t) in grouped {
        let key = ledger.processes()[owner as usize].info.key;
        out.entry(key).or_default().push(PeerRow {
            proto,
            // Port 0 is the ledger's "other peers" flow, once it holds its most flows.
            remote: if remote.port() == 0 {
                "other".to_string()
            } else {
                remote.to_string()
            },
            bytes_in: t.inbound.bytes,
            bytes_out: t.outbound.bytes,
            packets_in: t.inbound.packets,
            packets_out: t.outbound.packets,
        });
    }
    for peers in out.values_mut() {
        peers.sort_by(|a, b| {
            (b.bytes_in + b.bytes_out)
                .cmp(&(a.bytes_in + a.bytes_out))
                .then_with(|| a.remote.cmp(&b.remote))
        });
        peers.truncate(TOP_PEERS);
    }
    out
}

fn process_row(rank: usize, p: &ProcessAccount, secs: f64) -> ProcessRow {
    let t = p.traffic;
    ProcessRow {
        rank,
        pid: p.info.key.pid,
        start_time_ticks: p.info.key.start_time,
        start_time_ns: p.info.key.start_ns,
        ppid: p.info.ppid,
        name: p.info.name.clone(),
        cmdline: p.info.cmdline.clone(),
        exe: p.info.exe.clone(),
        user: p.info.user.clone(),
        uid: p.info.uid,
        bytes_in: t.inbound.bytes,
        bytes_out: t.outbound.bytes,
        packets_in: t.inbound.packets,
        packets_out: t.outbound.packets,
        avg_bytes_in_per_sec: (t.inbound.bytes as f64 / secs).round() as u64,
        avg_bytes_out_per_sec: (t.outbound.bytes as f64 / secs).round() as u64,
        peak_bytes_in_per_sec: p.series.peak(Direction::In),
        peak_bytes_out_per_sec: p.series.peak(Direction::Out),
        connections: p.connections,
        matched_by: p.matched_by.clone(),
        cgroup: p.info.cgroup.clone(),
        container_id: p.info.container_id.clone(),
        exited: p.exited,
        peers: Vec::new(),
        series: SeriesRow::from_series(&p.series),
        processes: p.processes,
        group: Group::of(p),
    }
}

fn unattributed_by_reason(ledger: &Ledger) -> BTreeMap<&'static str, Counter> {
    Unattributed::ALL
        .iter()
        .map(|&r| (r.name(), ledger.unattributed(r)))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::account::FlowsSeen;
    use crate::model::{FlowKey, ProcessInfo, Timestamp};

    /// A ledger with processes moving (in, out) bytes in one packet each way.
    fn finished(traffic: &[(u32, u32, u32)]) -> Finished {
        let start = Timestamp(10_000_000);
        let mut ledger = Ledger::new(start, 10);
        for &(pid, inb, out) in traffic {
            let info = Arc::new(ProcessInfo::sample(pid, 1, &format!("p{pid}")));
            let owner = ledger.owner(&info);
            let key = FlowKey::new(
                crate::model::Proto::Tcp,
                "10.0.0.1:80".parse().unwrap(),
                format!("10.0.0.{pid}:5000").parse().unwrap(),
            );
            let flow = ledger.open_flow(owner, MatchQuality::Exact, key);
            if inb > 0 {
                ledger.add(flow, Direction::In, Counter::one(u64::from(inb)), start);
            }
            if out > 0 {
                ledger.add(flow, Direction::Out, Counter::one(u64::from(out)), start);
            }
        }
        Finished {
            annotator: Default::default(),
            ledger,
            both_ends: Counter::default(),
            scans: 1,
            flows: FlowsSeen {
                count: traffic.len() as u64,
                estimated: false,
            },
            unreadable_processes: 0,
            skipped: Default::default(),
        }
    }

    fn facts() -> CaptureFacts {
        CaptureFacts {
            host: "h".into(),
            start_time: "2026-11-26T08:00:00Z".into(),
            start_unix_seconds: 1_795_939_200.0,
            duration_secs: 2.0,
            stopped_by: "duration".into(),
            interfaces: vec!["lo".into()],
            interface_stats: vec![],
            self_limits: vec![],
            filter: None,
            captured: Counter::default(),
            dropped: Dropped::default(),
            socket_log: SocketLogStatus::off(),
            warnings: vec![],
        }
    }

    fn ranked(f: &Finished, sort: SortKey, top: usize) -> Vec<u32> {
        Report::build(f, facts(), Ranking { sort, top })
            .processes
            .iter()
            .map(|p| p.pid)
            .collect()
    }

    #[test]
    fn processes_rank_by_the_chosen_key() {
        let f = finished(&[(1, 100, 900), (2, 800, 0), (3, 50, 50)]);
        assert_eq!(ranked(&f, SortKey::Total, 0), [1, 2, 3]);
        assert_eq!(ranked(&f, SortKey::In, 0), [2, 1, 3]);
        assert_eq!(ranked(&f, SortKey::Out, 0), [1, 3, 2]);
    }

    #[test]
    fn ties_rank_by_total_then_pid() {
        let f = finished(&[(9, 10, 0), (4, 10, 0), (7, 10, 5)]);
        assert_eq!(ranked(&f, SortKey::In, 0), [7, 4, 9]);
    }

    #[test]
    fn top_cuts_the_list_and_the_rest_is_added_up() {
        let f = finished(&[(1, 100, 900), (2, 800, 0), (3, 50, 50), (4, 1, 2)]);
        let r = Report::build(
            &f,
            facts(),
            Ranking {
                sort: SortKey::Total,
                top: 2,
            },
        );
        assert_eq!(
            r.processes.iter().map(|p| p.rank).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(r.other_processes.count, 2);
        assert_eq!(r.other_processes.bytes_in, 51);
        assert_eq!(r.other_processes.bytes_out, 52);
        assert_eq!(r.other_processes.packets_in, 2);
        assert_eq!(r.summary.processes_seen, 4);
    }

    #[test]
    fn rates_are_averaged_over_the_capture_and_peaks_per_second() {
        let f = finished(&[(1, 3_000, 1_000)]);
        let r = Report::build(
            &f,
            facts(),
            Ranking {
                sort: SortKey::Total,
                top: 0,
            },
        );
        let p = &r.processes[0];
        assert_eq!(p.avg_bytes_in_per_sec, 1_500);
        assert_eq!(p.avg_bytes_out_per_sec, 500);
        assert_eq!(p.peak_bytes_in_per_sec, 3_000);
        assert_eq!(p.connections, 1);
    }

    #[test]
    fn processes_that_moved_nothing_are_not_listed() {
        let f = finished(&[(1, 0, 0), (2, 5, 0)]);
        assert_eq!(ranked(&f, SortKey::Total, 0), [2]);
    }

    #[test]
    fn coverage_compares_captured_ip_bytes_with_the_interface_counters() {
        let reading = |rx_packets, rx_bytes, tx_packets, tx_bytes, loopback| LinkCounters {
            rx_packets,
            rx_bytes,
            tx_packets,
            tx_bytes,
            link_header_bytes: if loopback { 0 } else { 14 },
            loopback,
        };
        let captured = Counter {
            packets: 20,
            bytes: 20 * 1_000,
        };
        // Ethernet: 10 packets each way of 1014 link bytes = 1000 IP bytes.
        let eth = InterfaceStats::new(
            "eth0".into(),
            captured,
            0,
            Some(reading(5, 500, 7, 700, false)),
            Some(reading(15, 500 + 10_140, 17, 700 + 10_140, false)),
        );
        let c = eth.counters.unwrap();
        assert_eq!(c.ip_bytes, 20_000);
        assert_eq!(c.coverage, Some(1.0));
        // Loopback counts every packet twice (send and receive): only one side counts,
        // and its counters hold IP bytes already.
        let lo = InterfaceStats::new(
            "lo".into(),
            captured,
            0,
            Some(reading(0, 0, 0, 0, true)),
            Some(reading(20, 20_000, 20, 20_000, true)),
        );
        assert_eq!(lo.counters.unwrap().ip_bytes, 20_000);
        assert_eq!(lo.counters.unwrap().coverage, Some(1.0));
        let any = InterfaceStats::new("any".into(), captured, 0, None, None);
        assert!(any.counters.is_none());
    }

    #[test]
    fn a_late_series_is_written_with_its_leading_quiet_seconds() {
        let row = SeriesRow {
            quiet: 2,
            active: vec![[1, 2]],
        };
        assert_eq!(serde_json::to_string(&row).unwrap(), "[[0,0],[0,0],[1,2]]");
    }

    #[test]
    fn peers_add_up_flows_to_the_same_remote_end_and_series_follow_the_seconds() {
        let start = Timestamp(10_000_000);
        let mut ledger = Ledger::new(start, 10);
        let info = Arc::new(ProcessInfo::sample(1, 1, "curl"));
        let owner = ledger.owner(&info);
        let flow = |local: &str, remote: &str| {
            FlowKey::new(
                crate::model::Proto::Tcp,
                local.parse().unwrap(),
                remote.parse().unwrap(),
            )
        };
        let a = ledger.open_flow(
            owner,
            MatchQuality::Exact,
            flow("10.0.0.1:4000", "10.0.0.9:443"),
        );
        let b = ledger.open_flow(
            owner,
            MatchQuality::Exact,
            flow("10.0.0.1:4001", "10.0.0.9:443"),
        );
        let c = ledger.open_flow(
            owner,
            MatchQuality::Exact,
            flow("10.0.0.1:4002", "10.0.0.8:80"),
        );
        ledger.add(a, Direction::In, Counter::one(1_000), start);
        ledger.add(b, Direction::In, Counter::one(500), Timestamp(11_500_000));
        ledger.add(c, Direction::Out, Counter::one(100), start);
        let f = Finished {
            annotator: Default::default(),
            ledger,
            both_ends: Counter::default(),
            scans: 1,
            flows: FlowsSeen {
                count: 3,
                estimated: false,
            },
            unreadable_processes: 0,
            skipped: Default::default(),
        };
        let r = Report::build(
            &f,
            facts(),
            Ranking {
                sort: SortKey::Total,
                top: 0,
            },
        );
        let p = &r.processes[0];
        assert_eq!(p.peers.len(), 2);
        assert_eq!(p.peers[0].remote, "10.0.0.9:443");
        assert_eq!((p.peers[0].bytes_in, p.peers[0].packets_in), (1_500, 2));
        assert_eq!(p.peers[1].remote, "10.0.0.8:80");
        assert_eq!(
            p.series.seconds().collect::<Vec<_>>(),
            [[1_000, 100], [500, 0]]
        );
    }

    #[test]
    fn every_reason_is_a_key_even_when_zero() {
        let f = finished(&[]);
        let r = Report::build(
            &f,
            facts(),
            Ranking {
                sort: SortKey::Total,
                top: 0,
            },
        );
        assert_eq!(r.unattributed.len(), Unattributed::ALL.len());
        assert!(r.totals_add_up());
    }
}
