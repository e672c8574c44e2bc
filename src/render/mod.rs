//! Rendering: a [`Report`] into bytes for people (table) or programs (JSON, CSV, and
//! Prometheus text for node_exporter's textfile collector).
//!
//! Owns layout, units and column names.
//! Does not compute anything the report does not hold, open files, or read the clock.

mod csv;
mod escape;
mod json;
mod table;
mod textfile;
mod units;

use std::io::{self, Write};

use crate::report::Report;

pub use escape::for_terminal;
pub use units::human_bytes;

/// Output formats for `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `connections: true` lists each process's connections under it.
    Table {
        connections: bool,
    },
    Json,
    /// `header: false` leaves out the header row, for appending to a file.
    Csv {
        header: bool,
        rows: CsvRows,
    },
    /// Prometheus text exposition, for node_exporter's textfile collector.
    Prometheus,
}

/// What one CSV row stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvRows {
    Processes,
    /// One row per connection, its process's columns repeated.
    Flows,
}

/// How wide the table may be. The caller knows where the report goes; the renderer
/// never looks at the environment or the terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// A terminal this many columns wide: long fields are cut with `…`, and a user
    /// name wider than its column shows as the uid.
    Columns(usize),
    /// Not a terminal (a pipe, a file): every field is written whole.
    Unlimited,
}

/// Writes the report in `format`; `width` shapes only the table.
pub fn render(
    report: &Report,
    format: Format,
    width: Width,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Table { connections } => table::write(report, width, connections, out),
        Format::Json => json::write(report, out),
        Format::Csv { header, rows } => csv::write(report, header, rows, out),
        Format::Prometheus => textfile::write(report, out),
    }
}

#[cfg(test)]
pub(crate) mod fixtures;
