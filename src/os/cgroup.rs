//! Self-limits: netflow confines itself to a CPU quota and a memory limit through a
//! cgroup of its own, v2 (`cpu.max`, `memory.max`) or v1 (`cpu.cfs_quota_us`,
//! `memory.limit_in_bytes`), whichever the host has for each controller. The group is
//! created under netflow's current cgroup (so any outer limit still applies) and
//! removed when the guard is dropped.
//!
//! cgroup v2 enables a controller for a group's children only in a group without
//! processes ("no internal processes"; EBUSY otherwise). Where netflow's own group
//! holds netflow alone (a scope of its own, `systemd-run --scope netflow ...`),
//! netflow moves into the group it creates first, then enables the controller above
//! it. Where the group holds other processes too (a login session's scope), nothing
//! is changed: netflow fails with exit status 2 and says how to run it (issue #13 item
//! 11). Everything that can be checked or created is, before anything that exists is
//! modified; whatever was changed is undone on drop, and by a reaper process if
//! netflow dies first (SIGKILL, the OOM killer, a second Ctrl-C).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::Error;

/// The CFS period for CPU quotas: 100 ms, the kernel's default.
const PERIOD_US: u64 = 100_000;

/// What to limit netflow to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub cpu_cores: Option<f64>,
    pub memory_bytes: Option<u64>,
}

/// The groups netflow moved itself into; dropping it moves netflow back and removes
/// them, and undoes what it enabled.
#[derive(Debug)]
pub struct SelfLimit {
    /// One per hierarchy, in the order applied.
    groups: Vec<Applied>,
    /// How the limits were applied, e.g. `cpu: cgroup v1 ...`, for the report.
    pub description: Vec<String>,
    /// The process moved (netflow).
    pid: u32,
    reaper: Option<Reaper>,
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
    /// The same limit as a systemd unit property, for the hint where cgroup v2
    /// refuses (e.g. `MemoryMax=209715200`).
    pub systemd_property: Option<String>,
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
                systemd_property: Some(format!("CPUQuota={}%", (cores * 100.0).round())),
            });
        }
        if let Some(bytes) = limits.memory_bytes {
            out.push(Controller {
                name: "memory".into(),
                v2_files: files(&[("memory.max", bytes.to_string())]),
                v1_files: files(&[("memory.limit_in_bytes", bytes.to_string())]),
                description: format!("memory limited to {bytes} bytes"),
                systemd_property: Some(format!("MemoryMax={bytes}")),
            });
        }
        out
    }
}

/// What `apply` reads of the host: netflow's mounts and cgroups, its pid, and whether
/// systemd is the init (for the hint).
#[derive(Clone, Debug)]
pub struct Host {
    /// /proc/self/mountinfo.
    pub mountinfo: String,
    /// /proc/self/cgroup.
    pub own: String,
    pub pid: u32,
    pub systemd: bool,
}

impl Host {
    /// This process on this host.
    pub fn live() -> Host {
        Host {
            mountinfo: fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
            own: fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
            pid: std::process::id(),
            systemd: systemd_is_init(Path::new("/proc")),
        }
    }
}

/// Whether PID 1 under `proc_root` is systemd (then `systemd-run --scope` can give
/// netflow a scope of its own).
pub fn systemd_is_init(proc_root: &Path) -> bool {
    fs::read_to_string(proc_root.join("1/comm")).is_ok_and(|c| c.trim() == "systemd")
}

/// Applies the limits. Fails (before capture starts, exit status 2) with the reason
/// when the host has no usable hierarchy for a controller or refuses it.
pub fn apply(limits: Limits) -> Result<SelfLimit, Error> {
    apply_controllers(&Host::live(), &Controller::for_limits(limits))
}

/// Applies any controllers: the seam through which tests use one this machine's
/// cgroup v2 hierarchy has free (hugetlb), where cpu and memory are bound to v1.
pub fn apply_controllers(host: &Host, controllers: &[Controller]) -> Result<SelfLimit, Error> {
    // 1. Checks: nothing is created or changed yet.
    let plans = plan(host, controllers)?;
    let mut guard = SelfLimit {
        groups: Vec::new(),
        description: Vec::new(),
        pid: host.pid,
        reaper: None,
    };
    if plans.is_empty() {
        return Ok(guard);
    }
    // 2. Creations: the groups, the limits in groups whose controllers are already
    // enabled, and the reaper. A failure removes what was created (the guard's drop).
    for plan in plans {
        create_group(&plan.group)?;
        guard.groups.push(Applied {
            plan,
            enabled: Vec::new(),
            moved: false,
        });
    }
    for a in &guard.groups {
        if a.plan.enable.is_empty() {
            write_files(&a.plan)?;
        }
    }
    let reaper = Reaper::start(&guard.groups)
        .map_err(|e| limit_error(&format!("cannot start its cleanup process /bin/sh: {e}")))?;
    let reaper_pid = reaper.pid();
    guard.reaper = Some(reaper);
    // 3. Changes to what exists, each undone by the guard if a later one fails.
    for i in 0..guard.groups.len() {
        let pid = guard.pid;
        let a = &mut guard.groups[i];
        if a.plan.leaf {
            // The reaper first: it must leave the group too, and undoes from there.
            move_into(&a.plan.group, reaper_pid)?;
            move_into(&a.plan.group, pid)?;
            a.moved = true;
        }
        for name in a.plan.enable.clone() {
            enable(&a.plan.parent, &name).map_err(|e| match e.raw_os_error() {
                Some(libc::EBUSY) => busy(&a.plan, host.systemd),
                _ => limit_error(&format!(
                    "cannot enable the {name} controller in {}: {e}",
                    a.plan.parent.join("cgroup.subtree_control").display()
                )),
            })?;
            a.enabled.push(name);
        }
        if !a.plan.enable.is_empty() {
            write_files(&a.plan)?;
        }
        if !a.plan.leaf {
            move_into(&a.plan.group, pid)?;
            a.moved = true;
        }
    }
    guard.description = guard
        .groups
        .iter()
        .flat_map(|a| {
            a.plan.descriptions.iter().map(|d| {
                format!(
                    "{d} (cgroup {}, {})",
                    if a.plan.v2 { "v2" } else { "v1" },
                    a.plan.group.display()
                )
            })
        })
        .collect();
    Ok(guard)
}

/// What netflow does in one hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Plan {
    v2: bool,
    mount: PathBuf,
    /// netflow's group, where it returns.
    parent: PathBuf,
    /// The group netflow creates and moves into.
    group: PathBuf,
    controllers: Vec<String>,
    /// Limit files to write in `group`, in order.
    files: Vec<(String, String)>,
    /// cgroup v2: controllers to enable in `parent` (those not enabled yet).
    enable: Vec<String>,
    /// cgroup v2: `parent` holds netflow alone and must enable controllers, so netflow
    /// moves into `group` before they are enabled.
    leaf: bool,
    descriptions: Vec<String>,
    /// For the hint: the controllers' systemd properties.
    systemd_properties: Vec<String>,
}

/// A plan and how far it got.
#[derive(Debug)]
struct Applied {
    plan: Plan,
    /// Controllers netflow enabled in the parent.
    enabled: Vec<String>,
    moved: bool,
}

/// Finds each controller's hierarchy and checks what netflow can do there, changing
/// nothing.
fn plan(host: &Host, controllers: &[Controller]) -> Result<Vec<Plan>, Error> {
    let mut plans: Vec<Plan> = Vec::new();
    for c in controllers {
        let h = find(&host.mountinfo, &host.own, &c.name, controllers_v2).ok_or_else(|| {
            limit_error(&format!(
                "no cgroup hierarchy with the {} controller",
                c.name
            ))
        })?;
        let at = match plans.iter().position(|p| p.mount == h.mount) {
            Some(at) => at,
            None => {
                let parent = h.mount.join(h.own.trim_start_matches('/'));
                plans.push(Plan {
                    v2: h.v2,
                    mount: h.mount.clone(),
                    group: parent.join(format!("netflow-{}", host.pid)),
                    parent,
                    controllers: Vec::new(),
                    files: Vec::new(),
                    enable: Vec::new(),
                    leaf: false,
                    descriptions: Vec::new(),
                    systemd_properties: Vec::new(),
                });
                plans.len() - 1
            }
        };
        let p = &mut plans[at];
        p.controllers.push(c.name.clone());
        p.files
            .extend(if h.v2 { &c.v2_files } else { &c.v1_files }.iter().cloned());
        p.descriptions.push(c.description.clone());
        p.systemd_properties.extend(c.systemd_property.clone());
    }
    for p in &mut plans {
        if p.v2 {
            check_v2(p, host)?;
        }
    }
    Ok(plans)
}

/// cgroup v2: the parent must offer each controller, and enable those it does not
/// yet hand down, which it can only do without processes of its own (the root is
/// exempt). With netflow alone in it, netflow moves out first; with others, nothing
/// can be done here.
fn check_v2(p: &mut Plan, host: &Host) -> Result<(), Error> {
    let read = |file: &str| fs::read_to_string(p.parent.join(file)).unwrap_or_default();
    let offered = read("cgroup.controllers");
    let enabled = read("cgroup.subtree_control");
    for c in &p.controllers {
        if !offered.split_whitespace().any(|o| o == c) {
            return Err(limit_error(&format!(
                "cgroup v2 does not offer the {c} controller to {} (a group above it does not hand it down)",
                p.parent.display()
            )));
        }
    }
    p.enable = p
        .controllers
        .iter()
        .filter(|c| !enabled.split_whitespace().any(|e| e == c.as_str()))
        .cloned()
        .collect();
    if p.enable.is_empty() || p.parent == p.mount {
        return Ok(());
    }
    let procs: Vec<u32> = read("cgroup.procs")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    if procs.iter().any(|&pid| pid != host.pid) {
        return Err(busy(p, host.systemd));
    }
    let kind = read("cgroup.type");
    if kind.trim() != "domain" {
        return Err(limit_error(&format!(
            "{} is a {} cgroup: netflow limits itself only from a plain (domain) one",
            p.parent.display(),
            kind.trim()
        )));
    }
    p.leaf = procs.contains(&host.pid);
    Ok(())
}

/// Exit status 2, with what to do instead: the group holds other processes, so
/// cgroup v2 refuses (EBUSY) to enable controllers for any group below it.
fn busy(p: &Plan, systemd: bool) -> Error {
    let hint = if systemd {
        let props: String = p
            .systemd_properties
            .iter()
            .map(|prop| format!(" -p {prop}"))
            .collect();
        format!(
            "run netflow in a scope of its own instead: `systemd-run --scope{props} netflow ...` without --cpu-limit/--mem-limit"
        )
    } else {
        "run netflow from a cgroup of its own (one that holds no other process), or without --cpu-limit/--mem-limit".to_string()
    };
    limit_error(&format!(
        "{} holds other processes, so cgroup v2 cannot enable {} for a group below it (EBUSY); {hint}",
        p.parent.display(),
        p.enable.join(" and ")
    ))
}

/// Creates netflow's group. One left by an earlier process with netflow's pid (it
/// died before it could remove it) is empty: it is removed first.
fn create_group(group: &Path) -> Result<(), Error> {
    let fail = |e: io::Error| limit_error(&format!("cannot create {}: {e}", group.display()));
    match fs::create_dir(group) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_dir(group).map_err(fail)?;
            fs::create_dir(group).map_err(fail)
        }
        other => other.map_err(fail),
    }
}

fn write_files(p: &Plan) -> Result<(), Error> {
    for (file, value) in &p.files {
        let path = p.group.join(file);
        fs::write(&path, value).map_err(|e| {
            limit_error(&format!("cannot write {value} to {}: {e}", path.display()))
        })?;
    }
    Ok(())
}

fn move_into(group: &Path, pid: u32) -> Result<(), Error> {
    fs::write(group.join("cgroup.procs"), pid.to_string()).map_err(|e| {
        limit_error(&format!(
            "cannot move process {pid} into {}: {e}",
            group.display()
        ))
    })
}

fn enable(parent: &Path, controller: &str) -> io::Result<()> {
    fs::write(
        parent.join("cgroup.subtree_control"),
        format!("+{controller}"),
    )
}

impl Drop for SelfLimit {
    /// Undoes in reverse: controllers netflow enabled (before it returns: a v2 group
    /// that hands controllers down takes no processes), netflow back where it was,
    /// then the groups, once the reaper is dismissed (in a v2 leaf it shares netflow's
    /// group). If netflow cannot go back, the reaper is left to finish once netflow
    /// has exited.
    fn drop(&mut self) {
        let mut back = true;
        for a in self.groups.iter().rev() {
            for name in a.enabled.iter().rev() {
                let _ = fs::write(
                    a.plan.parent.join("cgroup.subtree_control"),
                    format!("-{name}"),
                );
            }
            if a.moved {
                back &= fs::write(a.plan.parent.join("cgroup.procs"), self.pid.to_string()).is_ok();
            }
        }
        if let Some(reaper) = self.reaper.take() {
            if back {
                reaper.dismiss();
            }
            // Else dropped: its stdin closes and it cleans up after netflow's exit.
        }
        if back {
            for a in self.groups.iter().rev() {
                remove_group(&a.plan.group);
            }
        }
    }
}

/// Removes a group, waiting (bounded) for a process that just left or exited.
fn remove_group(group: &Path) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while fs::remove_dir(group).is_err() && group.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A process that outlives netflow to undo its cgroups if netflow dies without doing
/// so: SIGKILL, the OOM killer at its own memory limit, a second Ctrl-C (which exits at
/// once). It waits on a pipe that only netflow writes: `done` dismisses it; end of
/// file (netflow gone) makes it undo what netflow would have. A shell, so nothing is
/// forked from netflow's threads; it ignores the terminal's signals (Ctrl-C reaches
/// the whole process group).
#[derive(Debug)]
struct Reaper {
    child: Child,
    stdin: Option<ChildStdin>,
}

/// The reaper's script. Arguments are actions, in order: `disable FILE NAME` writes
/// `-NAME` to a subtree_control FILE, `join FILE` moves the reaper itself into the
/// group of that cgroup.procs FILE, `rmdir DIR` removes a group once empty (up to 5 s).
const REAPER_SCRIPT: &str = r#"trap '' INT TERM HUP QUIT
read -r line
[ "$line" = done ] && exit 0
while [ $# -gt 0 ]; do
  case $1 in
    disable) echo "-$3" > "$2" 2>/dev/null; shift 3 ;;
    join) echo $$ > "$2" 2>/dev/null; shift 2 ;;
    rmdir)
      i=0
      while [ -d "$2" ] && ! rmdir "$2" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.05 2>/dev/null || sleep 1; i=$((i + 1))
      done
      shift 2 ;;
    *) shift ;;
  esac
done
"#;

impl Reaper {
    fn start(groups: &[Applied]) -> io::Result<Reaper> {
        let mut args: Vec<String> = Vec::new();
        for a in groups.iter().rev() {
            let p = &a.plan;
            let subtree = p.parent.join("cgroup.subtree_control");
            let disable = p.enable.iter().rev().flat_map(|name| {
                [
                    "disable".to_string(),
                    subtree.display().to_string(),
                    name.clone(),
                ]
            });
            if p.leaf {
                // In the group with netflow: undo as netflow would, then leave.
                args.extend(disable);
                args.extend([
                    "join".into(),
                    p.parent.join("cgroup.procs").display().to_string(),
                ]);
                args.extend(["rmdir".into(), p.group.display().to_string()]);
            } else {
                args.extend(["rmdir".into(), p.group.display().to_string()]);
                args.extend(disable);
            }
        }
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(REAPER_SCRIPT)
            .arg("netflow-cgroup-reaper")
            .args(&args)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // In a v2 leaf it shares netflow's memory group, but the OOM killer picks the
        // largest process there: netflow, never a shell of a few hundred KB. It
        // inherits the fds libpcap opens without close-on-exec (dash cannot close
        // fds above 9), and holds them until it exits: with netflow, or just after.
        let stdin = child.stdin.take();
        Ok(Reaper { child, stdin })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Tells the reaper netflow undid everything itself, and waits (bounded) for it.
    fn dismiss(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"done\n");
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
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

    /// A cgroup v2 mount in a scratch directory: the root offers cpu and memory, and
    /// netflow (pid 42) is in `/user.slice/session-1.scope` with `procs`.
    fn v2_host(root: &Scratch, procs: &str, systemd: bool) -> Host {
        let mount = &root.0;
        write(mount, &[("cgroup.controllers", "cpu memory pids\n")]);
        write(
            &mount.join("user.slice/session-1.scope"),
            &[
                ("cgroup.controllers", "cpu memory pids\n"),
                ("cgroup.subtree_control", "\n"),
                ("cgroup.procs", procs),
                ("cgroup.type", "domain\n"),
            ],
        );
        Host {
            mountinfo: format!(
                "40 30 0:36 / {} rw,relatime - cgroup2 cgroup2 rw\n",
                mount.display()
            ),
            own: "0::/user.slice/session-1.scope\n".into(),
            pid: 42,
            systemd,
        }
    }

    fn both() -> Vec<Controller> {
        Controller::for_limits(Limits {
            cpu_cores: Some(0.5),
            memory_bytes: Some(209_715_200),
        })
    }

    #[test]
    fn a_v2_group_holding_only_netflow_is_left_for_a_leaf() {
        let root = Scratch::new("plan-leaf");
        let host = v2_host(&root, "42\n", false);
        let plans = plan(&host, &both()).unwrap();
        assert_eq!(plans.len(), 1, "one group for both controllers");
        let p = &plans[0];
        assert!(p.leaf);
        assert_eq!(p.enable, ["cpu", "memory"]);
        assert_eq!(
            p.group,
            root.0.join("user.slice/session-1.scope/netflow-42")
        );
        assert_eq!(
            p.files,
            [
                ("cpu.max".to_string(), "50000 100000".to_string()),
                ("memory.max".to_string(), "209715200".to_string())
            ]
        );
    }

    #[test]
    fn a_v2_group_with_other_processes_is_refused_with_the_systemd_run_hint() {
        let root = Scratch::new("plan-busy");
        let err = plan(&v2_host(&root, "42\n77\n", true), &both()).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_USAGE);
        let text = err.to_string();
        assert!(
            text.contains("session-1.scope holds other processes"),
            "{text}"
        );
        assert!(text.contains("cannot enable cpu and memory"), "{text}");
        assert!(
            text.contains(
                "`systemd-run --scope -p CPUQuota=50% -p MemoryMax=209715200 netflow ...`"
            ),
            "{text}"
        );
        // Without systemd as PID 1, the hint names no systemd-run.
        let err = plan(&v2_host(&root, "42\n77\n", false), &both()).unwrap_err();
        assert!(!err.to_string().contains("systemd-run"), "{err}");
        assert!(err.to_string().contains("a cgroup of its own"), "{err}");
    }

    #[test]
    fn a_v2_group_that_already_hands_the_controllers_down_needs_no_leaf() {
        let root = Scratch::new("plan-enabled");
        let host = v2_host(&root, "", false);
        let scope = root.0.join("user.slice/session-1.scope");
        fs::write(scope.join("cgroup.subtree_control"), "cpu memory\n").unwrap();
        let p = &plan(&host, &both()).unwrap()[0];
        assert!(!p.leaf && p.enable.is_empty());
        // A controller the group is not offered cannot be had at all.
        fs::write(scope.join("cgroup.controllers"), "cpu pids\n").unwrap();
        let err = plan(&host, &both()).unwrap_err().to_string();
        assert!(
            err.contains("does not offer the memory controller"),
            "{err}"
        );
    }

    #[test]
    fn the_v2_root_enables_controllers_with_processes_in_it() {
        let root = Scratch::new("plan-root");
        let mut host = v2_host(&root, "", false);
        host.own = "0::/\n".into();
        fs::write(root.0.join("cgroup.procs"), "1\n42\n").unwrap();
        fs::write(root.0.join("cgroup.subtree_control"), "\n").unwrap();
        let p = &plan(&host, &both()).unwrap()[0];
        assert!(!p.leaf);
        assert_eq!(p.enable, ["cpu", "memory"]);
    }

    #[test]
    fn systemd_is_recognised_as_pid_1() {
        let root = Scratch::new("init");
        write(&root.0.join("1"), &[("comm", "systemd\n")]);
        assert!(systemd_is_init(&root.0));
        write(&root.0.join("1"), &[("comm", "process_api\n")]);
        assert!(!systemd_is_init(&root.0));
        assert!(!systemd_is_init(&root.0.join("missing")));
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
