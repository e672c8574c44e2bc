use std::io::{self, Write};

use crate::report::Report;

const HEADER: [&str; 21] = [
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
];

/// A header row, then one row per process, raw integers. `matched_by` joins its
/// values with `+`.
pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record(HEADER)?;
    for p in &report.processes {
        let matched: Vec<&str> = p.matched_by.iter().map(|q| q.name()).collect();
        w.write_record([
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
            p.peers
                .first()
                .map(|peer| peer.remote.clone())
                .unwrap_or_default(),
            p.exe.clone(),
            p.cmdline.clone(),
        ])?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixtures::sample_report;

    #[test]
    fn csv_is_a_header_and_one_row_per_process() {
        let mut buf = Vec::new();
        write(&sample_report(), &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let expected = "\
rank,pid,ppid,name,user,uid,bytes_in,bytes_out,packets_in,packets_out,avg_bytes_in_per_sec,avg_bytes_out_per_sec,peak_bytes_in_per_sec,peak_bytes_out_per_sec,connections,matched_by,exited,container_id,top_peer,exe,cmdline
1,4242,1,curl,alice,1000,1048576,2000,700,300,104858,200,524288,1500,1,exact,false,,[2001:db8::80]:443,/usr/bin/curl,\"curl -o /dev/null http://example.test/big, file\"
2,77,1,dnsd,root,0,300,200,3,2,30,20,300,200,2,exact+bound_udp,true,0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef,,/usr/sbin/dnsd,/usr/sbin/dnsd
";
        assert_eq!(text, expected);
    }
}
