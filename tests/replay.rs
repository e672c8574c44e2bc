//! The committed seed captures (tests/fixtures/pcap: real frames from a veth pair and
//! from `-i any`, cut to 200 bytes) parse as the traffic they hold: TCP over IPv4, UDP
//! over IPv4 and IPv6, nothing malformed.
#![allow(
    clippy::disallowed_methods,
    reason = "this test reads the fixture captures"
)]

use std::fs::File;

use netflow::model::{Proto, Timestamp};
use netflow::wire::{summarize, LinkType};
use pcap_file::pcap::PcapReader;

fn replay(
    name: &str,
) -> (
    LinkType,
    Vec<Result<netflow::wire::PacketSummary, netflow::wire::Skipped>>,
) {
    let path = format!("{}/tests/fixtures/pcap/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut reader = PcapReader::new(File::open(path).unwrap()).unwrap();
    let link = LinkType::from_dlt(u32::from(reader.header().datalink) as i32).unwrap();
    let mut out = Vec::new();
    // Raw records: pcap-file's checked reader refuses orig_len > snaplen, which is every
    // truncated capture.
    while let Some(p) = reader.next_raw_packet() {
        let p = p.unwrap();
        out.push(summarize(link, Timestamp(0), &p.data, p.orig_len));
    }
    (link, out)
}

#[test]
fn seed_captures_parse_as_tcp_and_udp_over_both_ip_versions() {
    for (name, expected_link) in [
        ("ethernet-seed.pcap", LinkType::Ethernet),
        ("sll2-seed.pcap", LinkType::LinuxSll2),
    ] {
        let (link, results) = replay(name);
        assert_eq!(link, expected_link, "{name}");
        let ok: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert!(
            ok.len() >= 60,
            "{name}: only {} of {} parsed",
            ok.len(),
            results.len()
        );
        for (proto, v4) in [(Proto::Tcp, true), (Proto::Udp, true), (Proto::Udp, false)] {
            assert!(
                ok.iter().any(|s| s.proto == proto && s.src.is_ipv4() == v4),
                "{name}: no {proto:?} over IPv{}",
                if v4 { 4 } else { 6 }
            );
        }
        // The rest is neighbour discovery, ARP and ICMP: never malformed.
        use netflow::model::Unattributed::{NotIp, NotTcpUdp};
        for r in &results {
            if let Err(skip) = r {
                assert!(matches!(skip.reason, NotIp | NotTcpUdp), "{name}: {skip:?}");
            }
        }
    }
}
