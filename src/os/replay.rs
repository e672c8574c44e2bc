//! A replay's OS inputs: capture files read as if they were interfaces, and a fixture
//! /proc tree read as if it were this host's.
//!
//! Owns opening a pcap or pcapng file (with libpcap, so a capture filter applies as it
//! does live) and reading it into the same [`FrameSink`] a live capture feeds, and the
//! host facts a fixture tree is parsed with. Needs no privilege: nothing here opens a
//! socket or reads this machine's /proc.
//! Does not read any clock: where the capture window ends is passed in.

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use procfs::ExplicitSystemInfo;

use super::capture::FrameSink;
use super::procfs::{self as proc_tree, ProcScanner};
use super::users::Users;
use crate::error::Error;
use crate::model::Timestamp;
use crate::wire::LinkType;

/// How a fixture /proc tree is parsed: as written by a little-endian host (x86-64 or
/// aarch64, where every committed tree comes from; /proc/net prints addresses in host
/// byte order) with 100 clock ticks a second. Never this machine's facts, so a replay
/// reads the same tree the same way everywhere.
pub static FIXTURE_SYSTEM: ExplicitSystemInfo = ExplicitSystemInfo {
    boot_time_secs: 0,
    ticks_per_second: 100,
    page_size: 4096,
    is_little_endian: true,
};

/// A fixture host: its /proc tree's scanner and the addresses its tree says it has.
pub struct FixtureHost {
    pub scanner: ProcScanner,
    /// From the tree's net/fib_trie and net/if_inet6 (loopback is always local).
    pub addrs: Vec<IpAddr>,
}

/// Opens the /proc tree at `root` (it must hold the `net/` socket tables) with user
/// names from `passwd` (passwd(5); `None`: users show as uids, never this machine's).
pub fn fixture_host(root: &Path, passwd: Option<&Path>) -> Result<FixtureHost, Error> {
    if !root.join("net").is_dir() {
        return Err(Error::Usage(format!(
            "`{}` is not a /proc tree: it has no net/ directory",
            root.display()
        )));
    }
    let users = match passwd {
        Some(path) => Users::parse(std::fs::read(path).map_err(|e| {
            Error::Usage(format!(
                "cannot read the passwd file `{}`: {e}",
                path.display()
            ))
        })?),
        None => Users::default(),
    };
    Ok(FixtureHost {
        scanner: ProcScanner::with_root(root, users, &FIXTURE_SYSTEM),
        addrs: proc_tree::namespace_addresses(root),
    })
}

/// A capture file, opened and filtered, not yet read.
pub struct FileCapture {
    /// The interface the file stands for, as the report names it.
    pub iface: String,
    pub link: LinkType,
    handle: pcap::Capture<pcap::Offline>,
}

/// How reading a capture file ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileEnd {
    /// Every packet was read.
    EndOfFile,
    /// A packet was stamped at or after the capture window's end: it and the rest of
    /// the file were left unread, as a live capture would have stopped before them.
    WindowClosed,
    /// The stop flag was set.
    Stopped,
    /// The file could not be read further (cut short, say): why.
    Failed(String),
}

/// What reading a file found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replayed {
    pub end: FileEnd,
    /// The latest timestamp among the packets read.
    pub last: Option<Timestamp>,
}

/// Opens `path` (pcap or pcapng) as interface `iface` and applies the filter. Every
/// error here happens before any packet is read.
pub fn open(iface: &str, path: &Path, filter: Option<&str>) -> Result<FileCapture, Error> {
    let mut handle = pcap::Capture::from_file(path).map_err(|e| Error::Replay {
        path: path.display().to_string(),
        source: e,
    })?;
    let dlt = handle.get_datalink();
    let link = LinkType::from_dlt(dlt.0).ok_or_else(|| Error::UnsupportedLink {
        iface: iface.into(),
        dlt: dlt.0,
        name: dlt.get_name().unwrap_or_default(),
    })?;
    if let Some(expr) = filter {
        handle
            .filter(expr, true)
            .map_err(|source| Error::BadFilter {
                expr: expr.into(),
                source,
            })?;
    }
    Ok(FileCapture {
        iface: iface.into(),
        link,
        handle,
    })
}

impl FileCapture {
    /// Reads packets into `sink` until the file ends, a packet is stamped at or after
    /// `until` (files are in time order, as capture tools write them), or `stop` is set;
    /// then calls `sink.idle()`. A file has no kernel ring and so no drops.
    pub fn run(
        mut self,
        stop: &AtomicBool,
        until: Timestamp,
        sink: &mut impl FrameSink,
    ) -> Replayed {
        let mut last: Option<Timestamp> = None;
        let end = loop {
            if stop.load(Ordering::Relaxed) {
                break FileEnd::Stopped;
            }
            match self.handle.next_packet() {
                Ok(packet) => {
                    let ts =
                        Timestamp::from_timeval(packet.header.ts.tv_sec, packet.header.ts.tv_usec);
                    if ts >= until {
                        break FileEnd::WindowClosed;
                    }
                    last = last.max(Some(ts));
                    sink.frame(ts, packet.data, packet.header.len);
                }
                Err(pcap::Error::NoMorePackets) => break FileEnd::EndOfFile,
                Err(e) => {
                    break FileEnd::Failed(format!(
                        "reading the capture file of `{}` failed: {}",
                        self.iface,
                        pcap_message(&e)
                    ))
                }
            }
        };
        sink.idle();
        Replayed { end, last }
    }
}

fn pcap_message(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(m) => m.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts what it is handed.
    #[derive(Default)]
    struct Count {
        frames: u64,
        idles: u64,
    }

    impl FrameSink for Count {
        fn frame(&mut self, _: Timestamp, _: &[u8], _: u32) {
            self.frames += 1;
        }
        fn idle(&mut self) {
            self.idles += 1;
        }
        fn holds(&self) -> bool {
            false
        }
    }

    fn seed() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pcap/ethernet-seed.pcap")
    }

    /// tests/fixtures/pcap/ethernet-seed.pcap: 93 frames, the first at
    /// 1795688422.243298, the last at 1795688426.275291.
    const FIRST: Timestamp = Timestamp(1_795_688_422_243_298);
    const LAST: Timestamp = Timestamp(1_795_688_426_275_291);

    #[test]
    fn a_file_is_read_to_its_end_with_its_own_timestamps() {
        let capture = open("veth0", &seed(), None).unwrap();
        assert_eq!(capture.link, LinkType::Ethernet);
        let mut sink = Count::default();
        let replayed = capture.run(&AtomicBool::new(false), Timestamp(u64::MAX), &mut sink);
        assert_eq!(replayed.end, FileEnd::EndOfFile);
        assert_eq!(replayed.last, Some(LAST));
        assert_eq!((sink.frames, sink.idles), (93, 1));
    }

    #[test]
    fn the_window_end_stops_before_later_packets() {
        let capture = open("veth0", &seed(), None).unwrap();
        let mut sink = Count::default();
        let until = Timestamp(FIRST.0 + 1);
        let replayed = capture.run(&AtomicBool::new(false), until, &mut sink);
        assert_eq!(replayed.end, FileEnd::WindowClosed);
        assert_eq!(replayed.last, Some(FIRST));
        assert_eq!(sink.frames, 1);
    }

    #[test]
    fn a_filter_applies_to_a_file_as_it_does_live() {
        let capture = open("veth0", &seed(), Some("tcp")).unwrap();
        let mut sink = Count::default();
        capture.run(&AtomicBool::new(false), Timestamp(u64::MAX), &mut sink);
        assert_eq!(
            sink.frames, 16,
            "the one TCP connection, 8 packets each way"
        );
    }

    #[test]
    fn a_missing_file_or_bad_filter_fails_before_reading() {
        let missing = open("veth0", Path::new("/nonexistent/x.pcap"), None);
        assert!(
            matches!(&missing, Err(e @ Error::Replay { .. }) if e.to_string().contains("/nonexistent/x.pcap")),
            "{:?}",
            missing.err()
        );
        let bad = open("veth0", &seed(), Some("tcp port"));
        assert!(matches!(bad, Err(Error::BadFilter { .. })));
    }

    #[test]
    fn a_tree_without_socket_tables_is_refused() {
        let err = fixture_host(Path::new("/nonexistent"), None).err().unwrap();
        assert!(err.to_string().contains("not a /proc tree"), "{err}");
    }
}
