//! The general parser: every link type and every frame, through etherparse's
//! `LaxSlicedPacket`. The fast path (`wire::fast`) takes the common frames first and
//! must agree with this one on every frame it takes (a test compares them).

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};

use super::summary::{PacketSummary, Skipped};
use super::LinkType;
use crate::model::{Proto, Timestamp, Unattributed};

/// Every link type and every frame, through etherparse's `LaxSlicedPacket`.
pub(super) fn summarize(
    link: LinkType,
    ts: Timestamp,
    frame: &[u8],
    wire_len: u32,
) -> Result<PacketSummary, Skipped> {
    with_sliced(link, frame, |sliced, link_len| {
        from_sliced(sliced, link_len, ts, wire_len)
    })
    .unwrap_or(Err(Skipped {
        reason: Unattributed::Malformed,
        bytes: wire_len,
    }))
}

/// Slices `frame` by its link type and hands the sliced packet, with the length of
/// its link header, to `f`; `None` when the link header itself is cut short.
///
/// A callback rather than a returned value: the sliced packet is a few hundred bytes,
/// and moving it through an Option cost a memmove per packet.
pub(super) fn with_sliced<R>(
    link: LinkType,
    frame: &[u8],
    f: impl FnOnce(&LaxSlicedPacket<'_>, usize) -> R,
) -> Option<R> {
    match link {
        LinkType::Ethernet => {
            let sliced = LaxSlicedPacket::from_ethernet(frame).ok()?;
            let link_len = match sliced.ether_payload() {
                Some(p) => offset_of(frame, p.payload),
                None => frame.len(),
            };
            Some(f(&sliced, link_len))
        }
        // SLL: 16 bytes, protocol (EtherType) in the last two.
        LinkType::LinuxSll => with_ether_type_at(frame, 14, 16, f),
        // SLL2: 20 bytes, protocol (EtherType) in the first two.
        LinkType::LinuxSll2 => with_ether_type_at(frame, 0, 20, f),
        LinkType::RawIp => Some(f(&LaxSlicedPacket::from_ip(frame).ok()?, 0)),
        LinkType::Null | LinkType::Loop => {
            Some(f(&LaxSlicedPacket::from_ip(frame.get(4..)?).ok()?, 4))
        }
    }
}

/// The summary of a sliced frame whose network layer starts `link_len` bytes in.
fn from_sliced(
    sliced: &LaxSlicedPacket<'_>,
    link_len: usize,
    ts: Timestamp,
    wire_len: u32,
) -> Result<PacketSummary, Skipped> {
    let net_wire_len = wire_len.saturating_sub(link_len as u32);
    let skipped = |reason| Skipped {
        reason,
        bytes: net_wire_len,
    };

    let (src_ip, dst_ip, ip_len, fragment) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            let stated = u32::from(h.total_len());
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                stated_or_wire(stated, net_wire_len),
                // The first fragment too: its transport header may be cut short.
                h.is_fragmenting_payload(),
            )
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            let stated = u32::from(h.payload_length()) + 40;
            let fragment = ip.payload().fragmented;
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                // A payload length of 0 means a jumbogram (BIG TCP): trust the wire.
                if h.payload_length() == 0 {
                    net_wire_len
                } else {
                    stated_or_wire(stated, net_wire_len)
                },
                fragment,
            )
        }
        Some(LaxNetSlice::Arp(_)) => return Err(skipped(Unattributed::NotIp)),
        None => {
            let reason = if is_ip_ether_type(sliced) {
                Unattributed::Malformed
            } else {
                Unattributed::NotIp
            };
            return Err(skipped(reason));
        }
    };
    let ip_skip = |reason| Skipped {
        reason,
        bytes: ip_len,
    };

    let (proto, sport, dport) = match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => (Proto::Tcp, t.source_port(), t.destination_port()),
        Some(TransportSlice::Udp(u)) => (Proto::Udp, u.source_port(), u.destination_port()),
        Some(_) => return Err(ip_skip(Unattributed::NotTcpUdp)),
        None => {
            let reason = match sliced.ip_payload().map(|p| p.ip_number) {
                _ if fragment => Unattributed::Fragment,
                Some(n) if TUNNELS.contains(&n) => Unattributed::Tunnel,
                Some(n) if n == etherparse::IpNumber::TCP || n == etherparse::IpNumber::UDP => {
                    Unattributed::Malformed
                }
                Some(_) => Unattributed::NotTcpUdp,
                None => Unattributed::Malformed,
            };
            return Err(ip_skip(reason));
        }
    };

    Ok(PacketSummary::one(
        ts,
        proto,
        SocketAddr::new(src_ip, sport),
        SocketAddr::new(dst_ip, dport),
        ip_len,
    ))
}

/// IP protocols that carry another IP packet: IP-in-IP, IPv6-in-IP, GRE.
const TUNNELS: [etherparse::IpNumber; 3] = [
    etherparse::IpNumber::IPV4,
    etherparse::IpNumber::IPV6,
    etherparse::IpNumber::GRE,
];

/// The IP header's stated length, unless it is zero (TSO/BIG TCP super-packets) or
/// claims more than the wire carried (a lie we do not count).
pub(super) fn stated_or_wire(stated: u32, net_wire_len: u32) -> u32 {
    if stated == 0 {
        net_wire_len
    } else {
        stated.min(net_wire_len)
    }
}

/// Slices a Linux cooked frame: its EtherType at `type_at`, the network layer after
/// `header_len` bytes.
fn with_ether_type_at<R>(
    frame: &[u8],
    type_at: usize,
    header_len: usize,
    f: impl FnOnce(&LaxSlicedPacket<'_>, usize) -> R,
) -> Option<R> {
    let bytes = frame.get(type_at..type_at + 2)?;
    let ether_type = EtherType(u16::from_be_bytes([bytes[0], bytes[1]]));
    let rest = frame.get(header_len..)?;
    Some(f(
        &LaxSlicedPacket::from_ether_type(ether_type, rest),
        header_len,
    ))
}

fn offset_of(frame: &[u8], inner: &[u8]) -> usize {
    (inner.as_ptr() as usize)
        .saturating_sub(frame.as_ptr() as usize)
        .min(frame.len())
}

fn is_ip_ether_type(sliced: &LaxSlicedPacket<'_>) -> bool {
    sliced
        .ether_payload()
        .is_some_and(|p| p.ether_type == EtherType::IPV4 || p.ether_type == EtherType::IPV6)
}
