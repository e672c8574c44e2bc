//! The socket-log thread: reads the kernel's socket records, names their processes
//! and hands them to the engine in batches.
//!
//! Polls the ring buffer every [`POLL`] rather than blocking on its fd: the wake-ups
//! cost nothing measurable and need no `unsafe` epoll code. A record arrives a few
//! microseconds after the packet it explains; the engine keeps that packet in its retry
//! ring meanwhile.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::Event;
use crate::attrib::LoggedSocket;
use crate::model::{ProcessInfo, ProcessKey};
use crate::os::ebpf::{RawRecord, SocketLogProbe};
use crate::os::procfs;
use crate::os::users::Users;

const POLL: Duration = Duration::from_millis(5);
/// Processes whose details are remembered; beyond it the memo starts over.
const MAX_KNOWN_PROCESSES: usize = 4_096;

/// What the thread read, for the report.
#[derive(Clone, Copy, Debug, Default)]
pub struct SocketLogTally {
    pub records: u64,
    pub lost: u64,
}

/// Reads until `stop` is set, then drains what is left (so every record of the capture
/// reaches the engine before the final scan).
pub fn run(
    mut probe: SocketLogProbe,
    stop: Arc<AtomicBool>,
    events: SyncSender<Event>,
) -> SocketLogTally {
    let mut namer = Namer::new(procfs::ticks_per_second());
    let mut tally = SocketLogTally::default();
    loop {
        let last = stop.load(Ordering::Acquire);
        let mut batch = Vec::new();
        tally.records += probe.drain(|r| batch.push(namer.logged(r))) as u64;
        if !batch.is_empty() && events.send(Event::SocketLog(batch)).is_err() {
            break;
        }
        if last {
            break;
        }
        thread::sleep(POLL);
    }
    tally.lost = probe.lost();
    tally
}

/// Turns records into logged sockets with their process's details: read from /proc
/// while the process lives, else what the kernel recorded (it exited).
struct Namer {
    users: Users,
    known: HashMap<ProcessKey, Arc<ProcessInfo>>,
    ns_per_tick: u64,
}

impl Namer {
    fn new(ticks_per_second: u64) -> Namer {
        Namer {
            users: Users::load(),
            known: HashMap::new(),
            ns_per_tick: 1_000_000_000 / ticks_per_second.max(1),
        }
    }

    fn logged(&mut self, r: RawRecord) -> LoggedSocket {
        // /proc/PID/stat shows the same start time in clock ticks, so a process found
        // by both /proc and the log is one row; the nanoseconds tell apart two that got
        // the same pid within one tick.
        let key = ProcessKey::from_ns(r.tgid, r.start_boottime_ns, self.ns_per_tick);
        if self.known.len() >= MAX_KNOWN_PROCESSES {
            self.known.clear();
        }
        let owner = self
            .known
            .entry(key)
            .or_insert_with(|| {
                let live =
                    procfs::read_process(Path::new("/proc"), key.pid, key.start_time, &self.users)
                        .map(|info| ProcessInfo { key, ..info });
                Arc::new(live.unwrap_or_else(|| ProcessInfo {
                    key,
                    ppid: r.ppid,
                    name: r.comm.clone(),
                    cmdline: String::new(),
                    exe: String::new(),
                    uid: Some(r.uid),
                    user: self.users.name(r.uid),
                    netns: u64::from(r.netns),
                    cgroup: String::new(),
                    container_id: None,
                }))
            })
            .clone();
        LoggedSocket {
            proto: r.proto,
            local: r.local,
            remote: r.remote,
            v6only: r.v6only,
            netns: u64::from(r.netns),
            owner,
        }
    }
}
