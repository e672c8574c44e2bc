//! The composition root: threads, bounded queues and the clock.
//!
//! Owns the capture threads (one per interface), the engine thread behind a bounded
//! queue, the rescan thread and the pcap writer, and the order in which they stop.
//! Does not parse, match or format: it wires `os` to the pure core.
#![allow(
    clippy::disallowed_methods,
    reason = "the pipeline reads the clock for the capture window and scan times"
)]

mod intake;
mod rescan;
mod socklog;

use std::io::{Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use intake::{CaptureTally, Intake};
pub use rescan::Control;

use crate::annotate::Annotator;
use crate::attrib::{LoggedSocket, SocketTable};
use crate::engine::{Engine, EngineConfig, RescanRequest};
use crate::error::{Error, SocketLogError};
use crate::model::{Timestamp, Unattributed};
use crate::os::capture::{self, CaptureSettings, KernelStats, OpenCapture, Stopper};
use crate::os::ebpf::{RelocatedSocketLog, SocketLogProbe};
use crate::os::host::hostname;
use crate::os::output::NewFile;
use crate::os::pcap_out::{self, WriterOutcome};
use crate::os::pcapng;
use crate::os::procfs::{self, ProcScanner};
use crate::report::{
    CaptureFacts, Dropped, InterfaceStats, Ranking, Report, SocketLogState, SocketLogStatus,
    StoppedBy,
};
use crate::wire::PacketSummary;

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
pub struct SnapshotConfig {
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
pub struct PcapTarget {
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
pub struct Outcome {
    pub report: Report,
    /// False when something the report describes is incomplete: the pcap file could not
    /// be written whole, or an interface failed during capture (exit status 1).
    pub complete: bool,
}

/// Handles open, filters compiled: everything that can fail before capture has.
pub struct Prepared {
    config: SnapshotConfig,
    captures: Vec<OpenCapture>,
    self_limits: Vec<String>,
    probe: ProbeState,
    warnings: Vec<String>,
}

/// Opens every capture handle. Fails before any packet is read.
pub fn prepare(config: SnapshotConfig) -> Result<Prepared, Error> {
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
        .map(|iface| capture::open(iface, &config.capture))
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
    Ok(Prepared {
        config,
        captures,
        self_limits: Vec::new(),
        probe,
        warnings: Vec::new(),
    })
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
        match self.captures.iter().find(|c| c.link != first.link) {
            Some(other) => Err(Error::Usage(format!(
                "-w writes one link type, but `{}` and `{}` differ (capture them with -i any)",
                first.iface, other.iface
            ))),
            None => Ok(()),
        }
    }

    /// Adds the pcap target, created once everything else is ready.
    pub fn set_pcap(&mut self, target: PcapTarget) {
        self.config.pcap = Some(target);
    }

    /// Captures until the duration passes or `stop` is set (by a signal), then
    /// finishes the report from everything captured.
    ///
    /// Fails only when a thread cannot be started (a pids limit, say).
    pub fn run(
        self,
        stop: Arc<AtomicBool>,
        mut on_progress: impl FnMut(Progress),
    ) -> Result<Outcome, Error> {
        let Prepared {
            config,
            captures,
            self_limits,
            probe,
            warnings: early_warnings,
        } = self;
        let interfaces: Vec<String> = captures.iter().map(|c| c.iface.clone()).collect();
        let start_wall = SystemTime::now();
        let start = timestamp(start_wall);
        let began = Instant::now();

        // The queue holds batches; its capacity in packets is what --queue-size says.
        let (events_tx, events_rx) =
            sync_channel::<Event>((config.queue_capacity / intake::BATCH).max(2));
        let (control_tx, control_rx) = sync_channel::<Control>(4);

        let local = crate::os::interfaces::local_addresses();
        let engine = Engine::new(EngineConfig {
            start,
            series_buckets: config.duration.as_secs() as usize + 2,
            pending_capacity: config.pending_capacity,
            local_addrs: local,
            own_netns: procfs::own_netns(),
        });
        let engine_thread = spawn("netflow-engine", {
            let control_tx = control_tx.clone();
            move || run_engine(engine, events_rx, control_tx)
        })?;
        let rescan_thread = spawn("netflow-rescan", {
            let events_tx = events_tx.clone();
            let interval = config.rescan_interval;
            move || rescan::run(ProcScanner::live(), interval, control_rx, events_tx)
        })?;

        let link = captures[0].link;
        let mut pcap = None;
        let (mut taps, writer) = match config.pcap {
            Some(target) => {
                let file = target.capture.file().try_clone().map_err(Error::Io)?;
                let (taps, handle) = pcap_out::start(
                    file,
                    captures[0].link,
                    config.capture.snaplen as u32,
                    target.limit,
                    captures.len(),
                )
                .map_err(thread_error)?;
                pcap = Some(target);
                (taps.into_iter().map(Some).collect(), Some(handle))
            }
            None => ((0..captures.len()).map(|_| None).collect::<Vec<_>>(), None),
        };
        let capture_stop = Arc::new(AtomicBool::new(false));
        let mut captures = captures;
        let stoppers: Vec<Stopper> = captures.iter_mut().map(OpenCapture::stopper).collect();
        let counters_before: Vec<_> = interfaces
            .iter()
            .map(|i| crate::os::interfaces::counters(i))
            .collect();
        let progress: Vec<Arc<AtomicU64>> = (0..captures.len())
            .map(|_| Arc::new(AtomicU64::new(0)))
            .collect();
        let capture_threads: Vec<JoinHandle<(CaptureTally, KernelStats, Option<String>)>> =
            captures
                .into_iter()
                .zip(taps.drain(..))
                .zip(progress.iter())
                .map(|((cap, tap), counter)| {
                    let mut intake =
                        Intake::new(cap.link, start, events_tx.clone(), tap, counter.clone());
                    let capture_stop = capture_stop.clone();
                    spawn(&format!("netflow-cap-{}", cap.iface), move || {
                        let (kernel, failure) = cap.run(&capture_stop, &mut intake);
                        (intake.finish(), kernel, failure.map(|e| e.to_string()))
                    })
                })
                .collect::<Result<_, _>>()
                .inspect_err(|_| stop_capture(&capture_stop, &stoppers))?;
        let (probe, mut socket_log) = probe.finish();
        let socklog_stop = Arc::new(AtomicBool::new(false));
        let socklog_thread = probe
            .map(|probe| {
                let events_tx = events_tx.clone();
                let stop = socklog_stop.clone();
                spawn("netflow-socklog", move || {
                    socklog::run(probe, stop, events_tx)
                })
            })
            .transpose()
            .inspect_err(|_| stop_capture(&capture_stop, &stoppers))?;
        drop(events_tx);

        let stopped_by = loop {
            let elapsed = began.elapsed();
            if stop.load(Ordering::Relaxed) {
                break StoppedBy::Signal;
            }
            if elapsed >= config.duration {
                break StoppedBy::Duration;
            }
            // Every interface failed (vanished, went down): nothing is left to capture.
            if capture_threads.iter().all(|t| t.is_finished()) {
                break StoppedBy::InterfacesFailed;
            }
            on_progress(Progress {
                elapsed,
                total: config.duration,
                packets: progress.iter().map(|c| c.load(Ordering::Relaxed)).sum(),
            });
            thread::sleep(TICK.min(config.duration - elapsed));
        };
        let duration = began.elapsed();
        stop_capture(&capture_stop, &stoppers);

        let mut tally = CaptureTally::default();
        let mut kernel = KernelStats::default();
        let mut warnings = early_warnings;
        let mut interface_stats = Vec::with_capacity(interfaces.len());
        let mut complete = true;
        for ((t, name), before) in capture_threads
            .into_iter()
            .zip(&interfaces)
            .zip(counters_before)
        {
            let (t_tally, t_kernel, failure) = t.join().expect("capture thread panicked");
            interface_stats.push(InterfaceStats::new(
                name.clone(),
                t_tally.captured,
                t_kernel.dropped,
                before,
                crate::os::interfaces::counters(name),
            ));
            merge_tally(&mut tally, &t_tally);
            kernel.dropped += t_kernel.dropped;
            kernel.if_dropped += t_kernel.if_dropped;
            complete &= failure.is_none();
            warnings.extend(failure);
        }
        if kernel.dropped > 0 {
            warnings.push(format!(
                "the kernel dropped {} packets before netflow read them (its capture buffer filled): a larger --buffer-size, e.g. 64M, keeps more",
                kernel.dropped
            ));
        }
        // Every packet and every socket record is queued before the final scan is
        // requested, so the engine sees the final scan after them.
        socklog_stop.store(true, Ordering::Release);
        if let Some(t) = socklog_thread {
            let tally = t.join().expect("socket log thread panicked");
            socket_log.records = tally.records;
            socket_log.lost = tally.lost;
            if tally.lost > 0 {
                warnings.push(format!(
                    "the kernel socket log dropped {} records (netflow read too slowly); their sockets fell back to /proc",
                    tally.lost
                ));
            }
        }
        let _ = control_tx.send(Control::Final);
        drop(control_tx);
        rescan_thread.join().expect("rescan thread panicked");
        let mut engine = engine_thread.join().expect("engine thread panicked");

        for reason in Unattributed::ALL {
            engine.count_unattributed(reason, tally.skipped[reason.index()]);
        }
        if let Some(writer) = writer {
            let outcome = writer.join().expect("pcap writer panicked");
            complete &= outcome.error.is_none();
            warnings.extend(pcap_warnings(&outcome, tally.pcap_dropped));
        }
        let finished = engine.finish(|key| procfs::is_running(Path::new("/proc"), key));
        if let Some(target) = pcap {
            let annotate =
                |ts, frame: &[u8], len| Annotator::new(&finished).comment(link, ts, frame, len);
            if let Err(problem) = finish_pcap(target, annotate) {
                complete = false;
                warnings.push(problem);
            }
        }
        let facts = CaptureFacts {
            host: hostname(),
            start_time: humantime::format_rfc3339_seconds(start_wall).to_string(),
            start_unix_seconds: start_wall
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64(),
            duration_secs: duration.as_secs_f64(),
            stopped_by,
            interfaces,
            interface_stats,
            self_limits,
            filter: config.capture.filter.clone(),
            captured: tally.captured,
            dropped: Dropped {
                queue: tally.queue_dropped,
                kernel_packets: kernel.dropped,
                interface_packets: kernel.if_dropped,
            },
            socket_log,
            warnings,
        };
        Ok(Outcome {
            report: Report::build(&finished, facts, config.ranking),
            complete,
        })
    }
}

/// Runs a whole snapshot: the library entry point for other programs.
pub fn run_snapshot(config: SnapshotConfig, stop: Arc<AtomicBool>) -> Result<Outcome, Error> {
    prepare(config)?.run(stop, |_| {})
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
    let keep = annotated.path().with_extension("pcap");
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
