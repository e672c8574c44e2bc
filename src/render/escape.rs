//! Text from outside made safe to show on a terminal.
//!
//! Process names, command lines, user, host and interface names are chosen by
//! whoever runs the process or configures the host, and netflow runs as root on
//! shared machines: printed raw, `\e]0;title\a` retitles the operator's terminal,
//! `\e[2J` clears it, a newline forges a table row and U+202E reverses what follows.
//!
//! Owns the one rule for what may reach a terminal raw.
//! Does not apply to CSV or Prometheus output: programs get the exact strings (JSON
//! escapes the same characters as `\uXXXX`, which decodes to the exact string).

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with every character a terminal would act on, rather than show, replaced by
/// a visible escape, as `ps` does: C0 controls and DEL as `\x1b` (`\n`, `\r` and `\t`
/// by their names), C1 controls, bidi controls and the Unicode line and paragraph
/// separators as `\u202e`. Everything else, backslash included, is unchanged: the
/// table is for people, and programs read the exact bytes from the other formats.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Unicode's control characters (C0, DEL, C1: general category Cc), its
/// Bidi_Control characters (they reorder the rest of the line) and U+2028/U+2029
/// (line and paragraph separators, which some terminals break lines on).
pub(crate) fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for text in ["nginx: worker process", "jörg", "山田", "a\\x1b", ""] {
            assert!(matches!(for_terminal(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn terminal_sequences_become_visible() {
        assert_eq!(for_terminal("\x1b]0;title\x07"), "\\x1b]0;title\\x07");
        assert_eq!(for_terminal("\x1b[2J"), "\\x1b[2J");
        assert_eq!(for_terminal("\u{9b}2J"), "\\u009b2J");
        assert_eq!(for_terminal("a\0b\x7f"), "a\\x00b\\x7f");
    }

    #[test]
    fn line_breaks_cannot_forge_rows() {
        assert_eq!(for_terminal("x\ny\r\tz"), "x\\ny\\r\\tz");
        assert_eq!(
            for_terminal("x\u{85}y\u{2028}z\u{2029}"),
            "x\\u0085y\\u2028z\\u2029"
        );
    }

    #[test]
    fn bidi_controls_cannot_reorder_the_line() {
        assert_eq!(for_terminal("\u{202e}evil"), "\\u202eevil");
        let every = "\u{61c}\u{200e}\u{200f}\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}\u{2066}\u{2067}\u{2068}\u{2069}";
        assert_eq!(
            for_terminal(every),
            "\\u061c\\u200e\\u200f\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066\\u2067\\u2068\\u2069"
        );
    }

    #[test]
    fn a_lossily_decoded_name_keeps_its_replacement_character() {
        let comm = String::from_utf8_lossy(b"a\x1b\nb\xff\xe2\x80\xaec");
        assert_eq!(for_terminal(&comm), "a\\x1b\\nb\u{fffd}\\u202ec");
    }

    #[test]
    fn nothing_unsafe_survives_escaping() {
        let all: String = (0..0x3000u32).filter_map(char::from_u32).collect();
        let escaped = for_terminal(&all);
        assert!(!escaped.chars().any(is_unsafe));
    }
}
