//! The capture side of the queue: one per capture thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use super::Event;
use crate::model::{Counter, Timestamp, Unattributed};
use crate::os::pcap_out::FrameTap;
use crate::wire::{summarize, LinkType};

/// What a capture thread counted itself, merged into the report at the end.
#[derive(Clone, Copy, Debug, Default)]
pub struct CaptureTally {
    pub captured: Counter,
    /// Frames that could not be charged to a socket, by reason (known at parse time).
    pub skipped: [Counter; Unattributed::ALL.len()],
    pub queue_dropped: Counter,
    pub pcap_dropped: u64,
}

/// Takes frames from one pcap handle: summarise, count, queue without blocking.
pub struct Intake {
    link: LinkType,
    tx: SyncSender<Event>,
    tap: Option<FrameTap>,
    /// This thread's packet count for the progress bar: its own atomic, written with a
    /// plain store, so capture threads never contend on a shared counter.
    progress: Arc<AtomicU64>,
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
            tap,
            progress,
            tally: CaptureTally::default(),
        }
    }

    /// The per-packet path: no allocation, no lock, no log line.
    pub fn frame(&mut self, ts: Timestamp, data: &[u8], wire_len: u32) {
        if let Some(tap) = self.tap.as_mut() {
            tap.offer(ts, data, wire_len);
        }
        match summarize(self.link, ts, data, wire_len) {
            Ok(summary) => {
                let bytes = u64::from(summary.ip_len);
                self.tally.captured.add(bytes);
                if self.tx.try_send(Event::Packet(summary)).is_err() {
                    self.tally.queue_dropped.add(bytes);
                }
            }
            Err(skip) => {
                let bytes = u64::from(skip.bytes);
                self.tally.captured.add(bytes);
                self.tally.skipped[skip.reason.index()].add(bytes);
            }
        }
        self.progress
            .store(self.tally.captured.packets, Ordering::Relaxed);
    }

    /// Ends intake: the tally, with the pcap tap's losses folded in.
    pub fn finish(mut self) -> CaptureTally {
        if let Some(tap) = self.tap.take() {
            self.tally.pcap_dropped = tap.dropped;
        }
        self.tally
    }
}
