//! Narrowing (issue #12 item 3): `--pid`, `--user`, `--comm` and `--cgroup` select
//! process rows; the traffic of the others is `filtered_out`, so the totals still
//! reconcile, and every selected row is the same as in an unnarrowed run.

#![allow(
    clippy::disallowed_methods,
    reason = "tests drive the real binary: they read clocks and files"
)]

use std::path::Path;
use std::time::Duration;

use crate::common::*;

fn pids(report: &serde_json::Value) -> Vec<u64> {
    let mut p = report_pids(report);
    p.sort();
    p
}

#[test]
#[ignore = "needs root"]
fn each_narrowing_option_selects_rows_and_the_rest_is_filtered_out() {
    let lab = Lab::new();
    let bin = Scratch::new("narrowing-bin");
    // A second program name for --comm: traffic-peer copied as tp-other.
    let other = bin.0.join("tp-other");
    std::fs::copy(traffic_peer(), &other).unwrap();
    // Readable and runnable by `nobody` (the scratch directory is root's).
    run(&[
        "chmod",
        "755",
        bin.0.to_str().unwrap(),
        other.to_str().unwrap(),
    ]);

    // Three servers in namespace a, where netflow runs: root's traffic-peer, nobody's
    // traffic-peer, root's tp-other. Their clients live in b (invisible to netflow).
    let root_udp = Peer::start(
        &lab,
        &lab.a,
        &["udp-server", &format!("{A4}:7501"), "20", "300"],
    );
    let setpriv = Path::new("/usr/bin/setpriv");
    let peer_path = traffic_peer();
    let nobody_udp = Peer::start_as(
        &lab,
        &lab.a,
        setpriv,
        &[
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            peer_path.to_str().unwrap(),
            "udp-server",
            &format!("{A4}:7502"),
            "20",
            "400",
        ],
    );
    let other_tcp = Peer::start_as(
        &lab,
        &lab.a,
        &other,
        &["tcp-server", &format!("{A4}:7503"), "100000", "1000"],
    );
    let (a, b, c) = (
        u64::from(root_udp.pid),
        u64::from(nobody_udp.pid),
        u64::from(other_tcp.pid),
    );

    let common = [
        "-d", "4s", "-i", "eth0", "--format", "json", "-n", "0", "--ebpf", "off",
    ];
    let root_pid = root_udp.pid.to_string();
    let nobody_pid = nobody_udp.pid.to_string();
    // netflow also sees the sockets of namespace b (issue #17 item 2): a client there
    // may get a row too. Each case says which rows of the unnarrowed run it selects.
    type Rule = Box<dyn Fn(&serde_json::Value) -> bool>;
    let pid_is = |p: u64| -> Rule { Box::new(move |r| num(&r["pid"]) == p) };
    let cases: Vec<(Vec<&str>, Rule)> = vec![
        (vec![], Box::new(|_| true)),
        (vec!["--pid", &root_pid], pid_is(a)),
        (vec!["--user", "nobody"], Box::new(|r| r["uid"] == 65534)),
        (vec!["--user", "65534"], Box::new(|r| r["uid"] == 65534)),
        (
            vec!["--comm", "tp-other"],
            Box::new(|r| r["name"] == "tp-other"),
        ),
        (vec!["--cgroup", "/no/such/cgroup"], Box::new(|_| false)),
        // Any of the pids, and the user: nobody's server only.
        (
            vec!["--pid", &root_pid, "--pid", &nobody_pid, "--user", "nobody"],
            pid_is(b),
        ),
        (
            vec!["--comm", "tp-other", "--comm", "traffic-peer"],
            Box::new(|r| r["name"] == "tp-other" || r["name"] == "traffic-peer"),
        ),
    ];
    let dirs: Vec<Scratch> = cases.iter().map(|_| Scratch::new("narrowing")).collect();
    let runs: Vec<Netflow> = cases
        .iter()
        .zip(&dirs)
        .map(|((narrow, _), dir)| {
            let args: Vec<&str> = common.iter().chain(narrow).copied().collect();
            Netflow::start(&lab, &lab.a, &dir.0, &args)
        })
        .collect();

    let c1 = Peer::start(
        &lab,
        &lab.b,
        &["udp-client", &format!("{A4}:7501"), "20", "200"],
    );
    let c2 = Peer::start(
        &lab,
        &lab.b,
        &["udp-client", &format!("{A4}:7502"), "20", "500"],
    );
    let c3 = Peer::start(
        &lab,
        &lab.b,
        &["tcp-client", &format!("{A4}:7503"), "100000", "1000"],
    );
    for client in [&c1, &c2, &c3] {
        client.done();
    }

    let reports: Vec<serde_json::Value> = runs
        .into_iter()
        .map(|nf| nf.finish(Duration::from_secs(20)))
        .collect();
    let everything = &reports[0];
    let all = pids(everything);
    for pid in [a, b, c] {
        assert!(all.contains(&pid), "{pid} missing: {everything:#}");
    }
    let rows = everything["processes"].as_array().unwrap();
    for ((narrow, rule), report) in cases.iter().zip(&reports) {
        assert_totals_add_up(report);
        let selected: Vec<u64> = pids(everything)
            .into_iter()
            .filter(|&p| rule(row(everything, p as u32)))
            .collect();
        assert_eq!(pids(report), selected, "{narrow:?}");
        let f = &report["summary"]["filtered_out"];
        assert_eq!(
            num(&f["processes"]),
            (all.len() - selected.len()) as u64,
            "{narrow:?}"
        );
        // Each selected row is the unnarrowed one; the others are filtered out.
        let keys = ["bytes_in", "bytes_out", "packets_in", "packets_out"];
        let mut out = [0u64; 4];
        for whole in rows {
            let pid = num(&whole["pid"]);
            if selected.contains(&pid) {
                let r = row(report, pid as u32);
                for key in keys {
                    assert_eq!(r[key], whole[key], "{narrow:?} pid {pid} {key}");
                }
            } else {
                for (sum, key) in out.iter_mut().zip(keys) {
                    *sum += num(&whole[key]);
                }
            }
        }
        assert_eq!(
            [
                num(&f["in"]["bytes"]),
                num(&f["out"]["bytes"]),
                num(&f["in"]["packets"]),
                num(&f["out"]["packets"])
            ],
            out,
            "{narrow:?}: filtered_out is the unselected processes' traffic"
        );
    }
}

/// Asserts a clean refusal: exit 2, one `netflow:` line containing `needle`.
fn refused(args: &[&str], needle: &str) {
    let out = std::process::Command::new(NETFLOW)
        .args(args)
        .output()
        .expect("run netflow");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(
        stderr.starts_with("netflow: ") && stderr.contains(needle),
        "{args:?}: {stderr}"
    );
    assert!(out.stdout.is_empty(), "{args:?}");
}

#[test]
fn bad_narrowing_values_are_refused_before_capture() {
    let snap = |extra: &[&'static str]| -> Vec<&'static str> {
        ["snapshot", "-d", "1h", "-i", "lo"]
            .iter()
            .chain(extra)
            .copied()
            .collect()
    };
    refused(
        &snap(&["--user", "no-such-user-here"]),
        "no such user `no-such-user-here`",
    );
    refused(&snap(&["--comm", ""]), "empty name");
    refused(&snap(&["--user", ""]), "empty name");
    refused(&snap(&["--pid", "0"]), "--pid");
    refused(&snap(&["--pid", "x"]), "'x'");
    refused(&snap(&["--cgroup", "system.slice"]), "not a cgroup path");
    refused(&snap(&["--container", "web"]), "not a container id");
}
