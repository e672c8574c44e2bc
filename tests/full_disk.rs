//! A full disk loses nothing that could be kept: a pcap that cannot be written is
//! reported once while capture and attribution go on, and a report that cannot be
//! written to -o goes to stdout instead, with an error.
#![allow(
    clippy::disallowed_methods,
    reason = "tests drive the real binary: they read clocks and files"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

/// A 256 KiB tmpfs mounted on `dir` for the life of the guard.
struct TinyDisk<'a>(&'a Path);

impl<'a> TinyDisk<'a> {
    fn mount(dir: &'a Path) -> Self {
        run(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            "size=256k",
            "tmpfs",
            dir.to_str().unwrap(),
        ]);
        TinyDisk(dir)
    }
}

impl Drop for TinyDisk<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

#[test]
#[ignore = "needs root"]
fn a_full_pcap_disk_is_reported_and_capture_goes_on() {
    let lab = Lab::new();
    let dir = Scratch::new("full-pcap");
    let _disk = TinyDisk::mount(&dir.0);
    let out = Scratch::new("full-pcap-report");
    let report_path = out.0.join("report.json");
    let child = lab
        .cmd(&lab.a, Path::new(NETFLOW))
        .args([
            "snapshot", "-d", "3s", "-i", "eth0", "--format", "json", "--quiet",
        ])
        .arg("-o")
        .arg(&report_path)
        .arg("-w")
        .arg(dir.0.join("capture.pcap"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // 2 MB through a 256 KiB disk.
    let _server = Peer::start(
        &lab,
        &lab.b,
        &["tcp-server", &format!("{B4}:7801"), "2000000", "0"],
    );
    let client = Peer::start(
        &lab,
        &lab.a,
        &["tcp-client", &format!("{B4}:7801"), "2000000", "0"],
    );
    let moved = client.done();
    let output = child.wait_with_output().unwrap();
    // The report is complete, the pcap file is not: exit 1, said in one line.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "netflow: the report was written, but is incomplete: see its warnings"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    let warnings = report["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0]
        .as_str()
        .unwrap()
        .contains("the pcap file is incomplete"));
    // Attribution went on regardless.
    assert!(num(&row(&report, client.pid)["bytes_out"]) >= moved.sent);
    assert_totals_add_up(&report);
    // What was written is a readable pcap, cut back to its last whole packet, and
    // the warning counts exactly the packets in it (not those still in a buffer).
    let warning = warnings[0].as_str().unwrap();
    let claimed: u64 = warning
        .split("; ")
        .nth(1)
        .and_then(|w| w.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no packet count in {warning:?}"));
    let on_disk = tcpdump_count(&dir.0.join("capture.pcap"));
    assert!(on_disk > 0, "tcpdump read no packet");
    assert_eq!(claimed, on_disk, "{warning}");
}

#[test]
#[ignore = "needs root"]
fn a_report_that_cannot_be_written_goes_to_stdout() {
    let dir = Scratch::new("full-report");
    let _disk = TinyDisk::mount(&dir.0);
    // Fill the disk, leaving room for the (empty) temporary report file only.
    let _ = std::fs::write(dir.0.join("filler"), vec![0u8; 512 * 1024]);
    let output = Command::new(NETFLOW)
        .args([
            "snapshot", "-d", "1s", "-i", "lo", "--format", "json", "-n", "0",
        ])
        .arg("-o")
        .arg(dir.0.join("report.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the report was written to standard output instead"),
        "{stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the report on stdout");
    assert_eq!(report["schema_version"], 1);
    let left: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        ["filler"],
        "no report and no temporary file left behind"
    );
}
