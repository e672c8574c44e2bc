//! Reads the socket tables and fd tables of a /proc tree into a [`ScanResult`].
//!
//! The root is a parameter, so tests run the production code on fixture trees under
//! `tests/fixtures/proc`. A process that vanishes mid-scan is skipped; one whose fds
//! may not be read is counted, never fatal.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use procfs::net::{TcpNetEntries, TcpState, UdpNetEntries};
use procfs::process::Stat;
use procfs::{FromRead, FromReadSI, SystemInfo};

use super::fds::{FdMemo, FdWalk};
use super::sockdiag;
use super::users::Users;
use crate::attrib::{NamespaceScan, ScanResult, SocketRow};
use crate::model::{ProcessInfo, ProcessKey, Proto, Timestamp};

/// Scans a /proc tree, remembering process details between scans so a long-lived
/// process's command line and user are read once.
pub struct ProcScanner {
    root: PathBuf,
    users: Users,
    known: HashMap<ProcessKey, ProcessInfo>,
    /// Pids that held sockets at the last scan, sorted: where a targeted scan looks.
    last_holders: Vec<u32>,
    /// Socket inodes that no process held at the last full scan.
    last_orphans: HashSet<u64>,
    system_info: &'static SystemInfo,
    /// Read this namespace's socket table with NETLINK_SOCK_DIAG (the live /proc only);
    /// cleared after a failed dump, and /proc/net is read from then on.
    sock_diag: bool,
    /// Every fd's target as last read, so rescans read only new fds' links.
    fds: FdMemo,
}

impl ProcScanner {
    /// A scanner of the live /proc, with /etc/passwd for user names.
    pub fn live() -> ProcScanner {
        ProcScanner {
            sock_diag: true,
            ..ProcScanner::with_root("/proc", Users::load(), procfs::current_system_info())
        }
    }

    pub fn with_root(
        root: impl Into<PathBuf>,
        users: Users,
        system_info: &'static SystemInfo,
    ) -> ProcScanner {
        ProcScanner {
            root: root.into(),
            users,
            known: HashMap::new(),
            last_holders: Vec::new(),
            last_orphans: HashSet::new(),
            system_info,
            sock_diag: false,
            fds: FdMemo::default(),
        }
    }

    /// One scan: socket tables of this network namespace, every process's socket fds,
    /// details of the processes that hold sockets, and the other namespaces they live in.
    ///
    /// A `targeted` scan (the early ones, asked for by unknown traffic) first reads only
    /// the fd tables of the processes that held sockets at the last scan; the whole
    /// /proc is walked only if a socket is left without a holder. Busy hosts have far
    /// more processes than socket holders, and new sockets mostly belong to known ones.
    pub fn scan(
        &mut self,
        started_at: Timestamp,
        local_addrs: Vec<IpAddr>,
        targeted: bool,
    ) -> ScanResult {
        let sockets = self.own_socket_rows();
        if targeted && !self.last_holders.is_empty() {
            let holders = self.last_holders.clone();
            let walk = self.fds.walk(&self.root, &holders, true);
            let result = self.complete(started_at, local_addrs.clone(), sockets.clone(), walk);
            if orphans(&result).all(|inode| self.last_orphans.contains(&inode)) {
                return result;
            }
        }
        // With nothing remembered (the first scan), this walk reads every link.
        let verified = self.fds.is_empty();
        let walk = self.fds.walk_all(&self.root, true);
        let mut result = self.complete(started_at, local_addrs.clone(), sockets.clone(), walk);
        if verified {
            self.last_orphans = orphans(&result).collect();
        } else if !orphans(&result).all(|inode| self.last_orphans.contains(&inode)) {
            // A socket without a holder: a new fd the memo could not know of was
            // read, so a remembered link must be stale (a reused fd number). Read
            // every link again.
            let walk = self.fds.walk_all(&self.root, false);
            result = self.complete(started_at, local_addrs, sockets, walk);
            // Sockets no process holds even after reading every link (kernel
            // sockets, unreadable processes) do not send later scans here again.
            self.last_orphans = orphans(&result).collect();
        }
        result
    }

    /// Turns socket rows and an fd walk into a scan result: process details (cached)
    /// and other namespaces' tables.
    fn complete(
        &mut self,
        started_at: Timestamp,
        local_addrs: Vec<IpAddr>,
        sockets: Vec<SocketRow>,
        walk: FdWalk,
    ) -> ScanResult {
        let FdWalk { fds, unreadable } = walk;
        let mut holders: Vec<u32> = fds.iter().map(|&(pid, _)| pid).collect();
        holders.sort_unstable();
        holders.dedup();
        let mut processes = Vec::with_capacity(holders.len());
        let mut live = HashMap::with_capacity(holders.len());
        let mut parents = Vec::new();
        for &pid in &holders {
            if let Some(info) = self.process(pid) {
                parents.push(info.ppid);
                live.insert(info.key, info.clone());
                processes.push(info);
            }
        }
        // Parents of socket holders too: sibling workers that share a socket are
        // charged to their parent, so its details must be known.
        parents.sort_unstable();
        parents.dedup();
        for ppid in parents {
            if ppid > 1 && holders.binary_search(&ppid).is_err() {
                if let Some(info) = self.process(ppid) {
                    live.insert(info.key, info.clone());
                    processes.push(info);
                }
            }
        }
        // Forget processes that no longer hold sockets, so the cache stays bounded by
        // the live process table.
        self.known = live;
        let namespaces = self.other_namespaces(&processes, &holders);
        self.last_holders = holders;
        ScanResult {
            started_at,
            sockets,
            fds,
            processes,
            local_addrs,
            unreadable_processes: unreadable,
            namespaces,
        }
    }

    /// Whether to try NETLINK_SOCK_DIAG for this namespace's socket table (for
    /// benchmarks that compare it with /proc/net).
    pub fn set_sock_diag(&mut self, on: bool) {
        self.sock_diag = on;
    }

    /// This namespace's sockets: from the sock_diag dump where it works, else from
    /// /proc/net.
    fn own_socket_rows(&mut self) -> Vec<SocketRow> {
        if self.sock_diag {
            match sockdiag::socket_rows() {
                Ok(rows) => return rows,
                Err(_) => self.sock_diag = false,
            }
        }
        self.socket_rows(&self.root.join("net"))
    }

    /// The socket tables and addresses of every other network namespace that a socket
    /// holder lives in, each read once through one member (/proc/PID/net is the
    /// namespace of PID).
    fn other_namespaces(&self, processes: &[ProcessInfo], holders: &[u32]) -> Vec<NamespaceScan> {
        let own = ns_inode(&self.root.join("self"));
        let mut members: HashMap<u64, u32> = HashMap::new();
        for p in processes {
            let foreign = p.netns != 0 && Some(p.netns) != own;
            if foreign && holders.binary_search(&p.key.pid).is_ok() {
                members.entry(p.netns).or_insert(p.key.pid);
            }
        }
        members
            .into_iter()
            .map(|(id, pid)| {
                let net = self.root.join(pid.to_string()).join("net");
                NamespaceScan {
                    id,
                    sockets: self.socket_rows(&net),
                    addrs: namespace_addrs(&net),
                }
            })
            .collect()
    }

    fn socket_rows(&self, net: &Path) -> Vec<SocketRow> {
        let mut rows = Vec::new();
        for file in ["tcp", "tcp6"] {
            let entries = read_rows(&net.join(file), self.system_info, |t: TcpNetEntries| t.0);
            rows.extend(entries.into_iter().map(|e| SocketRow {
                proto: Proto::Tcp,
                local: e.local_address,
                remote: e.remote_address,
                inode: e.inode,
                listening: e.state == TcpState::Listen,
            }));
        }
        for file in ["udp", "udp6"] {
            let entries = read_rows(&net.join(file), self.system_info, |t: UdpNetEntries| t.0);
            rows.extend(entries.into_iter().map(|e| SocketRow {
                proto: Proto::Udp,
                local: e.local_address,
                remote: e.remote_address,
                inode: e.inode,
                listening: false,
            }));
        }
        rows
    }

    /// Reads a process's details, reusing what an earlier scan read for the same
    /// process (same pid and start time).
    fn process(&self, pid: u32) -> Option<ProcessInfo> {
        let dir = self.root.join(pid.to_string());
        let stat = Stat::from_file(dir.join("stat")).ok()?;
        let key = ProcessKey {
            pid,
            start_time: stat.starttime,
        };
        if let Some(known) = self.known.get(&key) {
            return Some(known.clone());
        }
        Some(process_details(&dir, key, stat, &self.users))
    }
}

/// netflow's own network namespace (inode number; 0 if unreadable).
pub fn own_netns() -> u64 {
    ns_inode(Path::new("/proc/self")).unwrap_or(0)
}

/// The kernel's clock ticks per second, the unit of `/proc/PID/stat` start times.
pub fn ticks_per_second() -> u64 {
    procfs::ticks_per_second()
}

/// A process's details, if `pid` under `root` is still the process that started at
/// `start_time` (clock ticks since boot); `None` once it exited or its pid was reused.
pub fn read_process(root: &Path, pid: u32, start_time: u64, users: &Users) -> Option<ProcessInfo> {
    let dir = root.join(pid.to_string());
    let stat = Stat::from_file(dir.join("stat")).ok()?;
    let key = ProcessKey { pid, start_time };
    (stat.starttime == start_time).then(|| process_details(&dir, key, stat, users))
}

/// Everything a report says about a process, from its /proc directory.
fn process_details(dir: &Path, key: ProcessKey, stat: Stat, users: &Users) -> ProcessInfo {
    let cmdline = fs::read(dir.join("cmdline"))
        .map(|raw| join_cmdline(&raw))
        .unwrap_or_default();
    // Read as bytes: status begins with the process's name and cgroup paths are named
    // by whoever creates them; neither need be UTF-8, and one such byte must not cost
    // the process its user or its cgroup.
    let uid = read_lossy(&dir.join("status")).and_then(|s| real_uid(&s));
    let cgroup = read_lossy(&dir.join("cgroup"))
        .map(|s| cgroup_path(&s))
        .unwrap_or_default();
    ProcessInfo {
        key,
        ppid: u32::try_from(stat.ppid).unwrap_or(0),
        name: stat.comm,
        cmdline,
        exe: fs::read_link(dir.join("exe"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        uid,
        user: uid.map(|u| users.name(u)).unwrap_or_default(),
        netns: ns_inode(dir).unwrap_or(0),
        cgroup: cgroup.clone(),
        container_id: container_id(&cgroup),
    }
}

/// A /proc file's text, bytes that are not UTF-8 replaced by U+FFFD.
fn read_lossy(path: &Path) -> Option<String> {
    let raw = fs::read(path).ok()?;
    Some(String::from_utf8_lossy(&raw).into_owned())
}

/// The inodes of live sockets (not TIME_WAIT rows or unaccepted connections, which
/// have inode 0) that no process in the scan holds.
fn orphans(scan: &ScanResult) -> impl Iterator<Item = u64> + '_ {
    let held: HashSet<u64> = scan.fds.iter().map(|&(_, i)| i).collect();
    scan.sockets
        .iter()
        .chain(scan.namespaces.iter().flat_map(|ns| ns.sockets.iter()))
        .map(|row| row.inode)
        .filter(move |&inode| inode != 0 && !held.contains(&inode))
}

/// Whether the process is still running: its pid exists with the same start time and
/// it is not a zombie (a process that exited but was not yet reaped by its parent).
pub fn is_running(root: &Path, key: ProcessKey) -> bool {
    Stat::from_file(root.join(key.pid.to_string()).join("stat"))
        .is_ok_and(|s| s.starttime == key.start_time && s.state != 'Z' && s.state != 'X')
}

/// The rows of a /proc/net socket table. A malformed line costs only itself: the whole
/// file is parsed at once, and only if that fails, line by line (each with the header),
/// skipping the lines procfs refuses. A missing file (no IPv6) gives no rows.
fn read_rows<T: FromReadSI, E>(
    path: &Path,
    system_info: &SystemInfo,
    rows: fn(T) -> Vec<E>,
) -> Vec<E> {
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    if let Ok(all) = T::from_read(text.as_bytes(), system_info) {
        return rows(all);
    }
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    lines
        .filter_map(|line| T::from_read(format!("{header}\n{line}\n").as_bytes(), system_info).ok())
        .flat_map(rows)
        .collect()
}

/// The network namespace of the process at `proc_dir` (`net:[4026531840]` → 4026531840).
fn ns_inode(proc_dir: &Path) -> Option<u64> {
    let link = fs::read_link(proc_dir.join("ns").join("net")).ok()?;
    link.to_str()?
        .strip_prefix("net:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// A namespace's own addresses, loopback excluded: IPv4 from `fib_trie` (its /32 host
/// LOCAL routes), IPv6 from `if_inet6`.
fn namespace_addrs(net: &Path) -> Vec<IpAddr> {
    let mut addrs = fs::read_to_string(net.join("fib_trie"))
        .map(|t| fib_trie_local_v4(&t))
        .unwrap_or_default();
    addrs.extend(
        fs::read_to_string(net.join("if_inet6"))
            .map(|t| if_inet6_addrs(&t))
            .unwrap_or_default(),
    );
    addrs.retain(|a| !a.is_loopback());
    addrs.sort_unstable();
    addrs.dedup();
    addrs
}

/// The local IPv4 addresses in /proc/net/fib_trie: each `|-- ADDR` leaf followed by a
/// `/32 host LOCAL` route.
fn fib_trie_local_v4(text: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut leaf: Option<IpAddr> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(addr) = line.strip_prefix("|-- ") {
            leaf = addr.parse().ok();
        } else if line.starts_with("/32 host LOCAL") {
            out.extend(leaf);
        }
    }
    out
}

/// The addresses in /proc/net/if_inet6: 32 hex digits first on each line.
fn if_inet6_addrs(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let hex = line.split_whitespace().next()?;
            let bits = u128::from_str_radix(hex, 16).ok()?;
            (hex.len() == 32).then(|| IpAddr::V6(std::net::Ipv6Addr::from(bits)))
        })
        .collect()
}

/// The process's cgroup: the cgroup-v2 (`0::`) path, else the systemd hierarchy's, else
/// the first listed.
fn cgroup_path(text: &str) -> String {
    let path = |line: &str| line.splitn(3, ':').nth(2).map(str::to_string);
    text.lines()
        .find(|l| l.starts_with("0::"))
        .or_else(|| text.lines().find(|l| l.contains(":name=systemd:")))
        .or_else(|| text.lines().next())
        .and_then(path)
        .unwrap_or_default()
}

/// A container id in a cgroup path: the 64-hex-digit name docker, containerd, CRI-O and
/// podman give their scopes (`docker-ID.scope`, `/docker/ID`, `cri-containerd-ID.scope`).
fn container_id(cgroup: &str) -> Option<String> {
    cgroup.split('/').find_map(|segment| {
        let name = segment.strip_suffix(".scope").unwrap_or(segment);
        let id = name.rsplit('-').next()?;
        (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_string())
    })
}

/// `socket:[12345]` → 12345.
/// /proc/PID/cmdline is NUL-separated (and NUL-terminated); join with spaces.
fn join_cmdline(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.split('\0')
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The real uid: the first number of the `Uid:` line of /proc/PID/status.
fn real_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fib_trie_gives_the_local_ipv4_addresses() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     \
                    +-- 172.17.0.0/16 2 0 2\n        |-- 172.17.0.2\n           /32 host LOCAL\n        \
                    |-- 172.17.255.255\n           /32 link BROADCAST\n     |-- 127.0.0.1\n           \
                    /32 host LOCAL\n";
        let addrs = fib_trie_local_v4(trie);
        assert_eq!(
            addrs,
            [
                "172.17.0.2".parse::<IpAddr>().unwrap(),
                "127.0.0.1".parse().unwrap()
            ]
        );
    }

    #[test]
    fn if_inet6_gives_the_ipv6_addresses() {
        let text = "fd4e0000000000000000000000000002 02 40 00 80     eth0\n\
                    00000000000000000000000000000001 01 80 10 80       lo\n";
        assert_eq!(
            if_inet6_addrs(text),
            ["fd4e::2".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]
        );
    }

    #[test]
    fn cgroup_path_prefers_the_unified_hierarchy() {
        let v1_and_v2 = "12:cpu,cpuacct:/system.slice/x.service\n1:name=systemd:/system.slice/y.service\n0::/system.slice/z.service\n";
        assert_eq!(cgroup_path(v1_and_v2), "/system.slice/z.service");
        assert_eq!(cgroup_path("1:name=systemd:/user.slice\n"), "/user.slice");
    }

    #[test]
    fn container_ids_are_found_in_common_runtimes_paths() {
        let id = "4f1c2b0e9d8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e";
        for path in [
            format!("/system.slice/docker-{id}.scope"),
            format!("/docker/{id}"),
            format!("/kubepods.slice/kubepods-pod1.slice/cri-containerd-{id}.scope"),
        ] {
            assert_eq!(container_id(&path).as_deref(), Some(id), "{path}");
        }
        assert_eq!(
            container_id("/user.slice/user-1000.slice/session-2.scope"),
            None
        );
    }

    #[test]
    fn cmdline_nuls_become_spaces() {
        assert_eq!(
            join_cmdline(b"python3\0-m\0http.server\0"),
            "python3 -m http.server"
        );
        assert_eq!(join_cmdline(b""), "");
    }

    #[test]
    fn real_uid_is_the_first_uid_field() {
        assert_eq!(real_uid("Name:\tx\nUid:\t1000\t0\t0\t0\n"), Some(1000));
        assert_eq!(real_uid("Name:\tx\n"), None);
    }
}
