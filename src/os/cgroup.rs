//! Self-limits: netflow confines itself to a CPU quota and a memory limit through a
//! cgroup of its own, v2 (`cpu.max`, `memory.max`) or v1 (`cpu.cfs_quota_us`,
//! `memory.limit_in_bytes`), whichever the host has for each controller. The group is
//! created under netflow's current cgroup (so any outer limit still applies) and
//! removed when the guard is dropped.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The CFS period for CPU quotas: 100 ms, the kernel's default.
const PERIOD_US: u64 = 100_000;

/// What to limit netflow to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub cpu_cores: Option<f64>,
    pub memory_bytes: Option<u64>,
}

/// The groups netflow moved itself into; dropping it moves netflow back and removes them.
#[derive(Debug)]
pub struct SelfLimit {
    /// (group created, group netflow came from).
    groups: Vec<(PathBuf, PathBuf)>,
    /// How the limits were applied, e.g. `cpu: cgroup v1 ...`, for the report.
    pub description: Vec<String>,
    /// The process moved (netflow).
    pid: u32,
}

/// A cgroup hierarchy that offers a controller: where it is mounted, its version, and
/// netflow's own group in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub mount: PathBuf,
    pub v2: bool,
    pub own: String,
}

/// One controller to confine netflow by, and what to write in each cgroup version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Controller {
    /// The controller's name, e.g. `memory`.
    pub name: String,
    /// Files to write in netflow's group under cgroup v2, in order.
    pub v2_files: Vec<(String, String)>,
    /// The same under cgroup v1.
    pub v1_files: Vec<(String, String)>,
    /// For the report, e.g. `memory limited to 209715200 bytes`.
    pub description: String,
}

impl Controller {
    /// The controllers `limits` asks for: cpu, then memory.
    pub fn for_limits(limits: Limits) -> Vec<Controller> {
        let files = |pairs: &[(&str, String)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(f, v)| (f.to_string(), v.clone()))
                .collect()
        };
        let mut out = Vec::new();
        if let Some(cores) = limits.cpu_cores {
            let quota = ((cores * PERIOD_US as f64).round() as u64).max(1_000);
            out.push(Controller {
                name: "cpu".into(),
                v2_files: files(&[("cpu.max", format!("{quota} {PERIOD_US}"))]),
                v1_files: files(&[
                    ("cpu.cfs_period_us", PERIOD_US.to_string()),
                    ("cpu.cfs_quota_us", quota.to_string()),
                ]),
                description: format!("cpu limited to {cores} cores"),
            });
        }
        if let Some(bytes) = limits.memory_bytes {
            out.push(Controller {
                name: "memory".into(),
                v2_files: files(&[("memory.max", bytes.to_string())]),
                v1_files: files(&[("memory.limit_in_bytes", bytes.to_string())]),
                description: format!("memory limited to {bytes} bytes"),
            });
        }
        out
    }
}

/// What `apply` reads of the host: netflow's mounts and cgroups, and its pid.
#[derive(Clone, Debug)]
pub struct Host {
    /// /proc/self/mountinfo.
    pub mountinfo: String,
    /// /proc/self/cgroup.
    pub own: String,
    pub pid: u32,
}

impl Host {
    /// This process on this host.
    pub fn live() -> Host {
        Host {
            mountinfo: fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
            own: fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
            pid: std::process::id(),
        }
    }
}

/// Applies the limits. Fails (before capture starts) with the reason when the host has
/// no usable hierarchy for a controller or refuses the write.
pub fn apply(limits: Limits) -> Result<SelfLimit, Error> {
    apply_controllers(&Host::live(), &Controller::for_limits(limits))
}

/// Applies any controllers: the seam through which tests use one this machine's
/// cgroup v2 hierarchy has free (hugetlb), where cpu and memory are bound to v1.
pub fn apply_controllers(host: &Host, controllers: &[Controller]) -> Result<SelfLimit, Error> {
    let mut guard = SelfLimit {
        groups: Vec::new(),
        description: Vec::new(),
        pid: host.pid,
    };
    for c in controllers {
        let h = find(&host.mountinfo, &host.own, &c.name, controllers_v2).ok_or_else(|| {
            limit_error(&format!(
                "no cgroup hierarchy with the {} controller",
                c.name
            ))
        })?;
        let files = if h.v2 { &c.v2_files } else { &c.v1_files };
        let files: Vec<(&str, String)> =
            files.iter().map(|(f, v)| (f.as_str(), v.clone())).collect();
        let group = guard.enter(&h, &c.name, &files)?;
        guard.description.push(format!(
            "{} (cgroup {}, {})",
            c.description,
            if h.v2 { "v2" } else { "v1" },
            group.display()
        ));
    }
    Ok(guard)
}

impl SelfLimit {
    /// Creates netflow's group in `h` (once per hierarchy), writes `files`, moves
    /// netflow in.
    fn enter(
        &mut self,
        h: &Hierarchy,
        controller: &str,
        files: &[(&str, String)],
    ) -> Result<PathBuf, Error> {
        let parent = h.mount.join(h.own.trim_start_matches('/'));
        let group = parent.join(format!("netflow-{}", self.pid));
        let fresh = !self.groups.iter().any(|(g, _)| g == &group);
        if fresh {
            fs::create_dir_all(&group)
                .map_err(|e| limit_error(&format!("cannot create {}: {e}", group.display())))?;
            self.groups.push((group.clone(), parent.clone()));
        }
        if h.v2 {
            // The parent must hand the controller down; it may already.
            let _ = fs::write(
                parent.join("cgroup.subtree_control"),
                format!("+{controller}"),
            );
        }
        for (file, value) in files {
            fs::write(group.join(file), value).map_err(|e| {
                limit_error(&format!(
                    "cannot write {} to {}: {e}",
                    value,
                    group.join(file).display()
                ))
            })?;
        }
        if fresh {
            fs::write(group.join("cgroup.procs"), self.pid.to_string()).map_err(|e| {
                limit_error(&format!(
                    "cannot move netflow into {}: {e}",
                    group.display()
                ))
            })?;
        }
        Ok(group)
    }
}

impl Drop for SelfLimit {
    fn drop(&mut self) {
        for (group, parent) in self.groups.drain(..).rev() {
            let _ = fs::write(parent.join("cgroup.procs"), self.pid.to_string());
            let _ = fs::remove_dir(&group);
        }
    }
}

fn limit_error(why: &str) -> Error {
    Error::Usage(format!("cannot apply the self-limit: {why}"))
}

fn controllers_v2(mount: &Path) -> String {
    fs::read_to_string(mount.join("cgroup.controllers")).unwrap_or_default()
}

/// The hierarchy that offers `controller`: a v2 mount whose `cgroup.controllers` lists
/// it, else a v1 mount with it among its options. `own` is /proc/self/cgroup.
pub fn find(
    mountinfo: &str,
    own: &str,
    controller: &str,
    v2_controllers: impl Fn(&Path) -> String,
) -> Option<Hierarchy> {
    let mut v1 = None;
    for line in mountinfo.lines() {
        // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount) = left.split_whitespace().nth(4).map(PathBuf::from) else {
            continue;
        };
        let mut right = right.split_whitespace();
        let fstype = right.next().unwrap_or("");
        let superopts = right.nth(1).unwrap_or("");
        if fstype == "cgroup2" {
            if v2_controllers(&mount)
                .split_whitespace()
                .any(|c| c == controller)
            {
                let path = own.lines().find_map(|l| l.strip_prefix("0::"))?.to_string();
                return Some(Hierarchy {
                    mount,
                    v2: true,
                    own: path,
                });
            }
        } else if fstype == "cgroup"
            && superopts.split(',').any(|o| o == controller)
            && v1.is_none()
        {
            let path = own.lines().find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
                names
                    .split(',')
                    .any(|n| n == controller)
                    .then(|| path.to_string())
            })?;
            v1 = Some(Hierarchy {
                mount,
                v2: false,
                own: path,
            });
        }
    }
    v1
}

/// How close netflow is to its cgroup memory limit: its own group's and every
/// ancestor's (a limit anywhere above applies too). Read before each socket scan, so
/// the scan can keep within what is left (see `os::procfs::ScanBudget`).
#[derive(Clone, Debug)]
pub struct MemoryGauge {
    /// netflow's group, then each ancestor below the hierarchy's root.
    groups: Vec<PathBuf>,
    v2: bool,
}

/// A v1 `memory.limit_in_bytes` at or above this is "no limit" (the kernel shows
/// 9223372036854771712).
const V1_UNLIMITED: u64 = 1 << 62;

impl MemoryGauge {
    /// netflow's memory cgroup, v2 or v1, if the host has the controller.
    pub fn own() -> Option<MemoryGauge> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
        let own = fs::read_to_string("/proc/self/cgroup").ok()?;
        find(&mountinfo, &own, "memory", controllers_v2).map(|h| MemoryGauge::of(&h))
    }

    /// The gauge of group `h.own` in hierarchy `h`.
    pub fn of(h: &Hierarchy) -> MemoryGauge {
        let mut groups = Vec::new();
        let mut group = h.mount.join(h.own.trim_start_matches('/'));
        while group != h.mount && group.starts_with(&h.mount) {
            groups.push(group.clone());
            if !group.pop() {
                break;
            }
        }
        MemoryGauge { groups, v2: h.v2 }
    }

    /// The tightest limit over netflow's group and its ancestors and what is left
    /// under it, or `None` when none is limited. Usage is the working set: inactive
    /// page cache (e.g. of a pcap file being written) is reclaimed before anything is
    /// killed, so it does not count.
    pub fn read(&self) -> Option<MemoryLeft> {
        let (limit_file, usage_file, inactive) = if self.v2 {
            ("memory.max", "memory.current", "inactive_file")
        } else {
            (
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
                "total_inactive_file",
            )
        };
        let number = |group: &Path, file: &str| -> Option<u64> {
            fs::read_to_string(group.join(file))
                .ok()?
                .trim()
                .parse()
                .ok()
        };
        self.groups
            .iter()
            .filter_map(|group| {
                // v2 says "max" (no number) when unlimited.
                let limit = number(group, limit_file).filter(|&l| l < V1_UNLIMITED)?;
                let usage = number(group, usage_file)?;
                let stat = fs::read_to_string(group.join("memory.stat")).unwrap_or_default();
                let reclaimable = stat
                    .lines()
                    .find_map(|l| l.strip_prefix(inactive)?.strip_prefix(' '))
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .unwrap_or(0);
                Some(MemoryLeft {
                    limit,
                    left: limit.saturating_sub(usage.saturating_sub(reclaimable)),
                })
            })
            .min_by_key(|m| m.left)
    }
}

/// A memory limit and the bytes left under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryLeft {
    pub limit: u64,
    pub left: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS_V1: &str = "\
30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 30 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const OWN_V1: &str = "4:memory:/process_api/abc\n1:cpu:/\n0::/\n";

    #[test]
    fn v1_hierarchies_are_found_when_v2_lacks_the_controller() {
        let cpu = find(MOUNTS_V1, OWN_V1, "cpu", |_| String::new()).unwrap();
        assert_eq!(
            cpu,
            Hierarchy {
                mount: "/sys/fs/cgroup/cpu".into(),
                v2: false,
                own: "/".into()
            }
        );
        let mem = find(MOUNTS_V1, OWN_V1, "memory", |_| String::new()).unwrap();
        assert_eq!(mem.own, "/process_api/abc");
        assert!(!mem.v2);
        assert!(find(MOUNTS_V1, OWN_V1, "cpuacct,cpu", |_| String::new()).is_none());
    }

    #[test]
    fn v2_is_preferred_when_it_offers_the_controller() {
        let mounts = "40 30 0:36 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n";
        let own = "0::/user.slice/session-1.scope\n";
        let h = find(mounts, own, "memory", |_| {
            "cpuset cpu io memory pids".into()
        })
        .unwrap();
        assert_eq!(
            h,
            Hierarchy {
                mount: "/sys/fs/cgroup".into(),
                v2: true,
                own: "/user.slice/session-1.scope".into()
            }
        );
        assert!(find(mounts, own, "memory", |_| "cpu".into()).is_none());
    }

    /// A scratch directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("netflow-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn write(dir: &Path, files: &[(&str, &str)]) {
        fs::create_dir_all(dir).unwrap();
        for (name, text) in files {
            fs::write(dir.join(name), text).unwrap();
        }
    }

    #[test]
    fn memory_headroom_is_the_tightest_limit_less_the_working_set() {
        let root = Scratch::new("gauge-v1");
        let outer = root.0.join("process_api");
        let own = outer.join("netflow-7");
        // The outer group is tighter: 100 MB with 90 MB used, 4 MB of it inactive cache.
        write(
            &outer,
            &[
                ("memory.limit_in_bytes", "100000000\n"),
                ("memory.usage_in_bytes", "90000000\n"),
                (
                    "memory.stat",
                    "cache 5000000\ntotal_inactive_file 4000000\n",
                ),
            ],
        );
        write(
            &own,
            &[
                ("memory.limit_in_bytes", "20000000\n"),
                ("memory.usage_in_bytes", "1000000\n"),
                ("memory.stat", "total_inactive_file 0\n"),
            ],
        );
        let gauge = MemoryGauge::of(&Hierarchy {
            mount: root.0.clone(),
            v2: false,
            own: "/process_api/netflow-7".into(),
        });
        assert_eq!(gauge.read().map(|m| m.left), Some(14_000_000));
        // No limit anywhere: no headroom to speak of.
        fs::write(outer.join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        fs::write(own.join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        assert_eq!(gauge.read().map(|m| m.left), None);
    }

    #[test]
    fn v2_memory_max_of_max_is_no_limit() {
        let root = Scratch::new("gauge-v2");
        let own = root.0.join("user.slice/netflow.scope");
        write(
            &own,
            &[
                ("memory.max", "max\n"),
                ("memory.current", "5000000\n"),
                ("memory.stat", "anon 4000000\ninactive_file 1000000\n"),
            ],
        );
        let gauge = MemoryGauge::of(&Hierarchy {
            mount: root.0.clone(),
            v2: true,
            own: "/user.slice/netflow.scope".into(),
        });
        assert_eq!(gauge.read().map(|m| m.left), None);
        fs::write(own.join("memory.max"), "16000000\n").unwrap();
        assert_eq!(gauge.read().map(|m| m.left), Some(12_000_000));
    }
}
