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
//! Where to add things: a new output format is a module in [`render`] (a pure
//! function of the [`report::Report`]); a new source of socket ownership produces
//! [`attrib`] tables or logged sockets from `os/` and is fed to the engine by
//! [`pipeline`].
//!
//! # Running a snapshot from another program
//!
//! The command line and the library run the same session: a plain-data request, a
//! session opened in one documented order (signal handlers if asked, privileges, output
//! paths, interfaces, capture handles, self-limits, outputs), then the report as data.
//!
//! ```
//! use std::time::Duration;
//! use netflow::pipeline::{Session, SnapshotRequest};
//!
//! let request = SnapshotRequest {
//!     interfaces: vec!["lo".into()],
//!     duration: Duration::from_millis(300),
//!     ..SnapshotRequest::default()
//! };
//! match Session::open(request) {
//!     Ok(session) => {
//!         let snapshot = session.run(|_progress| {}).expect("threads start");
//!         let report = &snapshot.report;
//!         assert_eq!(report.summary.interfaces, ["lo"]);
//!         // Every captured byte is attributed, unattributed with a reason, or both ends'.
//!         println!("{} processes, {} packets", report.processes.len(), report.summary.captured.packets);
//!     }
//!     // Capturing needs root or CAP_NET_RAW; without them there is nothing to show.
//!     Err(netflow::Error::Privileges { .. }) => {}
//!     Err(e) => panic!("{e}"),
//! }
//! ```

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
