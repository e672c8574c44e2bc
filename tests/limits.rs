//! Self-limits: `--cpu-limit` holds netflow near its quota under a flood that makes it
//! busier than that without the limit; the cgroup is gone afterwards.
#![allow(
    clippy::disallowed_methods,
    reason = "tests drive the real binary: they read clocks and files"
)]

use std::time::{Duration, Instant};

use crate::common::*;

/// CPU seconds a process has used (user + system), from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("process alive");
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat (11 and 12 after the comm).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// Cores netflow used over two seconds in the middle of a UDP flood.
fn cores_under_flood(extra: &[&str]) -> (f64, serde_json::Value, u32) {
    let lab = Lab::exclusive();
    let dir = Scratch::new("limit");
    // --quiet: under a flood the pcap writer (the readiness signal of these tests) falls
    // behind, and says so.
    // --ebpf off: the socket log's programs run in the flooding process's every send
    // and slow the flood itself; this test wants the flood as fast as it goes.
    let mut args = vec![
        "-d", "6s", "-i", "eth0", "--format", "json", "--quiet", "--ebpf", "off",
    ];
    args.extend_from_slice(extra);
    let nf = Netflow::start_net_only(&lab.a, &dir.0, &args);
    let pid = nf.pid();
    let _sink = Peer::start(&lab, &lab.a, &["udp-sink", &format!("{A4}:7600"), "3"]);
    // Two senders: one (a debug build) cannot always keep netflow above the limit.
    let floods: Vec<Peer> = (0..2)
        .map(|_| {
            Peer::start(
                &lab,
                &lab.b,
                &["udp-flood", &format!("{A4}:7600"), "3000000", "64"],
            )
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1_500));
    let (c0, t0) = (cpu_seconds(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let cores = (cpu_seconds(pid) - c0) / t0.elapsed().as_secs_f64();
    for flood in &floods {
        flood.done();
    }
    let report = nf.finish(Duration::from_secs(30));
    (cores, report, pid)
}

#[test]
#[ignore = "needs root"]
fn cpu_limit_holds_netflow_near_its_quota() {
    let (free, _, _) = cores_under_flood(&[]);
    let (limited, report, pid) = cores_under_flood(&["--cpu-limit", "0.2"]);
    println!("under a 64-byte UDP flood: {free:.2} cores without a limit, {limited:.2} with --cpu-limit 0.2");
    assert!(
        free > 0.3,
        "the flood must keep netflow busier than the limit: {free:.2}"
    );
    assert!(limited <= 0.27, "limited to 0.2 cores, used {limited:.2}");
    let limits = report["summary"]["self_limits"].as_array().unwrap();
    assert!(
        limits[0]
            .as_str()
            .unwrap()
            .starts_with("cpu limited to 0.2 cores"),
        "{limits:?}"
    );
    // Falling behind is reported, never hidden: every packet is captured or dropped.
    assert_totals_add_up(&report);
    let gone = !std::path::Path::new(&format!("/sys/fs/cgroup/cpu/netflow-{pid}")).exists()
        && !std::path::Path::new(&format!("/sys/fs/cgroup/netflow-{pid}")).exists();
    assert!(gone, "the cgroup is removed on exit");
}
