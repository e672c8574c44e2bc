//! A stand-in for netflow in the cgroup tests (issue #13 item 11): a process that
//! applies a self-limit through `os::cgroup::apply_controllers`, the seam that names
//! the controller, so the tests can use the one controller this machine's cgroup v2
//! hierarchy has free (hugetlb; cpu and memory are bound to v1 here).
//!
//!   cgroup-leaf <controller> <file> <value>
//!
//! Prints `ready`, then on each line of stdin:
//!   `apply`   applies the limit (writes <value> to <file> in netflow's group) and
//!             prints `applied <its cgroup v2 path>`; on failure prints the error on
//!             stderr and exits with netflow's exit status for it;
//!   `release` drops the limit and prints `released <its cgroup v2 path>`.
//! Exits when stdin closes.

#![allow(
    clippy::disallowed_methods,
    reason = "a test helper process: it exits with netflow's status like the binary"
)]

use std::io::{self, BufRead, Write};

use netflow::os::cgroup::{apply_controllers, Controller, Host};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [controller, file, value] = &args[..] else {
        eprintln!("usage: cgroup-leaf CONTROLLER FILE VALUE");
        std::process::exit(2);
    };
    let wanted = Controller {
        name: controller.clone(),
        v2_files: vec![(file.clone(), value.clone())],
        v1_files: vec![(file.clone(), value.clone())],
        description: format!("{controller} limited"),
        systemd_property: None,
    };
    say("ready");
    let mut limit = None;
    for line in io::stdin().lock().lines().map_while(Result::ok) {
        match line.as_str() {
            "apply" => match apply_controllers(&Host::live(), std::slice::from_ref(&wanted)) {
                Ok(guard) => {
                    limit = Some(guard);
                    say(&format!("applied {}", own_v2()));
                }
                Err(e) => {
                    eprintln!("netflow: {e}");
                    std::process::exit(i32::from(e.exit_code()));
                }
            },
            "release" => {
                drop(limit.take());
                say(&format!("released {}", own_v2()));
            }
            other => panic!("unknown command {other:?}"),
        }
    }
}

fn say(line: &str) {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}").expect("stdout");
    out.flush().expect("stdout");
}

/// This process's cgroup v2 path (`0::` in /proc/self/cgroup).
fn own_v2() -> String {
    let text = std::fs::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup");
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_default()
        .to_string()
}
