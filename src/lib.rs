//! netflow: which processes on this host move the most network traffic?
//!
//! The architecture, in the direction of dependency:
//!
//! ```text
//! model ← {wire, attrib, account} ← engine ← report ← render
//!                    os (pcap, /proc, files, signals) ← pipeline ← cli
//! ```
//!
//! - [`wire`] turns a captured frame into a `Copy` summary (the per-packet hot path).
//! - [`attrib`] knows the host's sockets and decides which process owns a flow.
//! - [`account`] adds up bytes and packets per process and per second.
//! - [`engine`] applies packets and socket scans in order; [`report`] freezes the result.
//! - [`render`] writes a report as a table, JSON, CSV or Prometheus text.
//! - [`annotate`] notes each packet of a pcapng file (`-w FILE.pcapng`) with its process.
//! - [`os`] is the only code that touches pcap, /proc, files and signals.
//! - [`pipeline`] runs the threads: capture → bounded queue → engine, with rescans.
//!
//! The pure modules (`model`, `wire`, `attrib`, `account`, `engine`, `report`,
//! `render`) need no root and no network: tests drive them with fixtures.
//! `tests/architecture.rs` keeps the walls standing: the pure modules reach into no
//! `os`, `pipeline` or `cli`; `os` imports no `report`, `render`, `pipeline` or `cli`;
//! no two modules import each other.
//!
//! To run a snapshot from another program, build a [`pipeline::SnapshotConfig`] and
//! call [`pipeline::run_snapshot`]; it returns the [`report::Report`] as data.

pub mod account;
pub mod annotate;
pub mod attrib;
pub mod cli;
pub mod engine;
pub mod error;
pub mod model;
pub mod os;
pub mod pipeline;
pub mod render;
pub mod report;
pub mod wire;

pub use error::Error;
