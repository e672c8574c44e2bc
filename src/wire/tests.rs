//! Frames built byte by byte with etherparse's builder, one per link type and layer.

use etherparse::PacketBuilder;

use super::*;
use crate::model::{Proto, Timestamp, Unattributed};

const T0: Timestamp = Timestamp(1_700_000_000_000_000);
const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn tcp_v4_ethernet(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)
        .tcp(40_000, 443, 1, 65_535);
    let mut frame = Vec::new();
    b.write(&mut frame, payload).unwrap();
    frame
}

fn udp_v6_ip(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv6(
        [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        64,
    )
    .udp(5353, 53);
    let mut pkt = Vec::new();
    b.write(&mut pkt, payload).unwrap();
    pkt
}

fn full(link: LinkType, frame: &[u8]) -> Result<PacketSummary, Skipped> {
    summarize(link, T0, frame, frame.len() as u32)
}

#[test]
fn ethernet_tcp_v4_gives_ports_and_ip_length() {
    let frame = tcp_v4_ethernet(&[7; 100]);
    let s = full(LinkType::Ethernet, &frame).unwrap();
    assert_eq!(s.proto, Proto::Tcp);
    assert_eq!(s.src, "198.18.0.1:40000".parse().unwrap());
    assert_eq!(s.dst, "198.18.0.2:443".parse().unwrap());
    assert_eq!(s.bytes, 20 + 20 + 100);
    assert_eq!(s.ts, T0);
}

#[test]
fn vlan_and_qinq_tags_are_looked_through() {
    for tags in [1usize, 2] {
        let mut frame = Vec::new();
        let b = if tags == 1 {
            PacketBuilder::ethernet2(MAC_A, MAC_B)
                .single_vlan(etherparse::VlanId::try_new(10).unwrap())
                .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)
                .udp(1000, 2000)
        } else {
            PacketBuilder::ethernet2(MAC_A, MAC_B)
                .double_vlan(
                    etherparse::VlanId::try_new(10).unwrap(),
                    etherparse::VlanId::try_new(20).unwrap(),
                )
                .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)
                .udp(1000, 2000)
        };
        b.write(&mut frame, &[1; 10]).unwrap();
        let s = full(LinkType::Ethernet, &frame).unwrap();
        assert_eq!(s.proto, Proto::Udp);
        assert_eq!(s.bytes, 20 + 8 + 10, "{tags} tag(s)");
    }
}

#[test]
fn raw_ip_v6_udp() {
    let pkt = udp_v6_ip(&[0; 33]);
    let s = full(LinkType::RawIp, &pkt).unwrap();
    assert_eq!(s.proto, Proto::Udp);
    assert_eq!(s.src, "[fd00::1]:5353".parse().unwrap());
    assert_eq!(s.bytes, 40 + 8 + 33);
}

#[test]
fn linux_cooked_v1_and_v2_headers_are_skipped() {
    let ip = udp_v6_ip(&[0; 5]);
    // SLL: packet type, ARPHRD, address length, 8 address bytes, protocol.
    let mut sll = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x86, 0xdd];
    sll.extend_from_slice(&ip);
    // SLL2: protocol, reserved, ifindex, ARPHRD, packet type, address length, 8 bytes.
    let mut sll2 = vec![
        0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend_from_slice(&ip);
    for (link, frame) in [(LinkType::LinuxSll, sll), (LinkType::LinuxSll2, sll2)] {
        let s = full(link, &frame).unwrap();
        assert_eq!(s.dst, "[fd00::2]:53".parse().unwrap(), "{link:?}");
        assert_eq!(s.bytes, 40 + 8 + 5, "{link:?}");
    }
}

#[test]
fn bsd_loopback_header_is_skipped() {
    let b = PacketBuilder::ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64).tcp(1, 2, 0, 100);
    let mut frame = 2u32.to_ne_bytes().to_vec(); // AF_INET
    b.write(&mut frame, &[]).unwrap();
    let s = full(LinkType::Null, &frame).unwrap();
    assert_eq!(s.bytes, 40);
}

#[test]
fn truncated_capture_still_counts_the_whole_packet() {
    // 1400 payload bytes on the wire, only the first 128 captured (the snap length).
    let frame = tcp_v4_ethernet(&[9; 1_400]);
    let s = summarize(LinkType::Ethernet, T0, &frame[..128], frame.len() as u32).unwrap();
    assert_eq!(s.bytes, 20 + 20 + 1_400);
}

#[test]
fn ip_length_claiming_more_than_the_wire_is_clamped() {
    let mut frame = tcp_v4_ethernet(&[0; 10]);
    frame[14 + 2] = 0xff; // total length high byte: claims ~65 KB
    let s = full(LinkType::Ethernet, &frame).unwrap();
    assert_eq!(s.bytes, (frame.len() - 14) as u32);
}

#[test]
fn ethernet_padding_is_not_counted() {
    let mut frame = tcp_v4_ethernet(&[]);
    frame.resize(60, 0); // minimum Ethernet frame
    let s = full(LinkType::Ethernet, &frame).unwrap();
    assert_eq!(s.bytes, 40);
}

#[test]
fn arp_is_not_ip() {
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&MAC_A);
    frame.extend_from_slice(&[0x08, 0x06]);
    frame.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    frame.extend_from_slice(&[0; 20]);
    let skip = full(LinkType::Ethernet, &frame).unwrap_err();
    assert_eq!(skip.reason, Unattributed::NotIp);
    assert_eq!(skip.bytes, 28);
}

#[test]
fn icmp_is_ip_but_not_tcp_or_udp() {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)
        .icmpv4_echo_request(1, 1);
    let mut frame = Vec::new();
    b.write(&mut frame, &[0; 56]).unwrap();
    let skip = full(LinkType::Ethernet, &frame).unwrap_err();
    assert_eq!(skip.reason, Unattributed::NotTcpUdp);
    assert_eq!(skip.bytes, 20 + 8 + 56);
}

#[test]
fn later_ip_fragments_have_no_ports() {
    let mut frame = tcp_v4_ethernet(&[0; 40]);
    // Fragment offset 8 (64 bytes): a later fragment.
    frame[14 + 6] = 0x00;
    frame[14 + 7] = 0x08;
    let skip = full(LinkType::Ethernet, &frame).unwrap_err();
    assert_eq!(skip.reason, Unattributed::Fragment);
}

#[test]
fn truncated_headers_are_malformed_not_a_panic() {
    let frame = tcp_v4_ethernet(&[0; 20]);
    for cut in 0..frame.len() {
        let _ = summarize(LinkType::Ethernet, T0, &frame[..cut], frame.len() as u32);
    }
    let skip = summarize(
        LinkType::Ethernet,
        T0,
        &frame[..14 + 10],
        frame.len() as u32,
    )
    .unwrap_err();
    assert_eq!(skip.reason, Unattributed::Malformed);
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap, deterministic sweep (xorshift) of random frames over every link type.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = [0u8; 128];
    for round in 0..20_000 {
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let len = (x as usize) % buf.len();
        for link in LinkType::ALL {
            let _ = summarize(link, T0, &buf[..len], round);
        }
    }
}

#[test]
fn fast_path_agrees_with_the_general_path() {
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut fast_hits = 0;
    for round in 0..20_000u32 {
        let r = next();
        let payload = vec![0u8; (r % 1_500) as usize];
        let mut frame = Vec::new();
        let eth = PacketBuilder::ethernet2(MAC_A, MAC_B);
        let (sp, dp) = ((r >> 16) as u16, (r >> 32) as u16);
        match r % 4 {
            0 => eth
                .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)
                .tcp(sp, dp, 1, 1)
                .write(&mut frame, &payload),
            1 => eth
                .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)
                .udp(sp, dp)
                .write(&mut frame, &payload),
            2 => eth
                .ipv6([0xfd; 16], [0xfe; 16], 64)
                .tcp(sp, dp, 1, 1)
                .write(&mut frame, &payload),
            _ => eth
                .ipv6([0xfd; 16], [0xfe; 16], 64)
                .udp(sp, dp)
                .write(&mut frame, &payload),
        }
        .unwrap();
        let wire_len = frame.len() as u32;
        // Cut to a snap length, and now and then damage a header byte.
        frame.truncate(((next() % 200) as usize).max(1));
        if round % 3 == 0 {
            let at = (next() as usize) % frame.len();
            frame[at] = next() as u8;
        }
        if let Some(fast) = super::fast::ethernet(&frame, T0, wire_len) {
            fast_hits += 1;
            let general = super::general::summarize(LinkType::Ethernet, T0, &frame, wire_len);
            assert_eq!(general, Ok(fast), "frame {frame:02x?}");
        }
    }
    assert!(
        fast_hits > 5_000,
        "the fast path took only {fast_hits} frames"
    );
}

fn udp_v4_ethernet(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)
        .udp(4000, 53);
    let mut frame = Vec::new();
    b.write(&mut frame, payload).unwrap();
    frame
}

/// An IPv4 frame of datagram `id` made a fragment: `offset` in 8-byte units, and
/// whether more follow.
fn v4_fragment(mut frame: Vec<u8>, id: u16, offset: u16, more: bool) -> Vec<u8> {
    frame[14 + 4..14 + 6].copy_from_slice(&id.to_be_bytes());
    let flags_offset = offset | if more { 0x2000 } else { 0 };
    frame[14 + 6..14 + 8].copy_from_slice(&flags_offset.to_be_bytes());
    frame
}

/// An Ethernet IPv6 frame: the given extension headers (each `(type, 8 bytes)`), then
/// `next` and its bytes.
fn v6_with_extensions(exts: &[(u8, [u8; 8])], next: u8, transport: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&MAC_B);
    frame.extend_from_slice(&MAC_A);
    frame.extend_from_slice(&[0x86, 0xdd]);
    let payload_len = (exts.len() * 8 + transport.len()) as u16;
    frame.extend_from_slice(&[0x60, 0, 0, 0]);
    frame.extend_from_slice(&payload_len.to_be_bytes());
    frame.push(exts.first().map_or(next, |e| e.0));
    frame.push(64);
    let mut src = [0u8; 16];
    src[0] = 0xfd;
    src[15] = 1;
    let mut dst = src;
    dst[15] = 2;
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&dst);
    for (i, (_, body)) in exts.iter().enumerate() {
        let mut body = *body;
        body[0] = exts.get(i + 1).map_or(next, |e| e.0);
        frame.extend_from_slice(&body);
    }
    frame.extend_from_slice(transport);
    frame
}

fn tcp_header(sport: u16, dport: u16) -> Vec<u8> {
    let mut h = vec![0u8; 20];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[12] = 5 << 4;
    h
}

#[test]
fn ipv6_extension_header_chains_are_walked_to_the_ports() {
    let pad = [0, 0, 1, 4, 0, 0, 0, 0]; // next header (filled in), length 0, PadN(4)
    let routing = [0, 0, 0, 0, 0, 0, 0, 0]; // type 0, no segments left
    let chain = [(0, pad), (60, pad), (43, routing)]; // hop-by-hop, dest. options, routing
    let frame = v6_with_extensions(&chain, 6, &tcp_header(40_000, 443));
    let s = full(LinkType::Ethernet, &frame).unwrap();
    assert_eq!(s.proto, Proto::Tcp);
    assert_eq!(s.src, "[fd00::1]:40000".parse().unwrap());
    assert_eq!(s.dst, "[fd00::2]:443".parse().unwrap());
    assert_eq!(s.bytes, 40 + 24 + 20);
}

#[test]
fn tunnels_are_their_own_reason() {
    for ip_number in [4u8, 41, 47] {
        let mut frame = udp_v4_ethernet(&[0; 40]);
        frame[14 + 9] = ip_number;
        let skip = full(LinkType::Ethernet, &frame).unwrap_err();
        assert_eq!(skip.reason, Unattributed::Tunnel, "IP protocol {ip_number}");
        assert_eq!(skip.bytes, 20 + 8 + 40);
    }
    let mut icmp_like = udp_v4_ethernet(&[0; 40]);
    icmp_like[14 + 9] = 132; // SCTP
    assert_eq!(
        full(LinkType::Ethernet, &icmp_like).unwrap_err().reason,
        Unattributed::NotTcpUdp
    );
}

#[test]
fn later_ipv4_fragments_join_their_first_fragments_flow() {
    let first = v4_fragment(udp_v4_ethernet(&[9; 1472]), 77, 0, true);
    let later = v4_fragment(udp_v4_ethernet(&[9; 600]), 77, 185, false);
    let stranger = v4_fragment(udp_v4_ethernet(&[9; 600]), 78, 185, false);
    let mut table = FragmentTable::default();
    // Every fragment is skipped by the stateless summary...
    for frame in [&first, &later, &stranger] {
        assert_eq!(
            full(LinkType::Ethernet, frame).unwrap_err().reason,
            Unattributed::Fragment
        );
    }
    // ...and the table gives the later ones their datagram's ports.
    let stranger_first = fragment_of(LinkType::Ethernet, &stranger).unwrap();
    assert_eq!(
        table.packet(stranger_first, T0, 628),
        None,
        "its first was never seen"
    );
    let f = fragment_of(LinkType::Ethernet, &first).unwrap();
    assert_eq!(f.ports, Some((Proto::Udp, 4000, 53)));
    let p = table.packet(f, T0, 1500).unwrap();
    assert_eq!(
        (p.src, p.dst, p.bytes),
        (
            "198.18.0.1:4000".parse().unwrap(),
            "198.18.0.2:53".parse().unwrap(),
            1500
        )
    );
    let l = fragment_of(LinkType::Ethernet, &later).unwrap();
    assert_eq!(l.ports, None);
    let p = table.packet(l, T0, 628).unwrap();
    assert_eq!(
        (p.proto, p.src.port(), p.dst.port(), p.bytes),
        (Proto::Udp, 4000, 53, 628)
    );
    let s = fragment_of(LinkType::Ethernet, &stranger).unwrap();
    assert_eq!(table.packet(s, T0, 628), None, "another datagram's id");
}

#[test]
fn later_ipv6_fragments_join_their_first_fragments_flow() {
    let frag = |offset: u16, more: bool, id: u32| {
        let mut h = [0u8; 8];
        h[2..4].copy_from_slice(&((offset << 3) | u16::from(more)).to_be_bytes());
        h[4..8].copy_from_slice(&id.to_be_bytes());
        (44u8, h)
    };
    let mut udp = vec![0u8; 8 + 100];
    udp[0..2].copy_from_slice(&5353u16.to_be_bytes());
    udp[2..4].copy_from_slice(&53u16.to_be_bytes());
    let first = v6_with_extensions(&[frag(0, true, 0xdead)], 17, &udp);
    let later = v6_with_extensions(&[frag(14, false, 0xdead)], 17, &[7; 300]);
    assert_eq!(
        full(LinkType::Ethernet, &first).unwrap_err().reason,
        Unattributed::Fragment
    );
    let mut table = FragmentTable::default();
    let f = fragment_of(LinkType::Ethernet, &first).unwrap();
    assert_eq!(f.key.id, 0xdead);
    table.packet(f, T0, 40 + 8 + 108).unwrap();
    let p = table
        .packet(fragment_of(LinkType::Ethernet, &later).unwrap(), T0, 348)
        .unwrap();
    assert_eq!(p.src, "[fd00::1]:5353".parse().unwrap());
    assert_eq!(p.dst, "[fd00::2]:53".parse().unwrap());
}

#[test]
fn the_fragment_table_stays_bounded() {
    let mut table = FragmentTable::default();
    for id in 0..(MAX_DATAGRAMS as u16 + 100) {
        let frame = v4_fragment(udp_v4_ethernet(&[0; 64]), id, 0, true);
        table.packet(fragment_of(LinkType::Ethernet, &frame).unwrap(), T0, 92);
    }
    assert_eq!(table.len(), MAX_DATAGRAMS);
}

#[test]
fn a_run_absorbs_only_its_own_flow_and_direction_while_counts_fit() {
    let a: std::net::SocketAddr = "10.0.0.1:4000".parse().unwrap();
    let b: std::net::SocketAddr = "10.0.0.2:80".parse().unwrap();
    let one = |src, dst, bytes| PacketSummary::one(Timestamp(5), Proto::Udp, src, dst, bytes);
    let mut run = one(a, b, 100);
    assert!(run.absorb(&one(a, b, 50)));
    assert_eq!((run.packets, run.bytes), (2, 150));
    assert!(!run.absorb(&one(b, a, 50)), "the other direction");
    assert!(!run.absorb(&PacketSummary::one(Timestamp(5), Proto::Tcp, a, b, 50)));
    run.packets = u16::MAX;
    assert!(!run.absorb(&one(a, b, 50)), "packet count full");
    run.packets = 1;
    run.bytes = u32::MAX - 10;
    assert!(!run.absorb(&one(a, b, 50)), "byte count full");
}
