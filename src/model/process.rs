use serde::Serialize;

/// A process identity that survives pid reuse: the kernel's start time tells two
/// processes with the same pid apart. /proc gives it in clock ticks since boot (10 ms
/// each, usually); the socket log in nanoseconds, which also tells apart two processes
/// that got the same pid within one tick. So a process is (pid, start in ns) when the
/// log saw it, else (pid, start in ticks): a key without `start_ns` may be either of
/// the keys with its pid and tick that have one (see [`ProcessKey::may_be`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ProcessKey {
    pub pid: u32,
    /// Clock ticks since boot, as in /proc/PID/stat.
    pub start_time: u64,
    /// Nanoseconds since boot, when the socket log saw the process.
    pub start_ns: Option<u64>,
}

impl ProcessKey {
    /// A process as /proc sees it.
    pub fn from_ticks(pid: u32, start_time: u64) -> ProcessKey {
        ProcessKey {
            pid,
            start_time,
            start_ns: None,
        }
    }

    /// A process as the socket log sees it, with `ns_per_tick` to give its tick.
    pub fn from_ns(pid: u32, start_ns: u64, ns_per_tick: u64) -> ProcessKey {
        ProcessKey {
            pid,
            start_time: start_ns / ns_per_tick.max(1),
            start_ns: Some(start_ns),
        }
    }

    /// Whether the two keys may name one process: the same pid and tick, and the same
    /// start in ns where both know it.
    pub fn may_be(&self, other: &ProcessKey) -> bool {
        let ns_agree = match (self.start_ns, other.start_ns) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        self.pid == other.pid && self.start_time == other.start_time && ns_agree
    }
}

impl ProcessInfo {
    /// A process as tests need one: `pid`, its parent and a name; start time 1000+pid.
    #[cfg(test)]
    pub fn sample(pid: u32, ppid: u32, name: &str) -> ProcessInfo {
        ProcessInfo {
            key: ProcessKey::from_ticks(pid, 1000 + u64::from(pid)),
            ppid,
            name: name.into(),
            cmdline: name.into(),
            exe: format!("/usr/bin/{name}"),
            uid: Some(0),
            user: "root".into(),
            netns: 0,
            cgroup: String::new(),
            container_id: None,
        }
    }
}

/// What a report says about a process, read once per process from /proc.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProcessInfo {
    pub key: ProcessKey,
    pub ppid: u32,
    /// The kernel's short name (`comm`, at most 15 bytes).
    pub name: String,
    /// Arguments joined by spaces; empty for kernel threads and processes that hid it.
    pub cmdline: String,
    /// The executable's path; empty when it cannot be read (kernel threads, permissions).
    pub exe: String,
    pub uid: Option<u32>,
    /// The user name for `uid`, or the number when the name is unknown.
    pub user: String,
    /// The network namespace's inode (0 when unknown).
    pub netns: u64,
    /// The cgroup path (cgroup v2, else the systemd hierarchy).
    pub cgroup: String,
    /// The container id found in the cgroup path, for docker/containerd/CRI-O/podman.
    pub container_id: Option<String>,
}

impl ProcessInfo {
    /// This row's details updated by a later sighting of the same process: a row is
    /// named as last seen (an exec changes the name and command line), except that what
    /// the later sighting lacks (an exited process's command line, say) is kept. The key
    /// gains the start in ns if only the later one knows it.
    pub fn updated_by(&self, later: &ProcessInfo) -> ProcessInfo {
        let newer = |old: &String, new: &String| {
            if new.is_empty() {
                old.clone()
            } else {
                new.clone()
            }
        };
        ProcessInfo {
            key: ProcessKey {
                start_ns: self.key.start_ns.or(later.key.start_ns),
                ..self.key
            },
            ppid: if later.ppid != 0 {
                later.ppid
            } else {
                self.ppid
            },
            name: newer(&self.name, &later.name),
            cmdline: newer(&self.cmdline, &later.cmdline),
            exe: newer(&self.exe, &later.exe),
            uid: later.uid.or(self.uid),
            user: newer(&self.user, &later.user),
            netns: if later.netns != 0 {
                later.netns
            } else {
                self.netns
            },
            cgroup: newer(&self.cgroup, &later.cgroup),
            container_id: later.container_id.clone().or(self.container_id.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_and_without_the_start_in_ns() {
        let proc_key = ProcessKey::from_ticks(42, 7);
        let a = ProcessKey::from_ns(42, 70_000_001, 10_000_000);
        let b = ProcessKey::from_ns(42, 79_999_999, 10_000_000);
        assert_eq!(a.start_time, 7);
        assert!(proc_key.may_be(&a) && a.may_be(&proc_key));
        assert!(!a.may_be(&b), "one tick, two processes");
        assert!(!proc_key.may_be(&ProcessKey::from_ticks(42, 8)));
        assert!(!proc_key.may_be(&ProcessKey::from_ticks(43, 7)));
    }

    #[test]
    fn a_row_is_named_as_last_seen_but_keeps_what_the_later_sighting_lacks() {
        let first = ProcessInfo::sample(42, 1, "sh");
        let mut later = ProcessInfo::sample(42, 1, "python3");
        later.key.start_ns = Some(10_420_000_000);
        later.exe = String::new();
        let row = first.updated_by(&later);
        assert_eq!(
            (row.name.as_str(), row.cmdline.as_str()),
            ("python3", "python3")
        );
        assert_eq!(row.exe, "/usr/bin/sh", "kept");
        assert_eq!(row.key.start_ns, later.key.start_ns);
    }
}
