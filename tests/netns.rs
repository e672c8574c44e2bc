//! End-to-end: the real binary captures real traffic between network namespaces and on
//! loopback, and every byte each process moved is charged to that process.
//!
//! Ground truth comes from two independent sides: each traffic peer reports the payload
//! it sent and received, and tcpdump reads the IP lengths of that process's packets
//! back from the pcap file netflow wrote.

#![allow(
    clippy::disallowed_methods,
    reason = "tests drive the real binary: they read clocks and files"
)]

use std::time::Duration;

use crate::common::*;

/// Which packets belong to one local socket, and what its IP and TCP/UDP headers weigh.
struct Expect<'a> {
    what: &'a str,
    peer: &'a Peer,
    moved: Moved,
    proto: &'a str,
    /// The socket's address on the wire (differs from its bound address for wildcards).
    addr: std::net::SocketAddr,
}

impl Expect<'_> {
    fn ip_header(&self) -> u64 {
        if self.addr.is_ipv4() {
            20
        } else {
            40
        }
    }

    /// tcpdump's view of this socket's packets: (out, in), each (packets, bytes).
    fn ground_truth(&self, pcap: &std::path::Path) -> ((u64, u64), (u64, u64)) {
        let (ip, port) = (self.addr.ip(), self.addr.port());
        let out = format!("{} and src host {ip} and src port {port}", self.proto);
        let inb = format!("{} and dst host {ip} and dst port {port}", self.proto);
        (tcpdump_ip_bytes(pcap, &out), tcpdump_ip_bytes(pcap, &inb))
    }

    fn check(&self, report: &serde_json::Value, pcap: &std::path::Path) {
        let r = row(report, self.peer.pid);
        let what = self.what;
        let (bytes_in, bytes_out) = (num(&r["bytes_in"]), num(&r["bytes_out"]));
        let (packets_in, packets_out) = (num(&r["packets_in"]), num(&r["packets_out"]));

        // 1. Exactly what tcpdump reads for this socket from the pcap file.
        let ((t_out_p, t_out_b), (t_in_p, t_in_b)) = self.ground_truth(pcap);
        assert_eq!(
            (packets_out, bytes_out),
            (t_out_p, t_out_b),
            "{what}: out vs tcpdump"
        );
        assert_eq!(
            (packets_in, bytes_in),
            (t_in_p, t_in_b),
            "{what}: in vs tcpdump"
        );

        // 2. The payload the process itself moved, plus its packets' headers.
        let ip = self.ip_header();
        for (dir, payload, bytes, packets) in [
            ("out", self.moved.sent, bytes_out, packets_out),
            ("in", self.moved.recv, bytes_in, packets_in),
        ] {
            if self.proto == "udp" {
                assert_eq!(bytes, payload + packets * (ip + 8), "{what}: udp {dir}");
            } else {
                // TCP headers are 20..60 bytes; Linux adds 12 bytes of timestamps to every
                // segment, so payload + (ip + 32) per packet is within 1%. Under load a
                // few segments may be sent twice (retransmitted): the wire then carries
                // more than the payload, up to a bound, and netflow counts what the wire
                // carried (the check above against tcpdump stays exact).
                let headers = bytes
                    .checked_sub(payload)
                    .expect("fewer bytes than payload");
                assert!(
                    headers >= packets * (ip + 20),
                    "{what}: tcp {dir}: {bytes} bytes for {payload} payload in {packets} packets"
                );
                let retransmitted = headers > packets * (ip + 60);
                assert!(
                    headers <= packets * (ip + 60) + payload / 10,
                    "{what}: tcp {dir}: {bytes} bytes for {payload} payload in {packets} packets"
                );
                let typical = (payload + packets * (ip + 32)) as f64;
                assert!(
                    retransmitted || (bytes as f64 - typical).abs() <= typical * 0.01,
                    "{what}: tcp {dir}: {bytes} not within 1% of {typical}"
                );
            }
        }
        if self.proto == "udp" {
            assert_eq!(
                packets_out, self.moved.sent_packets,
                "{what}: udp packets out"
            );
            assert_eq!(
                packets_in, self.moved.recv_packets,
                "{what}: udp packets in"
            );
        }
        // The per-second series adds up to the totals; a client's one peer carries them all.
        let series = r["series"].as_array().unwrap();
        let sum = |i: usize| series.iter().map(|s| num(&s[i])).sum::<u64>();
        assert_eq!((sum(0), sum(1)), (bytes_in, bytes_out), "{what}: series");
        let peers = r["peers"].as_array().unwrap();
        if self.what.contains("client") {
            assert_eq!(peers.len(), 1, "{what}: {peers:?}");
            assert_eq!(num(&peers[0]["bytes_out"]), bytes_out, "{what}");
            assert_eq!(num(&peers[0]["bytes_in"]), bytes_in, "{what}");
        }
        assert_eq!(r["name"], "traffic-peer", "{what}");
        assert!(
            r["exe"].as_str().unwrap().ends_with("/traffic-peer"),
            "{what}"
        );
        assert_eq!(r["user"], "root", "{what}");
        assert!(
            r["cmdline"].as_str().unwrap().contains("traffic-peer"),
            "{what}"
        );
    }
}

#[test]
#[ignore = "needs root"]
fn every_process_gets_exactly_its_own_bytes_over_veth_and_loopback() {
    let lab = Lab::new();
    let dir = Scratch::new("veth");
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &[
            "-d", "6s", "-i", "eth0", "-i", "lo", "--format", "json", "-n", "0",
        ],
    );

    // Servers live in namespace b (their sockets are invisible to netflow in a),
    // except the loopback pair, which lives entirely in a.
    let b = lab.b.clone();
    let a = lab.a.clone();
    let srv = |ns: &str, args: &[&str]| Peer::start(&lab, ns, args);
    let s1 = srv(&b, &["tcp-server", "198.18.0.2:7001", "2000000", "1000"]);
    let s2 = srv(&b, &["tcp-server", "198.18.0.2:7002", "1000", "3000000"]);
    let s3 = srv(&b, &["tcp-server", "[fd4e::2]:7003", "500000", "700000"]);
    let s4 = srv(&b, &["udp-server", "198.18.0.2:7004", "200", "300"]);
    let s5 = srv(&b, &["udp-server", "[::]:7005", "150", "100"]);
    let lo_tcp_server = srv(&a, &["tcp-server", "127.0.0.1:7101", "400000", "50000"]);
    let lo_udp_server = srv(&a, &["udp-server", "[::]:7102", "100", "64"]);

    let upload = Peer::start(
        &lab,
        &a,
        &["tcp-client", "198.18.0.2:7001", "2000000", "1000"],
    );
    let download = Peer::start(
        &lab,
        &a,
        &["tcp-client", "198.18.0.2:7002", "1000", "3000000"],
    );
    let tcp6 = Peer::start(
        &lab,
        &a,
        &["tcp-client", "[fd4e::2]:7003", "500000", "700000"],
    );
    let udp4 = Peer::start(&lab, &a, &["udp-client", "198.18.0.2:7004", "200", "512"]);
    let udp6 = Peer::start(&lab, &a, &["udp-client", "[fd4e::2]:7005", "150", "1000"]);
    let lo_tcp = Peer::start(
        &lab,
        &a,
        &["tcp-client", "127.0.0.1:7101", "400000", "50000"],
    );
    let lo_udp = Peer::start(&lab, &a, &["udp-client", "[::1]:7102", "100", "200"]);

    let expectations = [
        ("tcp v4 upload", &upload, "tcp"),
        ("tcp v4 download", &download, "tcp"),
        ("tcp v6", &tcp6, "tcp"),
        ("udp v4 connected client", &udp4, "udp"),
        ("udp v6 connected client", &udp6, "udp"),
        ("loopback tcp client", &lo_tcp, "tcp"),
        ("loopback udp client", &lo_udp, "udp"),
    ]
    .map(|(what, peer, proto)| Expect {
        what,
        peer,
        moved: peer.done(),
        proto,
        addr: peer.local,
    });
    let lo_servers = [
        (
            "loopback tcp server",
            &lo_tcp_server,
            "tcp",
            lo_tcp_server.local,
        ),
        (
            "loopback udp server (wildcard [::])",
            &lo_udp_server,
            "udp",
            "[::1]:7102".parse().unwrap(),
        ),
    ]
    .map(|(what, peer, proto, addr)| Expect {
        what,
        peer,
        moved: peer.done(),
        proto,
        addr,
    });

    let report = nf.finish(Duration::from_secs(30));
    let pcap = dir.0.join("capture.pcap");
    for e in expectations.iter().chain(lo_servers.iter()) {
        e.check(&report, &pcap);
    }

    // Both ends of each loopback conversation saw the same packets, and so did the
    // servers in namespace b (a "container": netflow reads its socket table through
    // /proc/PID/net of one of its processes).
    for (client, server) in [
        (&lo_tcp, &lo_tcp_server),
        (&upload, &s1),
        (&download, &s2),
        (&tcp6, &s3),
        (&udp4, &s4),
        (&udp6, &s5),
    ] {
        let (c, s) = (row(&report, client.pid), row(&report, server.pid));
        for (a, b) in [("bytes_out", "bytes_in"), ("bytes_in", "bytes_out")] {
            assert_eq!(c[a], s[b], "server {} {b}", server.local);
        }
        assert_eq!(c["packets_out"], s["packets_in"], "server {}", server.local);
    }
    // The container's wildcard socket is matched by its bound port; with the socket log
    // on, the log's record may reach the engine before the scan that reads namespace b.
    let s5_matched = &row(&report, s5.pid)["matched_by"];
    assert!(
        s5_matched[0] == "bound_udp" || *s5_matched == serde_json::json!(["socket_log"]),
        "{s5_matched}"
    );

    assert_eq!(
        row(&report, lo_udp_server.pid)["matched_by"][0],
        "bound_udp"
    );

    assert_totals_add_up(&report);
    let summary = &report["summary"];
    assert_eq!(summary["interfaces"], serde_json::json!(["eth0", "lo"]));
    assert_eq!(summary["stopped_by"], "duration");
    assert_eq!(num(&summary["dropped"]["queue"]["packets"]), 0);
    assert!(
        report["warnings"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    // The pcap holds every captured packet, readable by tcpdump.
    assert_eq!(tcpdump_count(&pcap), num(&summary["captured"]["packets"]));
    assert_coverage_near_one(&report);
}

/// A short UDP exchange from namespace a to a server in b: `count` requests of `size`.
fn udp_exchange(lab: &Lab, port: u16, count: usize, size: usize) -> (Peer, Peer, Moved) {
    let server = Peer::start(
        lab,
        &lab.b,
        &[
            "udp-server",
            &format!("{B4}:{port}"),
            &count.to_string(),
            "64",
        ],
    );
    let client = Peer::start(
        lab,
        &lab.a,
        &[
            "udp-client",
            &format!("{B4}:{port}"),
            &count.to_string(),
            &size.to_string(),
        ],
    );
    let moved = client.done();
    (server, client, moved)
}

fn assert_udp_client_exact(report: &serde_json::Value, client: &Peer, moved: Moved) {
    let r = row(report, client.pid);
    assert_eq!(num(&r["bytes_out"]), moved.sent + moved.sent_packets * 28);
    assert_eq!(num(&r["bytes_in"]), moved.recv + moved.recv_packets * 28);
    assert_eq!(num(&r["packets_out"]), moved.sent_packets);
}

#[test]
#[ignore = "needs root"]
fn sigint_and_sigterm_end_capture_early_with_the_full_report_and_pcap() {
    for signal in ["INT", "TERM"] {
        let lab = Lab::new();
        let dir = Scratch::new("signal");
        let nf = Netflow::start(
            &lab,
            &lab.a,
            &dir.0,
            &["-d", "1h", "-i", "eth0", "--format", "json"],
        );
        let (_server, client, moved) = udp_exchange(&lab, 7301, 50, 400);
        // Stop right away: the final rescan at the end still finds the client's socket.
        run(&["kill", &format!("-{signal}"), &nf.pid().to_string()]);
        let pcap = nf.pcap.clone();
        let report = nf.finish(Duration::from_secs(10));
        assert_eq!(report["summary"]["stopped_by"], "signal", "SIG{signal}");
        assert!(report["summary"]["duration_secs"].as_f64().unwrap() < 30.0);
        assert_udp_client_exact(&report, &client, moved);
        assert_totals_add_up(&report);
        // Packets still in the kernel's ring at the signal are read before the end.
        assert_coverage_near_one(&report);
        assert_eq!(
            tcpdump_count(&pcap),
            num(&report["summary"]["captured"]["packets"]),
            "SIG{signal}: the pcap holds every captured packet"
        );
    }
}

#[test]
#[ignore = "needs root"]
fn interface_any_captures_with_linux_cooked_headers() {
    let lab = Lab::new();
    let dir = Scratch::new("any");
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &["-d", "3s", "-i", "any", "--format", "json"],
    );
    let (_server, client, moved) = udp_exchange(&lab, 7302, 80, 700);
    let pcap = nf.pcap.clone();
    let report = nf.finish(Duration::from_secs(15));
    assert_eq!(report["summary"]["interfaces"], serde_json::json!(["any"]));
    assert_udp_client_exact(&report, &client, moved);
    assert_totals_add_up(&report);
    // tcpdump agrees on the link type (Linux cooked) and the packet count.
    let out = run(&["tcpdump", "-r", pcap.to_str().unwrap(), "-c", "1"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("LINUX_SLL"), "{text}");
}

#[test]
#[ignore = "needs root"]
fn filter_limits_what_is_captured() {
    let lab = Lab::new();
    let dir = Scratch::new("filter");
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &[
            "-d",
            "3s",
            "-i",
            "eth0",
            "-f",
            "udp port 7303",
            "--format",
            "json",
        ],
    );
    let (_s1, counted, moved) = udp_exchange(&lab, 7303, 30, 100);
    let (_s2, filtered_out, _) = udp_exchange(&lab, 7304, 30, 100);
    let report = nf.finish(Duration::from_secs(15));
    assert_udp_client_exact(&report, &counted, moved);
    let pids = report_pids(&report);
    assert!(!pids.contains(&u64::from(filtered_out.pid)), "{report:#}");
    assert_eq!(report["summary"]["filter"], "udp port 7303");
    assert_eq!(num(&report["summary"]["captured"]["packets"]), 60);
}

#[test]
#[ignore = "needs root"]
fn packets_still_in_the_kernel_ring_at_a_signal_are_in_the_report() {
    let lab = Lab::new();
    let dir = Scratch::new("ring-at-signal");
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &[
            "-d", "1h", "-i", "eth0", "--format", "json", "--ebpf", "off",
        ],
    );
    let sink = Peer::start(&lab, &lab.a, &["udp-sink", &format!("{A4}:7310"), "2"]);
    // A burst that takes well under a millisecond, then the signal at once: libpcap
    // has not handed the ring block holding it over yet (it does so after 100 ms).
    let flood = Peer::start(
        &lab,
        &lab.b,
        &["udp-flood", &format!("{A4}:7310"), "200", "64"],
    );
    let sent = flood.done();
    run(&["kill", "-INT", &nf.pid().to_string()]);
    let report = nf.finish(Duration::from_secs(10));
    assert_eq!(sent.sent_packets, 200);
    let r = row(&report, sink.pid);
    assert_eq!(num(&r["packets_in"]), 200, "{r:#}");
    assert_eq!(num(&r["bytes_in"]), 200 * (64 + 28));
    assert_totals_add_up(&report);
}

#[test]
#[ignore = "needs root"]
fn a_second_sigint_while_finishing_exits_at_once_with_130() {
    let lab = Lab::new();
    let dir = Scratch::new("second-sigint");
    // Writing annotated pcapng makes finishing long: every packet is converted after
    // capture ends.
    let mut nf = Netflow::start_writing(
        &lab,
        &lab.a,
        &dir.0,
        &[
            "-d", "1h", "-i", "eth0", "--format", "json", "--ebpf", "off", "-q",
        ],
        "capture.pcapng",
    );
    let _sink = Peer::start(&lab, &lab.a, &["udp-sink", &format!("{A4}:7320"), "2"]);
    let flood = Peer::start(
        &lab,
        &lab.b,
        &["udp-flood", &format!("{A4}:7320"), "1000000", "64"],
    );
    flood.done();
    run(&["kill", "-INT", &nf.child.id().to_string()]);
    // The first signal is noticed within 0.1 s; then the capture ends and the million
    // packets are converted, which takes far longer than this.
    std::thread::sleep(Duration::from_millis(400));
    assert!(nf.child.try_wait().unwrap().is_none(), "still finishing");
    let second = std::time::Instant::now();
    run(&["kill", "-INT", &nf.child.id().to_string()]);
    let status = loop {
        if let Some(status) = nf.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            second.elapsed() < Duration::from_secs(1),
            "did not exit at once"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(status.code(), Some(130));
    assert!(!nf.report.exists(), "no report after the user insisted");
}

#[test]
#[ignore = "needs root"]
fn fragmented_datagrams_are_charged_whole_to_their_socket() {
    let lab = Lab::new();
    let dir = Scratch::new("fragments");
    let nf = Netflow::start(
        &lab,
        &lab.a,
        &dir.0,
        &["-d", "3s", "-i", "eth0", "--format", "json", "-n", "0"],
    );
    // 4,000-byte datagrams over a 1,500-byte MTU: three IPv4 fragments each, only the
    // first of which carries the UDP ports.
    let (_server, client, moved) = udp_exchange(&lab, 7330, 20, 4000);
    assert_eq!(moved.sent_packets, 20);
    let report = nf.finish(Duration::from_secs(15));
    let r = row(&report, client.pid);
    assert_eq!(num(&r["packets_out"]), 60, "{r:#}");
    assert_eq!(num(&r["bytes_out"]), 20 * (4000 + 8 + 3 * 20));
    assert_eq!(num(&report["unattributed"]["fragment"]["packets"]), 0);
    assert_totals_add_up(&report);
}
