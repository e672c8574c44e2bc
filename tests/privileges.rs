//! Least privilege: netflow run by an unprivileged user with file capabilities
//! (setcap) instead of root, as the README documents; and, with a capability left out,
//! a report that names it.
#![allow(
    clippy::disallowed_methods,
    reason = "tests drive the real binary: they read clocks and files"
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

/// A copy of netflow with `caps` set on the file, where user nobody may run it.
fn netflow_with_caps(dir: &Path, caps: &str) -> PathBuf {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.join("netflow");
    std::fs::copy(NETFLOW, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    run(&["setcap", caps, copy.to_str().unwrap()]);
    copy
}

/// Runs `netflow` as user nobody in `ns` on its loopback while a root-owned UDP client
/// and server exchange 40 datagrams there; returns the JSON report and the peers' pids.
fn capture_as_nobody(lab: &Lab, netflow: &Path) -> (serde_json::Value, u32, u32) {
    let nf = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.a,
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ])
        .arg(netflow)
        .args([
            "snapshot", "-d", "3s", "-i", "lo", "--format", "json", "-n", "0", "-q", "--ebpf",
            "off",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start netflow as nobody");
    std::thread::sleep(Duration::from_millis(800));
    let server = Peer::start(lab, &lab.a, &["udp-server", "127.0.0.1:7330", "40", "64"]);
    let client = Peer::start(lab, &lab.a, &["udp-client", "127.0.0.1:7330", "40", "300"]);
    assert_eq!(client.done().recv_packets, 40);
    let out = nf.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report = serde_json::from_slice(&out.stdout).expect("a JSON report");
    (report, server.pid, client.pid)
}

#[test]
#[ignore = "needs root"]
fn file_capabilities_are_enough_to_attribute_other_users_processes() {
    let lab = Lab::new();
    let dir = Scratch::new("setcap-full");
    let netflow = netflow_with_caps(
        &dir.0,
        "cap_net_raw,cap_net_admin,cap_dac_read_search,cap_sys_ptrace+ep",
    );
    let (report, server, client) = capture_as_nobody(&lab, &netflow);
    // Root's processes, seen by netflow running as nobody.
    assert_eq!(num(&row(&report, client)["packets_out"]), 40);
    assert_eq!(num(&row(&report, server)["packets_in"]), 40);
    let warnings = report["warnings"].as_array().unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
#[ignore = "needs root"]
fn a_missing_capability_is_named_in_the_report() {
    let lab = Lab::new();
    let dir = Scratch::new("setcap-raw-only");
    let netflow = netflow_with_caps(&dir.0, "cap_net_raw+ep");
    let (report, server, client) = capture_as_nobody(&lab, &netflow);
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("CAP_SYS_PTRACE"), "{warnings}");
    assert!(warnings.contains("CAP_DAC_READ_SEARCH"), "{warnings}");
    // Root's sockets cannot be matched: nothing is guessed, it is all unattributed.
    let pids = report_pids(&report);
    assert!(
        !pids.contains(&u64::from(server)) && !pids.contains(&u64::from(client)),
        "{pids:?}"
    );
    assert!(num(&report["summary"]["unattributed"]["packets"]) >= 80);
    assert_totals_add_up(&report);
}
