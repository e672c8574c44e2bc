//! The Prometheus text exposition format, for node_exporter's textfile collector.
//!
//! Every value describes one capture window, so every metric is a gauge: a cron job
//! that rewrites the file each run replaces the values, and `rate()` is never needed
//! (nor correct) on them.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use crate::report::{ProcessRow, Report};

/// Writes the report as Prometheus text (version 0.0.4).
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    process_metrics(report, out)?;
    left_over_metrics(report, out)?;
    capture_metrics(report, out)
}

/// A per-process metric: its name, its help text, and its value `[in, out]`.
type ProcessMetric = (&'static str, &'static str, fn(&ProcessRow) -> [u64; 2]);

const PROCESS_METRICS: [ProcessMetric; 3] = [
    (
        "netflow_process_bytes",
        "IP bytes a process moved during the capture window (header + payload).",
        |p| [p.bytes_in, p.bytes_out],
    ),
    (
        "netflow_process_packets",
        "Packets a process moved during the capture window.",
        |p| [p.packets_in, p.packets_out],
    ),
    (
        "netflow_process_peak_bytes_per_second",
        "A process's busiest second during the capture window.",
        |p| [p.peak_bytes_in_per_sec, p.peak_bytes_out_per_sec],
    ),
];

/// Each process row's metrics, one series per direction.
fn process_metrics(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let shared = shared_ticks(report);
    for (name, text, value) in PROCESS_METRICS {
        help(out, name, text)?;
        for p in &report.processes {
            let [inbound, outbound] = value(p);
            for (dir, v) in [("in", inbound), ("out", outbound)] {
                writeln!(out, "{name}{{{}}} {v}", process_labels(p, dir, &shared))?;
            }
        }
    }
    Ok(())
}

/// Traffic in no process row: the processes beyond `--top`, and what no process
/// could be charged with.
fn left_over_metrics(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    help(
        out,
        "netflow_other_processes_bytes",
        "IP bytes of the processes beyond --top, added up.",
    )?;
    let o = &report.other_processes;
    writeln!(
        out,
        "netflow_other_processes_bytes{{direction=\"in\"}} {}",
        o.bytes_in
    )?;
    writeln!(
        out,
        "netflow_other_processes_bytes{{direction=\"out\"}} {}",
        o.bytes_out
    )?;
    help(
        out,
        "netflow_filtered_out_bytes",
        "IP bytes of the processes --pid, --user, --comm, --cgroup or --container left out.",
    )?;
    let f = &report.summary.filtered_out;
    for (dir, c) in [("in", f.inbound), ("out", f.outbound)] {
        writeln!(
            out,
            "netflow_filtered_out_bytes{{direction=\"{dir}\"}} {}",
            c.bytes
        )?;
    }
    help(
        out,
        "netflow_unattributed_bytes",
        "IP bytes no process could be charged with, by reason.",
    )?;
    for (reason, c) in &report.unattributed {
        writeln!(
            out,
            "netflow_unattributed_bytes{{reason=\"{reason}\"}} {}",
            c.bytes
        )?;
    }
    help(
        out,
        "netflow_unattributed_packets",
        "Packets no process could be charged with, by reason.",
    )?;
    for (reason, c) in &report.unattributed {
        writeln!(
            out,
            "netflow_unattributed_packets{{reason=\"{reason}\"}} {}",
            c.packets
        )?;
    }
    Ok(())
}

/// The capture as a whole: what it captured and lost, and its window.
fn capture_metrics(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let s = &report.summary;
    help(
        out,
        "netflow_captured_bytes",
        "IP bytes captured during the window.",
    )?;
    writeln!(out, "netflow_captured_bytes {}", s.captured.bytes)?;
    help(
        out,
        "netflow_captured_packets",
        "Packets captured during the window.",
    )?;
    writeln!(out, "netflow_captured_packets {}", s.captured.packets)?;
    help(
        out,
        "netflow_dropped_packets",
        "Packets lost: by netflow's queue, the kernel, or the interface.",
    )?;
    for (place, v) in [
        ("queue", s.dropped.queue.packets),
        ("kernel", s.dropped.kernel_packets),
        ("interface", s.dropped.interface_packets),
    ] {
        writeln!(out, "netflow_dropped_packets{{where=\"{place}\"}} {v}")?;
    }
    help(
        out,
        "netflow_capture_duration_seconds",
        "How long the capture ran.",
    )?;
    writeln!(out, "netflow_capture_duration_seconds {}", s.duration_secs)?;
    help(
        out,
        "netflow_capture_end_timestamp_seconds",
        "When the capture ended (Unix time).",
    )?;
    writeln!(
        out,
        "netflow_capture_end_timestamp_seconds {:.3}",
        s.start_unix_seconds + s.duration_secs
    )
}

fn help(out: &mut dyn Write, name: &str, text: &str) -> io::Result<()> {
    writeln!(out, "# HELP {name} {text}")?;
    writeln!(out, "# TYPE {name} gauge")
}

/// A process row's labels. `pid` and `start_time_ticks` together name one process
/// (a pid reused during the window is another process, and node_exporter rejects the
/// whole file if two series share their labels) -- unless two processes got the pid
/// within one tick: then `start_time_ns` (known from the socket log) tells them apart.
/// A row of processes added up has pid 0 and says what they share in `group_by` and
/// `group_key`.
fn process_labels(p: &ProcessRow, dir: &str, shared: &HashSet<(u32, u64)>) -> String {
    let group = match &p.group {
        Some(g) => format!(
            ",group_by=\"{}\",group_key=\"{}\"",
            g.by.name(),
            escape(&g.key)
        ),
        None => String::new(),
    };
    let start_ns = match p.start_time_ns {
        Some(ns) if shared.contains(&(p.pid, p.start_time_ticks)) => {
            format!(",start_time_ns=\"{ns}\"")
        }
        _ => String::new(),
    };
    format!(
        "pid=\"{}\",start_time_ticks=\"{}\"{start_ns},comm=\"{}\",user=\"{}\"{group},direction=\"{dir}\"",
        p.pid,
        p.start_time_ticks,
        escape(&p.name),
        escape(&p.user)
    )
}

/// The pids and start ticks that more than one row has.
fn shared_ticks(report: &Report) -> HashSet<(u32, u64)> {
    let mut rows = HashMap::new();
    for r in report.processes.iter().filter(|r| r.group.is_none()) {
        *rows.entry((r.pid, r.start_time_ticks)).or_insert(0) += 1;
    }
    rows.into_iter()
        .filter(|&(_, n)| n > 1)
        .map(|(tick, _)| tick)
        .collect()
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::sample_report;
    use crate::report::GroupBy;

    fn text(report: &Report) -> String {
        let mut buf = Vec::new();
        write(report, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn traffic_filtered_out_is_one_series_per_direction() {
        let mut report = sample_report();
        report.summary.filtered_out.inbound.bytes = 900;
        let mut buf = Vec::new();
        write(&report, &mut buf).unwrap();
        let t = String::from_utf8(buf).unwrap();
        assert!(
            t.contains("netflow_filtered_out_bytes{direction=\"in\"} 900\n"),
            "{t}"
        );
        assert!(
            t.contains("netflow_filtered_out_bytes{direction=\"out\"} 0\n"),
            "{t}"
        );
    }

    #[test]
    fn process_rows_become_labelled_gauges() {
        let t = text(&sample_report());
        assert!(t.contains("# TYPE netflow_process_bytes gauge\n"));
        assert!(t.contains(
            "netflow_process_bytes{pid=\"4242\",start_time_ticks=\"99\",comm=\"curl\",user=\"alice\",direction=\"in\"} 1048576\n"
        ));
        assert!(t.contains("netflow_unattributed_bytes{reason=\"no_socket\"} 300\n"));
        assert!(t.contains("netflow_dropped_packets{where=\"kernel\"} 4\n"));
        assert!(t.contains("netflow_capture_end_timestamp_seconds 1795939210.000\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut r = sample_report();
        r.processes[0].name = "we\"ird\\na\nme".into();
        let t = text(&r);
        assert!(t.contains("comm=\"we\\\"ird\\\\na\\nme\""), "{t}");
    }

    /// Each sample's metric name and labels, as node_exporter keys a series.
    fn series(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.rsplit_once(' ').unwrap().0)
            .collect()
    }

    #[test]
    fn a_reused_pid_and_rows_added_up_are_distinct_series() {
        let mut r = sample_report();
        // The same pid, a later process: another start time.
        let mut reused = r.processes[0].clone();
        reused.start_time_ticks = 5_000;
        reused.rank = 3;
        r.processes.push(reused.clone());
        // And again within the same tick: told apart by the start in ns.
        reused.start_time_ns = Some(50_000_000_001);
        reused.rank = 4;
        r.processes.push(reused);
        for (name, by) in [("curl", GroupBy::Name), ("", GroupBy::Other)] {
            let mut folded = r.processes[1].clone();
            (folded.pid, folded.start_time_ticks, folded.name) = (0, 0, name.into());
            folded.group = Some(crate::report::Group {
                by,
                key: name.into(),
            });
            r.processes.push(folded);
        }
        let t = text(&r);
        let all = series(&t);
        let unique: std::collections::HashSet<&str> = all.iter().copied().collect();
        assert_eq!(unique.len(), all.len(), "duplicate series:\n{t}");
        assert!(t.contains("start_time_ns=\"50000000001\""), "{t}");
        assert_eq!(
            t.matches("pid=\"77\",start_time_ticks=\"5\",comm").count(),
            6,
            "no start_time_ns where the tick is the row's own"
        );
        assert!(t.contains(
            "netflow_process_bytes{pid=\"0\",start_time_ticks=\"0\",comm=\"curl\",user=\"root\",group_by=\"name\",group_key=\"curl\",direction=\"out\"} 200\n"
        ), "{t}");
    }
}
