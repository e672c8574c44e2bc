//! The wildcard rule, written once: which bound addresses may receive traffic sent to a
//! local address. Both the socket table and the socket log ask it (issue #15 item 5:
//! they used to keep a copy each, and the copies disagreed).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// An address a socket may be bound to and still receive a flow's traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub bound: SocketAddr,
    /// Only a dual-stack socket qualifies: `[::]:P` for an IPv4 flow. A socket with
    /// IPV6_V6ONLY never receives IPv4.
    pub needs_dual_stack: bool,
}

impl Candidate {
    /// Whether a socket bound at [`Candidate::bound`] receives the flow's traffic.
    pub fn admits(self, v6only: bool) -> bool {
        !(self.needs_dual_stack && v6only)
    }
}

/// The bound addresses whose sockets may receive traffic to `local` (canonical: an
/// IPv4-mapped address is IPv4), most specific first, from the flow's own family:
///
/// - IPv4: the address itself, `0.0.0.0:P`, then `[::]:P` if that socket is dual-stack;
/// - IPv6: the address itself, then `[::]:P`; never `0.0.0.0:P`.
///
/// The order is the kernel's: an exact bind beats a wildcard, and for IPv4 an AF_INET
/// socket beats an AF_INET6 one (`compute_score` in net/ipv4/udp.c and
/// inet_hashtables.c adds a point for `sk_family == PF_INET`).
///
/// `wildcards` is false for an address of another network namespace, whose wildcard
/// sockets are listed under that namespace's own addresses instead: then only the
/// address itself.
pub fn candidates(local: SocketAddr, wildcards: bool) -> impl Iterator<Item = Candidate> {
    let port = local.port();
    let exact = Candidate {
        bound: local,
        needs_dual_stack: false,
    };
    let any = |ip: IpAddr, needs_dual_stack| {
        wildcards.then_some(Candidate {
            bound: SocketAddr::new(ip, port),
            needs_dual_stack,
        })
    };
    let v6_any = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    let wild = if local.is_ipv4() {
        [
            any(IpAddr::V4(Ipv4Addr::UNSPECIFIED), false),
            any(v6_any, true),
        ]
    } else {
        [any(v6_any, false), None]
    };
    std::iter::once(exact).chain(wild.into_iter().flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(local: &str, wildcards: bool) -> Vec<(String, bool)> {
        candidates(local.parse().unwrap(), wildcards)
            .map(|c| (c.bound.to_string(), c.needs_dual_stack))
            .collect()
    }

    #[test]
    fn ipv4_traffic_tries_its_address_then_0_0_0_0_then_a_dual_stack_wildcard() {
        assert_eq!(
            list("10.0.0.1:53", true),
            [
                ("10.0.0.1:53".into(), false),
                ("0.0.0.0:53".into(), false),
                ("[::]:53".into(), true),
            ]
        );
    }

    #[test]
    fn ipv6_traffic_never_tries_0_0_0_0() {
        assert_eq!(
            list("[fd00::1]:53", true),
            [("[fd00::1]:53".into(), false), ("[::]:53".into(), false)]
        );
    }

    #[test]
    fn another_namespaces_address_is_tried_alone() {
        assert_eq!(list("10.0.0.1:53", false), [("10.0.0.1:53".into(), false)]);
        assert_eq!(
            list("[fd00::1]:53", false),
            [("[fd00::1]:53".into(), false)]
        );
    }

    #[test]
    fn a_v6only_socket_is_admitted_only_where_no_dual_stack_is_needed() {
        let [_, _, v6_any]: [Candidate; 3] = candidates("10.0.0.1:53".parse().unwrap(), true)
            .collect::<Vec<_>>()
            .try_into()
            .unwrap();
        assert!(!v6_any.admits(true));
        assert!(v6_any.admits(false));
        let for_v6 = candidates("[fd00::1]:53".parse().unwrap(), true)
            .last()
            .unwrap();
        assert!(for_v6.admits(true));
    }
}
