//! Loads the kernel socket log (socklog.bpf.c) and reads its records.
//!
//! The BPF object is committed next to its source (rebuilt by
//! tests/ebpf/build-socklog.sh), so neither cargo nor the host needs clang. Each hook
//! is loaded on its own: a kernel without one (sock_send_length is 6.3+) still gets the
//! others, and the report names what was attached.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use aya::maps::{Array, MapData, RingBuf};
use aya::programs::RawTracePoint;
use aya::{Ebpf, EbpfLoader};

use crate::error::{HookError, SocketLogError};
use crate::model::Proto;

/// The object built from socklog.bpf.c.
static OBJECT: &[u8] = aya::include_bytes_aligned!("socklog.bpf.o");

/// (program, raw tracepoint) pairs, in the order they are attached.
const HOOKS: [(&str, &str); 3] = [
    ("socklog_state", "inet_sock_set_state"),
    ("socklog_send", "sock_send_length"),
    ("socklog_recv", "sock_recv_length"),
];

/// Bytes in one record: `struct owner_record` in socklog.bpf.c.
pub const RECORD_LEN: usize = 88;

/// One record as the kernel wrote it: a socket and the process that used it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRecord {
    /// The process's start, nanoseconds since boot (`/proc/PID/stat` has it in ticks).
    pub start_boottime_ns: u64,
    pub tgid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub netns: u32,
    pub proto: Proto,
    pub local: SocketAddr,
    /// Port 0 when the socket is not connected.
    pub remote: SocketAddr,
    /// IPV6_V6ONLY: an IPv6 socket that never receives IPv4.
    pub v6only: bool,
    /// The process's name (`comm` of its main thread).
    pub comm: String,
}

impl RawRecord {
    /// Decodes `struct owner_record`; `None` for a length or family the program never
    /// writes.
    pub fn decode(b: &[u8]) -> Option<RawRecord> {
        if b.len() < RECORD_LEN {
            return None;
        }
        let u16_at = |at: usize| u16::from_ne_bytes([b[at], b[at + 1]]);
        let u32_at = |at: usize| u32::from_ne_bytes(b[at..at + 4].try_into().unwrap_or_default());
        let ip = |at: usize, family: u16| -> Option<IpAddr> {
            match family {
                2 => Some(IpAddr::V4(Ipv4Addr::new(
                    b[at],
                    b[at + 1],
                    b[at + 2],
                    b[at + 3],
                ))),
                10 => {
                    let octets: [u8; 16] = b[at..at + 16].try_into().ok()?;
                    Some(IpAddr::V6(Ipv6Addr::from(octets)))
                }
                _ => None,
            }
        };
        let family = u16_at(24);
        let proto = match u16_at(26) {
            6 => Proto::Tcp,
            17 => Proto::Udp,
            _ => return None,
        };
        let comm = &b[72..88];
        let comm_len = comm.iter().position(|&c| c == 0).unwrap_or(comm.len());
        Some(RawRecord {
            start_boottime_ns: u64::from_ne_bytes(b[0..8].try_into().ok()?),
            tgid: u32_at(8),
            ppid: u32_at(12),
            uid: u32_at(16),
            netns: u32_at(20),
            proto,
            local: SocketAddr::new(ip(40, family)?, u16_at(28)),
            remote: SocketAddr::new(ip(56, family)?, u16_at(30)),
            v6only: b[33] != 0,
            comm: String::from_utf8_lossy(&comm[..comm_len]).into_owned(),
        })
    }
}

/// The loaded and attached program, and its ring buffer.
pub struct SocketLogProbe {
    /// Owns the programs and their links: dropping it detaches them.
    _ebpf: Ebpf,
    records: RingBuf<MapData>,
    lost: Array<MapData, u64>,
    /// The tracepoints attached.
    pub hooks: Vec<&'static str>,
}

/// The object relocated against the running kernel, its maps created; no program
/// loaded yet. The memory-heavy half of loading (see [`SocketLogProbe::relocate`]).
pub struct RelocatedSocketLog(Ebpf);

impl SocketLogProbe {
    /// Loading, first half: relocates the object against the kernel's BTF and creates
    /// its maps. About 20 ms, and netflow's largest transient memory (the kernel's 5 MB
    /// of BTF take ~17 MB while parsed), freed before this returns.
    pub fn relocate() -> Result<RelocatedSocketLog, SocketLogError> {
        // One parse of the kernel's BTF, dropped with the loader. `Ebpf::load` would
        // parse it twice: its loader's constructor parses it, then it parses it again
        // to pass it in.
        let ebpf = EbpfLoader::new()
            .load(OBJECT)
            .map_err(SocketLogError::Relocate)?;
        Ok(RelocatedSocketLog(ebpf))
    }

    /// Hands every record waiting in the ring buffer to `f`; returns how many.
    pub fn drain(&mut self, mut f: impl FnMut(RawRecord)) -> usize {
        let mut n = 0;
        while let Some(item) = self.records.next() {
            if let Some(record) = RawRecord::decode(&item) {
                f(record);
                n += 1;
            }
        }
        n
    }

    /// Records the kernel dropped because the ring buffer was full.
    pub fn lost(&self) -> u64 {
        self.lost.get(&0, 0).unwrap_or(0)
    }
}

impl RelocatedSocketLog {
    /// Loading, second half: has the kernel verify each program (a few ms) and attaches
    /// every hook it allows. Fails (with the kernel's reason) only when none could be
    /// attached.
    pub fn attach(self) -> Result<SocketLogProbe, SocketLogError> {
        let mut ebpf = self.0;
        let mut hooks = Vec::new();
        let mut first_error = None;
        for (program, tracepoint) in HOOKS {
            let attached = (|| -> Result<(), HookError> {
                let p: &mut RawTracePoint = ebpf
                    .program_mut(program)
                    .ok_or(HookError::MissingProgram)?
                    .try_into()
                    .map_err(HookError::Program)?;
                p.load().map_err(HookError::Program)?;
                p.attach(tracepoint).map_err(HookError::Program)?;
                Ok(())
            })();
            match attached {
                Ok(()) => hooks.push(tracepoint),
                Err(source) => {
                    first_error.get_or_insert(SocketLogError::Hook {
                        hook: tracepoint,
                        source,
                    });
                }
            }
        }
        if hooks.is_empty() {
            return Err(first_error.unwrap_or(SocketLogError::NoHook));
        }
        let records = ebpf
            .take_map("RECORDS")
            .ok_or(SocketLogError::MissingMap("RECORDS"))
            .and_then(|m| {
                RingBuf::try_from(m).map_err(|source| SocketLogError::MapType {
                    name: "RECORDS",
                    expected: "a ring buffer",
                    source,
                })
            })?;
        let lost = ebpf
            .take_map("LOST")
            .ok_or(SocketLogError::MissingMap("LOST"))
            .and_then(|m| {
                Array::try_from(m).map_err(|source| SocketLogError::MapType {
                    name: "LOST",
                    expected: "an array",
                    source,
                })
            })?;
        Ok(SocketLogProbe {
            _ebpf: ebpf,
            records,
            lost,
            hooks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(family: u16, proto: u16, saddr: &[u8], daddr: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; RECORD_LEN];
        b[0..8].copy_from_slice(&123_000_000_000u64.to_ne_bytes());
        b[8..12].copy_from_slice(&4242u32.to_ne_bytes());
        b[12..16].copy_from_slice(&1u32.to_ne_bytes());
        b[16..20].copy_from_slice(&1000u32.to_ne_bytes());
        b[24..26].copy_from_slice(&family.to_ne_bytes());
        b[26..28].copy_from_slice(&proto.to_ne_bytes());
        b[28..30].copy_from_slice(&40000u16.to_ne_bytes());
        b[30..32].copy_from_slice(&80u16.to_ne_bytes());
        b[40..40 + saddr.len()].copy_from_slice(saddr);
        b[56..56 + daddr.len()].copy_from_slice(daddr);
        b[72..79].copy_from_slice(b"curl\0xx");
        b
    }

    #[test]
    fn ipv4_tcp_record_decodes_to_its_tuple_and_owner() {
        let r = RawRecord::decode(&record(2, 6, &[10, 0, 0, 1], &[10, 0, 0, 2])).unwrap();
        assert_eq!(r.proto, Proto::Tcp);
        assert_eq!(r.local, "10.0.0.1:40000".parse().unwrap());
        assert_eq!(r.remote, "10.0.0.2:80".parse().unwrap());
        assert_eq!((r.tgid, r.ppid, r.uid), (4242, 1, 1000));
        assert_eq!(r.start_boottime_ns, 123_000_000_000);
        assert_eq!(r.comm, "curl");
    }

    #[test]
    fn ipv6_udp_record_decodes() {
        let mut s = [0u8; 16];
        s[0] = 0xfd;
        s[15] = 1;
        let mut b = record(10, 17, &s, &[0; 16]);
        let r = RawRecord::decode(&b).unwrap();
        assert_eq!(r.proto, Proto::Udp);
        assert_eq!(r.local, "[fd00::1]:40000".parse().unwrap());
        assert!(!r.v6only);
        b[33] = 1;
        assert!(RawRecord::decode(&b).unwrap().v6only);
    }

    #[test]
    fn short_or_foreign_records_are_refused() {
        assert!(RawRecord::decode(&[0u8; 40]).is_none());
        assert!(
            RawRecord::decode(&record(1, 6, &[], &[])).is_none(),
            "AF_UNIX"
        );
        assert!(
            RawRecord::decode(&record(2, 132, &[], &[])).is_none(),
            "SCTP"
        );
    }
}
