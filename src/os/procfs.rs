//! Reads the socket tables and fd tables of a /proc tree into a [`ScanResult`].
//!
//! The root is a parameter, so tests run the production code on fixture trees under
//! `tests/fixtures/proc`. A process that vanishes mid-scan is skipped; one whose fds
//! may not be read is counted, never fatal.
//!
//! A scan's memory grows with the host's socket tables (~35 MB for 100k sockets
//! before they were bounded, and ~900 bytes of kernel memory per fd listed; issue #13
//! item 10). Each scan keeps within fixed bounds ([`ScanBudget`]) and within the
//! memory netflow has left under its cgroup limit ([`Room`]); rows and fds past them
//! are skipped and counted ([`Skipped`]), and the report says so.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use procfs::net::{TcpNetEntries, TcpState, UdpNetEntries};
use procfs::process::Stat;
use procfs::{FromRead, FromReadSI, SystemInfo};

use super::cgroup::MemoryGauge;
use super::fds::{live_thread, FdLimits, FdMemo, FdWalk};
use super::sockdiag;
use super::users::Users;
use crate::attrib::{NamespaceScan, ScanResult, Skipped, SocketRow, V6Only};
use crate::model::{ProcessInfo, ProcessKey, Proto, Timestamp};

/// Scans a /proc tree, remembering process details between scans so a long-lived
/// process's command line and user are read once.
pub struct ProcScanner {
    root: PathBuf,
    users: Users,
    known: HashMap<ProcessKey, ProcessInfo>,
    /// Pids that held sockets at the last scan, sorted: where a targeted scan looks.
    last_holders: Vec<u32>,
    /// Socket inodes that no process held at the last full scan, sorted.
    last_orphans: Vec<u64>,
    system_info: &'static SystemInfo,
    /// Read this namespace's socket table with NETLINK_SOCK_DIAG (the live /proc only);
    /// cleared after a failed dump, and /proc/net is read from then on.
    sock_diag: bool,
    /// Every fd's target as last read, so rescans read only new fds' links.
    fds: FdMemo,
    /// netflow's memory cgroup, read before each scan to size its budget (the live
    /// /proc only).
    gauge: Option<MemoryGauge>,
    /// Fixed bounds on every scan.
    budget: ScanBudget,
}

/// Fixed bounds on one scan, whatever memory is left: socket rows kept and fds listed.
/// Under a memory limit a scan also stops early (see [`Room`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanBudget {
    pub sockets: usize,
    pub fds: u64,
}

impl ScanBudget {
    /// With no memory limit: still bounded (~1 GB for the rows and both tables, ~4 GB
    /// of kernel dentries for the fds).
    pub const MAX: ScanBudget = ScanBudget {
        sockets: 1 << 22,
        fds: 1 << 22,
    };
}

/// The memory one scan may still use, checked against netflow's cgroup as it goes.
///
/// What a scan costs, measured on Linux 6.18 (issue #13 item 10): ~80 bytes a row
/// while the table is built, then ~160 a row in the table (index entry, holders, inode
/// lists; a connected TCP socket's map entry costs more) -- a rescan of 105k bound UDP
/// sockets peaked at ~185 bytes a socket with its fd; and listing a process's fds
/// costs the kernel a dentry and a proc inode per fd (~900 bytes, charged to the
/// cgroup of whoever lists them first, reclaimed only under pressure: a walk over 105k
/// fds was OOM-killed with 26 MB of them). A quarter of the limit stays free for the
/// rest of netflow (capture batches, the retry ring, new flows, the report).
struct Room<'a> {
    gauge: Option<&'a MemoryGauge>,
    /// Headroom at the last reading, less what the scan spent since.
    left: Option<u64>,
    spent: u64,
    /// What must stay free: the reserve, and the table still to be built.
    floor: u64,
    reserve: u64,
    /// Fds that may still be listed ([`ScanBudget::fds`]).
    fds: u64,
}

/// Bytes a kept row needs until its table is built.
const ROW_BYTES: u64 = 80 + TABLE_BYTES_PER_ROW;
/// Bytes a row takes in the table and the lists built with it.
const TABLE_BYTES_PER_ROW: u64 = 160;
/// Bytes listing one fd costs (kernel dentry and inode, memo entry).
const LISTED_FD_BYTES: u64 = 1_024;
/// Reread the cgroup's usage after this much spending was only estimated.
const REREAD_AFTER: u64 = 1 << 20;

impl<'a> Room<'a> {
    fn new(gauge: Option<&'a MemoryGauge>, budget: ScanBudget) -> Room<'a> {
        let memory = gauge.and_then(MemoryGauge::read);
        Room {
            gauge: gauge.filter(|_| memory.is_some()),
            left: memory.map(|m| m.left),
            spent: 0,
            floor: 0,
            reserve: memory.map_or(0, |m| m.limit / 4),
            fds: budget.fds,
        }
    }

    /// Socket rows a scan may keep: at most `max`, and with a memory limit, those
    /// whose rows and table fit in half of what is left above the reserve (the other
    /// half is for listing fds).
    fn rows(&self, max: usize) -> usize {
        match self.left {
            None => max,
            Some(left) => {
                let rows = left.saturating_sub(self.reserve) / 2 / ROW_BYTES;
                max.min(usize::try_from(rows).unwrap_or(usize::MAX))
            }
        }
    }

    /// The scan keeps `rows` rows: their table must still fit.
    fn keeping(&mut self, rows: usize) {
        self.floor = self.reserve + rows as u64 * TABLE_BYTES_PER_ROW;
    }

    /// Whether a process with `count` fds may be listed.
    fn list(&mut self, count: u64) -> bool {
        if count > self.fds {
            return false;
        }
        let Some(gauge) = self.gauge else {
            self.fds -= count;
            return true;
        };
        if self.spent >= REREAD_AFTER {
            if let Some(memory) = gauge.read() {
                self.left = Some(memory.left);
                self.spent = 0;
            }
        }
        let cost = count * LISTED_FD_BYTES;
        let left = self.left.unwrap_or(u64::MAX).saturating_sub(self.spent);
        if left < self.floor.saturating_add(cost) {
            return false;
        }
        self.spent += cost;
        self.fds -= count;
        true
    }
}

impl ProcScanner {
    /// A scanner of the live /proc, with /etc/passwd for user names.
    pub fn live() -> ProcScanner {
        ProcScanner {
            sock_diag: true,
            gauge: MemoryGauge::own(),
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
            last_orphans: Vec::new(),
            system_info,
            sock_diag: false,
            fds: FdMemo::default(),
            gauge: None,
            budget: ScanBudget::MAX,
        }
    }

    /// Bounds every scan by `budget` (tests; the live scanner also stays within
    /// netflow's memory limit).
    pub fn set_budget(&mut self, budget: ScanBudget) {
        self.budget = budget;
    }

    /// One scan: socket tables of this network namespace, every process's socket fds,
    /// details of the processes that hold sockets, and the other namespaces they live in.
    ///
    /// A `targeted` scan (the early ones, asked for by unknown traffic) first reads only
    /// the fd tables of the processes that held sockets at the last scan and of those
    /// that started since; the whole /proc is walked only if a socket is left without a
    /// holder. Busy hosts have far more processes than socket holders, and new sockets
    /// mostly belong to known or new ones. New processes matter most in namespaces no
    /// scan has read: their sockets are in no table here, so no socket would be left
    /// without a holder to send the scan to the whole /proc.
    pub fn scan(
        &mut self,
        started_at: Timestamp,
        local_addrs: Vec<IpAddr>,
        targeted: bool,
    ) -> ScanResult {
        let gauge = self.gauge.clone();
        let mut room = Room::new(gauge.as_ref(), self.budget);
        let max_rows = room.rows(self.budget.sockets);
        let (mut sockets, skipped_rows) = self.own_socket_rows(max_rows);
        room.keeping(sockets.len());
        let limits = FdLimits {
            kept: self.budget.sockets.saturating_mul(2),
            memo: FdMemo::MAX_FDS,
        };
        if targeted && !self.last_holders.is_empty() {
            let holders = std::mem::take(&mut self.last_holders);
            let mut targets = self.fds.new_pids(&self.root);
            targets.extend_from_slice(&holders);
            targets.sort_unstable();
            targets.dedup();
            let walk = self
                .fds
                .walk(&self.root, &targets, true, limits, &mut |n| room.list(n));
            self.last_holders = holders;
            let result = self.complete(started_at, &local_addrs, sockets, walk, max_rows);
            if orphans(&result).all(|inode| self.last_orphans.binary_search(&inode).is_ok()) {
                return with_skipped_rows(result, skipped_rows);
            }
            // Taken back, not copied: a table of 100k rows is 8 MB.
            sockets = result.sockets;
        }
        // With nothing remembered (the first scan), this walk reads every link.
        let verified = self.fds.is_empty();
        let walk = self
            .fds
            .walk_all(&self.root, true, limits, &mut |n| room.list(n));
        let mut result = self.complete(started_at, &local_addrs, sockets, walk, max_rows);
        if verified || result.skipped.fds > 0 {
            // Sockets whose holders were skipped have none: that proves nothing
            // about the memo, and walking again would not make room for them.
            self.last_orphans = orphans(&result).collect();
            self.last_orphans.sort_unstable();
        } else if !orphans(&result).all(|inode| self.last_orphans.binary_search(&inode).is_ok()) {
            // A socket without a holder: a new fd the memo could not know of was
            // read, so a remembered link must be stale (a reused fd number). Read
            // every link again.
            let sockets = std::mem::take(&mut result.sockets);
            drop(result);
            let walk = self
                .fds
                .walk_all(&self.root, false, limits, &mut |n| room.list(n));
            result = self.complete(started_at, &local_addrs, sockets, walk, max_rows);
            // Sockets no process holds even after reading every link (kernel
            // sockets, unreadable processes) do not send later scans here again.
            self.last_orphans = orphans(&result).collect();
            self.last_orphans.sort_unstable();
        }
        with_skipped_rows(result, skipped_rows)
    }

    /// Turns socket rows and an fd walk into a scan result: process details (cached)
    /// and other namespaces' tables (their rows within what `max_rows` leaves).
    fn complete(
        &mut self,
        started_at: Timestamp,
        local_addrs: &[IpAddr],
        sockets: Vec<SocketRow>,
        walk: FdWalk,
        max_rows: usize,
    ) -> ScanResult {
        let FdWalk {
            fds,
            unreadable,
            skipped_fds,
            skipped_processes,
        } = walk;
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
        let rows_left = max_rows.saturating_sub(sockets.len());
        let (namespaces, skipped_rows) = self.other_namespaces(&processes, &holders, rows_left);
        self.last_holders = holders;
        let kept = sockets.len() + namespaces.iter().map(|ns| ns.sockets.len()).sum::<usize>();
        ScanResult {
            started_at,
            sockets,
            fds,
            processes,
            local_addrs: local_addrs.to_vec(),
            unreadable_processes: unreadable,
            namespaces,
            skipped: Skipped {
                sockets_seen: kept as u64 + skipped_rows,
                sockets: skipped_rows,
                fds: skipped_fds,
                processes: skipped_processes,
            },
        }
    }

    /// Whether to try NETLINK_SOCK_DIAG for this namespace's socket table (for
    /// benchmarks that compare it with /proc/net).
    pub fn set_sock_diag(&mut self, on: bool) {
        self.sock_diag = on;
    }

    /// This namespace's sockets, at most `max` of them, and how many more there were:
    /// from the sock_diag dump where it works, else from /proc/net.
    fn own_socket_rows(&mut self, max: usize) -> (Vec<SocketRow>, u64) {
        if self.sock_diag {
            match sockdiag::socket_rows(max) {
                Ok(rows) => return rows,
                Err(_) => self.sock_diag = false,
            }
        }
        self.socket_rows(&self.root.join("net"), max)
    }

    /// The socket tables and addresses of every other network namespace that a socket
    /// holder lives in, each read once through one member (/proc/PID/net is the
    /// namespace of PID), `max` rows in all; and how many rows were left out.
    fn other_namespaces(
        &self,
        processes: &[ProcessInfo],
        holders: &[u32],
        max: usize,
    ) -> (Vec<NamespaceScan>, u64) {
        let own = ns_inode(&self.root.join("self"));
        let mut members: HashMap<u64, u32> = HashMap::new();
        for p in processes {
            let foreign = p.netns != 0 && Some(p.netns) != own;
            if foreign && holders.binary_search(&p.key.pid).is_ok() {
                members.entry(p.netns).or_insert(p.key.pid);
            }
        }
        let mut left = max;
        let mut skipped = 0;
        let namespaces = members
            .into_iter()
            .map(|(id, pid)| {
                let net = self.root.join(pid.to_string()).join("net");
                let (sockets, more) = self.socket_rows(&net, left);
                left -= sockets.len();
                skipped += more;
                NamespaceScan {
                    id,
                    sockets,
                    addrs: namespace_addrs(&net),
                }
            })
            .collect();
        (namespaces, skipped)
    }

    /// The rows of a /proc/net directory's TCP and UDP tables, at most `max` (TCP
    /// first), and how many more there were.
    fn socket_rows(&self, net: &Path, max: usize) -> (Vec<SocketRow>, u64) {
        let mut rows = Vec::new();
        let mut skipped = 0;
        for file in ["tcp", "tcp6"] {
            let left = max - rows.len();
            let (entries, more) = read_rows(
                &net.join(file),
                self.system_info,
                |t: TcpNetEntries| t.0,
                left,
            );
            skipped += more;
            rows.extend(entries.into_iter().map(|e| SocketRow {
                proto: Proto::Tcp,
                local: e.local_address,
                remote: e.remote_address,
                inode: e.inode,
                listening: e.state == TcpState::Listen,
                // The text tables have no IPV6_V6ONLY column: the socket table presumes it.
                v6only: V6Only::Unknown,
            }));
        }
        for file in ["udp", "udp6"] {
            let left = max - rows.len();
            let (entries, more) = read_rows(
                &net.join(file),
                self.system_info,
                |t: UdpNetEntries| t.0,
                left,
            );
            skipped += more;
            rows.extend(entries.into_iter().map(|e| SocketRow {
                proto: Proto::Udp,
                local: e.local_address,
                remote: e.remote_address,
                inode: e.inode,
                listening: false,
                v6only: V6Only::Unknown,
            }));
        }
        (rows, skipped)
    }

    /// Reads a process's details, reusing what an earlier scan read for the same
    /// process (same pid and start time).
    fn process(&self, pid: u32) -> Option<ProcessInfo> {
        let dir = self.root.join(pid.to_string());
        let stat = Stat::from_file(dir.join("stat")).ok()?;
        let key = ProcessKey::from_ticks(pid, stat.starttime);
        if let Some(known) = self.known.get(&key) {
            return Some(known.clone());
        }
        Some(process_details(&dir, key, stat, &self.users))
    }
}

/// The addresses of the network namespace whose /proc tree is at `root`, loopback
/// aside (it is always local): how a replay learns a fixture host's addresses.
pub fn namespace_addresses(root: &Path) -> Vec<IpAddr> {
    namespace_addrs(&root.join("net"))
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
/// (Two processes that got the pid within one tick look the same here.)
pub fn read_process(root: &Path, pid: u32, start_time: u64, users: &Users) -> Option<ProcessInfo> {
    let dir = root.join(pid.to_string());
    let stat = Stat::from_file(dir.join("stat")).ok()?;
    let key = ProcessKey::from_ticks(pid, start_time);
    (stat.starttime == start_time).then(|| process_details(&dir, key, stat, users))
}

/// Everything a report says about a process, from its /proc directory. The command
/// line, executable and namespace of a process whose main thread has exited (a zombie
/// leader while other threads work) are read from a live thread: the leader's are gone.
fn process_details(dir: &Path, key: ProcessKey, stat: Stat, users: &Users) -> ProcessInfo {
    let live = match stat.state {
        'Z' => live_thread(dir, key.pid).map(|tid| dir.join("task").join(tid.to_string())),
        _ => None,
    };
    let live = live.as_deref().unwrap_or(dir);
    let cmdline = fs::read(live.join("cmdline"))
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
        exe: fs::read_link(live.join("exe"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        uid,
        user: uid.map(|u| users.name(u)).unwrap_or_default(),
        netns: ns_inode(live).unwrap_or(0),
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
    let mut held: Vec<u64> = scan.fds.iter().map(|&(_, i)| i).collect();
    held.sort_unstable();
    held.dedup();
    scan.sockets
        .iter()
        .chain(scan.namespaces.iter().flat_map(|ns| ns.sockets.iter()))
        .map(|row| row.inode)
        .filter(move |&inode| inode != 0 && held.binary_search(&inode).is_err())
}

/// Adds the rows of netflow's own namespace that the scan left out.
fn with_skipped_rows(mut scan: ScanResult, skipped: u64) -> ScanResult {
    scan.skipped.sockets += skipped;
    scan.skipped.sockets_seen += skipped;
    scan
}

/// Whether the process is still running: its pid exists with the same start time and
/// it is not a zombie (a process that exited but was not yet reaped by its parent) --
/// unless only its main thread has exited and others still run.
pub fn is_running(root: &Path, key: ProcessKey) -> bool {
    let dir = root.join(key.pid.to_string());
    Stat::from_file(dir.join("stat")).is_ok_and(|s| {
        let alive = match s.state {
            'Z' => live_thread(&dir, key.pid).is_some(),
            'X' => false,
            _ => true,
        };
        s.starttime == key.start_time && alive
    })
}

/// Lines of a /proc/net table parsed at once: the file is read in chunks, so a table
/// of 100k sockets (~15 MB of text) never sits in memory whole.
const CHUNK_LINES: usize = 4_096;

/// The rows of a /proc/net socket table, at most `max`, and how many lines more there
/// were. A malformed line costs only itself: each chunk is parsed at once, and only if
/// that fails, line by line (each with the header), skipping the lines procfs refuses.
/// A missing file (no IPv6) gives no rows.
fn read_rows<T: FromReadSI, E>(
    path: &Path,
    system_info: &SystemInfo,
    rows: fn(T) -> Vec<E>,
    max: usize,
) -> (Vec<E>, u64) {
    let Ok(file) = File::open(path) else {
        return (Vec::new(), 0);
    };
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut header = String::new();
    if reader.read_line(&mut header).unwrap_or(0) == 0 {
        return (Vec::new(), 0);
    }
    let mut out = Vec::new();
    let mut skipped = 0;
    let mut chunk = header.clone();
    let mut in_chunk = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if out.len() + in_chunk >= max {
            skipped += 1;
            continue;
        }
        chunk.push_str(&line);
        in_chunk += 1;
        if in_chunk == CHUNK_LINES {
            parse_chunk(&chunk, &header, system_info, rows, &mut out);
            chunk.truncate(header.len());
            in_chunk = 0;
        }
    }
    if in_chunk > 0 {
        parse_chunk(&chunk, &header, system_info, rows, &mut out);
    }
    (out, skipped)
}

/// Parses a header and some lines of a /proc/net table into `out`.
fn parse_chunk<T: FromReadSI, E>(
    text: &str,
    header: &str,
    system_info: &SystemInfo,
    rows: fn(T) -> Vec<E>,
    out: &mut Vec<E>,
) {
    if let Ok(all) = T::from_read(text.as_bytes(), system_info) {
        out.extend(rows(all));
        return;
    }
    for line in text.lines().skip(1) {
        if let Ok(one) = T::from_read(format!("{header}{line}\n").as_bytes(), system_info) {
            out.extend(rows(one));
        }
    }
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

    /// The hand-made tree of tests/fixtures/proc (see its README): 8 socket rows, 5 of
    /// them TCP; 6 processes with an fd directory.
    fn fixture_scanner(budget: ScanBudget) -> ProcScanner {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc/handmade");
        let info: &'static procfs::ExplicitSystemInfo =
            Box::leak(Box::new(procfs::ExplicitSystemInfo {
                boot_time_secs: 1_700_000_000,
                ticks_per_second: 100,
                page_size: 4096,
                is_little_endian: true,
            }));
        let mut scanner = ProcScanner::with_root(root, Users::default(), info);
        scanner.set_budget(budget);
        scanner
    }

    fn scan(scanner: &mut ProcScanner) -> ScanResult {
        scanner.scan(Timestamp(0), vec!["10.0.0.1".parse().unwrap()], false)
    }

    #[test]
    fn rows_past_the_budget_are_counted_and_tcp_is_kept_first() {
        let mut scanner = fixture_scanner(ScanBudget {
            sockets: 3,
            ..ScanBudget::MAX
        });
        let result = scan(&mut scanner);
        assert_eq!(result.sockets.len(), 3);
        assert!(result.sockets.iter().all(|r| r.proto == Proto::Tcp));
        assert_eq!(
            result.skipped,
            Skipped {
                sockets_seen: 8,
                sockets: 5,
                // Socket fds kept are bounded too (twice the rows): 8 in the tree.
                fds: 2,
                processes: 0
            }
        );
    }

    #[test]
    fn processes_past_the_fd_budget_are_counted_not_read() {
        let mut scanner = fixture_scanner(ScanBudget {
            fds: 0,
            ..ScanBudget::MAX
        });
        let result = scan(&mut scanner);
        assert!(result.fds.is_empty());
        assert_eq!(result.skipped.processes, 6);
        assert_eq!(result.sockets.len(), 8, "rows are kept");
        // Within the budget again, the same scanner reads them all.
        scanner.set_budget(ScanBudget::MAX);
        let result = scan(&mut scanner);
        assert_eq!(
            result.skipped,
            Skipped {
                sockets_seen: 8,
                ..Skipped::default()
            }
        );
        assert!(!result.fds.is_empty());
    }

    #[test]
    fn under_a_memory_limit_a_scan_keeps_a_quarter_free_and_room_for_its_table() {
        let dir = std::env::temp_dir().join(format!("netflow-room-{}", std::process::id()));
        let group = dir.join("netflow-1");
        fs::create_dir_all(&group).unwrap();
        // 20 MiB limit, 1 MiB used.
        fs::write(group.join("memory.limit_in_bytes"), "20971520\n").unwrap();
        fs::write(group.join("memory.usage_in_bytes"), "1048576\n").unwrap();
        fs::write(group.join("memory.stat"), "total_inactive_file 0\n").unwrap();
        let gauge = MemoryGauge::of(&super::super::cgroup::Hierarchy {
            mount: dir.clone(),
            v2: false,
            own: "/netflow-1".into(),
        });
        let mut room = Room::new(Some(&gauge), ScanBudget::MAX);
        // (19 MiB left - 5 MiB reserve) / 2, at 240 bytes a row.
        assert_eq!(room.rows(1 << 30), 30_583);
        assert_eq!(room.rows(1_000), 1_000);
        room.keeping(30_000);
        // What stays free: 5 MiB + 30,000 rows' table (4.8 MB) = 10 MB of 19 MiB.
        assert!(
            !room.list(15_000),
            "15,000 fds would cost ~15 MB of dentries"
        );
        assert!(room.list(5_000));
        // The cgroup's usage is read again after a MiB of estimates: where the kernel
        // charged the dentries (another process had not listed them first), that is
        // what is left.
        fs::write(group.join("memory.usage_in_bytes"), "6291456\n").unwrap();
        assert!(!room.list(5_000), "the first 5,000 were charged");
        assert!(room.list(1_000));
        fs::remove_dir_all(&dir).unwrap();
        // No limit: only the fixed bounds.
        let mut free = Room::new(
            None,
            ScanBudget {
                sockets: 10,
                fds: 100,
            },
        );
        assert_eq!(free.rows(10), 10);
        assert!(free.list(100));
        assert!(!free.list(1));
    }

    #[test]
    fn real_uid_is_the_first_uid_field() {
        assert_eq!(real_uid("Name:\tx\nUid:\t1000\t0\t0\t0\n"), Some(1000));
        assert_eq!(real_uid("Name:\tx\n"), None);
    }
}
