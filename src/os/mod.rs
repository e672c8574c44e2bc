//! The thin impure layer: the only code that touches pcap, /proc, files and signals.
//!
//! Owns opening capture handles (or capture files, for a replay), reading socket and fd
//! tables, writing pcap and report files, and turning signals into a stop flag.
//! Does not decide attribution or format reports: it hands plain data to the core.
#![allow(
    clippy::disallowed_methods,
    reason = "os/ is where files are opened and clocks are read"
)]

pub mod capture;
pub mod cgroup;
pub mod ebpf;
pub mod fds;
pub mod host;
pub mod interfaces;
pub mod malloc;
pub mod output;
pub mod pcap_out;
pub mod pcapng;
pub mod privileges;
pub mod procfs;
pub mod replay;
pub mod signals;
pub mod sockdiag;
pub mod users;
