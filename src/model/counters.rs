use serde::Serialize;

use super::Direction;

/// Packets and bytes. Bytes follow the report's convention: IP header + payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}

impl Counter {
    /// One packet of `bytes`.
    pub fn one(bytes: u64) -> Self {
        Counter { packets: 1, bytes }
    }

    pub fn add(&mut self, bytes: u64) {
        self.packets += 1;
        self.bytes += bytes;
    }

    pub fn merge(&mut self, other: Counter) {
        self.packets += other.packets;
        self.bytes += other.bytes;
    }

    pub fn is_zero(&self) -> bool {
        self.packets == 0 && self.bytes == 0
    }
}

/// A counter per direction, as seen from a local socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DirCounters {
    #[serde(rename = "in")]
    pub inbound: Counter,
    #[serde(rename = "out")]
    pub outbound: Counter,
}

impl DirCounters {
    pub fn add(&mut self, dir: Direction, bytes: u64) {
        self.get_mut(dir).add(bytes);
    }

    pub fn get_mut(&mut self, dir: Direction) -> &mut Counter {
        match dir {
            Direction::In => &mut self.inbound,
            Direction::Out => &mut self.outbound,
        }
    }

    pub fn merge(&mut self, other: DirCounters) {
        self.inbound.merge(other.inbound);
        self.outbound.merge(other.outbound);
    }

    pub fn total(&self) -> Counter {
        let mut t = self.inbound;
        t.merge(self.outbound);
        t
    }
}

/// A raw reading of an interface's own counters (`/sys/class/net/IF/statistics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Bytes of link header the counters include per packet.
    pub link_header_bytes: u64,
    /// Loopback counts every packet twice: as sent and as received.
    pub loopback: bool,
}
