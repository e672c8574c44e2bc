//! clap's multi-line errors folded into netflow's one line, keeping what helps: the
//! valid values, the "did you mean", the missing arguments.

use clap::error::ErrorKind;

/// One line for stderr (without the `netflow: ` prefix).
pub fn one_line(e: &clap::Error) -> String {
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return "a subcommand is needed: `netflow snapshot` or `netflow interfaces` (see --help)"
            .into();
    }
    fold(&e.render().to_string())
}

/// The first line, then each detail clap gives on later lines, in parentheses; usage
/// and "for more information" lines are left to `--help`.
fn fold(text: &str) -> String {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid arguments");
    let mut line = first
        .trim_start_matches("error: ")
        .trim_end_matches(':')
        .to_string();
    let details: Vec<&str> = lines
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(|l| {
            l.trim_start_matches("tip: ")
                .trim_start_matches('[')
                .trim_end_matches(']')
        })
        .collect();
    if !details.is_empty() {
        line.push_str(&format!(" ({})", details.join("; ")));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn refusal(args: &[&str]) -> String {
        one_line(&Cli::try_parse_from(args).expect_err("refused"))
    }

    #[test]
    fn a_bad_value_lists_the_valid_ones() {
        assert_eq!(
            refusal(&["netflow", "snapshot", "--format", "yaml"]),
            "invalid value 'yaml' for '--format <FORMAT>' (possible values: table, json, csv, prometheus)"
        );
    }

    #[test]
    fn a_misspelt_option_gets_clap_suggestion() {
        let line = refusal(&["netflow", "snapshot", "--formt", "json"]);
        assert!(
            line.starts_with("unexpected argument '--formt' found"),
            "{line}"
        );
        assert!(line.contains("'--format'"), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn a_missing_subcommand_says_one_is_needed() {
        assert_eq!(
            refusal(&["netflow"]),
            "a subcommand is needed: `netflow snapshot` or `netflow interfaces` (see --help)"
        );
    }

    #[test]
    fn a_missing_required_argument_is_named() {
        let line = refusal(&["netflow", "snapshot", "--write-limit", "1M"]);
        assert!(line.contains("--write <FILE>"), "{line}");
    }
}
