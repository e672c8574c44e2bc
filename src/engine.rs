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

use crate::account::Ledger;
use crate::attrib::{
    orient, FlowCache, FlowState, LocalAddrs, Lookup, Orientation, PendingPacket, PendingRing,
    SocketTable,
};
use crate::model::{Counter, Direction, FlowKey, Timestamp, Unattributed};
use crate::wire::PacketSummary;

/// Scans that must miss a flow (each started after its packets arrived) before its
/// packets stop waiting in the retry ring. Two covers a socket accepted just after a
/// scan read an inode-less row for it.
const MAX_PENDING_MISSES: u8 = 2;

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
}

pub struct Engine {
    table: SocketTable,
    flows: FlowCache,
    pending: PendingRing,
    ledger: Ledger,
    both_ends: Counter,
    scans: u32,
    rescan_wanted: bool,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            table: SocketTable::empty(LocalAddrs::new(config.local_addrs)),
            flows: FlowCache::default(),
            pending: PendingRing::new(config.pending_capacity),
            ledger: Ledger::new(config.start, config.series_buckets),
            both_ends: Counter::default(),
            scans: 0,
            rescan_wanted: false,
        }
    }

    /// Charges one TCP/UDP packet.
    pub fn packet(&mut self, p: &PacketSummary) {
        match orient(p, &self.table.local) {
            Orientation::One(key, dir) => self.side(key, dir, p.ip_len, p.ts),
            Orientation::Both { sender, receiver } => {
                self.both_ends.add(u64::from(p.ip_len));
                self.side(sender, Direction::Out, p.ip_len, p.ts);
                self.side(receiver, Direction::In, p.ip_len, p.ts);
            }
            Orientation::NotLocal => self
                .ledger
                .add_unattributed(Unattributed::NotLocal, u64::from(p.ip_len)),
        }
    }

    /// Counts traffic that never reached the engine as a packet (skipped frames,
    /// queue drops), so the ledger holds every side.
    pub fn count_unattributed(&mut self, reason: Unattributed, c: Counter) {
        self.ledger.merge_unattributed(reason, c);
    }

    /// Swaps in a fresh socket table and retries every parked packet against it.
    pub fn apply_scan(&mut self, table: SocketTable) {
        self.table = table;
        self.scans += 1;
        let parked: Vec<PendingPacket> = self.pending.drain().collect();
        for p in parked {
            self.retry(p);
        }
    }

    /// True once after unknown traffic appeared: the pipeline should rescan early.
    pub fn take_rescan_request(&mut self) -> bool {
        std::mem::take(&mut self.rescan_wanted)
    }

    /// Ends accounting: packets still parked found no owner in any scan.
    pub fn finish(mut self) -> Finished {
        let parked: Vec<PendingPacket> = self.pending.drain().collect();
        for p in parked {
            self.ledger
                .add_unattributed(Unattributed::NoSocket, u64::from(p.ip_len));
        }
        Finished {
            ledger: self.ledger,
            both_ends: self.both_ends,
            scans: self.scans,
            flows: self.flows.len(),
            unreadable_processes: self.table.unreadable_processes,
        }
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    fn side(&mut self, key: FlowKey, dir: Direction, ip_len: u32, ts: Timestamp) {
        match self.flows.get(&key) {
            Some(FlowState::Known { owner }) => self.ledger.add(owner, dir, ip_len, ts),
            Some(FlowState::Pending { .. }) => self.park(PendingPacket {
                key,
                dir,
                ip_len,
                ts,
            }),
            Some(FlowState::Unowned {
                reason,
                checked_gen,
            }) if checked_gen == self.table.generation => {
                self.ledger.add_unattributed(reason, u64::from(ip_len))
            }
            Some(FlowState::Unowned { .. }) => match self.resolve(key) {
                Some(owner) => self.ledger.add(owner, dir, ip_len, ts),
                None => {
                    let reason = self.miss_reason(key);
                    self.flows.set(
                        key,
                        FlowState::Unowned {
                            reason,
                            checked_gen: self.table.generation,
                        },
                    );
                    self.ledger.add_unattributed(reason, u64::from(ip_len));
                }
            },
            None => match self.resolve(key) {
                Some(owner) => self.ledger.add(owner, dir, ip_len, ts),
                None => {
                    self.flows.set(
                        key,
                        FlowState::Pending {
                            misses: 0,
                            last_miss_gen: 0,
                        },
                    );
                    self.park(PendingPacket {
                        key,
                        dir,
                        ip_len,
                        ts,
                    });
                }
            },
        }
    }

    /// Looks the flow up in the current table; on success caches the owner.
    fn resolve(&mut self, key: FlowKey) -> Option<u32> {
        match self.table.lookup(&key) {
            Lookup::Owned(info, quality) => {
                let owner = self.ledger.owner(&info);
                self.ledger.add_connection(owner, quality);
                self.flows.set(key, FlowState::Known { owner });
                Some(owner)
            }
            Lookup::Unowned(_) => None,
        }
    }

    fn miss_reason(&self, key: FlowKey) -> Unattributed {
        match self.table.lookup(&key) {
            Lookup::Unowned(reason) => reason,
            Lookup::Owned(..) => Unattributed::NoSocket,
        }
    }

    fn park(&mut self, p: PendingPacket) {
        self.rescan_wanted = true;
        if let Some(evicted) = self.pending.push(p) {
            self.ledger
                .add_unattributed(Unattributed::PendingOverflow, u64::from(evicted.ip_len));
        }
    }

    /// A parked packet meets a new table. A miss is final for this packet only if the
    /// scan began after the packet was seen (its socket existed during the scan).
    fn retry(&mut self, p: PendingPacket) {
        match self.flows.get(&p.key) {
            Some(FlowState::Known { owner }) => self.ledger.add(owner, p.dir, p.ip_len, p.ts),
            Some(FlowState::Unowned { reason, .. }) => {
                self.ledger.add_unattributed(reason, u64::from(p.ip_len))
            }
            Some(FlowState::Pending {
                misses,
                last_miss_gen,
            }) => {
                if let Some(owner) = self.resolve(p.key) {
                    self.ledger.add(owner, p.dir, p.ip_len, p.ts);
                } else if p.ts < self.table.started_at {
                    let reason = self.miss_reason(p.key);
                    self.ledger.add_unattributed(reason, u64::from(p.ip_len));
                    if last_miss_gen != self.table.generation {
                        self.note_miss(p.key, reason, misses + 1);
                    }
                } else {
                    self.park(p);
                }
            }
            None => self.side(p.key, p.dir, p.ip_len, p.ts),
        }
    }

    /// Records an authoritative miss (at most one per table generation); after
    /// [`MAX_PENDING_MISSES`] the flow's packets stop waiting.
    fn note_miss(&mut self, key: FlowKey, reason: Unattributed, misses: u8) {
        let generation = self.table.generation;
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
        self.flows.set(key, state);
    }
}

/// What the engine hands back at the end of a capture.
#[derive(Debug)]
pub struct Finished {
    pub ledger: Ledger,
    /// Packets whose both ends are local: each was charged twice (out and in).
    pub both_ends: Counter,
    pub scans: u32,
    pub flows: usize,
    pub unreadable_processes: u32,
}
