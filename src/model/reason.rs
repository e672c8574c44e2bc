use serde::Serialize;

/// Why captured traffic could not be charged to a process. Every captured byte that
/// is not attributed and not dropped lands in exactly one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unattributed {
    /// TCP/UDP to or from this host, but no socket in /proc matched it (closed before
    /// the next scan, or owned by another network namespace).
    NoSocket,
    /// A socket matched, but no process we could read holds it (kernel socket,
    /// TIME_WAIT, or fd tables we may not read).
    NoProcess,
    /// Several unrelated processes hold the socket; netflow does not guess.
    Ambiguous,
    /// IP traffic other than TCP/UDP and not a tunnel (ICMP, IGMP, SCTP, ...).
    NotTcpUdp,
    /// A tunnel's outer packet (IP-in-IP, IPv6-in-IP, GRE): its sockets are in the
    /// inner packet, which netflow does not unwrap; capture on the tunnel's own
    /// interface to attribute it.
    Tunnel,
    /// Not IP at all (ARP, LLDP, ...).
    NotIp,
    /// Neither address belongs to this host (forwarded or promiscuous traffic).
    NotLocal,
    /// A later fragment of an IP datagram (it carries no ports) whose first fragment
    /// was not seen.
    Fragment,
    /// A header was cut short or inconsistent.
    Malformed,
    /// The flow was unknown and the retry ring was full before the next scan.
    PendingOverflow,
}

impl Unattributed {
    pub const ALL: [Unattributed; 10] = [
        Unattributed::NoSocket,
        Unattributed::NoProcess,
        Unattributed::Ambiguous,
        Unattributed::NotTcpUdp,
        Unattributed::Tunnel,
        Unattributed::NotIp,
        Unattributed::NotLocal,
        Unattributed::Fragment,
        Unattributed::Malformed,
        Unattributed::PendingOverflow,
    ];

    /// Position in [`Unattributed::ALL`], for fixed-size counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The stable machine name, as used in JSON and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Unattributed::NoSocket => "no_socket",
            Unattributed::NoProcess => "no_process",
            Unattributed::Ambiguous => "ambiguous",
            Unattributed::NotTcpUdp => "not_tcp_udp",
            Unattributed::Tunnel => "tunnel",
            Unattributed::NotIp => "not_ip",
            Unattributed::NotLocal => "not_local",
            Unattributed::Fragment => "fragment",
            Unattributed::Malformed => "malformed",
            Unattributed::PendingOverflow => "pending_overflow",
        }
    }
}

/// How a flow was matched to its process, so users can judge the numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchQuality {
    /// The socket's full 4-tuple matched.
    Exact,
    /// An unconnected UDP socket, matched by its local address and port.
    BoundUdp,
    /// The socket is shared by a process and its descendants (or by sibling workers):
    /// charged to the ancestor (or their parent).
    SharedParent,
    /// The flow's own socket was gone or not yet accepted when /proc was read: charged
    /// to the process listening on its local TCP port.
    Listener,
    /// The current /proc table could not resolve the flow (the socket was not read yet,
    /// or already gone); the kernel socket log recorded the process that used it.
    SocketLog,
}

impl MatchQuality {
    /// The stable machine name, as used in JSON and CSV.
    pub fn name(self) -> &'static str {
        match self {
            MatchQuality::Exact => "exact",
            MatchQuality::BoundUdp => "bound_udp",
            MatchQuality::SharedParent => "shared_parent",
            MatchQuality::Listener => "listener",
            MatchQuality::SocketLog => "socket_log",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_matches_position_in_all() {
        for (i, r) in Unattributed::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }

    #[test]
    fn name_matches_serde_name() {
        for r in Unattributed::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.name());
        }
    }
}
