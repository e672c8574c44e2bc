//! Which process holds which socket: a walk over `/proc/PID/fd`.
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
use std::path::Path;

/// What a walk over `root/*/fd` found.
#[derive(Default)]
pub struct FdWalk {
    /// (pid, socket inode) for every socket fd.
    pub fds: Vec<(u32, u64)>,
    /// Processes whose fd directory could not be read for lack of permission.
    pub unreadable: u32,
}

/// fd number → socket inode (0: not a socket), per pid.
#[derive(Default)]
pub struct FdMemo {
    by_pid: HashMap<u32, HashMap<u32, u64>>,
}

impl FdMemo {
    /// Every process under `root`. Processes not found are forgotten, so the memo is
    /// bounded by the live fd tables.
    pub fn walk_all(&mut self, root: &Path, trust_memo: bool) -> FdWalk {
        let Ok(dir) = fs::read_dir(root) else {
            return FdWalk::default();
        };
        let mut pids: Vec<u32> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect();
        pids.sort_unstable();
        let walk = self.walk(root, &pids, trust_memo);
        self.by_pid.retain(|pid, _| pids.binary_search(pid).is_ok());
        walk
    }

    /// Whether the process has as many fds as remembered: since Linux 6.2 the size of
    /// `/proc/PID/fd` is its number of open fds, one stat instead of listing them.
    /// (Older kernels say 0: the directory is listed.) A close and open in between is
    /// caught like any reused fd number: by a socket left without a holder.
    fn unchanged(&self, pid: u32, fd_dir: &Path) -> bool {
        match (self.by_pid.get(&pid), fs::metadata(fd_dir)) {
            (Some(known), Ok(meta)) => !known.is_empty() && meta.len() == known.len() as u64,
            _ => false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }

    /// The given processes only (the others stay remembered).
    pub fn walk(&mut self, root: &Path, pids: &[u32], trust_memo: bool) -> FdWalk {
        let mut walk = FdWalk::default();
        for &pid in pids {
            let fd_dir = root.join(pid.to_string()).join("fd");
            if trust_memo && self.unchanged(pid, &fd_dir) {
                let known = &self.by_pid[&pid];
                walk.fds
                    .extend(known.values().filter(|&&i| i != 0).map(|&i| (pid, i)));
                continue;
            }
            let entries = match fs::read_dir(&fd_dir) {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    walk.unreadable += 1;
                    continue;
                }
                Err(_) => {
                    // Exited mid-scan, or a kernel thread.
                    self.by_pid.remove(&pid);
                    continue;
                }
            };
            let known = self
                .by_pid
                .remove(&pid)
                .filter(|_| trust_memo)
                .unwrap_or_default();
            let mut now = HashMap::with_capacity(known.len());
            for entry in entries.flatten() {
                let Some(fd) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                let inode = match known.get(&fd) {
                    Some(&inode) => inode,
                    None => match fs::read_link(entry.path()) {
                        Ok(target) => target.to_str().and_then(socket_inode).unwrap_or(0),
                        Err(_) => continue, // closed while we looked
                    },
                };
                now.insert(fd, inode);
                if inode != 0 {
                    walk.fds.push((pid, inode));
                }
            }
            self.by_pid.insert(pid, now);
        }
        walk
    }
}

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
