//! Self-limits through cgroup v2 where netflow's own group holds processes (issue #13
//! item 11), and no netflow cgroup outliving netflow.
//!
//! On systemd hosts netflow's group is a scope that holds processes, and the kernel
//! refuses to enable a controller in a group with processes (EBUSY, "no internal
//! processes"). This machine has cpu and memory only on cgroup v1; its v2 hierarchy
//! (/sys/fs/cgroup/unified) has hugetlb free, which shows the same EBUSY. The tests run
//! `cgroup-leaf`, a stand-in for netflow that applies a hugetlb limit through the seam
//! that names the controller (`os::cgroup::apply_controllers`).
#![allow(
    clippy::disallowed_methods,
    reason = "tests drive real processes and cgroup files"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::mem_limit::netflow_groups;

const V2_ROOT: &str = "/sys/fs/cgroup/unified";
/// 2 huge pages of 2 MiB.
const LIMIT: &str = "4194304";

/// Tests here share the v2 root's subtree_control: one at a time.
static ROOT_TURN: Mutex<()> = Mutex::new(());

/// `+hugetlb` in the v2 root's subtree_control while it lives (so groups below can
/// enable it); undone on drop if it was this guard that set it.
struct HugetlbOnRoot {
    set: bool,
    _turn: MutexGuard<'static, ()>,
}

impl HugetlbOnRoot {
    fn enable() -> HugetlbOnRoot {
        let turn = ROOT_TURN.lock().unwrap_or_else(|e| e.into_inner());
        let control = Path::new(V2_ROOT).join("cgroup.subtree_control");
        let before =
            std::fs::read_to_string(&control).expect("cgroup v2 at /sys/fs/cgroup/unified");
        let set = !before.split_whitespace().any(|c| c == "hugetlb");
        if set {
            std::fs::write(&control, "+hugetlb").expect("enable hugetlb in the v2 root");
        }
        HugetlbOnRoot { set, _turn: turn }
    }
}

impl Drop for HugetlbOnRoot {
    fn drop(&mut self) {
        if self.set {
            let _ = std::fs::write(
                Path::new(V2_ROOT).join("cgroup.subtree_control"),
                "-hugetlb",
            );
        }
    }
}

/// A group under the v2 root for one test. On drop, whatever is left in it (and in
/// groups below it) goes back to the root and the groups are removed.
struct Group {
    path: PathBuf,
    /// Its path as /proc/PID/cgroup shows it.
    rel: String,
}

impl Group {
    fn new(name: &str) -> Group {
        let rel = format!("/netflow-test-{name}-{}", std::process::id());
        let path = PathBuf::from(format!("{V2_ROOT}{rel}"));
        std::fs::create_dir(&path).expect("create a test group");
        Group { path, rel }
    }

    fn adopt(&self, pid: u32) {
        std::fs::write(self.path.join("cgroup.procs"), pid.to_string()).expect("move into group");
    }

    fn procs(&self) -> Vec<u32> {
        procs_of(&self.path)
    }

    fn subtree_control(&self) -> String {
        std::fs::read_to_string(self.path.join("cgroup.subtree_control")).unwrap()
    }

    /// The groups below it.
    fn children(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.path)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect()
    }
}

fn procs_of(group: &Path) -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_to_string(group.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

impl Drop for Group {
    fn drop(&mut self) {
        let root_procs = Path::new(V2_ROOT).join("cgroup.procs");
        for child in self.children() {
            for pid in procs_of(&child) {
                let _ = std::fs::write(&root_procs, pid.to_string());
            }
            let _ = std::fs::remove_dir(&child);
        }
        for pid in self.procs() {
            let _ = std::fs::write(&root_procs, pid.to_string());
        }
        let _ = std::fs::write(self.path.join("cgroup.subtree_control"), "-hugetlb");
        // A process that just exited may still count for a moment: bounded retries.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.path).is_ok() || !self.path.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The `cgroup-leaf` helper, stopped (stdin closed, then killed by pid) on drop.
struct Leaf {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Leaf {
    fn start() -> Leaf {
        let bin = Path::new(NETFLOW)
            .parent()
            .unwrap()
            .join("examples/cgroup-leaf");
        assert!(bin.exists(), "build the examples first: {}", bin.display());
        let mut child = Command::new(bin)
            .args(["hugetlb", "hugetlb.2MB.max", LIMIT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cgroup-leaf");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let leaf = Leaf {
            stdin: child.stdin.take(),
            child,
            lines: rx,
        };
        assert_eq!(leaf.line(), "ready");
        leaf
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
    }

    /// The next line, or "" once the helper exited without one (bounded wait).
    fn line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_default()
    }

    /// Waits (bounded) for the helper to exit: its status code and stderr.
    fn exit(&mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                return (status.code(), err);
            }
            assert!(Instant::now() < deadline, "cgroup-leaf did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Leaf {
    fn drop(&mut self) {
        close_and_reap(&mut self.child, self.stdin.take());
    }
}

/// A `sleep` standing for the other processes of a systemd scope; killed on drop.
struct Other(Child);

impl Drop for Other {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (bounded) until `done` holds.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs root"]
fn v2_limit_where_netflows_group_holds_only_netflow_moves_it_into_a_leaf_and_back() {
    let _root = HugetlbOnRoot::enable();
    let group = Group::new("leaf");
    let mut leaf = Leaf::start();
    group.adopt(leaf.pid());
    // What systemd hosts answer for +cpu/+memory in a scope with processes.
    let refused = std::fs::write(group.path.join("cgroup.subtree_control"), "+hugetlb")
        .expect_err("a group with a process cannot enable a controller");
    assert_eq!(refused.raw_os_error(), Some(libc::EBUSY));

    leaf.send("apply");
    let own = format!("{}/netflow-{}", group.rel, leaf.pid());
    assert_eq!(leaf.line(), format!("applied {own}"), "{:?}", leaf.exit());
    assert!(group.subtree_control().contains("hugetlb"));
    assert!(group.procs().is_empty(), "netflow moved out of its group");
    let max = std::fs::read_to_string(format!("{V2_ROOT}{own}/hugetlb.2MB.max")).unwrap();
    assert_eq!(max.trim(), LIMIT);

    leaf.send("release");
    assert_eq!(leaf.line(), format!("released {}", group.rel));
    assert_eq!(group.procs(), [leaf.pid()], "back where it started");
    assert!(group.children().is_empty(), "the leaf is removed");
    assert_eq!(group.subtree_control().trim(), "", "+hugetlb undone");
}

#[test]
#[ignore = "needs root"]
fn v2_limit_where_netflows_group_holds_other_processes_fails_with_2_and_the_hint() {
    let _root = HugetlbOnRoot::enable();
    let group = Group::new("busy");
    let mut leaf = Leaf::start();
    group.adopt(leaf.pid());
    let other = Other(Command::new("sleep").arg("30").spawn().unwrap());
    group.adopt(other.0.id());

    leaf.send("apply");
    let (code, stderr) = leaf.exit();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("holds other processes"), "{stderr}");
    // systemd is not PID 1 here: the hint without systemd-run (unit tests cover both).
    assert!(stderr.contains("a cgroup of its own"), "{stderr}");
    // Nothing was changed: no group left, nothing enabled, the other process in place.
    assert!(group.children().is_empty());
    assert_eq!(group.subtree_control().trim(), "");
    assert_eq!(group.procs(), [other.0.id()]);
}

#[test]
#[ignore = "needs root"]
fn netflow_killed_with_a_v2_limit_leaves_no_group_and_its_group_as_it_was() {
    let _root = HugetlbOnRoot::enable();
    let group = Group::new("killed");
    let mut leaf = Leaf::start();
    group.adopt(leaf.pid());
    leaf.send("apply");
    assert!(leaf.line().starts_with("applied "));
    assert_eq!(group.children().len(), 1);

    leaf.child.kill().unwrap();
    leaf.child.wait().unwrap();
    eventually("the leaf is removed", || group.children().is_empty());
    eventually("+hugetlb is undone", || {
        group.subtree_control().trim().is_empty()
    });
}

#[test]
#[ignore = "needs root"]
fn netflow_killed_mid_capture_leaves_no_cgroup_behind() {
    let lab = Lab::new();
    let dir = Scratch::new("killed");
    let mut nf = Netflow::start_net_only(
        &lab.a,
        &dir.0,
        &[
            "-d",
            "30s",
            "-i",
            "lo",
            "--quiet",
            "--ebpf",
            "off",
            "--cpu-limit",
            "1",
            "--mem-limit",
            "500M",
        ],
    );
    let pid = nf.pid();
    assert_eq!(
        netflow_groups(pid).len(),
        2,
        "a cpu and a memory group (v1 here)"
    );
    nf.child.kill().unwrap();
    nf.child.wait().unwrap();
    eventually("netflow's groups are removed", || {
        netflow_groups(pid).is_empty()
    });
}
