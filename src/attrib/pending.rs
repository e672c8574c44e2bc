use std::collections::VecDeque;

/// A bounded ring of packets waiting for the next socket scan, grown as packets wait
/// (it is empty most of the time, so it does not hold its bound up front). When full,
/// the oldest packet is pushed out and handed back so the caller can count it.
#[derive(Debug)]
pub struct PendingRing<T> {
    packets: VecDeque<T>,
    capacity: usize,
}

impl<T> PendingRing<T> {
    pub fn new(capacity: usize) -> Self {
        PendingRing {
            packets: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Adds a packet; returns the packet evicted to make room, if any.
    pub fn push(&mut self, p: T) -> Option<T> {
        let evicted = if self.packets.len() >= self.capacity {
            self.packets.pop_front()
        } else {
            None
        };
        self.packets.push_back(p);
        evicted
    }

    /// Takes every waiting packet, oldest first, leaving the ring empty (its storage kept).
    pub fn drain(&mut self) -> std::collections::vec_deque::Drain<'_, T> {
        self.packets.drain(..)
    }

    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// The most packets it holds before it evicts.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_ring_evicts_the_oldest_packet() {
        let mut ring = PendingRing::new(2);
        assert_eq!(ring.push(1), None);
        assert_eq!(ring.push(2), None);
        assert_eq!(ring.push(3), Some(1));
        let left: Vec<u32> = ring.drain().collect();
        assert_eq!(left, vec![2, 3]);
        assert!(ring.is_empty());
    }
}
