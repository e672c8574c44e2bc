//! Which process holds which socket: a walk over `/proc/PID/fd`.
//!
//! A process whose main thread has exited (`pthread_exit` in main) while others work
//! shows an empty `/proc/PID/fd`: its fd table is listed under each live thread,
//! `/proc/PID/task/TID/fd`, and is read there (issue #17 item 6).
//!
//! Reading each fd's link is most of a scan's cost (~4 µs each; 10,000 sockets take
//! ~40 ms). The memo remembers every fd's target, so a rescan lists each fd directory
//! (one getdents; or, where the fd count is unchanged, one stat) and reads links only
//! for fds it has not seen. A remembered link can
//! be stale (the fd was closed and its number reused): then the new socket has no
//! holder, and the scanner walks again without the memo.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::iter::Peekable;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a walk over `root/*/fd` found.
#[derive(Default)]
pub struct FdWalk {
    /// (pid, socket inode) for every socket fd kept (see [`FdLimits`]).
    pub fds: Vec<(u32, u64)>,
    /// Processes whose fd directory could not be read for lack of permission.
    pub unreadable: u32,
    /// Fds not read or not kept to stay within the scan's memory (see [`FdMemo::walk`]).
    pub skipped_fds: u64,
    /// Processes whose fds were not read, for the same reason.
    pub skipped_processes: u32,
}

/// Fixed bounds on a walk, whatever memory is left.
#[derive(Clone, Copy, Debug)]
pub struct FdLimits {
    /// Socket fds kept, at most.
    pub kept: usize,
    /// Fds the memo may hold after the walk, at most (never more than
    /// [`FdMemo::MAX_FDS`]).
    pub memo: usize,
}

impl FdLimits {
    /// No bound below the memo's own.
    pub const ALL: FdLimits = FdLimits {
        kept: usize::MAX,
        memo: FdMemo::MAX_FDS,
    };
}

/// One process's fds as last read, sorted by fd number: 16 bytes a socket fd and 4 a
/// fd of anything else (a map of fd to inode took ~20-40 bytes each).
#[derive(Default)]
struct PidFds {
    sockets: Vec<(u32, u64)>,
    others: Vec<u32>,
    /// The thread whose fd directory was read, when the main thread's was empty
    /// because it had exited.
    task: Option<u32>,
}

impl PidFds {
    fn len(&self) -> usize {
        self.sockets.len() + self.others.len()
    }

    /// The inode behind `fd` (0: not a socket), if remembered.
    fn get(&self, fd: u32) -> Option<u64> {
        if let Ok(i) = self.sockets.binary_search_by_key(&fd, |&(f, _)| f) {
            return Some(self.sockets[i].1);
        }
        self.others.binary_search(&fd).ok().map(|_| 0)
    }
}

/// fd number → socket inode, per pid, up to [`FdMemo::MAX_FDS`] fds in all.
#[derive(Default)]
pub struct FdMemo {
    by_pid: HashMap<u32, PidFds>,
    /// Fds remembered, over every pid.
    remembered: usize,
    /// Every pid at the last listing of the root, sorted: what [`FdMemo::new_pids`]
    /// compares with.
    listed: Vec<u32>,
}

impl FdMemo {
    /// The most fds remembered (~24 MB at 16 bytes each; fewer bytes when most are not
    /// sockets). Processes beyond it are walked in full every scan: slower, not wrong.
    pub const MAX_FDS: usize = 1 << 20;

    /// Every process under `root`. Processes not found are forgotten, so the memo is
    /// bounded by the live fd tables.
    pub fn walk_all(
        &mut self,
        root: &Path,
        trust_memo: bool,
        limits: FdLimits,
        room: &mut dyn FnMut(u64) -> bool,
    ) -> FdWalk {
        let Some(pids) = list_pids(root) else {
            return FdWalk::default();
        };
        let walk = self.walk(root, &pids, trust_memo, limits, room);
        let mut forgotten = 0;
        self.by_pid.retain(|pid, fds| {
            let live = pids.binary_search(pid).is_ok();
            if !live {
                forgotten += fds.len();
            }
            live
        });
        self.remembered -= forgotten;
        self.listed = pids;
        walk
    }

    /// Processes that started since the root was last listed (by this or by
    /// [`FdMemo::walk_all`]), sorted. One directory listing: a targeted scan walks them
    /// beside the known socket holders, so a process that started since (in a
    /// container, say) is found without walking every process (issue #17 item 8).
    pub fn new_pids(&mut self, root: &Path) -> Vec<u32> {
        let Some(pids) = list_pids(root) else {
            return Vec::new();
        };
        let new = pids
            .iter()
            .copied()
            .filter(|pid| self.listed.binary_search(pid).is_err())
            .collect();
        self.listed = pids;
        new
    }

    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }

    fn forget(&mut self, pid: u32) -> Option<PidFds> {
        let known = self.by_pid.remove(&pid)?;
        self.remembered -= known.len();
        Some(known)
    }

    /// The given processes only (the others stay remembered).
    ///
    /// A process whose fd count (the size of `/proc/PID/fd`, one stat, since Linux
    /// 6.2) is what the memo holds is not listed again: a close and open in between is
    /// caught like any reused fd number, by a socket left without a holder. The others
    /// are listed fewest fds first, each only if `room(its fd count)` says the memory
    /// left allows: listing costs the kernel a dentry and an inode per fd (~900 bytes,
    /// charged to netflow's cgroup), so one process with 15,000 sockets costs 13 MB. A
    /// process left out is counted in `skipped_processes` and its fds in `skipped_fds`.
    /// (Older kernels say 0 fds: processes are then listed in pid order, and asked for
    /// room every 1,024 fds; one cut short counts as skipped.)
    pub fn walk(
        &mut self,
        root: &Path,
        pids: &[u32],
        trust_memo: bool,
        limits: FdLimits,
        room: &mut dyn FnMut(u64) -> bool,
    ) -> FdWalk {
        let memo_cap = limits.memo.min(Self::MAX_FDS);
        if self.remembered > memo_cap {
            // The bound shrank: start again rather than keep what no longer fits.
            self.by_pid.clear();
            self.remembered = 0;
        }
        let mut walk = FdWalk::default();
        let mut fresh = self.recall(root, pids, trust_memo, limits, &mut walk);
        // Fewest fds first: under a memory limit, many small processes are read in
        // full before one with tens of thousands of sockets is left out.
        fresh.sort_unstable();
        for (count, pid) in fresh {
            if !room(count) {
                self.forget(pid);
                walk.skipped_processes += 1;
                walk.skipped_fds += count;
                continue;
            }
            let (task, entries) = match open_fds(root, pid) {
                Ok(opened) => opened,
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    walk.unreadable += 1;
                    continue;
                }
                Err(_) => {
                    // Exited mid-scan, or a kernel thread.
                    self.forget(pid);
                    continue;
                }
            };
            let known = self.forget(pid).filter(|_| trust_memo).unwrap_or_default();
            let listed = list_fds(entries, &known, count, room, |inode| {
                walk.keep(limits, pid, inode)
            });
            drop(known);
            match listed {
                // A process cut short is neither remembered nor whole.
                None => walk.skipped_processes += 1,
                Some(now) if self.remembered + now.len() <= memo_cap => {
                    self.remember(pid, PidFds { task, ..now })
                }
                Some(_) => {}
            }
        }
        walk
    }

    /// Keeps the sockets of the processes whose fd count is what the memo holds (when
    /// the memo is trusted); returns the others, as (fd count, pid), to be listed.
    fn recall(
        &mut self,
        root: &Path,
        pids: &[u32],
        trust_memo: bool,
        limits: FdLimits,
        walk: &mut FdWalk,
    ) -> Vec<(u64, u32)> {
        let mut fresh = Vec::new();
        for &pid in pids {
            let task = self.by_pid.get(&pid).and_then(|known| known.task);
            // A thread read last time may have exited since: then the main one's.
            let meta = fs::metadata(fd_path(root, pid, task))
                .or_else(|_| fs::metadata(fd_path(root, pid, None)));
            let Ok(meta) = meta else {
                // Exited mid-scan.
                self.forget(pid);
                continue;
            };
            match self.by_pid.get(&pid) {
                Some(known)
                    if trust_memo && known.len() > 0 && meta.len() == known.len() as u64 =>
                {
                    for &(_, inode) in &known.sockets {
                        walk.keep(limits, pid, inode);
                    }
                }
                _ => fresh.push((meta.len(), pid)),
            }
        }
        fresh
    }

    fn remember(&mut self, pid: u32, mut now: PidFds) {
        // /proc lists fds in ascending order; sorting is a check, not work.
        now.sockets.sort_unstable();
        now.others.sort_unstable();
        now.sockets.shrink_to_fit();
        now.others.shrink_to_fit();
        self.remembered += now.len();
        self.by_pid.insert(pid, now);
    }
}

impl FdWalk {
    /// Keeps a socket fd, or counts it as skipped past [`FdLimits::kept`].
    fn keep(&mut self, limits: FdLimits, pid: u32, inode: u64) {
        if self.fds.len() < limits.kept {
            self.fds.push((pid, inode));
        } else {
            self.skipped_fds += 1;
        }
    }
}

/// Lists one process's fd directory: each fd's socket inode, from `known` where it
/// remembers the fd, else from the fd's link; `on_socket` sees each socket as it is
/// found. Fds beyond the `count` paid for (it grew, or the kernel says 0) are paid
/// for as they come; `None` when `room` refused (the process is cut short).
fn list_fds(
    entries: impl Iterator<Item = io::Result<fs::DirEntry>>,
    known: &PidFds,
    count: u64,
    room: &mut dyn FnMut(u64) -> bool,
    mut on_socket: impl FnMut(u64),
) -> Option<PidFds> {
    let mut now = PidFds::default();
    let (mut paid, mut listed) = (count, 0u64);
    for entry in entries.flatten() {
        if listed == paid {
            if !room(UNPAID_CHUNK) {
                return None;
            }
            paid += UNPAID_CHUNK;
        }
        listed += 1;
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let inode = match known.get(fd) {
            Some(inode) => inode,
            None => match fs::read_link(entry.path()) {
                Ok(target) => target.to_str().and_then(socket_inode).unwrap_or(0),
                Err(_) => continue, // closed while we looked
            },
        };
        if inode == 0 {
            now.others.push(fd);
        } else {
            now.sockets.push((fd, inode));
            on_socket(inode);
        }
    }
    Some(now)
}

/// `root/PID/fd`, or with `task`, `root/PID/task/TID/fd`.
fn fd_path(root: &Path, pid: u32, task: Option<u32>) -> PathBuf {
    let dir = root.join(pid.to_string());
    match task {
        Some(tid) => dir.join("task").join(tid.to_string()).join("fd"),
        None => dir.join("fd"),
    }
}

/// Opens a process's fd directory: its own, unless that is empty because the main
/// thread has exited while others live; then a live thread's (the table is shared), and
/// which thread that is.
fn open_fds(root: &Path, pid: u32) -> io::Result<(Option<u32>, Peekable<fs::ReadDir>)> {
    let mut own = fs::read_dir(fd_path(root, pid, None))?.peekable();
    if own.peek().is_some() {
        return Ok((None, own));
    }
    // Empty: a process without files (kernel threads; one stat each) or one whose main
    // thread has exited.
    let other = live_thread(&root.join(pid.to_string()), pid)
        .and_then(|tid| Some((tid, fs::read_dir(fd_path(root, pid, Some(tid))).ok()?)));
    Ok(match other {
        Some((tid, entries)) => (Some(tid), entries.peekable()),
        None => (None, own),
    })
}

/// A thread of the process at `dir` (its /proc directory) other than the main one,
/// `pid`; `None` for a single-threaded process (`task` links one entry per thread,
/// so one stat tells).
pub fn live_thread(dir: &Path, pid: u32) -> Option<u32> {
    let tasks = dir.join("task");
    if fs::metadata(&tasks).ok()?.nlink() <= 3 {
        return None;
    }
    fs::read_dir(&tasks)
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|&tid| tid != pid)
}

/// The pids under `root`, sorted; `None` if it cannot be listed.
fn list_pids(root: &Path) -> Option<Vec<u32>> {
    let mut pids: Vec<u32> = fs::read_dir(root)
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    pids.sort_unstable();
    Some(pids)
}

/// Fds listed between two checks of the memory left, where the fd count was not
/// known beforehand (kernels before 6.2 say 0).
const UNPAID_CHUNK: u64 = 1_024;

/// The inode of a `socket:[INODE]` link target.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
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
}
