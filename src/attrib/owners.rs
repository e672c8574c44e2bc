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

/// The per-flow owner cache.
#[derive(Debug, Default)]
pub struct FlowCache {
    flows: HashMap<FlowKey, FlowState, RandomState>,
}

impl FlowCache {
    pub fn get(&self, key: &FlowKey) -> Option<FlowState> {
        self.flows.get(key).copied()
    }

    pub fn set(&mut self, key: FlowKey, state: FlowState) {
        self.flows.insert(key, state);
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
