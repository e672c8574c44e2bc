//! Accounting: who moved how many bytes, and when.
//!
//! Owns per-process counters, per-second series, connection counts and the
//! unattributed counters by reason.
//! Does not decide ownership (that is `attrib`) and never reads a clock: every
//! packet arrives with its own timestamp.

mod ledger;
mod series;

pub use ledger::{
    FlowAccount, Folded, Ledger, ProcessAccount, MAX_FOLDED_NAMES, MAX_LEDGER_PROCESSES,
};
pub use series::Series;
