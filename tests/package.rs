//! Shipping (issue #20): the version string a bug report quotes, and the Debian package.
//!
//! The package tests build it with `cargo deb` (cargo-deb must be installed: `cargo
//! install cargo-deb --locked`), install it with dpkg and look at it as an admin would:
//! `man -w`, the shells' completion directories, `getcap`, a member of group netflow
//! capturing root's traffic, a non-member refused; then an upgrade and a purge. They
//! need root and leave the machine as they found it: they refuse to start over an
//! installed netflow or an existing group netflow, and undo what they did even when
//! they fail.
#![allow(
    clippy::disallowed_methods,
    reason = "tests drive the real binary and dpkg: they read clocks and files"
)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use crate::common::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const SOCKLOG: &str = "src/os/ebpf/socklog.bpf.o";

const BIN: &str = "/usr/bin/netflow";
const GROUP: &str = "netflow";
/// The README's set ("Privileges"), which the postinst sets.
const CAPS: [&str; 6] = [
    "cap_net_raw",
    "cap_net_admin",
    "cap_dac_read_search",
    "cap_sys_ptrace",
    "cap_bpf",
    "cap_perfmon",
];
/// Where the postinst notes that it made the group.
const STATE_DIR: &str = "/var/lib/netflow";
/// Each committed completion script and where its shell looks on Debian: bash-completion
/// loads `completions/NAME` when NAME is first completed (its completionsdir), zsh's
/// $fpath holds vendor-completions, fish reads vendor_completions.d.
const COMPLETIONS: [(&str, &str); 3] = [
    (
        "completions/netflow.bash",
        "/usr/share/bash-completion/completions/netflow",
    ),
    (
        "completions/_netflow",
        "/usr/share/zsh/vendor-completions/_netflow",
    ),
    (
        "completions/netflow.fish",
        "/usr/share/fish/vendor_completions.d/netflow.fish",
    ),
];

/// `abc1234`, `abc1234-dirty` or `unknown`, asked of git the way build.rs does, for the
/// checkout in `dir` (unknown also when git cannot answer, as for a checkout of another
/// user that git refuses).
fn expected_commit(dir: &Path) -> String {
    if !dir.join(".git").exists() {
        return "unknown".into();
    }
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap().trim().to_string())
    };
    let sources = ["src", "build.rs", "Cargo.toml", "Cargo.lock"];
    let status = [&["status", "--porcelain", "--"][..], &sources].concat();
    match (git(&["rev-parse", "--short=7", "HEAD"]), git(&status)) {
        (Some(hash), Some(status)) if status.is_empty() => hash,
        (Some(hash), Some(_)) => format!("{hash}-dirty"),
        _ => "unknown".into(),
    }
}

/// The first 8 hex digits of the file's SHA-256, as coreutils' sha256sum reads it.
fn sha256_prefix(path: &Path) -> String {
    let out = run(&["sha256sum", path.to_str().unwrap()]);
    String::from_utf8(out.stdout).unwrap()[..8].to_string()
}

fn version_of(binary: &str) -> String {
    let out = run(&[binary, "--version"]);
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

#[test]
fn version_names_the_commit_and_the_socket_log_object() {
    let dir = Path::new(MANIFEST_DIR);
    let expected = format!(
        "netflow {VERSION} (git {}; socklog sha256:{})",
        expected_commit(dir),
        sha256_prefix(&dir.join(SOCKLOG))
    );
    assert_eq!(version_of(NETFLOW), expected);
    // Subcommands say the same (clap's propagate_version).
    let out = run(&[NETFLOW, "snapshot", "--version"]);
    let snapshot = String::from_utf8(out.stdout).unwrap();
    assert!(
        snapshot.ends_with(&format!("{}\n", &expected["netflow ".len()..])),
        "{snapshot}"
    );
}

/// The newest compiled build script of this package (cargo keeps stale ones beside it).
fn build_script() -> PathBuf {
    let build = Path::new(NETFLOW).parent().unwrap().join("build");
    std::fs::read_dir(&build)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("netflow-"))
        .map(|e| e.path().join("build-script-build"))
        .filter(|p| p.exists())
        .max_by_key(|p| p.metadata().unwrap().modified().unwrap())
        .expect("a compiled build script under target/debug/build")
}

/// NETFLOW_VERSION as the build script computes it for the sources in `dir`.
fn build_script_version(dir: &Path) -> String {
    let out = Command::new(build_script())
        .current_dir(dir)
        .env("CARGO_PKG_VERSION", "9.9.9")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("cargo:rustc-env=NETFLOW_VERSION="))
        .unwrap_or_else(|| panic!("no NETFLOW_VERSION in {stdout}"))
        .to_string()
}

#[test]
fn outside_a_checkout_the_commit_is_unknown_and_only_build_inputs_make_it_dirty() {
    let scratch = Scratch::new("version");
    let dir = &scratch.0;
    std::fs::create_dir_all(dir.join("src/os/ebpf")).unwrap();
    std::fs::copy(Path::new(MANIFEST_DIR).join(SOCKLOG), dir.join(SOCKLOG)).unwrap();
    std::fs::write(dir.join("src/lib.rs"), "").unwrap();
    std::fs::write(dir.join("README.md"), "").unwrap();
    let socklog = sha256_prefix(&dir.join(SOCKLOG));

    // A source tarball: no .git, so no commit (not that of an enclosing checkout).
    assert_eq!(
        build_script_version(dir),
        format!("9.9.9 (git unknown; socklog sha256:{socklog})")
    );

    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "sources"]);
    let hash = git(&["rev-parse", "--short=7", "HEAD"]);
    let clean = format!("9.9.9 (git {hash}; socklog sha256:{socklog})");
    assert_eq!(build_script_version(dir), clean);
    // An edited README leaves the binary the commit's.
    std::fs::write(dir.join("README.md"), "edited").unwrap();
    assert_eq!(build_script_version(dir), clean);
    // An edited source makes it dirty.
    std::fs::write(dir.join("src/lib.rs"), "// edited").unwrap();
    assert_eq!(
        build_script_version(dir),
        format!("9.9.9 (git {hash}-dirty; socklog sha256:{socklog})")
    );
}

/// One package test at a time: dpkg, group netflow and /usr/bin/netflow are the
/// machine's, not the test's.
static MACHINE: Mutex<()> = Mutex::new(());

/// The package as `cargo deb` builds it, and the same binary as a later version.
struct Debs {
    release: PathBuf,
    upgrade: PathBuf,
}

static DEBS: OnceLock<Debs> = OnceLock::new();

/// Runs `cargo deb ARGS` in the crate and returns the path of the .deb it wrote.
fn cargo_deb(args: &[&str]) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(MANIFEST_DIR)
        .args(["deb", "--locked"])
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo deb failed (is cargo-deb installed? cargo install cargo-deb --locked)"
    );
    // cargo-deb prints the path of the package it wrote, last.
    let stdout = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(stdout.lines().last().expect("cargo deb printed a path"))
}

/// Builds both packages once. The release build keeps both CPUs busy for a minute or
/// more, so no lab runs beside it (measuring tests would see the load).
fn debs() -> &'static Debs {
    DEBS.get_or_init(|| {
        let _alone = Lab::exclusive();
        let target = Path::new(NETFLOW).parent().unwrap().parent().unwrap();
        let dir = target.join("package-test");
        std::fs::create_dir_all(&dir).unwrap();
        // First: cargo-deb deletes other versions' packages from target/debian, so the
        // package of record is built last and stays there.
        let upgrade = cargo_deb(&[
            "--deb-version",
            &format!("{VERSION}+upgrade-test"),
            "--output",
            dir.to_str().unwrap(),
        ]);
        let release = cargo_deb(&[]);
        let arch = run(&["dpkg", "--print-architecture"]).stdout;
        let arch = String::from_utf8(arch).unwrap();
        assert_eq!(
            release,
            target
                .join("debian")
                .join(format!("netflow_{VERSION}_{}.deb", arch.trim()))
        );
        Debs { release, upgrade }
    })
}

fn group_gid() -> Option<u32> {
    let out = Command::new("getent")
        .args(["group", GROUP])
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    out.status
        .success()
        .then(|| line.split(':').nth(2).unwrap().parse().unwrap())
}

fn installed_version() -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status} ${Version}", "netflow"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.strip_prefix("install ok installed ")
        .map(str::to_string)
}

fn statoverride() -> Option<String> {
    let out = Command::new("dpkg-statoverride")
        .args(["--list", BIN])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap().trim().to_string())
}

/// The capabilities on the binary, sorted; empty when it has none.
fn file_caps() -> Vec<String> {
    let out = run(&["getcap", BIN]);
    let text = String::from_utf8(out.stdout).unwrap();
    let Some(set) = text.split_whitespace().nth(1) else {
        return Vec::new();
    };
    let caps = set.strip_suffix("=ep").unwrap_or_else(|| panic!("{text}"));
    let mut caps: Vec<String> = caps.split(',').map(str::to_string).collect();
    caps.sort();
    caps
}

fn readme_caps() -> Vec<String> {
    let mut caps: Vec<String> = CAPS.iter().map(|c| c.to_string()).collect();
    caps.sort();
    caps
}

/// Owner, group and permission bits of the binary.
fn owner_and_mode() -> (u32, u32, u32) {
    let meta = std::fs::metadata(BIN).unwrap();
    (meta.uid(), meta.gid(), meta.permissions().mode() & 0o7777)
}

fn dpkg_install(deb: &Path) -> String {
    let out = run(&["dpkg", "-i", deb.to_str().unwrap()]);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What the machine was like before, and the undo of whatever a test left behind.
struct Restore {
    state_dir_was_there: bool,
    /// A user the test made.
    user: Option<String>,
}

impl Restore {
    /// Refuses to run over an installed netflow or an existing group netflow: the test
    /// would take them away.
    fn check() -> Restore {
        assert!(
            installed_version().is_none() && !Path::new(BIN).exists(),
            "netflow is installed here: the package test would replace it"
        );
        assert_eq!(
            group_gid(),
            None,
            "group {GROUP} exists here: the package test would remove it"
        );
        Restore {
            state_dir_was_there: Path::new(STATE_DIR).exists(),
            user: None,
        }
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(user) = &self.user {
            let _ = Command::new("userdel").arg(user).status();
        }
        if installed_version().is_some() {
            let _ = Command::new("dpkg")
                .args(["--purge", "netflow"])
                .stdout(Stdio::null())
                .status();
        }
        if statoverride().is_some() {
            let _ = Command::new("dpkg-statoverride")
                .args(["--remove", BIN])
                .status();
        }
        // There was none before (check): whoever made it, the package or the test.
        if group_gid().is_some() {
            let _ = Command::new("groupdel").arg(GROUP).status();
        }
        if !self.state_dir_was_there {
            let _ = std::fs::remove_dir_all(STATE_DIR);
        }
    }
}

/// The package's files as dpkg lists them (not its directories).
fn package_files() -> Vec<PathBuf> {
    let out = run(&["dpkg-query", "-L", "netflow"]);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(PathBuf::from)
        .filter(|p| !p.is_dir())
        .collect()
}

/// After a purge: no file of the package, no owner override, no capability left.
fn assert_purged(files: &[PathBuf], restore: &Restore) {
    assert_eq!(installed_version(), None);
    for file in files {
        assert!(!file.exists(), "{} survived the purge", file.display());
    }
    assert_eq!(statoverride(), None);
    // The capabilities lived in the file's extended attributes: gone with it.
    let caps = run(&["getcap", "-r", "/usr/bin"]).stdout;
    assert!(!String::from_utf8(caps).unwrap().contains("netflow"));
    if !restore.state_dir_was_there {
        assert!(!Path::new(STATE_DIR).exists(), "{STATE_DIR} survived");
    }
}

/// Runs `netflow ARGS` as `user` (uid and gid, or names) with `groups`, the way a login
/// shell would: through sh, which holds no capabilities. (setpriv itself execs while it
/// still holds root's, CAP_DAC_OVERRIDE among them, and would run a 0750 file for anyone.)
fn as_user(ns: Option<&str>, ids: &[&str], args: &[&str]) -> Command {
    let mut cmd = match ns {
        Some(ns) => {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", ns, "setpriv"]);
            cmd
        }
        None => Command::new("setpriv"),
    };
    cmd.args(ids)
        .args(["/bin/sh", "-c", r#"exec "$0" "$@""#, BIN])
        .args(args);
    cmd
}

/// A netflow run as the test's user, ended if the test fails first (userdel refuses a
/// user with a live process).
struct Reap(Option<Child>);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A member of group netflow captures root's traffic in a namespace: a root UDP client
/// and server exchange 40 datagrams on its loopback during a 2-second snapshot.
fn member_attributes_roots_processes(user: &str) {
    let lab = Lab::new();
    let nf = as_user(
        Some(&lab.a),
        &[
            &format!("--reuid={user}"),
            "--regid=nogroup",
            "--init-groups",
        ],
        &[
            "snapshot", "-d", "2s", "-i", "lo", "--format", "json", "-n", "0",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut nf = Reap(Some(nf));
    // ip, setpriv and sh each exec the next: the pid is netflow's.
    wait_capturing(nf.0.as_ref().unwrap().id());
    let server = Peer::start(&lab, &lab.a, &["udp-server", "127.0.0.1:7340", "40", "64"]);
    let client = Peer::start(&lab, &lab.a, &["udp-client", "127.0.0.1:7340", "40", "300"]);
    assert_eq!(client.done().recv_packets, 40);
    let out = nf.0.take().unwrap().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (pid, field) in [(client.pid, "packets_out"), (server.pid, "packets_in")] {
        let row = row(&report, pid);
        assert_eq!(num(&row[field]), 40, "{row}");
        assert_eq!(row["user"], "root", "{row}");
    }
    // No capability missing: the fd tables were read, the socket log loaded.
    let warnings = report["warnings"].as_array().unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
#[ignore = "needs root"]
fn package_lets_group_netflow_capture_keeps_it_on_upgrade_and_purges_clean() {
    let _machine = MACHINE.lock().unwrap_or_else(|e| e.into_inner());
    let debs = debs();
    let mut restore = Restore::check();

    dpkg_install(&debs.release);
    assert_eq!(installed_version().as_deref(), Some(VERSION));
    let gid = group_gid().expect("the postinst made group netflow");
    assert!(Path::new(STATE_DIR).join("package-created-group").exists());

    // The page man finds, compressed as Debian does it.
    let man = Command::new("man").args(["-w", "netflow"]).output();
    let man = man.expect("man (package man-db) is installed");
    assert!(
        man.status.success(),
        "man -w netflow: {} (does /etc/dpkg/dpkg.cfg.d exclude /usr/share/man, as slim images do?)",
        String::from_utf8_lossy(&man.stderr).trim()
    );
    assert_eq!(
        String::from_utf8(man.stdout).unwrap().trim(),
        "/usr/share/man/man1/netflow.1.gz"
    );
    for (committed, installed) in COMPLETIONS {
        let expected = std::fs::read(Path::new(MANIFEST_DIR).join(committed)).unwrap();
        let actual = std::fs::read(installed).unwrap_or_else(|e| panic!("{installed}: {e}"));
        assert!(actual == expected, "{installed} is not {committed}");
    }
    let copyright = std::fs::read_to_string("/usr/share/doc/netflow/copyright").unwrap();
    assert!(
        copyright.contains("License: MIT OR Apache-2.0"),
        "{copyright}"
    );
    assert!(Path::new("/usr/share/doc/netflow/README.md").exists());
    let depends = run(&["dpkg-query", "-W", "-f=${Depends}", "netflow"]).stdout;
    let depends = String::from_utf8(depends).unwrap();
    assert!(
        depends.contains("libpcap0.8") && depends.contains("libcap2-bin"),
        "{depends}"
    );

    // Least privilege: root:netflow 0750 through dpkg-statoverride, and the capabilities.
    assert_eq!(owner_and_mode(), (0, gid, 0o750));
    assert_eq!(
        statoverride().as_deref(),
        Some("root netflow 750 /usr/bin/netflow")
    );
    assert_eq!(file_caps(), readme_caps());
    // The package runs what this checkout builds, and says so.
    assert_eq!(version_of(BIN), version_of(NETFLOW));

    let user = format!("nfpkg{}", std::process::id());
    run(&[
        "useradd",
        "--system",
        "--no-create-home",
        "--no-user-group",
        "--gid",
        "nogroup",
        "--shell",
        "/usr/sbin/nologin",
        "--groups",
        GROUP,
        &user,
    ]);
    restore.user = Some(user.clone());
    member_attributes_roots_processes(&user);

    // Not in the group: not even --version.
    let out = as_user(
        None,
        &["--reuid=nobody", "--regid=nogroup", "--clear-groups"],
        &["--version"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"));

    // An upgrade replaces the file, and the capabilities with it: the postinst sets
    // them again; dpkg applies the override to the new file.
    dpkg_install(&debs.upgrade);
    assert_eq!(installed_version(), Some(format!("{VERSION}+upgrade-test")));
    assert_eq!(owner_and_mode(), (0, gid, 0o750));
    assert_eq!(file_caps(), readme_caps());

    // Purge, with the user still in the group: the group the package made goes too.
    let files = package_files();
    run(&["dpkg", "--purge", "netflow"]);
    assert_purged(&files, &restore);
    assert_eq!(group_gid(), None, "the group the package made survived");
}

#[test]
#[ignore = "needs root"]
fn an_admins_group_and_a_root_only_opt_out_outlast_upgrade_and_purge() {
    let _machine = MACHINE.lock().unwrap_or_else(|e| e.into_inner());
    let debs = debs();
    let restore = Restore::check();
    // The admin made the group before installing: the package uses it, and keeps it.
    run(&["groupadd", "--system", GROUP]);
    let gid = group_gid().unwrap();

    dpkg_install(&debs.release);
    assert_eq!(group_gid(), Some(gid));
    assert!(!Path::new(STATE_DIR).join("package-created-group").exists());
    assert_eq!(owner_and_mode(), (0, gid, 0o750));
    assert_eq!(file_caps(), readme_caps());

    // The README's opt-out: root only. Changing the owner drops the capabilities.
    run(&["dpkg-statoverride", "--remove", BIN]);
    run(&[
        "dpkg-statoverride",
        "--update",
        "--add",
        "root",
        "root",
        "0755",
        BIN,
    ]);
    assert_eq!(file_caps(), Vec::<String>::new());
    // An upgrade keeps the admin's choice: the postinst sets no capabilities on a
    // binary that is not root:netflow without access for others, and says so.
    let said = dpkg_install(&debs.upgrade);
    assert!(said.contains("capabilities left off"), "{said}");
    assert_eq!(owner_and_mode(), (0, 0, 0o755));
    assert_eq!(file_caps(), Vec::<String>::new());

    let files = package_files();
    run(&["dpkg", "--purge", "netflow"]);
    assert_purged(&files, &restore);
    assert_eq!(group_gid(), Some(gid), "purge removed the admin's group");
}
