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
use crate::os::output::ReportFile;
use crate::os::{pcap_out, privileges, signals};
use crate::pipeline::{self, PcapTarget, Progress, SnapshotConfig, SocketLogMode};
use crate::render::{self, Format};
use crate::report::{Ranking, SortKey};

/// Snap length with `-w`: whole packets, as tcpdump keeps them.
const FULL_SNAPLEN: i32 = 262_144;
/// Snap length without `-w`: enough for the link, IP (with extension headers) and
/// TCP headers (with options); payloads are never needed for attribution.
const HEADER_SNAPLEN: i32 = 256;
/// Kernel capture ring per interface, in MiB, without and with `-w` (`--buffer-size`).
const HEADER_BUFFER_MIB: u32 = 8;
const FULL_BUFFER_MIB: u32 = 32;
/// Packets that may wait in the retry ring for a scan (up to 5 MiB, allocated as they wait).
const PENDING_CAPACITY: usize = 65_536;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Snapshot(args) => snapshot(args),
        Command::Interfaces(args) => list_interfaces(args),
    }
}

fn snapshot(args: SnapshotArgs) -> Result<(), Error> {
    privileges::check_capture()?;
    let available = interfaces::list()?;
    let selected = select_interfaces(&args.interfaces, &available)?;

    // Everything that can fail is checked before the first packet is read: the
    // report's directory (a temporary file beside the target), then the capture
    // handles and filter, then the pcap file (created last, so a bad filter never
    // truncates an existing capture).
    let report_file = args.output.as_deref().map(ReportFile::create).transpose()?;
    // Whole packets with -w, else headers only (and a ring sized for them).
    let (snaplen, default_buffer_mib) = if args.write.is_some() {
        (FULL_SNAPLEN, FULL_BUFFER_MIB)
    } else {
        (HEADER_SNAPLEN, HEADER_BUFFER_MIB)
    };
    let buffer_mib = args.buffer_size.unwrap_or(default_buffer_mib);
    let config = SnapshotConfig {
        interfaces: selected,
        duration: args.duration,
        capture: CaptureSettings {
            snaplen,
            buffer_bytes: (buffer_mib as i32).saturating_mul(1 << 20),
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
    if let Some(w) = privileges::fd_access_warning() {
        prepared.warn(w);
    }
    if let Some(path) = &args.write {
        prepared.set_pcap(pcap_target(path)?);
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

    let stop = Arc::new(AtomicBool::new(false));
    signals::install(stop.clone())?;
    let bar = if args.quiet {
        None
    } else {
        progress_bar(args.duration)
    };
    let report = prepared.run(stop, |p| {
        if let Some(bar) = &bar {
            show_progress(bar, p)
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    drop(self_limit);

    if !args.quiet {
        for w in &report.warnings {
            eprintln!("netflow: warning: {w}");
        }
    }
    let mut bytes = Vec::new();
    render::render(&report, format(args.format, args.no_header), &mut bytes)?;
    match report_file {
        Some(file) => file.commit(&bytes).map_err(|e| {
            // Never lose a capture to a full disk: the report goes to stdout instead.
            let _ = write_stdout(&bytes);
            Error::ReportLost(e.to_string())
        }),
        None => write_stdout(&bytes),
    }
}

/// `-w FILE.pcapng` is annotated pcapng (captured as classic pcap into a temporary
/// beside it, converted at the end); any other name is classic pcap.
fn pcap_target(path: &Path) -> Result<PcapTarget, Error> {
    let out = pcap_out::create(path)?;
    if path.extension().is_none_or(|e| e != "pcapng") {
        return Ok(PcapTarget {
            file: out,
            annotate: None,
        });
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let classic = path.with_file_name(format!(".{name}.netflow-{}.pcap", std::process::id()));
    Ok(PcapTarget {
        file: pcap_out::create_new(&classic)?,
        annotate: Some((out, classic)),
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
                    i.name,
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
