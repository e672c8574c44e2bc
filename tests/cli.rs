//! The real binary given bad input: one line on stderr starting with `netflow:`, the
//! documented exit status, nothing on stdout, and no capture started.

#![allow(
    clippy::disallowed_methods,
    reason = "tests drive the real binary: they read clocks and files"
)]

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::*;

fn netflow(args: &[&str]) -> (Output, Duration) {
    let began = Instant::now();
    let out = Command::new(NETFLOW)
        .args(args)
        .output()
        .expect("run netflow");
    (out, began.elapsed())
}

/// Asserts a clean refusal: `status`, one `netflow:` line containing `needle`, empty
/// stdout, and no time spent capturing (every case asks for an hour).
fn refused(args: &[&str], status: i32, needle: &str) {
    let (out, took) = netflow(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(status), "{args:?}: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{args:?}: not one line: {stderr}"
    );
    assert!(stderr.starts_with("netflow: "), "{args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: {stderr:?} lacks {needle:?}"
    );
    assert!(out.stdout.is_empty(), "{args:?}: stdout not empty");
    assert!(took < Duration::from_secs(5), "{args:?}: took {took:?}");
}

#[test]
fn bad_durations_are_refused() {
    for (d, needle) in [
        ("0s", "more than zero"),
        ("abc", "not a duration"),
        ("30x", "not a duration"),
        ("8days", "maximum of 7 days"),
        ("-5s", ""),
    ] {
        refused(&["snapshot", "-d", d], 2, needle);
    }
}

#[test]
fn top_must_be_a_number() {
    refused(&["snapshot", "-d", "1h", "-n", "lots"], 2, "lots");
}

#[test]
fn unknown_format_is_refused() {
    refused(&["snapshot", "--format", "xml"], 2, "xml");
}

#[test]
fn help_and_version_succeed() {
    let (out, _) = netflow(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("netflow "));
    let (out, _) = netflow(&["snapshot", "--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--duration"));
}

#[test]
#[ignore = "needs root"]
fn unknown_interface_lists_the_valid_ones() {
    refused(
        &["snapshot", "-d", "1h", "-i", "nope0"],
        2,
        "no such interface `nope0` (capturable: ",
    );
}

#[test]
#[ignore = "needs root"]
fn any_cannot_be_combined_with_other_interfaces() {
    refused(
        &["snapshot", "-d", "1h", "-i", "any", "-i", "lo"],
        2,
        "-i any",
    );
}

#[test]
#[ignore = "needs root"]
fn down_interface_is_refused() {
    let lab = Lab::new();
    // A veth pair inside namespace a, never brought up.
    run(&[
        "ip", "-n", &lab.a, "link", "add", "d0", "type", "veth", "peer", "name", "d1",
    ]);
    let out = lab
        .cmd(&lab.a, std::path::Path::new(NETFLOW))
        .args(["snapshot", "-d", "1h", "-i", "d0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "netflow: interface `d0` is down (bring it up, or leave it out of -i)"
    );
    assert!(out.stdout.is_empty());
}

#[test]
#[ignore = "needs root"]
fn bad_filter_is_refused_before_touching_the_pcap_file() {
    let dir = Scratch::new("filter");
    let pcap = dir.0.join("keep.pcap");
    std::fs::write(&pcap, b"an earlier capture").unwrap();
    let path = pcap.to_str().unwrap();
    refused(
        &[
            "snapshot", "-d", "1h", "-i", "lo", "-f", "tcp port", "-w", path,
        ],
        2,
        "invalid capture filter `tcp port`",
    );
    assert_eq!(std::fs::read(&pcap).unwrap(), b"an earlier capture");
}

#[test]
#[ignore = "needs root"]
fn unwritable_outputs_are_refused() {
    let dir = Scratch::new("paths");
    let d = dir.0.to_str().unwrap();
    refused(
        &[
            "snapshot",
            "-d",
            "1h",
            "-i",
            "lo",
            "-o",
            "/nonexistent/r.json",
        ],
        2,
        "cannot write `/nonexistent/r.json`",
    );
    refused(
        &["snapshot", "-d", "1h", "-i", "lo", "-o", d],
        2,
        "is a directory",
    );
    refused(
        &[
            "snapshot",
            "-d",
            "1h",
            "-i",
            "lo",
            "-w",
            "/nonexistent/c.pcap",
        ],
        2,
        "cannot write `/nonexistent/c.pcap`",
    );
    refused(
        &["snapshot", "-d", "1h", "-i", "lo", "-w", d],
        2,
        "is a directory",
    );
    // Nothing was left behind in the directory (no temporary report file).
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
}

#[test]
#[ignore = "needs root"]
fn missing_privileges_name_the_capability() {
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(NETFLOW)
        .args(["snapshot", "-d", "1h", "-i", "lo"])
        .output()
        .expect("setpriv (util-linux)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("needs root or CAP_NET_RAW"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn interfaces_lists_loopback_with_its_address() {
    let (out, _) = netflow(&["interfaces", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let lo = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "lo")
        .expect("lo listed");
    assert_eq!(lo["loopback"], true);
    assert!(lo["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "127.0.0.1"));
}

#[test]
fn a_closed_stdout_ends_quietly() {
    // The reading end is closed before netflow writes, as with `netflow ... | head -0`.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(NETFLOW)
        .args(["interfaces"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
