//! Remote ends that may be on this host after all.
//!
//! A flow's far end is local when a process in another network namespace of this host
//! (a container) holds it, but netflow learns a namespace's addresses only from a scan
//! that found one of its processes. A container started after the last full look is
//! unknown; when the near end of its flow is already known, nothing else would ask for
//! a scan, and its process would never be found (issue #17 item 8). So the first packets
//! of a flow to an address no scan has looked for since wait for one that started after
//! them: if it finds the address local, they are charged to both ends.
//!
//! Bounded: each address is looked for at most once per [`RECHECK`] of packet time
//! (a new namespace may take an address later), and at most [`MAX_WAITING`] wait at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use foldhash::fast::RandomState;

use crate::model::Timestamp;

/// How long a scan's verdict on an address holds for new flows to it. A container
/// that takes an address later than that after a scan looked for it is found by the
/// first new flow to it after this time.
pub const RECHECK: Duration = Duration::from_secs(10);
/// Addresses waiting for a scan at once; past it, new ones are not waited for.
pub const MAX_WAITING: usize = 1_024;
/// Addresses whose last check is remembered; when full, the memory starts over (each
/// address then costs one more wait).
pub const MAX_CHECKED: usize = 65_536;

#[derive(Debug, Default)]
pub struct RemoteChecks {
    /// Addresses whose flows wait for a scan, with their first packet's time.
    waiting: HashMap<IpAddr, Timestamp, RandomState>,
    /// When the last scan that looked for each address started.
    checked: HashMap<IpAddr, Timestamp, RandomState>,
}

impl RemoteChecks {
    /// A new flow to `remote` at `at`: whether its packets must wait for a scan that
    /// may find `remote` local (and, if so, it now waits).
    pub fn new_flow(&mut self, remote: IpAddr, at: Timestamp) -> bool {
        if !may_be_local(remote) {
            return false;
        }
        if self.waiting.contains_key(&remote) {
            return true;
        }
        let fresh = self
            .checked
            .get(&remote)
            .is_some_and(|&checked| at < checked.plus(RECHECK));
        if fresh || self.waiting.len() >= MAX_WAITING {
            return false;
        }
        self.waiting.insert(remote, at);
        true
    }

    /// A scan that started at `started_at` has looked for every address waiting since
    /// before then: they stop waiting (later packets are charged at once).
    pub fn scanned(&mut self, started_at: Timestamp) {
        if self.waiting.is_empty() {
            return;
        }
        if self.checked.len() + self.waiting.len() > MAX_CHECKED {
            self.checked.clear();
        }
        let checked = &mut self.checked;
        self.waiting.retain(|&ip, since| {
            let done = *since < started_at;
            if done {
                checked.insert(ip, started_at);
            }
            !done
        });
    }

    /// Addresses now known to be local no longer wait (the socket log named them).
    pub fn forget_local(&mut self, local: impl Fn(IpAddr) -> bool) {
        self.waiting.retain(|&ip, _| !local(ip));
    }
}

/// Only a unicast address can be a socket's own; loopback is always local already.
fn may_be_local(ip: IpAddr) -> bool {
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    !(ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || broadcast)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Timestamp {
        Timestamp(1_800_000_000_000_000 + n * 1_000)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_waits_until_a_scan_that_started_after_its_first_packet() {
        let mut checks = RemoteChecks::default();
        assert!(checks.new_flow(ip("10.0.0.2"), ms(10)));
        assert!(checks.new_flow(ip("10.0.0.2"), ms(11)), "still waiting");
        checks.scanned(ms(5));
        assert!(
            checks.new_flow(ip("10.0.0.2"), ms(12)),
            "that scan began before it"
        );
        checks.scanned(ms(20));
        assert!(checks.waiting.is_empty());
        assert!(
            !checks.new_flow(ip("10.0.0.2"), ms(30)),
            "looked for already"
        );
        let later = ms(20).plus(RECHECK);
        assert!(checks.new_flow(ip("10.0.0.2"), later), "looked for again");
    }

    #[test]
    fn multicast_broadcast_and_loopback_never_wait() {
        let mut checks = RemoteChecks::default();
        for addr in [
            "224.0.0.251",
            "255.255.255.255",
            "ff02::fb",
            "127.0.0.1",
            "::",
        ] {
            assert!(!checks.new_flow(ip(addr), ms(1)), "{addr}");
        }
    }

    #[test]
    fn waiting_is_bounded() {
        let mut checks = RemoteChecks::default();
        for i in 0..MAX_WAITING as u32 + 10 {
            checks.new_flow(IpAddr::from((0x0a00_0000 + i).to_be_bytes()), ms(1));
        }
        assert_eq!(checks.waiting.len(), MAX_WAITING);
    }
}
