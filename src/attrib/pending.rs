use std::collections::VecDeque;

use crate::model::{Direction, FlowKey, Timestamp};

/// One side of a packet whose flow had no known owner when it arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingPacket {
    pub key: FlowKey,
    pub dir: Direction,
    pub ip_len: u32,
    pub ts: Timestamp,
}

/// A bounded ring of packets waiting for the next socket scan. When full, the oldest
/// packet is pushed out and handed back so the caller can count it.
#[derive(Debug)]
pub struct PendingRing {
    packets: VecDeque<PendingPacket>,
    capacity: usize,
}

impl PendingRing {
    pub fn new(capacity: usize) -> Self {
        PendingRing {
            packets: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
        }
    }

    /// Adds a packet; returns the packet evicted to make room, if any.
    pub fn push(&mut self, p: PendingPacket) -> Option<PendingPacket> {
        let evicted = if self.packets.len() >= self.capacity {
            self.packets.pop_front()
        } else {
            None
        };
        self.packets.push_back(p);
        evicted
    }

    /// Takes every waiting packet, oldest first, leaving the ring empty (its storage kept).
    pub fn drain(&mut self) -> std::collections::vec_deque::Drain<'_, PendingPacket> {
        self.packets.drain(..)
    }

    pub fn len(&self) -> usize {
        self.packets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Proto;

    fn p(n: u32) -> PendingPacket {
        PendingPacket {
            key: FlowKey::new(
                Proto::Udp,
                "127.0.0.1:1".parse().unwrap(),
                "127.0.0.1:2".parse().unwrap(),
            ),
            dir: Direction::Out,
            ip_len: n,
            ts: Timestamp(u64::from(n)),
        }
    }

    #[test]
    fn full_ring_evicts_the_oldest_packet() {
        let mut ring = PendingRing::new(2);
        assert_eq!(ring.push(p(1)), None);
        assert_eq!(ring.push(p(2)), None);
        assert_eq!(ring.push(p(3)), Some(p(1)));
        let left: Vec<u32> = ring.drain().map(|x| x.ip_len).collect();
        assert_eq!(left, vec![2, 3]);
        assert!(ring.is_empty());
    }
}
