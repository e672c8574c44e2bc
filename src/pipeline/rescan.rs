//! The rescan thread: one scan at the start, early scans when unknown traffic appears
//! (rate-limited), periodic scans while traffic goes unattributed, and one final scan
//! when capture ends. A host whose traffic is all attributed is rescanned only to look
//! for the remote ends of new flows (at most once per interval; see `attrib::RemoteChecks`):
//! reading /proc/net/tcp costs ~10 ms even when empty (the kernel walks its whole hash).

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::Event;
use crate::attrib::SocketTable;
use crate::model::Timestamp;
use crate::os::interfaces::local_addresses;
use crate::os::procfs::ProcScanner;

/// Requests to the rescan thread. Periodic and final scans walk all of /proc; early
/// ones are targeted (see `ProcScanner::scan`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Unknown traffic appeared: scan soon.
    Early,
    /// Traffic went unattributed: scan when the interval has passed.
    Periodic,
    /// Capture has ended: scan once more, then stop.
    Final,
}

/// The shortest gap between two scans, so a stream of unknown flows cannot turn
/// netflow into a /proc-walking busy loop (nethogs burns most of a core that way).
const MIN_GAP: Duration = Duration::from_millis(50);
/// Early scans also wait this many times the last scan's cost: rescans stay under
/// about a fifth of a core however large the host's socket tables are.
const GAP_PER_SCAN_COST: u32 = 4;

pub fn run(
    mut scanner: ProcScanner,
    interval: Duration,
    control: Receiver<Control>,
    events: SyncSender<Event>,
) {
    let mut generation = 0u64;
    let mut scan = |generation: &mut u64, targeted: bool| -> Duration {
        let began = Instant::now();
        let started_at = now();
        *generation += 1;
        let result = scanner.scan(started_at, local_addresses(), targeted);
        let table = SocketTable::build(*generation, result);
        let _ = events.send(Event::Scan(Box::new(table)));
        began.elapsed()
    };
    let mut cost = scan(&mut generation, false);
    let mut last = Instant::now();
    let mut periodic_wanted = false;
    loop {
        let wait = interval.saturating_sub(last.elapsed());
        let targeted = match control.recv_timeout(wait) {
            Ok(Control::Final) | Err(RecvTimeoutError::Disconnected) => {
                scan(&mut generation, false);
                return;
            }
            Ok(Control::Periodic) => {
                periodic_wanted = true;
                continue;
            }
            Err(RecvTimeoutError::Timeout) if !periodic_wanted => {
                // Nothing went unattributed: skip this period.
                last = Instant::now();
                continue;
            }
            Ok(Control::Early) => {
                // Wait out the gap (more early requests merge into this one), but
                // wake for the final scan.
                let gap = MIN_GAP.max(cost * GAP_PER_SCAN_COST);
                while last.elapsed() < gap {
                    match control.recv_timeout(gap.saturating_sub(last.elapsed())) {
                        Ok(Control::Final) | Err(RecvTimeoutError::Disconnected) => {
                            scan(&mut generation, false);
                            return;
                        }
                        // The scan below serves a periodic request too.
                        Ok(Control::Periodic | Control::Early) | Err(RecvTimeoutError::Timeout) => {
                        }
                    }
                }
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
        };
        periodic_wanted = false;
        cost = scan(&mut generation, targeted);
        last = Instant::now();
    }
}

fn now() -> Timestamp {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_micros(since_epoch.as_micros() as u64)
}
