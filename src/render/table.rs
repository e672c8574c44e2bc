use std::io::{self, Write};

use super::human_bytes;
use crate::model::Counter;
use crate::report::{Report, SocketLogStatus};

/// The whole table fits a 100-column terminal; COMMAND takes what is left.
const WIDTH: usize = 100;
const FIXED: usize = 7 + 1 + 8 + 1 + 9 + 1 + 9 + 1 + 10 + 1 + 10 + 1 + 5 + 1;

/// A ranked table for people: binary units, rates per second, then the totals.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let s = &report.summary;
    writeln!(
        out,
        "netflow snapshot on {} at {}, {:.1}s on {}{}",
        s.host,
        s.start_time,
        s.duration_secs,
        s.interfaces.join(", "),
        match &s.filter {
            Some(f) => format!(" (filter: {f})"),
            None => String::new(),
        }
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:>7} {:<8} {:>9} {:>9} {:>10} {:>10} {:>5} COMMAND",
        "PID", "USER", "IN", "OUT", "PEAK IN/s", "PEAK OUT/s", "CONNS"
    )?;
    for p in &report.processes {
        writeln!(
            out,
            "{:>7} {:<8} {:>9} {:>9} {:>10} {:>10} {:>5} {}",
            p.pid,
            clip(&p.user, 8),
            human_bytes(p.bytes_in),
            human_bytes(p.bytes_out),
            human_bytes(p.peak_bytes_in_per_sec),
            human_bytes(p.peak_bytes_out_per_sec),
            p.connections,
            clip(&row_command(p), WIDTH - FIXED),
        )?;
        if let Some(peer) = p.peers.first() {
            let line = format!(
                "{:>7} top peer {} {}: {} in, {} out",
                "",
                peer.remote,
                match peer.proto {
                    crate::model::Proto::Tcp => "tcp",
                    crate::model::Proto::Udp => "udp",
                },
                human_bytes(peer.bytes_in),
                human_bytes(peer.bytes_out)
            );
            writeln!(out, "{}", clip(&line, WIDTH))?;
        }
    }
    if report.processes.is_empty() {
        writeln!(out, "{:>7} (no traffic was attributed to a process)", "-")?;
    }
    let o = &report.other_processes;
    if o.count > 0 {
        writeln!(
            out,
            "{:>7} {} more processes: {} in, {} out",
            "+",
            o.count,
            human_bytes(o.bytes_in),
            human_bytes(o.bytes_out)
        )?;
    }
    writeln!(out)?;
    let attributed = s.attributed.total();
    totals_line(out, "captured", s.captured)?;
    if !s.both_ends_local.is_zero() {
        // Loopback packets are charged to both local sockets: say so next to the total.
        writeln!(
            out,
            "{:<13}{:<16} {:>10} packets {:>10} (counted out and in)",
            "",
            "both ends local",
            s.both_ends_local.packets,
            human_bytes(s.both_ends_local.bytes)
        )?;
    }
    totals_line(out, "attributed", attributed)?;
    totals_line(out, "unattributed", s.unattributed)?;
    for (reason, c) in report.unattributed.iter().filter(|(_, c)| !c.is_zero()) {
        writeln!(
            out,
            "{:<13}{:<16} {:>10} packets {:>10}",
            "",
            reason,
            c.packets,
            human_bytes(c.bytes)
        )?;
    }
    writeln!(
        out,
        "{:<13}{} packets by netflow's queue, {} by the kernel, {} by the interface",
        "dropped", s.dropped.queue.packets, s.dropped.kernel_packets, s.dropped.interface_packets
    )?;
    for i in &s.interface_stats {
        let Some(c) = &i.counters else { continue };
        writeln!(
            out,
            "{:<13}{:<16} captured {} of the {} it carried{}",
            "interface",
            clip(&i.name, 16),
            human_bytes(i.captured.bytes),
            human_bytes(c.ip_bytes),
            match c.coverage {
                Some(ratio) => format!(" ({:.1}%)", ratio * 100.0),
                None => String::new(),
            }
        )?;
    }
    for limit in &s.self_limits {
        writeln!(out, "{:<13}{}", "self-limit", clip(limit, WIDTH - 13))?;
    }
    writeln!(
        out,
        "{:<13}{}",
        "sources",
        clip(&sources(&s.socket_log), WIDTH - 13)
    )?;
    for w in &report.warnings {
        writeln!(out, "warning: {w}")?;
    }
    Ok(())
}

/// Where attribution came from, in words.
fn sources(log: &SocketLogStatus) -> String {
    match (log.state, &log.reason) {
        ("active", _) => format!(
            "/proc and the kernel socket log ({} sockets logged)",
            log.records
        ),
        (_, Some(reason)) => format!("/proc only; the kernel socket log is unavailable: {reason}"),
        (state, None) => format!("/proc only (kernel socket log {state})"),
    }
}

fn totals_line(out: &mut dyn Write, label: &str, c: Counter) -> io::Result<()> {
    writeln!(
        out,
        "{:<13}{:<16} {:>10} packets {:>10}",
        label,
        "",
        c.packets,
        human_bytes(c.bytes)
    )
}

/// What the COMMAND column shows: the command, marked when the process has exited.
fn row_command(p: &crate::report::ProcessRow) -> String {
    let cmd = command(&p.name, &p.cmdline);
    if p.exited {
        format!("{cmd} (exited)")
    } else {
        cmd
    }
}

/// The command line with the program's directory dropped; `[name]` when there is none
/// (kernel threads, or a process that cleared its arguments).
fn command(name: &str, cmdline: &str) -> String {
    let mut parts = cmdline.splitn(2, ' ');
    match parts.next().filter(|p| !p.is_empty()) {
        None => format!("[{name}]"),
        Some(program) => {
            let base = program.rsplit('/').next().unwrap_or(program);
            match parts.next() {
                Some(args) => format!("{base} {args}"),
                None => base.to_string(),
            }
        }
    }
}

/// Cuts to `max` characters, marking the cut with `…`.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::sample_report;

    #[test]
    fn table_matches_the_expected_layout() {
        let mut buf = Vec::new();
        write(&sample_report(), &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let expected = "\
netflow snapshot on web-1 at 2026-11-26T08:00:00Z, 10.0s on eth0, lo (filter: tcp or udp)

    PID USER            IN       OUT  PEAK IN/s PEAK OUT/s CONNS COMMAND
   4242 alice       1.0MiB    2.0KiB   512.0KiB     1.5KiB     1 curl -o /dev/null http://example.t…
        top peer [2001:db8::80]:443 tcp: 1.0MiB in, 2.0KiB out
     77 root          300B      200B       300B       200B     2 dnsd (exited)

captured                            1013 packets     1.0MiB
attributed                          1005 packets     1.0MiB
unattributed                           8 packets       440B
             no_socket                 3 packets       300B
             not_ip                    5 packets       140B
dropped      0 packets by netflow's queue, 4 by the kernel, 0 by the interface
interface    eth0             captured 1.0MiB of the 1.0MiB it carried (99.2%)
sources      /proc and the kernel socket log (57 sockets logged)
";
        assert_eq!(text, expected);
    }

    #[test]
    fn every_line_fits_100_columns() {
        let mut report = sample_report();
        report.processes[0].cmdline = "x".repeat(300);
        report.processes[0].user = "a-very-long-user-name".into();
        let mut buf = Vec::new();
        write(&report, &mut buf).unwrap();
        for line in String::from_utf8(buf).unwrap().lines() {
            assert!(line.chars().count() <= WIDTH, "too wide: {line}");
        }
    }

    #[test]
    fn command_drops_the_program_directory() {
        assert_eq!(
            command("python3", "/usr/bin/python3 -m http.server"),
            "python3 -m http.server"
        );
        assert_eq!(command("kworker", ""), "[kworker]");
    }
}
