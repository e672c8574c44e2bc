use std::io::{self, Write};

use crate::report::{PeerRow, Report};

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

/// A header row (unless `header` is false), then one row per process, raw integers,
/// RFC 4180 quoting (lines end in `\n`, as they always have: files appended to across
/// versions keep one line ending). `matched_by` joins its values with `+`.
pub fn write(report: &Report, header: bool, out: &mut dyn Write) -> io::Result<()> {
    let s = &report.summary;
    let mut w = ::csv::Writer::from_writer(out);
    if header {
        w.write_record(HEADER)?;
    }
    for p in &report.processes {
        let matched: Vec<&str> = p.matched_by.iter().map(|q| q.name()).collect();
        let peer = p.peers.first();
        let peer_field = |f: fn(&PeerRow) -> String| peer.map(f).unwrap_or_default();
        let row: [String; HEADER.len()] = [
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
        ];
        w.write_record(row)?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::sample_report;

    fn text(header: bool) -> String {
        let mut buf = Vec::new();
        write(&sample_report(), header, &mut buf).unwrap();
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
    fn without_the_header_only_rows_are_written() {
        let with = text(true);
        let without = text(false);
        assert_eq!(without, with.split_once('\n').unwrap().1);
    }
}
