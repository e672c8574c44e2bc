use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

/// The transport protocols netflow attributes to sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// The stable machine name, as used in JSON, CSV and the table.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// Which way a packet travels, seen from the local socket it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

/// One TCP or UDP conversation, seen from one local socket.
///
/// Addresses are canonical (see [`canonical_ip`]), so a packet and a /proc row
/// describing the same socket produce equal keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub proto: Proto,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

impl FlowKey {
    pub fn new(proto: Proto, local: SocketAddr, remote: SocketAddr) -> Self {
        FlowKey {
            proto,
            local: canonical(local),
            remote: canonical(remote),
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, how dual-stack sockets show IPv4
/// peers in /proc/net/tcp6) become plain IPv4, as they appear on the wire.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(canonical_ip(addr.ip()), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_mapped_v6_keys_equal_plain_v4_keys() {
        let mapped = FlowKey::new(
            Proto::Tcp,
            "[::ffff:127.0.0.1]:80".parse().unwrap(),
            "[::ffff:127.0.0.1]:5000".parse().unwrap(),
        );
        let plain = FlowKey::new(
            Proto::Tcp,
            "127.0.0.1:80".parse().unwrap(),
            "127.0.0.1:5000".parse().unwrap(),
        );
        assert_eq!(mapped, plain);
    }

    #[test]
    fn name_matches_serde_name() {
        for p in [Proto::Tcp, Proto::Udp] {
            assert_eq!(serde_json::to_value(p).unwrap(), p.name());
        }
    }

    #[test]
    fn real_v6_addresses_stay_v6() {
        let ip: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(canonical_ip(ip), ip);
    }
}
