//! Attribution: which process owns a flow.
//!
//! Owns the host's local addresses, the socket-table snapshot built from a /proc scan,
//! the per-flow owner cache and the bounded retry ring for flows not yet known.
//! Does not read /proc (that is `os::procfs`), read the clock, or log per packet.

mod local;
mod owners;
mod pending;
mod table;

pub use local::{orient, LocalAddrs, Orientation};
pub use owners::{FlowCache, FlowState};
pub use pending::PendingRing;
pub use table::{Lookup, NamespaceScan, ScanResult, SocketRow, SocketTable};
