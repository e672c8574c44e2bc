//! The kernel socket log as a lookup: which process used a socket, by flow.
//!
//! Fed by `os::ebpf` (records made in the process's own context, kept after the socket
//! closed); consulted for flows that /proc cannot resolve. Bounded: two generations of
//! at most [`GENERATION_CAP`] sockets each, the older dropped whole when the newer fills,
//! so recently logged sockets are always kept.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use super::wildcard::candidates;
use crate::model::{FlowKey, ProcessInfo, Proto};

/// Sockets per generation: two generations hold at most twice this (about 7 MiB). A
/// logged socket is looked up within milliseconds of its record, so the newest 65,536
/// are plenty.
pub const GENERATION_CAP: usize = 32_768;

/// One socket as the kernel logged it: the tuple it had when the process used it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedSocket {
    pub proto: Proto,
    pub local: SocketAddr,
    /// Port 0 for an unconnected UDP socket (it talks to many peers).
    pub remote: SocketAddr,
    /// IPV6_V6ONLY: an IPv6 socket that never receives IPv4.
    pub v6only: bool,
    /// The socket's network namespace (inode number).
    pub netns: u64,
    pub owner: Arc<ProcessInfo>,
}

#[derive(Default)]
struct Generation {
    connected: HashMap<FlowKey, Arc<ProcessInfo>, foldhash::fast::RandomState>,
    /// Unconnected UDP sockets by (local address, possibly unspecified) and port.
    bound_udp: HashMap<SocketAddr, BoundOwner, foldhash::fast::RandomState>,
}

/// Who used an unconnected UDP socket, and whether it refuses IPv4 (IPV6_V6ONLY).
struct BoundOwner {
    owner: Arc<ProcessInfo>,
    v6only: bool,
}

impl Generation {
    fn len(&self) -> usize {
        self.connected.len() + self.bound_udp.len()
    }

    fn connected(&self, key: &FlowKey) -> Option<&Arc<ProcessInfo>> {
        self.connected.get(key)
    }

    fn bound(&self, local: &SocketAddr) -> Option<&BoundOwner> {
        self.bound_udp.get(local)
    }
}

/// The sockets the kernel logged, newest first.
#[derive(Default)]
pub struct SocketLog {
    current: Generation,
    previous: Generation,
    /// netflow's own network namespace: only its wildcard sockets may match by port
    /// (another namespace's `0.0.0.0:53` says nothing about this host's port 53).
    own_netns: u64,
    /// Sockets ever added: while none were, no scan waits for the log's records.
    added: u64,
}

impl SocketLog {
    /// Sockets ever added (the engine's scans wait for the log only once it speaks).
    pub fn added(&self) -> u64 {
        self.added
    }

    pub fn new(own_netns: u64) -> SocketLog {
        SocketLog {
            own_netns,
            ..SocketLog::default()
        }
    }

    /// Adds a logged socket. Returns whether it told something new (a socket not
    /// known, or known with another owner).
    pub fn add(&mut self, s: LoggedSocket) -> bool {
        if s.local.ip().is_unspecified() && s.netns != self.own_netns {
            return false;
        }
        self.added += 1;
        if self.current.len() >= GENERATION_CAP {
            self.previous = std::mem::take(&mut self.current);
        }
        let key = FlowKey::new(s.proto, s.local, s.remote);
        let previous = if s.remote.port() == 0 {
            if s.proto != Proto::Udp {
                return false; // a TCP socket is only logged once connected
            }
            let bound = BoundOwner {
                owner: s.owner.clone(),
                v6only: s.v6only,
            };
            self.current
                .bound_udp
                .insert(key.local, bound)
                .map(|b| b.owner)
        } else {
            self.current.connected.insert(key, s.owner.clone())
        };
        previous.is_none_or(|p| p.key != s.owner.key)
    }

    /// The process that used the flow's socket: the exact tuple, else (UDP) the socket
    /// that receives on its local address by the wildcard rule ([`candidates`]): the
    /// newest socket logged at the first candidate address, unless it refuses the
    /// flow's family. Only wildcard sockets of netflow's own namespace are logged, so
    /// wildcards always apply.
    pub fn lookup(&self, flow: &FlowKey) -> Option<Arc<ProcessInfo>> {
        let gens = [&self.current, &self.previous];
        if let Some(owner) = gens.iter().find_map(|g| g.connected(flow)) {
            return Some(owner.clone());
        }
        if flow.proto != Proto::Udp {
            return None;
        }
        candidates(flow.local, true).find_map(|c| {
            gens.iter()
                .find_map(|g| g.bound(&c.bound))
                .filter(|b| c.admits(b.v6only))
                .map(|b| b.owner.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(proto: Proto, local: &str, remote: &str, pid: u32) -> LoggedSocket {
        LoggedSocket {
            proto,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            v6only: false,
            netns: OWN,
            owner: Arc::new(ProcessInfo::sample(pid, 1, "client")),
        }
    }

    const OWN: u64 = 4026531840;

    fn flow(proto: Proto, local: &str, remote: &str) -> FlowKey {
        FlowKey::new(proto, local.parse().unwrap(), remote.parse().unwrap())
    }

    fn owner_pid(log: &SocketLog, f: FlowKey) -> Option<u32> {
        log.lookup(&f).map(|o| o.key.pid)
    }

    #[test]
    fn connected_sockets_match_by_their_tuple_only() {
        let mut log = SocketLog::new(OWN);
        assert!(log.add(logged(Proto::Tcp, "10.0.0.1:40000", "10.0.0.2:80", 7)));
        let f = flow(Proto::Tcp, "10.0.0.1:40000", "10.0.0.2:80");
        assert_eq!(owner_pid(&log, f), Some(7));
        let other = flow(Proto::Tcp, "10.0.0.1:40001", "10.0.0.2:80");
        assert_eq!(owner_pid(&log, other), None);
    }

    #[test]
    fn unconnected_udp_matches_by_local_port_through_wildcards() {
        let mut log = SocketLog::new(OWN);
        log.add(logged(Proto::Udp, "0.0.0.0:5353", "0.0.0.0:0", 8));
        log.add(logged(Proto::Udp, "[::]:6000", "[::]:0", 9));
        let v4 = flow(Proto::Udp, "10.0.0.1:5353", "10.0.0.2:53");
        assert_eq!(owner_pid(&log, v4), Some(8));
        // A dual-stack socket receives IPv4 too.
        let mapped = flow(Proto::Udp, "10.0.0.1:6000", "10.0.0.2:53");
        assert_eq!(owner_pid(&log, mapped), Some(9));
        // An IPv4 wildcard never covers IPv6.
        let v6 = flow(Proto::Udp, "[fd00::1]:5353", "[fd00::2]:53");
        assert_eq!(owner_pid(&log, v6), None);
        // TCP never matches by port alone.
        let tcp = flow(Proto::Tcp, "10.0.0.1:5353", "10.0.0.2:53");
        assert_eq!(owner_pid(&log, tcp), None);
    }

    #[test]
    fn each_family_goes_to_its_own_wildcard_and_ipv4_never_to_a_v6only_one() {
        let mut log = SocketLog::new(OWN);
        log.add(logged(Proto::Udp, "0.0.0.0:53", "0.0.0.0:0", 10));
        let mut v6only = logged(Proto::Udp, "[::]:53", "[::]:0", 20);
        v6only.v6only = true;
        log.add(v6only.clone());
        let v4 = flow(Proto::Udp, "10.0.0.1:53", "10.0.0.2:4000");
        let v6 = flow(Proto::Udp, "[fd00::1]:53", "[fd00::2]:4000");
        assert_eq!(owner_pid(&log, v4), Some(10));
        assert_eq!(owner_pid(&log, v6), Some(20));

        // Alone, the V6ONLY socket still gets no IPv4 (the kernel refuses it).
        let mut alone = SocketLog::new(OWN);
        alone.add(v6only);
        assert_eq!(owner_pid(&alone, v4), None);
        assert_eq!(owner_pid(&alone, v6), Some(20));
    }

    #[test]
    fn another_namespaces_wildcard_socket_never_matches_by_port() {
        let mut log = SocketLog::new(OWN);
        let mut container = logged(Proto::Udp, "0.0.0.0:53", "0.0.0.0:0", 8);
        container.netns = OWN + 1;
        assert!(!log.add(container));
        let mut bound = logged(Proto::Udp, "10.88.0.2:54", "0.0.0.0:0", 9);
        bound.netns = OWN + 1;
        assert!(log.add(bound), "its own address is its own");
        assert_eq!(
            owner_pid(&log, flow(Proto::Udp, "10.0.0.1:53", "10.0.0.2:9")),
            None
        );
        assert_eq!(
            owner_pid(&log, flow(Proto::Udp, "10.88.0.2:54", "10.0.0.2:9")),
            Some(9)
        );
    }

    #[test]
    fn v4_mapped_tuples_match_plain_ipv4_packets() {
        let mut log = SocketLog::new(OWN);
        log.add(logged(
            Proto::Tcp,
            "[::ffff:10.0.0.1]:40000",
            "[::ffff:10.0.0.2]:80",
            7,
        ));
        let f = flow(Proto::Tcp, "10.0.0.1:40000", "10.0.0.2:80");
        assert_eq!(owner_pid(&log, f), Some(7));
    }

    #[test]
    fn a_repeat_tells_nothing_new_but_a_new_owner_does() {
        let mut log = SocketLog::new(OWN);
        assert!(log.add(logged(Proto::Tcp, "10.0.0.1:1", "10.0.0.2:2", 7)));
        assert!(!log.add(logged(Proto::Tcp, "10.0.0.1:1", "10.0.0.2:2", 7)));
        assert!(log.add(logged(Proto::Tcp, "10.0.0.1:1", "10.0.0.2:2", 8)));
    }

    #[test]
    fn the_log_stays_bounded_and_keeps_the_newest_sockets() {
        let mut log = SocketLog::new(OWN);
        let total = GENERATION_CAP * 2 + 10;
        for i in 0..total {
            let local = format!(
                "10.0.{}.{}:{}",
                i >> 16 & 0xff,
                i >> 8 & 0xff,
                1000 + (i & 0xff)
            );
            log.add(logged(Proto::Tcp, &local, "10.9.9.9:80", 1));
        }
        assert!(log.current.len() + log.previous.len() <= GENERATION_CAP * 2);
        let newest = total - 1;
        let local = format!(
            "10.0.{}.{}:{}",
            newest >> 16 & 0xff,
            newest >> 8 & 0xff,
            1000 + (newest & 0xff)
        );
        assert!(log
            .lookup(&flow(Proto::Tcp, &local, "10.9.9.9:80"))
            .is_some());
        assert!(log
            .lookup(&flow(Proto::Tcp, "10.0.0.0:1000", "10.9.9.9:80"))
            .is_none());
    }
}
