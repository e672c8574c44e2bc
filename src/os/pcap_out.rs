//! The pcap file written with `-w`: its own thread, fed frames in recycled buffers.
//!
//! Capture threads copy a frame into a buffer taken from their free list and send it
//! here without blocking; the writer returns the buffer. In steady state nothing is
//! allocated per packet, and a slow disk costs pcap completeness, never capture.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::rc::Rc;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness};

use crate::error::Error;
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

/// Creates the pcap file (mode 0600: it holds payloads) before capture starts.
pub fn create(path: &Path) -> Result<File, Error> {
    if path.is_dir() {
        return Err(Error::Output {
            path: path.display().to_string(),
            source: std::io::Error::other("is a directory"),
        });
    }
    open_private(path, OpenOptions::new().create(true).truncate(true))
}

/// Creates a new temporary capture file (mode 0600), refusing to follow or reuse an
/// existing path: nobody can plant a file or symlink there for netflow to write through.
pub fn create_new(path: &Path) -> Result<File, Error> {
    open_private(path, OpenOptions::new().create_new(true))
}

/// Opens for writing with mode 0600, never through a symlink.
fn open_private(path: &Path, options: &mut OpenOptions) -> Result<File, Error> {
    options
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|source| Error::Output {
            path: path.display().to_string(),
            source,
        })
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
    pub written: u64,
    /// The first write error; later frames were discarded.
    pub error: Option<String>,
}

/// Starts the writer thread and makes one tap per capture thread.
pub fn start(
    file: File,
    link: LinkType,
    snaplen: u32,
    taps: usize,
) -> (Vec<FrameTap>, JoinHandle<WriterOutcome>) {
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
        .spawn(move || write_all(file, link, snaplen, rx, returns))
        .expect("spawning the pcap writer thread");
    (out, handle)
}

fn write_all(
    file: File,
    link: LinkType,
    snaplen: u32,
    rx: Receiver<Frame>,
    returns: Vec<SyncSender<Vec<u8>>>,
) -> WriterOutcome {
    let mut outcome = WriterOutcome::default();
    let header = PcapHeader {
        snaplen,
        datalink: DataLink::from(u32::from(link.linktype_number())),
        endianness: Endianness::native(),
        ..PcapHeader::default()
    };
    let shared = SharedBuf(Rc::new(RefCell::new(BufWriter::with_capacity(
        1 << 20,
        file,
    ))));
    let mut writer = match PcapWriter::with_header(shared.clone(), header) {
        Ok(w) => Some(w),
        Err(e) => {
            outcome.error = Some(e.to_string());
            None
        }
    };
    // The header is on disk before the first packet: a reader (or a test waiting for
    // capture to start) sees a valid, empty pcap file at once.
    let fail = |outcome: &mut WriterOutcome, e: String| {
        if outcome.error.is_none() {
            outcome.error = Some(e);
        }
    };
    if let Err(e) = shared.flush_now() {
        fail(&mut outcome, e.to_string());
        writer = None;
    }
    loop {
        let frame = match rx.recv_timeout(IDLE_FLUSH) {
            Ok(frame) => frame,
            Err(RecvTimeoutError::Timeout) => {
                // Idle: put what we have on disk, so a killed netflow leaves a useful file.
                if writer.is_some() {
                    if let Err(e) = shared.flush_now() {
                        fail(&mut outcome, e.to_string());
                        writer = None;
                    }
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if let Some(w) = writer.as_mut() {
            let packet = PcapPacket::new(
                Duration::from_micros(frame.ts.micros()),
                frame.wire_len,
                &frame.data,
            );
            match w.write_packet(&packet) {
                Ok(_) => outcome.written += 1,
                Err(e) => {
                    fail(&mut outcome, e.to_string());
                    writer = None;
                }
            }
        }
        let _ = returns[frame.tap].try_send(frame.data);
    }
    if writer.is_some() {
        let synced = shared
            .flush_now()
            .and_then(|()| shared.0.borrow().get_ref().sync_all());
        if let Err(e) = synced {
            fail(&mut outcome, e.to_string());
        }
    }
    outcome
}

/// How long the writer waits for frames before flushing its buffer to disk.
const IDLE_FLUSH: Duration = Duration::from_millis(200);

/// The file's buffer, shared between the pcap writer (which owns its sink) and the
/// thread loop (which flushes it when idle). Single-threaded: `Rc<RefCell>` suffices.
#[derive(Clone)]
struct SharedBuf(Rc<RefCell<BufWriter<File>>>);

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
