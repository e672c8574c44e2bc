//! Attribution: which process owns a flow.
//!
//! Owns the host's local addresses, the socket-table snapshot built from a /proc scan,
//! the per-flow owner cache, the bounded retry ring for flows not yet known, the remote
//! ends that may turn out local (a late container), and the kernel socket log (sockets
//! too short-lived for /proc).
//! Does not read /proc (that is `os::procfs`), read the clock, or log per packet.

mod local;
mod owners;
mod pending;
mod remote;
mod socket_log;
mod table;
mod wildcard;

pub use local::{orient, LocalAddrs, Orientation};
pub use owners::{FlowCache, FlowState};
pub use pending::PendingRing;
pub use remote::RemoteChecks;
pub use socket_log::{LoggedSocket, SocketLog};
pub use table::{Lookup, NamespaceScan, ScanResult, Skipped, SocketRow, SocketTable, V6Only};
