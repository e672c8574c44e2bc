use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::args::{
    ByArg, Cli, Command, EbpfArg, FormatArg, InterfacesArgs, InterfacesFormat, RowsArg,
    SnapshotArgs, SortArg,
};
use crate::error::Error;
use crate::os::cgroup::Limits;
use crate::os::interfaces;
use crate::os::users;
use crate::pipeline::{Progress, Session, SnapshotRequest, SocketLogMode, Sources};
use crate::render::{self, CsvRows, Format};
use crate::report::{By, Ranking, Selection, SortKey, DEFAULT_FLOWS};

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Snapshot(args) => snapshot(*args),
        Command::Interfaces(args) => list_interfaces(args),
    }
}

fn snapshot(args: SnapshotArgs) -> Result<(), Error> {
    let format = report_format(args.format, args.output.as_deref(), &args)?;
    let session = Session::open(request(&args)?)?;
    let bar = if args.quiet {
        None
    } else {
        progress_bar(args.duration)
    };
    let snapshot = session.run(|p| {
        if let Some(bar) = &bar {
            show_progress(bar, p)
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }

    let report = &snapshot.report;
    if !args.quiet {
        for w in &report.warnings {
            eprintln!("netflow: warning: {}", render::for_terminal(w));
        }
    }
    let mut bytes = Vec::new();
    let width = super::width::table_width(snapshot.report_file.is_none());
    render::render(report, format, width, &mut bytes)?;
    match snapshot.report_file {
        Some(target) => target.commit(&bytes).map_err(|e| {
            // Never lose a capture to a full disk: the report goes to stdout instead.
            let _ = write_stdout(&bytes);
            Error::ReportLost(Box::new(e))
        })?,
        None => write_stdout(&for_a_terminal(bytes, format))?,
    }
    if snapshot.complete {
        Ok(())
    } else {
        Err(Error::Incomplete)
    }
}

/// The command line as a session request (every value already validated by clap;
/// user names are looked up here).
fn request(args: &SnapshotArgs) -> Result<SnapshotRequest, Error> {
    Ok(SnapshotRequest {
        interfaces: args.interfaces.clone(),
        duration: args.duration,
        filter: args.filter.clone(),
        buffer_bytes: args.buffer_size,
        rescan_interval: args.rescan_interval,
        queue_capacity: args.queue_size as usize,
        ranking: Ranking {
            sort: match args.sort {
                SortArg::Total => SortKey::Total,
                SortArg::In => SortKey::In,
                SortArg::Out => SortKey::Out,
                SortArg::Packets => SortKey::Packets,
            },
            by: match args.by {
                ByArg::Process => By::Process,
                ByArg::Comm => By::Comm,
                ByArg::User => By::User,
                ByArg::Cgroup => By::Cgroup,
                ByArg::Container => By::Container,
            },
            top: args.top,
            flows: args.connections.unwrap_or(DEFAULT_FLOWS),
            select: Selection {
                pids: args.pids.clone(),
                uids: args
                    .users
                    .iter()
                    .map(|u| uid(u))
                    .collect::<Result<_, _>>()?,
                comms: args.comms.clone(),
                cgroups: args.cgroups.clone(),
                containers: args.containers.clone(),
            },
        },
        socket_log: match args.ebpf {
            EbpfArg::Auto => SocketLogMode::Auto,
            EbpfArg::On => SocketLogMode::On,
            EbpfArg::Off => SocketLogMode::Off,
        },
        // `-o -` is standard output, as for most tools.
        report_file: args.output.clone().filter(|p| p.as_os_str() != "-"),
        pcap_file: args.write.clone(),
        pcap_write_limit: args.write_limit,
        limits: Limits {
            cpu_cores: args.cpu_limit,
            memory_bytes: args.mem_limit,
        },
        handle_signals: true,
        sources: Sources::Live,
    })
}

/// `--user`: a uid as given, or a user name looked up (through NSS, as `id` does).
fn uid(user: &str) -> Result<u32, Error> {
    if let Ok(uid) = user.parse() {
        return Ok(uid);
    }
    users::uid_of(user)?.ok_or_else(|| Error::Usage(format!("--user: no such user `{user}`")))
}

/// The report format: `--format`, else the `-o` file's extension, else a table. An
/// extension that names another format than `--format` is a mistake (exit 2).
fn report_format(
    asked: Option<FormatArg>,
    output: Option<&Path>,
    args: &SnapshotArgs,
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
        (Some(f), _) | (None, Some(f)) => format(f, args),
        (None, None) => format(FormatArg::Table, args),
    }
}

fn format(f: FormatArg, args: &SnapshotArgs) -> Result<Format, Error> {
    if args.rows != RowsArg::Processes && f != FormatArg::Csv {
        return Err(Error::Usage(format!(
            "--rows {} is for --format csv, not {}",
            "flows",
            f.name()
        )));
    }
    Ok(match f {
        FormatArg::Table => Format::Table {
            connections: args.connections.is_some(),
        },
        FormatArg::Json => Format::Json,
        FormatArg::Csv => Format::Csv {
            header: !args.no_header,
            rows: match args.rows {
                RowsArg::Processes => CsvRows::Processes,
                RowsArg::Flows => CsvRows::Flows,
            },
        },
        FormatArg::Prometheus => Format::Prometheus,
    })
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

/// CSV and Prometheus keep other users' process names byte for byte, for programs;
/// printed on the operator's terminal, each line goes through the table's escaping,
/// so a name cannot retitle or clear the terminal. Pipes and files get the exact bytes.
fn for_a_terminal(bytes: Vec<u8>, format: Format) -> Vec<u8> {
    let exact = matches!(format, Format::Csv { .. } | Format::Prometheus);
    if !exact || !io::stdout().is_terminal() {
        return bytes;
    }
    escape_lines(&bytes)
}

/// Every line escaped for a terminal; the line breaks themselves kept.
fn escape_lines(bytes: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(bytes)
        .split('\n')
        .map(|line| render::for_terminal(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_for_a_terminal_are_escaped_and_keep_their_breaks() {
        let csv = "rank,name\n1,\"\u{1b}]0;pwn\u{7}\u{202e}x\"\n";
        let shown = String::from_utf8(escape_lines(csv.as_bytes())).unwrap();
        assert_eq!(shown, "rank,name\n1,\"\\x1b]0;pwn\\x07\\u202ex\"\n");
    }
}
