//! The table for people: ranked processes, binary units, rates per second, totals.
//!
//! Every field that comes from outside (names, command lines, users, host, interfaces,
//! filter, limits, warnings) goes through [`for_terminal`] first, then is measured in
//! terminal columns (unicode-width), never in bytes or chars.

use std::borrow::Cow;
use std::io::{self, Write};

use unicode_width::UnicodeWidthChar;

use super::escape::for_terminal;
use super::{human_bytes, Width};
use crate::model::Counter;
use crate::report::{FlowRow, GroupBy, ProcessRow, Report, SocketLogState, SocketLogStatus};

/// The USER column's width, and on a terminal the widest name it shows: a wider name
/// shows as its uid (as `ps` does), never cut to look like another user.
const USER: usize = 8;
/// The peak-rate columns are left out when they would leave COMMAND fewer columns
/// than this (so at 80 columns COMMAND gets 37 instead of 15).
const MIN_COMMAND: usize = 30;
/// COMMAND never gets fewer columns, however narrow the terminal (lines then wrap).
const FLOOR_COMMAND: usize = 12;
/// `warning: `, and the indent of a warning's continuation lines.
const WARNING: &str = "warning: ";

/// Column widths, decided once for the whole table.
struct Layout {
    /// The terminal's width; `None` writes every field whole (not a terminal).
    width: Option<usize>,
    user: usize,
    peaks: bool,
    /// COMMAND's width; `None` for whole command lines.
    command: Option<usize>,
}

impl Layout {
    fn new(width: Width, users: &[Cow<'_, str>]) -> Layout {
        let user = users.iter().map(|u| columns(u)).fold(USER, usize::max);
        let fixed =
            |peaks: bool| 7 + 1 + user + 1 + 9 + 1 + 9 + 1 + if peaks { 22 } else { 0 } + 5 + 1;
        match width {
            Width::Unlimited => Layout {
                width: None,
                user,
                peaks: true,
                command: None,
            },
            Width::Columns(n) => {
                let peaks = n >= fixed(true) + MIN_COMMAND;
                Layout {
                    width: Some(n),
                    user,
                    peaks,
                    command: Some(n.saturating_sub(fixed(peaks)).max(FLOOR_COMMAND)),
                }
            }
        }
    }

    /// `line` cut to the terminal's width (whole when there is none).
    fn fit<'a>(&self, line: &'a str) -> Cow<'a, str> {
        match self.width {
            Some(n) => clip(line, n),
            None => Cow::Borrowed(line),
        }
    }

    /// `text` cut to what is left of the line after `used` columns.
    fn rest<'a>(&self, text: &'a str, used: usize) -> Cow<'a, str> {
        match self.width {
            Some(n) => clip(text, n.saturating_sub(used)),
            None => Cow::Borrowed(text),
        }
    }
}

/// A ranked table for people: binary units, rates per second, then the totals. It fits
/// `width` (a terminal) or, with [`Width::Unlimited`], prints every field whole.
///
/// With `connections`, each process's connections follow its line (as `ss -tp` lists
/// them), in place of its top peer.
pub fn write(
    report: &Report,
    width: Width,
    connections: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    let users: Vec<Cow<'_, str>> = report
        .processes
        .iter()
        .map(|p| user_cell(p, width))
        .collect();
    let layout = Layout::new(width, &users);
    title(report, &layout, out)?;
    process_rows(report, &users, &layout, connections, out)?;
    writeln!(out)?;
    totals(report, out)?;
    notes(report, &layout, out)
}

/// The first line: where, when and how long, then a blank line.
fn title(report: &Report, layout: &Layout, out: &mut dyn Write) -> io::Result<()> {
    let s = &report.summary;
    let interfaces: Vec<Cow<'_, str>> = s.interfaces.iter().map(|i| for_terminal(i)).collect();
    let title = format!(
        "netflow snapshot on {} at {}, {:.1}s on {}{}",
        for_terminal(&s.host),
        s.start_time,
        s.duration_secs,
        interfaces.join(", "),
        match &s.filter {
            Some(f) => format!(" (filter: {})", for_terminal(f)),
            None => String::new(),
        }
    );
    writeln!(out, "{}", layout.fit(&title))?;
    writeln!(out)
}

/// The column headers, a line per process (and its top peer), and the processes
/// beyond `--top` added up.
fn process_rows(
    report: &Report,
    users: &[Cow<'_, str>],
    layout: &Layout,
    connections: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    let peaks = |inbound: &str, outbound: &str| {
        if layout.peaks {
            format!("{inbound:>10} {outbound:>10} ")
        } else {
            String::new()
        }
    };
    writeln!(
        out,
        "{:>7} {} {:>9} {:>9} {}{:>5} COMMAND",
        "PID",
        pad("USER", layout.user),
        "IN",
        "OUT",
        peaks("PEAK IN/s", "PEAK OUT/s"),
        "CONNS"
    )?;
    for (p, user) in report.processes.iter().zip(users) {
        writeln!(
            out,
            "{:>7} {} {:>9} {:>9} {}{:>5} {}",
            p.pid,
            pad(user, layout.user),
            human_bytes(p.bytes_in),
            human_bytes(p.bytes_out),
            peaks(
                &human_bytes(p.peak_bytes_in_per_sec),
                &human_bytes(p.peak_bytes_out_per_sec)
            ),
            p.connections,
            row_command(p, layout.command),
        )?;
        if connections {
            for f in &p.flows {
                writeln!(out, "{}", layout.fit(&flow_line(f)))?;
            }
        } else if let Some(peer) = p.peers.first() {
            let line = format!(
                "{:>7} top peer {} {}: {} in, {} out",
                "",
                peer.remote,
                peer.proto.name(),
                human_bytes(peer.bytes_in),
                human_bytes(peer.bytes_out)
            );
            writeln!(out, "{}", layout.fit(&line))?;
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
    Ok(())
}

/// One connection under its process: protocol, local -> remote, bytes each way, how it
/// was matched; or the connections past `--connections`, added up.
fn flow_line(f: &FlowRow) -> String {
    let bytes = format!(
        "{} in, {} out",
        human_bytes(f.bytes_in),
        human_bytes(f.bytes_out)
    );
    if f.rest {
        return format!("{:>7} + {} more connections: {bytes}", "", f.count);
    }
    let matched: Vec<&str> = f.matched_by.iter().map(|q| q.name()).collect();
    format!(
        "{:>7} {:<4} {} -> {}  {bytes}  ({}{})",
        "",
        f.proto.map_or("", |p| p.name()),
        f.local.as_deref().unwrap_or(""),
        f.remote.as_deref().unwrap_or(""),
        matched.join("+"),
        if f.open == Some(false) {
            ", closed"
        } else {
            ""
        }
    )
}

/// Where the captured packets went: attributed, unattributed by reason, dropped; and
/// how much of each interface's traffic was captured.
fn totals(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let s = &report.summary;
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
    totals_line(out, "attributed", s.attributed.total())?;
    let f = &s.filtered_out;
    if f.processes > 0 {
        let mut c = f.inbound;
        c.merge(f.outbound);
        writeln!(
            out,
            "{:<13}{:<16} {:>10} packets {:>10} ({} processes not selected)",
            "",
            "filtered out",
            c.packets,
            human_bytes(c.bytes),
            f.processes
        )?;
    }
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
            "{:<13}{} captured {} of the {} it carried{}",
            "interface",
            pad(&clip(&for_terminal(&i.name), 16), 16),
            human_bytes(i.captured.bytes),
            human_bytes(c.ip_bytes),
            match c.coverage {
                Some(ratio) => format!(" ({:.1}%)", ratio * 100.0),
                None => String::new(),
            }
        )?;
    }
    Ok(())
}

/// How the capture ran: self-limits, attribution sources, warnings.
fn notes(report: &Report, layout: &Layout, out: &mut dyn Write) -> io::Result<()> {
    let s = &report.summary;
    for limit in &s.self_limits {
        writeln!(
            out,
            "{:<13}{}",
            "self-limit",
            layout.rest(&for_terminal(limit), 13)
        )?;
    }
    writeln!(
        out,
        "{:<13}{}",
        "sources",
        layout.rest(&for_terminal(&sources(&s.socket_log)), 13)
    )?;
    for w in &report.warnings {
        let lines = wrap(&for_terminal(w), layout.width, WARNING.len());
        for (i, line) in lines.iter().enumerate() {
            let lead = if i == 0 { WARNING } else { "" };
            writeln!(out, "{lead:<width$}{line}", width = WARNING.len())?;
        }
    }
    Ok(())
}

/// Where attribution came from, in words.
fn sources(log: &SocketLogStatus) -> String {
    match (log.state, &log.reason) {
        (SocketLogState::Active, _) => format!(
            "/proc and the kernel socket log ({} sockets logged)",
            log.records
        ),
        (_, Some(reason)) => format!("/proc only; the kernel socket log is unavailable: {reason}"),
        (SocketLogState::Off, None) => "/proc only (kernel socket log off)".into(),
        (SocketLogState::Unavailable, None) => "/proc only (kernel socket log unavailable)".into(),
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

/// The USER cell: the name, escaped; on a terminal, the uid when the name is wider
/// than [`USER`].
fn user_cell(p: &ProcessRow, width: Width) -> Cow<'_, str> {
    let name = for_terminal(&p.user);
    match (width, p.uid) {
        (Width::Columns(_), Some(uid)) if columns(&name) > USER => Cow::Owned(uid.to_string()),
        (Width::Columns(_), None) => Cow::Owned(clip(&name, USER).into_owned()),
        _ => name,
    }
}

/// What the COMMAND column shows: the command, escaped and cut to `max` columns,
/// marked when the process has exited (the mark survives the cut).
fn row_command(p: &ProcessRow, max: Option<usize>) -> String {
    let cmd = match &p.group {
        // `--by`: what the row's processes share, in place of one command line.
        Some(g) if !matches!(g.by, GroupBy::Name | GroupBy::Other) => format!(
            "({} processes, {} {})",
            p.processes,
            g.by.name(),
            if g.key.is_empty() { "none" } else { &g.key }
        ),
        _ => command(&p.name, &p.cmdline),
    };
    let cmd = for_terminal(&cmd);
    const EXITED: &str = " (exited)";
    match (p.exited, max) {
        (false, None) => cmd.into_owned(),
        (false, Some(max)) => clip(&cmd, max).into_owned(),
        (true, None) => format!("{cmd}{EXITED}"),
        (true, Some(max)) => format!("{}{EXITED}", clip(&cmd, max.saturating_sub(EXITED.len()))),
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

/// A character's width on a terminal. Measured per character, as terminals do
/// (wcwidth), so a cut lands where the terminal's columns do; escaped text has no
/// control characters, the only ones without a width.
fn char_columns(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// Terminal columns `text` takes.
fn columns(text: &str) -> usize {
    text.chars().map(char_columns).sum()
}

/// `text` cut to `max` terminal columns, the cut marked with `…`.
fn clip(text: &str, max: usize) -> Cow<'_, str> {
    if columns(text) <= max {
        return Cow::Borrowed(text);
    }
    let mut cut = String::with_capacity(text.len());
    let mut used = 0;
    for c in text.chars() {
        let w = char_columns(c);
        if used + w > max.saturating_sub(1) {
            break;
        }
        used += w;
        cut.push(c);
    }
    cut.push('…');
    Cow::Owned(cut)
}

/// `text` padded with spaces to `width` terminal columns (`{:<N}` counts chars, so a
/// wide name would push the columns after it out of line).
fn pad(text: &str, width: usize) -> String {
    let mut padded = text.to_string();
    padded.extend(std::iter::repeat_n(
        ' ',
        width.saturating_sub(columns(text)),
    ));
    padded
}

/// `text` in lines that fit `width` after an `indent`, broken at spaces; a word wider
/// than the line gets a line of its own. Whole when there is no width.
fn wrap(text: &str, width: Option<usize>, indent: usize) -> Vec<String> {
    let Some(width) = width else {
        return vec![text.to_string()];
    };
    let room = width.saturating_sub(indent).max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && columns(&line) + 1 + columns(word) > room {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::sample_report;

    fn text(report: &Report, width: Width) -> String {
        let mut buf = Vec::new();
        write(report, width, false, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    fn row(text: &str, pid: u32) -> &str {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{pid} ")))
            .unwrap_or_else(|| panic!("no row for {pid}:\n{text}"))
    }

    #[test]
    fn connections_are_listed_under_their_process_only_when_asked() {
        let report = sample_report();
        let plain = text(&report, Width::Unlimited);
        assert!(plain.contains("top peer [2001:db8::80]:443"), "{plain}");
        assert!(!plain.contains(" -> "), "{plain}");
        let mut buf = Vec::new();
        write(&report, Width::Unlimited, true, &mut buf).unwrap();
        let listed = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = listed.lines().collect();
        let curl = lines
            .iter()
            .position(|l| l.trim_start().starts_with("4242 "))
            .unwrap();
        assert_eq!(
            lines[curl + 1],
            "        tcp  [2001:db8::2]:51000 -> [2001:db8::80]:443  1.0MiB in, 2.0KiB out  (exact)"
        );
        let dnsd = lines
            .iter()
            .position(|l| l.trim_start().starts_with("77 "))
            .unwrap();
        assert_eq!(
            lines[dnsd + 1],
            "        udp  10.0.0.2:53 -> 10.0.0.7:40000  200B in, 150B out  (bound_udp, closed)"
        );
        assert_eq!(
            lines[dnsd + 2],
            "        + 1 more connections: 100B in, 50B out"
        );
        assert!(!listed.contains("top peer"), "{listed}");
    }

    #[test]
    fn traffic_filtered_out_has_its_own_totals_line() {
        let mut report = sample_report();
        assert!(!text(&report, Width::Unlimited).contains("filtered out"));
        report.summary.filtered_out = crate::report::FilteredOut {
            inbound: Counter {
                packets: 3,
                bytes: 2_048,
            },
            outbound: Counter {
                packets: 1,
                bytes: 1_024,
            },
            processes: 2,
        };
        let shown = text(&report, Width::Unlimited);
        assert!(
            shown.contains(
                "filtered out              4 packets     3.0KiB (2 processes not selected)"
            ),
            "{shown}"
        );
    }

    #[test]
    fn a_row_added_up_by_user_says_so_in_place_of_a_command() {
        let mut report = sample_report();
        let p = &mut report.processes[0];
        p.pid = 0;
        p.processes = 3;
        p.group = Some(crate::report::Group {
            by: GroupBy::User,
            key: "alice".into(),
        });
        let shown = text(&report, Width::Unlimited);
        assert!(
            row(&shown, 0).ends_with("(3 processes, user alice)"),
            "{shown}"
        );
    }

    /// A report whose every outside field is hostile.
    fn hostile_report() -> Report {
        let mut r = sample_report();
        r.summary.host = "web\x1b[31m-1\u{202e}".into();
        r.summary.interfaces = vec!["\x1b[2Jx".into(), "lo".into()];
        r.summary.interface_stats[0].name = "\x1b[2Jx\u{202e}y".into();
        r.summary.filter = Some("udp\n\u{9b}2J".into());
        r.summary.self_limits = vec!["cgroup /x\x1b]0;t\x07".into()];
        r.summary.socket_log.state = SocketLogState::Unavailable;
        r.summary.socket_log.reason = Some("bpf: \x1b[2J".into());
        r.processes[0].cmdline = "/usr/bin/curl \x1b]0;title\x07 \x1b[2J x\ny \u{202e}evil".into();
        r.processes[0].user = "j\u{fffd}rg\x1b".into();
        r.processes[1].cmdline = String::new();
        r.processes[1].name = "a\x1b\nb\u{fffd}\u{202e}c".into();
        r.warnings = vec!["interface \x1b[2Jx\u{202e}y went away\r\n".into()];
        r
    }

    fn raw_controls(text: &str) -> Vec<char> {
        text.chars()
            .filter(|&c| c != '\n' && for_terminal(&c.to_string()) != c.to_string())
            .collect()
    }

    #[test]
    fn table_matches_the_expected_layout() {
        let text = text(&sample_report(), Width::Columns(100));
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
    fn every_line_fits_the_terminal() {
        let mut report = hostile_report();
        report.processes[0].cmdline = "x".repeat(300);
        report.processes[0].user = "a-very-long-user-name".into();
        report.summary.filter = Some("port ".repeat(40));
        report.warnings.push(format!("{} end", "word ".repeat(60)));
        for width in [80, 100, 132] {
            let text = text(&report, Width::Columns(width));
            for line in text.lines() {
                assert!(columns(line) <= width, "wider than {width}: {line}");
            }
        }
    }

    #[test]
    fn at_80_columns_the_peak_columns_make_room_for_the_command() {
        let mut report = sample_report();
        report.processes[0].cmdline = format!("/usr/bin/curl {}", "x".repeat(100));
        let text = text(&report, Width::Columns(80));
        assert!(!text.contains("PEAK"), "{text}");
        let row = row(&text, 4242);
        assert_eq!(columns(row), 80, "{row}");
        assert!(
            row.contains(" curl xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
            "{row}"
        );
        let wider = self::text(&report, Width::Columns(95));
        assert!(wider.contains("PEAK"), "{wider}");
    }

    #[test]
    fn a_user_name_wider_than_the_column_shows_as_the_uid_never_cut() {
        let mut report = sample_report();
        report.processes[0].user = "a-very-long-user-name".into();
        let text = text(&report, Width::Columns(100));
        assert!(row(&text, 4242).starts_with("   4242 1000     "), "{text}");
        assert!(!text.contains("a-very-"), "{text}");
        // Whole where nothing needs to fit.
        let whole = self::text(&report, Width::Unlimited);
        assert!(
            row(&whole, 4242).contains(" a-very-long-user-name "),
            "{whole}"
        );
        assert!(
            row(&whole, 77).starts_with("     77 root                  "),
            "{whole}"
        );
    }

    #[test]
    fn wide_characters_are_measured_in_terminal_columns() {
        let mut report = sample_report();
        // Eight columns in four characters: it fits, and the columns after it line up.
        report.processes[0].user = "山田太郎".into();
        report.processes[1].user = "山田太郎x".into();
        report.processes[0].cmdline = "曲".repeat(100);
        // COMMAND gets 36 columns: 17 wide characters and the `…`, not 18 and a half.
        let text = text(&report, Width::Columns(101));
        let (a, b) = (row(&text, 4242), row(&text, 77));
        assert!(a.starts_with("   4242 山田太郎 "), "{text}");
        assert!(b.starts_with("     77 0        "), "{text}");
        assert_eq!(
            columns(a),
            100,
            "a wide character never straddles the edge: {a}"
        );
        for line in text.lines() {
            assert!(columns(line) <= 101, "{line}");
        }
    }

    #[test]
    fn pipes_get_whole_command_lines() {
        let mut report = sample_report();
        let long = format!("/usr/bin/curl {}", "x".repeat(300));
        report.processes[0].cmdline = long.clone();
        let text = text(&report, Width::Unlimited);
        assert!(row(&text, 4242).ends_with(&long[9..]), "{text}");
        assert!(text.contains("PEAK OUT/s"));
    }

    #[test]
    fn every_outside_field_is_escaped() {
        for width in [Width::Columns(100), Width::Unlimited] {
            let text = text(&hostile_report(), width);
            assert_eq!(raw_controls(&text), [], "{text}");
            for visible in [
                "on web\\x1b[31m-1\\u202e at",
                "on \\x1b[2Jx, lo (filter: udp",
                "interface    \\x1b[2Jx\\u202ey ",
                "self-limit   cgroup /x\\x1b]0;t\\x07",
                "bpf: \\x1b[2J",
                "     77 root",
                "[a\\x1b\\nb\u{fffd}\\u202ec] (exited)",
                "warning: interface \\x1b[2Jx\\u202ey went away\\r\\n",
            ] {
                assert!(text.contains(visible), "{visible:?} not in:\n{text}");
            }
            assert!(row(&text, 4242).contains("j\u{fffd}rg\\x1b"), "{text}");
        }
        let whole = text(&hostile_report(), Width::Unlimited);
        assert!(whole.contains("lo (filter: udp\\n\\u009b2J)"), "{whole}");
        assert!(
            row(&whole, 4242).ends_with("curl \\x1b]0;title\\x07 \\x1b[2J x\\ny \\u202eevil"),
            "{whole}"
        );
    }

    #[test]
    fn the_exited_mark_survives_the_cut() {
        let mut report = sample_report();
        report.processes[1].cmdline = format!("/usr/sbin/dnsd {}", "y".repeat(200));
        let text = text(&report, Width::Columns(100));
        let row = row(&text, 77);
        assert!(row.ends_with("y… (exited)"), "{row}");
        assert_eq!(columns(row), 100);
    }

    #[test]
    fn warnings_wrap_at_spaces_under_their_label() {
        assert_eq!(
            wrap("aa bb cc dd", Some(13), 9),
            ["aa", "bb", "cc", "dd"].map(String::from)
        );
        assert_eq!(
            wrap("aa bb cc", Some(15), 9),
            ["aa bb", "cc"].map(String::from)
        );
        assert_eq!(wrap("aa bb cc", None, 9), ["aa bb cc"].map(String::from));
    }

    #[test]
    fn clip_counts_columns_and_marks_the_cut() {
        assert_eq!(clip("abcdef", 6), "abcdef");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("山田太郎", 5), "山田…");
        assert_eq!(pad("山", 4), "山  ");
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
