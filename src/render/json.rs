use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

use super::escape::is_unsafe;
use crate::report::Report;

/// One pretty-printed JSON document, integer byte counts, newline-terminated.
///
/// Every character a terminal would act on is written as a `\uXXXX` escape, C1 and
/// bidi controls included (serde_json escapes only C0): the document may be printed
/// to the operator's terminal, and a parser still reads the exact string.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, TerminalSafe::default());
    report.serialize(&mut ser)?;
    out.write_all(b"\n")
}

/// serde_json's pretty printer, with the terminal's control characters escaped.
#[derive(Default)]
struct TerminalSafe(PrettyFormatter<'static>);

impl Formatter for TerminalSafe {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some((at, c)) = rest.char_indices().find(|&(_, c)| is_unsafe(c)) {
            w.write_all(&rest.as_bytes()[..at])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
            rest = &rest[at + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }

    // The pretty layout is PrettyFormatter's.
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::sample_report;

    #[test]
    fn terminal_controls_are_escaped_and_decode_to_the_exact_name() {
        let mut report = sample_report();
        let hostile = "a\u{9b}2J\u{202e}b\u{1b}]0;t\u{7}\u{1F600}";
        report.summary.host = hostile.into();
        let mut buf = Vec::new();
        write(&report, &mut buf).unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        // Only the layout's own newlines remain.
        assert!(!text.chars().any(|c| c != '\n' && is_unsafe(c)), "{text}");
        assert!(
            text.contains(r#""a\u009b2J\u202eb\u001b]0;t\u0007😀""#),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["summary"]["host"], hostile);
    }

    #[test]
    fn the_layout_is_serde_jsons_pretty_one() {
        let report = sample_report();
        let mut ours = Vec::new();
        write(&report, &mut ours).unwrap();
        let mut plain = serde_json::to_vec_pretty(&report).unwrap();
        plain.push(b'\n');
        assert_eq!(ours, plain);
    }

    #[test]
    fn json_carries_schema_rows_and_reasons() {
        let mut buf = Vec::new();
        write(&sample_report(), &mut buf).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["schema_version"], 1);
        let row = &v["processes"][0];
        assert_eq!(row["pid"], 4242);
        assert_eq!(row["name"], "curl");
        assert_eq!(row["bytes_in"], 1_048_576);
        assert_eq!(row["bytes_out"], 2_000);
        assert_eq!(row["packets_in"], 700);
        assert_eq!(row["matched_by"][0], "exact");
        assert_eq!(v["unattributed"]["no_socket"]["bytes"], 300);
        assert_eq!(v["summary"]["captured"]["packets"], 1_013);
        assert_eq!(v["summary"]["dropped"]["kernel_packets"], 4);
        assert!(v["summary"]["byte_convention"]
            .as_str()
            .unwrap()
            .starts_with("ip:"));
    }
}
