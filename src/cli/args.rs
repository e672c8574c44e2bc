use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Which processes on this host are moving the most network traffic?
///
/// netflow captures packets for a bounded time, charges each one to the process that
/// owns its socket (from /proc, and from a kernel socket log for sockets too
/// short-lived for /proc), and prints a ranked report as a table, JSON or CSV.
// NETFLOW_VERSION comes from build.rs: `0.1.0 (git abc1234; socklog sha256:0123abcd)`,
// what a bug report needs to name the binary that ran (issue #20).
#[derive(Debug, Parser)]
#[command(name = "netflow", version = env!("NETFLOW_VERSION"), propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Capture for a while, then report which processes moved the most traffic.
    #[command(after_help = SNAPSHOT_AFTER_HELP)]
    Snapshot(Box<SnapshotArgs>),
    /// List the interfaces netflow can capture on, with their state and addresses.
    Interfaces(InterfacesArgs),
}

/// Formats and exit codes, under `netflow snapshot --help`.
const SNAPSHOT_AFTER_HELP: &str = "\
Formats: table (people), json (programs; schema in the README), csv (one row per
process; --no-header to append), prometheus (node_exporter's textfile collector).

Exit status: 0 complete report; 1 report written but incomplete (pcap file, vanished
interface) or a runtime failure; 2 a command line or path that cannot work (before
capture); 3 not enough privileges; 130 a second Ctrl-C/SIGTERM/SIGHUP; 131 SIGQUIT.";

/// The longest capture accepted: a snapshot, not a daemon.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// How long to capture, e.g. 500ms, 30s, 5m, 1h (a bare number is seconds). Ctrl-C,
    /// SIGTERM or SIGHUP stops early and still reports everything captured.
    #[arg(short, long, value_name = "DUR", default_value = "5m", value_parser = parse_duration)]
    pub duration: Duration,

    /// Interface to capture on (repeatable); `any` captures on all at once. Default:
    /// every interface that is up and has an address, loopback included, except bridge
    /// ports and bond members (their master shows the same packets).
    #[arg(short, long = "interface", value_name = "IFACE")]
    pub interfaces: Vec<String>,

    /// A tcpdump-style capture filter, e.g. 'tcp port 443' (compiled by libpcap).
    #[arg(short, long, value_name = "EXPR")]
    pub filter: Option<String>,

    /// How many processes to show; 0 shows all.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 20)]
    pub top: usize,

    /// What to rank processes by: bytes (total, in, out) or packets (in and out).
    #[arg(long, value_enum, default_value_t = SortArg::Total)]
    pub sort: SortArg,

    /// What a row stands for: a process, or all processes sharing a name (a `curl`
    /// loop), a user, a cgroup (a service) or a container, added up, with a
    /// `processes` count.
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = ByArg::Process)]
    pub by: ByArg,

    /// List each process's connections under it in the table (as `ss -tp` does): the
    /// busiest N (default 50; 0 lists all), the rest added up in one line. JSON always
    /// carries them, and CSV with `--rows flows`; N applies there too.
    #[arg(short = 'c', long, value_name = "N", num_args = 0..=1, require_equals = true,
          default_missing_value = "50")]
    pub connections: Option<usize>,

    /// Rows only for this process (host pid; repeatable). The traffic of processes
    /// not selected is one `filtered out` total, so the summary still adds up.
    /// Selections of one kind add up (any of them); of different kinds, each must hold.
    #[arg(long = "pid", value_name = "PID", help_heading = "Narrowing",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub pids: Vec<u32>,

    /// Rows only for processes of this user (a name or a uid; repeatable).
    #[arg(long = "user", value_name = "USER|UID", help_heading = "Narrowing",
          value_parser = not_empty)]
    pub users: Vec<String>,

    /// Rows only for processes with this name (the kernel's `comm`, as the report
    /// shows it; repeatable).
    #[arg(long = "comm", value_name = "NAME", help_heading = "Narrowing",
          value_parser = not_empty)]
    pub comms: Vec<String>,

    /// Rows only for processes in this cgroup or below it, as the report shows the
    /// path (e.g. /system.slice/nginx.service; repeatable).
    #[arg(long = "cgroup", value_name = "PATH-PREFIX", help_heading = "Narrowing",
          value_parser = parse_cgroup)]
    pub cgroups: Vec<String>,

    /// Rows only for processes in this container: its id or an id prefix, as
    /// `docker ps` shows it (repeatable).
    #[arg(long = "container", value_name = "ID", help_heading = "Narrowing",
          value_parser = parse_container_id)]
    pub containers: Vec<String>,

    /// Report format: table (for people), json, csv or prometheus (node_exporter's
    /// textfile collector). Default: from the -o file's extension (.json, .csv, .prom,
    /// .txt), else table.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// What a CSV row stands for: a process, or one of its connections (its process's
    /// columns repeated, then the connection's; see `--connections`).
    #[arg(long, value_enum, value_name = "ROWS", default_value_t = RowsArg::Processes)]
    pub rows: RowsArg,

    /// Leave out the CSV header row, to append runs to one file (`>> daily.csv` from
    /// cron). Only `--format csv` has a header row.
    #[arg(long)]
    pub no_header: bool,

    /// Write the report to FILE instead of standard output: a new file renamed over
    /// FILE when complete (readers never see half a report), or straight into a
    /// character device or FIFO. Symbolic links and other files are refused.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Also save every captured packet, full length, to a new pcap file (mode 0600),
    /// named only when complete. An existing FILE is replaced only if it is your own
    /// regular file with one link. A name ending in .pcapng writes pcapng with a comment
    /// per packet naming its process.
    #[arg(short, long = "write", value_name = "FILE")]
    pub write: Option<PathBuf>,

    /// Stop writing packets to the -w file once it reaches SIZE (e.g. 500M, 2G; a bare
    /// number is MiB); capture and the report go on, and a warning says what was left out.
    #[arg(long, value_name = "SIZE", value_parser = parse_write_limit, requires = "write")]
    pub write_limit: Option<u64>,

    /// How often to rescan /proc for sockets; unknown traffic also triggers an early,
    /// rate-limited rescan.
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = parse_rescan_interval)]
    pub rescan_interval: Duration,

    /// Confine netflow itself to this many CPU cores (e.g. 0.5), through a cgroup (v2 or
    /// v1) that is removed on exit. If the limit makes netflow fall behind, the dropped
    /// packets are reported.
    #[arg(long, value_name = "CORES", value_parser = parse_cores)]
    pub cpu_limit: Option<f64>,

    /// Confine netflow's memory, e.g. 200M or 1G (a bare number is MiB), through a
    /// cgroup. At the limit the kernel reclaims, and at worst stops netflow.
    #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
    pub mem_limit: Option<u64>,

    /// Print no warnings on stderr (errors still are). The report keeps its warnings.
    #[arg(short, long)]
    pub quiet: bool,

    /// The kernel socket log (eBPF): records which process used each socket as it
    /// happens, so connections and processes too short-lived for /proc are attributed.
    /// `auto` uses it when the kernel and privileges allow (root, or CAP_BPF and
    /// CAP_PERFMON) and says in the report when it could not; `on` fails instead.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = EbpfArg::Auto)]
    pub ebpf: EbpfArg,

    /// Kernel capture buffer per interface, e.g. 64M (a bare number is MiB; 1M to 2047M):
    /// netflow's largest memory (the ring is mapped into it). Default 8M, or 32M with -w
    /// (full packets take several times the room of the 256-byte headers kept
    /// otherwise): 8 MiB of headers is about 50,000 small packets, and kept up with a
    /// million packets per second here; libpcap's 2 MiB drops packets in bursts.
    #[arg(long, value_name = "SIZE", value_parser = parse_buffer_size)]
    pub buffer_size: Option<u64>,

    /// Packets the queue between capture and attribution holds (a run of one flow's
    /// packets takes one place); when it is full, packets are dropped and counted,
    /// never waited for.
    #[arg(long, value_name = "PACKETS", default_value_t = 65_536,
          value_parser = clap::value_parser!(u32).range(1_024..=4_194_304))]
    pub queue_size: u32,
}

#[derive(Debug, Args)]
pub struct InterfacesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = InterfacesFormat::Table)]
    pub format: InterfacesFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InterfacesFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Table,
    Json,
    Csv,
    /// Prometheus text format, for node_exporter's textfile collector.
    Prometheus,
}

impl FormatArg {
    /// The name the command line uses.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RowsArg {
    Processes,
    Flows,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EbpfArg {
    Auto,
    On,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SortArg {
    Total,
    In,
    Out,
    Packets,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ByArg {
    Process,
    Comm,
    User,
    Cgroup,
    Container,
}

/// A capture duration: a human duration, or bare seconds as `timeout` and iftop take
/// them; more than zero, at most [`MAX_DURATION`].
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bare_seconds = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let d = if bare_seconds {
        s.parse::<f64>()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .ok_or_else(|| format!("`{s}` is not a number of seconds like 30 or 1.5"))?
    } else {
        humantime::parse_duration(s)
            .map_err(|e| format!("`{s}` is not a duration like 500ms, 30s, 5m or 1h ({e})"))?
    };
    if d.is_zero() {
        return Err("the duration must be more than zero".into());
    }
    if d > MAX_DURATION {
        return Err(format!("`{s}` is longer than the maximum of 7 days"));
    }
    Ok(d)
}

/// A name to match: not empty.
fn not_empty(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("an empty name matches nothing".into());
    }
    Ok(s.to_string())
}

/// A cgroup path prefix as the report shows it: absolute.
fn parse_cgroup(s: &str) -> Result<String, String> {
    if !s.starts_with('/') {
        return Err(format!(
            "`{s}` is not a cgroup path like /system.slice/nginx.service"
        ));
    }
    Ok(s.to_string())
}

/// A container id or prefix: 1 to 64 lower-case hex digits (names are not looked up).
fn parse_container_id(s: &str) -> Result<String, String> {
    let hex = s
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if s.is_empty() || s.len() > 64 || !hex {
        return Err(format!(
            "`{s}` is not a container id (lower-case hex, as `docker ps` shows it; names are not looked up)"
        ));
    }
    Ok(s.to_string())
}

/// CPU cores for `--cpu-limit`: 0.01 to 1024.
fn parse_cores(s: &str) -> Result<f64, String> {
    let cores: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of cores like 0.5 or 2"))?;
    if !(0.01..=1024.0).contains(&cores) {
        return Err(format!("`{s}` is not between 0.01 and 1024 cores"));
    }
    Ok(cores)
}

/// A memory size for `--mem-limit`: at least 16 MiB.
fn parse_memory(s: &str) -> Result<u64, String> {
    parse_size(s, 16 << 20, u64::MAX)
}

/// The kernel capture ring: 1 MiB to 2047 MiB (libpcap takes an int).
fn parse_buffer_size(s: &str) -> Result<u64, String> {
    parse_size(s, 1 << 20, 2047 << 20)
}

/// The most a pcap file may grow to: at least its header and one small packet.
fn parse_write_limit(s: &str) -> Result<u64, String> {
    parse_size(s, 1 << 10, u64::MAX)
}

/// A size in bytes: a whole number with K, M or G (binary units; `KiB`, `MB` and the
/// like also read as binary); a bare number is MiB. Between `min` and `max`.
fn parse_size(s: &str, min: u64, max: u64) -> Result<u64, String> {
    let bad = || format!("`{s}` is not a size like 200M or 1G");
    let digits = s.trim().trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = s.trim()[digits.len()..].to_ascii_uppercase();
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let scale: u64 = match unit.trim_end_matches('B').trim_end_matches('I') {
        "" | "M" => 1 << 20,
        "K" => 1 << 10,
        "G" => 1 << 30,
        _ => return Err(bad()),
    };
    let bytes = n.checked_mul(scale).ok_or_else(bad)?;
    if bytes < min {
        return Err(format!("`{s}` is less than the minimum of {}", size(min)));
    }
    if bytes > max {
        return Err(format!("`{s}` is more than the maximum of {}", size(max)));
    }
    Ok(bytes)
}

/// A limit as the command line would write it.
fn size(bytes: u64) -> String {
    match bytes {
        b if b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b if b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b => format!("{}K", b >> 10),
    }
}

/// A rescan interval: 10ms to 1 minute.
fn parse_rescan_interval(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration like 500ms or 2s ({e})"))?;
    if d < Duration::from_millis(10) || d > Duration::from_secs(60) {
        return Err(format!("`{s}` is not between 10ms and 60s"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_accept_human_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn bare_numbers_are_seconds_as_in_timeout_and_iftop() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("1.2.3").is_err());
        assert!(parse_duration("604801").is_err(), "over 7 days");
        assert!(parse_duration("99999999999999999999999").is_err());
    }

    #[test]
    fn buffer_and_write_limits_take_sizes_with_units() {
        assert_eq!(parse_buffer_size("64M"), Ok(64 << 20));
        assert_eq!(parse_buffer_size("64"), Ok(64 << 20));
        assert_eq!(parse_buffer_size("1G"), Ok(1 << 30));
        assert_eq!(
            parse_buffer_size("2G"),
            Err("`2G` is more than the maximum of 2047M".into()),
            "libpcap takes an int"
        );
        assert_eq!(
            parse_buffer_size("512K"),
            Err("`512K` is less than the minimum of 1M".into())
        );
        assert_eq!(parse_write_limit("100M"), Ok(100 << 20));
        assert!(parse_write_limit("lots").is_err());
    }

    #[test]
    fn durations_reject_zero_negative_and_huge_values() {
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("8days").is_err());
    }

    #[test]
    fn snapshot_defaults_match_the_documentation() {
        let cli = Cli::try_parse_from(["netflow", "snapshot"]).unwrap();
        let Command::Snapshot(a) = cli.command else {
            panic!("expected snapshot")
        };
        assert_eq!(a.duration, Duration::from_secs(300));
        assert_eq!(a.top, 20);
        assert_eq!(a.format, None, "from -o's extension, else table");
        assert_eq!(a.sort, SortArg::Total);
        assert_eq!(a.rescan_interval, Duration::from_secs(1));
        assert_eq!(a.buffer_size, None);
        assert_eq!(a.ebpf, EbpfArg::Auto);
        assert_eq!(a.connections, None, "the table lists no connections");
    }

    #[test]
    fn connections_take_a_count_only_after_an_equals_sign() {
        let connections = |args: &[&str]| {
            let cli = Cli::try_parse_from([&["netflow", "snapshot"], args].concat())?;
            let Command::Snapshot(a) = cli.command else {
                panic!("expected snapshot")
            };
            Ok::<_, clap::Error>(a.connections)
        };
        assert_eq!(connections(&["-c"]).unwrap(), Some(50));
        assert_eq!(connections(&["--connections=5"]).unwrap(), Some(5));
        assert_eq!(connections(&["--connections=0"]).unwrap(), Some(0));
        assert!(connections(&["--connections", "-1"]).is_err());
        assert!(connections(&["--connections=-1"]).is_err());
    }

    #[test]
    fn limits_parse_cores_and_sizes() {
        assert_eq!(parse_cores("0.5"), Ok(0.5));
        assert!(parse_cores("0").is_err());
        assert!(parse_cores("lots").is_err());
        assert_eq!(parse_memory("200M"), Ok(200 << 20));
        assert_eq!(parse_memory("200"), Ok(200 << 20));
        assert_eq!(parse_memory("1G"), Ok(1 << 30));
        assert_eq!(parse_memory("64MiB"), Ok(64 << 20));
        assert_eq!(parse_memory("20480K"), Ok(20 << 20));
        assert!(parse_memory("1M").is_err(), "below the minimum");
        assert!(parse_memory("12X").is_err());
        assert!(parse_memory("-5M").is_err());
    }

    #[test]
    fn top_must_be_a_number() {
        assert!(Cli::try_parse_from(["netflow", "snapshot", "-n", "lots"]).is_err());
    }
}
