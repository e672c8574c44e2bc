//! The per-packet hot path: a captured frame in, a small `Copy` summary out.
//!
//! Owns link-type handling and header parsing (etherparse slices, which borrow the
//! frame and allocate nothing).
//! Does not look up owners, read clocks or log: a frame it cannot use becomes a
//! [`Skipped`] value that the caller counts.
//!
//! Panic-freedom contract: [`summarize`] returns for every byte slice, of any length
//! and content. Lengths read from headers are never trusted beyond what was on the wire.

mod fast;
mod fragments;
mod link;
mod summary;

pub use fragments::{fragment_of, DatagramKey, Fragment, FragmentTable, MAX_DATAGRAMS};
pub use link::LinkType;
pub use summary::{summarize, PacketSummary, Skipped};

#[cfg(test)]
mod tests;
