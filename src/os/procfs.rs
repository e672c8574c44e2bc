//! Reads the socket tables and fd tables of a /proc tree into a [`ScanResult`].
//!
//! The root is a parameter, so tests run the production code on fixture trees under
//! `tests/fixtures/proc`. A process that vanishes mid-scan is skipped; one whose fds
//! may not be read is counted, never fatal.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use procfs::net::{TcpNetEntries, TcpState, UdpNetEntries};
use procfs::process::Stat;
use procfs::{FromRead, FromReadSI, SystemInfo};

use super::users::Users;
use crate::attrib::{ScanResult, SocketRow};
use crate::model::{ProcessInfo, ProcessKey, Proto, Timestamp};

/// Scans a /proc tree, remembering process details between scans so a long-lived
/// process's command line and user are read once.
pub struct ProcScanner {
    root: PathBuf,
    users: Users,
    known: HashMap<ProcessKey, ProcessInfo>,
    system_info: &'static SystemInfo,
}

impl ProcScanner {
    /// A scanner of the live /proc, with /etc/passwd for user names.
    pub fn live() -> ProcScanner {
        ProcScanner::with_root("/proc", Users::load(), procfs::current_system_info())
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
            system_info,
        }
    }

    /// One full scan: socket tables of this network namespace, then every process's
    /// socket fds, then details of the processes that hold sockets.
    pub fn scan(&mut self, started_at: Timestamp, local_addrs: Vec<IpAddr>) -> ScanResult {
        let sockets = self.socket_rows();
        let FdWalk {
            fds,
            unreadable,
            live_pids,
        } = socket_fds(&self.root);
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
        ScanResult {
            started_at,
            sockets,
            fds,
            processes,
            local_addrs,
            unreadable_processes: unreadable,
            live_pids,
        }
    }

    fn socket_rows(&self) -> Vec<SocketRow> {
        let net = self.root.join("net");
        let mut rows = Vec::new();
        for file in ["tcp", "tcp6"] {
            if let Ok(entries) = TcpNetEntries::from_file(net.join(file), self.system_info) {
                rows.extend(entries.0.into_iter().map(|e| SocketRow {
                    proto: Proto::Tcp,
                    local: e.local_address,
                    remote: e.remote_address,
                    inode: e.inode,
                    listening: e.state == TcpState::Listen,
                }));
            }
        }
        for file in ["udp", "udp6"] {
            if let Ok(entries) = UdpNetEntries::from_file(net.join(file), self.system_info) {
                rows.extend(entries.0.into_iter().map(|e| SocketRow {
                    proto: Proto::Udp,
                    local: e.local_address,
                    remote: e.remote_address,
                    inode: e.inode,
                    listening: false,
                }));
            }
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
        let cmdline = fs::read(dir.join("cmdline"))
            .map(|raw| join_cmdline(&raw))
            .unwrap_or_default();
        let uid = fs::read_to_string(dir.join("status"))
            .ok()
            .and_then(|s| real_uid(&s));
        Some(ProcessInfo {
            key,
            ppid: u32::try_from(stat.ppid).unwrap_or(0),
            name: stat.comm,
            cmdline,
            exe: fs::read_link(dir.join("exe"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
            uid,
            user: uid.map(|u| self.users.name(u)).unwrap_or_default(),
        })
    }
}

/// What a walk over `root/*/fd` found.
#[derive(Default)]
struct FdWalk {
    /// (pid, socket inode) for every socket fd.
    fds: Vec<(u32, u64)>,
    /// Processes whose fd directory could not be read for lack of permission.
    unreadable: u32,
    /// Every pid directory seen.
    live_pids: Vec<u32>,
}

fn socket_fds(root: &Path) -> FdWalk {
    let mut walk = FdWalk::default();
    let Ok(dir) = fs::read_dir(root) else {
        return walk;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        walk.live_pids.push(pid);
        let fd_dir = match fs::read_dir(entry.path().join("fd")) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                walk.unreadable += 1;
                continue;
            }
            Err(_) => continue, // exited mid-scan, or a kernel thread
        };
        for fd in fd_dir.flatten() {
            if let Ok(target) = fs::read_link(fd.path()) {
                if let Some(inode) = target.to_str().and_then(socket_inode) {
                    walk.fds.push((pid, inode));
                }
            }
        }
    }
    walk
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

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
    fn socket_links_give_inodes_and_others_do_not() {
        assert_eq!(socket_inode("socket:[4026532]"), Some(4026532));
        assert_eq!(socket_inode("pipe:[12]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
        assert_eq!(socket_inode("socket:[x]"), None);
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
