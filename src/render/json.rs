use std::io::{self, Write};

use crate::report::Report;

/// One pretty-printed JSON document, integer byte counts, newline-terminated.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::sample_report;

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
