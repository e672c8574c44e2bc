//! What netflow prints about other users' processes (issue #13, items 3, 4, 18, 20):
//! names chosen by whoever runs a process, a host name, interface names and the user
//! database are input from outside. The table escapes every control and bidi
//! character visibly; JSON, CSV and Prometheus keep the exact (lossily decoded)
//! strings; no field is dropped because of its encoding; users are named through NSS.
//!
//! Real processes (Python children that rename themselves with prctl) send real UDP
//! on a namespace's loopback; a private mount namespace puts a fixture /etc/passwd in
//! place, so the host's user database is never touched.
#![allow(
    clippy::disallowed_methods,
    reason = "tests drive the real binary: they read clocks and files"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

use unicode_width::UnicodeWidthChar;

use crate::common::*;

/// Debian's Python (prometheus_client is installed there).
const PYTHON: &str = "/usr/bin/python3";

/// A process name with ESC, a newline, a byte that is not UTF-8 and a right-to-left
/// override (prctl(PR_SET_NAME) takes any bytes, up to 15).
const HOSTILE_COMM: &[u8] = b"a\x1b\nb\xff\xe2\x80\xaec";
/// Arguments that retitle a terminal, clear it, forge a table row and reverse text.
const HOSTILE_ARGS: [&str; 4] = ["\x1b]0;title\x07", "\x1b[2J", "x\ny", "\u{202e}evil"];
/// Their visible forms in the table.
const ESCAPED_ARGS: [&str; 4] = ["\\x1b]0;title\\x07", "\\x1b[2J", "x\\ny", "\\u202eevil"];
/// A host name with a colour sequence and a bidi override (sethostname takes any bytes).
const HOSTILE_HOST: &str = "web\x1b[31m-1\u{202e}";
/// An interface name with a clear-screen sequence and a bidi override (15 bytes at most).
const HOSTILE_IFACE: &str = "\x1b[2Jx\u{202e}y";

/// /etc/passwd for the user-name tests: a Latin-1 name (`jörg`), a name too wide for
/// the table's USER column, and no line for 65534 (NSS's systemd module knows it).
const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\n\
j\xf6rg:x:4242:4242:J\xf6rg:/nonexistent:/usr/sbin/nologin\n\
a-very-long-user-name:x:4243:4243::/nonexistent:/usr/sbin/nologin\n";

/// Sends and receives 20 datagrams of 100 bytes on loopback, after renaming itself to
/// the bytes given in hex (argv[1]; empty keeps the name). Says `ready` when its
/// sockets exist, starts on a line from stdin, says `done`, and exits at end of input.
const SENDER: &str = r#"import ctypes, socket, sys, time
comm = bytes.fromhex(sys.argv[1])
if comm:
    ctypes.CDLL(None).prctl(15, comm, 0, 0, 0)
port = int(sys.argv[2])
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind(("127.0.0.1", port))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("ready", flush=True)
sys.stdin.readline()
for _ in range(20):
    s.sendto(b"x" * 100, ("127.0.0.1", port))
    r.recv(2048)
    time.sleep(0.01)
print("done", flush=True)
sys.stdin.read()
"#;

/// A Python child running [`SENDER`] in a namespace, as a given user.
struct Sender {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Sender {
    fn start(ns: &str, uid: u32, comm: &[u8], port: u16, args: &[&str]) -> Sender {
        let hex: String = comm.iter().map(|b| format!("{b:02x}")).collect();
        let id = uid.to_string();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, "setpriv"])
            .arg(format!("--reuid={id}"))
            .arg(format!("--regid={id}"))
            .args(["--clear-groups", PYTHON, "-c", SENDER, &hex])
            .arg(port.to_string())
            .args(args);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.next().expect("sender said nothing").unwrap();
        assert_eq!(ready, "ready");
        Sender {
            stdin: child.stdin.take(),
            child,
            lines,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the datagrams and waits until they are through.
    fn send(&mut self) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
        let done = self.lines.next().expect("sender stopped").unwrap();
        assert_eq!(done, "done");
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        close_and_reap(&mut self.child, self.stdin.take());
    }
}

/// `program` in namespace `ns`, inside private mount and UTS namespaces where
/// /etc/passwd is the file `passwd` and the host name is `host` (each when given):
/// the host's own user database and name are never changed.
fn isolated(ns: &str, passwd: Option<&Path>, host: Option<&str>, program: &str) -> Command {
    let script = r#"set -e
[ -z "$NF_PASSWD" ] || mount --bind "$NF_PASSWD" /etc/passwd
[ -z "$NF_HOST" ] || /usr/bin/python3 -c 'import os, socket; socket.sethostname(os.environ["NF_HOST"])'
exec "$@""#;
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, "unshare", "--mount", "--uts"])
        .args([
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            program,
        ])
        .env("NF_PASSWD", passwd.map(Path::as_os_str).unwrap_or_default())
        .env("NF_HOST", host.unwrap_or_default())
        .env_remove("COLUMNS");
    c
}

/// Starts `cmd snapshot ARGS` and waits until it captures. Every wrapper in `cmd`
/// execs the next program, so the child's pid is netflow's.
fn start_capture(mut cmd: Command, args: &[&str]) -> Child {
    let child = cmd
        .arg("snapshot")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start netflow");
    wait_capturing(child.id());
    child
}

/// Waits (bounded) for a successful exit and returns what it printed.
fn finish(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "netflow did not finish in time");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "netflow failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Characters that must never reach a terminal raw: C0 and C1 controls, DEL, bidi
/// controls, line and paragraph separators (the newline ending each line aside).
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(
                    c,
                    '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}'
                )
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
        })
        .collect()
}

/// Display columns of a line, as a terminal counts them.
fn columns(line: &str) -> usize {
    line.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// The rows of a CSV report whose `pid` is `pid`, as header → value.
fn csv_row(csv: &[u8], pid: u32) -> std::collections::HashMap<String, String> {
    let mut reader = csv::Reader::from_reader(csv);
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(Result::unwrap)
        .find(|r| r.iter().nth(1) == Some(pid.to_string().as_str()))
        .map(|r| {
            header
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_else(|| panic!("pid {pid} not in the CSV"))
}

/// The labels of every Prometheus sample of `pid`, parsed by the official client.
fn prometheus_labels(text: &[u8], pid: u32) -> Vec<serde_json::Value> {
    let script = "import json, sys\n\
                  from prometheus_client.parser import text_string_to_metric_families\n\
                  for family in text_string_to_metric_families(sys.stdin.read()):\n\
                  \x20   for s in family.samples:\n\
                  \x20       print(json.dumps(s.labels))";
    let mut child = Command::new(PYTHON)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the Prometheus text does not parse");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["pid"].as_str() == Some(&*pid.to_string()))
        .collect()
}

#[test]
#[ignore = "needs root"]
fn hostile_names_leave_the_table_clean_and_machine_formats_exact() {
    let lab = Lab::new();
    run(&[
        "ip",
        "-n",
        &lab.a,
        "link",
        "add",
        HOSTILE_IFACE,
        "type",
        "veth",
        "peer",
        "name",
        "p0",
    ]);
    run(&["ip", "-n", &lab.a, "link", "set", HOSTILE_IFACE, "up"]);
    let mut sender = Sender::start(&lab.a, 0, HOSTILE_COMM, 7610, &HOSTILE_ARGS);
    // The same capture four times over, once per format.
    let formats = ["table", "json", "csv", "prometheus"];
    let runs: Vec<Child> = formats
        .iter()
        .map(|format| {
            let cmd = isolated(&lab.a, None, Some(HOSTILE_HOST), NETFLOW);
            let args = ["-d", "3s", "-i", "lo", "-i", HOSTILE_IFACE, "-n", "0"];
            start_capture(cmd, &[&args[..], &["--format", format]].concat())
        })
        .collect();
    sender.send();
    let outs: Vec<Output> = runs
        .into_iter()
        .map(|c| finish(c, Duration::from_secs(20)))
        .collect();
    let pid = sender.pid();
    let comm = String::from_utf8_lossy(HOSTILE_COMM).into_owned();
    let args = HOSTILE_ARGS.join(" ");

    // The table: nothing raw, everything visible.
    let table = String::from_utf8(outs[0].stdout.clone()).expect("the table is UTF-8");
    assert_eq!(raw_controls(&table), [], "raw controls in:\n{table}");
    let line = table
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{pid} ")))
        .unwrap_or_else(|| panic!("no row for {pid}:\n{table}"));
    assert!(line.ends_with(&ESCAPED_ARGS.join(" ")), "{line}");
    assert!(line.contains(" root "), "{line}");
    let header = table.lines().next().unwrap();
    assert!(header.contains("on web\\x1b[31m-1\\u202e at"), "{header}");
    assert!(header.contains("lo, \\x1b[2Jx\\u202ey"), "{header}");
    // stderr goes to a terminal too.
    for out in &outs {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(raw_controls(&stderr), [], "{stderr}");
    }

    // JSON: the exact strings (a name that is not UTF-8 is kept lossily decoded), and
    // the user is still known although /proc/PID/status is not UTF-8.
    let report: serde_json::Value = serde_json::from_slice(&outs[1].stdout).unwrap();
    let p = row(&report, pid);
    assert_eq!(p["name"], comm.as_str());
    assert!(p["cmdline"].as_str().unwrap().ends_with(&args), "{p:#}");
    assert_eq!(p["user"], "root");
    assert_eq!(p["uid"], 0);
    assert_eq!(report["summary"]["host"], HOSTILE_HOST);
    assert_eq!(
        report["summary"]["interfaces"],
        serde_json::json!(["lo", HOSTILE_IFACE])
    );

    // CSV: the same exact strings.
    let csv = csv_row(&outs[2].stdout, pid);
    assert_eq!(csv["name"], comm);
    assert_eq!(csv["user"], "root");
    assert!(csv["cmdline"].ends_with(&args), "{:?}", csv["cmdline"]);

    // Prometheus, read back by the official parser.
    let labels = prometheus_labels(&outs[3].stdout, pid);
    assert!(!labels.is_empty(), "no samples for pid {pid}");
    for l in labels {
        assert_eq!(l["comm"], comm.as_str());
        assert_eq!(l["user"], "root");
    }
}

#[test]
#[ignore = "needs root"]
fn interface_names_are_escaped_in_the_interfaces_table() {
    let lab = Lab::new();
    run(&[
        "ip",
        "-n",
        &lab.a,
        "link",
        "add",
        HOSTILE_IFACE,
        "type",
        "veth",
        "peer",
        "name",
        "p0",
    ]);
    let netflow = |format: &str| {
        let out = lab
            .cmd(&lab.a, Path::new(NETFLOW))
            .args(["interfaces", "--format", format])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let table = netflow("table");
    assert_eq!(raw_controls(&table), [], "{table}");
    assert!(table.contains("\\x1b[2Jx\\u202ey "), "{table}");
    let json: serde_json::Value = serde_json::from_str(&netflow("json")).unwrap();
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&HOSTILE_IFACE), "{names:?}");
}

/// Writes [`PASSWD`] into `dir`.
fn passwd_fixture(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("passwd");
    std::fs::write(&path, PASSWD).unwrap();
    path
}

#[test]
#[ignore = "needs root"]
fn users_are_named_through_nss_even_with_latin1_in_passwd() {
    let lab = Lab::new();
    let dir = Scratch::new("nss");
    let passwd = passwd_fixture(&dir.0);
    // What NSS itself answers for 65534 with this passwd file (nss-systemd's `nobody`).
    let getent = isolated(&lab.a, Some(&passwd), None, "getent")
        .args(["passwd", "65534"])
        .output()
        .unwrap();
    let nss_name = String::from_utf8_lossy(&getent.stdout)
        .split(':')
        .next()
        .unwrap()
        .to_string();
    assert!(
        getent.status.success() && !nss_name.is_empty(),
        "this test needs a uid that only NSS knows: 65534 through nss-systemd \
         (passwd: files systemd in /etc/nsswitch.conf)"
    );
    let mut senders = [
        Sender::start(&lab.a, 0, b"", 7620, &[]),
        Sender::start(&lab.a, 4242, b"", 7621, &[]),
        Sender::start(&lab.a, 65534, b"", 7622, &[]),
    ];
    let nf = start_capture(
        isolated(&lab.a, Some(&passwd), None, NETFLOW),
        &["-d", "3s", "-i", "lo", "-n", "0", "--format", "json"],
    );
    for s in &mut senders {
        s.send();
    }
    let report: serde_json::Value =
        serde_json::from_slice(&finish(nf, Duration::from_secs(20)).stdout).unwrap();
    let user = |s: &Sender| row(&report, s.pid())["user"].clone();
    assert_eq!(user(&senders[0]), "root");
    // One Latin-1 byte costs that name its byte, not every user their name.
    assert_eq!(user(&senders[1]), "j\u{fffd}rg");
    assert_eq!(user(&senders[2]), nss_name.as_str());
}

#[test]
#[ignore = "needs root"]
fn table_fits_the_terminal_and_pipes_get_whole_command_lines() {
    let lab = Lab::new();
    let dir = Scratch::new("width");
    let passwd = passwd_fixture(&dir.0);
    let long_arg = format!("--payload={}", "z".repeat(150));
    let mut sender = Sender::start(&lab.a, 4243, b"", 7630, &[&long_arg]);
    let args = ["-d", "3s", "-i", "lo", "-n", "0", "-q", "--format", "table"];
    // COLUMNS=80 on a pipe; a plain pipe; a 90-column terminal (a pty from script(1),
    // whose shell writes its pid, then execs netflow).
    let mut narrow = isolated(&lab.a, Some(&passwd), None, NETFLOW);
    narrow.env("COLUMNS", "80");
    let piped = isolated(&lab.a, Some(&passwd), None, NETFLOW);
    let mut tty = isolated(&lab.a, Some(&passwd), None, "script");
    let pid_file = dir.0.join("tty.pid");
    let command = format!(
        "stty cols 90 rows 40; echo $$ > {}; exec {NETFLOW} snapshot {}",
        pid_file.display(),
        args.join(" "),
    );
    tty.args(["-q", "-e", "-c", &command, "/dev/null"]);
    let runs = [start_capture(narrow, &args), start_capture(piped, &args)];
    let tty = tty
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let tty_netflow = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|p| p.trim().parse().ok())
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "script(1) never started netflow");
        std::thread::sleep(Duration::from_millis(20));
    };
    wait_capturing(tty_netflow);
    sender.send();
    let [narrow, piped] = runs.map(|c| finish(c, Duration::from_secs(20)));
    let tty = finish(tty, Duration::from_secs(20));
    let pid = sender.pid();
    let row_of = |table: &str| {
        table
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{pid} ")))
            .unwrap_or_else(|| panic!("no row for {pid}:\n{table}"))
            .to_string()
    };

    let narrow = String::from_utf8(narrow.stdout).unwrap();
    for line in narrow.lines() {
        assert!(columns(line) <= 80, "wider than 80: {line:?}");
    }
    let row = row_of(&narrow);
    // A name wider than the USER column shows as the uid, never cut.
    assert!(row.contains(" 4243 "), "{row}");
    assert!(!row.contains("a-very-"), "{row}");
    assert!(row.ends_with('…'), "{row}");
    // The command keeps at least a readable part at 80 columns.
    assert!(row.contains("python3 -c import"), "{row}");

    let piped = String::from_utf8(piped.stdout).unwrap();
    let row = row_of(&piped);
    assert!(row.ends_with(&long_arg), "{row}");
    assert!(row.contains(" a-very-long-user-name "), "{row}");

    let tty = String::from_utf8(tty.stdout).unwrap();
    for line in tty.lines() {
        let line = line.trim_end_matches('\r');
        assert!(
            columns(line) <= 90,
            "wider than the 90-column tty: {line:?}"
        );
    }
    assert!(row_of(&tty).trim_end_matches('\r').ends_with('…'));
}

#[test]
fn a_process_name_that_is_not_utf8_keeps_its_user_and_cgroup() {
    // A /proc/PID directory as the kernel writes it for a process renamed by prctl to
    // bytes that are not UTF-8 (the name opens `status`), in a cgroup named likewise.
    let dir = Scratch::new("proc-latin1");
    let pid_dir = dir.0.join("4242");
    std::fs::create_dir_all(&pid_dir).unwrap();
    std::fs::write(
        pid_dir.join("stat"),
        [
            &b"4242 (a\x1b\nb\xff) S 1 4242 4242 0 -1 4194304 101 0 1 0 0 0 0 0 20 0 1 0 5000 "[..],
            b"3133440 388 18446744073709551615 93887711625216 93887711645097 140723784855424 ",
            b"0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 93887711661104 93887711662720 93887838285824 ",
            b"140723784858141 140723784858161 140723784858161 140723784859627 0\n",
        ]
        .concat(),
    )
    .unwrap();
    std::fs::write(
        pid_dir.join("status"),
        b"Name:\ta\\033\\nb\xff\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t1000\t1000\t1000\n",
    )
    .unwrap();
    std::fs::write(pid_dir.join("cmdline"), b"").unwrap();
    std::fs::write(pid_dir.join("cgroup"), b"0::/user.slice/caf\xe9.scope\n").unwrap();
    let users = netflow::os::users::Users::parse(b"alice:x:1000:1000::/home/alice:/bin/sh\n");
    let p = netflow::os::procfs::read_process(&dir.0, 4242, 5000, &users).expect("read");
    assert_eq!(p.name, "a\x1b\nb\u{fffd}");
    assert_eq!(p.uid, Some(1000));
    assert_eq!(p.user, "alice");
    assert_eq!(p.cgroup, "/user.slice/caf\u{fffd}.scope");
}

#[test]
#[ignore = "needs root"]
fn a_binary_whose_name_is_not_utf8_still_captures() {
    let lab = Lab::new();
    let dir = Scratch::new("latin1-binary");
    let name = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"net\xffflow");
    let copy = dir.0.join(name);
    std::fs::copy(NETFLOW, &copy).unwrap();
    // /proc/self/status says `Name: net\xffflow`: the capability check must still read it.
    let out = lab
        .cmd(&lab.a, &copy)
        .args(["snapshot", "-d", "1s", "-i", "lo", "-q", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}
