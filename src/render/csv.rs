use std::io::{self, Write};

use super::CsvRows;
use crate::report::{FlowRow, PeerRow, ProcessRow, Report, Summary};

/// The columns, in order. Columns are only ever appended, so a file that cron appends
/// to (`--no-header`) keeps its meaning across versions.
const HEADER: [&str; 27] = [
    "rank",
    "pid",
    "ppid",
    "name",
    "user",
    "uid",
    "bytes_in",
    "bytes_out",
    "packets_in",
    "packets_out",
    "avg_bytes_in_per_sec",
    "avg_bytes_out_per_sec",
    "peak_bytes_in_per_sec",
    "peak_bytes_out_per_sec",
    "connections",
    "matched_by",
    "exited",
    "container_id",
    "top_peer",
    "exe",
    "cmdline",
    // Appended: which capture a row belongs to, when rows of many runs share a file.
    "host",
    "start_time",
    "duration_secs",
    // Appended: the top peer's protocol and bytes (empty when there is no peer).
    "top_peer_proto",
    "top_peer_bytes_in",
    "top_peer_bytes_out",
];

/// With `--rows flows`: the process columns, then these, one row per connection (the
/// last of a process may add up the rest: `flow_rest`, `flow_count`).
const FLOW_HEADER: [&str; 13] = [
    "flow_proto",
    "flow_local",
    "flow_remote",
    "flow_bytes_in",
    "flow_bytes_out",
    "flow_packets_in",
    "flow_packets_out",
    "flow_first_unix_ms",
    "flow_last_unix_ms",
    "flow_matched_by",
    "flow_open",
    "flow_count",
    "flow_rest",
];

/// A header row (unless `header` is false), then one row per process (or, with
/// [`CsvRows::Flows`], per connection), raw integers, RFC 4180 quoting (lines end in
/// `\n`, as they always have: files appended to across versions keep one line
/// ending). `matched_by` joins its values with `+`.
pub fn write(report: &Report, header: bool, rows: CsvRows, out: &mut dyn Write) -> io::Result<()> {
    let s = &report.summary;
    let mut w = ::csv::Writer::from_writer(out);
    if header {
        match rows {
            CsvRows::Processes => w.write_record(HEADER)?,
            CsvRows::Flows => w.write_record(HEADER.iter().chain(&FLOW_HEADER))?,
        }
    }
    for p in &report.processes {
        let row = process_fields(s, p);
        match rows {
            CsvRows::Processes => w.write_record(row)?,
            CsvRows::Flows => {
                for f in &p.flows {
                    w.write_record(row.iter().cloned().chain(flow_fields(f)))?;
                }
            }
        }
    }
    w.flush()
}

/// A connection's columns; empty where the added-up rest has no value.
fn flow_fields(f: &FlowRow) -> [String; FLOW_HEADER.len()] {
    let matched: Vec<&str> = f.matched_by.iter().map(|q| q.name()).collect();
    [
        f.proto.map(|p| p.name().to_string()).unwrap_or_default(),
        f.local.clone().unwrap_or_default(),
        f.remote.clone().unwrap_or_default(),
        f.bytes_in.to_string(),
        f.bytes_out.to_string(),
        f.packets_in.to_string(),
        f.packets_out.to_string(),
        f.first_unix_ms.to_string(),
        f.last_unix_ms.to_string(),
        matched.join("+"),
        f.open.map(|o| o.to_string()).unwrap_or_default(),
        f.count.to_string(),
        f.rest.to_string(),
    ]
}

fn process_fields(s: &Summary, p: &ProcessRow) -> [String; HEADER.len()] {
    let matched: Vec<&str> = p.matched_by.iter().map(|q| q.name()).collect();
    let peer = p.peers.first();
    let peer_field = |f: fn(&PeerRow) -> String| peer.map(f).unwrap_or_default();
    [
        p.rank.to_string(),
        p.pid.to_string(),
        p.ppid.to_string(),
        p.name.clone(),
        p.user.clone(),
        p.uid.map(|u| u.to_string()).unwrap_or_default(),
        p.bytes_in.to_string(),
        p.bytes_out.to_string(),
        p.packets_in.to_string(),
        p.packets_out.to_string(),
        p.avg_bytes_in_per_sec.to_string(),
        p.avg_bytes_out_per_sec.to_string(),
        p.peak_bytes_in_per_sec.to_string(),
        p.peak_bytes_out_per_sec.to_string(),
        p.connections.to_string(),
        matched.join("+"),
        p.exited.to_string(),
        p.container_id.clone().unwrap_or_default(),
        peer_field(|peer| peer.remote.clone()),
        p.exe.clone(),
        p.cmdline.clone(),
        s.host.clone(),
        s.start_time.clone(),
        format!("{:.3}", s.duration_secs),
        peer_field(|peer| peer.proto.name().to_string()),
        peer_field(|peer| peer.bytes_in.to_string()),
        peer_field(|peer| peer.bytes_out.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::sample_report;

    fn text(header: bool) -> String {
        let mut buf = Vec::new();
        write(&sample_report(), header, CsvRows::Processes, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn csv_is_a_header_and_one_row_per_process() {
        let expected = "\
rank,pid,ppid,name,user,uid,bytes_in,bytes_out,packets_in,packets_out,avg_bytes_in_per_sec,avg_bytes_out_per_sec,peak_bytes_in_per_sec,peak_bytes_out_per_sec,connections,matched_by,exited,container_id,top_peer,exe,cmdline,host,start_time,duration_secs,top_peer_proto,top_peer_bytes_in,top_peer_bytes_out
1,4242,1,curl,alice,1000,1048576,2000,700,300,104858,200,524288,1500,1,exact,false,,[2001:db8::80]:443,/usr/bin/curl,\"curl -o /dev/null http://example.test/big, file\",web-1,2026-11-26T08:00:00Z,10.000,tcp,1048576,2000
2,77,1,dnsd,root,0,300,200,3,2,30,20,300,200,2,exact+bound_udp,true,0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef,,/usr/sbin/dnsd,/usr/sbin/dnsd,web-1,2026-11-26T08:00:00Z,10.000,,,
";
        assert_eq!(text(true), expected);
    }

    #[test]
    fn columns_are_only_appended() {
        // The columns of the first release, in their places: old readers still work.
        let first = "rank,pid,ppid,name,user,uid,bytes_in,bytes_out,packets_in,packets_out,avg_bytes_in_per_sec,avg_bytes_out_per_sec,peak_bytes_in_per_sec,peak_bytes_out_per_sec,connections,matched_by,exited,container_id,top_peer,exe,cmdline";
        assert!(HEADER.join(",").starts_with(first));
    }

    #[test]
    fn flow_rows_repeat_their_process_and_add_up_to_it() {
        let mut buf = Vec::new();
        write(&sample_report(), true, CsvRows::Flows, &mut buf).unwrap();
        let mut r = ::csv::Reader::from_reader(&buf[..]);
        let header = r.headers().unwrap().clone();
        assert_eq!(header.len(), HEADER.len() + FLOW_HEADER.len());
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let rows: Vec<::csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(
            rows.len(),
            3,
            "curl's one connection, dnsd's one and its rest"
        );
        assert_eq!(&rows[0][col("pid")], "4242");
        assert_eq!(&rows[0][col("flow_local")], "[2001:db8::2]:51000");
        assert_eq!(&rows[0][col("flow_first_unix_ms")], "1795939200120");
        for pid in ["4242", "77"] {
            let mine: Vec<_> = rows.iter().filter(|r| &r[col("pid")] == pid).collect();
            let sum = |c: &str| {
                mine.iter()
                    .map(|r| r[col(c)].parse::<u64>().unwrap())
                    .sum::<u64>()
            };
            assert_eq!(
                sum("flow_bytes_in"),
                mine[0][col("bytes_in")].parse::<u64>().unwrap()
            );
            assert_eq!(
                sum("flow_count"),
                mine[0][col("connections")].parse::<u64>().unwrap()
            );
        }
        assert_eq!(&rows[2][col("flow_rest")], "true");
        assert_eq!(&rows[2][col("flow_local")], "");
    }

    #[test]
    fn without_the_header_only_rows_are_written() {
        let with = text(true);
        let without = text(false);
        assert_eq!(without, with.split_once('\n').unwrap().1);
    }
}
