//! The per-packet core, in process: parse (etherparse) + orient + flow lookup + account,
//! on a synthetic stream over 10,000 concurrent TCP flows, against a reference measured
//! in the same run: a bare etherparse slice plus one hash-map update per packet.
//!
//! Run: `cargo bench --bench core`. Prints packets per second for both and the ratio.
#![allow(clippy::disallowed_methods, reason = "a benchmark reads the clock")]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use etherparse::{LaxNetSlice, LaxSlicedPacket, PacketBuilder, TransportSlice};
use netflow::attrib::{ScanResult, SocketRow, SocketTable, V6Only};
use netflow::engine::{Engine, EngineConfig};
use netflow::model::{ProcessInfo, ProcessKey, Proto, Timestamp};
use netflow::wire::{summarize, LinkType};

const FLOWS: usize = 10_000;
const PROCESSES: usize = 50;
const PACKETS: usize = 4_000_000;
const ROUNDS: usize = 5;
const T0: u64 = 1_800_000_000_000_000;

fn flow_addr(i: usize) -> ([u8; 4], u16) {
    (
        [198, 18, (i / 250) as u8, (i % 250) as u8 + 2],
        10_000 + (i % 50_000) as u16,
    )
}

/// One outbound and one inbound frame per flow, full-size payload (1400 bytes).
fn frames() -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(2 * FLOWS);
    for i in 0..FLOWS {
        let (remote, port) = flow_addr(i);
        for outbound in [true, false] {
            let mut f = Vec::new();
            let (src, dst, sp, dp) = if outbound {
                ([198, 18, 200, 1], remote, port, 443)
            } else {
                (remote, [198, 18, 200, 1], 443, port)
            };
            PacketBuilder::ethernet2([2; 6], [4; 6])
                .ipv4(src, dst, 64)
                .tcp(sp, dp, 1, 65_535)
                .write(&mut f, &[0u8; 1_400])
                .unwrap();
            // Only the headers are captured (the default snap length keeps 256 bytes).
            f.truncate(128);
            out.push(f);
        }
    }
    out
}

/// A pseudo-random visiting order, so flows interleave as on a busy host.
fn order() -> Vec<u32> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..PACKETS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % (2 * FLOWS as u64)) as u32
        })
        .collect()
}

/// An engine in its steady state: every flow seen once and the scan after that done
/// (it looked for the flows' remote ends, which a new flow's first packets wait for).
fn engine(frames: &[Vec<u8>]) -> Engine {
    let mut e = Engine::new(EngineConfig {
        start: Timestamp(T0),
        series_buckets: 302,
        pending_capacity: 65_536,
        local_addrs: vec!["198.18.200.1".parse().unwrap()],
        own_netns: 1,
    });
    e.apply_scan(SocketTable::build(1, scan(Timestamp(T0))));
    for f in frames.iter().step_by(2) {
        if let Ok(s) = summarize(LinkType::Ethernet, Timestamp(T0 + 1), f, 1_454) {
            e.packet(&s);
        }
    }
    e.apply_scan(SocketTable::build(2, scan(Timestamp(T0 + 2))));
    assert_eq!(e.pending_len(), 0);
    e
}

fn scan(started_at: Timestamp) -> ScanResult {
    let mut scan = ScanResult {
        started_at,
        local_addrs: vec!["198.18.200.1".parse().unwrap()],
        ..ScanResult::default()
    };
    for p in 0..PROCESSES {
        scan.processes.push(ProcessInfo {
            key: ProcessKey::from_ticks(1000 + p as u32, 1),
            ppid: 1,
            name: format!("worker{p}"),
            cmdline: String::new(),
            exe: String::new(),
            uid: Some(0),
            user: "root".into(),
            netns: 0,
            cgroup: String::new(),
            container_id: None,
        });
    }
    for i in 0..FLOWS {
        let (remote, port) = flow_addr(i);
        let inode = 100_000 + i as u64;
        scan.sockets.push(SocketRow {
            proto: Proto::Tcp,
            local: format!("198.18.200.1:{port}").parse().unwrap(),
            remote: format!(
                "{}.{}.{}.{}:443",
                remote[0], remote[1], remote[2], remote[3]
            )
            .parse()
            .unwrap(),
            inode,
            listening: false,
            v6only: V6Only::No,
        });
        scan.fds.push((1000 + (i % PROCESSES) as u32, inode));
    }
    scan
}

fn per_second(packets: usize, secs: f64) -> f64 {
    packets as f64 / secs
}

fn main() {
    let frames = frames();
    let order = order();

    let mut best_reference = 0f64;
    let mut best_core = 0f64;
    for _ in 0..ROUNDS {
        // Reference: slice + one hash-map update keyed by the 4-tuple.
        let mut map: HashMap<([u8; 4], [u8; 4], u16, u16), u64> = HashMap::with_capacity(2 * FLOWS);
        let began = Instant::now();
        for &i in &order {
            let f = &frames[i as usize];
            // Lax, as netflow: captured frames are cut to the snap length.
            if let Ok(p) = LaxSlicedPacket::from_ethernet(black_box(f)) {
                if let (Some(LaxNetSlice::Ipv4(ip)), Some(TransportSlice::Tcp(t))) =
                    (&p.net, &p.transport)
                {
                    let h = ip.header();
                    *map.entry((
                        h.source(),
                        h.destination(),
                        t.source_port(),
                        t.destination_port(),
                    ))
                    .or_default() += u64::from(h.total_len());
                }
            }
        }
        best_reference = best_reference.max(per_second(order.len(), began.elapsed().as_secs_f64()));
        black_box(&map);

        // netflow: summarize + engine (orient, flow cache, ledger with series).
        let mut e = engine(&frames);
        let began = Instant::now();
        for (n, &i) in order.iter().enumerate() {
            let f = &frames[i as usize];
            let ts = Timestamp(T0 + (n as u64) * 10);
            if let Ok(s) = summarize(LinkType::Ethernet, ts, black_box(f), 1_454) {
                e.packet(&s);
            }
        }
        best_core = best_core.max(per_second(order.len(), began.elapsed().as_secs_f64()));
        black_box(e.finish(|_| true));
    }
    println!("per-packet core, {FLOWS} flows, {PACKETS} packets, best of {ROUNDS}:");
    println!(
        "  reference (etherparse slice + hash map): {:.2} M packets/s",
        best_reference / 1e6
    );
    println!(
        "  netflow (summarize + engine):            {:.2} M packets/s",
        best_core / 1e6
    );
    println!(
        "  ratio netflow / reference:               {:.2}",
        best_core / best_reference
    );
    println!(
        "  target: >= 8 M packets/s: {}",
        if best_core >= 8e6 { "met" } else { "NOT met" }
    );
}
