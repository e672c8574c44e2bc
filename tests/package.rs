//! Shipping (issue #20): the version string a bug report quotes.
#![allow(
    clippy::disallowed_methods,
    reason = "tests run the real binary and its build script, and read files"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const SOCKLOG: &str = "src/os/ebpf/socklog.bpf.o";

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
