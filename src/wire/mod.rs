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
mod general;
mod link;
mod summary;

pub use fragments::{fragment_of, DatagramKey, Fragment, FragmentTable, MAX_DATAGRAMS};
pub use link::LinkType;
pub use summary::{PacketSummary, Skipped};

use crate::model::Timestamp;

/// Parses one captured frame.
///
/// `frame` is what was captured (possibly cut to the snap length); `wire_len` is the
/// frame's length on the wire, from the pcap header. Byte counts use the IP header's
/// own length field, clamped to what the wire carried, so truncated captures still
/// count full packets and Ethernet padding is not counted.
pub fn summarize(
    link: LinkType,
    ts: Timestamp,
    frame: &[u8],
    wire_len: u32,
) -> Result<PacketSummary, Skipped> {
    // Most frames take the fast path (`fast`); the rest, the general one (`general`).
    if link == LinkType::Ethernet {
        if let Some(summary) = fast::ethernet(frame, ts, wire_len) {
            return Ok(summary);
        }
    }
    general::summarize(link, ts, frame, wire_len)
}

#[cfg(test)]
mod tests;
