//! How wide the table may be: the one place that looks at `COLUMNS` and the terminal.

use crate::render::Width;

/// The width of a terminal that does not say (a serial console reports 0 columns).
const UNKNOWN_TERMINAL: usize = 80;

/// The table's width for a report written to standard output (`to_stdout`) or to a
/// file (`-o`, always whole: a file is kept and read later, in any window).
pub fn table_width(to_stdout: bool) -> Width {
    if !to_stdout {
        return Width::Unlimited;
    }
    // console is already built for indicatif and does the TIOCGWINSZ ioctl that
    // `unsafe_code = "deny"` keeps out of this crate.
    let stdout = console::Term::stdout();
    choose(
        std::env::var("COLUMNS").ok().as_deref(),
        stdout.is_term(),
        stdout.size_checked().map(|(_rows, cols)| cols),
    )
}

/// `COLUMNS` when it is a positive number (ps and ls honour it on a pipe too, so a
/// script can ask for a width); else the terminal's size; else, on a pipe, whole lines.
fn choose(columns: Option<&str>, terminal: bool, size: Option<u16>) -> Width {
    match columns.and_then(|c| c.trim().parse::<usize>().ok()) {
        Some(n) if n > 0 => Width::Columns(n),
        _ if terminal => Width::Columns(size.map_or(UNKNOWN_TERMINAL, usize::from)),
        _ => Width::Unlimited,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_wins_then_the_terminal_then_whole_lines() {
        assert_eq!(choose(Some("80"), false, None), Width::Columns(80));
        assert_eq!(choose(Some("80"), true, Some(200)), Width::Columns(80));
        assert_eq!(choose(None, true, Some(132)), Width::Columns(132));
        assert_eq!(choose(None, true, None), Width::Columns(80));
        assert_eq!(choose(None, false, None), Width::Unlimited);
    }

    #[test]
    fn a_columns_that_is_not_a_positive_number_is_ignored() {
        for bad in ["", "0", "-5", "wide"] {
            assert_eq!(choose(Some(bad), false, None), Width::Unlimited, "{bad:?}");
            assert_eq!(choose(Some(bad), true, Some(90)), Width::Columns(90));
        }
    }

    #[test]
    fn a_report_file_gets_whole_lines() {
        assert_eq!(table_width(false), Width::Unlimited);
    }
}
