//! man/netflow.1 and completions/ are generated from the clap definition and checked
//! in. This test fails when they no longer match the CLI; regenerate them with
//! `NETFLOW_REGENERATE=1 cargo test --test integration generated`.
#![allow(
    clippy::disallowed_methods,
    reason = "this test reads and writes the checked-in files"
)]

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use netflow::cli::Cli;

fn man_page() -> Vec<u8> {
    // The page names the release (`netflow 0.1.0`), not the build: `--version` adds the
    // commit and a dirty flag, and with them the committed page would be stale after
    // every commit and in every dirty tree.
    let cmd = Cli::command().version(env!("CARGO_PKG_VERSION"));
    let mut out = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(&mut out).unwrap();
    man.render_name_section(&mut out).unwrap();
    man.render_synopsis_section(&mut out).unwrap();
    man.render_description_section(&mut out).unwrap();
    man.render_options_section(&mut out).unwrap();
    man.render_subcommands_section(&mut out).unwrap();
    for sub in cmd.get_subcommands() {
        let name = format!("netflow {}", sub.get_name());
        let sub_cmd = sub.clone().bin_name(name.clone());
        out.extend_from_slice(format!(".SH \"{}\"\n", name.to_uppercase()).as_bytes());
        let sub_man = clap_mangen::Man::new(sub_cmd);
        sub_man.render_synopsis_section(&mut out).unwrap();
        sub_man.render_options_section(&mut out).unwrap();
    }
    out.extend_from_slice(EXTRA_SECTIONS.as_bytes());
    man.render_version_section(&mut out).unwrap();
    out
}

/// The sections clap cannot derive: how netflow is used, its exit status (as in the
/// README's table), the files and environment it reads, and related pages it ships
/// beside (libpcap's filter syntax).
const EXTRA_SECTIONS: &str = r#".SH EXAMPLES
.TP
\fBnetflow snapshot \-d 30s\fR
Who moved the most traffic in the next 30 seconds, as a table on the terminal.
.TP
\fBnetflow snapshot \-d 30s \-o /var/lib/netflow/report.json\fR
The same as JSON (the format follows the file name), written atomically for other programs.
.TP
\fBnetflow snapshot \-d 1m \-f 'host 192.0.2.10'\fR
Who talks to this address?
.TP
\fBnetflow snapshot \-i eth0 \-d 10s \-w /root/who.pcapng\fR
Also keep every packet, each with a comment naming its process (Wireshark shows it).
.TP
\fB*/10 * * * * root netflow snapshot \-d 30s \-o /var/lib/netflow/report.json\fR
A cron line: a 30\-second report every 10 minutes.
.TP
\fB* * * * * root netflow snapshot \-d 50s \-o /var/lib/node_exporter/textfile/netflow.prom\fR
Per\-process traffic into Prometheus through node_exporter's textfile collector.
.TP
\fBsystemd\fR
A oneshot service (\fBType=oneshot\fR, \fBExecStart=/usr/bin/netflow snapshot \-d 50s \-o /var/lib/netflow/report.json\fR, \fBAmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN CAP_DAC_READ_SEARCH CAP_SYS_PTRACE CAP_BPF CAP_PERFMON\fR, \fBCPUQuota=50%\fR, \fBMemoryMax=200M\fR) started by a timer (\fBOnCalendar=*:0/10\fR); the README has both units whole.
.SH "EXIT STATUS"
.TP
\fB0\fR
A complete report was written (also after Ctrl\-C, SIGTERM or SIGHUP).
.TP
\fB1\fR
The report was written but is incomplete (the pcap file could not be written whole, an interface vanished), or a runtime failure (a thread that cannot start).
.TP
\fB2\fR
A command line or path that cannot work, always before capture: bad option or duration, unknown or down interface, invalid filter, an output path that may not be written, a self\-limit that cannot be applied.
.TP
\fB3\fR
Not enough privileges to capture (root or CAP_NET_RAW is needed).
.TP
\fB130\fR
A second Ctrl\-C, SIGTERM or SIGHUP while the report was being finished.
.TP
\fB131\fR
SIGQUIT: netflow exits at once, leaving no file behind.
.SH FILES
.TP
\fB/proc/net/{tcp,tcp6,udp,udp6}\fR, \fB/proc/PID/fd\fR, \fB/proc/PID/status\fR
Which process owns each socket (with NETLINK_SOCK_DIAG where the kernel has it).
.TP
\fB/sys/class/net/IF/statistics\fR
Each interface's own counters, beside what netflow captured.
.TP
\fB/sys/fs/cgroup\fR
Where \-\-cpu\-limit and \-\-mem\-limit create netflow's own group, removed at exit.
.TP
\fB.netflow\-PID\-N.tmp\fR
A temporary output, only on filesystems without O_TMPFILE; removed at exit, or by a later run if netflow was killed.
.SH ENVIRONMENT
.TP
\fBCOLUMNS\fR
The table's width (else the terminal's; piped, command lines are printed whole).
.SH "SEE ALSO"
\fBpcap\-filter\fR(7)
"#;

fn completion(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "netflow", &mut out);
    complete_interface_names(shell, String::from_utf8(out).unwrap()).into_bytes()
}

/// clap completes `-i` with file names; interface names are what it takes. Each shell
/// gets its own way of listing them (bash: /sys/class/net; zsh and fish: their own
/// interface helpers), plus `any`.
fn complete_interface_names(shell: Shell, script: String) -> String {
    match shell {
        Shell::Bash => {
            let files = "COMPREPLY=($(compgen -f \"${cur}\"))";
            let names =
                "COMPREPLY=($(compgen -W \"any $(ls /sys/class/net 2>/dev/null)\" -- \"${cur}\"))";
            let mut out = script.clone();
            for label in ["                --interface)\n", "                -i)\n"] {
                let at = out.find(label).expect("bash case for -i") + label.len();
                let line = out[at..].find(files).expect("its compgen") + at;
                out.replace_range(line..line + files.len(), names);
            }
            out
        }
        Shell::Zsh => script.replace(":IFACE:_default'", ":IFACE:(any $(ls /sys/class/net))'"),
        Shell::Fish => script.replacen(
            "-s i -l interface -d",
            "-s i -l interface -x -a \"any (__fish_print_interfaces)\" -d",
            1,
        ),
        _ => script,
    }
}

fn check(path: &str, expected: Vec<u8>) {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if std::env::var_os("NETFLOW_REGENERATE").is_some() {
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, &expected).unwrap();
        return;
    }
    let actual = std::fs::read(&full).unwrap_or_default();
    assert!(
        actual == expected,
        "{path} is out of date with the CLI: run NETFLOW_REGENERATE=1 cargo test --test integration generated"
    );
}

#[test]
fn man_page_matches_the_cli() {
    let page = man_page();
    let text = String::from_utf8_lossy(&page);
    assert!(text.contains("snapshot") && text.contains("EXIT STATUS"));
    check("man/netflow.1", page);
}

#[test]
fn completions_offer_interface_names_and_formats() {
    let bash = String::from_utf8(completion(Shell::Bash)).unwrap();
    assert_eq!(
        bash.matches("/sys/class/net").count(),
        2,
        "-i and --interface"
    );
    let zsh = String::from_utf8(completion(Shell::Zsh)).unwrap();
    assert_eq!(zsh.matches(":IFACE:(any $(ls /sys/class/net))").count(), 2);
    let fish = String::from_utf8(completion(Shell::Fish)).unwrap();
    assert!(fish.contains("__fish_print_interfaces"));
    for script in [&bash, &zsh, &fish] {
        assert!(script.contains("prometheus"), "formats after --format");
    }
}

#[test]
fn completions_match_the_cli() {
    check("completions/netflow.bash", completion(Shell::Bash));
    check("completions/_netflow", completion(Shell::Zsh));
    check("completions/netflow.fish", completion(Shell::Fish));
}
