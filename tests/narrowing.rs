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
    // The same traffic, rows added up: (--by, the field of a row that is the key).
    let groupings = [("comm", "name"), ("user", "user"), ("cgroup", "cgroup")];
    let grouped_dirs: Vec<Scratch> = (0..=groupings.len())
        .map(|_| Scratch::new("grouping"))
        .collect();
    let grouped_runs: Vec<Netflow> = groupings
        .iter()
        .map(|(by, _)| vec!["--by", by])
        .chain([vec!["--sort", "packets"]])
        .zip(&grouped_dirs)
        .map(|(extra, dir)| {
            let args: Vec<&str> = common.iter().chain(&extra).copied().collect();
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
    let grouped_reports: Vec<serde_json::Value> = grouped_runs
        .into_iter()
        .map(|nf| nf.finish(Duration::from_secs(20)))
        .collect();
    let everything = &reports[0];
    let all = pids(everything);
    let ours = [a, b, c];
    for pid in ours {
        assert!(all.contains(&pid), "{pid} missing: {everything:#}");
    }
    // Our three servers' rows in the unnarrowed run. Another row may show up in any
    // run, now and then: a client's socket in namespace b (netflow reads every
    // namespace; issue #17 item 2). The checks below hold with or without it.
    let ours_rows: Vec<&serde_json::Value> =
        ours.iter().map(|&p| row(everything, p as u32)).collect();
    let keys = ["bytes_in", "bytes_out", "packets_in", "packets_out"];
    for ((narrow, rule), report) in cases.iter().zip(&reports) {
        assert_totals_add_up(report);
        let shown = report["processes"].as_array().unwrap();
        for r in shown {
            assert!(rule(r), "{narrow:?}: {r:#} is not selected");
        }
        let f = &report["summary"]["filtered_out"];
        let mut unselected = [0u64; 5];
        for whole in &ours_rows {
            let pid = num(&whole["pid"]);
            if rule(whole) {
                // Each selected row is the unnarrowed one.
                let r = row(report, pid as u32);
                for key in keys {
                    assert_eq!(r[key], whole[key], "{narrow:?} pid {pid} {key}");
                }
            } else {
                assert!(!pids(report).contains(&pid), "{narrow:?}: {pid} shown");
                unselected[0] += 1;
                for (sum, key) in unselected[1..].iter_mut().zip(keys) {
                    *sum += num(&whole[key]);
                }
            }
        }
        // The servers not selected are in filtered_out (with any other process).
        let filtered = [
            num(&f["processes"]),
            num(&f["in"]["bytes"]),
            num(&f["out"]["bytes"]),
            num(&f["in"]["packets"]),
            num(&f["out"]["packets"]),
        ];
        for (got, least) in filtered.iter().zip(unselected) {
            assert!(
                *got >= least,
                "{narrow:?}: filtered_out {f:#} < {unselected:?}"
            );
        }
        // -n 0: a row for every process selected.
        assert_eq!(
            shown.len() as u64,
            num(&report["summary"]["processes_seen"]),
            "{narrow:?}: rows"
        );
    }

    // --by: one row per key, with its processes counted and their traffic added up.
    for ((by, field), report) in groupings.iter().zip(&grouped_reports) {
        assert_totals_add_up(report);
        let mut expected: std::collections::BTreeMap<String, [u64; 5]> = Default::default();
        for r in &ours_rows {
            let e = expected
                .entry(r[*field].as_str().unwrap().to_string())
                .or_default();
            e[0] += 1;
            for (sum, key) in e[1..].iter_mut().zip(keys) {
                *sum += num(&r[key]);
            }
        }
        let got: std::collections::BTreeMap<String, [u64; 5]> = report["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                assert_eq!(r["pid"], 0, "--by {by}: {r:#}");
                assert_eq!(r["group"]["by"], *by, "--by {by}");
                let mut v = [num(&r["processes"]), 0, 0, 0, 0];
                for (x, key) in v[1..].iter_mut().zip(keys) {
                    *x = num(&r[key]);
                }
                (r["group"]["key"].as_str().unwrap().to_string(), v)
            })
            .collect();
        let processes: u64 = got.values().map(|v| v[0]).sum();
        assert_eq!(
            processes,
            num(&report["summary"]["processes_seen"]),
            "--by {by}"
        );
        for (key, least) in &expected {
            let v = got
                .get(key)
                .unwrap_or_else(|| panic!("--by {by}: no row {key:?}: {got:?}"));
            if processes == ours.len() as u64 {
                assert_eq!(v, least, "--by {by} {key}");
            }
            assert!(
                v.iter().zip(least).all(|(g, l)| g >= l),
                "--by {by} {key}: {v:?} < {least:?}"
            );
        }
    }
    let by_packets = &grouped_reports[groupings.len()];
    assert_totals_add_up(by_packets);
    assert_eq!(by_packets["summary"]["sort"], "packets");
    let packets: Vec<u64> = by_packets["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| num(&r["packets_in"]) + num(&r["packets_out"]))
        .collect();
    assert!(packets.windows(2).all(|w| w[0] >= w[1]), "{packets:?}");
    for pid in ours {
        assert!(pids(by_packets).contains(&pid), "--sort packets: {pid}");
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
    refused(&snap(&["--by", "nonsense"]), "nonsense");
    refused(&snap(&["--sort", "bytes"]), "packets");
}
