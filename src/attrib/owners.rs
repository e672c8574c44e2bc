use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use foldhash::fast::RandomState;

use crate::model::{FlowKey, Proto, Unattributed};

/// What netflow knows about a flow's owner. Flows are attributed once, not once per
/// packet: after the first lookup, a packet costs one hash probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowState {
    /// Charged to the ledger's flow with this index (and so to its process).
    Known { flow: u32 },
    /// Its owner is known (the ledger's flow `flow`), but its remote end may be local
    /// too, in a network namespace no scan has read: its packets wait in the retry ring
    /// for a scan that looks (see `RemoteChecks`), so the other end gets them too.
    Awaiting { flow: u32 },
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

/// A flow key as the cache stores it: 40 bytes instead of [`FlowKey`]'s 72 (a
/// `SocketAddr` keeps room for IPv6 flow info and scope, which netflow never sets), so
/// more of the table stays in the CPU's cache when thousands of flows interleave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct PackedKey {
    local: [u8; 16],
    remote: [u8; 16],
    local_port: u16,
    remote_port: u16,
    proto: Proto,
    local_v6: bool,
    remote_v6: bool,
}

impl PackedKey {
    fn pack(key: &FlowKey) -> PackedKey {
        let (local, local_v6) = pack_ip(key.local.ip());
        let (remote, remote_v6) = pack_ip(key.remote.ip());
        PackedKey {
            local,
            remote,
            local_port: key.local.port(),
            remote_port: key.remote.port(),
            proto: key.proto,
            local_v6,
            remote_v6,
        }
    }

    fn unpack(&self) -> FlowKey {
        FlowKey {
            proto: self.proto,
            local: SocketAddr::new(unpack_ip(self.local, self.local_v6), self.local_port),
            remote: SocketAddr::new(unpack_ip(self.remote, self.remote_v6), self.remote_port),
        }
    }
}

fn unpack_ip(b: [u8; 16], v6: bool) -> IpAddr {
    if v6 {
        Ipv6Addr::from(b).into()
    } else {
        Ipv4Addr::new(b[0], b[1], b[2], b[3]).into()
    }
}

/// An address's bytes (IPv4 in the first four) and whether it is IPv6.
fn pack_ip(ip: IpAddr) -> ([u8; 16], bool) {
    match ip {
        IpAddr::V4(v4) => {
            let mut b = [0; 16];
            b[..4].copy_from_slice(&v4.octets());
            (b, false)
        }
        IpAddr::V6(v6) => (v6.octets(), true),
    }
}

/// The per-flow owner cache, bounded by [`MAX_FLOWS`].
#[derive(Debug, Default)]
pub struct FlowCache {
    flows: HashMap<PackedKey, FlowState, RandomState>,
    /// The last known flows looked up (both ends of a loopback packet fit): bulk
    /// transfers and floods are long runs of one flow, and a key comparison is several
    /// times cheaper than hashing a pair of socket addresses.
    recent: [Option<(FlowKey, u32)>; 2],
    next_recent: usize,
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
        let state = self.flows.get(&PackedKey::pack(key)).copied();
        if let Some(FlowState::Known { flow }) = state {
            self.recent[self.next_recent] = Some((*key, flow));
            self.next_recent ^= 1;
        }
        state
    }

    /// Sets a flow's state; true when the cache did not hold the flow (new, or
    /// forgotten at the bound).
    pub fn set(&mut self, key: FlowKey, state: FlowState) -> bool {
        let packed = PackedKey::pack(&key);
        if self.flows.len() >= MAX_FLOWS && !self.flows.contains_key(&packed) {
            self.make_room();
        }
        for slot in &mut self.recent {
            if slot.is_some_and(|(k, _)| k == key) {
                *slot = None;
            }
        }
        self.flows.insert(packed, state).is_none()
    }

    /// At the bound, forgets what is cheap to learn again: flows given up on or still
    /// waiting for their owner (a later packet looks them up afresh). If known flows alone fill half
    /// the bound, they go too: their next packets are matched again and open new
    /// ledger flows, so a churn of millions of flows costs detail, not memory.
    fn make_room(&mut self) {
        self.flows
            .retain(|_, s| matches!(s, FlowState::Known { .. } | FlowState::Awaiting { .. }));
        if self.flows.len() >= MAX_FLOWS / 2 {
            self.flows.clear();
            self.recent = [None, None];
        }
    }

    /// Every flow whose owner is known, with its ledger index.
    pub fn known(&self) -> impl Iterator<Item = (FlowKey, u32)> + '_ {
        self.flows.iter().filter_map(|(k, s)| match s {
            FlowState::Known { flow } => Some((k.unpack(), *flow)),
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
    fn packed_keys_unpack_to_the_same_flow() {
        for (local, remote) in [
            ("10.0.0.1:80", "10.0.0.2:40000"),
            ("[fd00::1]:443", "[2001:db8::7]:5353"),
            ("0.0.0.0:53", "0.0.0.0:0"),
        ] {
            let key = FlowKey::new(Proto::Udp, local.parse().unwrap(), remote.parse().unwrap());
            assert_eq!(PackedKey::pack(&key).unpack(), key);
        }
        assert_eq!(std::mem::size_of::<PackedKey>(), 40);
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_known_flows_first() {
        let mut cache = FlowCache::default();
        cache.set(key(0), FlowState::Known { flow: 7 });
        let unowned = FlowState::Unowned {
            reason: crate::model::Unattributed::NoSocket,
            checked_gen: 1,
        };
        let mut taken = 1;
        for i in 1..MAX_FLOWS + 10 {
            taken += usize::from(cache.set(key(i), unowned));
        }
        assert!(cache.len() <= MAX_FLOWS);
        assert_eq!(cache.get(&key(0)), Some(FlowState::Known { flow: 7 }));
        assert_eq!(taken, MAX_FLOWS + 10, "each new flow reported as new");
        assert!(!cache.set(key(0), FlowState::Known { flow: 7 }), "held");
    }
}
