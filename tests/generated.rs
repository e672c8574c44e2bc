//! man/netflow.1 and completions/ are generated from the clap definition and checked
//! in. This test fails when they no longer match the CLI; regenerate them with
//! `NETFLOW_REGENERATE=1 cargo test --test integration generated`.
#![allow(
    clippy::disallowed_methods,
    reason = "this test reads and writes the checked-in files"
)]

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use netflow::cli::Cli;

fn man_page() -> Vec<u8> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(&mut out).unwrap();
    man.render_name_section(&mut out).unwrap();
    man.render_synopsis_section(&mut out).unwrap();
    man.render_description_section(&mut out).unwrap();
    man.render_options_section(&mut out).unwrap();
    man.render_subcommands_section(&mut out).unwrap();
    for sub in cmd.get_subcommands() {
        let name = format!("netflow {}", sub.get_name());
        let sub_cmd = sub.clone().bin_name(name.clone());
        out.extend_from_slice(format!(".SH \"{}\"\n", name.to_uppercase()).as_bytes());
        let sub_man = clap_mangen::Man::new(sub_cmd);
        sub_man.render_synopsis_section(&mut out).unwrap();
        sub_man.render_options_section(&mut out).unwrap();
    }
    out.extend_from_slice(EXIT_STATUS.as_bytes());
    man.render_version_section(&mut out).unwrap();
    out
}

/// Exit codes as documented in the README; kept here so the man page carries them.
const EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
The report was written (also after Ctrl\-C or SIGTERM).
.TP
\fB1\fR
A runtime failure after capture started (the report then goes to standard output).
.TP
\fB2\fR
A command line that cannot work: bad option or duration, unknown or down interface, invalid filter, unwritable output path.
.TP
\fB3\fR
Not enough privileges to capture (root or CAP_NET_RAW is needed).
.TP
\fB130\fR
A second Ctrl\-C or SIGTERM while the report was being finished.
"#;

fn completion(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "netflow", &mut out);
    out
}

fn check(path: &str, expected: Vec<u8>) {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if std::env::var_os("NETFLOW_REGENERATE").is_some() {
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, &expected).unwrap();
        return;
    }
    let actual = std::fs::read(&full).unwrap_or_default();
    assert!(
        actual == expected,
        "{path} is out of date with the CLI: run NETFLOW_REGENERATE=1 cargo test --test integration generated"
    );
}

#[test]
fn man_page_matches_the_cli() {
    let page = man_page();
    let text = String::from_utf8_lossy(&page);
    assert!(text.contains("snapshot") && text.contains("EXIT STATUS"));
    check("man/netflow.1", page);
}

#[test]
fn completions_match_the_cli() {
    check("completions/netflow.bash", completion(Shell::Bash));
    check("completions/_netflow", completion(Shell::Zsh));
    check("completions/netflow.fish", completion(Shell::Fish));
}
