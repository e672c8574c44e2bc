//! The `netflow` binary: parse, run, and turn the outcome into an exit status.

use std::process::ExitCode;

use clap::Parser;
use netflow::cli::{self, Cli};
use netflow::error::EXIT_USAGE;
use netflow::render::for_terminal;

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
            eprintln!("netflow: {}", for_terminal(&cli::one_line(&e)));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Errors name interfaces, paths and filters: text from outside.
            eprintln!("netflow: {}", for_terminal(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}
