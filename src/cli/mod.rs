//! The command line: parse, validate, run, and map the outcome to an exit status.
//!
//! Owns the clap definition, the checks that happen before capture, the progress bar
//! and where the report goes.
//! Does not capture or attribute anything itself: it drives [`crate::pipeline`].

mod args;
mod errors;
mod run;
mod width;

pub use args::{Cli, Command, FormatArg, InterfacesArgs, SnapshotArgs, SortArg};
pub use errors::one_line;
pub use run::run;
