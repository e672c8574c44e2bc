//! The walls between layers, checked: the pure core never reaches into the OS layer,
//! the pipeline or the command line, and never touches files or clocks itself.

#![allow(clippy::disallowed_methods, reason = "this test reads the source tree")]

use std::path::{Path, PathBuf};

const PURE: &[&str] = &[
    "src/model",
    "src/wire",
    "src/attrib",
    "src/account",
    "src/render",
    "src/engine.rs",
    "src/annotate.rs",
    "src/report.rs",
];

const FORBIDDEN: &[&str] = &[
    "crate::os",
    "crate::pipeline",
    "crate::cli",
    "std::fs",
    "std::net::TcpStream",
    "Instant::now",
    "SystemTime::now",
    "std::process",
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

#[test]
fn pure_core_uses_no_os_layer_files_or_clocks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for p in PURE {
        rust_files(&root.join(p), &mut files);
    }
    assert!(
        files.len() >= 15,
        "expected the core's files, found {files:?}"
    );
    let mut violations = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for f in FORBIDDEN {
                if line.contains(f) {
                    violations.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "the core crossed a wall:\n{}",
        violations.join("\n")
    );
}
