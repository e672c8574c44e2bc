//! The attribution engine: packets and socket tables in, a ledger out.
//!
//! Owns the per-packet decision: orient the packet, find its flow's owner in the cache
//! (or the socket table, or park it in the retry ring), and charge the ledger.
//! Does no I/O and reads no clock: the pipeline feeds it packets and scans in order, so
//! tests can replay any interleaving exactly.
//!
//! Every side of a packet (one per local end; both ends for loopback) ends in exactly
//! one place: a process, an unattributed reason, or (for parked packets at the end)
//! `no_socket`. That is what makes the report's totals add up.

use crate::account::{DistinctFlows, FlowsSeen, Ledger};
use crate::attrib::{
    orient, FlowCache, FlowState, LocalAddrs, LoggedSocket, Lookup, Orientation, PendingRing,
    RemoteChecks, Skipped, SocketLog, SocketTable,
};
use crate::model::{
    canonical_ip, Counter, Direction, FlowKey, MatchQuality, ProcessInfo, ProcessKey, Timestamp,
    Unattributed,
};
use crate::wire::PacketSummary;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Scans that must miss a flow (each started after its packets arrived) before its
/// packets stop waiting in the retry ring. Two covers a socket accepted just after a
/// scan read an inode-less row for it.
const MAX_PENDING_MISSES: u8 = 2;

/// How much older than a scan's start a packet must be for that scan's miss to count,
/// while the socket log is active (see `Engine::verdict_before`): the log then has had
/// ten of its polls to name the packet's socket. The packet waits for the next scan
/// meanwhile, at least 50 ms away.
const LOG_GRACE: std::time::Duration = std::time::Duration::from_millis(50);

/// How the engine is sized.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub start: Timestamp,
    /// One-second buckets per process: the capture duration plus slack.
    pub series_buckets: usize,
    /// Packets that may wait for a scan at once.
    pub pending_capacity: usize,
    /// The host's addresses until the first scan brings its own.
    pub local_addrs: Vec<std::net::IpAddr>,
    /// netflow's own network namespace, for the socket log's wildcard sockets.
    pub own_netns: u64,
}

/// Addresses the socket log may add to the local ones (containers' sockets) before
/// a scan reads their namespaces.
const MAX_LEARNED_ADDRS: usize = 4_096;

pub struct Engine {
    table: SocketTable,
    /// Sockets the kernel logged with their process: the answer for flows /proc missed.
    socket_log: SocketLog,
    /// Times the socket log told something new; with the table's generation it makes
    /// the version that "given up on" states are checked against.
    log_updates: u64,
    /// Addresses of sockets the log saw in other namespaces (a container's): local
    /// too, kept across scans (which may not have read that namespace yet).
    learned_local: Vec<IpAddr>,
    flows: FlowCache,
    /// Every flow the cache ever took, counted once however often it was forgotten.
    seen: DistinctFlows,
    pending: PendingRing<PacketSummary>,
    /// Remote ends whose flows wait for a scan that may find them local.
    remotes: RemoteChecks,
    /// Flows resolved so far: when it changes across a packet, that packet's flow was
    /// just resolved.
    resolutions: u64,
    ledger: Ledger,
    both_ends: Counter,
    scans: u32,
    /// The scan that left out the most to stay within its memory budget.
    skipped: Skipped,
    /// Unknown traffic is waiting: an early scan is wanted.
    early_wanted: bool,
    /// Traffic went unattributed, or a new flow's remote end waits to be looked for:
    /// the periodic scan is wanted (without it, a host whose traffic is all attributed
    /// to known flows is never rescanned).
    stale_wanted: bool,
    /// What was already asked for since the last scan (each at most once).
    asked: (bool, bool),
}

/// What the engine asks of the rescan thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RescanRequest {
    /// Packets wait for their owner: scan soon (rate-limited).
    Early,
    /// Traffic went unattributed: scan at the next periodic interval.
    Periodic,
}

/// One local end of a packet: the flow as that end's socket sees it, and the packet's
/// direction for it.
type Side = (FlowKey, Direction);

/// Where one side's bytes go.
#[derive(Clone, Copy, Debug)]
enum Charge {
    /// A flow of a process, by its ledger index.
    Flow(u32),
    Unattributed(Unattributed),
}

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            table: SocketTable::empty(LocalAddrs::new(config.local_addrs)),
            socket_log: SocketLog::new(config.own_netns),
            log_updates: 0,
            learned_local: Vec::new(),
            flows: FlowCache::default(),
            seen: DistinctFlows::default(),
            pending: PendingRing::new(config.pending_capacity),
            remotes: RemoteChecks::default(),
            resolutions: 0,
            ledger: Ledger::new(config.start, config.series_buckets),
            both_ends: Counter::default(),
            scans: 0,
            skipped: Skipped::default(),
            early_wanted: false,
            stale_wanted: false,
            asked: (false, false),
        }
    }

    /// Charges one TCP/UDP packet, or parks it whole until a scan can tell who owns
    /// each of its local ends.
    pub fn packet(&mut self, p: &PacketSummary) {
        let Some((sides, both)) = self.sides(p) else {
            self.not_local(p);
            return;
        };
        let resolutions = self.resolutions;
        let mut charges = [None, None];
        for (slot, &(key, _)) in charges.iter_mut().zip(sides.iter().flatten()) {
            *slot = self.charge_now(key);
        }
        let decided = sides.iter().flatten().count() == charges.iter().flatten().count();
        let fresh = self.resolutions != resolutions;
        if decided && !(fresh && !both && self.awaits_remote(sides, p.ts)) {
            self.charge(p, &sides, &charges, both);
        } else {
            self.wait(*p, &sides, &charges);
        }
    }

    /// Whether a flow just resolved, with one local end, must wait for a scan that may
    /// find its remote end local too: a process in a network namespace no scan has read
    /// (a container started since; issue #17 item 8). If so, the flow now waits
    /// ([`FlowState::Awaiting`]), so its later packets cost nothing more than the cache
    /// probe every packet makes.
    // Rare (a flow's first packet, a packet that waits): kept out of line, so the
    // per-packet path stays as small as it was (tests/benches/core.rs).
    #[cold]
    #[inline(never)]
    fn awaits_remote(&mut self, [side, _]: [Option<Side>; 2], at: Timestamp) -> bool {
        let Some((key, _)) = side else {
            return false;
        };
        let Some(FlowState::Known { flow }) = self.flows.get(&key) else {
            return false;
        };
        if !self.remotes.new_flow(canonical_ip(key.remote.ip()), at) {
            return false;
        }
        self.remember(key, FlowState::Awaiting { flow });
        true
    }

    /// Parks a packet whose sides could not all be charged: asking for an early scan if
    /// a side's owner is unknown, else (its flows only await a look at their remote
    /// end) for the periodic one, so that a host talking to many new addresses pays at
    /// most one scan per interval for them -- unless the retry ring is a quarter full
    /// (a long --rescan-interval and busy new flows): then early, before it overflows.
    // Rare (a flow's first packet, a packet that waits): kept out of line, so the
    // per-packet path stays as small as it was (tests/benches/core.rs).
    #[cold]
    #[inline(never)]
    fn wait(&mut self, p: PacketSummary, sides: &[Option<Side>; 2], charges: &[Option<Charge>; 2]) {
        let mut unknown = false;
        for (&(key, _), charge) in sides.iter().flatten().zip(charges) {
            unknown |= charge.is_none()
                && !matches!(self.flows.get(&key), Some(FlowState::Awaiting { .. }));
        }
        self.park(p);
        if unknown || self.pending.len() >= self.pending.capacity() / 4 {
            self.early_wanted = true;
        } else {
            self.stale_wanted = true;
        }
    }

    /// Counts traffic that never reached the engine as a packet (skipped frames,
    /// queue drops), so the ledger holds every side.
    pub fn count_unattributed(&mut self, reason: Unattributed, c: Counter) {
        self.ledger.merge_unattributed(reason, c);
    }

    /// Swaps in a fresh socket table and retries every parked packet against it.
    /// Packets are oriented again: the scan may have found new local addresses (a
    /// container's).
    pub fn apply_scan(&mut self, table: SocketTable) {
        self.skipped = self.skipped.worse(table.skipped);
        self.table = table;
        if !self.learned_local.is_empty() {
            self.table.local = self.table.local.with(self.learned_local.iter().copied());
        }
        self.scans += 1;
        (self.early_wanted, self.stale_wanted, self.asked) = (false, false, (false, false));
        // Remote ends waiting since before this scan began: it looked for them.
        self.remotes.scanned(self.table.started_at);
        let verdict_before = self.verdict_before();
        let parked: Vec<PacketSummary> = self.pending.drain().collect();
        for p in parked {
            if p.ts >= verdict_before {
                // The scan began before this packet (or the socket log may not have
                // told all it knows of it yet): it proves nothing about it.
                match self.sides(&p) {
                    Some((sides, _)) => self.wait(p, &sides, &[None, None]),
                    None => {
                        self.early_wanted = true;
                        self.park(p);
                    }
                }
                continue;
            }
            self.settle(&p);
        }
    }

    /// The packets the current table may give up on: those captured before its scan
    /// began, and with the socket log active, [`LOG_GRACE`] before. The log's record of
    /// a socket can reach the engine after a scan that began after the packet (its
    /// thread polls every 5 ms and may wait for a CPU; measured: 1 in ~10 runs of 2,000
    /// fresh UDP sockets lost an exchange to `no_socket` that way once packets reached
    /// the engine within 10 ms), and a miss, once charged, is final.
    fn verdict_before(&self) -> Timestamp {
        let started_at = self.table.started_at;
        if self.socket_log.added() == 0 {
            return started_at;
        }
        Timestamp(started_at.0.saturating_sub(LOG_GRACE.as_micros() as u64))
    }

    /// Charges a packet by what the current table (and the socket log) say of each of
    /// its sides, once they have had their chance: the socket, a listener, or why not.
    fn settle(&mut self, p: &PacketSummary) {
        let Some((sides, both)) = self.sides(p) else {
            self.not_local(p);
            return;
        };
        let mut charges = [None, None];
        for (slot, &(key, _)) in charges.iter_mut().zip(sides.iter().flatten()) {
            *slot = Some(self.charge_after_scan(key));
        }
        self.charge(p, &sides, &charges, both);
    }

    /// Adds sockets the kernel logged and, if they told something new, retries every
    /// parked packet: a flow whose socket closed before /proc was read is known now.
    pub fn apply_socket_log(&mut self, sockets: Vec<LoggedSocket>) {
        let mut news = false;
        let learned_before = self.learned_local.len();
        for s in sockets {
            let ip = canonical_ip(s.local.ip());
            if !ip.is_unspecified()
                && !self.table.local.contains(ip)
                && self.learned_local.len() < MAX_LEARNED_ADDRS
            {
                self.learned_local.push(ip);
            }
            news |= self.socket_log.add(s);
        }
        if self.learned_local.len() > learned_before {
            // A socket in a namespace no scan has read: its address is this host's,
            // and a scan will bring that namespace's details.
            let new = &self.learned_local[learned_before..];
            self.table.local = self.table.local.with(new.iter().copied());
            self.early_wanted = true;
            news = true;
        }
        if !news {
            return;
        }
        let local = &self.table.local;
        self.remotes.forget_local(|ip| local.contains(ip));
        self.log_updates += 1;
        let parked: Vec<PacketSummary> = self.pending.drain().collect();
        for p in parked {
            let Some((sides, both)) = self.sides(&p) else {
                self.not_local(&p);
                continue;
            };
            let mut charges = [None, None];
            for (slot, &(key, _)) in charges.iter_mut().zip(sides.iter().flatten()) {
                *slot = match self.flows.get(&key) {
                    Some(FlowState::Pending { .. }) => self.resolve(key).map(Charge::Flow),
                    // The log found the remote end local: nothing more to wait for.
                    Some(FlowState::Awaiting { flow }) if both => {
                        self.remember(key, FlowState::Known { flow });
                        Some(Charge::Flow(flow))
                    }
                    _ => self.charge_now(key),
                };
            }
            if sides.iter().flatten().count() == charges.iter().flatten().count() {
                self.charge(&p, &sides, &charges, both);
            } else {
                // Same count as drained: re-parking evicts nothing.
                self.wait(p, &sides, &charges);
            }
        }
    }

    /// A scan the engine wants, each kind at most once per socket table.
    pub fn take_rescan_request(&mut self) -> Option<RescanRequest> {
        if self.early_wanted && !self.asked.0 {
            self.asked.0 = true;
            return Some(RescanRequest::Early);
        }
        if self.stale_wanted && !self.asked.1 {
            self.asked.1 = true;
            return Some(RescanRequest::Periodic);
        }
        None
    }

    /// Ends accounting: packets still parked are settled by the last table (every
    /// socket record came before it) or, captured after it began, found no owner; and
    /// processes for which `running` is false are marked as exited.
    pub fn finish(mut self, running: impl Fn(ProcessKey) -> bool) -> Finished {
        let parked: Vec<PacketSummary> = self.pending.drain().collect();
        for p in parked {
            if p.ts < self.table.started_at {
                self.settle(&p);
                continue;
            }
            match self.sides(&p) {
                Some((sides, both)) => {
                    let mut charges = [None, None];
                    for (slot, &(key, _)) in charges.iter_mut().zip(sides.iter().flatten()) {
                        *slot = Some(self.charge_at_end(key));
                    }
                    self.charge(&p, &sides, &charges, both);
                }
                None => self.not_local(&p),
            }
        }
        // After the parked packets: settling them may have found new processes.
        self.ledger.mark_exited(|key| !running(key));
        Finished {
            flow_index: self.flows.known().collect(),
            local_addrs: self.table.local.clone(),
            ledger: self.ledger,
            both_ends: self.both_ends,
            scans: self.scans,
            flows: self.seen.seen(),
            unreadable_processes: self.table.unreadable_processes,
            skipped: self.skipped,
        }
    }

    /// A parked side's charge when no scan is left: its flow's owner if known (the packet
    /// waited for its other end), else why not.
    fn charge_at_end(&mut self, key: FlowKey) -> Charge {
        match self.flows.get(&key) {
            Some(FlowState::Known { flow }) => Charge::Flow(flow),
            Some(FlowState::Awaiting { flow }) => {
                self.remember(key, FlowState::Known { flow });
                Charge::Flow(flow)
            }
            Some(FlowState::Unowned { reason, .. }) => Charge::Unattributed(reason),
            Some(FlowState::Pending { .. }) | None => Charge::Unattributed(Unattributed::NoSocket),
        }
    }

    /// Sets what is known about a flow, counting the flow the first time the cache
    /// takes it (the cache forgets flows at its bound and takes them again).
    fn remember(&mut self, key: FlowKey, state: FlowState) {
        if self.flows.set(key, state) {
            self.seen.insert(&key);
        }
    }

    /// What "given up on" is checked against: it changes with every scan and with
    /// every socket-log update that told something new.
    fn version(&self) -> u64 {
        self.table.generation + self.log_updates
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The packet's local ends under the current table, and whether it has two;
    /// `None` when neither end is local.
    fn sides(&self, p: &PacketSummary) -> Option<([Option<Side>; 2], bool)> {
        match orient(p, &self.table.local) {
            Orientation::One(key, dir) => Some(([Some((key, dir)), None], false)),
            Orientation::Both { sender, receiver } => Some((
                [
                    Some((sender, Direction::Out)),
                    Some((receiver, Direction::In)),
                ],
                true,
            )),
            Orientation::NotLocal => None,
        }
    }

    /// Charges each side as decided, counting both-ends packets once more.
    fn charge(
        &mut self,
        p: &PacketSummary,
        sides: &[Option<Side>; 2],
        charges: &[Option<Charge>; 2],
        both: bool,
    ) {
        if both {
            self.both_ends.merge(p.counter());
        }
        for (&(_, dir), charge) in sides.iter().flatten().zip(charges.iter()) {
            match charge {
                Some(Charge::Flow(flow)) => self.ledger.add(*flow, dir, p.counter(), p.ts),
                Some(Charge::Unattributed(reason)) => {
                    self.stale_wanted = true;
                    self.ledger.merge_unattributed(*reason, p.counter())
                }
                // Every side is decided before `charge` is called.
                None => self
                    .ledger
                    .merge_unattributed(Unattributed::NoSocket, p.counter()),
            }
        }
    }

    /// A side's charge if it can be decided now: its owner is cached, found in the
    /// current table, or already given up on for this table. `None`: it must wait.
    fn charge_now(&mut self, key: FlowKey) -> Option<Charge> {
        match self.flows.get(&key) {
            Some(FlowState::Known { flow }) => Some(Charge::Flow(flow)),
            Some(FlowState::Pending { .. } | FlowState::Awaiting { .. }) => None,
            Some(FlowState::Unowned {
                reason,
                checked_gen,
            }) if checked_gen == self.version() => Some(Charge::Unattributed(reason)),
            // Given up on under an older table: look once more in this one.
            Some(FlowState::Unowned { .. }) => Some(self.resolve_or_give_up(key)),
            None => match self.resolve(key) {
                Some(flow) => Some(Charge::Flow(flow)),
                None => {
                    self.remember(
                        key,
                        FlowState::Pending {
                            misses: 0,
                            last_miss_gen: 0,
                        },
                    );
                    None
                }
            },
        }
    }

    /// A side's charge once a scan that began after the packet has run: the socket,
    /// else the listener on its port, else unattributed (and the flow's miss noted).
    fn charge_after_scan(&mut self, key: FlowKey) -> Charge {
        match self.flows.get(&key) {
            Some(FlowState::Known { flow }) => Charge::Flow(flow),
            // The scan looked for the remote end: whatever it found, the wait is over.
            Some(FlowState::Awaiting { flow }) => {
                self.remember(key, FlowState::Known { flow });
                Charge::Flow(flow)
            }
            Some(FlowState::Unowned {
                reason,
                checked_gen,
            }) if checked_gen == self.version() => Charge::Unattributed(reason),
            Some(FlowState::Unowned { .. }) => self.resolve_or_give_up(key),
            Some(FlowState::Pending {
                misses,
                last_miss_gen,
            }) => self.charge_pending(key, misses, last_miss_gen),
            None => self.charge_pending(key, 0, 0),
        }
    }

    fn charge_pending(&mut self, key: FlowKey, misses: u8, last_miss_gen: u64) -> Charge {
        if let Some(flow) = self.resolve(key).or_else(|| self.resolve_by_listener(key)) {
            return Charge::Flow(flow);
        }
        let reason = self.miss_reason(key);
        if last_miss_gen != self.version() {
            self.note_miss(key, reason, misses + 1);
        }
        Charge::Unattributed(reason)
    }

    /// For a flow given up on under an older table: the socket or listener in this
    /// one, else given up on again (for this table).
    fn resolve_or_give_up(&mut self, key: FlowKey) -> Charge {
        match self.resolve(key).or_else(|| self.resolve_by_listener(key)) {
            Some(flow) => Charge::Flow(flow),
            None => {
                let reason = self.miss_reason(key);
                self.remember(
                    key,
                    FlowState::Unowned {
                        reason,
                        checked_gen: self.version(),
                    },
                );
                Charge::Unattributed(reason)
            }
        }
    }

    /// Neither end is local under the current table. The first packet of such a
    /// conversation asks for an early scan, which may find it belongs to a container
    /// that started since the last one; until then it is counted as not local.
    fn not_local(&mut self, p: &PacketSummary) {
        let key = FlowKey::new(p.proto, p.src, p.dst);
        if self.flows.get(&key).is_none() {
            self.early_wanted = true;
        }
        self.stale_wanted = true;
        self.remember(
            key,
            FlowState::Unowned {
                reason: Unattributed::NotLocal,
                checked_gen: self.version(),
            },
        );
        self.ledger
            .merge_unattributed(Unattributed::NotLocal, p.counter());
    }

    /// Looks the flow up in the current table, else in the socket log; on success
    /// caches its ledger index. When both know the socket's process, /proc's details
    /// are kept with the log's start in nanoseconds: it tells apart two processes that
    /// got the same pid within one tick, which /proc's ticks cannot (issue #17 item 6).
    fn resolve(&mut self, key: FlowKey) -> Option<u32> {
        let (info, quality) = match self.table.lookup(&key) {
            Lookup::Owned(info, quality) => match self.socket_log.lookup(&key) {
                Some(logged)
                    if info.key.start_ns.is_none()
                        && logged.key.start_ns.is_some()
                        && info.key.may_be(&logged.key) =>
                {
                    let key = logged.key;
                    (
                        Arc::new(ProcessInfo {
                            key,
                            ..(*info).clone()
                        }),
                        quality,
                    )
                }
                _ => (info, quality),
            },
            Lookup::Unowned(_) => (self.socket_log.lookup(&key)?, MatchQuality::SocketLog),
        };
        let owner = self.ledger.owner(&info);
        let flow = self.ledger.open_flow(owner, quality, key);
        self.remember(key, FlowState::Known { flow });
        self.resolutions += 1;
        Some(flow)
    }

    /// After a scan has missed the flow's own socket: the process listening on its
    /// local port, if there is exactly one (or one parent of several).
    fn resolve_by_listener(&mut self, key: FlowKey) -> Option<u32> {
        match self.table.listener_of(&key)? {
            Lookup::Owned(info, quality) => {
                let owner = self.ledger.owner(&info);
                let flow = self.ledger.open_flow(owner, quality, key);
                self.remember(key, FlowState::Known { flow });
                self.resolutions += 1;
                Some(flow)
            }
            Lookup::Unowned(_) => None,
        }
    }

    /// Why a flow has no owner: the flow's own lookup, unless a listener on its port
    /// is shared by unrelated processes (then it is ambiguous, not unknown).
    fn miss_reason(&self, key: FlowKey) -> Unattributed {
        if let Some(Lookup::Unowned(Unattributed::Ambiguous)) = self.table.listener_of(&key) {
            return Unattributed::Ambiguous;
        }
        match self.table.lookup(&key) {
            Lookup::Unowned(reason) => reason,
            Lookup::Owned(..) => Unattributed::NoSocket,
        }
    }

    /// Parks a packet in the retry ring (the caller asks for the scan it needs).
    fn park(&mut self, p: PacketSummary) {
        if let Some(evicted) = self.pending.push(p) {
            // Every local end of the evicted packet is lost to the overflow.
            let ends = match self.sides(&evicted) {
                Some((_, true)) => 2,
                _ => 1,
            };
            if ends == 2 {
                self.both_ends.merge(evicted.counter());
            }
            for _ in 0..ends {
                self.ledger
                    .merge_unattributed(Unattributed::PendingOverflow, evicted.counter());
            }
        }
    }

    /// Records an authoritative miss (at most one per table generation); after
    /// [`MAX_PENDING_MISSES`] the flow's packets stop waiting.
    fn note_miss(&mut self, key: FlowKey, reason: Unattributed, misses: u8) {
        let generation = self.version();
        let state = if misses >= MAX_PENDING_MISSES {
            FlowState::Unowned {
                reason,
                checked_gen: generation,
            }
        } else {
            FlowState::Pending {
                misses,
                last_miss_gen: generation,
            }
        };
        self.remember(key, state);
    }
}

/// What the engine hands back at the end of a capture.
#[derive(Debug)]
pub struct Finished {
    pub ledger: Ledger,
    /// The ledger flow each flow (still in the owner cache) was charged to.
    pub flow_index: HashMap<FlowKey, u32>,
    /// The host's addresses, as the last scan knew them.
    pub local_addrs: LocalAddrs,
    /// Packets whose both ends are local: each was charged twice (out and in).
    pub both_ends: Counter,
    pub scans: u32,
    /// Distinct flows the engine tracked over the capture.
    pub flows: FlowsSeen,
    pub unreadable_processes: u32,
    /// What the fullest scan left out to stay within its memory budget.
    pub skipped: Skipped,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrib::{ScanResult, SocketRow};
    use crate::model::{ProcessInfo, Proto};
    use crate::report::{
        CaptureFacts, Dropped, Ranking, Report, SocketLogStatus, SortKey, StoppedBy,
    };
    use std::time::Duration;

    const HOST: &str = "198.18.0.1";

    fn ms(n: u64) -> Timestamp {
        Timestamp(1_800_000_000_000_000 + n * 1_000)
    }

    fn engine(pending: usize) -> Engine {
        Engine::new(EngineConfig {
            start: ms(0),
            series_buckets: 10,
            pending_capacity: pending,
            local_addrs: vec![HOST.parse().unwrap()],
            own_netns: 1,
        })
    }

    fn pkt(proto: Proto, src: &str, dst: &str, ip_len: u32, at: Timestamp) -> PacketSummary {
        PacketSummary::one(
            at,
            proto,
            src.parse().unwrap(),
            dst.parse().unwrap(),
            ip_len,
        )
    }

    fn process(pid: u32) -> ProcessInfo {
        ProcessInfo::sample(pid, 1, &format!("p{pid}"))
    }

    /// A table in which `pid` holds a socket `local` ↔ `remote`, from a scan that
    /// started at `started_at`.
    fn scan(gen: u64, started_at: Timestamp, sockets: &[(u32, Proto, &str, &str)]) -> SocketTable {
        let mut result = ScanResult {
            started_at,
            local_addrs: vec![HOST.parse().unwrap()],
            ..ScanResult::default()
        };
        for (i, &(pid, proto, local, remote)) in sockets.iter().enumerate() {
            let inode = 1000 + i as u64;
            result.sockets.push(SocketRow {
                proto,
                local: local.parse().unwrap(),
                remote: remote.parse().unwrap(),
                inode,
                listening: false,
                v6only: Default::default(),
            });
            result.fds.push((pid, inode));
            result.processes.push(process(pid));
        }
        SocketTable::build(gen, result)
    }

    fn bytes_of(f: &Finished, pid: u32) -> (u64, u64) {
        f.ledger
            .processes()
            .iter()
            .find(|p| p.process().is_some_and(|info| info.key.pid == pid))
            .map(|p| (p.traffic.inbound.bytes, p.traffic.outbound.bytes))
            .unwrap_or((0, 0))
    }

    fn report(f: &Finished, captured: Counter) -> Report {
        let facts = CaptureFacts {
            host: "h".into(),
            start_time: "t".into(),
            start_unix_seconds: 0.0,
            duration_secs: 1.0,
            stopped_by: StoppedBy::Duration,
            interfaces: vec![],
            interface_stats: vec![],
            self_limits: vec![],
            filter: None,
            captured,
            dropped: Dropped::default(),
            socket_log: SocketLogStatus::off(),
            warnings: vec![],
        };
        Report::build(
            f,
            facts,
            Ranking {
                sort: SortKey::Total,
                top: 0,
                ..Default::default()
            },
        )
    }

    #[test]
    fn known_socket_is_charged_in_both_directions() {
        let mut e = engine(16);
        e.apply_scan(scan(
            1,
            ms(0),
            &[(42, Proto::Tcp, "198.18.0.1:5000", "198.18.0.2:80")],
        ));
        e.packet(&pkt(
            Proto::Tcp,
            "198.18.0.1:5000",
            "198.18.0.2:80",
            1_500,
            ms(10),
        ));
        e.packet(&pkt(
            Proto::Tcp,
            "198.18.0.2:80",
            "198.18.0.1:5000",
            52,
            ms(20),
        ));
        let f = e.finish(|_| true);
        assert_eq!(bytes_of(&f, 42), (52, 1_500));
        assert_eq!(
            f.ledger.processes()[0].connections,
            1,
            "one socket, one flow"
        );
    }

    #[test]
    fn unknown_flow_waits_for_a_scan_that_started_after_it() {
        let mut e = engine(16);
        e.packet(&pkt(
            Proto::Tcp,
            "198.18.0.1:5000",
            "198.18.0.2:80",
            100,
            ms(10),
        ));
        assert_eq!(e.pending_len(), 1);
        assert_eq!(e.take_rescan_request(), Some(RescanRequest::Early));
        assert_eq!(e.take_rescan_request(), None, "asked once per table");
        // A scan that began before the packet (and did not see the socket) is no verdict.
        e.apply_scan(scan(1, ms(5), &[]));
        assert_eq!(e.pending_len(), 1);
        e.apply_scan(scan(
            2,
            ms(30),
            &[(42, Proto::Tcp, "198.18.0.1:5000", "198.18.0.2:80")],
        ));
        assert_eq!(e.pending_len(), 0);
        let f = e.finish(|_| true);
        assert_eq!(bytes_of(&f, 42), (0, 100));
    }

    fn logged(pid: u32, proto: Proto, local: &str, remote: &str) -> LoggedSocket {
        LoggedSocket {
            proto,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            v6only: false,
            netns: 1,
            owner: std::sync::Arc::new(process(pid)),
        }
    }

    #[test]
    fn parked_packets_go_to_the_process_the_socket_log_names() {
        let mut e = engine(16);
        e.apply_scan(scan(1, ms(0), &[]));
        let conn = ("198.18.0.1:5000", "198.18.0.2:80");
        e.packet(&pkt(Proto::Tcp, conn.0, conn.1, 100, ms(10)));
        e.packet(&pkt(Proto::Tcp, conn.1, conn.0, 60, ms(11)));
        assert_eq!(e.pending_len(), 2);
        // A socket of someone else tells nothing about these packets.
        e.apply_socket_log(vec![logged(7, Proto::Tcp, "198.18.0.1:5001", conn.1)]);
        assert_eq!(e.pending_len(), 2);
        e.apply_socket_log(vec![logged(42, Proto::Tcp, conn.0, conn.1)]);
        assert_eq!(e.pending_len(), 0);
        // Later packets of the flow need no scan.
        e.packet(&pkt(Proto::Tcp, conn.0, conn.1, 40, ms(12)));
        let f = e.finish(|_| true);
        assert_eq!(bytes_of(&f, 42), (60, 140));
        let p = f
            .ledger
            .processes()
            .iter()
            .find(|p| p.process().is_some_and(|info| info.key.pid == 42));
        assert_eq!(p.unwrap().matched_by, [MatchQuality::SocketLog]);
        let r = report(&f, Counter::default());
        assert_eq!(r.summary.unattributed.bytes, 0);
    }

    #[test]
    fn with_the_socket_log_active_a_scan_just_after_a_packet_leaves_it_to_the_log() {
        let mut e = engine(16);
        // Anything logged makes the log active.
        e.apply_socket_log(vec![logged(
            7,
            Proto::Tcp,
            "198.18.0.1:5001",
            "198.18.0.2:80",
        )]);
        let conn = ("198.18.0.1:5000", "198.18.0.2:80");
        e.packet(&pkt(Proto::Tcp, conn.0, conn.1, 100, ms(100)));
        e.packet(&pkt(Proto::Tcp, conn.0, conn.1, 200, ms(100)));
        e.apply_scan(scan(1, ms(110), &[]));
        assert_eq!(e.pending_len(), 2, "the log may not have told yet");
        e.apply_socket_log(vec![logged(42, Proto::Tcp, conn.0, conn.1)]);
        assert_eq!(e.pending_len(), 0);
        // Without news from the log, a later scan decides.
        let other = ("198.18.0.1:5002", "198.18.0.2:80");
        e.packet(&pkt(Proto::Tcp, other.0, other.1, 60, ms(120)));
        e.apply_scan(scan(2, ms(130), &[]));
        assert_eq!(e.pending_len(), 1);
        e.apply_scan(scan(
            3,
            ms(120).plus(LOG_GRACE).plus(Duration::from_millis(1)),
            &[],
        ));
        assert_eq!(e.pending_len(), 0);
        let f = e.finish(|_| true);
        assert_eq!(bytes_of(&f, 42), (0, 300));
        assert_eq!(f.ledger.unattributed(Unattributed::NoSocket).bytes, 60);
    }

    #[test]
    fn packets_parked_at_the_end_are_settled_by_the_last_table() {
        let mut e = engine(16);
        e.apply_socket_log(vec![logged(
            7,
            Proto::Tcp,
            "198.18.0.1:5001",
            "198.18.0.2:80",
        )]);
        let conn = ("198.18.0.1:5000", "198.18.0.2:80");
        e.packet(&pkt(Proto::Tcp, conn.0, conn.1, 100, ms(100)));
        // The final scan: every record came before it, so no grace is owed.
        e.apply_scan(scan(1, ms(110), &[(42, Proto::Tcp, conn.0, conn.1)]));
        let f = e.finish(|_| true);
        assert_eq!(bytes_of(&f, 42), (0, 100));
    }

    #[test]
    fn a_flow_given_up_on_is_attributed_once_the_log_knows_it() {
        let mut e = engine(16);
        let conn = ("198.18.0.1:4000", "198.18.0.2:53");
        e.packet(&pkt(Proto::Udp, conn.0, conn.1, 60, ms(10)));
        e.apply_scan(scan(1, ms(20), &[]));
        assert_eq!(e.pending_len(), 0, "a scan after it missed it");
        e.packet(&pkt(Proto::Udp, conn.0, conn.1, 70, ms(40)));
        e.apply_scan(scan(2, ms(50), &[]));
        e.packet(&pkt(Proto::Udp, conn.0, conn.1, 80, ms(60)));
        assert_eq!(e.pending_len(), 0, "two misses: given up, not parked");
        // An unconnected socket: logged by its bound port only.
        e.apply_socket_log(vec![logged(9, Proto::Udp, "0.0.0.0:4000", "0.0.0.0:0")]);
        e.packet(&pkt(Proto::Udp, conn.0, conn.1, 90, ms(70)));
        let f = e.finish(|_| true);
        assert_eq!(bytes_of(&f, 9), (0, 90), "charged from the log's news on");
        let r = report(&f, Counter::default());
        assert_eq!(r.summary.unattributed.bytes, 210);
    }

    #[test]
    fn a_container_socket_in_the_log_makes_its_address_local() {
        let mut e = engine(16);
        e.apply_scan(scan(1, ms(0), &[]));
        let (client, server) = ("198.18.0.1:5000", "198.18.0.2:80");
        e.apply_socket_log(vec![logged(42, Proto::Tcp, client, server)]);
        assert_eq!(e.take_rescan_request(), None, "nothing new about addresses");
        let mut container = logged(43, Proto::Tcp, server, client);
        container.netns = 2;
        e.apply_socket_log(vec![container]);
        assert_eq!(e.take_rescan_request(), Some(RescanRequest::Early));
        e.packet(&pkt(Proto::Tcp, client, server, 100, ms(10)));
        // A scan that has not read the container's namespace keeps the address local.
        e.apply_scan(scan(2, ms(20), &[]));
        e.packet(&pkt(Proto::Tcp, server, client, 60, ms(30)));
        let f = e.finish(|_| true);
        assert_eq!(bytes_of(&f, 42), (60, 100));
        assert_eq!(bytes_of(&f, 43), (100, 60));
        assert_eq!(f.both_ends.packets, 2);
    }

    #[test]
    fn proc_wins_over_the_socket_log_when_both_know_the_socket() {
        let mut e = engine(16);
        let conn = ("198.18.0.1:5000", "198.18.0.2:80");
        e.apply_socket_log(vec![logged(7, Proto::Tcp, conn.0, conn.1)]);
        e.apply_scan(scan(1, ms(0), &[(42, Proto::Tcp, conn.0, conn.1)]));
        e.packet(&pkt(Proto::Tcp, conn.0, conn.1, 100, ms(10)));
        let f = e.finish(|_| true);
        assert_eq!(bytes_of(&f, 42), (0, 100));
        assert_eq!(bytes_of(&f, 7), (0, 0));
    }

    #[test]
    fn a_socket_proc_and_the_log_both_know_keeps_procs_match_and_the_logs_start_in_ns() {
        let mut e = engine(16);
        let conn = ("198.18.0.1:5000", "198.18.0.2:80");
        let mut log = logged(42, Proto::Tcp, conn.0, conn.1);
        let key = ProcessKey {
            start_ns: Some(10_420_000_005),
            ..log.owner.key
        };
        log.owner = Arc::new(ProcessInfo { key, ..process(42) });
        e.apply_socket_log(vec![log]);
        e.apply_scan(scan(1, ms(0), &[(42, Proto::Tcp, conn.0, conn.1)]));
        e.packet(&pkt(Proto::Tcp, conn.0, conn.1, 100, ms(10)));
        let f = e.finish(|_| true);
        let row = &f.ledger.processes()[0];
        assert_eq!(row.process().unwrap().key, key);
        assert_eq!(row.matched_by, [MatchQuality::Exact]);
        assert_eq!(row.process().unwrap().cmdline, "p42", "/proc's details");
    }

    #[test]
    fn attributed_traffic_asks_the_periodic_scan_to_look_at_its_remote_end_once() {
        let mut e = engine(16);
        let known = [(42, Proto::Tcp, "198.18.0.1:5000", "198.18.0.2:80")];
        e.apply_scan(scan(1, ms(0), &known));
        e.packet(&pkt(
            Proto::Tcp,
            "198.18.0.1:5000",
            "198.18.0.2:80",
            100,
            ms(1),
        ));
        assert_eq!(
            e.take_rescan_request(),
            Some(RescanRequest::Periodic),
            "its remote end may be a container started since the last scan"
        );
        e.apply_scan(scan(2, ms(2), &known));
        e.packet(&pkt(
            Proto::Tcp,
            "198.18.0.1:5000",
            "198.18.0.2:80",
            100,
            ms(3),
        ));
        assert_eq!(e.take_rescan_request(), None, "looked for once");
        e.packet(&pkt(Proto::Udp, "198.18.0.7:1", "198.18.0.8:2", 40, ms(4)));
        assert_eq!(
            e.take_rescan_request(),
            Some(RescanRequest::Early),
            "first sight"
        );
        assert_eq!(e.take_rescan_request(), Some(RescanRequest::Periodic));
        e.packet(&pkt(Proto::Udp, "198.18.0.7:1", "198.18.0.8:2", 40, ms(5)));
        assert_eq!(e.take_rescan_request(), None, "each at most once per table");
    }

    #[test]
    fn flow_missed_by_later_scans_is_no_socket_and_stops_waiting() {
        let mut e = engine(16);
        e.packet(&pkt(
            Proto::Udp,
            "198.18.0.1:4000",
            "198.18.0.2:53",
            60,
            ms(10),
        ));
        e.apply_scan(scan(1, ms(20), &[]));
        e.packet(&pkt(
            Proto::Udp,
            "198.18.0.1:4000",
            "198.18.0.2:53",
            60,
            ms(30),
        ));
        e.apply_scan(scan(2, ms(40), &[]));
        // Two scans missed it: new packets are counted at once instead of waiting.
        e.packet(&pkt(
            Proto::Udp,
            "198.18.0.1:4000",
            "198.18.0.2:53",
            60,
            ms(50),
        ));
        assert_eq!(e.pending_len(), 0);
        let f = e.finish(|_| true);
        assert_eq!(f.ledger.unattributed(Unattributed::NoSocket).packets, 3);
        assert!(report(
            &f,
            Counter {
                packets: 3,
                bytes: 180
            }
        )
        .totals_add_up());
    }

    #[test]
    fn given_up_flow_is_found_again_by_a_newer_table() {
        let mut e = engine(16);
        let flow = ("198.18.0.1:4000", "198.18.0.2:53");
        for (gen, at) in [(1, 20), (2, 40)] {
            e.packet(&pkt(Proto::Udp, flow.0, flow.1, 60, ms(at - 10)));
            e.apply_scan(scan(gen, ms(at), &[]));
        }
        e.apply_scan(scan(3, ms(60), &[(9, Proto::Udp, flow.0, flow.1)]));
        e.packet(&pkt(Proto::Udp, flow.0, flow.1, 60, ms(70)));
        let f = e.finish(|_| true);
        assert_eq!(bytes_of(&f, 9), (0, 60));
    }

    fn listener_table(gen: u64, started_at: Timestamp, pid: u32, port: u16) -> SocketTable {
        let mut result = ScanResult {
            started_at,
            local_addrs: vec![HOST.parse().unwrap()],
            ..ScanResult::default()
        };
        result.sockets.push(SocketRow {
            proto: Proto::Tcp,
            local: format!("0.0.0.0:{port}").parse().unwrap(),
            remote: "0.0.0.0:0".parse().unwrap(),
            inode: 1,
            listening: true,
            v6only: Default::default(),
        });
        result.fds.push((pid, 1));
        result.processes.push(process(pid));
        SocketTable::build(gen, result)
    }

    #[test]
    fn closed_connection_to_a_listening_port_goes_to_the_listener() {
        let mut e = engine(16);
        e.packet(&pkt(
            Proto::Tcp,
            "198.18.0.2:40000",
            "198.18.0.1:8080",
            500,
            ms(10),
        ));
        e.packet(&pkt(
            Proto::Tcp,
            "198.18.0.1:8080",
            "198.18.0.2:40000",
            60,
            ms(11),
        ));
        // The scan began after the packets, and the connection was already gone.
        e.apply_scan(listener_table(1, ms(20), 90, 8080));
        let f = e.finish(|_| true);
        assert_eq!(bytes_of(&f, 90), (500, 60));
        assert_eq!(f.ledger.processes()[0].matched_by, [MatchQuality::Listener]);
    }

    #[test]
    fn outbound_connection_from_an_ephemeral_port_never_goes_to_a_listener() {
        let mut e = engine(16);
        e.packet(&pkt(
            Proto::Tcp,
            "198.18.0.1:40000",
            "198.18.0.2:8080",
            500,
            ms(10),
        ));
        e.apply_scan(listener_table(1, ms(20), 90, 8080));
        let f = e.finish(|_| true);
        assert_eq!(bytes_of(&f, 90), (0, 0));
        assert_eq!(f.ledger.unattributed(Unattributed::NoSocket).bytes, 500);
    }

    #[test]
    fn process_not_running_at_the_end_is_marked_exited_and_keeps_its_bytes() {
        let mut e = engine(16);
        let flow = ("198.18.0.1:5000", "198.18.0.2:80");
        e.apply_scan(scan(1, ms(0), &[(42, Proto::Tcp, flow.0, flow.1)]));
        e.packet(&pkt(Proto::Tcp, flow.0, flow.1, 1_000, ms(5)));
        e.apply_scan(scan(2, ms(10), &[]));
        let f = e.finish(|key| key.pid != 42);
        assert_eq!(bytes_of(&f, 42), (0, 1_000));
        assert!(f.ledger.processes()[0].exited);
    }

    #[test]
    fn loopback_traffic_is_charged_to_both_local_processes() {
        let mut e = engine(16);
        e.apply_scan(scan(
            1,
            ms(0),
            &[
                (10, Proto::Tcp, "127.0.0.1:5000", "127.0.0.1:80"),
                (20, Proto::Tcp, "127.0.0.1:80", "127.0.0.1:5000"),
            ],
        ));
        e.packet(&pkt(
            Proto::Tcp,
            "127.0.0.1:5000",
            "127.0.0.1:80",
            1_000,
            ms(1),
        ));
        e.packet(&pkt(
            Proto::Tcp,
            "127.0.0.1:80",
            "127.0.0.1:5000",
            300,
            ms(2),
        ));
        let f = e.finish(|_| true);
        assert_eq!(bytes_of(&f, 10), (300, 1_000));
        assert_eq!(bytes_of(&f, 20), (1_000, 300));
        assert_eq!(
            f.both_ends,
            Counter {
                packets: 2,
                bytes: 1_300
            }
        );
        assert!(report(
            &f,
            Counter {
                packets: 2,
                bytes: 1_300
            }
        )
        .totals_add_up());
    }

    #[test]
    fn container_found_by_a_later_scan_gets_its_end_of_the_first_packets() {
        let mut e = engine(16);
        // The host's client talks to 198.18.0.2, not yet known as local.
        e.packet(&pkt(
            Proto::Tcp,
            "198.18.0.1:5000",
            "198.18.0.2:80",
            100,
            ms(10),
        ));
        let mut result = ScanResult {
            started_at: ms(20),
            local_addrs: vec![HOST.parse().unwrap()],
            sockets: vec![SocketRow {
                proto: Proto::Tcp,
                local: "198.18.0.1:5000".parse().unwrap(),
                remote: "198.18.0.2:80".parse().unwrap(),
                inode: 1,
                listening: false,
                v6only: Default::default(),
            }],
            fds: vec![(10, 1), (20, 2)],
            processes: vec![process(10), process(20)],
            ..ScanResult::default()
        };
        result.namespaces.push(crate::attrib::NamespaceScan {
            id: 7,
            addrs: vec!["198.18.0.2".parse().unwrap()],
            sockets: vec![SocketRow {
                proto: Proto::Tcp,
                local: "198.18.0.2:80".parse().unwrap(),
                remote: "198.18.0.1:5000".parse().unwrap(),
                inode: 2,
                listening: false,
                v6only: Default::default(),
            }],
        });
        e.apply_scan(SocketTable::build(1, result));
        e.packet(&pkt(
            Proto::Tcp,
            "198.18.0.2:80",
            "198.18.0.1:5000",
            40,
            ms(30),
        ));
        let f = e.finish(|_| true);
        assert_eq!(bytes_of(&f, 10), (40, 100));
        assert_eq!(bytes_of(&f, 20), (100, 40), "the container's server");
        assert_eq!(
            f.both_ends,
            Counter {
                packets: 2,
                bytes: 140
            }
        );
    }

    /// Scan `gen`: the host's client (pid 10) holds `client` ↔ `server`; with
    /// `container`, namespace 7 (198.18.0.2) too, where pid 20 holds the other end.
    fn client_and_late_server(
        gen: u64,
        started_at: Timestamp,
        (client, server): (&str, &str),
        container: bool,
    ) -> SocketTable {
        let row = |local: &str, remote: &str, inode| SocketRow {
            proto: Proto::Udp,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            inode,
            listening: false,
            v6only: Default::default(),
        };
        let mut result = ScanResult {
            started_at,
            local_addrs: vec![HOST.parse().unwrap()],
            sockets: vec![row(client, server, 1)],
            fds: vec![(10, 1)],
            processes: vec![process(10)],
            ..ScanResult::default()
        };
        if container {
            result.fds.push((20, 2));
            result.processes.push(process(20));
            result.namespaces.push(crate::attrib::NamespaceScan {
                id: 7,
                addrs: vec!["198.18.0.2".parse().unwrap()],
                sockets: vec![row(server, client, 2)],
            });
        }
        SocketTable::build(gen, result)
    }

    #[test]
    fn a_late_container_gets_its_end_of_packets_whose_near_end_was_known() {
        let mut e = engine(16);
        let conn = ("198.18.0.1:5000", "198.18.0.2:53");
        e.apply_scan(client_and_late_server(1, ms(0), conn, false));
        e.packet(&pkt(Proto::Udp, conn.0, conn.1, 100, ms(10)));
        e.packet(&pkt(Proto::Udp, conn.1, conn.0, 40, ms(11)));
        assert_eq!(e.pending_len(), 2, "they wait for a look at 198.18.0.2");
        assert_eq!(e.take_rescan_request(), Some(RescanRequest::Periodic));
        assert_eq!(e.take_rescan_request(), None, "not an early one");
        e.apply_scan(client_and_late_server(2, ms(20), conn, true));
        e.packet(&pkt(Proto::Udp, conn.0, conn.1, 100, ms(30)));
        let f = e.finish(|_| true);
        assert_eq!(bytes_of(&f, 10), (40, 200));
        assert_eq!(bytes_of(&f, 20), (200, 40), "the container's server");
        assert_eq!(f.both_ends.packets, 3);
    }

    #[test]
    fn a_late_container_the_socket_log_names_gets_its_end_without_waiting_for_a_scan() {
        let mut e = engine(16);
        let conn = ("198.18.0.1:5000", "198.18.0.2:53");
        e.apply_scan(client_and_late_server(1, ms(0), conn, false));
        e.packet(&pkt(Proto::Udp, conn.0, conn.1, 100, ms(10)));
        assert_eq!(e.pending_len(), 1);
        let mut server = logged(20, Proto::Udp, conn.1, conn.0);
        server.netns = 7;
        e.apply_socket_log(vec![server]);
        assert_eq!(e.pending_len(), 0, "198.18.0.2 is local now");
        e.packet(&pkt(Proto::Udp, conn.1, conn.0, 40, ms(20)));
        let f = e.finish(|_| true);
        assert_eq!(bytes_of(&f, 10), (40, 100));
        assert_eq!(bytes_of(&f, 20), (100, 40));
    }

    #[test]
    fn many_packets_waiting_for_a_remote_end_ask_for_an_early_scan() {
        let mut e = engine(8);
        let conn = ("198.18.0.1:5000", "198.18.0.2:53");
        e.apply_scan(client_and_late_server(1, ms(0), conn, false));
        e.packet(&pkt(Proto::Udp, conn.0, conn.1, 100, ms(10)));
        assert_eq!(e.take_rescan_request(), Some(RescanRequest::Periodic));
        e.packet(&pkt(Proto::Udp, conn.0, conn.1, 100, ms(11)));
        assert_eq!(
            e.take_rescan_request(),
            Some(RescanRequest::Early),
            "2 of 8"
        );
    }

    #[test]
    fn a_remote_end_a_scan_looked_for_in_vain_is_charged_to_the_near_end_alone() {
        let mut e = engine(16);
        let conn = ("198.18.0.1:5000", "198.18.0.2:53");
        e.apply_scan(client_and_late_server(1, ms(0), conn, false));
        e.packet(&pkt(Proto::Udp, conn.0, conn.1, 100, ms(10)));
        // A scan that began before the packet did not look for it.
        e.apply_scan(client_and_late_server(2, ms(5), conn, false));
        assert_eq!(e.pending_len(), 1);
        e.apply_scan(client_and_late_server(3, ms(20), conn, false));
        assert_eq!(e.pending_len(), 0);
        e.packet(&pkt(Proto::Udp, conn.1, conn.0, 40, ms(30)));
        assert_eq!(e.pending_len(), 0, "not looked for again so soon");
        assert_eq!(e.take_rescan_request(), None);
        let f = e.finish(|_| true);
        assert_eq!(bytes_of(&f, 10), (40, 100));
        assert_eq!(f.both_ends.packets, 0);
    }

    #[test]
    fn packets_still_waiting_for_their_remote_end_at_the_end_go_to_the_near_end() {
        let mut e = engine(16);
        let conn = ("198.18.0.1:5000", "198.18.0.2:53");
        e.apply_scan(client_and_late_server(1, ms(0), conn, false));
        e.packet(&pkt(Proto::Udp, conn.0, conn.1, 100, ms(10)));
        let f = e.finish(|_| true);
        assert_eq!(bytes_of(&f, 10), (0, 100));
        assert_eq!(f.ledger.unattributed(Unattributed::NoSocket).packets, 0);
    }

    #[test]
    fn full_retry_ring_counts_what_it_pushes_out() {
        let mut e = engine(2);
        for i in 0..5 {
            e.packet(&pkt(
                Proto::Tcp,
                "198.18.0.1:5000",
                "198.18.0.2:80",
                10 + i,
                ms(1),
            ));
        }
        let f = e.finish(|_| true);
        let overflow = f.ledger.unattributed(Unattributed::PendingOverflow);
        assert_eq!(
            overflow,
            Counter {
                packets: 3,
                bytes: 10 + 11 + 12
            }
        );
        assert_eq!(f.ledger.unattributed(Unattributed::NoSocket).packets, 2);
    }

    #[test]
    fn flows_seen_counts_each_flow_once_however_often_the_cache_forgets_it() {
        // 100,000 flows, three times over: more than the cache holds, so it forgets
        // and takes them again (counted 300,000 times before).
        let mut e = engine(2);
        let flows = 100_000u32;
        for _ in 0..3 {
            for i in 0..flows {
                let [_, a, b, c] = i.to_be_bytes();
                let src = format!("10.{a}.{b}.{c}:1000");
                e.packet(&pkt(Proto::Udp, &src, "10.255.0.1:53", 40, ms(1)));
            }
        }
        let f = e.finish(|_| true);
        assert!(f.flows.estimated);
        let error = (f.flows.count as f64 / f64::from(flows) - 1.0).abs();
        // Five standard errors of the 16 KiB HyperLogLog (0.8 %): never flakes.
        assert!(error < 0.04, "{:?}", f.flows);
    }

    #[test]
    fn traffic_of_other_hosts_is_not_local() {
        let mut e = engine(2);
        e.packet(&pkt(Proto::Tcp, "198.18.0.7:1", "198.18.0.8:2", 99, ms(1)));
        let f = e.finish(|_| true);
        assert_eq!(
            f.ledger.unattributed(Unattributed::NotLocal),
            Counter {
                packets: 1,
                bytes: 99
            }
        );
    }

    #[test]
    fn totals_add_up_with_skipped_frames_and_mixed_outcomes() {
        let mut e = engine(4);
        e.apply_scan(scan(
            1,
            ms(0),
            &[(42, Proto::Tcp, "198.18.0.1:5000", "198.18.0.2:80")],
        ));
        let packets = [
            pkt(Proto::Tcp, "198.18.0.1:5000", "198.18.0.2:80", 1_500, ms(1)),
            pkt(Proto::Tcp, "198.18.0.1:6000", "198.18.0.2:80", 700, ms(2)),
            pkt(Proto::Udp, "127.0.0.1:1", "127.0.0.1:2", 30, ms(3)),
            pkt(Proto::Udp, "198.18.0.9:1", "198.18.0.8:2", 40, ms(4)),
        ];
        let mut captured = Counter::default();
        for p in &packets {
            captured.add(u64::from(p.bytes));
            e.packet(p);
        }
        let icmp = Counter {
            packets: 2,
            bytes: 168,
        };
        captured.merge(icmp);
        e.count_unattributed(Unattributed::NotTcpUdp, icmp);
        let f = e.finish(|_| true);
        let r = report(&f, captured);
        assert!(r.totals_add_up(), "{:?}", r.summary);
        assert_eq!(r.processes.len(), 1);
        assert_eq!(r.unattributed["no_socket"].packets, 3);
    }
}
