use std::collections::HashMap;

use foldhash::fast::RandomState;

use crate::model::{FlowKey, Unattributed};

/// What netflow knows about a flow's owner. Flows are attributed once, not once per
/// packet: after the first lookup, a packet costs one hash probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowState {
    /// Charged to the ledger's flow with this index (and so to its process).
    Known { flow: u32 },
    /// Not found yet: its packets wait in the retry ring for a scan that started after
    /// them. `misses` counts the scans that already looked and failed, the last of
    /// which had generation `last_miss_gen`.
    Pending { misses: u8, last_miss_gen: u64 },
    /// Given up on: packets are counted under `reason` at once, and the lookup is tried
    /// again once per new socket table (`checked_gen` is the last one tried).
    Unowned {
        reason: Unattributed,
        checked_gen: u64,
    },
}

/// The most flows the cache holds (about 6 MiB); see [`FlowCache::set`]. Evicting a
/// known flow costs one lookup when its next packet comes, so the bound can be small.
pub const MAX_FLOWS: usize = 1 << 16;

/// The per-flow owner cache, bounded by [`MAX_FLOWS`].
#[derive(Debug, Default)]
pub struct FlowCache {
    flows: HashMap<FlowKey, FlowState, RandomState>,
    /// The last known flows looked up (both ends of a loopback packet fit): bulk
    /// transfers and floods are long runs of one flow, and a key comparison is several
    /// times cheaper than hashing a pair of socket addresses.
    recent: [Option<(FlowKey, u32)>; 2],
    next_recent: usize,
    /// Flows ever added: the cache's size undercounts once the bound has evicted.
    added: u64,
}

impl FlowCache {
    pub fn get(&mut self, key: &FlowKey) -> Option<FlowState> {
        if let Some(flow) = self
            .recent
            .iter()
            .flatten()
            .find_map(|(k, flow)| (k == key).then_some(*flow))
        {
            return Some(FlowState::Known { flow });
        }
        let state = self.flows.get(key).copied();
        if let Some(FlowState::Known { flow }) = state {
            self.recent[self.next_recent] = Some((*key, flow));
            self.next_recent ^= 1;
        }
        state
    }

    pub fn set(&mut self, key: FlowKey, state: FlowState) {
        if self.flows.len() >= MAX_FLOWS && !self.flows.contains_key(&key) {
            self.make_room();
        }
        for slot in &mut self.recent {
            if slot.is_some_and(|(k, _)| k == key) {
                *slot = None;
            }
        }
        if self.flows.insert(key, state).is_none() {
            self.added += 1;
        }
    }

    /// Flows ever added. A flow forgotten at the bound and seen again counts again.
    pub fn added(&self) -> u64 {
        self.added
    }

    /// At the bound, forgets what is cheap to learn again: flows given up on or still
    /// waiting (a later packet looks them up afresh). If known flows alone fill half
    /// the bound, they go too: their next packets are matched again and open new
    /// ledger flows, so a churn of millions of flows costs detail, not memory.
    fn make_room(&mut self) {
        self.flows
            .retain(|_, s| matches!(s, FlowState::Known { .. }));
        if self.flows.len() >= MAX_FLOWS / 2 {
            self.flows.clear();
            self.recent = [None, None];
        }
    }

    /// Every flow whose owner is known, with its ledger index.
    pub fn known(&self) -> impl Iterator<Item = (FlowKey, u32)> + '_ {
        self.flows.iter().filter_map(|(k, s)| match s {
            FlowState::Known { flow } => Some((*k, *flow)),
            _ => None,
        })
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Proto;

    fn key(i: usize) -> FlowKey {
        FlowKey::new(
            Proto::Udp,
            format!("10.0.{}.{}:1", (i >> 8) & 255, i & 255)
                .parse()
                .unwrap(),
            format!("10.1.0.1:{}", i >> 16).parse().unwrap(),
        )
    }

    #[test]
    fn recent_flows_answer_like_the_map_and_follow_every_change() {
        let mut cache = FlowCache::default();
        for i in 0..3 {
            cache.set(key(i), FlowState::Known { flow: i as u32 });
        }
        // Alternating between more flows than the recent slots still answers right.
        for round in 0..4 {
            for i in 0..3 {
                assert_eq!(
                    cache.get(&key(i)),
                    Some(FlowState::Known { flow: i as u32 }),
                    "round {round}"
                );
            }
        }
        let pending = FlowState::Pending {
            misses: 0,
            last_miss_gen: 0,
        };
        cache.set(key(2), pending);
        assert_eq!(
            cache.get(&key(2)),
            Some(pending),
            "a change is never hidden"
        );
        assert_eq!(cache.get(&key(9)), None);
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_known_flows_first() {
        let mut cache = FlowCache::default();
        cache.set(key(0), FlowState::Known { flow: 7 });
        let unowned = FlowState::Unowned {
            reason: crate::model::Unattributed::NoSocket,
            checked_gen: 1,
        };
        for i in 1..MAX_FLOWS + 10 {
            cache.set(key(i), unowned);
        }
        assert!(cache.len() <= MAX_FLOWS);
        assert_eq!(cache.get(&key(0)), Some(FlowState::Known { flow: 7 }));
        assert_eq!(cache.added(), (MAX_FLOWS + 10) as u64, "every flow counted");
    }
}
