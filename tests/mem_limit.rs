//! `--mem-limit` on a host with ~100k sockets held by other processes (issue #13
//! item 10): a scan grows with the host's socket tables, so under a memory limit
//! netflow keeps what fits, counts what it skipped, says so, and still reports.
#![allow(
    clippy::disallowed_methods,
    reason = "tests drive the real binary: they read clocks and files"
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::*;

/// Processes that hold the sockets: the open-file limit here cannot be raised much
/// above 20,000, so 7 of them hold 15,000 each (105,000 sockets).
const HOARDERS: usize = 7;
const SOCKETS_EACH: usize = 15_000;

/// Binds `n` UDP sockets on 127.0.0.K (K = argv[1] + 1), ports 10000.., and holds them
/// until stdin closes.
const HOARD: &str = r#"
import resource, socket, sys
k, n = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, n + 64))
held = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((f"127.0.0.{k + 1}", 10000 + i))
    held.append(s)
print("ready", flush=True)
sys.stdin.read()
"#;

/// Python processes in a namespace, each holding `SOCKETS_EACH` UDP sockets; each is
/// stopped (stdin closed, then killed by pid if need be) on drop, even when a test fails.
pub struct Hoarders(Vec<(Child, Option<ChildStdin>)>);

impl Hoarders {
    pub fn start(lab: &Lab, ns: &str, count: usize, each: usize) -> Hoarders {
        let mut hoarders = Hoarders(Vec::new());
        let (tx, rx) = mpsc::channel();
        for k in 0..count {
            let mut child = Command::new("ip")
                .args(["netns", "exec", ns, "python3", "-c", HOARD])
                .args([k.to_string(), each.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("start python3");
            let stdout = child.stdout.take().unwrap();
            let tx = tx.clone();
            std::thread::spawn(move || {
                let line = BufReader::new(stdout).lines().next();
                let _ = tx.send(line.and_then(Result::ok).unwrap_or_default());
            });
            let stdin = child.stdin.take();
            hoarders.0.push((child, stdin));
        }
        let _ = lab;
        let deadline = Instant::now() + Duration::from_secs(120);
        for _ in 0..count {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).expect("hoarders ready in time");
            assert_eq!(line, "ready", "a hoarder failed to bind its sockets");
        }
        hoarders
    }
}

impl Drop for Hoarders {
    fn drop(&mut self) {
        for (_, stdin) in &mut self.0 {
            drop(stdin.take());
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (child, _) in &mut self.0 {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Every cgroup directory named `netflow-PID` under /sys/fs/cgroup.
pub fn netflow_groups(pid: u32) -> Vec<String> {
    let out = run(&[
        "find",
        "/sys/fs/cgroup",
        "-maxdepth",
        "8",
        "-type",
        "d",
        "-name",
        &format!("netflow-{pid}*"),
    ]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
#[ignore = "needs root"]
fn mem_limit_with_100k_sockets_reports_and_counts_what_it_skipped() {
    // Alone: 100k sockets make every other lab's scans slow.
    let lab = Lab::exclusive();
    let _hoard = Hoarders::start(&lab, &lab.a, HOARDERS, SOCKETS_EACH);
    let dir = Scratch::new("memlimit");
    let server = Peer::start(
        &lab,
        &lab.a,
        &["tcp-server", "127.0.0.1:7700", "300000", "200000"],
    );
    // 20 MiB: the unbounded scan of these tables needed ~35 MB (OOM-killed, no report).
    let nf = Netflow::start_net_only(
        &lab.a,
        &dir.0,
        &[
            "-d",
            "4s",
            "-i",
            "lo",
            "--format",
            "json",
            "-n",
            "0",
            "--quiet",
            "--ebpf",
            "off",
            "--mem-limit",
            "20M",
        ],
    );
    let pid = nf.pid();
    let client = Peer::start(
        &lab,
        &lab.a,
        &["tcp-client", "127.0.0.1:7700", "300000", "200000"],
    );
    client.done();
    server.done();
    let report = nf.finish(Duration::from_secs(60));

    // A full report: the exchange is attributed to both ends.
    let (c, s) = (row(&report, client.pid), row(&report, server.pid));
    assert_eq!(c["bytes_out"], s["bytes_in"], "{report:#}");
    assert!(num(&c["bytes_out"]) > 300_000, "{c:#}");
    assert_totals_add_up(&report);
    // What did not fit is counted and said.
    let warnings: Vec<&str> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .collect();
    let skipped = warnings
        .iter()
        .find(|w| w.contains("memory limit"))
        .unwrap_or_else(|| panic!("no warning about the memory limit: {warnings:?}"));
    // "... left room for K of N sockets in a scan: S sockets were skipped, and F fds of
    // P processes were not read; ..."
    let numbers: Vec<u64> = skipped
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [kept, seen, sockets, _fds, _processes] = numbers[..] else {
        panic!("unexpected warning {skipped:?}");
    };
    assert!(seen >= (HOARDERS * SOCKETS_EACH) as u64, "{skipped}");
    assert!(sockets > 0 && kept + sockets == seen, "{skipped}");
    assert!(
        netflow_groups(pid).is_empty(),
        "the cgroup is removed on exit"
    );
}
