/// The link-layer framings netflow can capture, by their pcap LINKTYPE numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// Ethernet, VLAN and QinQ tags included (also what Linux uses for `lo`).
    Ethernet,
    /// Linux cooked capture v1, used by `-i any`.
    LinuxSll,
    /// Linux cooked capture v2.
    LinuxSll2,
    /// A bare IPv4 or IPv6 packet (tun devices, WireGuard).
    RawIp,
    /// BSD loopback: a 4-byte address family in host byte order.
    Null,
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    Loop,
}

impl LinkType {
    /// Every link type, for tests and fuzzers that try each.
    pub const ALL: [LinkType; 6] = [
        LinkType::Ethernet,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::RawIp,
        LinkType::Null,
        LinkType::Loop,
    ];

    /// Maps a pcap link-type (DLT/LINKTYPE) number; `None` when netflow cannot parse it.
    pub fn from_dlt(dlt: i32) -> Option<LinkType> {
        match dlt {
            1 => Some(LinkType::Ethernet),
            113 => Some(LinkType::LinuxSll),
            276 => Some(LinkType::LinuxSll2),
            // DLT_RAW is 12 on Linux and 14 on OpenBSD; LINKTYPE_RAW 101; IPv4 228; IPv6 229.
            12 | 14 | 101 | 228 | 229 => Some(LinkType::RawIp),
            0 => Some(LinkType::Null),
            108 => Some(LinkType::Loop),
            _ => None,
        }
    }

    /// The pcap LINKTYPE number written into pcap files.
    pub fn linktype_number(self) -> u16 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::RawIp => 101,
            LinkType::Null => 0,
            LinkType::Loop => 108,
        }
    }
}
