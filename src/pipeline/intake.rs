//! The capture side of the queue: one per capture thread.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SendError, SyncSender, TrySendError};
use std::sync::Arc;

use foldhash::fast::FixedState;

use super::Event;
use crate::model::{Counter, Timestamp, Unattributed};
use crate::os::capture::FrameSink;
use crate::os::pcap_out::FrameTap;
use crate::wire::{fragment_of, summarize, FragmentTable, LinkType, PacketSummary, Skipped};

/// What a capture thread counted itself, merged into the report at the end.
#[derive(Clone, Copy, Debug, Default)]
pub struct CaptureTally {
    pub captured: Counter,
    /// Frames that could not be charged to a socket, by reason (known at parse time).
    pub skipped: [Counter; Unattributed::ALL.len()],
    pub queue_dropped: Counter,
    pub pcap_dropped: u64,
}

/// Packets (or runs of packets, see [`Intake::queue`]) sent to the engine together. One
/// queue operation (and at most one wake-up of the engine thread) per batch instead of
/// per packet: cross-thread wake-ups were most of the end-to-end cost per packet.
pub const BATCH: usize = 1024;
/// Slots of the index from a flow (and direction) to its run in the batch: twice what a
/// batch holds, so flows seldom share one (two that do only make more entries).
const RUN_SLOTS: usize = 2 * BATCH;
/// A batch is sent once its first packet is this old, so a trickle is not held back.
const BATCH_SPAN_US: u64 = 5_000;

/// What a capture thread does with a batch when the queue to the engine is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenFull {
    /// Drop it and count its packets: a live capture must not block, or the kernel's
    /// ring overflows instead, where drops are counted without their bytes.
    Drop,
    /// Wait for room: a file has no ring to overflow, and a replay loses nothing, so
    /// its report is the same on every run however fast the engine is.
    Wait,
}

/// Takes frames from one pcap handle: summarise, count, queue (live: without blocking).
pub struct Intake {
    link: LinkType,
    tx: SyncSender<Event>,
    when_full: WhenFull,
    batch: Vec<PacketSummary>,
    /// Batch index + 1 of each flow's run, by a hash of its addresses; 0 for none. A
    /// fixed hash: flows made to share a slot only make more entries, never wrong ones.
    runs: Box<[u16; RUN_SLOTS]>,
    run_hasher: FixedState,
    /// When the batch's first packet was captured.
    batch_since: Timestamp,
    /// The capture's start: runs never span two of its seconds (the per-second series).
    start: Timestamp,
    tap: Option<FrameTap>,
    /// This thread's packet count for the progress bar: its own atomic, written with a
    /// plain store, so capture threads never contend on a shared counter.
    progress: Arc<AtomicU64>,
    /// Ports of recent fragmented datagrams, for their later fragments.
    fragments: FragmentTable,
    pub tally: CaptureTally,
}

impl Intake {
    pub fn new(
        link: LinkType,
        start: Timestamp,
        tx: SyncSender<Event>,
        when_full: WhenFull,
        tap: Option<FrameTap>,
        progress: Arc<AtomicU64>,
    ) -> Self {
        Intake {
            link,
            tx,
            when_full,
            batch: Vec::with_capacity(BATCH),
            runs: Box::new([0; RUN_SLOTS]),
            run_hasher: FixedState::default(),
            batch_since: start,
            start,
            tap,
            progress,
            fragments: FragmentTable::default(),
            tally: CaptureTally::default(),
        }
    }
}

impl FrameSink for Intake {
    /// The per-packet path: no allocation, no lock, no log line.
    fn frame(&mut self, ts: Timestamp, data: &[u8], wire_len: u32) {
        if let Some(tap) = self.tap.as_mut() {
            tap.offer(ts, data, wire_len);
        }
        match summarize(self.link, ts, data, wire_len) {
            Ok(summary) => self.queue(summary),
            Err(skip) => match self.defragment(skip, ts, data) {
                Some(summary) => self.queue(summary),
                None => {
                    let bytes = u64::from(skip.bytes);
                    self.tally.captured.add(bytes);
                    self.tally.skipped[skip.reason.index()].add(bytes);
                }
            },
        }
        self.progress
            .store(self.tally.captured.packets, Ordering::Relaxed);
    }

    fn idle(&mut self) {
        self.flush();
    }

    fn holds(&self) -> bool {
        !self.batch.is_empty()
    }
}

impl Intake {
    /// Adds a packet to the batch: to the run of its flow and direction when the batch
    /// has one from the same capture second, so the engine pays per run, not per
    /// packet (a flood is one run per batch; a few busy flows, a few runs).
    fn queue(&mut self, summary: PacketSummary) {
        self.tally.captured.add(u64::from(summary.bytes));
        if self.batch.is_empty() {
            self.batch_since = summary.ts;
        }
        if let Err(slot) = self.add_to_run(&summary) {
            self.batch.push(summary);
            // At most BATCH entries: the index fits in u16.
            self.runs[slot] = self.batch.len() as u16;
        }
        let span = summary
            .ts
            .micros()
            .saturating_sub(self.batch_since.micros());
        if self.batch.len() >= BATCH || span >= BATCH_SPAN_US {
            self.flush();
        }
    }

    /// Adds `p` to its flow's run, or says which index slot a new run of it takes.
    fn add_to_run(&mut self, p: &PacketSummary) -> Result<(), usize> {
        let second = p.ts.whole_secs_since(self.start);
        let start = self.start;
        let mut joins =
            |run: &mut PacketSummary| run.ts.whole_secs_since(start) == second && run.absorb(p);
        // The last entry first: a flood is one flow, and comparing beats hashing.
        if self.batch.last_mut().is_some_and(&mut joins) {
            return Ok(());
        }
        // Two candidate slots per flow: two flows rarely share both.
        let hash = self.run_hasher.hash_one((p.proto, p.src, p.dst));
        let slots = [hash as usize, (hash >> 32) as usize].map(|h| h & (RUN_SLOTS - 1));
        for slot in slots {
            if let Some(i) = usize::from(self.runs[slot]).checked_sub(1) {
                if joins(&mut self.batch[i]) {
                    return Ok(());
                }
            }
        }
        Err(slots
            .into_iter()
            .find(|&slot| self.runs[slot] == 0)
            .unwrap_or(slots[0]))
    }

    /// A fragment as a packet of its datagram's flow, once the first fragment (which
    /// carries the ports) has been seen. Fragments are rare: slicing again is fine.
    fn defragment(&mut self, skip: Skipped, ts: Timestamp, data: &[u8]) -> Option<PacketSummary> {
        if skip.reason != Unattributed::Fragment {
            return None;
        }
        let fragment = fragment_of(self.link, data)?;
        self.fragments.packet(fragment, ts, skip.bytes)
    }

    /// Sends the batch to the engine, or counts it as dropped if the queue is full
    /// (and [`WhenFull::Drop`]) or the engine is gone.
    /// Allocates a batch buffer per [`BATCH`] packets at most, never per packet.
    pub fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        self.runs.fill(0);
        let batch = Event::Packets(std::mem::replace(
            &mut self.batch,
            Vec::with_capacity(BATCH),
        ));
        let unsent = match self.when_full {
            WhenFull::Drop => match self.tx.try_send(batch) {
                Err(TrySendError::Full(e) | TrySendError::Disconnected(e)) => Some(e),
                Ok(()) => None,
            },
            WhenFull::Wait => self.tx.send(batch).err().map(|SendError(e)| e),
        };
        if let Some(Event::Packets(mut batch)) = unsent {
            for p in &batch {
                self.tally.queue_dropped.merge(p.counter());
            }
            batch.clear();
            self.batch = batch;
        }
    }

    /// Ends intake: the tally, with the pcap tap's losses folded in.
    pub fn finish(mut self) -> CaptureTally {
        self.flush();
        if let Some(tap) = self.tap.take() {
            self.tally.pcap_dropped = tap.dropped;
        }
        self.tally
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{sync_channel, Receiver};

    use super::*;
    use crate::model::Proto;

    const START: Timestamp = Timestamp(1_000_000_000);

    fn intake() -> (Intake, Receiver<Event>) {
        let (tx, rx) = sync_channel(4);
        let intake = Intake::new(
            LinkType::Ethernet,
            START,
            tx,
            WhenFull::Drop,
            None,
            Arc::default(),
        );
        (intake, rx)
    }

    fn packet(src: &str, dst: &str, bytes: u32, after_us: u64) -> PacketSummary {
        let ts = Timestamp(START.0 + after_us);
        PacketSummary::one(
            ts,
            Proto::Tcp,
            src.parse().unwrap(),
            dst.parse().unwrap(),
            bytes,
        )
    }

    fn sent(mut intake: Intake, rx: &Receiver<Event>) -> Vec<PacketSummary> {
        intake.flush();
        match rx.try_recv() {
            Ok(Event::Packets(batch)) => batch,
            _ => panic!("no batch sent"),
        }
    }

    const A: &str = "10.0.0.1:40000";
    const B: &str = "10.0.0.2:80";
    const C: &str = "10.0.0.3:80";

    #[test]
    fn a_run_of_one_flow_is_one_entry_with_its_counts() {
        let (mut intake, rx) = intake();
        for i in 0..100 {
            intake.queue(packet(A, B, 1_000 + i, 10 * u64::from(i)));
        }
        let batch = sent(intake, &rx);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].packets, 100);
        assert_eq!(batch[0].bytes, (0..100).map(|i| 1_000 + i).sum::<u32>());
        assert_eq!(
            batch[0].ts,
            Timestamp(START.0 + 990),
            "the last packet's time"
        );
    }

    #[test]
    fn data_and_acks_interleaved_make_one_run_each_way() {
        let (mut intake, rx) = intake();
        for i in 0..50 {
            intake.queue(packet(A, B, 1_500, 20 * i));
            intake.queue(packet(B, A, 52, 20 * i + 10));
        }
        let batch = sent(intake, &rx);
        let counts: Vec<(u16, u32)> = batch.iter().map(|p| (p.packets, p.bytes)).collect();
        assert_eq!(counts, [(50, 75_000), (50, 2_600)]);
    }

    #[test]
    fn runs_end_at_each_capture_second() {
        let (mut intake, rx) = intake();
        intake.queue(packet(A, B, 100, 999_000));
        intake.queue(packet(A, B, 100, 1_001_000));
        intake.queue(packet(A, B, 100, 1_002_000));
        let batch = sent(intake, &rx);
        let counts: Vec<u16> = batch.iter().map(|p| p.packets).collect();
        assert_eq!(counts, [1, 2]);
    }

    #[test]
    fn interleaved_flows_each_make_one_run() {
        let (mut intake, rx) = intake();
        let flows: Vec<String> = (0..64).map(|i| format!("10.0.1.{i}:5000")).collect();
        for round in 0..10 {
            for (i, src) in flows.iter().enumerate() {
                intake.queue(packet(src, B, 64, round * 100 + i as u64));
            }
        }
        let batch = sent(intake, &rx);
        // Two flows sharing both their slots would start new runs (never wrong ones);
        // with the fixed hash, none of these 64 do.
        assert_eq!(batch.len(), 64);
        assert_eq!(batch.iter().map(|p| u64::from(p.packets)).sum::<u64>(), 640);
        for src in &flows {
            let src: std::net::SocketAddr = src.parse().unwrap();
            let n: u16 = batch
                .iter()
                .filter(|p| p.src == src)
                .map(|p| p.packets)
                .sum();
            assert_eq!(n, 10, "{src}");
        }
    }

    #[test]
    fn a_new_batch_starts_new_runs() {
        let (mut intake, rx) = intake();
        intake.queue(packet(A, B, 100, 0));
        intake.flush();
        intake.queue(packet(A, C, 100, 1));
        intake.queue(packet(A, B, 100, 2));
        let first = match rx.try_recv() {
            Ok(Event::Packets(batch)) => batch,
            _ => panic!("no first batch"),
        };
        assert_eq!(first.len(), 1);
        let second = sent(intake, &rx);
        assert_eq!(second.len(), 2, "the index was cleared with the batch");
    }

    #[test]
    fn dropped_runs_count_every_packet() {
        let (tx, _rx) = sync_channel(0);
        let mut intake = Intake::new(
            LinkType::Ethernet,
            START,
            tx,
            WhenFull::Drop,
            None,
            Arc::default(),
        );
        for i in 0..10 {
            intake.queue(packet(A, B, 100, i));
        }
        intake.flush();
        assert_eq!(intake.tally.queue_dropped.packets, 10);
        assert_eq!(intake.tally.queue_dropped.bytes, 1_000);
        assert_eq!(intake.tally.captured.packets, 10);
    }
}
