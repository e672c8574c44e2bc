use serde::Serialize;

/// A process identity that survives pid reuse: the kernel's start time (clock ticks
/// since boot) tells two processes with the same pid apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ProcessKey {
    pub pid: u32,
    pub start_time: u64,
}

impl ProcessInfo {
    /// A process as tests need one: `pid`, its parent and a name; start time 1000+pid.
    #[cfg(test)]
    pub fn sample(pid: u32, ppid: u32, name: &str) -> ProcessInfo {
        ProcessInfo {
            key: ProcessKey {
                pid,
                start_time: 1000 + u64::from(pid),
            },
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
