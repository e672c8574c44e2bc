//! What a /proc rescan costs on a busy host, and how long netflow takes to start
//! capturing there. Starts 50 helper processes holding 201 TCP sockets each (10,050 in
//! all), then measures, median of repeated runs:
//!   - the socket table alone: the NETLINK_SOCK_DIAG dump against /proc/net/{tcp,udp}[6]
//!     read in the same run (the reference);
//!   - a full scan (socket table + every process's fds + details) and a targeted one
//!     (fd tables of the last scan's socket holders only);
//!   - the periodic rescans' share of a core at the default 1 s interval;
//!   - start-up: from spawning `netflow snapshot` to its pcap header on disk (written
//!     once every capture handle is open), with the socket log off, auto (loaded
//!     while capture runs) and on (loaded before).
//!
//! Run as root: `cargo build --release --examples && cargo bench --bench rescan`.
#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark reads clocks and files and starts processes"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netflow::model::Timestamp;
use netflow::os::interfaces::local_addresses;
use netflow::os::procfs::ProcScanner;

const PROCESSES: usize = 50;
const PAIRS: usize = 100;
const RUNS: usize = 15;

fn target_dir() -> PathBuf {
    // target/release/deps/rescan-HASH -> target/release
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

fn helper(path: &Path) -> Child {
    let mut child = Command::new(path)
        .args(["tcp-hold", &PAIRS.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start traffic-peer");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("ready"), "helper said {line:?}");
    child
}

fn median_ms(mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[RUNS / 2]
}

/// Milliseconds from spawning netflow to its pcap header on disk.
fn startup_ms(netflow: &Path, ebpf: &str) -> f64 {
    let mut times: Vec<f64> = (0..RUNS)
        .map(|i| {
            let pcap = std::env::temp_dir()
                .join(format!("netflow-startup-{}-{i}.pcap", std::process::id()));
            let _ = std::fs::remove_file(&pcap);
            let t = Instant::now();
            let mut nf = Command::new(netflow)
                .args([
                    "snapshot", "-d", "1s", "-i", "lo", "-q", "--ebpf", ebpf, "-w",
                ])
                .arg(&pcap)
                .stdout(Stdio::null())
                .spawn()
                .expect("start netflow");
            let deadline = t + Duration::from_secs(10);
            while std::fs::metadata(&pcap).map(|m| m.len()).unwrap_or(0) < 24 {
                assert!(
                    Instant::now() < deadline,
                    "netflow never opened its capture"
                );
                std::thread::sleep(Duration::from_micros(200));
            }
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let _ = nf.kill();
            let _ = nf.wait();
            let _ = std::fs::remove_file(&pcap);
            ms
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[RUNS / 2]
}

fn main() {
    let dir = target_dir();
    let peer = dir.join("examples").join("traffic-peer");
    let netflow = dir.join("netflow");
    assert!(
        peer.exists() && netflow.exists(),
        "build first: cargo build --release --examples"
    );
    let mut helpers: Vec<Child> = (0..PROCESSES).map(|_| helper(&peer)).collect();
    let sockets = netflow::os::sockdiag::socket_rows(usize::MAX)
        .expect("sock_diag")
        .0
        .len();
    println!(
        "{sockets} sockets in this namespace, {PROCESSES} helper processes holding {} of them",
        PROCESSES * (2 * PAIRS + 1)
    );

    let now = Timestamp::from_micros(0);
    let addrs = local_addresses();
    let mut proc_only = ProcScanner::live();
    proc_only.set_sock_diag(false);
    let mut scanner = ProcScanner::live();

    let diag = median_ms(|| {
        netflow::os::sockdiag::socket_rows(usize::MAX).unwrap();
    });
    // A targeted scan with no holder known walks everything: prime both scanners.
    proc_only.scan(now, addrs.clone(), false);
    scanner.scan(now, addrs.clone(), false);
    let full_proc = median_ms(|| {
        proc_only.scan(now, addrs.clone(), false);
    });
    let full = median_ms(|| {
        scanner.scan(now, addrs.clone(), false);
    });
    let targeted = median_ms(|| {
        scanner.scan(now, addrs.clone(), true);
    });
    let mut memo = netflow::os::fds::FdMemo::default();
    let proc_root = Path::new("/proc");
    let fd_cold = median_ms(|| {
        netflow::os::fds::FdMemo::default().walk_all(
            proc_root,
            true,
            netflow::os::fds::FdLimits::ALL,
            &mut |_| true,
        );
    });
    memo.walk_all(
        proc_root,
        true,
        netflow::os::fds::FdLimits::ALL,
        &mut |_| true,
    );
    let fd_warm = median_ms(|| {
        memo.walk_all(
            proc_root,
            true,
            netflow::os::fds::FdLimits::ALL,
            &mut |_| true,
        );
    });
    let proc_net = median_ms(|| {
        for f in ["tcp", "tcp6", "udp", "udp6"] {
            let _ = std::fs::read(format!("/proc/net/{f}"));
        }
    });
    println!("socket table, /proc/net (reference): {proc_net:6.2} ms");
    println!(
        "socket table, sock_diag:             {diag:6.2} ms   ratio {:.2}",
        diag / proc_net
    );
    println!("fd walk, every link read:            {fd_cold:6.2} ms");
    println!("fd walk, links remembered:           {fd_warm:6.2} ms");
    println!("full scan with /proc/net:            {full_proc:6.2} ms");
    println!("full scan with sock_diag:            {full:6.2} ms");
    println!("targeted scan with sock_diag:        {targeted:6.2} ms");
    println!(
        "periodic rescans at 1 s:             {:6.2} % of a core (while traffic goes unattributed; none otherwise)",
        full / 1000.0 * 100.0
    );
    for ebpf in ["off", "auto", "on"] {
        println!(
            "start-up to capture open, --ebpf {ebpf:<4}: {:6.2} ms",
            startup_ms(&netflow, ebpf)
        );
    }
    for h in &mut helpers {
        drop(h.stdin.take());
    }
    for mut h in helpers {
        let _ = h.wait();
    }
}
