//! SIGINT and SIGTERM become a stop flag; the pipeline then finishes the report.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// Installs the handlers: the first SIGINT/SIGTERM sets `stop`; a second one, while
/// netflow is still finishing, exits at once with status 130 (the user insists).
pub fn install(stop: Arc<AtomicBool>) -> std::io::Result<()> {
    for sig in [SIGINT, SIGTERM] {
        // Order matters: the conditional exit must see the flag before it is set.
        flag::register_conditional_shutdown(sig, 130, stop.clone())?;
        flag::register(sig, stop.clone())?;
    }
    Ok(())
}
