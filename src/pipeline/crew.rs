//! The threads of a running snapshot: started in one place, stopped in one order.
//!
//! The stop order is what makes the report whole: (1) capture threads stop and hand on
//! their last batches; (2) the socket log thread stops and hands on its last records;
//! (3) only then is the final scan asked for, so the engine sees it after every packet
//! and record; (4) the rescan thread ends, and the engine drains the queue and ends;
//! (5) the pcap writer ends (its taps went with the capture threads); (6) the pcap file
//! is named, converted to pcapng when asked.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::intake::{self, CaptureTally, Intake};
use super::rescan::{self, Control};
use super::socklog::{self, SocketLogTally};
use super::{
    finish_pcap, merge_tally, pcap_warnings, run_engine, spawn, stop_capture, thread_error,
    timestamp, Event, Outcome, PcapTarget, Prepared, Progress, SnapshotConfig, TICK,
};
use crate::engine::{Engine, EngineConfig};
use crate::error::Error;
use crate::model::{Timestamp, Unattributed};
use crate::os::capture::{KernelStats, OpenCapture, Stopper};
use crate::os::interfaces::{self, LinkCounters};
use crate::os::pcap_out::{self, FrameTap, WriterOutcome};
use crate::os::procfs::{self, ProcScanner};
use crate::report::{CaptureFacts, Dropped, InterfaceStats, Report, SocketLogStatus};
use crate::wire::LinkType;

type CaptureResult = (CaptureTally, KernelStats, Option<String>);
/// One tap per capture thread (none without a pcap file) and the writer's thread.
type Writer = (Vec<Option<FrameTap>>, Option<JoinHandle<WriterOutcome>>);

/// Everything running, and what stopping it needs.
pub(super) struct Crew {
    config: SnapshotConfig,
    interfaces: Vec<String>,
    link: LinkType,
    start_wall: SystemTime,
    began: Instant,
    engine: Option<JoinHandle<Engine>>,
    rescan: Option<JoinHandle<()>>,
    control: Option<SyncSender<Control>>,
    pcap: Option<PcapTarget>,
    writer: Option<JoinHandle<WriterOutcome>>,
    capture_stop: Arc<AtomicBool>,
    stoppers: Vec<Stopper>,
    counters_before: Vec<Option<LinkCounters>>,
    progress: Vec<Arc<AtomicU64>>,
    captures: Vec<JoinHandle<CaptureResult>>,
    socklog_stop: Arc<AtomicBool>,
    socklog: Option<JoinHandle<SocketLogTally>>,
    socket_log: SocketLogStatus,
    self_limits: Vec<String>,
    warnings: Vec<String>,
}

/// What the stopped threads left: the engine with every packet applied, and the
/// capture's own numbers.
struct Stopped {
    engine: Engine,
    tally: CaptureTally,
    kernel: KernelStats,
    interface_stats: Vec<InterfaceStats>,
    writer: Option<WriterOutcome>,
    complete: bool,
}

impl Crew {
    /// Starts the engine, rescan, pcap writer, capture and socket log threads. A
    /// thread that cannot start stops those started (exit 1, never a panic).
    pub(super) fn start(prepared: Prepared) -> Result<Crew, Error> {
        let Prepared {
            mut config,
            mut captures,
            self_limits,
            probe,
            warnings,
        } = prepared;
        let interfaces: Vec<String> = captures.iter().map(|c| c.iface.clone()).collect();
        let link = captures[0].link;
        let (start_wall, began) = (SystemTime::now(), Instant::now());
        let start = timestamp(start_wall);

        let Core {
            events: events_tx,
            engine: engine_thread,
            rescan: rescan_thread,
            control: control_tx,
        } = start_core(&config, start)?;

        let pcap = config.pcap.take();
        let (taps, writer) = start_writer(&pcap, link, &config, captures.len())?;
        let capture_stop = Arc::new(AtomicBool::new(false));
        let stoppers: Vec<Stopper> = captures.iter_mut().map(OpenCapture::stopper).collect();
        let counters_before = interfaces.iter().map(|i| interfaces::counters(i)).collect();
        let progress: Vec<Arc<AtomicU64>> = (0..captures.len())
            .map(|_| Arc::new(AtomicU64::new(0)))
            .collect();
        let capture_threads = captures
            .into_iter()
            .zip(taps)
            .zip(&progress)
            .map(|((cap, tap), counter)| {
                let intake = Intake::new(cap.link, start, events_tx.clone(), tap, counter.clone());
                spawn_capture(cap, intake, capture_stop.clone())
            })
            .collect::<Result<Vec<_>, _>>()
            .inspect_err(|_| stop_capture(&capture_stop, &stoppers))?;

        // The socket log's programs verified while the handles opened; `auto` waits
        // for them only now, with capture already running.
        let (probe, socket_log) = probe.finish();
        let socklog_stop = Arc::new(AtomicBool::new(false));
        let socklog_thread = probe
            .map(|probe| {
                let (events_tx, stop) = (events_tx.clone(), socklog_stop.clone());
                spawn("netflow-socklog", move || {
                    socklog::run(probe, stop, events_tx)
                })
            })
            .transpose()
            .inspect_err(|_| stop_capture(&capture_stop, &stoppers))?;
        Ok(Crew {
            config,
            interfaces,
            link,
            start_wall,
            began,
            engine: Some(engine_thread),
            rescan: Some(rescan_thread),
            control: Some(control_tx),
            pcap,
            writer,
            capture_stop,
            stoppers,
            counters_before,
            progress,
            captures: capture_threads,
            socklog_stop,
            socklog: socklog_thread,
            socket_log,
            self_limits,
            warnings,
        })
    }

    /// Waits for the end: the duration, the stop flag, or every interface failed.
    pub(super) fn wait(
        &self,
        stop: &AtomicBool,
        mut on_progress: impl FnMut(Progress),
    ) -> &'static str {
        let total = self.config.duration;
        loop {
            let elapsed = self.began.elapsed();
            if stop.load(Ordering::Relaxed) {
                return "signal";
            }
            if elapsed >= total {
                return "duration";
            }
            // Every interface failed (vanished, went down): nothing is left to capture.
            if self.captures.iter().all(|t| t.is_finished()) {
                return "interfaces_failed";
            }
            on_progress(Progress {
                elapsed,
                total,
                packets: self
                    .progress
                    .iter()
                    .map(|c| c.load(Ordering::Relaxed))
                    .sum(),
            });
            thread::sleep(TICK.min(total - elapsed));
        }
    }

    /// Stops everything in the order the module documents and builds the report.
    pub(super) fn finish(mut self, stopped_by: &'static str) -> Outcome {
        let duration = self.began.elapsed();
        let stopped = self.stop();
        let Stopped {
            engine,
            tally,
            kernel,
            interface_stats,
            writer,
            mut complete,
        } = stopped;
        if let Some(outcome) = &writer {
            complete &= outcome.error.is_none();
            self.warnings
                .extend(pcap_warnings(outcome, tally.pcap_dropped));
        }
        let finished = engine.finish(|key| procfs::is_running(Path::new("/proc"), key));
        if let Some(target) = self.pcap.take() {
            let link = self.link;
            let annotate = |ts, frame: &[u8], len| {
                finished
                    .annotator
                    .comment(&finished.ledger, link, ts, frame, len)
            };
            if let Err(problem) = finish_pcap(target, annotate) {
                complete = false;
                self.warnings.push(problem);
            }
        }
        let start_wall = self.start_wall;
        let facts = CaptureFacts {
            host: super::hostname(),
            start_time: humantime::format_rfc3339_seconds(start_wall).to_string(),
            start_unix_seconds: start_wall
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64(),
            duration_secs: duration.as_secs_f64(),
            stopped_by: stopped_by.to_string(),
            interfaces: self.interfaces,
            interface_stats,
            self_limits: self.self_limits,
            filter: self.config.capture.filter.clone(),
            captured: tally.captured,
            dropped: Dropped {
                queue: tally.queue_dropped,
                kernel_packets: kernel.dropped,
                interface_packets: kernel.if_dropped,
            },
            socket_log: self.socket_log,
            warnings: self.warnings,
        };
        Outcome {
            report: Report::build(&finished, facts, self.config.ranking),
            complete,
        }
    }

    /// Steps (1) to (5) of the stop order.
    fn stop(&mut self) -> Stopped {
        stop_capture(&self.capture_stop, &self.stoppers);
        let mut tally = CaptureTally::default();
        let mut kernel = KernelStats::default();
        let mut interface_stats = Vec::with_capacity(self.interfaces.len());
        let mut complete = true;
        let joined = std::mem::take(&mut self.captures)
            .into_iter()
            .zip(&self.interfaces)
            .zip(std::mem::take(&mut self.counters_before));
        for ((t, name), before) in joined {
            let (t_tally, t_kernel, failure) = t.join().expect("capture thread panicked");
            interface_stats.push(InterfaceStats::new(
                name.clone(),
                t_tally.captured,
                t_kernel.dropped,
                before,
                interfaces::counters(name),
            ));
            merge_tally(&mut tally, &t_tally);
            kernel.dropped += t_kernel.dropped;
            kernel.if_dropped += t_kernel.if_dropped;
            complete &= failure.is_none();
            self.warnings.extend(failure);
        }
        if kernel.dropped > 0 {
            self.warnings.push(format!(
                "the kernel dropped {} packets before netflow read them (its capture buffer filled): a larger --buffer-size, e.g. 64M, keeps more",
                kernel.dropped
            ));
        }
        self.stop_socket_log();
        if let Some(control) = self.control.take() {
            let _ = control.send(Control::Final);
        }
        if let Some(rescan) = self.rescan.take() {
            rescan.join().expect("rescan thread panicked");
        }
        let engine = self.engine.take().expect("the engine runs until stopped");
        let mut engine = engine.join().expect("engine thread panicked");
        for reason in Unattributed::ALL {
            engine.count_unattributed(reason, tally.skipped[reason.index()]);
        }
        let writer = self
            .writer
            .take()
            .map(|w| w.join().expect("pcap writer panicked"));
        Stopped {
            engine,
            tally,
            kernel,
            interface_stats,
            writer,
            complete,
        }
    }

    /// Step (2): the socket log's last records are queued before the final scan.
    fn stop_socket_log(&mut self) {
        self.socklog_stop.store(true, Ordering::Release);
        if let Some(t) = self.socklog.take() {
            let tally = t.join().expect("socket log thread panicked");
            self.socket_log.records = tally.records;
            self.socket_log.lost = tally.lost;
            if tally.lost > 0 {
                self.warnings.push(format!(
                    "the kernel socket log dropped {} records (netflow read too slowly); their sockets fell back to /proc",
                    tally.lost
                ));
            }
        }
    }
}

/// The engine thread behind the bounded queue, and the rescan thread feeding it.
struct Core {
    events: SyncSender<Event>,
    engine: JoinHandle<Engine>,
    rescan: JoinHandle<()>,
    control: SyncSender<Control>,
}

fn start_core(config: &SnapshotConfig, start: Timestamp) -> Result<Core, Error> {
    // The queue holds batches; its capacity in packets is what --queue-size says.
    let (events_tx, events_rx) =
        sync_channel::<Event>((config.queue_capacity / intake::BATCH).max(2));
    let (control_tx, control_rx) = sync_channel::<Control>(4);
    let engine = Engine::new(EngineConfig {
        start,
        series_buckets: config.duration.as_secs() as usize + 2,
        pending_capacity: config.pending_capacity,
        local_addrs: interfaces::local_addresses(),
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
    Ok(Core {
        events: events_tx,
        engine: engine_thread,
        rescan: rescan_thread,
        control: control_tx,
    })
}

/// One interface's capture thread: reads until stopped (or its handle fails).
fn spawn_capture(
    cap: OpenCapture,
    mut intake: Intake,
    capture_stop: Arc<AtomicBool>,
) -> Result<JoinHandle<CaptureResult>, Error> {
    spawn(&format!("netflow-cap-{}", cap.iface), move || {
        let (kernel, failure) = cap.run(&capture_stop, &mut intake);
        (intake.finish(), kernel, failure)
    })
}

/// The pcap writer and one tap per capture thread (none without a pcap file).
fn start_writer(
    pcap: &Option<PcapTarget>,
    link: LinkType,
    config: &SnapshotConfig,
    captures: usize,
) -> Result<Writer, Error> {
    let Some(target) = pcap else {
        return Ok(((0..captures).map(|_| None).collect(), None));
    };
    let file = target.capture.file().try_clone().map_err(Error::Io)?;
    let (taps, handle) = pcap_out::start(
        file,
        link,
        config.capture.snaplen as u32,
        target.limit,
        captures,
    )
    .map_err(thread_error)?;
    Ok((taps.into_iter().map(Some).collect(), Some(handle)))
}
