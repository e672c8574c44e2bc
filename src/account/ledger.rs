use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use super::Series;
use crate::model::{
    Counter, DirCounters, Direction, FlowKey, MatchQuality, ProcessInfo, ProcessKey, Proto,
    Timestamp, Unattributed,
};

/// Everything accounted to one process (or to processes added up: see [`Holder`]).
#[derive(Clone, Debug)]
pub struct ProcessAccount {
    pub holder: Holder,
    pub traffic: DirCounters,
    pub series: Series,
    /// Distinct flows (4-tuples) charged to this process.
    pub connections: u64,
    /// How its flows were matched; a report shows every kind that occurred.
    pub matched_by: Vec<MatchQuality>,
    /// The process was gone by the end of the capture.
    pub exited: bool,
    /// Where its flows go once the ledger holds [`MAX_LEDGER_FLOWS`].
    other_flow: Option<u32>,
    /// Processes added up in this row: 1, or more for a row of processes past
    /// [`MAX_LEDGER_PROCESSES`] added up by name.
    pub processes: u32,
}

impl ProcessAccount {
    /// Adds `other` into this row (a row of several processes, `--by`): traffic,
    /// seconds, connections and match kinds add up; the row has exited only when every
    /// process has. The holder stays this row's.
    pub fn merge(&mut self, other: &ProcessAccount) {
        self.traffic.merge(other.traffic);
        self.series.merge(&other.series);
        self.connections += other.connections;
        for q in &other.matched_by {
            if !self.matched_by.contains(q) {
                self.matched_by.push(*q);
            }
        }
        self.matched_by.sort();
        self.exited &= other.exited;
        self.processes += other.processes;
    }

    /// The process, for a row of one.
    pub fn process(&self) -> Option<&ProcessInfo> {
        match &self.holder {
            Holder::Process(info) => Some(info),
            Holder::Folded(_) => None,
        }
    }
}

/// Whom a ledger row stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// One process.
    Process(Arc<ProcessInfo>),
    /// Processes past [`MAX_LEDGER_PROCESSES`], added up.
    Folded(Folded),
}

/// How a row past [`MAX_LEDGER_PROCESSES`] adds up processes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Folded {
    /// Every later process with this name.
    ByName(String),
    /// Every later process whose name found no row of its own (past
    /// [`MAX_FOLDED_NAMES`]).
    Rest,
}

impl Folded {
    /// The name the row's processes share; empty for [`Folded::Rest`].
    pub fn name(&self) -> &str {
        match self {
            Folded::ByName(name) => name,
            Folded::Rest => "",
        }
    }
}

/// The most processes the ledger keeps a row each for (about 1 KiB each); later ones
/// are added up by name (a shell loop running `curl` all day is one row), in at most
/// [`MAX_FOLDED_NAMES`] rows. Without it, a day of process churn would grow forever.
pub const MAX_LEDGER_PROCESSES: usize = 8_192;
/// Rows of processes added up by name; past it, one row holds every other name.
pub const MAX_FOLDED_NAMES: usize = 1_024;

/// The most flows the ledger keeps counters for (about 8 MiB at 128 bytes each:
/// both ends, counters, first and last packet); further flows are added up per
/// process in one "other peers" flow.
pub const MAX_LEDGER_FLOWS: usize = 1 << 16;

/// One flow charged to a process: its ends, its own counters and when it was seen,
/// for the per-peer and per-connection detail.
#[derive(Clone, Copy, Debug)]
pub struct FlowAccount {
    pub owner: u32,
    pub proto: Proto,
    /// The local end; `None` for a [`Peer::Other`] flow (many local ends).
    pub local: Option<SocketAddr>,
    pub peer: Peer,
    pub quality: MatchQuality,
    pub traffic: DirCounters,
    /// The first and the last packet charged to it.
    pub seen: Option<(Timestamp, Timestamp)>,
}

/// A flow's remote end, as the ledger keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    Remote(SocketAddr),
    /// A process's flows once the ledger holds `MAX_LEDGER_FLOWS`, added up.
    Other,
}

/// The single owner of all counters. Processes and flows are addressed by dense
/// indexes, so the per-packet path is two array accesses, not a map lookup.
#[derive(Debug)]
pub struct Ledger {
    start: Timestamp,
    series_buckets: usize,
    processes: Vec<ProcessAccount>,
    flows: Vec<FlowAccount>,
    /// Rows by pid and start tick: one, or more when the socket log told apart
    /// processes that got the same pid within one tick (see [`ProcessKey`]).
    by_tick: HashMap<(u32, u64), Vec<u32>>,
    /// Rows of processes past [`MAX_LEDGER_PROCESSES`].
    folded: HashMap<Folded, u32>,
    unattributed: [Counter; Unattributed::ALL.len()],
}

impl Ledger {
    /// `series_buckets`: how many one-second buckets a process may use (duration + slack).
    pub fn new(start: Timestamp, series_buckets: usize) -> Self {
        Ledger {
            start,
            series_buckets,
            processes: Vec::new(),
            flows: Vec::new(),
            by_tick: HashMap::new(),
            folded: HashMap::new(),
            unattributed: [Counter::default(); Unattributed::ALL.len()],
        }
    }

    /// The owner index for a process, registering it on first sight. A reused pid
    /// with a new start time is a new owner. The row is named as the process was last
    /// seen. Past [`MAX_LEDGER_PROCESSES`], processes are added up by name.
    pub fn owner(&mut self, info: &Arc<ProcessInfo>) -> u32 {
        if let Some(i) = self.row_of(info.key) {
            if let Holder::Process(row) = &mut self.processes[i as usize].holder {
                if !Arc::ptr_eq(row, info) && **row != **info {
                    *row = Arc::new(row.updated_by(info));
                }
            }
            return i;
        }
        if self.processes.len() >= MAX_LEDGER_PROCESSES {
            return self.folded_owner(info);
        }
        let i = self.push(Holder::Process(info.clone()));
        let tick = (info.key.pid, info.key.start_time);
        self.by_tick.entry(tick).or_default().push(i);
        i
    }

    /// The row of the process `key` names. With a start in ns (the socket log saw the
    /// process): the row with the same, or one /proc made for its pid and tick before
    /// the log named it. Without (/proc saw it): of the rows of its pid and tick, the
    /// last started -- /proc sees the process that holds the pid now.
    fn row_of(&self, key: ProcessKey) -> Option<u32> {
        let rows = self.by_tick.get(&(key.pid, key.start_time))?;
        let key_of = |i: u32| self.processes[i as usize].process().map(|p| p.key);
        match key.start_ns {
            Some(_) => rows
                .iter()
                .copied()
                .find(|&i| key_of(i).is_some_and(|k| k.may_be(&key))),
            None => rows
                .iter()
                .copied()
                .max_by_key(|&i| key_of(i).and_then(|k| k.start_ns)),
        }
    }

    /// The row that adds up processes named like `info` (or, past
    /// [`MAX_FOLDED_NAMES`], every other name).
    fn folded_owner(&mut self, info: &Arc<ProcessInfo>) -> u32 {
        let by_name = Folded::ByName(info.name.clone());
        let group = if self.folded.len() < MAX_FOLDED_NAMES || self.folded.contains_key(&by_name) {
            by_name
        } else {
            Folded::Rest
        };
        if let Some(&i) = self.folded.get(&group) {
            self.processes[i as usize].processes += 1;
            return i;
        }
        let i = self.push(Holder::Folded(group.clone()));
        self.folded.insert(group, i);
        i
    }

    fn push(&mut self, holder: Holder) -> u32 {
        let i = self.processes.len() as u32;
        self.processes.push(ProcessAccount {
            holder,
            traffic: DirCounters::default(),
            series: Series::new(self.series_buckets),
            connections: 0,
            matched_by: Vec::new(),
            exited: false,
            other_flow: None,
            processes: 1,
        });
        i
    }

    /// Records that `flow` was matched to `owner`; returns the flow's index for [`Ledger::add`].
    pub fn open_flow(&mut self, owner: u32, quality: MatchQuality, flow: FlowKey) -> u32 {
        let p = &mut self.processes[owner as usize];
        p.connections += 1;
        if !p.matched_by.contains(&quality) {
            p.matched_by.push(quality);
            p.matched_by.sort();
        }
        if self.flows.len() >= MAX_LEDGER_FLOWS {
            if let Some(other) = p.other_flow {
                return other;
            }
        }
        let (local, peer) = if self.flows.len() >= MAX_LEDGER_FLOWS {
            (None, Peer::Other)
        } else {
            (Some(flow.local), Peer::Remote(flow.remote))
        };
        self.flows.push(FlowAccount {
            owner,
            proto: flow.proto,
            local,
            peer,
            quality,
            traffic: DirCounters::default(),
            seen: None,
        });
        let index = (self.flows.len() - 1) as u32;
        if self.flows.len() > MAX_LEDGER_FLOWS {
            self.processes[owner as usize].other_flow = Some(index);
        }
        index
    }

    /// Marks every process for which `gone` holds as exited; its totals stay. Of the
    /// processes that got one pid within one tick, all but the last started are gone
    /// (`gone` sees only the pid and tick).
    ///
    /// A row of processes added up keeps no pids to ask about: it reads as exited.
    /// Its processes are past the ledger's bound, churn that is short-lived as a rule.
    pub fn mark_exited(&mut self, gone: impl Fn(ProcessKey) -> bool) {
        for rows in self.by_tick.values() {
            let last = rows
                .iter()
                .filter_map(|&i| self.processes[i as usize].process().map(|p| p.key.start_ns))
                .max()
                .flatten();
            for &i in rows {
                let p = &mut self.processes[i as usize];
                if let Holder::Process(info) = &p.holder {
                    p.exited = info.key.start_ns < last || gone(info.key);
                }
            }
        }
        for p in &mut self.processes {
            if let Holder::Folded(_) = p.holder {
                p.exited = true;
            }
        }
    }

    /// Charges `c` (packets of one flow, the last at `at`) to `flow` (an index from
    /// [`Ledger::open_flow`]) and to its owner.
    pub fn add(&mut self, flow: u32, dir: Direction, c: Counter, at: Timestamp) {
        let f = &mut self.flows[flow as usize];
        f.traffic.get_mut(dir).merge(c);
        f.seen = Some(match f.seen {
            None => (at, at),
            Some((first, last)) => (first.min(at), last.max(at)),
        });
        let p = &mut self.processes[f.owner as usize];
        p.traffic.get_mut(dir).merge(c);
        p.series.add(self.start, at, dir, c.bytes);
    }

    pub fn merge_unattributed(&mut self, reason: Unattributed, c: Counter) {
        self.unattributed[reason.index()].merge(c);
    }

    pub fn processes(&self) -> &[ProcessAccount] {
        &self.processes
    }

    pub fn flows(&self) -> &[FlowAccount] {
        &self.flows
    }

    pub fn unattributed(&self, reason: Unattributed) -> Counter {
        self.unattributed[reason.index()]
    }

    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// Sum over all processes.
    pub fn attributed(&self) -> DirCounters {
        let mut total = DirCounters::default();
        for p in &self.processes {
            total.merge(p.traffic);
        }
        total
    }

    /// Sum over all reasons.
    pub fn unattributed_total(&self) -> Counter {
        let mut total = Counter::default();
        for c in &self.unattributed {
            total.merge(*c);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_past_the_bound_are_added_up_by_name() {
        let mut ledger = Ledger::new(Timestamp(0), 10);
        for pid in 0..MAX_LEDGER_PROCESSES as u32 {
            ledger.owner(&Arc::new(ProcessInfo::sample(10_000 + pid, 1, "worker")));
        }
        let curl = |pid| Arc::new(ProcessInfo::sample(pid, 1, "curl"));
        let first = ledger.owner(&curl(1));
        assert_eq!(ledger.owner(&curl(2)), first, "one row per name");
        assert_eq!(ledger.owner(&curl(1)), first);
        let row = &ledger.processes()[first as usize];
        assert_eq!(
            (&row.holder, row.processes),
            (&Holder::Folded(Folded::ByName("curl".into())), 3)
        );
        for n in 0..MAX_FOLDED_NAMES + 5 {
            ledger.owner(&Arc::new(ProcessInfo::sample(
                100 + n as u32,
                1,
                &format!("p{n}"),
            )));
        }
        assert!(ledger.processes().len() <= MAX_LEDGER_PROCESSES + MAX_FOLDED_NAMES + 1);
        let rest = ledger.processes().last().unwrap();
        assert_eq!(
            (&rest.holder, rest.processes),
            (&Holder::Folded(Folded::Rest), 6)
        );
    }

    /// Pid 42 in tick 7, as the socket log saw it start `ns` after the tick began.
    fn logged(ns: u64, name: &str) -> Arc<ProcessInfo> {
        Arc::new(ProcessInfo {
            key: ProcessKey::from_ns(42, 70_000_000 + ns, 10_000_000),
            ..ProcessInfo::sample(42, 1, name)
        })
    }

    #[test]
    fn two_processes_with_one_pid_in_one_tick_are_two_rows_when_the_log_tells_them_apart() {
        let mut l = Ledger::new(Timestamp(0), 2);
        let proc_seen = info(42, 7);
        let first = l.owner(&proc_seen);
        assert_eq!(
            l.owner(&logged(100, "p")),
            first,
            "the log names /proc's row"
        );
        let second = l.owner(&logged(900, "p"));
        assert_ne!(second, first, "a second process in the same tick");
        assert_eq!(l.owner(&logged(100, "p")), first);
        // /proc sees the process that holds the pid now: the last started.
        assert_eq!(l.owner(&proc_seen), second);
        l.mark_exited(|_| false);
        let exited: Vec<bool> = l.processes().iter().map(|p| p.exited).collect();
        assert_eq!(exited, [true, false], "the first gave its pid up");
    }

    #[test]
    fn a_row_is_named_as_the_process_was_last_seen() {
        let mut l = Ledger::new(Timestamp(0), 2);
        let row = l.owner(&logged(100, "sh"));
        assert_eq!(l.owner(&logged(100, "python3")), row);
        assert_eq!(
            l.processes()[row as usize].process().unwrap().name,
            "python3"
        );
    }

    fn info(pid: u32, start_time: u64) -> Arc<ProcessInfo> {
        Arc::new(ProcessInfo {
            key: ProcessKey::from_ticks(pid, start_time),
            ..ProcessInfo::sample(pid, 1, "p")
        })
    }

    #[test]
    fn flows_beyond_the_bound_share_one_other_peers_flow() {
        let mut l = Ledger::new(Timestamp(0), 2);
        let o = l.owner(&info(1, 1));
        for i in 0..MAX_LEDGER_FLOWS + 100 {
            let f = l.open_flow(
                o,
                MatchQuality::Exact,
                flow(&format!("10.0.0.2:{}", 1 + i % 60_000)),
            );
            l.add(f, Direction::Out, Counter::one(10), Timestamp(0));
        }
        assert_eq!(l.flows().len(), MAX_LEDGER_FLOWS + 1);
        let other = l.flows().last().unwrap();
        assert_eq!(other.peer, Peer::Other);
        assert_eq!(other.local, None);
        assert_eq!(other.traffic.outbound.bytes, 10 * 100);
        assert_eq!(
            l.processes()[0].traffic.outbound.packets,
            (MAX_LEDGER_FLOWS + 100) as u64
        );
        assert_eq!(
            l.processes()[0].connections,
            (MAX_LEDGER_FLOWS + 100) as u64
        );
    }

    #[test]
    fn a_flow_takes_at_most_128_bytes_as_max_ledger_flows_states() {
        assert!(std::mem::size_of::<FlowAccount>() <= 128);
    }

    #[test]
    fn reused_pid_is_a_new_owner() {
        let mut l = Ledger::new(Timestamp(0), 10);
        let a = l.owner(&info(42, 100));
        let b = l.owner(&info(42, 200));
        assert_ne!(a, b);
        assert_eq!(l.owner(&info(42, 100)), a);
    }

    fn flow(remote: &str) -> FlowKey {
        FlowKey::new(
            Proto::Tcp,
            "10.0.0.1:5000".parse().unwrap(),
            remote.parse().unwrap(),
        )
    }

    #[test]
    fn bytes_and_packets_add_per_direction_for_the_process_and_the_flow() {
        let mut l = Ledger::new(Timestamp(0), 10);
        let o = l.owner(&info(1, 1));
        let f = l.open_flow(o, MatchQuality::Exact, flow("10.0.0.2:80"));
        let g = l.open_flow(o, MatchQuality::Exact, flow("10.0.0.3:80"));
        l.add(f, Direction::Out, Counter::one(1_500), Timestamp(10));
        l.add(f, Direction::Out, Counter::one(52), Timestamp(20));
        l.add(g, Direction::In, Counter::one(40), Timestamp(30));
        assert_eq!(l.flows()[f as usize].traffic.outbound.bytes, 1_552);
        assert_eq!(l.flows()[g as usize].traffic.inbound.bytes, 40);
        assert_eq!(
            l.flows()[f as usize].seen,
            Some((Timestamp(10), Timestamp(20)))
        );
        assert_eq!(
            l.flows()[f as usize].local,
            Some("10.0.0.1:5000".parse().unwrap())
        );
        assert_eq!(l.processes()[0].connections, 2);
        let t = l.processes()[0].traffic;
        assert_eq!(
            t.outbound,
            Counter {
                packets: 2,
                bytes: 1_552
            }
        );
        assert_eq!(
            t.inbound,
            Counter {
                packets: 1,
                bytes: 40
            }
        );
        assert_eq!(l.attributed().total().bytes, 1_592);
    }
}
