//! Vocabulary types shared by every layer.
//!
//! Owns flows, processes, counters (a process's and an interface's), time and the
//! reasons traffic goes unattributed.
//! Does no I/O of any kind: these are plain data.

mod counters;
mod flow;
mod process;
mod reason;
mod time;

pub use counters::{Counter, DirCounters, LinkCounters};
pub use flow::{canonical_ip, Direction, FlowKey, Proto};
pub use process::{ProcessInfo, ProcessKey};
pub use reason::{MatchQuality, Unattributed};
pub use time::Timestamp;
