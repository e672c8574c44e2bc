//! This network namespace's TCP and UDP sockets from the kernel's NETLINK_SOCK_DIAG
//! dump: the rows of /proc/net/{tcp,tcp6,udp,udp6} (tuple, state, inode) without the
//! fixed ~10 ms the kernel spends formatting /proc/net/tcp even for an empty table,
//! and with what the text tables lack: each unconnected IPv6 socket's IPV6_V6ONLY.
//! The caller falls back to /proc/net when a dump fails (a kernel without `udp_diag`,
//! or netlink forbidden).

use std::io;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{
    AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, TCP_LISTEN,
};
use netlink_packet_sock_diag::inet::nlas::Nla;
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr};

use crate::attrib::{SocketRow, V6Only};
use crate::model::Proto;

/// Large enough for a dump's datagrams (the kernel fills up to ~32 KiB each).
const RECEIVE_BUFFER: usize = 1 << 20;

/// The TCP and UDP sockets of this network namespace, IPv4 and IPv6: at most `max`
/// rows (TCP first, then in the kernel's order), and how many more there were.
pub fn socket_rows(max: usize) -> io::Result<(Vec<SocketRow>, u64)> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut buf = vec![0u8; RECEIVE_BUFFER];
    let mut rows = Rows {
        kept: Vec::new(),
        max,
        skipped: 0,
    };
    for (proto, ip_proto) in [(Proto::Tcp, IPPROTO_TCP), (Proto::Udp, IPPROTO_UDP)] {
        for family in [AF_INET, AF_INET6] {
            dump(&mut socket, &mut buf, family, proto, ip_proto, &mut rows)?;
        }
    }
    Ok((rows.kept, rows.skipped))
}

/// Rows up to a bound; the rest only counted (the dump is read to its end either way).
struct Rows {
    kept: Vec<SocketRow>,
    max: usize,
    skipped: u64,
}

/// One NLM_F_DUMP request and its replies, up to NLMSG_DONE.
fn dump(
    socket: &mut Socket,
    buf: &mut [u8],
    family: u8,
    proto: Proto,
    ip_proto: u8,
    rows: &mut Rows,
) -> io::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    let mut request = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: ip_proto,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::all(),
            socket_id,
        })
        .into(),
    );
    request.finalize();
    let mut out = vec![0u8; request.buffer_len()];
    request.serialize(&mut out);
    socket.send(&out, 0)?;

    loop {
        let size = socket.recv(&mut &mut buf[..], 0)?;
        let mut offset = 0;
        while offset < size {
            let message = NetlinkMessage::<SockDiagMessage>::deserialize(&buf[offset..size])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(_))
                    if rows.kept.len() >= rows.max =>
                {
                    rows.skipped += 1;
                }
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                    let id = &r.header.socket_id;
                    rows.kept.push(SocketRow {
                        proto,
                        local: std::net::SocketAddr::new(id.source_address, id.source_port),
                        remote: std::net::SocketAddr::new(
                            id.destination_address,
                            id.destination_port,
                        ),
                        inode: u64::from(r.header.inode),
                        listening: proto == Proto::Tcp && r.header.state == TCP_LISTEN,
                        v6only: v6only(family, &r),
                    });
                }
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) => return Err(e.to_io()),
                _ => {}
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
    }
}

/// IPV6_V6ONLY from INET_DIAG_SKV6ONLY. The kernel sends it unasked, for IPv6 sockets
/// in LISTEN or CLOSE state (an unconnected UDP socket is in CLOSE), the only ones
/// found by a wildcard (`inet_diag_msg_attrs_fill` in net/ipv4/inet_diag.c): no
/// extension bit requests it. An IPv4 socket is never V6ONLY.
fn v6only(family: u8, r: &InetResponse) -> V6Only {
    if family == AF_INET {
        return V6Only::No;
    }
    r.nlas
        .iter()
        .find_map(|nla| match nla {
            Nla::SkV6Only(v6only) => Some(V6Only::from(*v6only)),
            _ => None,
        })
        .unwrap_or(V6Only::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream, UdpSocket};
    use std::os::fd::AsRawFd;

    /// The inode of one of this process's sockets, from /proc/self/fd.
    fn inode_of(fd: i32) -> u64 {
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
        let link = link.to_string_lossy();
        link.trim_start_matches("socket:[")
            .trim_end_matches(']')
            .parse()
            .unwrap()
    }

    #[test]
    fn the_dump_finds_each_socket_with_its_tuple_state_and_inode() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let udp = UdpSocket::bind("[::1]:0").unwrap();
        let (rows, skipped) = socket_rows(usize::MAX).expect("sock_diag dump");
        assert_eq!(skipped, 0);
        let find = |inode: u64| rows.iter().find(|r| r.inode == inode).copied();

        let l = find(inode_of(listener.as_raw_fd())).expect("listener row");
        assert!(l.listening);
        assert_eq!(l.local, listener.local_addr().unwrap());
        let c = find(inode_of(client.as_raw_fd())).expect("client row");
        assert_eq!(
            (c.local, c.remote),
            (client.local_addr().unwrap(), client.peer_addr().unwrap())
        );
        assert!(!c.listening);
        let s = find(inode_of(server.as_raw_fd())).expect("accepted row");
        assert_eq!(s.remote, client.local_addr().unwrap());
        let u = find(inode_of(udp.as_raw_fd())).expect("udp row");
        assert_eq!((u.proto, u.local), (Proto::Udp, udp.local_addr().unwrap()));
        assert_eq!(u.remote.port(), 0);
    }

    /// A UDP socket on [::] with IPV6_V6ONLY set to `v6only` before it binds (a socket
    /// bound to a specific IPv6 address is made V6ONLY by the bind itself).
    fn udp6(v6only: bool) -> UdpSocket {
        use rustix::net::{bind, socket, sockopt, AddressFamily, SocketType};
        let fd = socket(AddressFamily::INET6, SocketType::DGRAM, None).unwrap();
        sockopt::set_ipv6_v6only(&fd, v6only).unwrap();
        bind(&fd, &"[::]:0".parse::<std::net::SocketAddr>().unwrap()).unwrap();
        UdpSocket::from(fd)
    }

    #[test]
    fn the_dump_says_which_ipv6_sockets_refuse_ipv4() {
        let only = udp6(true);
        let dual = udp6(false);
        let v4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (rows, _) = socket_rows(usize::MAX).expect("sock_diag dump");
        let flag = |s: &UdpSocket| {
            let inode = inode_of(s.as_raw_fd());
            rows.iter().find(|r| r.inode == inode).expect("row").v6only
        };
        assert_eq!(flag(&only), V6Only::Yes);
        assert_eq!(flag(&dual), V6Only::No);
        assert_eq!(flag(&v4), V6Only::No);
    }

    #[test]
    fn rows_past_the_bound_are_counted_not_kept() {
        let _held: Vec<UdpSocket> = (0..20)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let (all, none) = socket_rows(usize::MAX).unwrap();
        assert_eq!(none, 0);
        let (some, skipped) = socket_rows(5).unwrap();
        assert_eq!(some.len(), 5);
        // Other tests' sockets come and go meanwhile: the two dumps need not agree.
        assert!(skipped >= 15, "{skipped} of {}", all.len());
    }
}
