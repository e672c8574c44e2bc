//! What netflow writes, as root, where other users can plant files: `-o` and `-w` never
//! write through a device, FIFO, symlink, hard link or another user's file they were
//! not meant for, nothing existing is touched before every check passed, and nothing
//! temporary survives netflow, however it ends.

#![allow(
    clippy::disallowed_methods,
    reason = "tests drive the real binary: they read clocks and files"
)]

use std::io::Read;
use std::net::UdpSocket;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// `netflow snapshot -i lo -d 1s --ebpf off ARGS`, to completion.
fn snapshot(args: &[&str]) -> Output {
    Command::new(NETFLOW)
        .args(["snapshot", "-i", "lo", "-d", "1s", "--ebpf", "off", "-q"])
        .args(args)
        .output()
        .expect("run netflow")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A refusal before capture: exit 2, one line naming `needle`, fast.
fn assert_refused(args: &[&str], needle: &str) {
    let began = Instant::now();
    let out = Command::new(NETFLOW)
        .args(["snapshot", "-i", "lo", "-d", "1h", "--ebpf", "off"])
        .args(args)
        .output()
        .expect("run netflow");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
    assert!(began.elapsed() < Duration::from_secs(10), "it captured");
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
#[ignore = "needs root"]
fn report_into_a_character_device_leaves_the_device_in_place() {
    let dir = Scratch::new("out-chardev");
    let null = dir.0.join("null");
    run(&["mknod", s(&null), "c", "1", "3"]);
    let out = snapshot(&["--format", "json", "-o", s(&null)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = std::fs::symlink_metadata(&null).unwrap();
    assert!(meta.file_type().is_char_device(), "replaced by {meta:?}");
    assert_eq!(names(&dir.0), ["null"], "nothing else created beside it");
}

#[test]
#[ignore = "needs root"]
fn report_into_a_fifo_reaches_its_reader() {
    let dir = Scratch::new("out-fifo");
    let fifo = dir.0.join("report.fifo");
    run(&["mkfifo", s(&fifo)]);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            std::fs::File::open(&fifo)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            text
        })
    };
    let out = snapshot(&["--format", "json", "-o", s(&fifo)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&reader.join().unwrap()).unwrap();
    assert_eq!(report["schema_version"], 1);
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(names(&dir.0), ["report.fifo"]);
}

#[test]
#[ignore = "needs root"]
fn symlinks_and_other_files_are_refused_before_capture() {
    let dir = Scratch::new("out-symlink");
    let target = dir.0.join("precious");
    std::fs::write(&target, "keep me").unwrap();
    let link = dir.0.join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let sock = dir.0.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    assert_refused(&["-o", s(&link)], "is a symbolic link");
    assert_refused(&["-w", s(&link)], "is a symbolic link");
    assert_refused(&["-o", s(&sock)], "is a socket");
    assert_refused(&["-o", s(&dir.0)], "is a directory");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(names(&dir.0), ["link", "precious", "sock"]);
}

#[test]
#[ignore = "needs root"]
fn capture_refuses_another_users_file_and_hard_links() {
    let dir = Scratch::new("out-planted");
    // Another user plants a world-readable file where root will write payloads.
    let planted = dir.0.join("planted.pcap");
    std::fs::write(&planted, "planted").unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
    run(&["chown", "65534:65534", s(&planted)]);
    assert_refused(&["-w", s(&planted)], "belongs to uid 65534");
    assert_eq!(std::fs::read_to_string(&planted).unwrap(), "planted");
    // A hard link to a file of root's would carry the capture to another name.
    let mine = dir.0.join("mine.pcap");
    std::fs::write(&mine, "mine").unwrap();
    std::fs::hard_link(&mine, dir.0.join("other-name")).unwrap();
    assert_refused(&["-w", s(&mine)], "has 2 hard links");
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "mine");
}

#[test]
#[ignore = "needs root"]
fn capture_replaces_its_own_file_with_a_new_private_one() {
    let dir = Scratch::new("out-replace");
    let pcap = dir.0.join("capture.pcap");
    std::fs::write(&pcap, "an old capture").unwrap();
    std::fs::set_permissions(&pcap, std::fs::Permissions::from_mode(0o666)).unwrap();
    let before = std::fs::metadata(&pcap).unwrap().ino();
    let out = snapshot(&["--format", "json", "-w", s(&pcap)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = std::fs::metadata(&pcap).unwrap();
    assert_ne!(meta.ino(), before, "a new file, renamed into place");
    assert_eq!(meta.mode() & 0o777, 0o600);
    tcpdump_count(&pcap); // reads as a pcap file
    assert_eq!(names(&dir.0), ["capture.pcap"]);
}

#[test]
#[ignore = "needs root"]
fn report_and_capture_naming_one_file_are_refused() {
    let dir = Scratch::new("out-same");
    let sub = dir.0.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let alias = dir.0.join("alias");
    std::os::unix::fs::symlink(&sub, &alias).unwrap();
    let x = sub.join("x");
    let spellings = [
        s(&x).to_string(),
        format!("{}/../sub/x", s(&sub)),
        format!("{}/x", s(&alias)),
    ];
    for other in &spellings {
        assert_refused(&["-o", s(&x), "-w", other], "name the same file");
    }
    // The name a failed pcapng conversion keeps the classic capture under.
    assert_refused(
        &["-o", s(&sub.join("c.pcap")), "-w", s(&sub.join("c.pcapng"))],
        "where -w keeps the classic capture",
    );
    // Two names of one existing file.
    std::fs::write(&x, "x").unwrap();
    std::fs::hard_link(&x, sub.join("y")).unwrap();
    assert_refused(&["-o", s(&sub.join("y")), "-w", s(&x)], "has 2 hard links");
    assert_eq!(names(&sub), ["x", "y"]);
}

#[test]
#[ignore = "needs root"]
fn a_self_limit_that_cannot_be_applied_leaves_an_existing_capture_untouched() {
    let dir = Scratch::new("out-limit");
    let pcap = dir.0.join("capture.pcap");
    std::fs::write(&pcap, "yesterday's capture").unwrap();
    // Every cgroup hierarchy read-only in this mount namespace: the limit cannot be
    // applied.
    let script = format!(
        "for m in $(awk '$3 ~ /cgroup/ {{print $2}}' /proc/mounts); do mount -o remount,bind,ro $m || exit 99; done; \
         exec {NETFLOW} snapshot -i lo -d 1h --ebpf off --cpu-limit 0.5 -w {}",
        s(&pcap)
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&pcap).unwrap(),
        "yesterday's capture"
    );
    assert_eq!(names(&dir.0), ["capture.pcap"]);
}

#[test]
#[ignore = "needs root"]
fn stale_temporary_files_of_dead_netflows_are_removed() {
    let dir = Scratch::new("out-stale");
    let dead = (4_000_000..4_194_304)
        .find(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        .unwrap();
    let stale = dir.0.join(format!(".netflow-{dead}-0.tmp"));
    std::fs::write(&stale, "payloads of a killed run").unwrap();
    // Someone else's file of that name is not netflow's to remove.
    let foreign = dir.0.join(format!(".netflow-{dead}-1.tmp"));
    std::fs::write(&foreign, "not ours").unwrap();
    run(&["chown", "65534", s(&foreign)]);
    let pcap = dir.0.join("capture.pcap");
    let out = snapshot(&["--format", "json", "-w", s(&pcap)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stale.exists(), "the dead run's temporary file is gone");
    assert!(foreign.exists());
    assert_eq!(
        names(&dir.0),
        [format!(".netflow-{dead}-1.tmp"), "capture.pcap".into()]
    );
}

/// Starts a one-hour netflow writing into `dir` and waits until it captures.
fn start_long(dir: &Path, pcap: &str) -> std::process::Child {
    let child = Command::new(NETFLOW)
        .args(["snapshot", "-i", "lo", "-d", "1h", "--ebpf", "off", "-q"])
        .args(["--format", "json", "-o"])
        .arg(dir.join("report.json"))
        .arg("-w")
        .arg(dir.join(pcap))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_capturing(child.id());
    child
}

#[test]
#[ignore = "needs root"]
fn sighup_ends_capture_with_the_full_report_like_sigterm() {
    let dir = Scratch::new("out-hup");
    let child = start_long(&dir.0, "capture.pcapng");
    run(&["kill", "-HUP", &child.id().to_string()]);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["summary"]["stopped_by"], "signal");
    assert_eq!(names(&dir.0), ["capture.pcapng", "report.json"]);
}

#[test]
#[ignore = "needs root"]
fn sigquit_exits_at_once_and_leaves_nothing_behind() {
    let dir = Scratch::new("out-quit");
    let child = start_long(&dir.0, "capture.pcapng");
    run(&["kill", "-QUIT", &child.id().to_string()]);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(131), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim(),
        "netflow: quit (SIGQUIT); no report or capture file was written"
    );
    assert_eq!(names(&dir.0), Vec::<String>::new());
}

#[test]
#[ignore = "needs root"]
fn write_limit_caps_the_file_and_the_report_keeps_every_packet() {
    let dir = Scratch::new("out-write-limit");
    let pcap = dir.0.join("capture.pcap");
    let report = dir.0.join("report.json");
    let child = Command::new(NETFLOW)
        .args([
            "snapshot", "-i", "lo", "-d", "3s", "--ebpf", "off", "-q", "-n", "0",
        ])
        .args(["--write-limit", "64K", "-o", s(&report), "-w", s(&pcap)])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_capturing(child.id());
    // 200 datagrams of 1,000 bytes: ~240 KB on the wire, far over 64 KiB.
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..200 {
        tx.send_to(&[7u8; 1000], rx.local_addr().unwrap()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let size = std::fs::metadata(&pcap).unwrap().len();
    assert!(size <= 64 << 10, "{size} bytes");
    let in_file = tcpdump_count(&pcap);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains(&format!("stopped at --write-limit after {in_file} packets")),
        "{warnings}"
    );
    // The report still counts every datagram this test sent (both ends are ours).
    let me = row(&report, std::process::id());
    assert!(num(&me["packets_out"]) >= 200, "{me:#}");
}

#[test]
#[ignore = "needs root"]
fn the_format_follows_the_report_file_name() {
    let dir = Scratch::new("out-format");
    let csv = dir.0.join("r.csv");
    let out = snapshot(&["-o", s(&csv)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("rank,"), "not CSV: {text}");
    assert_refused(
        &["--format", "csv", "-o", s(&dir.0.join("r.json"))],
        "--format csv contradicts the -o file name, which asks for json",
    );
}

/// A pids cgroup (v1) holding netflow, with room for `max` tasks; removed on drop.
struct PidsLimit(PathBuf);

impl PidsLimit {
    fn new(max: u32) -> PidsLimit {
        let n = std::process::id();
        let dir = PathBuf::from(format!("/sys/fs/cgroup/pids/netflow-test-{n}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("pids.max"), max.to_string()).unwrap();
        PidsLimit(dir)
    }
}

impl Drop for PidsLimit {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
#[ignore = "needs root"]
fn a_thread_that_cannot_start_is_one_line_and_exit_1() {
    let limit = PidsLimit::new(4);
    let dir = Scratch::new("out-pids");
    let pcap = dir.0.join("capture.pcap");
    let script = format!(
        "echo $$ > {}/cgroup.procs && exec {NETFLOW} snapshot -i lo -d 1s --ebpf off -w {}",
        s(&limit.0),
        s(&pcap)
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("netflow: cannot start a thread"), "{err}");
    assert_eq!(
        names(&dir.0),
        Vec::<String>::new(),
        "no capture, no temporary"
    );
}

#[test]
#[ignore = "needs root"]
fn an_interface_that_vanishes_mid_capture_is_exit_1_with_the_report() {
    let lab = Lab::new();
    let dir = Scratch::new("out-vanish");
    let report = dir.0.join("report.json");
    let child = lab
        .cmd(&lab.a, Path::new(NETFLOW))
        .args(["snapshot", "-i", "eth0", "-d", "1h", "--ebpf", "off", "-q"])
        .arg("-o")
        .arg(&report)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_capturing(child.id());
    run(&["ip", "-n", &lab.a, "link", "del", "eth0"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut child = child;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("netflow kept running after its only interface vanished");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("incomplete"), "{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("eth0"), "{warnings}");
}

#[test]
#[ignore = "needs root"]
fn a_symlink_of_another_user_on_the_way_is_refused_and_roots_are_followed() {
    let dir = Scratch::new("out-redirect");
    let victim_dir = dir.0.join("victim");
    std::fs::create_dir(&victim_dir).unwrap();
    let victim = victim_dir.join("report.json");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    // Another user's own directory, with a link of theirs pointing at root's.
    let alice = dir.0.join("alice");
    std::fs::create_dir(&alice).unwrap();
    std::os::unix::fs::symlink(&victim_dir, alice.join("reports")).unwrap();
    run(&[
        "chown",
        "-h",
        "65534:65534",
        s(&alice),
        s(&alice.join("reports")),
    ]);
    let through = alice.join("reports").join("report.json");
    assert_refused(&["-o", s(&through)], "a symbolic link of uid 65534");
    assert_refused(
        &["-w", s(&alice.join("reports").join("c.pcap"))],
        "a symbolic link of uid 65534",
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    // A link of root's own is followed.
    let mine = dir.0.join("mine");
    std::os::unix::fs::symlink(&victim_dir, &mine).unwrap();
    let out = snapshot(&["-o", s(&mine.join("new.json"))]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(victim_dir.join("new.json").exists());
}

#[test]
#[ignore = "needs root"]
fn a_temporary_file_a_live_netflow_holds_is_not_swept() {
    let dir = Scratch::new("out-locked");
    let live = dir.0.join(".netflow-4194000-0.tmp");
    std::fs::write(&live, "another netflow's capture, in another pid namespace").unwrap();
    let held = std::fs::File::open(&live).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let out = snapshot(&["--format", "json", "-w", s(&dir.0.join("c.pcap"))]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(live.exists(), "a locked temporary is a live one");
    drop(held);
}

#[test]
#[ignore = "needs root"]
fn a_fifo_nobody_reads_gives_up_and_the_report_goes_to_stdout() {
    let dir = Scratch::new("out-fifo-unread");
    let fifo = dir.0.join("report.fifo");
    run(&["mkfifo", s(&fifo)]);
    let began = Instant::now();
    let out = snapshot(&["--format", "json", "-o", s(&fifo)]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("a FIFO that nobody read"), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["schema_version"], 1);
    assert!(began.elapsed() < Duration::from_secs(30));
}

#[test]
#[ignore = "needs root"]
fn a_replaced_report_keeps_its_mode_and_dash_is_stdout() {
    let dir = Scratch::new("out-mode");
    let report = dir.0.join("report.json");
    std::fs::write(&report, "{}").unwrap();
    std::fs::set_permissions(&report, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = snapshot(&["-o", s(&report)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = std::fs::metadata(&report).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600, "not widened to 0644");
    assert!(std::fs::read_to_string(&report)
        .unwrap()
        .contains("schema_version"));
    let out = snapshot(&["--format", "json", "-o", "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let on_stdout: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(on_stdout["schema_version"], 1);
    assert!(!Path::new("-").exists());
}

#[test]
#[ignore = "needs root"]
fn one_signal_after_capture_ended_ends_netflow_at_once() {
    let dir = Scratch::new("out-finishing");
    let fifo = dir.0.join("report.fifo");
    run(&["mkfifo", s(&fifo)]);
    // Capture ends after 1 s; then netflow waits for the FIFO's reader.
    let mut child = Command::new(NETFLOW)
        .args(["snapshot", "-i", "lo", "-d", "1s", "--ebpf", "off", "-q"])
        .args(["--format", "json", "-o", s(&fifo)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2_500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still waiting for a reader"
    );
    run(&["kill", "-TERM", &child.id().to_string()]);
    let sent = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "one SIGTERM did not end it"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    assert_eq!(names(&dir.0), ["report.fifo"]);
}

/// A tmpfs of `size` mounted on `dir` for the life of the guard.
struct SmallDisk<'a>(&'a Path);

impl<'a> SmallDisk<'a> {
    fn mount(dir: &'a Path, size: &str) -> SmallDisk<'a> {
        run(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size}"),
            "tmpfs",
            s(dir),
        ]);
        SmallDisk(dir)
    }
}

impl Drop for SmallDisk<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

#[test]
#[ignore = "needs root"]
fn a_pcapng_conversion_that_fails_keeps_the_whole_classic_capture() {
    let dir = Scratch::new("out-pcapng-full");
    // Room for the classic capture (~320 KB), not for it and its pcapng copy.
    let _disk = SmallDisk::mount(&dir.0, "480k");
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    let child = Command::new(NETFLOW)
        .args(["snapshot", "-i", "lo", "-d", "2s", "--ebpf", "off", "-q"])
        .args(["-f", &format!("udp port {port}"), "--format", "json"])
        .arg("-w")
        .arg(dir.0.join("cap.pcapng"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_capturing(child.id());
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..300 {
        tx.send_to(&[7u8; 1000], rx.local_addr().unwrap()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("the capture is kept as classic pcap in"),
        "{warnings}"
    );
    // The one copy is whole: every datagram the report counted, as tcpdump reads it.
    assert_eq!(names(&dir.0), ["cap.pcap"], "no truncated pcapng left");
    assert_eq!(
        tcpdump_count(&dir.0.join("cap.pcap")),
        num(&report["summary"]["captured"]["packets"])
    );
    assert_eq!(num(&report["summary"]["captured"]["packets"]), 300);
}
