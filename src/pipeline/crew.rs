//! The threads of a running snapshot: started in one place, stopped in one order.
//!
//! The stop order is what makes the report whole: (1) capture threads stop and hand on
//! their last batches; (2) the socket log thread stops and hands on its last records;
//! (3) only then is the final scan asked for, so the engine sees it after every packet
//! and record; (4) the rescan thread ends, and the engine drains the queue and ends;
//! (5) the pcap writer ends (its taps went with the capture threads); (6) the pcap file
//! is named, converted to pcapng when asked.
//!
//! A replay runs the same threads over files. Its scans are the crew's own, at fixed
//! points: one queued before any capture thread starts, the final one queued at step
//! (3) after every packet; its capture threads wait for room in the queue rather than
//! drop; and its times come from its fixed start and its files, never the clock.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::intake::{self, CaptureTally, Intake, WhenFull};
use super::rescan::{self, Control};
use super::socklog::{self, SocketLogTally};
use super::source::{Capture, Facts, Ran, ReplayEnd, Scanning};
use super::{
    finish_pcap, merge_tally, pcap_warnings, run_engine, spawn, stop_capture, thread_error,
    timestamp, Event, Outcome, PcapTarget, Prepared, Progress, SnapshotConfig, TICK,
};
use crate::annotate::Annotator;
use crate::attrib::SocketTable;
use crate::engine::{Engine, EngineConfig};
use crate::error::Error;
use crate::model::LinkCounters;
use crate::model::{Timestamp, Unattributed};
use crate::os::capture::{KernelStats, Stopper};
use crate::os::pcap_out::{self, FrameTap, WriterOutcome};
use crate::os::procfs::ProcScanner;
use crate::report::{CaptureFacts, Dropped, InterfaceStats, Report, SocketLogStatus, StoppedBy};
use crate::wire::LinkType;

type CaptureResult = (CaptureTally, Ran);
/// One tap per capture thread (none without a pcap file) and the writer's thread.
type Writer = (Vec<Option<FrameTap>>, Option<JoinHandle<WriterOutcome>>);

/// Everything running, and what stopping it needs.
pub(super) struct Crew {
    config: SnapshotConfig,
    interfaces: Vec<String>,
    link: LinkType,
    facts: Facts,
    start: Timestamp,
    began: Instant,
    engine: Option<JoinHandle<Engine>>,
    scans: Scans,
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
    /// Where a replay ended, on its clock.
    replay_end: Option<ReplayEnd>,
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
            host,
        } = prepared;
        let interfaces: Vec<String> = captures.iter().map(|c| c.iface().to_string()).collect();
        let link = captures[0].link();
        let (scanning, facts) = host.start();
        let began = Instant::now();
        let start = timestamp(facts.start());

        let Core {
            events: events_tx,
            engine: engine_thread,
            scans,
        } = start_core(&config, start, scanning, &facts)?;

        let pcap = config.pcap.take();
        let (taps, writer) = start_writer(&pcap, link, &config, captures.len())?;
        let capture_stop = Arc::new(AtomicBool::new(false));
        let stoppers: Vec<Stopper> = captures.iter_mut().filter_map(Capture::stopper).collect();
        let counters_before = interfaces.iter().map(|i| facts.counters(i)).collect();
        let progress: Vec<Arc<AtomicU64>> = (0..captures.len())
            .map(|_| Arc::new(AtomicU64::new(0)))
            .collect();
        // A file can wait for the engine; a live ring cannot (see `WhenFull`).
        let when_full = if facts.is_replay() {
            WhenFull::Wait
        } else {
            WhenFull::Drop
        };
        let until = start.plus(config.duration);
        let capture_threads = captures
            .into_iter()
            .zip(taps)
            .zip(&progress)
            .map(|((cap, tap), counter)| {
                let tx = events_tx.clone();
                let intake = Intake::new(cap.link(), start, tx, when_full, tap, counter.clone());
                spawn_capture(cap, intake, capture_stop.clone(), until)
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
            facts,
            start,
            began,
            engine: Some(engine_thread),
            scans,
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

    /// Waits for the end: the duration, the stop flag, or every interface failed; a
    /// replay, for every file read (its progress counts wall time while reading).
    pub(super) fn wait(
        &self,
        stop: &AtomicBool,
        mut on_progress: impl FnMut(Progress),
    ) -> StoppedBy {
        let total = self.config.duration;
        let replay = self.facts.is_replay();
        loop {
            let elapsed = self.began.elapsed();
            if stop.load(Ordering::Relaxed) {
                return StoppedBy::Signal;
            }
            let all_ended = self.captures.iter().all(|t| t.is_finished());
            if replay {
                if all_ended {
                    // `finish` says `duration` instead if a file reached the window's end.
                    return StoppedBy::EndOfInput;
                }
            } else if elapsed >= total {
                return StoppedBy::Duration;
            } else if all_ended {
                // Every interface failed (vanished, went down): nothing is left to capture.
                return StoppedBy::InterfacesFailed;
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
            // Live, the capture has not yet run its duration (checked above).
            thread::sleep(if replay {
                REPLAY_TICK
            } else {
                TICK.min(total - elapsed)
            });
        }
    }

    /// Stops everything in the order the module documents and builds the report.
    pub(super) fn finish(mut self, stopped_by: StoppedBy) -> Outcome {
        let elapsed = self.began.elapsed();
        let stopped = self.stop();
        let Stopped {
            engine,
            tally,
            kernel,
            interface_stats,
            writer,
            mut complete,
            replay_end,
        } = stopped;
        // A replay's times are its own: from its fixed start to where its files ended.
        let (duration, stopped_by) = match replay_end {
            None => (elapsed, stopped_by),
            Some(end) => (end.at.since(self.start), end.stopped_by(stopped_by)),
        };
        if let Some(outcome) = &writer {
            complete &= outcome.error.is_none();
            self.warnings
                .extend(pcap_warnings(outcome, tally.pcap_dropped));
        }
        let finished = engine.finish(|key| self.facts.is_running(key));
        if let Some(target) = self.pcap.take() {
            let link = self.link;
            let annotate =
                |ts, frame: &[u8], len| Annotator::new(&finished).comment(link, ts, frame, len);
            if let Err(problem) = finish_pcap(target, annotate) {
                complete = false;
                self.warnings.push(problem);
            }
        }
        let start_wall = self.facts.start();
        let facts = CaptureFacts {
            host: self.facts.hostname(),
            start_time: humantime::format_rfc3339_seconds(start_wall).to_string(),
            start_unix_seconds: start_wall
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64(),
            duration_secs: duration.as_secs_f64(),
            stopped_by,
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
        let mut ran = Vec::with_capacity(self.interfaces.len());
        let joined = std::mem::take(&mut self.captures)
            .into_iter()
            .zip(&self.interfaces)
            .zip(std::mem::take(&mut self.counters_before));
        for ((t, name), before) in joined {
            let (t_tally, t_ran) = t.join().expect("capture thread panicked");
            interface_stats.push(InterfaceStats::new(
                name.clone(),
                t_tally.captured,
                t_ran.kernel.dropped,
                before,
                self.facts.counters(name),
            ));
            merge_tally(&mut tally, &t_tally);
            kernel.dropped += t_ran.kernel.dropped;
            kernel.if_dropped += t_ran.kernel.if_dropped;
            complete &= t_ran.failure.is_none();
            self.warnings.extend(t_ran.failure.clone());
            ran.push(t_ran);
        }
        if kernel.dropped > 0 {
            self.warnings.push(format!(
                "the kernel dropped {} packets before netflow read them (its capture buffer filled): a larger --buffer-size, e.g. 64M, keeps more",
                kernel.dropped
            ));
        }
        self.stop_socket_log();
        let (start, window) = (self.start, self.config.duration);
        let replay_end = self
            .facts
            .is_replay()
            .then(|| ReplayEnd::of(start, window, &ran));
        std::mem::replace(&mut self.scans, Scans::Done).finish(replay_end);
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
            replay_end,
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

/// The engine thread behind the bounded queue, and the scans feeding it.
struct Core {
    events: SyncSender<Event>,
    engine: JoinHandle<Engine>,
    scans: Scans,
}

/// The socket scans of a running snapshot.
enum Scans {
    /// The rescan thread, and how to ask it for the final scan.
    Thread {
        control: SyncSender<Control>,
        thread: JoinHandle<()>,
    },
    /// A replay's fixture tree; the first scan is queued, the final one is not yet.
    Fixed {
        scanner: Box<ProcScanner>,
        addrs: Vec<IpAddr>,
        events: SyncSender<Event>,
    },
    Done,
}

impl Scans {
    /// Step (3) and the rescan side of (4): the final scan is queued (a replay's just
    /// after its end), and nothing scans after it.
    fn finish(self, replay_end: Option<ReplayEnd>) {
        match self {
            Scans::Thread { control, thread } => {
                let _ = control.send(Control::Final);
                thread.join().expect("rescan thread panicked");
            }
            Scans::Fixed {
                mut scanner,
                addrs,
                events,
            } => {
                let end = replay_end.expect("a replay's end is known when it stops");
                let final_scan = fixed_scan(&mut scanner, FINAL_SCAN, end.final_scan(), addrs);
                let _ = events.send(final_scan);
            }
            Scans::Done => {}
        }
    }
}

/// A replay's scans: the first (generation 1) and the final.
const FINAL_SCAN: u64 = 2;

/// How long the main thread sleeps between looks at a replay (which has no duration
/// to count down): short, as reading a small file takes milliseconds.
const REPLAY_TICK: Duration = Duration::from_millis(5);

fn fixed_scan(
    scanner: &mut ProcScanner,
    generation: u64,
    at: Timestamp,
    addrs: Vec<IpAddr>,
) -> Event {
    let result = scanner.scan(at, addrs, false);
    Event::Scan(Box::new(SocketTable::build(generation, result)))
}

fn start_core(
    config: &SnapshotConfig,
    start: Timestamp,
    scanning: Scanning,
    facts: &Facts,
) -> Result<Core, Error> {
    // The queue holds batches; its capacity in packets is what --queue-size says.
    let (events_tx, events_rx) =
        sync_channel::<Event>((config.queue_capacity / intake::BATCH).max(2));
    // A replay's scans are fixed: nothing receives the engine's requests for more.
    let (control_tx, control_rx) = sync_channel::<Control>(4);
    let engine = Engine::new(EngineConfig {
        start,
        series_buckets: config.duration.as_secs() as usize + 2,
        pending_capacity: config.pending_capacity,
        local_addrs: scanning.local_addresses(),
        own_netns: facts.own_netns(),
    });
    let engine_thread = spawn("netflow-engine", {
        let control_tx = control_tx.clone();
        move || run_engine(engine, events_rx, control_tx)
    })?;
    let scans = match scanning {
        Scanning::Thread => Scans::Thread {
            thread: spawn("netflow-rescan", {
                let events_tx = events_tx.clone();
                let interval = config.rescan_interval;
                move || rescan::run(ProcScanner::live(), interval, control_rx, events_tx)
            })?,
            control: control_tx,
        },
        Scanning::Fixed { mut scanner, addrs } => {
            // Queued before any capture thread starts: the engine sees it first.
            let first = fixed_scan(&mut scanner, 1, start, addrs.clone());
            let _ = events_tx.send(first);
            Scans::Fixed {
                scanner,
                addrs,
                events: events_tx.clone(),
            }
        }
    };
    Ok(Core {
        events: events_tx,
        engine: engine_thread,
        scans,
    })
}

/// One interface's capture thread: reads until stopped (or its handle fails), or a
/// file to its end or `until`.
fn spawn_capture(
    cap: Capture,
    mut intake: Intake,
    capture_stop: Arc<AtomicBool>,
    until: Timestamp,
) -> Result<JoinHandle<CaptureResult>, Error> {
    spawn(&format!("netflow-cap-{}", cap.iface()), move || {
        let ran = cap.run(&capture_stop, until, &mut intake);
        (intake.finish(), ran)
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
