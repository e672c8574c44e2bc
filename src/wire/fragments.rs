//! IP fragments: the first fragment of a datagram carries its ports; later ones carry
//! none. The table remembers, per datagram (source, destination, protocol and IP
//! identification), the ports of its first fragment, so later fragments are charged to
//! the same flow. A later fragment that arrives before its first, or whose first was
//! never captured, stays `fragment`.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use etherparse::{Ipv6ExtensionSlice, LaxNetSlice, LaxSlicedPacket};

use super::general::with_sliced;
use super::summary::PacketSummary;
use super::LinkType;
use crate::model::{Proto, Timestamp};

/// Datagrams remembered at once; the oldest is forgotten first. Fragmented datagrams
/// complete within milliseconds, so this covers far more than are ever in flight.
pub const MAX_DATAGRAMS: usize = 4_096;

/// The datagram an IP fragment belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DatagramKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ip_number: u8,
    pub id: u32,
}

/// What one fragment says about its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    pub key: DatagramKey,
    /// The transport ports, for the first fragment of a TCP/UDP datagram.
    pub ports: Option<(Proto, u16, u16)>,
}

/// The ports of recent datagrams' first fragments, bounded by [`MAX_DATAGRAMS`].
#[derive(Default)]
pub struct FragmentTable {
    ports: HashMap<DatagramKey, (Proto, u16, u16)>,
    order: VecDeque<DatagramKey>,
}

impl FragmentTable {
    /// The packet a fragment stands for, if its datagram's ports are known (a first
    /// fragment teaches them). `ip_len` is the fragment's own IP length.
    pub fn packet(&mut self, f: Fragment, ts: Timestamp, ip_len: u32) -> Option<PacketSummary> {
        if let Some(ports) = f.ports {
            if self.ports.insert(f.key, ports).is_none() {
                self.order.push_back(f.key);
                if self.order.len() > MAX_DATAGRAMS {
                    if let Some(oldest) = self.order.pop_front() {
                        self.ports.remove(&oldest);
                    }
                }
            }
        }
        let &(proto, sport, dport) = self.ports.get(&f.key)?;
        Some(PacketSummary::one(
            ts,
            proto,
            SocketAddr::new(f.key.src, sport),
            SocketAddr::new(f.key.dst, dport),
            ip_len,
        ))
    }

    pub fn len(&self) -> usize {
        self.ports.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }
}

/// The fragment in a frame, if it holds one. Only called for frames the summary
/// already found fragmented, so it may slice again.
pub fn fragment_of(link: LinkType, frame: &[u8]) -> Option<Fragment> {
    with_sliced(link, frame, |sliced, _| fragment_in(sliced))?
}

fn fragment_in(sliced: &LaxSlicedPacket<'_>) -> Option<Fragment> {
    let (src, dst, id, offset, payload) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                u32::from(h.identification()),
                h.fragments_offset().value(),
                ip.payload(),
            )
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            let fragment = ip.extensions().clone().into_iter().find_map(|e| match e {
                Ipv6ExtensionSlice::Fragment(f) => Some(f),
                _ => None,
            })?;
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                fragment.identification(),
                fragment.fragment_offset().value(),
                ip.payload(),
            )
        }
        _ => return None,
    };
    let ip_number = payload.ip_number.0;
    let ports = match (offset, ip_number, payload.payload) {
        (0, 6 | 17, [a, b, c, d, ..]) => Some((
            if ip_number == 6 {
                Proto::Tcp
            } else {
                Proto::Udp
            },
            u16::from_be_bytes([*a, *b]),
            u16::from_be_bytes([*c, *d]),
        )),
        _ => None,
    };
    Some(Fragment {
        key: DatagramKey {
            src,
            dst,
            ip_number,
            id,
        },
        ports,
    })
}
