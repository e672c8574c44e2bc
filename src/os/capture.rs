//! libpcap handles: open and validate before capture starts, then read until stopped.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::Error;
use crate::model::Timestamp;
use crate::wire::LinkType;

/// How long the kernel keeps a ring block that holds packets before handing it over
/// (libpcap passes the read timeout to TPACKET_V3 as the block's retire timer; a block
/// also goes over as soon as it fills). It bounds how late a packet on a quiet link
/// reaches the engine, and so how long a short-lived process has been gone before the
/// scan its packet asks for: at 100 ms, /proc missed processes that a 10 ms timer
/// catches (issue #17 item 4). Under load blocks fill long before the timer; on an idle
/// link an empty block is never handed over, so it costs no wake-ups.
const READ_TIMEOUT_MS: i32 = 10;
/// How long packets held back by the sink (a batch being filled) wait for the next ring
/// block before they are handed on: on a quiet link none may come for a long time.
/// Handing them on after every read instead cost ~25% more CPU per packet in a flood
/// (partial batches, each waking the engine: tests/benches/e2e_vs_tcpdump.sh).
const HOLD_MS: i32 = 5;

/// How every handle is opened.
#[derive(Clone, Debug)]
pub struct CaptureSettings {
    /// Bytes kept of each packet: only headers when no pcap file is written.
    pub snaplen: i32,
    /// The kernel ring for bursts (libpcap's 2 MB default drops packets under load).
    pub buffer_bytes: i32,
    pub filter: Option<String>,
}

/// An activated handle on one interface, filter applied, not yet read.
pub struct OpenCapture {
    pub iface: String,
    pub link: LinkType,
    handle: pcap::Capture<pcap::Active>,
    /// Copies of each packet the kernel queues for this handle: 2 on a loopback
    /// interface where sent copies could not be turned off (before Linux 4.20).
    copies: u64,
}

/// Kernel-side statistics at the end of a capture.
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelStats {
    pub dropped: u64,
    pub if_dropped: u64,
}

/// Opens `iface` and applies the filter. Every error here happens before capture starts.
pub fn open(iface: &str, settings: &CaptureSettings) -> Result<OpenCapture, Error> {
    let inactive = pcap::Capture::from_device(iface).map_err(|e| capture_error(iface, e))?;
    let mut handle = inactive
        .promisc(false)
        .snaplen(settings.snaplen)
        .buffer_size(settings.buffer_bytes)
        .timeout(READ_TIMEOUT_MS)
        .open()
        .map_err(|e| capture_error(iface, e))?;
    let dlt = handle.get_datalink();
    let link = LinkType::from_dlt(dlt.0).ok_or_else(|| Error::UnsupportedLink {
        iface: iface.into(),
        dlt: dlt.0,
        name: dlt.get_name().unwrap_or_default(),
    })?;
    if let Some(expr) = &settings.filter {
        handle
            .filter(expr, true)
            .map_err(|source| Error::BadFilter {
                expr: expr.clone(),
                source,
            })?;
    }
    let copies = if crate::os::interfaces::is_loopback(iface) && !ignore_outgoing(&handle) {
        2
    } else {
        1
    };
    Ok(OpenCapture {
        iface: iface.into(),
        link,
        handle,
        copies,
    })
}

/// Asks the kernel to stop handing this packet socket a copy of each packet sent
/// (`PACKET_IGNORE_OUTGOING`, Linux 4.20+); false where it cannot.
///
/// On loopback every packet passes a packet socket twice: as it is sent and as it is
/// received. libpcap throws the sent copy away, but only after the kernel queued it, so
/// both copies fill the ring, and a full ring drops, and counts, both: the kernel drop
/// count read twice the packets netflow missed (measured on lo: 300,000 datagrams sent,
/// 298,859 captured, 2,282 "dropped by the kernel" for 1,141 missing). Without the sent
/// copies a drop is a packet lost, and the ring holds twice as many packets.
///
/// Not a capture filter (`inbound`): libpcap runs a new filter in user space over the
/// first ring block, where the packet type cannot be read, so that block's packets were
/// all rejected (1,365 packets lost at the start of every capture, measured).
fn ignore_outgoing(handle: &pcap::Capture<pcap::Active>) -> bool {
    let on: libc::c_int = 1;
    #[allow(
        unsafe_code,
        reason = "setsockopt has no safe wrapper for packet-socket options"
    )]
    // SAFETY: the fd is the handle's open packet socket, borrowed for this call; the
    // value is a c_int that outlives the call, and its exact size is passed with it.
    let status = unsafe {
        libc::setsockopt(
            handle.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            (&raw const on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    status == 0
}

/// Where a capture thread's frames go.
pub trait FrameSink {
    fn frame(&mut self, ts: Timestamp, data: &[u8], wire_len: u32);
    /// No frame came for a while (or capture ends): pass on anything held back.
    fn idle(&mut self);
    /// Whether frames are held back, waiting to be passed on.
    fn holds(&self) -> bool;
}

/// Wakes a capture thread blocked in a read: libpcap's read timeout does not fire on
/// an idle Linux interface, so a stop flag alone would wait for the next packet.
pub struct Stopper(pcap::BreakLoop);

impl Stopper {
    pub fn stop(&self) {
        self.0.breakloop();
    }
}

impl OpenCapture {
    /// A handle that interrupts [`OpenCapture::run`] from another thread.
    pub fn stopper(&mut self) -> Stopper {
        Stopper(self.handle.breakloop_handle())
    }

    /// Reads packets until `stop` is set (and the [`Stopper`] called), handing each to
    /// `sink.frame(ts, data, wire_len)`, and calling `sink.idle()` when the sink has held
    /// frames for [`HOLD_MS`] with no more to read, and at the end.
    /// Returns the kernel's statistics and, if reading failed, why.
    pub fn run(
        mut self,
        stop: &AtomicBool,
        sink: &mut impl FrameSink,
    ) -> (KernelStats, Option<Error>) {
        let mut failure = None;
        while !stop.load(Ordering::Relaxed) {
            // A read blocks until the kernel finishes a ring block (it fills, or
            // READ_TIMEOUT_MS passes), with no timeout: libpcap polls with none on
            // TPACKET_V3. So a lone burst on a quiet link waited in the sink for the next
            // packet, long after its process had exited (issue #17 item 4). While the
            // sink holds frames, wait for the next block here, at most HOLD_MS.
            if sink.holds() && !self.readable_within(HOLD_MS) {
                sink.idle();
            }
            // A whole ring block per call (as tcpdump reads), not a call per packet.
            let read = self.handle.dispatch(None, |packet| deliver(&packet, sink));
            match read {
                Ok(_) => {}
                // The Stopper's breakloop ends the read with an error.
                Err(_) if stop.load(Ordering::Relaxed) => break,
                Err(source) => {
                    failure = Some(Error::CaptureRead {
                        iface: self.iface.clone(),
                        source,
                    });
                    break;
                }
            }
        }
        // The kernel's counts cover the packets still in its ring, read just below.
        let stats = self
            .handle
            .stats()
            .map(|s| KernelStats {
                // A full ring drops both copies of a packet (measured: 2,282 drops for
                // 1,141 packets missing), so half the count is what was lost.
                dropped: u64::from(s.dropped).div_ceil(self.copies),
                if_dropped: u64::from(s.if_dropped),
            })
            .unwrap_or_default();
        if failure.is_none() {
            drain(self.handle, sink);
        }
        sink.idle();
        (stats, failure)
    }
}

impl OpenCapture {
    /// Whether the kernel hands over a ring block (or reports an error) within
    /// `timeout_ms`.
    fn readable_within(&self, timeout_ms: i32) -> bool {
        let mut fd = libc::pollfd {
            fd: self.handle.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        #[allow(
            unsafe_code,
            reason = "poll(2) has no safe wrapper among our dependencies"
        )]
        // SAFETY: one valid pollfd, borrowed for the call; the fd is the handle's open
        // packet socket.
        let ready = unsafe { libc::poll(&raw mut fd, 1, timeout_ms) };
        // An interrupted or failed poll: let the read find out.
        ready != 0
    }
}

fn deliver(packet: &pcap::Packet<'_>, sink: &mut impl FrameSink) {
    let ts = Timestamp::from_timeval(packet.header.ts.tv_sec, packet.header.ts.tv_usec);
    sink.frame(ts, packet.data, packet.header.len);
}

/// Packets already in the kernel's ring when capture stops belong to the capture.
/// libpcap hands a ring block over only when it fills or its timer (the read timeout)
/// expires, so keep reading, without blocking, until that timer has handed over every
/// block that holds a packet from before the stop.
fn drain(handle: pcap::Capture<pcap::Active>, sink: &mut impl FrameSink) {
    let Ok(mut handle) = handle.setnonblock() else {
        return;
    };
    let until =
        std::time::Instant::now() + std::time::Duration::from_millis(READ_TIMEOUT_MS as u64 + 50);
    while std::time::Instant::now() < until {
        match handle.next_packet() {
            Ok(packet) => deliver(&packet, sink),
            Err(pcap::Error::TimeoutExpired) | Err(pcap::Error::NoMorePackets) => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(_) => break,
        }
    }
}

/// What failing to open `iface` means: missing privileges, no such interface, or
/// another failure (kept as the error's source).
fn capture_error(iface: &str, e: pcap::Error) -> Error {
    let lower = e.to_string().to_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") {
        Error::Privileges {
            missing: "CAP_NET_RAW".into(),
        }
    } else if lower.contains("no such device") {
        Error::NoSuchInterface {
            name: iface.into(),
            available: String::new(),
        }
    } else {
        Error::Capture {
            iface: iface.into(),
            source: e,
        }
    }
}
