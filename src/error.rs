//! netflow's errors. Each says, in one lower-case line, what went wrong and, where
//! it helps, what to do; [`Error::exit_code`] maps it to the documented exit status.
//! Errors from libpcap, aya and the OS are kept as their `source`, not only as text.

use std::io;

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
    #[error("invalid capture filter `{expr}`: {}", pcap_message(.source))]
    BadFilter {
        expr: String,
        #[source]
        source: pcap::Error,
    },
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
    ReportLost(#[source] Box<Error>),
    #[error("capture on `{iface}` failed: {}", pcap_message(.source))]
    Capture {
        iface: String,
        #[source]
        source: pcap::Error,
    },
    /// Reading packets failed once capture had begun (the interface vanished, say).
    #[error("capture on `{iface}` failed: {source}")]
    CaptureRead {
        iface: String,
        #[source]
        source: pcap::Error,
    },
    #[error("capture on `{iface}` failed: unsupported link type {dlt} ({name})")]
    UnsupportedLink {
        iface: String,
        dlt: i32,
        /// libpcap's name for it (empty when it has none).
        name: String,
    },
    /// A replay's capture file cannot be read.
    #[error("cannot read `{path}`: {}", pcap_message(.source))]
    Replay {
        path: String,
        #[source]
        source: pcap::Error,
    },
    #[error("capture on `(device list)` failed: {0}")]
    DeviceList(#[source] pcap::Error),
    #[error("the kernel socket log (--ebpf on) could not be loaded: {0}")]
    SocketLog(#[source] SocketLogError),
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
            | Error::Replay { .. }
            | Error::Output { .. } => EXIT_USAGE,
            Error::Privileges { .. } => EXIT_PRIVILEGES,
            Error::Capture { .. }
            | Error::CaptureRead { .. }
            | Error::UnsupportedLink { .. }
            | Error::DeviceList(_)
            | Error::Incomplete
            | Error::ReportLost(_)
            | Error::SocketLog(_)
            | Error::Thread(_)
            | Error::Io(_) => EXIT_RUNTIME,
        }
    }
}

/// libpcap's own words: the text of a `PcapError` without the crate's
/// `libpcap error: ` prefix.
fn pcap_message(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Why the kernel socket log could not be loaded (`--ebpf`).
#[derive(Debug, thiserror::Error)]
pub enum SocketLogError {
    /// Relocating the object against the kernel's BTF, or creating its maps.
    #[error("{}", in_one_line(.0))]
    Relocate(#[source] aya::EbpfError),
    /// No hook could be attached: the first one's failure.
    #[error("{hook}: {source}")]
    Hook {
        hook: &'static str,
        #[source]
        source: HookError,
    },
    #[error("no hook attached")]
    NoHook,
    #[error("the {0} map is missing")]
    MissingMap(&'static str),
    #[error("{name} is not {expected}")]
    MapType {
        name: &'static str,
        /// What it should be, e.g. `a ring buffer`.
        expected: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("loading the BPF program panicked")]
    Panicked,
}

/// Why one hook of the socket log could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("program missing from the object")]
    MissingProgram,
    #[error("{}", in_one_line(.0))]
    Program(#[source] aya::programs::ProgramError),
}

/// An aya error in one line: each cause once (aya's messages often repeat their
/// source's), and what to do when the kernel said "not permitted".
fn in_one_line(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg = format!("{msg}: {text}");
        }
        source = s.source();
    }
    if msg.contains("Operation not permitted") {
        return "not permitted (needs root, or CAP_BPF and CAP_PERFMON)".into();
    }
    msg
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn pcap(message: &str) -> pcap::Error {
        pcap::Error::PcapError(message.into())
    }

    #[test]
    fn pcap_errors_read_as_libpcap_said_and_stay_the_source() {
        let e = Error::BadFilter {
            expr: "tcp port".into(),
            source: pcap("syntax error"),
        };
        assert_eq!(
            e.to_string(),
            "invalid capture filter `tcp port`: syntax error"
        );
        assert!(e.source().unwrap().downcast_ref::<pcap::Error>().is_some());
        assert_eq!(e.exit_code(), EXIT_USAGE);
        let e = Error::Capture {
            iface: "eth9".into(),
            source: pcap("socket: Address family not supported"),
        };
        assert_eq!(
            e.to_string(),
            "capture on `eth9` failed: socket: Address family not supported"
        );
        assert!(e.source().is_some());
        assert_eq!(e.exit_code(), EXIT_RUNTIME);
        let e = Error::DeviceList(pcap("no permission"));
        assert_eq!(
            e.to_string(),
            "capture on `(device list)` failed: libpcap error: no permission"
        );
        let e = Error::CaptureRead {
            iface: "veth0".into(),
            source: pcap("The interface disappeared"),
        };
        assert_eq!(
            e.to_string(),
            "capture on `veth0` failed: libpcap error: The interface disappeared"
        );
        let e = Error::UnsupportedLink {
            iface: "wpan0".into(),
            dlt: 195,
            name: "IEEE802_15_4".into(),
        };
        assert_eq!(
            e.to_string(),
            "capture on `wpan0` failed: unsupported link type 195 (IEEE802_15_4)"
        );
        assert_eq!(e.exit_code(), EXIT_RUNTIME);
    }

    #[test]
    fn a_lost_report_keeps_the_write_error_as_its_source() {
        let e = Error::ReportLost(Box::new(Error::Output {
            path: "/full/r.json".into(),
            source: io::Error::from_raw_os_error(28),
        }));
        assert!(e
            .to_string()
            .starts_with("cannot write `/full/r.json`: No space left on device"));
        assert!(e
            .to_string()
            .ends_with("; the report was written to standard output instead"));
        let write = e.source().unwrap();
        assert!(write
            .source()
            .unwrap()
            .downcast_ref::<io::Error>()
            .is_some());
        assert_eq!(e.exit_code(), EXIT_RUNTIME);
    }

    #[test]
    fn socket_log_errors_name_the_hook_and_keep_the_cause() {
        let e = Error::SocketLog(SocketLogError::Hook {
            hook: "sock_send_length",
            source: HookError::MissingProgram,
        });
        assert_eq!(
            e.to_string(),
            "the kernel socket log (--ebpf on) could not be loaded: sock_send_length: program missing from the object"
        );
        let cause = e.source().unwrap().source().unwrap();
        assert!(matches!(
            cause.downcast_ref::<HookError>(),
            Some(HookError::MissingProgram)
        ));
        assert_eq!(
            SocketLogError::Panicked.to_string(),
            "loading the BPF program panicked"
        );
    }
}
