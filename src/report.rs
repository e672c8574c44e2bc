//! The report: an immutable, serialisable picture of one capture.
//!
//! Owns the JSON schema (`schema_version`) and the totals equation.
//! Does not format anything for people (that is `render`) or gather anything from
//! the OS: it is built from the engine's ledger plus facts the pipeline passes in.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::account::{Ledger, ProcessAccount};
use crate::engine::Finished;
use crate::model::{Counter, DirCounters, Direction, MatchQuality, Unattributed};

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
    pub duration_secs: f64,
    /// Why capture ended: `duration`, `signal`.
    pub stopped_by: String,
    pub interfaces: Vec<String>,
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
    pub flows_seen: usize,
    pub socket_scans: u32,
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
    pub ppid: u32,
    pub name: String,
    pub cmdline: String,
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
    pub duration_secs: f64,
    pub stopped_by: String,
    pub interfaces: Vec<String>,
    pub filter: Option<String>,
    pub captured: Counter,
    pub dropped: Dropped,
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
        let processes = order[..shown]
            .iter()
            .enumerate()
            .map(|(i, p)| process_row(i + 1, p, secs))
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
        Report {
            schema_version: SCHEMA_VERSION,
            summary: Summary {
                host: facts.host,
                start_time: facts.start_time,
                duration_secs: facts.duration_secs,
                stopped_by: facts.stopped_by,
                interfaces: facts.interfaces,
                filter: facts.filter,
                byte_convention: BYTE_CONVENTION,
                sort: ranking.sort.name().to_string(),
                captured: facts.captured,
                both_ends_local: finished.both_ends,
                attributed: ledger.attributed(),
                unattributed: ledger.unattributed_total(),
                dropped: facts.dropped,
                processes_seen: order.len(),
                flows_seen: finished.flows,
                socket_scans: finished.scans,
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

fn process_row(rank: usize, p: &ProcessAccount, secs: f64) -> ProcessRow {
    let t = p.traffic;
    ProcessRow {
        rank,
        pid: p.info.key.pid,
        start_time_ticks: p.info.key.start_time,
        ppid: p.info.ppid,
        name: p.info.name.clone(),
        cmdline: p.info.cmdline.clone(),
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
    }
}

fn unattributed_by_reason(ledger: &Ledger) -> BTreeMap<&'static str, Counter> {
    Unattributed::ALL
        .iter()
        .map(|&r| (r.name(), ledger.unattributed(r)))
        .collect()
}
