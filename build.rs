//! The version `netflow --version` prints (issue #20): the crate's version, the commit
//! the binary was built from, and a short hash of the socket-log object it embeds, so a
//! bug report says exactly what ran:
//!
//! `0.1.0 (git abc1234[-dirty]; socklog sha256:0123abcd)`, passed to the crate as
//! `NETFLOW_VERSION`.
//!
//! The commit is "unknown" outside a git checkout (a crate tarball, a source package)
//! or when git cannot answer (not installed, a repository of another user that git
//! refuses as "dubious ownership"). "-dirty" means a file the binary is built from
//! ([`SOURCES`]) differs from the commit; an edited README or test leaves the binary
//! the commit's, and would otherwise rebuild the crate on every edit.

use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

/// The socket log's object, embedded by `src/os/ebpf/mod.rs`.
const SOCKLOG: &str = "src/os/ebpf/socklog.bpf.o";

/// What the binary is built from: a change here makes the version "-dirty".
const SOURCES: [&str; 4] = ["src", "build.rs", "Cargo.toml", "Cargo.lock"];

fn main() {
    // Cargo scans directories recursively; these also replace its default of rerunning
    // on any change in the package (tests, README), which says nothing of the binary.
    for path in SOURCES {
        println!("cargo:rerun-if-changed={path}");
    }
    let object = std::fs::read(SOCKLOG).unwrap_or_else(|e| panic!("cannot read {SOCKLOG}: {e}"));
    let socklog: String = Sha256::digest(&object)[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let version = std::env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION");
    let commit = commit();
    println!("cargo:rustc-env=NETFLOW_VERSION={version} (git {commit}; socklog sha256:{socklog})");
}

/// `abc1234`, `abc1234-dirty` or `unknown`.
fn commit() -> String {
    // `.git` is a directory in a clone and a file in a worktree. Without it, git would
    // describe an enclosing repository (a tarball unpacked inside someone's checkout).
    if !Path::new(".git").exists() {
        return "unknown".into();
    }
    describe().unwrap_or_else(|why| {
        println!("cargo:warning=the version says \"git unknown\": {why}");
        "unknown".into()
    })
}

fn describe() -> Result<String, String> {
    let hash = git(&["rev-parse", "--short=7", "HEAD"])?;
    watch_head()?;
    let mut status = vec!["status", "--porcelain", "--"];
    status.extend(SOURCES);
    let dirty = !git(&status)?.is_empty();
    Ok(if dirty { format!("{hash}-dirty") } else { hash })
}

/// Reruns this script when HEAD moves (a commit, a checkout): HEAD itself, the branch
/// it names and packed-refs, wherever this checkout keeps them (a worktree's HEAD is
/// in its own git dir, its branches in the common one). Only existing paths: Cargo
/// reruns on every build for one that does not exist (rust-lang/cargo#4076), so a
/// branch that lives only in packed-refs is watched through its directory, where the
/// next commit creates it.
fn watch_head() -> Result<(), String> {
    for name in ["HEAD", "packed-refs"] {
        let path = git(&["rev-parse", "--git-path", name])?;
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    // Detached, HEAD holds the commit itself and is watched above.
    if let Ok(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        let path = git(&["rev-parse", "--git-path", &branch])?;
        if let Some(existing) = Path::new(&path).ancestors().find(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", existing.display());
        }
    }
    Ok(())
}

/// git's trimmed standard output, or why it failed.
fn git(args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        // The checkout in the manifest directory, whatever a calling hook exported.
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        // `git status` would otherwise refresh the index, and a build would write to
        // the checkout.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("git {}: {}", args.join(" "), stderr.trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
