//! The capture side of the queue: one per capture thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;

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

/// Packets sent to the engine together. One queue operation (and at most one wake-up
/// of the engine thread) per batch instead of per packet: cross-thread wake-ups were
/// most of the end-to-end cost per packet.
pub const BATCH: usize = 1024;
/// A batch is sent once its first packet is this old, so a trickle is not held back.
const BATCH_SPAN_US: u64 = 5_000;

/// Takes frames from one pcap handle: summarise, count, queue without blocking.
pub struct Intake {
    link: LinkType,
    tx: SyncSender<Event>,
    batch: Vec<PacketSummary>,
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
        tx: SyncSender<Event>,
        tap: Option<FrameTap>,
        progress: Arc<AtomicU64>,
    ) -> Self {
        Intake {
            link,
            tx,
            batch: Vec::with_capacity(BATCH),
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
}

impl Intake {
    fn queue(&mut self, summary: PacketSummary) {
        self.tally.captured.add(u64::from(summary.ip_len));
        self.batch.push(summary);
        let span = summary
            .ts
            .micros()
            .saturating_sub(self.batch[0].ts.micros());
        if self.batch.len() >= BATCH || span >= BATCH_SPAN_US {
            self.flush();
        }
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

    /// Sends the batch to the engine, or counts it as dropped if the queue is full.
    /// Allocates a batch buffer per [`BATCH`] packets at most, never per packet.
    pub fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if let Err(TrySendError::Full(Event::Packets(mut batch)))
        | Err(TrySendError::Disconnected(Event::Packets(mut batch))) =
            self.tx.try_send(Event::Packets(batch))
        {
            for p in &batch {
                self.tally.queue_dropped.add(u64::from(p.ip_len));
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
