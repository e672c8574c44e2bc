//! The fast path for the common frame: untagged Ethernet, IPv4 without fragmentation
//! or IPv6 without extension headers, then TCP or UDP.
//!
//! It reads the same fields as the general path, with etherparse's header slices
//! instead of a whole `LaxSlicedPacket` (whose construction and copies were most of the
//! parsing cost). Anything else returns `None` and takes the general path, so both
//! give the same answer for every frame (a test compares them).

use std::net::{IpAddr, SocketAddr};

use etherparse::{IpNumber, Ipv4HeaderSlice, Ipv6HeaderSlice};

use super::general::stated_or_wire;
use super::summary::PacketSummary;
use crate::model::{Proto, Timestamp};

const ETHERNET_HEADER: usize = 14;
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ETHERTYPE_IPV6: [u8; 2] = [0x86, 0xdd];

pub(super) fn ethernet(frame: &[u8], ts: Timestamp, wire_len: u32) -> Option<PacketSummary> {
    let ether_type = frame.get(12..ETHERNET_HEADER)?;
    let ip = &frame[ETHERNET_HEADER..];
    let net_wire_len = wire_len.saturating_sub(ETHERNET_HEADER as u32);
    let (src, dst, protocol, ip_len, transport) = if ether_type == ETHERTYPE_IPV4 {
        let h = Ipv4HeaderSlice::from_slice(ip).ok()?;
        if h.is_fragmenting_payload() {
            return None;
        }
        let stated = u32::from(h.total_len());
        (
            IpAddr::V4(h.source_addr()),
            IpAddr::V4(h.destination_addr()),
            h.protocol(),
            stated_or_wire(stated, net_wire_len),
            ip.get(h.slice().len()..)?,
        )
    } else if ether_type == ETHERTYPE_IPV6 {
        let h = Ipv6HeaderSlice::from_slice(ip).ok()?;
        if h.payload_length() == 0 {
            return None;
        }
        let stated = u32::from(h.payload_length()) + 40;
        (
            IpAddr::V6(h.source_addr()),
            IpAddr::V6(h.destination_addr()),
            h.next_header(),
            stated_or_wire(stated, net_wire_len),
            ip.get(h.slice().len()..)?,
        )
    } else {
        return None;
    };
    let proto = match protocol {
        IpNumber::TCP => {
            // The whole TCP header must be there, as the general path requires.
            let data_offset = usize::from(*transport.get(12)? >> 4) * 4;
            if data_offset < 20 || transport.len() < data_offset {
                return None;
            }
            Proto::Tcp
        }
        IpNumber::UDP if transport.len() >= 8 => Proto::Udp,
        _ => return None,
    };
    let port = |at: usize| u16::from_be_bytes([transport[at], transport[at + 1]]);
    Some(PacketSummary::one(
        ts,
        proto,
        SocketAddr::new(src, port(0)),
        SocketAddr::new(dst, port(2)),
        ip_len,
    ))
}
