use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};

use super::{fast, LinkType};
use crate::model::{Counter, Proto, Timestamp, Unattributed};

/// What the rest of netflow needs from one TCP or UDP packet, or from a run of packets
/// of one flow in one direction that a capture thread added up (80 bytes, `Copy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketSummary {
    /// When the (last) packet was captured.
    pub ts: Timestamp,
    pub proto: Proto,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// IP header + payload, as the IP header states it, never more than was on the
    /// wire; summed over the run.
    pub bytes: u32,
    /// Packets this stands for: 1 from the parser.
    pub packets: u16,
}

impl PacketSummary {
    /// One packet of `ip_len` bytes at the IP layer.
    pub fn one(ts: Timestamp, proto: Proto, src: SocketAddr, dst: SocketAddr, ip_len: u32) -> Self {
        PacketSummary {
            ts,
            proto,
            src,
            dst,
            bytes: ip_len,
            packets: 1,
        }
    }

    /// Packets and IP bytes, for the ledger.
    pub fn counter(&self) -> Counter {
        Counter {
            packets: u64::from(self.packets),
            bytes: u64::from(self.bytes),
        }
    }

    /// Adds `next` (a later packet) to this run if it is of the same flow and
    /// direction and the counts cannot overflow; says whether it did.
    pub fn absorb(&mut self, next: &PacketSummary) -> bool {
        let fits = self.packets < u16::MAX && self.bytes.checked_add(next.bytes).is_some();
        if !fits || self.src != next.src || self.dst != next.dst || self.proto != next.proto {
            return false;
        }
        self.ts = self.ts.max(next.ts);
        self.bytes += next.bytes;
        self.packets += next.packets;
        true
    }
}

/// A frame that cannot be attributed to a socket, with the network-layer bytes it carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub reason: Unattributed,
    pub bytes: u32,
}

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
    // Most frames take the fast path (see `wire::fast`); the rest, the general one.
    if link == LinkType::Ethernet {
        if let Some(summary) = fast::ethernet(frame, ts, wire_len) {
            return Ok(summary);
        }
    }
    general(link, ts, frame, wire_len)
}

/// Every link type and every frame, through etherparse's `LaxSlicedPacket`.
pub(super) fn general(
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
