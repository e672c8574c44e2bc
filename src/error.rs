//! netflow's errors. Each says, in one lower-case line, what went wrong and, where
//! it helps, what to do; [`Error::exit_code`] maps it to the documented exit status.

use std::io;

/// Exit status for a run that completed.
pub const EXIT_OK: u8 = 0;
/// Exit status when something failed after the command line was accepted.
pub const EXIT_RUNTIME: u8 = 1;
/// Exit status for a command line that cannot work (bad option, interface, filter, path).
pub const EXIT_USAGE: u8 = 2;
/// Exit status when netflow lacks the privileges to capture.
pub const EXIT_PRIVILEGES: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("no such interface `{name}`{}", available_hint(.available))]
    NoSuchInterface { name: String, available: String },
    #[error("interface `{0}` is down (bring it up, or leave it out of -i)")]
    InterfaceDown(String),
    #[error("invalid capture filter `{expr}`: {message}")]
    BadFilter { expr: String, message: String },
    #[error(
        "capturing packets needs root or {missing} (run it with sudo, or see the README on capabilities)"
    )]
    Privileges { missing: String },
    #[error("cannot write `{path}`: {source}")]
    Output {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("the report was written, but is incomplete: see its warnings")]
    Incomplete,
    #[error("{0}; the report was written to standard output instead")]
    ReportLost(String),
    #[error("capture on `{iface}` failed: {message}")]
    Capture { iface: String, message: String },
    #[error("the kernel socket log (--ebpf on) could not be loaded: {0}")]
    SocketLog(String),
    #[error("cannot start a thread ({0}): is a pids limit too low?")]
    Thread(#[source] io::Error),
    #[error("{0}")]
    Io(#[from] io::Error),
}

fn available_hint(available: &str) -> String {
    if available.is_empty() {
        " (see `netflow interfaces`)".to_string()
    } else {
        format!(" (capturable: {available})")
    }
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_)
            | Error::NoSuchInterface { .. }
            | Error::InterfaceDown(_)
            | Error::BadFilter { .. }
            | Error::Output { .. } => EXIT_USAGE,
            Error::Privileges { .. } => EXIT_PRIVILEGES,
            Error::Capture { .. }
            | Error::Incomplete
            | Error::ReportLost(_)
            | Error::SocketLog(_)
            | Error::Thread(_)
            | Error::Io(_) => EXIT_RUNTIME,
        }
    }
}
