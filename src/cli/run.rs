use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::args::{
    Cli, Command, EbpfArg, FormatArg, InterfacesArgs, InterfacesFormat, SnapshotArgs, SortArg,
};
use crate::error::Error;
use crate::os::capture::CaptureSettings;
use crate::os::cgroup::{self, Limits};
use crate::os::interfaces::{self, Interface};
use crate::os::output::{self, Place, ReportTarget};
use crate::os::{privileges, signals};
use crate::pipeline::{self, PcapTarget, Progress, SnapshotConfig, SocketLogMode};
use crate::render::{self, Format};
use crate::report::{Ranking, SortKey};

/// Snap length with `-w`: whole packets, as tcpdump keeps them.
const FULL_SNAPLEN: i32 = 262_144;
/// Snap length without `-w`: enough for the link, IP (with extension headers) and
/// TCP headers (with options); payloads are never needed for attribution.
const HEADER_SNAPLEN: i32 = 256;
/// Kernel capture ring per interface, without and with `-w` (`--buffer-size`).
const HEADER_BUFFER_BYTES: u64 = 8 << 20;
const FULL_BUFFER_BYTES: u64 = 32 << 20;
/// Packets that may wait in the retry ring for a scan (up to 5 MiB, allocated as they wait).
const PENDING_CAPACITY: usize = 65_536;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Snapshot(args) => snapshot(*args),
        Command::Interfaces(args) => list_interfaces(args),
    }
}

fn snapshot(args: SnapshotArgs) -> Result<(), Error> {
    // Signals first: one that arrives in the first milliseconds still ends in a report,
    // and an abrupt exit (a second Ctrl-C) can undo whatever is created after this.
    let stop = Arc::new(AtomicBool::new(false));
    signals::install(stop.clone()).map_err(Error::Thread)?;
    privileges::check_capture()?;
    let format = report_format(args.format, args.output.as_deref(), args.no_header)?;

    // Every path is checked before anything is opened or created, and nothing that
    // exists is modified before the end: outputs are born unnamed and named when done.
    let report_place = args.output.as_deref().map(Place::of).transpose()?;
    if let Some(place) = &report_place {
        ReportTarget::check(place)?;
    }
    let pcap_place = args.write.as_deref().map(Place::of).transpose()?;
    if let Some(place) = &pcap_place {
        output::check_capture_target(place)?;
        if report_place.as_ref().is_some_and(|r| r.same_file(place)) {
            return Err(Error::Usage(format!(
                "-o and -w name the same file `{}`",
                place.path().display()
            )));
        }
    }

    let available = interfaces::list()?;
    let selected = select_interfaces(&args.interfaces, &available)?;
    // Whole packets with -w, else headers only (and a ring sized for them).
    let (snaplen, default_buffer) = if args.write.is_some() {
        (FULL_SNAPLEN, FULL_BUFFER_BYTES)
    } else {
        (HEADER_SNAPLEN, HEADER_BUFFER_BYTES)
    };
    let buffer_bytes = args.buffer_size.unwrap_or(default_buffer);
    let config = SnapshotConfig {
        interfaces: selected,
        duration: args.duration,
        capture: CaptureSettings {
            snaplen,
            buffer_bytes: i32::try_from(buffer_bytes).unwrap_or(i32::MAX),
            filter: args.filter.clone(),
        },
        rescan_interval: args.rescan_interval,
        queue_capacity: args.queue_size as usize,
        pending_capacity: PENDING_CAPACITY,
        pcap: None,
        ranking: Ranking {
            sort: match args.sort {
                SortArg::Total => SortKey::Total,
                SortArg::In => SortKey::In,
                SortArg::Out => SortKey::Out,
            },
            top: args.top,
        },
        socket_log: match args.ebpf {
            EbpfArg::Auto => SocketLogMode::Auto,
            EbpfArg::On => SocketLogMode::On,
            EbpfArg::Off => SocketLogMode::Off,
        },
    };
    let mut prepared = pipeline::prepare(config)?;
    if pcap_place.is_some() {
        prepared.check_pcap()?;
    }
    if let Some(w) = privileges::fd_access_warning() {
        prepared.warn(w);
    }

    // Confine netflow before capture starts; the guard lifts the limit and removes the
    // cgroup when the snapshot is done.
    let limits = Limits {
        cpu_cores: args.cpu_limit,
        memory_bytes: args.mem_limit,
    };
    let self_limit = if limits.cpu_cores.is_some() || limits.memory_bytes.is_some() {
        Some(cgroup::apply(limits)?)
    } else {
        None
    };
    if let Some(limit) = &self_limit {
        prepared.set_self_limits(limit.description.clone());
    }

    // The outputs, last: unnamed files in their directories (or an opened device).
    let report_target = report_place.map(ReportTarget::create).transpose()?;
    if let Some(place) = pcap_place {
        prepared.set_pcap(pcap_target(place, args.write_limit)?);
    }

    let bar = if args.quiet {
        None
    } else {
        progress_bar(args.duration)
    };
    let outcome = prepared.run(stop, |p| {
        if let Some(bar) = &bar {
            show_progress(bar, p)
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    drop(self_limit);

    let report = &outcome.report;
    if !args.quiet {
        for w in &report.warnings {
            eprintln!("netflow: warning: {}", render::for_terminal(w));
        }
    }
    let mut bytes = Vec::new();
    let width = super::width::table_width(report_target.is_none());
    render::render(report, format, width, &mut bytes)?;
    match report_target {
        Some(target) => target.commit(&bytes).map_err(|e| {
            // Never lose a capture to a full disk: the report goes to stdout instead.
            let _ = write_stdout(&bytes);
            Error::ReportLost(Box::new(e))
        })?,
        None => write_stdout(&bytes)?,
    }
    if outcome.complete {
        Ok(())
    } else {
        Err(Error::Incomplete)
    }
}

/// The report format: `--format`, else the `-o` file's extension, else a table. An
/// extension that names another format than `--format` is a mistake (exit 2).
fn report_format(
    asked: Option<FormatArg>,
    output: Option<&Path>,
    no_header: bool,
) -> Result<Format, Error> {
    let by_name = output
        .and_then(|p| p.extension())
        .and_then(|e| match e.to_str()? {
            "json" => Some(FormatArg::Json),
            "csv" => Some(FormatArg::Csv),
            "prom" => Some(FormatArg::Prometheus),
            "txt" => Some(FormatArg::Table),
            _ => None,
        });
    match (asked, by_name) {
        (Some(a), Some(n)) if a != n => Err(Error::Usage(format!(
            "--format {} contradicts the -o file name, which asks for {} (drop one)",
            a.name(),
            n.name()
        ))),
        (Some(f), _) | (None, Some(f)) => Ok(format(f, no_header)),
        (None, None) => Ok(Format::Table),
    }
}

/// `-w FILE.pcapng` is annotated pcapng: captured as classic pcap into an unnamed file
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

/// Resolves `-i` against the host's interfaces; with none given, picks every interface
/// that is up and has an address.
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

fn format(f: FormatArg, no_header: bool) -> Format {
    match f {
        FormatArg::Table => Format::Table,
        FormatArg::Json => Format::Json,
        FormatArg::Csv => Format::Csv { header: !no_header },
        FormatArg::Prometheus => Format::Prometheus,
    }
}

/// A progress bar on stderr, only for a person at a terminal (never in cron).
fn progress_bar(total: Duration) -> Option<ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total.as_millis() as u64);
    bar.set_style(
        ProgressStyle::with_template("capturing {bar:30} {msg}")
            .expect("the progress template is valid"),
    );
    Some(bar)
}

fn show_progress(bar: &ProgressBar, p: Progress) {
    bar.set_position(p.elapsed.as_millis() as u64);
    let left = p.total.saturating_sub(p.elapsed);
    bar.set_message(format!(
        "{}s elapsed, {}s left, {} packets (Ctrl-C reports now)",
        p.elapsed.as_secs(),
        left.as_secs(),
        p.packets
    ));
}

/// Writes to standard output; a reader that went away (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<(), Error> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(Error::Io),
    }
}

fn list_interfaces(args: InterfacesArgs) -> Result<(), Error> {
    let all = interfaces::list()?;
    let mut out = Vec::new();
    match args.format {
        InterfacesFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &all).map_err(io::Error::from)?;
            out.push(b'\n');
        }
        InterfacesFormat::Table => {
            let defaults = interfaces::default_selection(&all);
            writeln!(
                out,
                "{:<18} {:<6} {:<8} ADDRESSES",
                "NAME", "STATE", "DEFAULT"
            )?;
            for i in &all {
                let addrs: Vec<String> = i.addresses.iter().map(|a| a.to_string()).collect();
                writeln!(
                    out,
                    "{:<18} {:<6} {:<8} {}",
                    render::for_terminal(&i.name),
                    if i.up { "up" } else { "down" },
                    if defaults.contains(&i.name) {
                        "yes"
                    } else {
                        ""
                    },
                    addrs.join(", ")
                )?;
            }
        }
    }
    write_stdout(&out)
}
