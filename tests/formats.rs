//! Machine output checked by other tools: the JSON report against the JSON Schema in
//! tests/schema (with Python's jsonschema), the Prometheus text with the official
//! Python client's parser, the CSV with a CSV reader. Real captures, known bytes.
#![allow(
    clippy::disallowed_methods,
    reason = "tests drive the real binary: they read clocks and files"
)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

/// Debian's Python, where python3-jsonschema and python3-prometheus-client install.
const PYTHON: &str = "/usr/bin/python3";

/// Runs a Python snippet with `input` on stdin; returns its stdout, panicking on failure.
fn python(script: &str, input: &[u8]) -> String {
    let mut child = Command::new(PYTHON)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (apt-get install python3-jsonschema python3-prometheus-client)");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One capture of a known UDP exchange in `format`; returns the output and the
/// client's pid and payload counts.
fn capture(format: &str, port: u16) -> (Vec<u8>, u32, Moved) {
    let lab = Lab::new();
    let dir = Scratch::new(format);
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &["-d", "2s", "-i", "eth0", "--format", format],
    );
    let _server = Peer::start(
        &lab,
        &lab.b,
        &["udp-server", &format!("{B4}:{port}"), "40", "64"],
    );
    let client = Peer::start(
        &lab,
        &lab.a,
        &["udp-client", &format!("{B4}:{port}"), "40", "300"],
    );
    let moved = client.done();
    let report = nf.report.clone();
    nf.finish_raw(Duration::from_secs(15));
    // -o writes atomically through a temporary beside the report, mode 0644.
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&report).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o644);
    let names: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains(".tmp")),
        "temporary left: {names:?}"
    );
    (std::fs::read(report).unwrap(), client.pid, moved)
}

fn schema_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schema/report.schema.json")
}

/// Validates a JSON report against the published schema with Python's jsonschema.
fn assert_valid_against_schema(json: &[u8]) {
    let script = format!(
        "import json, sys, jsonschema\n\
         schema = json.load(open({:?}))\n\
         jsonschema.Draft202012Validator.check_schema(schema)\n\
         jsonschema.Draft202012Validator(schema).validate(json.load(sys.stdin))\n\
         print('valid')",
        schema_path()
    );
    assert_eq!(python(&script, json).trim(), "valid");
}

/// The schema lets objects carry properties it does not list (new optional fields keep
/// `schema_version`), so validation alone would not notice a field nobody declared.
/// This walks the document beside the schema and names every key the schema lacks.
fn undeclared_keys(report: &serde_json::Value) -> Vec<String> {
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(schema_path()).unwrap()).unwrap();
    let mut out = Vec::new();
    walk(&schema, &schema, report, "$", &mut out);
    out
}

fn walk(
    root: &serde_json::Value,
    schema: &serde_json::Value,
    value: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    let schema = resolve(root, schema);
    // Of `oneOf`/`anyOf` alternatives, the one for this kind of value (the others are null).
    let branch = |wanted: &str| -> Option<&Value> {
        let candidates: Vec<&Value> = match schema.get("oneOf").or(schema.get("anyOf")) {
            Some(Value::Array(alternatives)) => {
                alternatives.iter().map(|a| resolve(root, a)).collect()
            }
            _ => vec![schema],
        };
        candidates.into_iter().find(|s| s.get(wanted).is_some())
    };
    match value {
        Value::Object(map) => {
            let (properties, additional) =
                match (branch("properties"), branch("additionalProperties")) {
                    (Some(s), _) => (s["properties"].as_object(), None),
                    (None, Some(s)) => (
                        None,
                        s.get("additionalProperties").filter(|a| a.is_object()),
                    ),
                    (None, None) => (None, None),
                };
            for (key, v) in map {
                let here = format!("{path}.{key}");
                match (properties.and_then(|p| p.get(key)), additional) {
                    (Some(sub), _) => walk(root, sub, v, &here, out),
                    // A map (`unattributed`): its keys are data, checked by propertyNames.
                    (None, Some(values)) => walk(root, values, v, &here, out),
                    (None, None) => out.push(here),
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = branch("items") {
                for (i, v) in items.iter().enumerate() {
                    walk(root, &s["items"], v, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Follows a local `$ref` (`#/$defs/name`).
fn resolve<'a>(
    root: &'a serde_json::Value,
    schema: &'a serde_json::Value,
) -> &'a serde_json::Value {
    match schema.get("$ref").and_then(|r| r.as_str()) {
        Some(r) => {
            let name = r.strip_prefix("#/$defs/").expect("a local $ref");
            resolve(root, &root["$defs"][name])
        }
        None => schema,
    }
}

#[test]
#[ignore = "needs root"]
fn json_report_matches_the_published_schema() {
    let (json, pid, moved) = capture("json", 7501);
    assert_valid_against_schema(&json);
    let report: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(undeclared_keys(&report), Vec::<String>::new());
    assert_eq!(
        num(&row(&report, pid)["bytes_out"]),
        moved.sent + 28 * moved.sent_packets
    );
}

/// A report with rows of processes added up, from the real ledger: more processes
/// than it keeps a row each for, and more names than it keeps a row each for.
fn report_with_rows_added_up() -> Vec<u8> {
    use netflow::account::{Ledger, MAX_FOLDED_NAMES, MAX_LEDGER_PROCESSES};
    use netflow::engine::Finished;
    use netflow::model::{
        Counter, Direction, FlowKey, MatchQuality, ProcessInfo, ProcessKey, Proto, Timestamp,
    };
    use netflow::report::{
        CaptureFacts, Dropped, Ranking, Report, SocketLogStatus, SortKey, StoppedBy,
    };
    use std::sync::Arc;

    let start = Timestamp::from_micros(1_800_000_000_000_000);
    let mut ledger = Ledger::new(start, 2);
    let mut captured = Counter::default();
    let total = MAX_LEDGER_PROCESSES + MAX_FOLDED_NAMES + 10;
    for i in 0..total {
        let pid = 100 + i as u32;
        // The first ones fill the ledger; later ones share a name, then all differ.
        let name = match i {
            i if i < MAX_LEDGER_PROCESSES => format!("worker{i}"),
            i if i < MAX_LEDGER_PROCESSES + 5 => "curl".to_string(),
            i => format!("job{i}"),
        };
        let info = Arc::new(ProcessInfo {
            key: ProcessKey::from_ticks(pid, 1_000 + u64::from(pid)),
            ppid: 1,
            cmdline: name.clone(),
            exe: format!("/usr/bin/{name}"),
            name,
            uid: Some(0),
            user: "root".into(),
            netns: 0,
            cgroup: String::new(),
            container_id: None,
        });
        let owner = ledger.owner(&info);
        let key = FlowKey::new(
            Proto::Udp,
            "10.0.0.1:53".parse().unwrap(),
            format!("10.1.{}.{}:4000", i / 250, i % 250)
                .parse()
                .unwrap(),
        );
        let flow = ledger.open_flow(owner, MatchQuality::Exact, key);
        let bytes = if i < MAX_LEDGER_PROCESSES { 100 } else { 1_000 };
        ledger.add(flow, Direction::In, Counter::one(bytes), start);
        captured.add(bytes);
    }
    let finished = Finished {
        flow_index: Default::default(),
        local_addrs: Default::default(),
        ledger,
        both_ends: Counter::default(),
        scans: 1,
        flows: netflow::account::FlowsSeen {
            count: total as u64,
            estimated: false,
        },
        unreadable_processes: 0,
        skipped: Default::default(),
    };
    let facts = CaptureFacts {
        host: "h".into(),
        start_time: "2027-01-15T08:00:00Z".into(),
        start_unix_seconds: 1_800_000_000.0,
        duration_secs: 1.0,
        stopped_by: StoppedBy::Duration,
        interfaces: vec!["eth0".into()],
        interface_stats: vec![],
        self_limits: vec![],
        filter: None,
        captured,
        dropped: Dropped::default(),
        socket_log: SocketLogStatus::off(),
        warnings: vec![],
    };
    let ranking = Ranking {
        sort: SortKey::Total,
        top: 3,
        ..Default::default()
    };
    let report = Report::build(&finished, facts, ranking);
    assert!(report.totals_add_up());
    let mut json = Vec::new();
    netflow::render::render(
        &report,
        netflow::render::Format::Json,
        netflow::render::Width::Unlimited,
        &mut json,
    )
    .unwrap();
    json
}

#[test]
fn rows_added_up_match_the_published_schema() {
    let json = report_with_rows_added_up();
    let report: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let groups: Vec<(u64, &serde_json::Value, u64)> = report["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (num(&r["pid"]), &r["group"], num(&r["processes"])))
        .collect();
    assert_eq!(
        groups,
        [
            (0, &serde_json::json!({"by": "other", "key": ""}), 6),
            (0, &serde_json::json!({"by": "name", "key": "curl"}), 5),
            (
                0,
                &serde_json::json!({"by": "name", "key": format!("job{}", netflow::account::MAX_LEDGER_PROCESSES + 5)}),
                1
            ),
        ]
    );
    assert_valid_against_schema(&json);
    assert_eq!(undeclared_keys(&report), Vec::<String>::new());
}

#[test]
#[ignore = "needs root"]
fn prometheus_output_parses_with_the_official_client() {
    let (text, pid, moved) = capture("prometheus", 7502);
    let script = "import sys\n\
                  from prometheus_client.parser import text_string_to_metric_families\n\
                  for family in text_string_to_metric_families(sys.stdin.read()):\n\
                  \x20   for s in family.samples:\n\
                  \x20       labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))\n\
                  \x20       print(f'{s.name} {labels} {int(s.value)}')";
    let parsed = python(script, &text);
    let expect_out = moved.sent + 28 * moved.sent_packets;
    let expect_in = moved.recv + 28 * moved.recv_packets;
    let line = |dir: &str| {
        parsed
            .lines()
            .find(|l| {
                l.starts_with("netflow_process_bytes ")
                    && l.contains(&format!("pid={pid}"))
                    && l.contains(&format!("direction={dir}"))
            })
            .unwrap_or_else(|| panic!("no {dir} sample for pid {pid}:\n{parsed}"))
            .to_string()
    };
    assert!(
        line("out").ends_with(&format!(" {expect_out}")),
        "{}",
        line("out")
    );
    assert!(
        line("in").ends_with(&format!(" {expect_in}")),
        "{}",
        line("in")
    );
    assert!(parsed.contains("netflow_unattributed_bytes reason=no_socket "));
    assert!(parsed.contains("netflow_capture_duration_seconds  "));
}

#[test]
#[ignore = "needs root"]
fn csv_has_a_header_and_the_clients_row() {
    let (csv, pid, moved) = capture("csv", 7503);
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let client = rows
        .iter()
        .find(|r| r[col("pid")] == pid.to_string())
        .expect("the client's row");
    let bytes_out: u64 = client[col("bytes_out")].parse().unwrap();
    assert_eq!(bytes_out, moved.sent + 28 * moved.sent_packets);
    assert_eq!(&client[col("name")], "traffic-peer");
    // Which capture the row belongs to, and its top peer's protocol and bytes.
    assert_eq!(&client[col("host")], hostname());
    assert!(client[col("start_time")].ends_with('Z'));
    let secs: f64 = client[col("duration_secs")].parse().unwrap();
    assert!((2.0..3.0).contains(&secs), "{secs}");
    assert_eq!(&client[col("top_peer")], &format!("{B4}:7503"));
    assert_eq!(&client[col("top_peer_proto")], "udp");
    assert_eq!(
        client[col("top_peer_bytes_out")].parse::<u64>().unwrap(),
        bytes_out
    );
    assert_eq!(
        client[col("top_peer_bytes_in")].parse::<u64>().unwrap(),
        moved.recv + 28 * moved.recv_packets
    );
}

fn hostname() -> String {
    let out = run(&["hostname"]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Two runs from cron into one file, the second with `--no-header`: one table whose
/// rows say which run they came from. Python's csv module in strict mode reads it.
#[test]
#[ignore = "needs root"]
fn csv_runs_appended_with_no_header_read_as_one_table() {
    let lab = Lab::new();
    let _server = Peer::start(
        &lab,
        &lab.b,
        &["udp-server", &format!("{B4}:7506"), "40", "64"],
    );
    let mut daily = Vec::new();
    for (run_no, extra) in [(0, None), (1, Some("--no-header"))] {
        let mut cmd = lab.cmd(&lab.a, Path::new(NETFLOW));
        cmd.args([
            "snapshot", "-d", "2s", "-i", "eth0", "--format", "csv", "-q",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let netflow = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let client = Peer::start(
            &lab,
            &lab.a,
            &["udp-client", &format!("{B4}:7506"), "20", "100"],
        );
        client.done();
        let out = netflow.wait_with_output().unwrap();
        assert!(out.status.success(), "run {run_no}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            text.starts_with("rank,"),
            extra.is_none(),
            "run {run_no}: {text}"
        );
        daily.extend_from_slice(text.as_bytes());
    }
    let script = "import csv, io, sys\n\
                  rows = list(csv.reader(io.StringIO(sys.stdin.read(), newline=''), strict=True))\n\
                  header = rows[0]\n\
                  assert all(len(r) == len(header) for r in rows), 'ragged rows'\n\
                  i = header.index('start_time')\n\
                  print(len(rows) - 1, len({r[i] for r in rows[1:]}))";
    let counts = python(script, &daily);
    let counts: Vec<usize> = counts
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    // A row per run at least (the client), from two captures, and no header row twice.
    assert!(counts[0] >= 2, "{counts:?}");
    assert_eq!(counts[1], 2, "rows from two runs: {counts:?}");
    let mut reader = csv::Reader::from_reader(daily.as_slice());
    assert!(reader
        .records()
        .map(Result::unwrap)
        .all(|r| &r[0] != "rank"));
}

#[test]
#[ignore = "needs root"]
fn pcapng_names_the_process_of_every_packet() {
    use pcap_file::pcapng::{Block, PcapNgReader};
    use std::os::unix::fs::PermissionsExt;

    let lab = Lab::new();
    let dir = Scratch::new("pcapng");
    let nf = Netflow::start_writing(
        &lab,
        &lab.a,
        &dir.0,
        &["-d", "2s", "-i", "eth0", "--format", "json"],
        "capture.pcapng",
    );
    let _server = Peer::start(
        &lab,
        &lab.b,
        &["udp-server", &format!("{B4}:7504"), "20", "64"],
    );
    let client = Peer::start(
        &lab,
        &lab.a,
        &["udp-client", &format!("{B4}:7504"), "20", "300"],
    );
    let moved = client.done();
    let pcapng = nf.pcap.clone();
    let report = nf.finish(Duration::from_secs(15));

    let meta = std::fs::metadata(&pcapng).unwrap();
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "pcaps hold payloads"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    // tcpdump reads every packet.
    assert_eq!(
        tcpdump_count(&pcapng),
        num(&report["summary"]["captured"]["packets"])
    );

    let mut reader = PcapNgReader::new(std::fs::File::open(&pcapng).unwrap()).unwrap();
    let start = report["summary"]["start_unix_seconds"].as_f64().unwrap();
    let (mut tsresol, mut out_notes, mut in_notes) = (None, 0, 0);
    // Matched exactly, by /proc or by the kernel socket log, whichever knew it first.
    let client_out = format!("pid {} traffic-peer out (", client.pid);
    let client_in = format!("pid {} traffic-peer in (", client.pid);
    while let Some(block) = reader.next_block() {
        match block.unwrap() {
            Block::InterfaceDescription(idb) => {
                tsresol = idb.options.iter().find_map(|o| match o {
                    pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
                    _ => None,
                });
            }
            Block::EnhancedPacket(epb) => {
                let at = epb.timestamp.as_secs_f64();
                assert!(
                    at >= start - 1.0 && at <= start + 10.0,
                    "timestamp {at} vs start {start}"
                );
                for option in &epb.options {
                    if let pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption::Comment(c) = option {
                        // The server in namespace b is named too: "...; pid N ... in".
                        out_notes += usize::from(c.contains(&client_out));
                        in_notes += usize::from(c.contains(&client_in));
                    }
                }
            }
            _ => {}
        }
    }
    assert_eq!(tsresol, Some(9), "nanosecond timestamps are declared");
    assert_eq!(out_notes as u64, moved.sent_packets);
    assert_eq!(in_notes as u64, moved.recv_packets);
}

/// Runs inside a fresh pid namespace (so no other process takes a pid meanwhile):
/// netflow, then client A, then client B with A's pid, given back by setting
/// ns_last_pid. Each client keeps its socket open for 3 s (a fifo on its stdin); a
/// one-datagram client after each makes netflow pass the packets before it on.
const REUSED_PID_SCRIPT: &str = r#"
set -e
NF=$1; PEER=$2; DIR=$3; SERVER=$4
"$NF" snapshot -i eth0 -d 8s --ebpf off --format prometheus -q -o "$DIR/out.prom" -w "$DIR/c.pcap" &
nf=$!
n=0
# Capturing once its capture threads run (the pcap file is unnamed until the end).
until cat /proc/$nf/task/*/comm 2>/dev/null | grep -q '^netflow-cap-'; do
  n=$((n + 1)); [ $n -lt 500 ] || exit 3; sleep 0.02
done
client() {  # client NAME SIZE: 10 datagrams of SIZE bytes, then held for 3 s
  "$PEER" udp-client "$SERVER" 10 "$2" < "$DIR/$1.fifo" > "$DIR/$1.txt" &
  pid=$!
  sleep 3 > "$DIR/$1.fifo" &
  n=0
  until grep -q done "$DIR/$1.txt"; do n=$((n + 1)); [ $n -lt 500 ] || exit 4; sleep 0.02; done
  "$PEER" udp-client "$SERVER" 1 10 < /dev/null > /dev/null
  wait $pid
}
mkfifo "$DIR/a.fifo" "$DIR/b.fifo"
client a 200
a=$pid
echo $((a - 1)) > /proc/sys/kernel/ns_last_pid
client b 300
wait $nf
echo "$a $pid"
"#;

#[test]
#[ignore = "needs root"]
fn a_reused_pid_gives_distinct_prometheus_series() {
    let lab = Lab::new();
    let dir = Scratch::new("reused-pid");
    let _server = Peer::start(
        &lab,
        &lab.b,
        &["udp-server", &format!("{B4}:7505"), "22", "64"],
    );
    let script = dir.0.join("reuse.sh");
    std::fs::write(&script, REUSED_PID_SCRIPT).unwrap();
    let out = run(&[
        "timeout",
        "60",
        "ip",
        "netns",
        "exec",
        &lab.a,
        "unshare",
        "--pid",
        "--fork",
        "--mount-proc",
        "sh",
        script.to_str().unwrap(),
        NETFLOW,
        traffic_peer().to_str().unwrap(),
        dir.0.to_str().unwrap(),
        &format!("{B4}:7505"),
    ]);
    let pids: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    assert_eq!(pids[0], pids[1], "client b did not get client a's pid");
    let pid = pids[0];

    // The official parser; node_exporter refuses a file in which two samples share a
    // metric name and labels.
    let script = "import sys\n\
                  from prometheus_client.parser import text_string_to_metric_families\n\
                  seen = set()\n\
                  for family in text_string_to_metric_families(sys.stdin.read()):\n\
                  \x20   for s in family.samples:\n\
                  \x20       key = (s.name, tuple(sorted(s.labels.items())))\n\
                  \x20       if key in seen: print('duplicate', key)\n\
                  \x20       seen.add(key)\n\
                  \x20       labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))\n\
                  \x20       print(f'{s.name} {labels} {int(s.value)}')";
    let parsed = python(script, &std::fs::read(dir.0.join("out.prom")).unwrap());
    assert!(!parsed.contains("duplicate"), "{parsed}");
    let mut out_bytes: Vec<u64> = parsed
        .lines()
        .filter(|l| {
            l.starts_with("netflow_process_bytes ")
                && l.contains("direction=out")
                && l.contains(&format!(",pid={pid},"))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    out_bytes.sort();
    // Ten datagrams each, of 200 and of 300 bytes, plus 28 bytes of headers per packet.
    assert_eq!(out_bytes, [2_280, 3_280], "{parsed}");
}

/// Sends one UDP datagram from each of `sources` ports to each of `ports` ports of
/// `dst`, `rounds` times over, paced (1,000 datagrams, then 5 ms).
const SPRAY: &str = r#"
import socket, sys, time
dst, sources, ports, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
socks = []
for i in range(sources):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 40001 + i))
    socks.append(s)
sent = 0
for _ in range(rounds):
    for port in range(1, ports + 1):
        for s in socks:
            s.sendto(b"x", (dst, port))
            sent += 1
            if sent % 1000 == 0:
                time.sleep(0.005)
print(sent)
"#;

/// 100,000 distinct flows, each seen twice: more than the flow cache holds, so it
/// forgets flows and takes them again; `flows_seen` must still count each once.
#[test]
#[ignore = "needs root"]
fn flows_seen_counts_distinct_flows_not_cache_refills() {
    let lab = Lab::new();
    let dir = Scratch::new("flows-seen");
    // A remote end no namespace holds (198.18.0.2 is every lab's b, and netflow takes
    // the addresses of namespaces it sees processes in as local): b's interface
    // receives the datagrams and drops them quietly, so each flow has one local end.
    let mac = run(&[
        "ip",
        "netns",
        "exec",
        &lab.b,
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    let mac = String::from_utf8_lossy(&mac.stdout).trim().to_string();
    run(&[
        "ip",
        "-n",
        &lab.a,
        "neigh",
        "add",
        "198.18.0.99",
        "lladdr",
        &mac,
        "dev",
        "eth0",
        "nud",
        "permanent",
    ]);
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &[
            "-d", "6s", "-i", "eth0", "-f", "udp", "--ebpf", "off", "--format", "json", "-q",
        ],
    );
    let out = run(&[
        "ip",
        "netns",
        "exec",
        &lab.a,
        PYTHON,
        "-c",
        SPRAY,
        "198.18.0.99",
        "2",
        "50000",
        "2",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "200000");
    let report = nf.finish(Duration::from_secs(30));
    let s = &report["summary"];
    assert_eq!(num(&s["captured"]["packets"]), 200_000, "{s:#}");
    assert_eq!(num(&s["both_ends_local"]["packets"]), 0, "{s:#}");
    let flows = num(&s["flows_seen"]);
    // Five standard errors of the HyperLogLog (0.8 %) either way: it never flakes.
    assert!(
        (96_000..=104_000).contains(&flows),
        "flows_seen {flows} for 100,000 flows: {s:#}"
    );
    // Past the exact bound, the report says the count is an estimate.
    assert_eq!(s["flows_seen_estimated"], true);
}
