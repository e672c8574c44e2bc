use std::collections::HashSet;
use std::net::IpAddr;

use foldhash::fast::RandomState;

use crate::model::{canonical_ip, Direction, FlowKey};
use crate::wire::PacketSummary;

/// The addresses that belong to this host. Loopback ranges are always local.
///
/// Asked twice per packet: a host's handful of addresses are compared in a short list
/// (faster than hashing); many addresses (containers) go to a hash set.
#[derive(Clone, Debug, Default)]
pub struct LocalAddrs {
    few: Vec<IpAddr>,
    many: HashSet<IpAddr, RandomState>,
}

/// Up to this many addresses, a linear scan beats a hash lookup.
const LINEAR_LIMIT: usize = 8;

impl LocalAddrs {
    pub fn new(addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        let mut all: Vec<IpAddr> = addrs.into_iter().map(canonical_ip).collect();
        all.sort_unstable();
        all.dedup();
        if all.len() <= LINEAR_LIMIT {
            LocalAddrs {
                few: all,
                many: HashSet::default(),
            }
        } else {
            LocalAddrs {
                few: Vec::new(),
                many: all.into_iter().collect(),
            }
        }
    }

    /// These addresses and `more`.
    pub fn with(&self, more: impl IntoIterator<Item = IpAddr>) -> LocalAddrs {
        LocalAddrs::new(self.few.iter().chain(self.many.iter()).copied().chain(more))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_loopback()
            || self.few.contains(&ip)
            || (!self.many.is_empty() && self.many.contains(&ip))
    }
}

/// Where a packet's bytes belong, seen from the local sockets at either end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orientation {
    /// One end is local: one flow, one direction.
    One(FlowKey, Direction),
    /// Both ends are local (loopback, or between two of the host's addresses): the
    /// sender's socket sends it and the receiver's socket receives it.
    Both { sender: FlowKey, receiver: FlowKey },
    /// Neither end is this host.
    NotLocal,
}

/// Decides direction: a packet whose source is one of this host's addresses is outbound.
pub fn orient(p: &PacketSummary, local: &LocalAddrs) -> Orientation {
    let sender = || FlowKey::new(p.proto, p.src, p.dst);
    let receiver = || FlowKey::new(p.proto, p.dst, p.src);
    match (local.contains(p.src.ip()), local.contains(p.dst.ip())) {
        (true, true) => Orientation::Both {
            sender: sender(),
            receiver: receiver(),
        },
        (true, false) => Orientation::One(sender(), Direction::Out),
        (false, true) => Orientation::One(receiver(), Direction::In),
        (false, false) => Orientation::NotLocal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Proto, Timestamp};

    fn pkt(src: &str, dst: &str) -> PacketSummary {
        PacketSummary::one(
            Timestamp(0),
            Proto::Tcp,
            src.parse().unwrap(),
            dst.parse().unwrap(),
            100,
        )
    }

    fn host() -> LocalAddrs {
        LocalAddrs::new(["198.18.0.1".parse().unwrap(), "fd00::1".parse().unwrap()])
    }

    #[test]
    fn packet_from_a_local_address_is_outbound() {
        let o = orient(&pkt("198.18.0.1:5000", "198.18.0.2:80"), &host());
        let key = FlowKey::new(
            Proto::Tcp,
            "198.18.0.1:5000".parse().unwrap(),
            "198.18.0.2:80".parse().unwrap(),
        );
        assert_eq!(o, Orientation::One(key, Direction::Out));
    }

    #[test]
    fn packet_to_a_local_address_is_inbound_on_the_local_socket() {
        let o = orient(&pkt("[fd00::2]:80", "[fd00::1]:5000"), &host());
        let key = FlowKey::new(
            Proto::Tcp,
            "[fd00::1]:5000".parse().unwrap(),
            "[fd00::2]:80".parse().unwrap(),
        );
        assert_eq!(o, Orientation::One(key, Direction::In));
    }

    #[test]
    fn loopback_packet_belongs_to_both_ends() {
        let o = orient(&pkt("127.0.0.1:5000", "127.0.0.1:80"), &host());
        match o {
            Orientation::Both { sender, receiver } => {
                assert_eq!(sender.local.port(), 5000);
                assert_eq!(receiver.local.port(), 80);
                assert_eq!(receiver.remote.port(), 5000);
            }
            other => panic!("expected both ends, got {other:?}"),
        }
    }

    #[test]
    fn many_addresses_are_looked_up_as_well_as_few() {
        let many = LocalAddrs::new((1..=40).map(|i| format!("198.18.1.{i}").parse().unwrap()));
        assert!(many.contains("198.18.1.40".parse().unwrap()));
        assert!(!many.contains("198.18.1.41".parse().unwrap()));
        assert!(many.contains("127.0.0.1".parse().unwrap()));
        let mapped = LocalAddrs::new(["::ffff:198.18.0.9".parse().unwrap()]);
        assert!(mapped.contains("198.18.0.9".parse().unwrap()));
    }

    #[test]
    fn traffic_between_two_other_hosts_is_not_local() {
        let o = orient(&pkt("198.18.0.7:1", "198.18.0.8:2"), &host());
        assert_eq!(o, Orientation::NotLocal);
    }
}
