//! A mutation fuzzer for the frame parser: real frames from the seed corpus
//! (tests/fixtures/pcap/*.pcap), bit-flipped, truncated, grown and spliced, through
//! `wire::summarize` for every link type. It must never panic, and a summary never
//! claims more bytes than were on the wire.
//!
//! Run: `cargo bench --bench fuzz-summarize -- [INPUTS]` (default 10 million). It is not
//! coverage-guided; it is deterministic (fixed seed), so a failure reproduces.
#![allow(
    clippy::disallowed_methods,
    reason = "a fuzz harness reads files and the clock"
)]

use std::fs::File;
use std::time::Instant;

use netflow::model::{Timestamp, Unattributed};
use netflow::wire::{fragment_of, summarize, FragmentTable, LinkType};
use pcap_file::pcap::PcapReader;

fn seeds() -> Vec<(LinkType, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pcap");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let mut reader = PcapReader::new(File::open(entry.path()).unwrap()).unwrap();
        let link = LinkType::from_dlt(u32::from(reader.header().datalink) as i32).unwrap();
        // Raw records: the checked reader refuses orig_len > snaplen (truncated frames).
        while let Some(packet) = reader.next_raw_packet() {
            out.push((link, packet.unwrap().data.to_vec()));
        }
    }
    assert!(!out.is_empty(), "no seed frames in {dir}");
    out
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seeds: &[(LinkType, Vec<u8>)], buf: &mut Vec<u8>) {
    let (_, base) = &seeds[rng.below(seeds.len())];
    buf.clear();
    buf.extend_from_slice(base);
    for _ in 0..1 + rng.below(4) {
        match rng.below(6) {
            0 | 1 if !buf.is_empty() => {
                let at = rng.below(buf.len());
                buf[at] ^= 1 << rng.below(8);
            }
            2 if !buf.is_empty() => {
                let at = rng.below(buf.len());
                buf[at] = rng.next() as u8;
            }
            3 => buf.truncate(rng.below(buf.len() + 1)),
            4 => {
                let at = rng.below(buf.len() + 1);
                buf.insert(at, rng.next() as u8);
            }
            _ => {
                // Splice: the tail of another frame.
                let (_, other) = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let at = rng.below(buf.len() + 1);
                buf.truncate(at);
                buf.extend_from_slice(&other[from..]);
            }
        }
    }
}

fn main() {
    let inputs: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let seeds = seeds();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = Vec::with_capacity(512);
    let began = Instant::now();
    let mut parsed = 0u64;
    let (mut fragments, mut fragmented) = (FragmentTable::default(), 0u64);
    for i in 0..inputs {
        mutate(&mut rng, &seeds, &mut buf);
        let link = if i % 4 == 0 {
            LinkType::ALL[rng.below(LinkType::ALL.len())]
        } else {
            seeds[rng.below(seeds.len())].0
        };
        // The wire length is what pcap reports: at least what was captured.
        let wire_len = (buf.len() + rng.below(2_000)) as u32;
        match summarize(link, Timestamp(i), &buf, wire_len) {
            Ok(s) => {
                assert!(
                    s.bytes <= wire_len,
                    "ip_len {} > wire {wire_len} for {buf:02x?}",
                    s.bytes
                );
                parsed += 1;
            }
            // Fragments are sliced once more, for their datagram's identity.
            Err(skip) if skip.reason == Unattributed::Fragment => {
                if let Some(f) = fragment_of(link, &buf) {
                    fragments.packet(f, Timestamp(i), skip.bytes);
                    fragmented += 1;
                }
            }
            Err(_) => {}
        }
    }
    let secs = began.elapsed().as_secs_f64();
    println!(
        "fuzz-summarize: {inputs} inputs from {} seed frames in {secs:.1} s ({:.1} M/s), {parsed} parsed, {fragmented} fragments, no panic",
        seeds.len(),
        inputs as f64 / secs / 1e6
    );
}
