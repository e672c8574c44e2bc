use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::wildcard::candidates;
use super::LocalAddrs;
use crate::model::{
    canonical_ip, FlowKey, MatchQuality, ProcessInfo, Proto, Timestamp, Unattributed,
};

/// One row of /proc/net/{tcp,tcp6,udp,udp6}, already decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketRow {
    pub proto: Proto,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub inode: u64,
    /// A TCP socket in LISTEN state.
    pub listening: bool,
    /// Whether an IPv6 socket refuses IPv4 (matters for a `[::]` socket not connected).
    pub v6only: V6Only,
}

impl SocketRow {
    /// A TCP listener or an unconnected UDP socket: it receives from any peer, so it is
    /// found by its local address (possibly a wildcard), not by a 4-tuple.
    fn unconnected(&self) -> bool {
        self.listening || (self.proto == Proto::Udp && self.remote.port() == 0)
    }
}

/// Whether an IPv6 socket refuses IPv4 (IPV6_V6ONLY), as far as its source tells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum V6Only {
    /// sock_diag's INET_DIAG_SKV6ONLY says so.
    Yes,
    /// sock_diag says the socket is dual-stack, or it is an IPv4 socket.
    No,
    /// The source does not say: /proc/net/{tcp,udp}6 have no such column. See
    /// [`Presumed`] for what the table assumes.
    #[default]
    Unknown,
}

impl From<bool> for V6Only {
    fn from(v6only: bool) -> V6Only {
        if v6only {
            V6Only::Yes
        } else {
            V6Only::No
        }
    }
}

/// The IPV6_V6ONLY flag of one namespace's rows, with `Unknown` (/proc/net rows)
/// resolved: set when an IPv4 socket of the same protocol is bound (not connected) to
/// the same port in the same namespace, dual-stack otherwise.
///
/// Why: the kernel refuses an IPv4 bind on port P next to a dual-stack `[::]:P` (and the
/// reverse) unless both sockets set SO_REUSEADDR or SO_REUSEPORT, so such a pair is
/// almost always a V6ONLY `[::]:P` beside its IPv4 twin (nginx's `listen 80;` and
/// `listen [::]:80;`); a lone `[::]:P` is dual-stack by default (net.ipv6.bindv6only
/// = 0). The guess only decides IPv4 traffic that no IPv4 socket takes first.
struct Presumed {
    /// (protocol, port) of every unconnected IPv4 socket, sorted.
    v4_ports: Vec<(Proto, u16)>,
}

impl Presumed {
    fn of(rows: &[SocketRow]) -> Presumed {
        let mut v4_ports: Vec<(Proto, u16)> = rows
            .iter()
            .filter(|r| r.unconnected() && canonical_ip(r.local.ip()).is_ipv4())
            .map(|r| (r.proto, r.local.port()))
            .collect();
        v4_ports.sort_unstable();
        v4_ports.dedup();
        Presumed { v4_ports }
    }

    fn v6only(&self, row: &SocketRow) -> bool {
        match row.v6only {
            V6Only::Yes => true,
            V6Only::No => false,
            V6Only::Unknown => {
                canonical_ip(row.local.ip()).is_ipv6()
                    && self
                        .v4_ports
                        .binary_search(&(row.proto, row.local.port()))
                        .is_ok()
            }
        }
    }
}

/// Everything one scan of /proc found, as plain data (built by `os::procfs`, or by
/// hand in tests).
#[derive(Clone, Debug, Default)]
pub struct ScanResult {
    /// When the scan began: a packet seen before this instant had its socket open
    /// while the scan ran, so a miss after this scan is final.
    pub started_at: Timestamp,
    pub sockets: Vec<SocketRow>,
    /// (pid, socket inode) for every socket fd of every readable process.
    pub fds: Vec<(u32, u64)>,
    pub processes: Vec<ProcessInfo>,
    pub local_addrs: Vec<IpAddr>,
    /// Processes whose fd table could not be read (permissions, or gone mid-scan).
    pub unreadable_processes: u32,
    /// Other network namespaces (containers) whose processes hold sockets.
    pub namespaces: Vec<NamespaceScan>,
    /// What the scan left out to stay within its memory budget.
    pub skipped: Skipped,
}

/// What a scan left out to stay within its memory budget (`os::procfs` sizes it from
/// netflow's cgroup memory limit): counted and reported, never silent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Socket rows seen, kept or not.
    pub sockets_seen: u64,
    /// Socket rows left out: their traffic shows as `no_socket`.
    pub sockets: u64,
    /// Fds not read (or read but not kept): their sockets' traffic shows as
    /// `no_process`.
    pub fds: u64,
    /// Processes whose fds were not read.
    pub processes: u32,
}

impl Skipped {
    pub fn any(&self) -> bool {
        self.sockets > 0 || self.fds > 0
    }

    /// The scan that left out more, for a report that covers many scans.
    pub fn worse(self, other: Skipped) -> Skipped {
        if (other.sockets, other.fds) > (self.sockets, self.fds) {
            other
        } else {
            self
        }
    }
}

/// The socket table and addresses of one other network namespace, read through one of
/// its member processes (/proc/PID/net/*).
#[derive(Clone, Debug, Default)]
pub struct NamespaceScan {
    /// The namespace's inode (`/proc/PID/ns/net`).
    pub id: u64,
    pub sockets: Vec<SocketRow>,
    /// Its interfaces' addresses, loopback excluded.
    pub addrs: Vec<IpAddr>,
}

/// The answer to "who owns this flow?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    Owned(Arc<ProcessInfo>, MatchQuality),
    Unowned(Unattributed),
}

/// An immutable snapshot of the host's sockets and their holders, indexed for lookup
/// by flow. Built off the hot path (in the rescan thread) and swapped in whole.
#[derive(Debug, Default)]
pub struct SocketTable {
    pub generation: u64,
    pub started_at: Timestamp,
    /// Addresses of this host and of every namespace scanned: a packet to or from one
    /// of them belongs to a local socket.
    pub local: LocalAddrs,
    /// Addresses of netflow's own namespace: only sockets there may match by wildcard
    /// (0.0.0.0, ::); other namespaces' wildcards are expanded to their addresses.
    own: LocalAddrs,
    pub unreadable_processes: u32,
    /// What the scan behind this table left out (see [`Skipped`]).
    pub skipped: Skipped,
    connected: HashMap<FlowKey, u64>,
    /// Unconnected UDP sockets by local address (possibly 0.0.0.0 or ::).
    bound_udp: BoundIndex,
    /// Listening TCP sockets by local address (possibly 0.0.0.0 or ::).
    listeners: BoundIndex,
    /// (socket inode, pid) for every fd of a socket in the table, sorted: 16 bytes a
    /// socket, where a map of inode to a pid list took ~70 (a bucket and a heap block
    /// each). A table of 100k sockets is held twice while a rescan replaces it.
    holders: Vec<(u64, u32)>,
    processes: HashMap<u32, Arc<ProcessInfo>>,
}

/// Unconnected sockets (TCP listeners, bound UDP), sorted, so one address's sockets are
/// adjacent, most specific first. 32 bytes a socket; a map of address to inode list
/// took ~90.
type BoundIndex = Vec<Bound>;

/// An unconnected socket, listed under an address it receives on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Bound {
    ip: IpAddr,
    port: u16,
    /// How the socket receives on this address: its place in
    /// [`candidates`](super::wildcard::candidates) for it. 0 when bound to the address
    /// itself (or to a wildcard, listed as bound); more for another namespace's
    /// wildcard socket listed under each of that namespace's addresses. The lowest wins.
    rank: u8,
    /// IPV6_V6ONLY, as read or presumed (see [`Presumed`]).
    v6only: bool,
    inode: u64,
}

impl Bound {
    fn new(at: SocketAddr, rank: usize, v6only: bool, inode: u64) -> Bound {
        Bound {
            ip: at.ip(),
            port: at.port(),
            rank: u8::try_from(rank).unwrap_or(u8::MAX),
            v6only,
            inode,
        }
    }
}

/// The sockets listed under `addr`, lowest rank first.
fn bound_at(index: &[Bound], addr: SocketAddr) -> &[Bound] {
    let key = (addr.ip(), addr.port());
    let start = index.partition_point(|b| (b.ip, b.port) < key);
    let len = index[start..].partition_point(|b| (b.ip, b.port) == key);
    &index[start..start + len]
}

/// The inodes of the sockets that receive traffic to `local`: at the first of its
/// [`candidates`] that lists a socket admitting the flow's family, those of the lowest
/// rank. `wildcards` as for [`candidates`].
fn receivers(
    index: &[Bound],
    local: SocketAddr,
    wildcards: bool,
) -> Option<impl Iterator<Item = u64> + '_> {
    candidates(local, wildcards).find_map(|c| {
        let mut admitted = bound_at(index, c.bound)
            .iter()
            .filter(move |b| c.admits(b.v6only))
            .peekable();
        let rank = admitted.peek()?.rank;
        Some(
            admitted
                .take_while(move |b| b.rank == rank)
                .map(|b| b.inode),
        )
    })
}

/// The lookup maps, filled row by row.
#[derive(Default)]
struct Index {
    connected: HashMap<FlowKey, u64>,
    bound_udp: BoundIndex,
    listeners: BoundIndex,
}

impl Index {
    /// Adds a row of a namespace whose flags `presumed` resolves. `ns_addrs` is set
    /// for another namespace's rows: its wildcard sockets are entered under that
    /// namespace's own addresses (those the wildcard rule lets them receive), so they
    /// never match traffic of the host or of other containers.
    fn add(&mut self, row: &SocketRow, presumed: &Presumed, ns_addrs: Option<&[IpAddr]>) {
        let key = FlowKey::new(row.proto, row.local, row.remote);
        let bound = if row.listening {
            &mut self.listeners
        } else if row.unconnected() {
            &mut self.bound_udp
        } else {
            if row.remote.port() != 0 {
                self.connected.entry(key).or_insert(row.inode);
            }
            return;
        };
        let v6only = presumed.v6only(row);
        match ns_addrs {
            Some(addrs) if key.local.ip().is_unspecified() => {
                for &addr in addrs {
                    let at = SocketAddr::new(addr, key.local.port());
                    if let Some(rank) =
                        candidates(at, true).position(|c| c.bound == key.local && c.admits(v6only))
                    {
                        bound.push(Bound::new(at, rank, v6only, row.inode));
                    }
                }
            }
            _ => bound.push(Bound::new(key.local, 0, v6only, row.inode)),
        }
    }

    /// Sorts the bound indexes for lookup.
    fn finish(&mut self) {
        for bound in [&mut self.bound_udp, &mut self.listeners] {
            bound.sort_unstable();
            bound.dedup();
            bound.shrink_to_fit();
        }
    }
}

/// How far up the parent chain a shared socket's holder may be found. Real process
/// trees are shallow; the bound only guards against a malformed (cyclic) table.
const MAX_ANCESTRY: usize = 64;

impl SocketTable {
    /// No sockets known yet (generation 0), but the host's addresses are.
    pub fn empty(local: LocalAddrs) -> SocketTable {
        SocketTable {
            own: local.clone(),
            local,
            ..SocketTable::default()
        }
    }

    pub fn build(generation: u64, scan: ScanResult) -> SocketTable {
        let rows = || {
            scan.sockets
                .iter()
                .chain(scan.namespaces.iter().flat_map(|ns| ns.sockets.iter()))
        };
        // Sized for the connected rows only: a host of 100k bound UDP sockets would
        // otherwise reserve ~10 MB of empty buckets.
        let connected = rows().filter(|r| r.remote.port() != 0 && !r.listening);
        let mut index = Index {
            connected: HashMap::with_capacity(connected.count()),
            ..Index::default()
        };
        let presumed = Presumed::of(&scan.sockets);
        for row in &scan.sockets {
            index.add(row, &presumed, None);
        }
        let mut all_addrs = scan.local_addrs.clone();
        for ns in &scan.namespaces {
            all_addrs.extend(ns.addrs.iter().copied());
            let presumed = Presumed::of(&ns.sockets);
            for row in &ns.sockets {
                // A namespace's loopback traffic never crosses the host's interfaces.
                if !row.local.ip().is_loopback() {
                    index.add(row, &presumed, Some(&ns.addrs));
                }
            }
        }
        index.finish();
        // Only the holders of sockets in the table: every process holds unix and
        // netlink sockets, and other namespaces' fds are walked too.
        let mut inodes: Vec<u64> = rows().map(|r| r.inode).filter(|&i| i != 0).collect();
        inodes.sort_unstable();
        inodes.dedup();
        let mut holders: Vec<(u64, u32)> = scan
            .fds
            .iter()
            .filter(|(_, inode)| inodes.binary_search(inode).is_ok())
            .map(|&(pid, inode)| (inode, pid))
            .collect();
        drop(inodes);
        holders.sort_unstable();
        holders.dedup();
        holders.shrink_to_fit();
        let processes = scan
            .processes
            .into_iter()
            .map(|p| (p.key.pid, Arc::new(p)))
            .collect();
        SocketTable {
            generation,
            started_at: scan.started_at,
            local: LocalAddrs::new(all_addrs),
            own: LocalAddrs::new(scan.local_addrs),
            unreadable_processes: scan.unreadable_processes,
            skipped: scan.skipped,
            connected: index.connected,
            bound_udp: index.bound_udp,
            listeners: index.listeners,
            holders,
            processes,
        }
    }

    /// The fallback once a scan has missed a flow's own socket: traffic to a local TCP
    /// port belongs to the process listening on it (the accepted socket closed, or was
    /// not yet accepted). `None` when nothing listens there.
    pub fn listener_of(&self, flow: &FlowKey) -> Option<Lookup> {
        if flow.proto != Proto::Tcp {
            return None;
        }
        let inodes = receivers(&self.listeners, flow.local, self.is_own(flow.local))?;
        Some(self.owner_of(inodes, MatchQuality::Listener))
    }

    /// Finds the process that owns `flow`: the exact 4-tuple first, then, for UDP, an
    /// unconnected socket that receives on its local address (the wildcard rule in
    /// [`candidates`]: bound to the address, else to the wildcard of the flow's family,
    /// else, for IPv4, to a dual-stack `[::]`).
    pub fn lookup(&self, flow: &FlowKey) -> Lookup {
        if let Some(&inode) = self.connected.get(flow) {
            return self.owner_of([inode], MatchQuality::Exact);
        }
        if flow.proto == Proto::Udp {
            if let Some(inodes) = receivers(&self.bound_udp, flow.local, self.is_own(flow.local)) {
                return self.owner_of(inodes, MatchQuality::BoundUdp);
            }
        }
        Lookup::Unowned(Unattributed::NoSocket)
    }

    /// Resolves socket inodes to one process. Several holders are fine when one of
    /// them is an ancestor of all the others (a forked child inherited the socket), or
    /// when they are siblings whose parent netflow knows (pre-fork workers whose master
    /// closed its copy); unrelated holders are ambiguous and never guessed between.
    fn owner_of(&self, inodes: impl IntoIterator<Item = u64>, quality: MatchQuality) -> Lookup {
        let mut pids: Vec<u32> = Vec::new();
        for inode in inodes {
            let start = self.holders.partition_point(|&(i, _)| i < inode);
            for &(_, pid) in self.holders[start..]
                .iter()
                .take_while(|&&(i, _)| i == inode)
            {
                if self.processes.contains_key(&pid) && !pids.contains(&pid) {
                    pids.push(pid);
                }
            }
        }
        match pids.as_slice() {
            [] => Lookup::Unowned(Unattributed::NoProcess),
            [pid] => Lookup::Owned(self.processes[pid].clone(), quality),
            _ => match pids
                .iter()
                .find(|&&root| pids.iter().all(|&p| self.descends_from(p, root)))
            {
                Some(root) => {
                    Lookup::Owned(self.processes[root].clone(), MatchQuality::SharedParent)
                }
                None => match self.common_parent(&pids) {
                    Some(parent) => Lookup::Owned(parent, MatchQuality::SharedParent),
                    None => Lookup::Unowned(Unattributed::Ambiguous),
                },
            },
        }
    }

    /// Whether `local` is an address of netflow's own namespace, where wildcard sockets
    /// are listed as bound (other namespaces' are listed under their addresses).
    fn is_own(&self, local: SocketAddr) -> bool {
        self.own.contains(local.ip())
    }

    /// The parent all `pids` share, if netflow read it. Never init (pid 1): unrelated
    /// daemons and orphans all have it as parent.
    fn common_parent(&self, pids: &[u32]) -> Option<Arc<ProcessInfo>> {
        let ppid = self.processes.get(pids.first()?)?.ppid;
        let all_siblings = pids
            .iter()
            .all(|p| self.processes.get(p).is_some_and(|i| i.ppid == ppid));
        if ppid <= 1 || !all_siblings {
            return None;
        }
        self.processes.get(&ppid).cloned()
    }

    fn descends_from(&self, pid: u32, ancestor: u32) -> bool {
        let mut current = pid;
        for _ in 0..MAX_ANCESTRY {
            if current == ancestor {
                return true;
            }
            match self.processes.get(&current) {
                Some(p) if p.ppid != current => current = p.ppid,
                _ => return false,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_info(pid: u32, ppid: u32, name: &str) -> ProcessInfo {
        ProcessInfo::sample(pid, ppid, name)
    }

    fn row(proto: Proto, local: &str, remote: &str, inode: u64) -> SocketRow {
        SocketRow {
            proto,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            inode,
            listening: false,
            v6only: V6Only::Unknown,
        }
    }

    fn flow(proto: Proto, local: &str, remote: &str) -> FlowKey {
        FlowKey::new(proto, local.parse().unwrap(), remote.parse().unwrap())
    }

    fn owner_pid(l: Lookup) -> (u32, MatchQuality) {
        match l {
            Lookup::Owned(p, q) => (p.key.pid, q),
            other => panic!("expected an owner, got {other:?}"),
        }
    }

    fn table(
        sockets: Vec<SocketRow>,
        fds: Vec<(u32, u64)>,
        procs: Vec<ProcessInfo>,
    ) -> SocketTable {
        SocketTable::build(
            1,
            ScanResult {
                sockets,
                fds,
                processes: procs,
                local_addrs: vec!["10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap()],
                ..ScanResult::default()
            },
        )
    }

    #[test]
    fn exact_four_tuple_finds_the_holder() {
        let t = table(
            vec![row(Proto::Tcp, "10.0.0.1:5000", "10.0.0.2:80", 77)],
            vec![(42, 77)],
            vec![proc_info(42, 1, "curl")],
        );
        let got = t.lookup(&flow(Proto::Tcp, "10.0.0.1:5000", "10.0.0.2:80"));
        assert_eq!(owner_pid(got), (42, MatchQuality::Exact));
    }

    #[test]
    fn dual_stack_socket_row_matches_ipv4_packets() {
        let t = table(
            vec![row(
                Proto::Tcp,
                "[::ffff:10.0.0.1]:80",
                "[::ffff:10.0.0.2]:4000",
                5,
            )],
            vec![(7, 5)],
            vec![proc_info(7, 1, "nginx")],
        );
        let got = t.lookup(&flow(Proto::Tcp, "10.0.0.1:80", "10.0.0.2:4000"));
        assert_eq!(owner_pid(got).0, 7);
    }

    #[test]
    fn wildcard_udp_socket_matches_by_local_port() {
        let t = table(
            vec![row(Proto::Udp, "0.0.0.0:53", "0.0.0.0:0", 9)],
            vec![(300, 9)],
            vec![proc_info(300, 1, "dnsd")],
        );
        let got = t.lookup(&flow(Proto::Udp, "10.0.0.1:53", "10.0.0.9:3333"));
        assert_eq!(owner_pid(got), (300, MatchQuality::BoundUdp));
    }

    #[test]
    fn ipv6_wildcard_udp_socket_also_receives_ipv4() {
        let t = table(
            vec![row(Proto::Udp, "[::]:9999", "[::]:0", 9)],
            vec![(300, 9)],
            vec![proc_info(300, 1, "dnsd")],
        );
        let got = t.lookup(&flow(Proto::Udp, "10.0.0.1:9999", "10.0.0.9:3333"));
        assert_eq!(owner_pid(got).0, 300);
    }

    fn v6only(mut r: SocketRow, flag: V6Only) -> SocketRow {
        r.v6only = flag;
        r
    }

    /// pid 10 holds UDP 0.0.0.0:53 and pid 20 [::]:53 with IPV6_V6ONLY, as sock_diag
    /// reports them (issue #15 item 5).
    fn ipv4_and_v6only_twins() -> SocketTable {
        table(
            vec![
                v6only(row(Proto::Udp, "0.0.0.0:53", "0.0.0.0:0", 1), V6Only::No),
                v6only(row(Proto::Udp, "[::]:53", "[::]:0", 2), V6Only::Yes),
            ],
            vec![(10, 1), (20, 2)],
            vec![proc_info(10, 1, "dns4"), proc_info(20, 1, "dns6")],
        )
    }

    #[test]
    fn ipv6_traffic_never_matches_an_ipv4_wildcard() {
        let t = ipv4_and_v6only_twins();
        let got = t.lookup(&flow(Proto::Udp, "[fd00::1]:53", "[fd00::9]:3333"));
        assert_eq!(owner_pid(got), (20, MatchQuality::BoundUdp));
        let got = t.lookup(&flow(Proto::Udp, "10.0.0.1:53", "10.0.0.9:3333"));
        assert_eq!(owner_pid(got), (10, MatchQuality::BoundUdp));
    }

    #[test]
    fn ipv6_traffic_to_a_port_only_0_0_0_0_holds_has_no_socket() {
        let t = table(
            vec![row(Proto::Udp, "0.0.0.0:53", "0.0.0.0:0", 1)],
            vec![(10, 1)],
            vec![proc_info(10, 1, "dns4")],
        );
        let got = t.lookup(&flow(Proto::Udp, "[fd00::1]:53", "[fd00::9]:3333"));
        assert_eq!(got, Lookup::Unowned(Unattributed::NoSocket));
    }

    #[test]
    fn ipv4_traffic_never_matches_a_v6only_wildcard() {
        let t = table(
            vec![v6only(row(Proto::Udp, "[::]:53", "[::]:0", 2), V6Only::Yes)],
            vec![(20, 2)],
            vec![proc_info(20, 1, "dns6")],
        );
        let got = t.lookup(&flow(Proto::Udp, "10.0.0.1:53", "10.0.0.9:3333"));
        assert_eq!(got, Lookup::Unowned(Unattributed::NoSocket));
        let got = t.lookup(&flow(Proto::Udp, "[fd00::1]:53", "[fd00::9]:3333"));
        assert_eq!(owner_pid(got).0, 20);
    }

    #[test]
    fn a_known_dual_stack_wildcard_receives_ipv4_even_beside_an_ipv4_socket() {
        // A pair the kernel allows when both set SO_REUSEADDR: 127.0.0.1 goes to the
        // socket bound there, any other IPv4 address to the dual-stack [::].
        let t = table(
            vec![
                v6only(row(Proto::Udp, "127.0.0.1:53", "0.0.0.0:0", 1), V6Only::No),
                v6only(row(Proto::Udp, "[::]:53", "[::]:0", 2), V6Only::No),
            ],
            vec![(10, 1), (20, 2)],
            vec![proc_info(10, 1, "lo4"), proc_info(20, 1, "dual")],
        );
        let got = t.lookup(&flow(Proto::Udp, "10.0.0.1:53", "10.0.0.9:3333"));
        assert_eq!(owner_pid(got).0, 20);
        let got = t.lookup(&flow(Proto::Udp, "127.0.0.1:53", "127.0.0.1:3333"));
        assert_eq!(owner_pid(got).0, 10);
    }

    #[test]
    fn without_the_flag_a_wildcard_beside_an_ipv4_twin_is_presumed_v6only() {
        // /proc/net text rows: V6Only::Unknown.
        let t = table(
            vec![
                row(Proto::Udp, "127.0.0.1:53", "0.0.0.0:0", 1),
                row(Proto::Udp, "[::]:53", "[::]:0", 2),
                row(Proto::Udp, "[::]:54", "[::]:0", 3),
            ],
            vec![(10, 1), (20, 2), (20, 3)],
            vec![proc_info(10, 1, "lo4"), proc_info(20, 1, "dns6")],
        );
        let got = t.lookup(&flow(Proto::Udp, "10.0.0.1:53", "10.0.0.9:3333"));
        assert_eq!(got, Lookup::Unowned(Unattributed::NoSocket));
        let got = t.lookup(&flow(Proto::Udp, "10.0.0.1:54", "10.0.0.9:3333"));
        assert_eq!(owner_pid(got).0, 20, "a lone [::] is dual-stack");
    }

    #[test]
    fn a_v6only_listener_is_no_fallback_for_ipv4() {
        let mut listen = v6only(row(Proto::Tcp, "[::]:8080", "[::]:0", 3), V6Only::Yes);
        listen.listening = true;
        let t = table(
            vec![listen],
            vec![(90, 3)],
            vec![proc_info(90, 1, "server")],
        );
        assert!(t
            .listener_of(&flow(Proto::Tcp, "10.0.0.1:8080", "10.0.0.2:40000"))
            .is_none());
        let got = t.listener_of(&flow(Proto::Tcp, "[fd00::1]:8080", "[fd00::2]:40000"));
        assert_eq!(owner_pid(got.unwrap()), (90, MatchQuality::Listener));
    }

    #[test]
    fn specific_bound_address_wins_over_wildcard() {
        let t = table(
            vec![
                row(Proto::Udp, "0.0.0.0:53", "0.0.0.0:0", 1),
                row(Proto::Udp, "127.0.0.53:53", "0.0.0.0:0", 2),
            ],
            vec![(10, 1), (20, 2)],
            vec![proc_info(10, 1, "a"), proc_info(20, 1, "b")],
        );
        let got = t.lookup(&flow(Proto::Udp, "127.0.0.53:53", "127.0.0.1:999"));
        assert_eq!(owner_pid(got).0, 20);
    }

    #[test]
    fn connected_udp_socket_wins_over_bound_one() {
        let t = table(
            vec![
                row(Proto::Udp, "0.0.0.0:4000", "0.0.0.0:0", 1),
                row(Proto::Udp, "10.0.0.1:4000", "10.0.0.2:53", 2),
            ],
            vec![(10, 1), (20, 2)],
            vec![proc_info(10, 1, "a"), proc_info(20, 1, "b")],
        );
        let got = t.lookup(&flow(Proto::Udp, "10.0.0.1:4000", "10.0.0.2:53"));
        assert_eq!(owner_pid(got), (20, MatchQuality::Exact));
    }

    #[test]
    fn tcp_is_never_matched_by_port_alone() {
        let t = table(
            vec![row(Proto::Tcp, "0.0.0.0:80", "0.0.0.0:0", 1)],
            vec![(10, 1)],
            vec![proc_info(10, 1, "a")],
        );
        let got = t.lookup(&flow(Proto::Tcp, "10.0.0.1:80", "10.0.0.2:5555"));
        assert_eq!(got, Lookup::Unowned(Unattributed::NoSocket));
    }

    #[test]
    fn socket_without_a_readable_holder_is_no_process() {
        let t = table(
            vec![row(Proto::Tcp, "10.0.0.1:5000", "10.0.0.2:80", 0)],
            vec![],
            vec![],
        );
        let got = t.lookup(&flow(Proto::Tcp, "10.0.0.1:5000", "10.0.0.2:80"));
        assert_eq!(got, Lookup::Unowned(Unattributed::NoProcess));
    }

    #[test]
    fn socket_shared_with_a_forked_child_goes_to_the_parent() {
        let t = table(
            vec![row(Proto::Tcp, "10.0.0.1:5000", "10.0.0.2:80", 8)],
            vec![(51, 8), (50, 8)],
            vec![proc_info(50, 1, "parent"), proc_info(51, 50, "child")],
        );
        let got = t.lookup(&flow(Proto::Tcp, "10.0.0.1:5000", "10.0.0.2:80"));
        assert_eq!(owner_pid(got), (50, MatchQuality::SharedParent));
    }

    #[test]
    fn pre_fork_workers_sharing_a_socket_go_to_their_parent() {
        let t = table(
            vec![row(Proto::Udp, "0.0.0.0:53", "0.0.0.0:0", 8)],
            vec![(61, 8), (62, 8), (63, 8)],
            vec![
                proc_info(60, 1, "master"),
                proc_info(61, 60, "worker"),
                proc_info(62, 60, "worker"),
                proc_info(63, 60, "worker"),
            ],
        );
        let got = t.lookup(&flow(Proto::Udp, "10.0.0.1:53", "10.0.0.2:1"));
        assert_eq!(owner_pid(got), (60, MatchQuality::SharedParent));
    }

    #[test]
    fn siblings_whose_parent_is_init_are_ambiguous() {
        let t = table(
            vec![row(Proto::Udp, "0.0.0.0:53", "0.0.0.0:0", 8)],
            vec![(61, 8), (62, 8)],
            vec![proc_info(61, 1, "a"), proc_info(62, 1, "b")],
        );
        let got = t.lookup(&flow(Proto::Udp, "10.0.0.1:53", "10.0.0.2:1"));
        assert_eq!(got, Lookup::Unowned(Unattributed::Ambiguous));
    }

    #[test]
    fn listener_is_the_fallback_for_traffic_to_its_port() {
        let mut listen = row(Proto::Tcp, "[::]:8080", "[::]:0", 3);
        listen.listening = true;
        let t = table(
            vec![listen],
            vec![(90, 3)],
            vec![proc_info(90, 1, "server")],
        );
        let f = flow(Proto::Tcp, "10.0.0.1:8080", "10.0.0.2:40000");
        assert_eq!(t.lookup(&f), Lookup::Unowned(Unattributed::NoSocket));
        let got = t.listener_of(&f).expect("a listener on 8080");
        assert_eq!(owner_pid(got), (90, MatchQuality::Listener));
        assert!(t
            .listener_of(&flow(Proto::Tcp, "10.0.0.1:40000", "10.0.0.2:8080"))
            .is_none());
    }

    /// A host (10.0.0.1) with one container namespace (172.17.0.2) in which pid 900
    /// holds a wildcard UDP socket on :53 and a TCP connection to 10.0.0.1:8080.
    fn host_with_container() -> SocketTable {
        SocketTable::build(
            1,
            ScanResult {
                local_addrs: vec!["10.0.0.1".parse().unwrap()],
                fds: vec![(900, 20), (900, 21), (900, 22)],
                processes: vec![proc_info(900, 1, "in-container")],
                namespaces: vec![NamespaceScan {
                    id: 4026532000,
                    addrs: vec!["172.17.0.2".parse().unwrap()],
                    sockets: vec![
                        row(Proto::Udp, "[::]:53", "[::]:0", 20),
                        row(Proto::Tcp, "172.17.0.2:40000", "10.0.0.1:8080", 21),
                        row(Proto::Tcp, "127.0.0.1:9000", "127.0.0.1:9001", 22),
                    ],
                }],
                ..ScanResult::default()
            },
        )
    }

    #[test]
    fn container_sockets_are_found_by_their_own_addresses() {
        let t = host_with_container();
        assert!(t.local.contains("172.17.0.2".parse().unwrap()));
        let got = t.lookup(&flow(Proto::Udp, "172.17.0.2:53", "10.0.0.5:3000"));
        assert_eq!(owner_pid(got), (900, MatchQuality::BoundUdp));
        let got = t.lookup(&flow(Proto::Tcp, "172.17.0.2:40000", "10.0.0.1:8080"));
        assert_eq!(owner_pid(got), (900, MatchQuality::Exact));
    }

    #[test]
    fn container_wildcards_never_match_the_hosts_traffic() {
        let t = host_with_container();
        let got = t.lookup(&flow(Proto::Udp, "10.0.0.1:53", "10.0.0.5:3000"));
        assert_eq!(got, Lookup::Unowned(Unattributed::NoSocket));
        // Nor does the container's loopback traffic, which the host never sees.
        let got = t.lookup(&flow(Proto::Tcp, "127.0.0.1:9000", "127.0.0.1:9001"));
        assert_eq!(got, Lookup::Unowned(Unattributed::NoSocket));
    }

    /// A container (172.17.0.2, fd17::2) whose pid 900 holds 0.0.0.0:53 and pid 901
    /// [::]:53 with the given flag.
    fn container_with_twins(flag: V6Only) -> SocketTable {
        SocketTable::build(
            1,
            ScanResult {
                local_addrs: vec!["10.0.0.1".parse().unwrap()],
                fds: vec![(900, 20), (901, 21)],
                processes: vec![proc_info(900, 1, "dns4"), proc_info(901, 1, "dns6")],
                namespaces: vec![NamespaceScan {
                    id: 4026532000,
                    addrs: vec!["172.17.0.2".parse().unwrap(), "fd17::2".parse().unwrap()],
                    sockets: vec![
                        row(Proto::Udp, "0.0.0.0:53", "0.0.0.0:0", 20),
                        v6only(row(Proto::Udp, "[::]:53", "[::]:0", 21), flag),
                    ],
                }],
                ..ScanResult::default()
            },
        )
    }

    #[test]
    fn a_containers_wildcards_follow_the_same_rule_under_its_addresses() {
        for flag in [V6Only::Yes, V6Only::No, V6Only::Unknown] {
            let t = container_with_twins(flag);
            // IPv4 goes to 0.0.0.0 (the more specific for IPv4), never shared with [::].
            let got = t.lookup(&flow(Proto::Udp, "172.17.0.2:53", "10.0.0.5:3000"));
            assert_eq!(owner_pid(got), (900, MatchQuality::BoundUdp), "{flag:?}");
            let got = t.lookup(&flow(Proto::Udp, "[fd17::2]:53", "[fd17::5]:3000"));
            assert_eq!(owner_pid(got), (901, MatchQuality::BoundUdp), "{flag:?}");
        }
    }

    #[test]
    fn ambiguous_socket_between_unrelated_processes_is_not_guessed() {
        let t = table(
            vec![row(Proto::Udp, "0.0.0.0:53", "0.0.0.0:0", 8)],
            vec![(60, 8), (70, 8)],
            vec![proc_info(60, 1, "a"), proc_info(70, 1, "b")],
        );
        let got = t.lookup(&flow(Proto::Udp, "10.0.0.1:53", "10.0.0.2:1"));
        assert_eq!(got, Lookup::Unowned(Unattributed::Ambiguous));
    }
}
