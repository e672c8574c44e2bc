//! Where a session's OS inputs come from: this host, or a replay of capture files over
//! a fixture /proc tree with a fixed clock (bandwhich's `OsInputOutput`). The session,
//! its threads, the engine and the report are the same code either way, so a replay
//! runs the whole pipeline without root and gives the same report on every run.
//!
//! Owns the one decision per OS input (packets, the socket scanner, local addresses,
//! the clock, interface counters, "is it still running", the host name) and, for a
//! replay, when the scans happen.
//! Does not read any input itself: that is `os` (`capture`, `replay`, `procfs`,
//! `interfaces`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use crate::error::Error;
use crate::model::LinkCounters;
use crate::model::{ProcessKey, Timestamp};
use crate::os::capture::{CaptureSettings, FrameSink, KernelStats, OpenCapture, Stopper};
use crate::os::interfaces;
use crate::os::procfs::{self, ProcScanner};
use crate::os::replay::{self, FileCapture, FileEnd};
use crate::report::StoppedBy;
use crate::wire::LinkType;

/// Where a session's OS inputs come from.
#[derive(Clone, Debug, Default)]
pub enum Sources {
    /// This host: capture handles, /proc, the clock, the interfaces' counters. Needs
    /// root or CAP_NET_RAW.
    #[default]
    Live,
    /// Capture files over a /proc tree, with a fixed clock. Needs no privilege.
    Replay(Replay),
}

/// A capture replayed: every OS input a snapshot reads, from files and fixed values.
///
/// The session skips what needs the live OS (the privilege check, the interface list,
/// self-limits, the kernel socket log, interface counters) and reads the rest from
/// here. Each file is read to its end, or to the end of the request's `duration`
/// counted from `start`; then the run ends (`stopped_by` is `end_of_input`, or
/// `duration`). The tree is scanned twice, at fixed points: at `start`, before any
/// packet, and just after the last packet read.
#[derive(Clone, Debug)]
pub struct Replay {
    /// One capture file (pcap or pcapng) per interface, in the report's order.
    pub captures: Vec<ReplayFile>,
    /// The root of a /proc tree: its socket tables (net/tcp, udp, tcp6, udp6), fd and
    /// process directories, and the host's addresses (net/fib_trie, net/if_inet6).
    pub proc_root: PathBuf,
    /// User names, from a passwd(5) file; `None`: users show as uids (never this
    /// machine's names, so the report does not depend on where it runs).
    pub passwd: Option<PathBuf>,
    /// When the capture started: the report's start time, the first second of its
    /// series, and the time of the first scan. Packets carry their files' timestamps,
    /// and the report's duration runs from here to the last packet read.
    pub start: SystemTime,
    /// The report's host name.
    pub host: String,
}

/// A capture file standing for one interface.
#[derive(Clone, Debug)]
pub struct ReplayFile {
    /// The interface name the report gives it.
    pub interface: String,
    pub path: PathBuf,
}

/// The OS inputs of a session, resolved when it opens.
pub(crate) enum Host {
    Live,
    Fixture(Box<Fixture>),
}

/// A replay's inputs, opened: files still to open, the tree's scanner, fixed facts.
pub(crate) struct Fixture {
    files: Vec<ReplayFile>,
    root: PathBuf,
    scanner: ProcScanner,
    addrs: Vec<IpAddr>,
    start: SystemTime,
    name: String,
}

impl Host {
    /// A replay's inputs (the session has checked the request asks nothing a replay
    /// cannot give).
    pub fn fixture(replay: &Replay) -> Result<Host, Error> {
        let host = replay::fixture_host(&replay.proc_root, replay.passwd.as_deref())?;
        Ok(Host::Fixture(Box::new(Fixture {
            files: replay.captures.clone(),
            root: replay.proc_root.clone(),
            scanner: host.scanner,
            addrs: host.addrs,
            start: replay.start,
            name: replay.host.clone(),
        })))
    }

    pub fn is_live(&self) -> bool {
        matches!(self, Host::Live)
    }

    /// The replay's interface names; `None` live (they are chosen from the host's).
    pub fn replay_interfaces(&self) -> Option<Vec<String>> {
        match self {
            Host::Live => None,
            Host::Fixture(f) => Some(f.files.iter().map(|f| f.interface.clone()).collect()),
        }
    }

    /// Splits the inputs into how the crew scans and what it asks while running.
    pub fn start(self) -> (Scanning, Facts) {
        match self {
            Host::Live => (
                Scanning::Thread,
                Facts::Live {
                    start: SystemTime::now(),
                },
            ),
            Host::Fixture(f) => (
                Scanning::Fixed {
                    scanner: Box::new(f.scanner),
                    addrs: f.addrs,
                },
                Facts::Fixture {
                    root: f.root,
                    start: f.start,
                    name: f.name,
                },
            ),
        }
    }
}

impl Fixture {
    /// Opens the replay's files, filter applied, in the request's order.
    pub fn open_files(&self, settings: &CaptureSettings) -> Result<Vec<Capture>, Error> {
        self.files
            .iter()
            .map(|file| {
                replay::open(&file.interface, &file.path, settings.filter.as_deref())
                    .map(Capture::File)
            })
            .collect()
    }
}

/// How socket tables reach the engine.
pub(crate) enum Scanning {
    /// The rescan thread on the live /proc: a scan at once, then as the engine asks
    /// and the clock allows, and a final one.
    Thread,
    /// A fixture tree, scanned by the crew itself at fixed points of the replay clock
    /// (before the first packet is queued, after the last), so each scan lands in the
    /// engine's queue at the same place on every run.
    Fixed {
        scanner: Box<ProcScanner>,
        addrs: Vec<IpAddr>,
    },
}

impl Scanning {
    /// The host's addresses until the first scan brings its own.
    pub fn local_addresses(&self) -> Vec<IpAddr> {
        match self {
            Scanning::Thread => interfaces::local_addresses(),
            Scanning::Fixed { addrs, .. } => addrs.clone(),
        }
    }
}

/// What the crew asks of the host while it runs and when it ends.
pub(crate) enum Facts {
    Live {
        start: SystemTime,
    },
    Fixture {
        root: PathBuf,
        start: SystemTime,
        name: String,
    },
}

impl Facts {
    /// When the capture started: read from the clock once (live), or fixed.
    pub fn start(&self) -> SystemTime {
        match self {
            Facts::Live { start } | Facts::Fixture { start, .. } => *start,
        }
    }

    pub fn is_replay(&self) -> bool {
        matches!(self, Facts::Fixture { .. })
    }

    /// netflow's network namespace, for the socket log's wildcard sockets; a replay
    /// has no socket log (0: unknown).
    pub fn own_netns(&self) -> u64 {
        match self {
            Facts::Live { .. } => procfs::own_netns(),
            Facts::Fixture { .. } => 0,
        }
    }

    /// The interface's own counters; a file has none.
    pub fn counters(&self, iface: &str) -> Option<LinkCounters> {
        match self {
            Facts::Live { .. } => interfaces::counters(iface),
            Facts::Fixture { .. } => None,
        }
    }

    /// Whether the process still runs at the end of the capture.
    pub fn is_running(&self, key: ProcessKey) -> bool {
        let root = match self {
            Facts::Live { .. } => Path::new("/proc"),
            Facts::Fixture { root, .. } => root.as_path(),
        };
        procfs::is_running(root, key)
    }

    pub fn hostname(&self) -> String {
        match self {
            Facts::Live { .. } => crate::os::host::hostname(),
            Facts::Fixture { name, .. } => name.clone(),
        }
    }
}

/// One interface's packets: a live handle, or a file.
pub(crate) enum Capture {
    Live(OpenCapture),
    File(FileCapture),
}

/// How one capture ended.
pub(crate) struct Ran {
    pub kernel: KernelStats,
    /// Why reading failed, if it did.
    pub failure: Option<String>,
    /// A file: the latest packet read, and whether the window's end stopped it.
    pub last: Option<Timestamp>,
    pub window_closed: bool,
}

impl Capture {
    pub fn iface(&self) -> &str {
        match self {
            Capture::Live(c) => &c.iface,
            Capture::File(c) => &c.iface,
        }
    }

    pub fn link(&self) -> LinkType {
        match self {
            Capture::Live(c) => c.link,
            Capture::File(c) => c.link,
        }
    }

    /// Wakes a live read blocked on an idle interface; a file never blocks.
    pub fn stopper(&mut self) -> Option<Stopper> {
        match self {
            Capture::Live(c) => Some(c.stopper()),
            Capture::File(_) => None,
        }
    }

    /// Reads until stopped (live), or to the file's end or `until` (a file).
    pub fn run(self, stop: &AtomicBool, until: Timestamp, sink: &mut impl FrameSink) -> Ran {
        match self {
            Capture::Live(c) => {
                let (kernel, failure) = c.run(stop, sink);
                Ran {
                    kernel,
                    failure: failure.map(|e| e.to_string()),
                    last: None,
                    window_closed: false,
                }
            }
            Capture::File(c) => {
                let replayed = c.run(stop, until, sink);
                let (failure, window_closed) = match replayed.end {
                    FileEnd::Failed(why) => (Some(why), false),
                    FileEnd::WindowClosed => (None, true),
                    FileEnd::EndOfFile | FileEnd::Stopped => (None, false),
                };
                Ran {
                    kernel: KernelStats::default(),
                    failure,
                    last: replayed.last,
                    window_closed,
                }
            }
        }
    }
}

/// Where a replay ended on its own clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReplayEnd {
    /// The window's end when a file reached it, else the last packet read (the
    /// start, if none was).
    pub at: Timestamp,
    window_closed: bool,
}

impl ReplayEnd {
    pub fn of(start: Timestamp, window: Duration, ran: &[Ran]) -> ReplayEnd {
        let window_closed = ran.iter().any(|r| r.window_closed);
        let at = if window_closed {
            start.plus(window)
        } else {
            ran.iter()
                .filter_map(|r| r.last)
                .max()
                .map_or(start, |last| last.max(start))
        };
        ReplayEnd { at, window_closed }
    }

    /// Why it ended, for the report: `duration` when a file reached the window's
    /// end; else as the crew saw it (`end_of_input`, or `signal`).
    pub fn stopped_by(&self, seen: StoppedBy) -> StoppedBy {
        if self.window_closed && seen == StoppedBy::EndOfInput {
            StoppedBy::Duration
        } else {
            seen
        }
    }

    /// When the final scan is read: just after the end, so it counts as after every
    /// packet (a scan proves nothing about packets stamped at or after its start).
    pub fn final_scan(&self) -> Timestamp {
        self.at.plus(Duration::from_micros(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: Timestamp = Timestamp(1_000_000_000);

    fn file(last: Option<u64>, window_closed: bool) -> Ran {
        Ran {
            kernel: KernelStats::default(),
            failure: None,
            last: last.map(|us| Timestamp(START.0 + us)),
            window_closed,
        }
    }

    #[test]
    fn a_replay_ends_at_its_latest_packet_over_every_file() {
        let end = ReplayEnd::of(
            START,
            Duration::from_secs(10),
            &[file(Some(2_500_000), false), file(Some(700), false)],
        );
        assert_eq!(end.at, Timestamp(START.0 + 2_500_000));
        assert_eq!(end.stopped_by(StoppedBy::EndOfInput), StoppedBy::EndOfInput);
        assert_eq!(end.final_scan(), Timestamp(START.0 + 2_500_001));
    }

    #[test]
    fn a_file_that_reached_the_window_ends_the_replay_at_its_duration() {
        let end = ReplayEnd::of(
            START,
            Duration::from_secs(2),
            &[file(Some(1_999_999), true), file(Some(300), false)],
        );
        assert_eq!(end.at, Timestamp(START.0 + 2_000_000));
        assert_eq!(end.stopped_by(StoppedBy::EndOfInput), StoppedBy::Duration);
        assert_eq!(end.stopped_by(StoppedBy::Signal), StoppedBy::Signal);
    }

    #[test]
    fn an_empty_replay_ends_where_it_started() {
        let end = ReplayEnd::of(START, Duration::from_secs(2), &[file(None, false)]);
        assert_eq!(end.at, START);
    }
}
