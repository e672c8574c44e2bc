//! What the parsers hand on: a packet's summary, or why a frame was skipped.

use std::net::SocketAddr;

use crate::model::{Counter, Proto, Timestamp, Unattributed};

/// What the rest of netflow needs from one TCP or UDP packet, or from a run of packets
/// of one flow in one direction that a capture thread added up (80 bytes, `Copy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketSummary {
    /// When the (last) packet was captured.
    pub ts: Timestamp,
    pub proto: Proto,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// IP header + payload, as the IP header states it, never more than was on the
    /// wire; summed over the run.
    pub bytes: u32,
    /// Packets this stands for: 1 from the parser.
    pub packets: u16,
}

impl PacketSummary {
    /// One packet of `ip_len` bytes at the IP layer.
    pub fn one(ts: Timestamp, proto: Proto, src: SocketAddr, dst: SocketAddr, ip_len: u32) -> Self {
        PacketSummary {
            ts,
            proto,
            src,
            dst,
            bytes: ip_len,
            packets: 1,
        }
    }

    /// Packets and IP bytes, for the ledger.
    pub fn counter(&self) -> Counter {
        Counter {
            packets: u64::from(self.packets),
            bytes: u64::from(self.bytes),
        }
    }

    /// Adds `next` (a later packet) to this run if it is of the same flow and
    /// direction and the counts cannot overflow; says whether it did.
    pub fn absorb(&mut self, next: &PacketSummary) -> bool {
        let fits = self.packets < u16::MAX && self.bytes.checked_add(next.bytes).is_some();
        if !fits || self.src != next.src || self.dst != next.dst || self.proto != next.proto {
            return false;
        }
        self.ts = self.ts.max(next.ts);
        self.bytes += next.bytes;
        self.packets += next.packets;
        true
    }
}

/// A frame that cannot be attributed to a socket, with the network-layer bytes it carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub reason: Unattributed,
    pub bytes: u32,
}
