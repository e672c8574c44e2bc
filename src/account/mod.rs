//! Accounting: who moved how many bytes, and when.
//!
//! Owns per-process counters, per-second series, connection counts, the
//! unattributed counters by reason, and the count of distinct flows.
//! Does not decide ownership (that is `attrib`) and never reads a clock: every
//! packet arrives with its own timestamp.

mod distinct;
mod ledger;
mod series;

pub use distinct::{DistinctFlows, FlowsSeen, EXACT_FLOWS};
pub use ledger::{
    FlowAccount, Folded, Holder, Ledger, Peer, ProcessAccount, MAX_FOLDED_NAMES,
    MAX_LEDGER_PROCESSES,
};
pub use series::Series;
