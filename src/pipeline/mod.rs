//! The composition root: threads, bounded queues and the clock.
//!
//! Owns the capture threads (one per interface), the engine thread behind a bounded
//! queue, the rescan thread and the pcap writer, and the order in which they stop; and
//! where each OS input comes from (`source`: this host, or a replay of files).
//! Does not parse, match or format: it wires `os` to the pure core.
#![allow(
    clippy::disallowed_methods,
    reason = "the pipeline reads the clock for the capture window and scan times"
)]

mod crew;
mod intake;
mod rescan;
mod session;
mod socklog;
mod source;

use std::io::{Seek, SeekFrom};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use intake::{CaptureTally, Intake, WhenFull};
pub use rescan::Control;
pub use session::{Session, Snapshot, SnapshotRequest};
pub use source::{Replay, ReplayFile, Sources};

use crate::attrib::{LoggedSocket, SocketTable};
use crate::engine::{Engine, RescanRequest};
use crate::error::{Error, SocketLogError};
use crate::model::Timestamp;
use crate::os::capture::{self, CaptureSettings, Stopper};
use crate::os::ebpf::{RelocatedSocketLog, SocketLogProbe};
use crate::os::output::NewFile;
use crate::os::pcap_out::WriterOutcome;
use crate::os::pcapng;
use crate::report::{Ranking, Report, SocketLogState, SocketLogStatus};
use crate::wire::PacketSummary;
use crew::Crew;
use source::{Capture, Host};

/// What flows from the capture and rescan threads to the engine thread.
pub enum Event {
    /// Up to [`intake::BATCH`] packets from one capture thread, in capture order.
    Packets(Vec<PacketSummary>),
    Scan(Box<SocketTable>),
    /// Sockets the kernel logged, with their processes.
    SocketLog(Vec<LoggedSocket>),
}

/// Whether to load the kernel socket log (`--ebpf`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketLogMode {
    /// Load it if the kernel and privileges allow; else /proc only, said in the report.
    Auto,
    /// Load it or fail.
    On,
    Off,
}

/// A validated snapshot request. Building one cannot fail; [`prepare`] checks it
/// against the OS.
#[derive(Debug)]
pub(crate) struct SnapshotConfig {
    pub interfaces: Vec<String>,
    pub duration: Duration,
    pub capture: CaptureSettings,
    pub rescan_interval: Duration,
    /// Packets the queue between capture and engine holds; beyond it they are dropped.
    pub queue_capacity: usize,
    /// Packets that may wait for a scan at once.
    pub pending_capacity: usize,
    /// Where `-w` packets go; [`Prepared::set_pcap`] sets it once the capture handles
    /// are open.
    pub pcap: Option<PcapTarget>,
    pub ranking: Ranking,
    pub socket_log: SocketLogMode,
}

/// Where `-w` packets go: new files, named only when the capture is complete.
#[derive(Debug)]
pub(crate) struct PcapTarget {
    /// The classic pcap capture writes into; for a classic target, the target itself.
    pub capture: NewFile,
    /// For pcapng: the target, into which `capture` is converted at the end (with a
    /// comment per packet naming its process); `capture` then vanishes, unless the
    /// conversion fails (a full disk): then it is kept as `NAME.pcap` beside it.
    pub annotated: Option<NewFile>,
    /// Stop writing packets (not capturing) once the file would exceed this many bytes.
    pub limit: Option<u64>,
}

/// A finished snapshot.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub report: Report,
    /// False when something the report describes is incomplete: the pcap file could not
    /// be written whole, or an interface failed during capture (exit status 1).
    pub complete: bool,
}

/// Handles open, filters compiled: everything that can fail before capture has.
pub(crate) struct Prepared {
    config: SnapshotConfig,
    captures: Vec<Capture>,
    self_limits: Vec<String>,
    probe: ProbeState,
    warnings: Vec<String>,
    host: Host,
}

/// Opens every capture handle (live) or file (a replay, which loads no socket log).
/// Fails before any packet is read.
pub(crate) fn prepare(config: SnapshotConfig, host: Host) -> Result<Prepared, Error> {
    let (captures, probe) = match &host {
        Host::Live => open_live(&config)?,
        Host::Fixture(fixture) => (fixture.open_files(&config.capture)?, ProbeState::Off),
    };
    Ok(Prepared {
        config,
        captures,
        self_limits: Vec::new(),
        probe,
        warnings: Vec::new(),
        host,
    })
}

/// The live capture handles, and the kernel socket log on its way.
fn open_live(config: &SnapshotConfig) -> Result<(Vec<Capture>, ProbeState), Error> {
    // The socket log's relocation holds the kernel's parsed BTF (~17 MB for ~20 ms):
    // done before the capture rings are mapped (each counts in full at once), so the
    // two never add up. The kernel then verifies its programs while the handles open.
    let loading = (config.socket_log != SocketLogMode::Off)
        .then(|| {
            let relocated = SocketLogProbe::relocate();
            spawn("netflow-bpf-load", move || {
                relocated.and_then(RelocatedSocketLog::attach)
            })
        })
        .transpose()?;
    let captures = config
        .interfaces
        .iter()
        .map(|iface| capture::open(iface, &config.capture).map(Capture::Live))
        .collect::<Result<Vec<_>, _>>()?;
    // `on` must fail here, before capture; `auto` waits for the load only once the
    // capture threads run (see `Prepared::run`).
    let probe = match (config.socket_log, loading) {
        (SocketLogMode::On, Some(loading)) => {
            let probe = join_load(loading).map_err(Error::SocketLog)?;
            ProbeState::Ready(Box::new(probe))
        }
        (_, Some(loading)) => ProbeState::Loading(loading),
        (_, None) => ProbeState::Off,
    };
    Ok((captures, probe))
}

/// The kernel socket log on its way.
enum ProbeState {
    Off,
    Loading(JoinHandle<Result<SocketLogProbe, SocketLogError>>),
    Ready(Box<SocketLogProbe>),
}

impl ProbeState {
    /// The loaded probe (waiting for it if need be) and what the report says of it.
    fn finish(self) -> (Option<SocketLogProbe>, SocketLogStatus) {
        let loaded = match self {
            ProbeState::Off => return (None, SocketLogStatus::off()),
            ProbeState::Loading(loading) => join_load(loading),
            ProbeState::Ready(probe) => Ok(*probe),
        };
        match loaded {
            Ok(probe) => {
                let status = SocketLogStatus {
                    state: SocketLogState::Active,
                    hooks: probe.hooks.iter().map(|h| h.to_string()).collect(),
                    ..SocketLogStatus::off()
                };
                (Some(probe), status)
            }
            Err(e) => (None, SocketLogStatus::unavailable(e.to_string())),
        }
    }
}

fn join_load(
    loading: JoinHandle<Result<SocketLogProbe, SocketLogError>>,
) -> Result<SocketLogProbe, SocketLogError> {
    loading
        .join()
        .unwrap_or_else(|_| Err(SocketLogError::Panicked))
}

/// Progress while capturing, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub elapsed: Duration,
    pub total: Duration,
    pub packets: u64,
}

/// How often the main thread checks for the end and reports progress.
const TICK: Duration = Duration::from_millis(100);

impl Prepared {
    /// A warning for the report, known before capture (missing capabilities).
    pub fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
    }

    /// Records the self-limits in force, for the report.
    pub fn set_self_limits(&mut self, limits: Vec<String>) {
        self.self_limits = limits;
    }

    /// Fails when the interfaces' link types differ: a pcap file holds one.
    pub fn check_pcap(&self) -> Result<(), Error> {
        let first = &self.captures[0];
        match self.captures.iter().find(|c| c.link() != first.link()) {
            Some(other) => Err(Error::Usage(format!(
                "-w writes one link type, but `{}` and `{}` differ (capture them with -i any)",
                first.iface(),
                other.iface()
            ))),
            None => Ok(()),
        }
    }

    /// Adds the pcap target, created once everything else is ready.
    pub fn set_pcap(&mut self, target: PcapTarget) {
        self.config.pcap = Some(target);
    }

    /// Captures until the duration passes, `stop` is set (by a signal), every
    /// interface failed or (a replay) every file was read, then finishes the report
    /// from everything captured.
    ///
    /// Fails only when a thread cannot be started (a pids limit, say).
    pub fn run(
        self,
        stop: Arc<AtomicBool>,
        on_progress: impl FnMut(Progress),
    ) -> Result<Outcome, Error> {
        let crew = Crew::start(self)?;
        let stopped_by = crew.wait(&stop, on_progress);
        // Capture is over: a signal from now on insists (it ends netflow at once), as
        // a second one would, so `timeout` or a stuck output never leaves it hanging.
        stop.store(true, Ordering::SeqCst);
        Ok(crew.finish(stopped_by))
    }
}

/// Runs a whole snapshot without progress reports: [`Session::open`] then
/// [`Session::run`].
pub fn run_snapshot(request: SnapshotRequest) -> Result<Snapshot, Error> {
    Session::open(request)?.run(|_| {})
}

fn stop_capture(capture_stop: &AtomicBool, stoppers: &[Stopper]) {
    capture_stop.store(true, Ordering::Relaxed);
    for s in stoppers {
        s.stop();
    }
}

/// Names the capture: converted to pcapng when asked (keeping the classic capture as
/// `NAME.pcap` beside it if that fails), else as it is. Returns what went wrong.
fn finish_pcap(
    target: PcapTarget,
    annotate: impl FnMut(Timestamp, &[u8], u32) -> String,
) -> Result<(), String> {
    let PcapTarget {
        capture, annotated, ..
    } = target;
    let Some(annotated) = annotated else {
        return capture
            .commit()
            .map_err(|e| format!("the pcap file could not be put in place: {e}"));
    };
    let converted = capture
        .file()
        .try_clone()
        .and_then(|mut classic| classic.seek(SeekFrom::Start(0)).map(|_| classic))
        .map_err(|e| e.to_string())
        .and_then(|classic| pcapng::convert(classic, annotated.file(), annotate));
    let keep = session::classic_fallback(annotated.path())
        .unwrap_or_else(|| annotated.path().with_extension("pcap"));
    let failure = match converted {
        Ok(_) => match annotated.commit() {
            Ok(()) => return Ok(()),
            Err(e) => e.to_string(),
        },
        Err(e) => e,
    };
    let name = keep.file_name().unwrap_or_default().to_owned();
    Err(match capture.keep_as_new(&name) {
        Ok(()) => format!(
            "the pcapng file could not be written ({failure}); the capture is kept as classic pcap in {}",
            keep.display()
        ),
        Err(e) => format!(
            "the pcapng file could not be written ({failure}), nor the classic capture kept as {} ({e})",
            keep.display()
        ),
    })
}

fn thread_error(e: std::io::Error) -> Error {
    Error::Thread(e)
}

fn run_engine(mut engine: Engine, events: Receiver<Event>, control: SyncSender<Control>) -> Engine {
    for event in events {
        match event {
            Event::Packets(batch) => {
                for p in &batch {
                    engine.packet(p);
                }
            }
            Event::Scan(table) => engine.apply_scan(*table),
            Event::SocketLog(sockets) => engine.apply_socket_log(sockets),
        }
        // The engine asks each kind once per table, so the channel never fills.
        match engine.take_rescan_request() {
            Some(RescanRequest::Early) => {
                let _ = control.try_send(Control::Early);
            }
            Some(RescanRequest::Periodic) => {
                let _ = control.try_send(Control::Periodic);
            }
            None => {}
        }
    }
    engine
}

fn merge_tally(into: &mut CaptureTally, t: &CaptureTally) {
    into.captured.merge(t.captured);
    for (a, b) in into.skipped.iter_mut().zip(t.skipped.iter()) {
        a.merge(*b);
    }
    into.queue_dropped.merge(t.queue_dropped);
    into.pcap_dropped += t.pcap_dropped;
}

fn pcap_warnings(outcome: &WriterOutcome, dropped: u64) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(e) = &outcome.error {
        w.push(format!(
            "the pcap file is incomplete: writing it failed ({e}); {} packets were written",
            outcome.written
        ));
    }
    if dropped > 0 {
        w.push(format!(
            "the pcap file is missing {dropped} packets: its writer fell behind"
        ));
    }
    if outcome.over_limit > 0 {
        w.push(format!(
            "the pcap file stopped at --write-limit after {} packets; {} later packets are in the report but not in the file",
            outcome.written, outcome.over_limit
        ));
    }
    w
}

fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, Error> {
    thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map_err(thread_error)
}

fn timestamp(t: SystemTime) -> Timestamp {
    Timestamp::from_micros(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_micros() as u64)
}
