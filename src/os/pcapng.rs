//! Annotated pcapng: the capture's packets, each with a comment naming its process.
//!
//! Capture writes classic pcap to a temporary file (the fast path, no attribution
//! needed); once attribution is final, this converts it to pcapng with a comment per
//! packet, so Wireshark shows who sent each packet.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::time::Duration;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;

use crate::model::Timestamp;
use crate::os::pcap_out::pcap_file_message;

/// pcap-file stamps enhanced packet blocks in nanoseconds: the interface must say so
/// (if_tsresol = 9), or readers assume microseconds and show wrong times.
const NANOSECONDS: u8 = 9;

/// Rewrites the classic pcap read from `classic` into `out` as pcapng, commenting each
/// packet with `comment(ts, frame, wire_len)`. Returns how many packets were written.
pub fn convert(
    classic: File,
    out: &File,
    mut comment: impl FnMut(Timestamp, &[u8], u32) -> String,
) -> Result<u64, String> {
    let input = classic;
    let mut reader = PcapReader::new(BufReader::new(input)).map_err(|e| e.to_string())?;
    let header = reader.header();
    let mut writer = PcapNgWriter::new(BufWriter::with_capacity(1 << 20, out))
        .map_err(|e| pcap_file_message(&e))?;
    writer
        .write_pcapng_block(InterfaceDescriptionBlock {
            linktype: header.datalink,
            snaplen: header.snaplen,
            options: vec![InterfaceDescriptionOption::IfTsResol(NANOSECONDS)],
        })
        .map_err(|e| pcap_file_message(&e))?;
    let mut written = 0;
    // Raw records: pcap-file's checked reader refuses a frame whose length on the wire
    // exceeds the snap length, which a truncated capture is made of.
    while let Some(packet) = reader.next_raw_packet() {
        let packet = packet.map_err(|e| e.to_string())?;
        let ts = Timestamp::from_timeval(i64::from(packet.ts_sec), i64::from(packet.ts_frac));
        let note = comment(ts, &packet.data, packet.orig_len);
        writer
            .write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: Duration::from_micros(ts.micros()),
                original_len: packet.orig_len,
                data: Cow::Borrowed(&packet.data),
                options: vec![EnhancedPacketOption::Comment(Cow::Owned(note))],
            })
            .map_err(|e| pcap_file_message(&e))?;
        written += 1;
    }
    let mut buffered = writer.into_inner();
    buffered.flush().map_err(|e| e.to_string())?;
    buffered.get_ref().sync_all().map_err(|e| e.to_string())?;
    Ok(written)
}
