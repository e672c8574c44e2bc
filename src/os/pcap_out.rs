//! The pcap file written with `-w`: its own thread, fed frames in recycled buffers.
//!
//! Capture threads copy a frame into a buffer taken from their free list and send it
//! here without blocking; the writer returns the buffer. In steady state nothing is
//! allocated per packet, and a slow disk costs pcap completeness, never capture.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::rc::Rc;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness};

use crate::model::Timestamp;
use crate::wire::LinkType;

/// Frames in flight between all capture threads and the writer.
const QUEUE_FRAMES: usize = 8_192;
/// Buffers each capture thread may own at once (in flight or free): enough to fill the
/// queue, so the return channel (of this capacity) never refuses a buffer.
const BUFFERS_PER_TAP: usize = QUEUE_FRAMES + 64;
/// Buffer bytes each capture thread may own at once. Frames can be 64 KiB (TSO), so
/// the count alone would allow half a gigabyte.
const POOL_BYTES_PER_TAP: usize = 32 << 20;

/// One captured frame on its way to disk.
pub struct Frame {
    pub ts: Timestamp,
    pub wire_len: u32,
    pub data: Vec<u8>,
    /// Which tap to give the buffer back to.
    pub tap: usize,
}

/// The capture side of the pcap writer.
pub struct FrameTap {
    tap: usize,
    tx: SyncSender<Frame>,
    free: Receiver<Vec<u8>>,
    /// A buffer kept back when the queue was full, for the next frame.
    spare: Option<Vec<u8>>,
    buffers: usize,
    /// Capacity of every buffer this tap owns, wherever it is.
    pool_bytes: usize,
    /// Frames not written because the writer fell behind.
    pub dropped: u64,
}

impl FrameTap {
    /// Queues a copy of the frame; drops it (counted) if the writer is behind.
    pub fn offer(&mut self, ts: Timestamp, data: &[u8], wire_len: u32) {
        let reused = self.spare.take().or_else(|| self.free.try_recv().ok());
        let mut buf = match reused {
            Some(buf) => buf,
            None if self.buffers < BUFFERS_PER_TAP
                && self.pool_bytes + data.len() <= POOL_BYTES_PER_TAP =>
            {
                self.buffers += 1;
                Vec::new()
            }
            None => {
                self.dropped += 1;
                return;
            }
        };
        let before = buf.capacity();
        buf.clear();
        buf.extend_from_slice(data);
        self.pool_bytes += buf.capacity() - before;
        let frame = Frame {
            ts,
            wire_len,
            data: buf,
            tap: self.tap,
        };
        if let Err(TrySendError::Full(frame) | TrySendError::Disconnected(frame)) =
            self.tx.try_send(frame)
        {
            self.dropped += 1;
            self.spare = Some(frame.data);
        }
    }
}

/// What the writer reports at the end.
#[derive(Debug, Default)]
pub struct WriterOutcome {
    /// Packets whole on disk (after a failed write, those before it: the file is cut
    /// back to the last whole packet, so it stays readable).
    pub written: u64,
    /// The first write error; later frames were discarded.
    pub error: Option<String>,
    /// Packets not written because the file reached `--write-limit`.
    pub over_limit: u64,
}

/// Starts the writer thread and makes one tap per capture thread.
pub fn start(
    file: File,
    link: LinkType,
    snaplen: u32,
    limit: Option<u64>,
    taps: usize,
) -> std::io::Result<(Vec<FrameTap>, JoinHandle<WriterOutcome>)> {
    let (tx, rx) = sync_channel::<Frame>(QUEUE_FRAMES);
    let mut returns = Vec::with_capacity(taps);
    let mut out = Vec::with_capacity(taps);
    for tap in 0..taps {
        let (free_tx, free_rx) = sync_channel::<Vec<u8>>(BUFFERS_PER_TAP);
        returns.push(free_tx);
        out.push(FrameTap {
            tap,
            tx: tx.clone(),
            free: free_rx,
            spare: None,
            buffers: 0,
            pool_bytes: 0,
            dropped: 0,
        });
    }
    drop(tx);
    let handle = std::thread::Builder::new()
        .name("netflow-pcap".into())
        .spawn(move || write_all(file, link, snaplen, limit, rx, returns))?;
    Ok((out, handle))
}

fn write_all(
    file: File,
    link: LinkType,
    snaplen: u32,
    limit: Option<u64>,
    rx: Receiver<Frame>,
    returns: Vec<SyncSender<Vec<u8>>>,
) -> WriterOutcome {
    let header = PcapHeader {
        snaplen,
        datalink: DataLink::from(u32::from(link.linktype_number())),
        endianness: Endianness::native(),
        ..PcapHeader::default()
    };
    let mut disk = Disk::new(file);
    let mut writer = PcapWriter::with_header(disk.sink(), header)
        .map_err(|e| disk.fail(pcap_file_message(&e)))
        .ok();
    let mut over_limit = 0;
    let limit = limit.unwrap_or(u64::MAX);
    loop {
        let frame = match rx.recv_timeout(IDLE_FLUSH) {
            Ok(frame) => frame,
            Err(RecvTimeoutError::Timeout) => {
                // Idle: put what we have on disk, so the count of whole packets is current.
                if writer.is_some() && disk.flush().is_err() {
                    writer = None;
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if let Some(w) = writer.as_mut() {
            let record = PCAP_RECORD_HEADER + frame.data.len() as u64;
            if disk.offered + record > limit {
                over_limit += 1;
            } else {
                let packet = PcapPacket::new(
                    Duration::from_micros(frame.ts.micros()),
                    frame.wire_len,
                    &frame.data,
                );
                match w.write_packet(&packet) {
                    Ok(_) => disk.packet_written(record),
                    Err(e) => {
                        disk.fail(pcap_file_message(&e));
                        writer = None;
                    }
                }
            }
        }
        let _ = returns[frame.tap].try_send(frame.data);
    }
    if writer.is_some() {
        let _ = disk.flush().and_then(|()| disk.sync());
    }
    disk.finish(over_limit)
}

/// pcap-file says "Error reading bytes" for every I/O error, writes included; the
/// cause (a full disk) is in its source.
pub fn pcap_file_message(e: &pcap_file::PcapError) -> String {
    match e {
        pcap_file::PcapError::IoError(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// A pcap record's own header: seconds, fraction, captured and original lengths.
const PCAP_RECORD_HEADER: u64 = 16;
/// The file header.
const PCAP_FILE_HEADER: u64 = 24;

/// The file behind the pcap writer's buffer, and how much of it is whole packets.
///
/// A packet counts as written only once its last byte reached the file: a full disk
/// fails in the middle of a buffer, so counting the writer's accepted packets would
/// claim packets that never arrived.
struct Disk {
    buf: SharedBuf,
    /// Bytes handed to the buffer (header and packets).
    offered: u64,
    /// End offsets of packets handed over but not yet known to be in the file.
    in_buffer: VecDeque<u64>,
    written: u64,
    whole_bytes: u64,
    error: Option<String>,
}

impl Disk {
    fn new(file: File) -> Disk {
        let counting = Counting {
            file,
            reached: 0,
            closed: false,
        };
        Disk {
            buf: SharedBuf(Rc::new(RefCell::new(BufWriter::with_capacity(
                1 << 20,
                counting,
            )))),
            offered: PCAP_FILE_HEADER,
            in_buffer: VecDeque::new(),
            written: 0,
            whole_bytes: 0,
            error: None,
        }
    }

    fn sink(&self) -> SharedBuf {
        self.buf.clone()
    }

    fn packet_written(&mut self, record: u64) {
        self.offered += record;
        self.in_buffer.push_back(self.offered);
        self.settle();
    }

    /// Moves packets whose bytes all reached the file from "buffered" to "written".
    fn settle(&mut self) {
        let reached = self.buf.0.borrow().get_ref().reached;
        if reached >= PCAP_FILE_HEADER {
            self.whole_bytes = self.whole_bytes.max(PCAP_FILE_HEADER);
        }
        while let Some(&end) = self.in_buffer.front() {
            if end > reached {
                break;
            }
            self.in_buffer.pop_front();
            self.written += 1;
            self.whole_bytes = end;
        }
    }

    fn flush(&mut self) -> Result<(), ()> {
        let flushed = self.buf.flush_now();
        self.settle();
        flushed.map_err(|e| self.fail(e.to_string()))
    }

    fn sync(&mut self) -> Result<(), ()> {
        let synced = self.buf.0.borrow().get_ref().file.sync_all();
        synced.map_err(|e| self.fail(e.to_string()))
    }

    /// Records the first error and cuts the file back to its last whole packet, so
    /// what is there reads as a valid, shorter capture.
    fn fail(&mut self, e: String) {
        self.settle();
        if self.error.is_none() {
            self.error = Some(e);
            let mut buf = self.buf.0.borrow_mut();
            let counting = buf.get_mut();
            let _ = counting.file.set_len(self.whole_bytes);
            // What is still buffered must not land past the cut.
            counting.closed = true;
        }
    }

    fn finish(mut self, over_limit: u64) -> WriterOutcome {
        self.settle();
        WriterOutcome {
            written: self.written,
            error: self.error,
            over_limit,
        }
    }
}

/// The file, counting the bytes that reached it.
struct Counting {
    file: File,
    reached: u64,
    /// Set after a failed write: later bytes are discarded.
    closed: bool,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let n = self.file.write(buf)?;
        self.reached += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// How long the writer waits for frames before flushing its buffer to disk.
const IDLE_FLUSH: Duration = Duration::from_millis(200);

/// The file's buffer, shared between the pcap writer (which owns its sink) and the
/// thread loop (which flushes it when idle). Single-threaded: `Rc<RefCell>` suffices.
#[derive(Clone)]
struct SharedBuf(Rc<RefCell<BufWriter<Counting>>>);

impl SharedBuf {
    fn flush_now(&self) -> std::io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.flush_now()
    }
}
