//! The report: an immutable, serialisable picture of one capture.
//!
//! Owns the JSON schema (`schema_version`) and the totals equation.
//! Does not format anything for people (that is `render`) or gather anything from
//! the OS: it is built from the engine's ledger plus facts the pipeline passes in.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::account::{
    FlowAccount, Folded, Holder, Ledger, Peer, ProcessAccount, Series, MAX_LEDGER_PROCESSES,
};
use crate::engine::Finished;
use crate::model::{
    Counter, DirCounters, Direction, LinkCounters, MatchQuality, ProcessInfo, ProcessKey, Proto,
    Unattributed,
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
    pub stopped_by: StoppedBy,
    pub interfaces: Vec<String>,
    /// Per interface: what netflow captured next to what the interface itself counted.
    pub interface_stats: Vec<InterfaceStats>,
    /// The self-limits netflow ran under (`--cpu-limit`, `--mem-limit`), if any.
    pub self_limits: Vec<String>,
    pub filter: Option<String>,
    pub byte_convention: &'static str,
    pub sort: SortKey,
    /// Every packet pcap delivered to netflow.
    pub captured: Counter,
    /// Packets with a local socket at both ends (loopback): charged to the sender as
    /// `out` and to the receiver as `in`, so they count twice below.
    pub both_ends_local: Counter,
    /// Traffic of the processes selected (every process unless narrowed).
    pub attributed: DirCounters,
    /// Attributed traffic of the processes `--pid`, `--user`, `--comm`, `--cgroup` or
    /// `--container` left out: never silently gone.
    pub filtered_out: FilteredOut,
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
    pub attribution_sources: Vec<AttributionSource>,
    pub socket_log: SocketLogStatus,
}

/// Why capture ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoppedBy {
    /// `--duration` passed.
    Duration,
    /// SIGINT, SIGTERM or SIGHUP.
    Signal,
    /// Every interface failed (vanished, went down): nothing was left to capture.
    InterfacesFailed,
    /// A replay read every file to its end.
    EndOfInput,
}

/// Where attribution came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionSource {
    /// Socket and fd tables read from /proc (or sock_diag).
    Proc,
    /// The kernel socket log (eBPF).
    SocketLog,
}

/// The kernel socket log (eBPF) during the capture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SocketLogStatus {
    pub state: SocketLogState,
    /// Why it is unavailable, as the kernel said.
    pub reason: Option<String>,
    /// The tracepoints it was attached to.
    pub hooks: Vec<String>,
    /// Socket records read (one per socket and process that used it).
    pub records: u64,
    /// Records the kernel dropped because netflow read too slowly.
    pub lost: u64,
}

/// Whether the kernel socket log ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SocketLogState {
    Active,
    /// `--ebpf off`.
    Off,
    /// It could not be loaded (`reason` says why).
    Unavailable,
}

impl SocketLogStatus {
    pub fn off() -> SocketLogStatus {
        SocketLogStatus {
            state: SocketLogState::Off,
            reason: None,
            hooks: Vec::new(),
            records: 0,
            lost: 0,
        }
    }

    pub fn unavailable(reason: String) -> SocketLogStatus {
        SocketLogStatus {
            state: SocketLogState::Unavailable,
            reason: Some(reason),
            ..SocketLogStatus::off()
        }
    }

    pub fn is_active(&self) -> bool {
        self.state == SocketLogState::Active
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

/// The traffic of processes the selection left out, and how many they were.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FilteredOut {
    #[serde(rename = "in")]
    pub inbound: Counter,
    #[serde(rename = "out")]
    pub outbound: Counter,
    pub processes: usize,
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
    /// Its connections, busiest first: at most [`Ranking::flows`], then one entry
    /// adding up the rest (with their `count`).
    pub flows: Vec<FlowRow>,
    /// Bytes per second of the capture, `[in, out]`, from its first second.
    pub series: SeriesRow,
    /// Processes in this row: 1, or (with pid 0) how many processes past netflow's
    /// 8,192 tracked ones were added up under this name.
    pub processes: u32,
    /// For a row of several processes added up (pid 0): what they share.
    pub group: Option<Group>,
}

/// What the processes of one row share: `by` names the property, `key` its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Group {
    pub by: GroupBy,
    pub key: String,
}

/// The property the processes of a row added up share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Processes past the first 8,192, by name; `key` is the name.
    Name,
    /// Those past 1,024 such names too; `key` is empty.
    Other,
    /// `--by comm`: `key` is the process name.
    Comm,
    /// `--by user`: `key` is the user name (or uid when it has none).
    User,
    /// `--by cgroup`: `key` is the cgroup path.
    Cgroup,
    /// `--by container`: `key` is the container id (empty: not in a container).
    Container,
}

/// What `--by` adds rows up by; `Process` keeps a row per process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum By {
    #[default]
    Process,
    Comm,
    User,
    Cgroup,
    Container,
}

impl By {
    /// How a row of this grouping says what its processes share; `None`: a row each.
    fn group_by(self) -> Option<GroupBy> {
        match self {
            By::Process => None,
            By::Comm => Some(GroupBy::Comm),
            By::User => Some(GroupBy::User),
            By::Cgroup => Some(GroupBy::Cgroup),
            By::Container => Some(GroupBy::Container),
        }
    }
}

impl GroupBy {
    /// The stable machine name, as in JSON (and Prometheus labels).
    pub fn name(self) -> &'static str {
        match self {
            GroupBy::Name => "name",
            GroupBy::Other => "other",
            GroupBy::Comm => "comm",
            GroupBy::User => "user",
            GroupBy::Cgroup => "cgroup",
            GroupBy::Container => "container",
        }
    }
}

impl Group {
    fn of(folded: &Folded) -> Group {
        match folded {
            Folded::ByName(name) => Group {
                by: GroupBy::Name,
                key: name.clone(),
            },
            Folded::Rest => Group {
                by: GroupBy::Other,
                key: String::new(),
            },
        }
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
    fn from_series(series: &Series) -> SeriesRow {
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

/// One connection of a process (a 4-tuple), or, with `rest`, the process's
/// connections past [`Ranking::flows`] added up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlowRow {
    /// `None` only for the added-up entry when it holds both protocols.
    pub proto: Option<Proto>,
    /// `None` for the added-up entry.
    pub local: Option<String>,
    pub remote: Option<String>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    /// The first and the last packet, Unix milliseconds.
    pub first_unix_ms: u64,
    pub last_unix_ms: u64,
    /// How it was matched to the process (every kind, for the added-up entry).
    pub matched_by: Vec<MatchQuality>,
    /// Still open at the end of the capture: `false` when its process had exited by
    /// then, `None` when not known (netflow reads no socket state at the end).
    pub open: Option<bool>,
    /// Connections in this entry: 1, or more for the added-up rest.
    pub count: u64,
    /// This entry adds up the process's connections past `--connections`.
    pub rest: bool,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    Total,
    In,
    Out,
    /// Packets, in and out.
    Packets,
}

/// Facts about the capture that only the pipeline knows.
#[derive(Clone, Debug)]
pub struct CaptureFacts {
    pub host: String,
    pub start_time: String,
    pub start_unix_seconds: f64,
    pub duration_secs: f64,
    pub stopped_by: StoppedBy,
    pub interfaces: Vec<String>,
    pub interface_stats: Vec<InterfaceStats>,
    pub self_limits: Vec<String>,
    pub filter: Option<String>,
    pub captured: Counter,
    pub dropped: Dropped,
    pub socket_log: SocketLogStatus,
    pub warnings: Vec<String>,
}

/// How the processes are selected, ranked and cut.
#[derive(Clone, Debug)]
pub struct Ranking {
    pub sort: SortKey,
    /// 0 means every process.
    pub top: usize,
    /// Connections listed per process, busiest first; the rest are added up in one
    /// entry. 0 means every connection.
    pub flows: usize,
    /// Which processes get rows; the others are added up in `filtered_out`.
    pub select: Selection,
    /// What a row stands for: a process, or processes sharing a name, user, cgroup
    /// or container.
    pub by: By,
}

impl Default for Ranking {
    /// Every process, a row each, by total bytes, with every connection.
    fn default() -> Ranking {
        Ranking {
            sort: SortKey::Total,
            top: 0,
            flows: 0,
            select: Selection::default(),
            by: By::Process,
        }
    }
}

/// Which processes get rows (`--pid`, `--user`, `--comm`, `--cgroup`,
/// `--container`): any value of a criterion, and every criterion given. Empty
/// criteria select every process.
///
/// A row of processes added up past the ledger's bound has a name and nothing else:
/// only `--comm` can select it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Host pids.
    pub pids: Vec<u32>,
    pub uids: Vec<u32>,
    /// Exact process names (the kernel's `comm`, as the report shows it).
    pub comms: Vec<String>,
    /// Cgroup path prefixes, whole components (`/system.slice` selects
    /// `/system.slice/nginx.service`, not `/system.slice2`).
    pub cgroups: Vec<String>,
    /// Container id prefixes (lower-case hex, as `docker ps` shortens them).
    pub containers: Vec<String>,
}

impl Selection {
    /// Every process.
    pub fn everything(&self) -> bool {
        *self == Selection::default()
    }

    /// Whether the process `info` describes gets a row.
    pub fn selects(&self, info: &ProcessInfo) -> bool {
        fn any<T>(wanted: &[T], hit: impl Fn(&T) -> bool) -> bool {
            wanted.is_empty() || wanted.iter().any(hit)
        }
        any(&self.pids, |&pid| pid != 0 && pid == info.key.pid)
            && any(&self.uids, |&uid| Some(uid) == info.uid)
            && any(&self.comms, |name| *name == info.name)
            && any(&self.cgroups, |prefix| under_cgroup(&info.cgroup, prefix))
            && any(&self.containers, |id| {
                info.container_id
                    .as_deref()
                    .is_some_and(|c| c.starts_with(id.as_str()))
            })
    }
}

/// `path` is `prefix` or lies below it.
fn under_cgroup(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.is_empty(),
        None => false,
    }
}

/// Connections listed per process unless asked otherwise (`--connections`).
pub const DEFAULT_FLOWS: usize = 50;

impl Report {
    pub fn build(finished: &Finished, facts: CaptureFacts, ranking: Ranking) -> Report {
        let ledger = &finished.ledger;
        let (order, filtered_out) = selected(ranked(ledger, ranking.sort), &ranking.select);
        let mut attributed = ledger.attributed();
        attributed.inbound.bytes -= filtered_out.inbound.bytes;
        attributed.inbound.packets -= filtered_out.inbound.packets;
        attributed.outbound.bytes -= filtered_out.outbound.bytes;
        attributed.outbound.packets -= filtered_out.outbound.packets;
        let processes_seen = order.len();
        let rows = grouped(order, ranking.by, ranking.sort);
        let shown = if ranking.top == 0 {
            rows.len()
        } else {
            ranking.top.min(rows.len())
        };
        let secs = facts.duration_secs.max(0.001);
        let row_of: HashMap<u32, usize> = rows[..shown]
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.owners.iter().map(move |&owner| (owner, i)))
            .collect();
        let mut peers = peers_by_row(ledger, &row_of);
        let mut flows = flows_by_row(ledger, &row_of);
        let processes = rows[..shown]
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut row = process_row(i + 1, &r.account, secs);
                if let Some((info, group)) = &r.shared {
                    row.shared_by(info, group.clone());
                }
                row.peers = peers.remove(&i).unwrap_or_default();
                let own = flows.remove(&i).unwrap_or_default();
                row.flows = flow_rows(&r.account, own, ranking.flows);
                row
            })
            .collect();
        let other = OtherProcesses::of(rows[shown..].iter().map(|r| &*r.account));
        let mut warnings = facts.warnings;
        warnings.extend(scan_warnings(finished));
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
                sort: ranking.sort,
                captured: facts.captured,
                both_ends_local: finished.both_ends,
                attributed,
                filtered_out,
                unattributed: ledger.unattributed_total(),
                dropped: facts.dropped,
                processes_seen,
                flows_seen: finished.flows.count,
                flows_seen_estimated: finished.flows.estimated,
                socket_scans: finished.scans,
                attribution_sources: if facts.socket_log.is_active() {
                    vec![AttributionSource::Proc, AttributionSource::SocketLog]
                } else {
                    vec![AttributionSource::Proc]
                },
                socket_log: facts.socket_log,
            },
            processes,
            other_processes: other,
            unattributed: unattributed_by_reason(ledger),
            warnings,
        }
    }

    /// The totals equation: every captured packet (loopback ones twice) is attributed
    /// (to a selected process, or filtered out), unattributed for a reason, or dropped
    /// from the queue. Holds for packets and bytes.
    pub fn totals_add_up(&self) -> bool {
        let s = &self.summary;
        let lhs = |f: fn(&Counter) -> u64| f(&s.captured) + f(&s.both_ends_local);
        let rhs = |f: fn(&Counter) -> u64| {
            f(&s.attributed.inbound)
                + f(&s.attributed.outbound)
                + f(&s.filtered_out.inbound)
                + f(&s.filtered_out.outbound)
                + f(&s.unattributed)
                + f(&s.dropped.queue)
        };
        lhs(|c| c.packets) == rhs(|c| c.packets) && lhs(|c| c.bytes) == rhs(|c| c.bytes)
    }
}

/// The processes that moved anything, ranked by `sort`, then total bytes, then pid;
/// each with its owner index (peers are found by owner: rows of processes added up
/// share no process key).
fn ranked(ledger: &Ledger, sort: SortKey) -> Vec<(u32, &ProcessAccount)> {
    let mut order: Vec<(u32, &ProcessAccount)> = (0..)
        .zip(ledger.processes())
        .filter(|(_, p)| !p.traffic.total().is_zero())
        .collect();
    order.sort_by(|(_, a), (_, b)| {
        sort_value(b, sort)
            .cmp(&sort_value(a, sort))
            .then(b.traffic.total().bytes.cmp(&a.traffic.total().bytes))
            .then(shown_pid(a).cmp(&shown_pid(b)))
    });
    order
}

/// One row to be: its processes (owner indexes), their accounts added up, and for a
/// row of several processes (`--by`) what they share.
struct Row<'a> {
    owners: Vec<u32>,
    account: Cow<'a, ProcessAccount>,
    shared: Option<(ProcessInfo, Group)>,
}

/// The ranked processes as rows: one each (`--by process`), or added up by what
/// `by` names, then ranked again by `sort` (ties: total bytes, then the key).
fn grouped(order: Vec<(u32, &ProcessAccount)>, by: By, sort: SortKey) -> Vec<Row<'_>> {
    let Some(group_by) = by.group_by() else {
        return order
            .into_iter()
            .map(|(owner, p)| Row {
                owners: vec![owner],
                account: Cow::Borrowed(p),
                shared: None,
            })
            .collect();
    };
    let mut rows: Vec<Row<'_>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (owner, p) in order {
        let info = match &p.holder {
            Holder::Process(info) => Cow::Borrowed(&**info),
            Holder::Folded(folded) => Cow::Owned(group_details(folded)),
        };
        let key = match group_by {
            GroupBy::Comm | GroupBy::Name => info.name.clone(),
            GroupBy::User => info.user.clone(),
            GroupBy::Cgroup => info.cgroup.clone(),
            GroupBy::Container => info.container_id.clone().unwrap_or_default(),
            GroupBy::Other => String::new(),
        };
        match index.get(&key) {
            Some(&i) => {
                let row = &mut rows[i];
                row.owners.push(owner);
                row.account.to_mut().merge(p);
                if let Some((shared, _)) = &mut row.shared {
                    keep_shared(shared, &info);
                }
            }
            None => {
                index.insert(key.clone(), rows.len());
                rows.push(Row {
                    owners: vec![owner],
                    account: Cow::Owned(p.clone()),
                    shared: Some((info.into_owned(), Group { by: group_by, key })),
                });
            }
        }
    }
    let key = |r: &Row<'_>| r.shared.as_ref().map(|(_, g)| g.key.clone());
    rows.sort_by(|a, b| {
        sort_value(&b.account, sort)
            .cmp(&sort_value(&a.account, sort))
            .then(
                b.account
                    .traffic
                    .total()
                    .bytes
                    .cmp(&a.account.traffic.total().bytes),
            )
            .then_with(|| key(a).cmp(&key(b)))
    });
    rows
}

/// Clears what `other` does not share with the processes in `shared` so far.
fn keep_shared(shared: &mut ProcessInfo, other: &ProcessInfo) {
    fn keep<T: PartialEq + Default>(mine: &mut T, theirs: &T) {
        if mine != theirs {
            *mine = T::default();
        }
    }
    keep(&mut shared.ppid, &other.ppid);
    keep(&mut shared.name, &other.name);
    keep(&mut shared.cmdline, &other.cmdline);
    keep(&mut shared.exe, &other.exe);
    keep(&mut shared.uid, &other.uid);
    keep(&mut shared.user, &other.user);
    keep(&mut shared.cgroup, &other.cgroup);
    keep(&mut shared.container_id, &other.container_id);
}

impl ProcessRow {
    /// This row as one of several processes added up (pid 0, as for the rows past the
    /// ledger's bound): what they all share, and empty where they differ.
    fn shared_by(&mut self, info: &ProcessInfo, group: Group) {
        self.pid = 0;
        self.start_time_ticks = 0;
        self.ppid = info.ppid;
        self.name = info.name.clone();
        self.cmdline = info.cmdline.clone();
        self.exe = info.exe.clone();
        self.user = info.user.clone();
        self.uid = info.uid;
        self.cgroup = info.cgroup.clone();
        self.container_id = info.container_id.clone();
        self.group = Some(group);
    }
}

/// The ranked processes `select` selects, and the others' traffic added up.
fn selected<'a>(
    order: Vec<(u32, &'a ProcessAccount)>,
    select: &Selection,
) -> (Vec<(u32, &'a ProcessAccount)>, FilteredOut) {
    if select.everything() {
        return (order, FilteredOut::default());
    }
    let mut out = FilteredOut::default();
    let kept = order
        .into_iter()
        .filter(|(_, p)| {
            let keep = match &p.holder {
                Holder::Process(info) => select.selects(info),
                Holder::Folded(folded) => select.selects(&group_details(folded)),
            };
            if !keep {
                out.inbound.merge(p.traffic.inbound);
                out.outbound.merge(p.traffic.outbound);
                out.processes += p.processes as usize;
            }
            keep
        })
        .collect();
    (kept, out)
}

impl OtherProcesses {
    /// The processes beyond `--top`, added up.
    fn of<'a>(rest: impl Iterator<Item = &'a ProcessAccount>) -> OtherProcesses {
        let mut other = OtherProcesses::default();
        for p in rest {
            other.count += 1;
            other.bytes_in += p.traffic.inbound.bytes;
            other.bytes_out += p.traffic.outbound.bytes;
            other.packets_in += p.traffic.inbound.packets;
            other.packets_out += p.traffic.outbound.packets;
        }
        other
    }
}

/// What the scans could not read, and so could not attribute.
fn scan_warnings(finished: &Finished) -> Vec<String> {
    let mut warnings = Vec::new();
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
    warnings
}

fn sort_value(p: &ProcessAccount, key: SortKey) -> u64 {
    match key {
        SortKey::Total => p.traffic.total().bytes,
        SortKey::In => p.traffic.inbound.bytes,
        SortKey::Out => p.traffic.outbound.bytes,
        SortKey::Packets => p.traffic.total().packets,
    }
}

/// Peers shown per process, busiest first.
pub const TOP_PEERS: usize = 5;

/// Each shown row's busiest remote ends, by row (`row_of` maps owner indexes to the
/// rows shown): its flows grouped by protocol and remote address:port (a client's
/// many connections to one server are one peer).
fn peers_by_row(ledger: &Ledger, row_of: &HashMap<u32, usize>) -> HashMap<usize, Vec<PeerRow>> {
    let mut grouped: HashMap<(usize, Proto, Peer), DirCounters> = HashMap::new();
    for f in ledger.flows() {
        let Some(&row) = row_of.get(&f.owner) else {
            continue;
        };
        grouped
            .entry((row, f.proto, f.peer))
            .or_default()
            .merge(f.traffic);
    }
    let mut out: HashMap<usize, Vec<PeerRow>> = HashMap::new();
    for ((owner, proto, peer), t) in grouped {
        out.entry(owner).or_default().push(PeerRow {
            proto,
            remote: match peer {
                Peer::Remote(addr) => addr.to_string(),
                Peer::Other => "other".to_string(),
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

/// Each shown row's flows that moved anything, by row (see [`peers_by_row`]).
fn flows_by_row<'a>(
    ledger: &'a Ledger,
    row_of: &HashMap<u32, usize>,
) -> HashMap<usize, Vec<&'a FlowAccount>> {
    let mut out: HashMap<usize, Vec<&FlowAccount>> = HashMap::new();
    for f in ledger.flows().iter().filter(|f| f.seen.is_some()) {
        if let Some(&row) = row_of.get(&f.owner) {
            out.entry(row).or_default().push(f);
        }
    }
    out
}

/// A process's connections, busiest first (then earliest, then by ends): at most
/// `limit` (0: all) of its own, then one entry adding up the rest, which also holds
/// the connections the ledger kept no flow of their own for (past
/// `MAX_LEDGER_FLOWS`), so the entries add up to the process's traffic and
/// `connections`.
fn flow_rows(p: &ProcessAccount, mut flows: Vec<&FlowAccount>, limit: usize) -> Vec<FlowRow> {
    flows.sort_by(|a, b| {
        b.traffic
            .total()
            .bytes
            .cmp(&a.traffic.total().bytes)
            .then(a.seen.cmp(&b.seen))
            .then(a.local.cmp(&b.local))
            .then(peer_order(a.peer).cmp(&peer_order(b.peer)))
    });
    let (mut own, mut rest) = (Vec::new(), Vec::new());
    for f in flows {
        if (limit == 0 || own.len() < limit) && f.local.is_some() {
            own.push(f);
        } else {
            rest.push(f);
        }
    }
    let open = match &p.holder {
        Holder::Process(_) if p.exited => Some(false),
        _ => None,
    };
    let mut rows: Vec<FlowRow> = own.iter().map(|f| flow_row(f, open)).collect();
    let count = p.connections.saturating_sub(rows.len() as u64);
    if count > 0 || !rest.is_empty() {
        let mut sum = DirCounters::default();
        let mut matched_by: Vec<MatchQuality> = Vec::new();
        let mut protos: Vec<Proto> = Vec::new();
        let mut seen: Option<(u64, u64)> = None;
        for f in &rest {
            sum.merge(f.traffic);
            if !matched_by.contains(&f.quality) {
                matched_by.push(f.quality);
            }
            if !protos.contains(&f.proto) {
                protos.push(f.proto);
            }
            let (a, b) = unix_ms(f);
            seen = Some(seen.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
        }
        matched_by.sort();
        let (first_unix_ms, last_unix_ms) = seen.unwrap_or_default();
        rows.push(FlowRow {
            proto: match protos[..] {
                [one] => Some(one),
                _ => None,
            },
            local: None,
            remote: None,
            bytes_in: sum.inbound.bytes,
            bytes_out: sum.outbound.bytes,
            packets_in: sum.inbound.packets,
            packets_out: sum.outbound.packets,
            first_unix_ms,
            last_unix_ms,
            matched_by,
            open,
            count: count.max(1),
            rest: true,
        });
    }
    rows
}

fn flow_row(f: &FlowAccount, open: Option<bool>) -> FlowRow {
    let (first_unix_ms, last_unix_ms) = unix_ms(f);
    FlowRow {
        proto: Some(f.proto),
        local: f.local.map(|a| a.to_string()),
        remote: match f.peer {
            Peer::Remote(addr) => Some(addr.to_string()),
            Peer::Other => None,
        },
        bytes_in: f.traffic.inbound.bytes,
        bytes_out: f.traffic.outbound.bytes,
        packets_in: f.traffic.inbound.packets,
        packets_out: f.traffic.outbound.packets,
        first_unix_ms,
        last_unix_ms,
        matched_by: vec![f.quality],
        open,
        count: 1,
        rest: false,
    }
}

/// A flow's first and last packet in Unix milliseconds (packet times are Unix µs).
fn unix_ms(f: &FlowAccount) -> (u64, u64) {
    let (first, last) = f.seen.unwrap_or_default();
    (first.micros() / 1_000, last.micros() / 1_000)
}

/// Remote ends in a stable order (the `Other` flow last).
fn peer_order(peer: Peer) -> Option<std::net::SocketAddr> {
    match peer {
        Peer::Remote(addr) => Some(addr),
        Peer::Other => None,
    }
}

/// The pid a row shows: 0 for a row of processes added up.
fn shown_pid(p: &ProcessAccount) -> u32 {
    p.process().map_or(0, |info| info.key.pid)
}

/// What a row of processes added up shows where a process's details go: pid 0 (the
/// published mark of such rows, beside `group`), the name they share, and a command
/// line that says what the row is.
fn group_details(folded: &Folded) -> ProcessInfo {
    let label = match folded {
        Folded::ByName(name) => name.as_str(),
        Folded::Rest => "other",
    };
    ProcessInfo {
        key: ProcessKey::from_ticks(0, 0),
        ppid: 0,
        name: folded.name().to_string(),
        cmdline: format!("({label} processes past the first {MAX_LEDGER_PROCESSES}, added up)"),
        exe: String::new(),
        uid: None,
        user: String::new(),
        netns: 0,
        cgroup: String::new(),
        container_id: None,
    }
}

fn process_row(rank: usize, p: &ProcessAccount, secs: f64) -> ProcessRow {
    let (info, group) = match &p.holder {
        Holder::Process(info) => (Cow::Borrowed(&**info), None),
        Holder::Folded(folded) => (Cow::Owned(group_details(folded)), Some(Group::of(folded))),
    };
    let t = p.traffic;
    ProcessRow {
        rank,
        pid: info.key.pid,
        start_time_ticks: info.key.start_time,
        start_time_ns: info.key.start_ns,
        ppid: info.ppid,
        name: info.name.clone(),
        cmdline: info.cmdline.clone(),
        exe: info.exe.clone(),
        user: info.user.clone(),
        uid: info.uid,
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
        cgroup: info.cgroup.clone(),
        container_id: info.container_id.clone(),
        exited: p.exited,
        peers: Vec::new(),
        flows: Vec::new(),
        series: SeriesRow::from_series(&p.series),
        processes: p.processes,
        group,
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
            flow_index: Default::default(),
            local_addrs: Default::default(),
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
            stopped_by: StoppedBy::Duration,
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
        Report::build(
            f,
            facts(),
            Ranking {
                sort,
                top,
                flows: 0,
                select: Selection::default(),
                by: By::Process,
            },
        )
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
                flows: 0,
                select: Selection::default(),
                by: By::Process,
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
                flows: 0,
                select: Selection::default(),
                by: By::Process,
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
            flow_index: Default::default(),
            local_addrs: Default::default(),
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
                flows: 0,
                select: Selection::default(),
                by: By::Process,
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
    fn flows_list_the_busiest_connections_and_add_up_the_rest() {
        let start = Timestamp(1_795_939_200_000_000);
        let mut ledger = Ledger::new(start, 10);
        let owner = ledger.owner(&Arc::new(ProcessInfo::sample(1, 1, "curl")));
        for (port, bytes, ms) in [(4000, 300, 5), (4001, 100, 7), (4002, 200, 9)] {
            let key = FlowKey::new(
                crate::model::Proto::Tcp,
                format!("10.0.0.1:{port}").parse().unwrap(),
                "10.0.0.9:443".parse().unwrap(),
            );
            let flow = ledger.open_flow(owner, MatchQuality::Exact, key);
            let at = Timestamp(start.0 + ms * 1_000);
            ledger.add(flow, Direction::Out, Counter::one(bytes), at);
            ledger.add(
                flow,
                Direction::In,
                Counter::one(40),
                Timestamp(at.0 + 2_500),
            );
        }
        let f = Finished {
            ledger,
            ..finished(&[])
        };
        let build = |flows| {
            Report::build(
                &f,
                facts(),
                Ranking {
                    sort: SortKey::Total,
                    top: 0,
                    flows,
                    select: Selection::default(),
                    by: By::Process,
                },
            )
        };
        let all = build(0);
        let rows = &all.processes[0].flows;
        let ports: Vec<Option<&str>> = rows.iter().map(|r| r.local.as_deref()).collect();
        assert_eq!(
            ports,
            [
                Some("10.0.0.1:4000"),
                Some("10.0.0.1:4002"),
                Some("10.0.0.1:4001")
            ]
        );
        assert_eq!(
            (rows[0].first_unix_ms, rows[0].last_unix_ms),
            (1_795_939_200_005, 1_795_939_200_007)
        );
        assert_eq!((rows[0].bytes_out, rows[0].bytes_in), (300, 40));
        assert_eq!(rows[0].remote.as_deref(), Some("10.0.0.9:443"));
        assert_eq!(
            (rows[0].count, rows[0].rest, rows[0].open),
            (1, false, None)
        );

        let cut = build(1);
        let rows = &cut.processes[0].flows;
        assert_eq!(rows.len(), 2);
        let rest = &rows[1];
        assert!(rest.rest);
        assert_eq!((rest.count, rest.local.as_deref()), (2, None));
        assert_eq!((rest.bytes_out, rest.packets_in), (300, 2));
        assert_eq!(
            (rest.first_unix_ms, rest.last_unix_ms),
            (1_795_939_200_007, 1_795_939_200_011)
        );
        assert_eq!(rest.proto, Some(crate::model::Proto::Tcp));
        let total: u64 = rows.iter().map(|r| r.bytes_in + r.bytes_out).sum();
        let p = &cut.processes[0];
        assert_eq!(total, p.bytes_in + p.bytes_out);
        assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), p.connections);
    }

    #[test]
    fn connections_of_an_exited_process_are_closed() {
        let mut f = finished(&[(1, 10, 10)]);
        f.ledger.mark_exited(|_| true);
        let r = Report::build(
            &f,
            facts(),
            Ranking {
                sort: SortKey::Total,
                top: 0,
                flows: 0,
                select: Selection::default(),
                by: By::Process,
            },
        );
        assert_eq!(r.processes[0].flows[0].open, Some(false));
    }

    #[test]
    fn a_selection_ors_within_a_criterion_and_ands_across() {
        let info = ProcessInfo {
            uid: Some(33),
            cgroup: "/system.slice/nginx.service".into(),
            container_id: Some("0123abcd".repeat(8)),
            ..ProcessInfo::sample(7, 1, "nginx")
        };
        let select = |s: Selection| s.selects(&info);
        assert!(select(Selection::default()));
        assert!(select(Selection {
            pids: vec![3, 7],
            ..Default::default()
        }));
        assert!(!select(Selection {
            pids: vec![7],
            comms: vec!["curl".into()],
            ..Default::default()
        }));
        assert!(select(Selection {
            pids: vec![7],
            comms: vec!["curl".into(), "nginx".into()],
            uids: vec![33],
            ..Default::default()
        }));
        for (prefix, hit) in [
            ("/system.slice", true),
            ("/system.slice/", true),
            ("/system.slice/nginx.service", true),
            ("/", true),
            ("/system.sl", false),
            ("/user.slice", false),
        ] {
            let s = Selection {
                cgroups: vec![prefix.into()],
                ..Default::default()
            };
            assert_eq!(select(s), hit, "{prefix}");
        }
        assert!(select(Selection {
            containers: vec!["0123ab".into()],
            ..Default::default()
        }));
        assert!(!select(Selection {
            containers: vec!["ff".into()],
            ..Default::default()
        }));
    }

    #[test]
    fn processes_not_selected_are_filtered_out_and_the_totals_still_add_up() {
        let mut f = finished(&[(1, 100, 900), (2, 800, 0), (3, 50, 50)]);
        // Every packet of the ledger was captured once (none both ends local).
        let mut facts = facts();
        facts.captured = f.ledger.attributed().total();
        f.ledger
            .merge_unattributed(Unattributed::NoSocket, Counter::one(7));
        facts.captured.merge(Counter::one(7));
        let r = Report::build(
            &f,
            facts,
            Ranking {
                sort: SortKey::Total,
                top: 0,
                flows: 0,
                select: Selection {
                    comms: vec!["p1".into(), "p3".into()],
                    ..Default::default()
                },
                by: By::Process,
            },
        );
        assert_eq!(
            r.processes.iter().map(|p| p.pid).collect::<Vec<_>>(),
            [1, 3]
        );
        assert_eq!(
            r.summary.filtered_out,
            FilteredOut {
                inbound: Counter::one(800),
                outbound: Counter::default(),
                processes: 1,
            }
        );
        assert_eq!(r.summary.attributed.inbound.bytes, 150);
        assert_eq!(r.summary.attributed.outbound.bytes, 950);
        assert_eq!(r.summary.processes_seen, 2);
        assert!(r.totals_add_up());
    }

    #[test]
    fn by_comm_adds_up_processes_of_one_name_in_one_row() {
        let start = Timestamp(10_000_000);
        let mut ledger = Ledger::new(start, 10);
        for (pid, name, bytes, remote) in [
            (1, "curl", 100, "10.0.0.9:443"),
            (2, "curl", 300, "10.0.0.9:443"),
            (3, "sshd", 250, "10.0.0.8:22"),
            (4, "curl", 50, "10.0.0.7:80"),
        ] {
            let info = Arc::new(ProcessInfo {
                cmdline: format!("{name} {pid}"),
                ..ProcessInfo::sample(pid, 1, name)
            });
            let owner = ledger.owner(&info);
            let key = FlowKey::new(
                crate::model::Proto::Tcp,
                format!("10.0.0.1:{}", 4000 + pid).parse().unwrap(),
                remote.parse().unwrap(),
            );
            let flow = ledger.open_flow(owner, MatchQuality::Exact, key);
            ledger.add(flow, Direction::In, Counter::one(bytes), start);
        }
        let f = Finished {
            ledger,
            ..finished(&[])
        };
        let r = Report::build(
            &f,
            facts(),
            Ranking {
                by: By::Comm,
                ..Ranking::default()
            },
        );
        let rows: Vec<(&str, u32, u64, u32)> = r
            .processes
            .iter()
            .map(|p| (p.name.as_str(), p.pid, p.bytes_in, p.processes))
            .collect();
        assert_eq!(rows, [("curl", 0, 450, 3), ("sshd", 0, 250, 1)]);
        let curl = &r.processes[0];
        assert_eq!(
            curl.group,
            Some(Group {
                by: GroupBy::Comm,
                key: "curl".into()
            })
        );
        assert_eq!(curl.cmdline, "", "the command lines differ");
        assert_eq!(curl.user, "root", "all share the user");
        assert_eq!((curl.connections, curl.flows.len()), (3, 3));
        assert_eq!(curl.peers[0].remote, "10.0.0.9:443");
        assert_eq!(curl.peers[0].bytes_in, 400);
        assert_eq!(curl.series.seconds().collect::<Vec<_>>(), [[450, 0]]);
        assert_eq!(r.summary.processes_seen, 4);
        let by_user = Report::build(
            &f,
            facts(),
            Ranking {
                by: By::User,
                top: 1,
                ..Ranking::default()
            },
        );
        assert_eq!(by_user.processes.len(), 1);
        assert_eq!(by_user.processes[0].processes, 4);
        assert_eq!(by_user.processes[0].bytes_in, 700);
        assert_eq!(by_user.other_processes.count, 0);
    }

    #[test]
    fn sort_packets_ranks_by_packets_in_and_out() {
        let start = Timestamp(10_000_000);
        let mut ledger = Ledger::new(start, 10);
        for (pid, packets, size) in [(1, 2, 5_000), (2, 5, 100), (3, 3, 1_000)] {
            let owner = ledger.owner(&Arc::new(ProcessInfo::sample(pid, 1, "p")));
            let key = FlowKey::new(
                crate::model::Proto::Udp,
                format!("10.0.0.1:{}", 4000 + pid).parse().unwrap(),
                "10.0.0.9:53".parse().unwrap(),
            );
            let flow = ledger.open_flow(owner, MatchQuality::Exact, key);
            for _ in 0..packets {
                ledger.add(flow, Direction::Out, Counter::one(size), start);
            }
        }
        let f = Finished {
            ledger,
            ..finished(&[])
        };
        assert_eq!(ranked(&f, SortKey::Packets, 0), [2, 3, 1]);
        assert_eq!(ranked(&f, SortKey::Total, 0), [1, 3, 2]);
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
                flows: 0,
                select: Selection::default(),
                by: By::Process,
            },
        );
        assert_eq!(r.unattributed.len(), Unattributed::ALL.len());
        assert!(r.totals_add_up());
    }

    #[test]
    fn state_and_keys_serialize_to_their_published_names() {
        let json = |v: serde_json::Value| v.as_str().unwrap().to_string();
        let names = [
            json(serde_json::to_value(StoppedBy::Duration).unwrap()),
            json(serde_json::to_value(StoppedBy::Signal).unwrap()),
            json(serde_json::to_value(StoppedBy::InterfacesFailed).unwrap()),
            json(serde_json::to_value(StoppedBy::EndOfInput).unwrap()),
            json(serde_json::to_value(SortKey::Total).unwrap()),
            json(serde_json::to_value(SortKey::In).unwrap()),
            json(serde_json::to_value(SortKey::Out).unwrap()),
            json(serde_json::to_value(SocketLogState::Active).unwrap()),
            json(serde_json::to_value(SocketLogState::Off).unwrap()),
            json(serde_json::to_value(SocketLogState::Unavailable).unwrap()),
            json(serde_json::to_value(AttributionSource::Proc).unwrap()),
            json(serde_json::to_value(AttributionSource::SocketLog).unwrap()),
        ];
        assert_eq!(
            names,
            [
                "duration",
                "signal",
                "interfaces_failed",
                "end_of_input",
                "total",
                "in",
                "out",
                "active",
                "off",
                "unavailable",
                "proc",
                "socket_log"
            ]
        );
        assert_eq!(serde_json::to_value(SortKey::Packets).unwrap(), "packets");
        for by in [
            GroupBy::Name,
            GroupBy::Other,
            GroupBy::Comm,
            GroupBy::User,
            GroupBy::Cgroup,
            GroupBy::Container,
        ] {
            assert_eq!(serde_json::to_value(by).unwrap(), by.name());
        }
    }

    #[test]
    fn rows_added_up_keep_their_own_peers() {
        let start = Timestamp(10_000_000);
        let mut ledger = Ledger::new(start, 10);
        for pid in 0..MAX_LEDGER_PROCESSES as u32 {
            ledger.owner(&Arc::new(ProcessInfo::sample(10_000 + pid, 1, "worker")));
        }
        for (pid, name, remote) in [(1, "curl", "10.0.0.9:443"), (2, "wget", "10.0.0.8:80")] {
            let owner = ledger.owner(&Arc::new(ProcessInfo::sample(pid, 1, name)));
            let key = FlowKey::new(
                crate::model::Proto::Tcp,
                format!("10.0.0.1:{}", 4000 + pid).parse().unwrap(),
                remote.parse().unwrap(),
            );
            let flow = ledger.open_flow(owner, MatchQuality::Exact, key);
            ledger.add(flow, Direction::In, Counter::one(100), start);
        }
        let f = Finished {
            ledger,
            flow_index: Default::default(),
            local_addrs: Default::default(),
            both_ends: Counter::default(),
            scans: 1,
            flows: FlowsSeen::default(),
            unreadable_processes: 0,
            skipped: Default::default(),
        };
        let r = Report::build(
            &f,
            facts(),
            Ranking {
                sort: SortKey::Total,
                top: 0,
                flows: 0,
                select: Selection::default(),
                by: By::Process,
            },
        );
        let peers: Vec<(u32, &str, Vec<&str>)> = r
            .processes
            .iter()
            .map(|p| {
                let remotes = p.peers.iter().map(|peer| peer.remote.as_str()).collect();
                (p.pid, p.name.as_str(), remotes)
            })
            .collect();
        assert_eq!(
            peers,
            [
                (0, "curl", vec!["10.0.0.9:443"]),
                (0, "wget", vec!["10.0.0.8:80"])
            ]
        );
        assert_eq!(
            r.processes[0].cmdline,
            "(curl processes past the first 8192, added up)"
        );
    }

    #[test]
    fn a_remote_port_of_zero_is_a_peer_not_other_peers() {
        let start = Timestamp(10_000_000);
        let mut ledger = Ledger::new(start, 10);
        let owner = ledger.owner(&Arc::new(ProcessInfo::sample(1, 1, "scanner")));
        let key = FlowKey::new(
            crate::model::Proto::Udp,
            "10.0.0.1:4000".parse().unwrap(),
            "10.0.0.9:0".parse().unwrap(),
        );
        let flow = ledger.open_flow(owner, MatchQuality::Exact, key);
        ledger.add(flow, Direction::Out, Counter::one(100), start);
        let f = Finished {
            ledger,
            flow_index: Default::default(),
            local_addrs: Default::default(),
            both_ends: Counter::default(),
            scans: 1,
            flows: FlowsSeen::default(),
            unreadable_processes: 0,
            skipped: Default::default(),
        };
        let r = Report::build(
            &f,
            facts(),
            Ranking {
                sort: SortKey::Total,
                top: 0,
                flows: 0,
                select: Selection::default(),
                by: By::Process,
            },
        );
        assert_eq!(r.processes[0].peers[0].remote, "10.0.0.9:0");
    }
}
