//! Signals: SIGINT, SIGTERM and SIGHUP ask for the report now (a stop flag the pipeline
//! watches); a second one while netflow finishes, or SIGQUIT, exits at once, after
//! undoing what netflow changed on the host (cleanups registered with [`on_abort`]).
//!
//! Signals are read on their own thread (signal-hook's self-pipe), not in a handler,
//! so the exit path may remove files and cgroups, which a handler must not.
#![allow(
    clippy::disallowed_methods,
    reason = "the user insisted: this is the one place that exits the process"
)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;

/// Exit status after a second Ctrl-C/SIGTERM/SIGHUP.
pub const EXIT_INSISTED: i32 = 130;
/// Exit status after SIGQUIT (128 + 3, as a shell reports it).
pub const EXIT_QUIT: i32 = 131;

type Cleanup = Box<dyn FnOnce() + Send>;

/// What to undo before an abrupt exit, by registration number.
static CLEANUPS: Mutex<Vec<(u64, Cleanup)>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Starts watching signals: call it before creating anything that must not survive.
pub fn install(stop: Arc<AtomicBool>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT])?;
    std::thread::Builder::new()
        .name("netflow-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let insisted = stop.swap(true, Ordering::SeqCst);
                if signal == SIGQUIT {
                    abort(EXIT_QUIT, "quit (SIGQUIT)");
                }
                if insisted {
                    abort(EXIT_INSISTED, "stopped by a second signal while finishing");
                }
            }
        })?;
    Ok(())
}

/// Runs every registered cleanup, says why in one line, then exits with `status`.
fn abort(status: i32, why: &str) -> ! {
    let cleanups = std::mem::take(&mut *CLEANUPS.lock().unwrap_or_else(|e| e.into_inner()));
    for (_, cleanup) in cleanups {
        cleanup();
    }
    eprintln!("netflow: {why}; no report or capture file was written");
    std::process::exit(status)
}

/// Registers `cleanup` to run if netflow exits abruptly (second signal, SIGQUIT). It
/// is forgotten when the returned hook is dropped, i.e. when its owner cleaned up.
pub fn on_abort(cleanup: impl FnOnce() + Send + 'static) -> AbortHook {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    CLEANUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((id, Box::new(cleanup)));
    AbortHook(id)
}

/// Keeps a cleanup registered for as long as it lives.
#[derive(Debug)]
pub struct AbortHook(u64);

impl Drop for AbortHook {
    fn drop(&mut self) {
        CLEANUPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(id, _)| *id != self.0);
    }
}
