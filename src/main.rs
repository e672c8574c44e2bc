//! The `netflow` binary: parse, run, and turn the outcome into an exit status.

use std::process::ExitCode;

use clap::Parser;
use netflow::cli::{self, Cli};
use netflow::error::EXIT_USAGE;

fn main() -> ExitCode {
    netflow::os::malloc::tune_for_long_runs();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: print and succeed.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("netflow: {}", cli::one_line(&e));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netflow: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
