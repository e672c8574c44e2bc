//! One way to run a snapshot, for the command line and for other programs alike: a
//! plain-data [`SnapshotRequest`] → [`Session::open`] (every check and creation, in one
//! documented order) → [`Session::run`] → a [`Snapshot`] holding the [`Report`].
//!
//! Owns the policy between what is asked and what the OS is told: privileges, the
//! default interfaces, snap length and ring size, the output files, self-limits.
//! Does not parse arguments or render: that is the caller's.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use super::source::{Host, Replay, Sources};
use super::{PcapTarget, Prepared, Progress, SnapshotConfig, SocketLogMode};
use crate::error::Error;
use crate::os::capture::CaptureSettings;
use crate::os::cgroup::{self, Limits, SelfLimit};
use crate::os::interfaces::{self, Interface};
use crate::os::output::{self, Place, ReportTarget};
use crate::os::{privileges, signals};
use crate::report::{Ranking, Report, SortKey};

/// Snap length with a pcap file: whole packets, as tcpdump keeps them.
const FULL_SNAPLEN: i32 = 262_144;
/// Snap length without one: enough for the link, IP (with extension headers) and
/// TCP headers (with options); payloads are never needed for attribution.
const HEADER_SNAPLEN: i32 = 256;
/// Kernel capture ring per interface, without and with a pcap file.
const HEADER_BUFFER_BYTES: u64 = 8 << 20;
const FULL_BUFFER_BYTES: u64 = 32 << 20;
/// Packets that may wait in the retry ring for a scan (up to 5 MiB, allocated as they wait).
const PENDING_CAPACITY: usize = 65_536;

/// What to capture, for how long, and where the results go. Plain data: build it with
/// `..Default::default()` and the fields you need.
#[derive(Clone, Debug)]
pub struct SnapshotRequest {
    /// Interfaces to capture on; empty means every interface that is up and has an
    /// address, except bridge ports and bond members.
    pub interfaces: Vec<String>,
    pub duration: Duration,
    /// A tcpdump-style capture filter.
    pub filter: Option<String>,
    /// The kernel ring per interface; `None`: 8 MiB, or 32 MiB with a pcap file.
    pub buffer_bytes: Option<u64>,
    pub rescan_interval: Duration,
    /// Packets the queue between capture and attribution holds before dropping.
    pub queue_capacity: usize,
    pub ranking: Ranking,
    pub socket_log: SocketLogMode,
    /// Where the report goes (see [`ReportTarget`]); `None`: the caller's business.
    pub report_file: Option<PathBuf>,
    /// Also save every packet here (pcap, or annotated pcapng for a `.pcapng` name).
    pub pcap_file: Option<PathBuf>,
    /// Stop writing packets to the pcap file at this many bytes.
    pub pcap_write_limit: Option<u64>,
    /// Confine netflow itself through a cgroup.
    pub limits: Limits,
    /// SIGINT, SIGTERM and SIGHUP end the capture early (with the full report); a
    /// second one, or SIGQUIT, exits the process. The command line wants this; a
    /// program with its own signal handling sets [`Session::stop_flag`] instead.
    pub handle_signals: bool,
    /// Where packets, sockets, processes and the clock come from: this host, or a
    /// replay of capture files over a /proc tree (no root needed; see [`Sources`]).
    pub sources: Sources,
}

impl Default for SnapshotRequest {
    /// The command line's defaults: five minutes on the default interfaces, the socket
    /// log where the kernel allows, no files, no limits, no signal handlers.
    fn default() -> SnapshotRequest {
        SnapshotRequest {
            interfaces: Vec::new(),
            duration: Duration::from_secs(300),
            filter: None,
            buffer_bytes: None,
            rescan_interval: Duration::from_secs(1),
            queue_capacity: 65_536,
            ranking: Ranking {
                sort: SortKey::Total,
                top: 20,
                flows: crate::report::DEFAULT_FLOWS,
                ..Default::default()
            },
            socket_log: SocketLogMode::Auto,
            report_file: None,
            pcap_file: None,
            pcap_write_limit: None,
            limits: Limits {
                cpu_cores: None,
                memory_bytes: None,
            },
            handle_signals: false,
            sources: Sources::Live,
        }
    }
}

/// A snapshot ready to capture: privileges checked, handles open, limits applied,
/// outputs created (unnamed until the end).
pub struct Session {
    prepared: Prepared,
    report_file: Option<ReportTarget>,
    self_limit: Option<SelfLimit>,
    stop: Arc<AtomicBool>,
}

/// A finished snapshot.
#[derive(Debug)]
pub struct Snapshot {
    pub report: Report,
    /// False when the pcap file could not be written whole or an interface failed
    /// during capture (the command line's exit status 1); the report says why.
    pub complete: bool,
    /// The request's report file, to be given the rendered report
    /// ([`ReportTarget::commit`]).
    pub report_file: Option<ReportTarget>,
}

impl Session {
    /// Opens a session in this order, so that whatever fails, fails before anything
    /// on the host changed: signal handlers, privileges, the output paths (checked,
    /// not created), interfaces, capture handles and filter, self-limits, then the
    /// outputs (created unnamed; named only when complete).
    ///
    /// A replay ([`Sources::Replay`]) checks its request and opens its /proc tree
    /// where the privileges are checked, and its files where the handles are opened;
    /// it has no interfaces to list and no self-limits.
    pub fn open(request: SnapshotRequest) -> Result<Session, Error> {
        // Signals first: one in the first milliseconds still ends in a report, and an
        // abrupt exit can undo whatever is created after this.
        let stop = Arc::new(AtomicBool::new(false));
        if request.handle_signals {
            signals::install(stop.clone()).map_err(Error::Thread)?;
        }
        let host = match &request.sources {
            Sources::Live => {
                privileges::check_capture()?;
                Host::Live
            }
            Sources::Replay(replay) => {
                check_replay(replay, &request)?;
                Host::fixture(replay)?
            }
        };
        let (report_place, pcap_place) = check_paths(&request)?;

        let selected = match host.replay_interfaces() {
            Some(files) => files,
            None => select_interfaces(&request.interfaces, &interfaces::list()?)?,
        };
        let live = host.is_live();
        let mut prepared = super::prepare(capture_config(&request, selected), host)?;
        if pcap_place.is_some() {
            prepared.check_pcap()?;
        }
        if let Some(w) = live.then(privileges::fd_access_warning).flatten() {
            prepared.warn(w);
        }

        // Confined before capture starts; dropping the guard lifts the limit.
        let limits = request.limits;
        let self_limit = (limits.cpu_cores.is_some() || limits.memory_bytes.is_some())
            .then(|| cgroup::apply(limits))
            .transpose()?;
        if let Some(limit) = &self_limit {
            prepared.set_self_limits(limit.description.clone());
        }

        let report_file = report_place.map(ReportTarget::create).transpose()?;
        if let Some(place) = pcap_place {
            prepared.set_pcap(pcap_target(place, request.pcap_write_limit)?);
        }
        Ok(Session {
            prepared,
            report_file,
            self_limit,
            stop,
        })
    }

    /// Set it (from any thread) to end the capture now; the report covers what was
    /// captured. Signals set it when the request handles them.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Captures until the duration passes, the stop flag is set or every interface
    /// failed, then builds the report. Fails only when a thread cannot be started.
    pub fn run(self, on_progress: impl FnMut(Progress)) -> Result<Snapshot, Error> {
        let Session {
            prepared,
            report_file,
            self_limit,
            stop,
        } = self;
        let outcome = prepared.run(stop, on_progress)?;
        drop(self_limit);
        Ok(Snapshot {
            report: outcome.report,
            complete: outcome.complete,
            report_file,
        })
    }
}

/// Refuses what a replay cannot give: it has no interfaces to choose, no kernel and
/// no cgroup.
fn check_replay(replay: &Replay, request: &SnapshotRequest) -> Result<(), Error> {
    let refuse = |what: &str| Err(Error::Usage(format!("a replay {what}")));
    if replay.captures.is_empty() {
        return refuse("needs at least one capture file");
    }
    if !request.interfaces.is_empty() {
        return refuse("names its interfaces by its capture files; leave `interfaces` empty");
    }
    if request.socket_log == SocketLogMode::On {
        return refuse("has no kernel socket log to load (it needs a live capture)");
    }
    if request.limits.cpu_cores.is_some() || request.limits.memory_bytes.is_some() {
        return refuse("takes no self-limits (they confine a live capture)");
    }
    Ok(())
}

/// Checks both output paths and that they are not one file; creates nothing.
fn check_paths(request: &SnapshotRequest) -> Result<(Option<Place>, Option<Place>), Error> {
    let report = request.report_file.as_deref().map(Place::of).transpose()?;
    if let Some(place) = &report {
        ReportTarget::check(place)?;
    }
    let pcap = request.pcap_file.as_deref().map(Place::of).transpose()?;
    if let Some(place) = &pcap {
        output::check_capture_target(place)?;
        if report.as_ref().is_some_and(|r| r.same_file(place)) {
            return Err(Error::Usage(format!(
                "-o and -w name the same file `{}`",
                place.path().display()
            )));
        }
        // A pcapng capture falls back to NAME.pcap if its conversion fails: the
        // report must not be renamed over that one copy.
        if let (Some(report), Some(fallback)) = (&report, classic_fallback(place.path())) {
            if Place::of(&fallback).is_ok_and(|f| f.same_file(report)) {
                return Err(Error::Usage(format!(
                    "-o names `{}`, where -w keeps the classic capture if converting it to pcapng fails; pick another name",
                    fallback.display()
                )));
            }
        }
    }
    Ok((report, pcap))
}

/// Where a `.pcapng` capture is kept as classic pcap when its conversion fails.
pub(crate) fn classic_fallback(pcapng: &Path) -> Option<PathBuf> {
    (pcapng.extension()? == "pcapng").then(|| pcapng.with_extension("pcap"))
}

/// Whole packets and a bigger ring with a pcap file; headers only otherwise.
fn capture_config(request: &SnapshotRequest, interfaces: Vec<String>) -> SnapshotConfig {
    let (snaplen, default_buffer) = if request.pcap_file.is_some() {
        (FULL_SNAPLEN, FULL_BUFFER_BYTES)
    } else {
        (HEADER_SNAPLEN, HEADER_BUFFER_BYTES)
    };
    let buffer_bytes = request.buffer_bytes.unwrap_or(default_buffer);
    SnapshotConfig {
        interfaces,
        duration: request.duration,
        capture: CaptureSettings {
            snaplen,
            buffer_bytes: i32::try_from(buffer_bytes).unwrap_or(i32::MAX),
            filter: request.filter.clone(),
        },
        rescan_interval: request.rescan_interval,
        queue_capacity: request.queue_capacity,
        pending_capacity: PENDING_CAPACITY,
        pcap: None,
        ranking: request.ranking.clone(),
        socket_log: request.socket_log,
    }
}

/// `FILE.pcapng` is annotated pcapng: captured as classic pcap into an unnamed file
/// beside it and converted at the end; any other name is classic pcap.
fn pcap_target(place: Place, limit: Option<u64>) -> Result<PcapTarget, Error> {
    if place.path().extension().is_none_or(|e| e != "pcapng") {
        return Ok(PcapTarget {
            capture: output::create_capture(place)?,
            annotated: None,
            limit,
        });
    }
    let capture = output::create_capture(Place::of(place.path())?)?;
    Ok(PcapTarget {
        capture,
        annotated: Some(output::create_capture(place)?),
        limit,
    })
}

/// Resolves the requested interfaces against the host's; with none requested, picks
/// every interface that is up and has an address.
fn select_interfaces(requested: &[String], available: &[Interface]) -> Result<Vec<String>, Error> {
    let names = || {
        available
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if requested.is_empty() {
        let chosen = interfaces::default_selection(available);
        if chosen.is_empty() {
            return Err(Error::Usage(
                "no interface is up with an address; name one with -i".into(),
            ));
        }
        return Ok(chosen);
    }
    if requested.len() > 1 && requested.iter().any(|r| r == "any") {
        return Err(Error::Usage(
            "`-i any` already captures every interface; use it alone".into(),
        ));
    }
    let mut chosen: Vec<String> = Vec::new();
    for name in requested {
        let iface =
            available
                .iter()
                .find(|i| &i.name == name)
                .ok_or_else(|| Error::NoSuchInterface {
                    name: name.clone(),
                    available: names(),
                })?;
        if !iface.up && iface.name != "any" {
            return Err(Error::InterfaceDown(name.clone()));
        }
        if !chosen.contains(name) {
            chosen.push(name.clone());
        }
    }
    Ok(chosen)
}
