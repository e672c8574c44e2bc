//! Any bytes, as a frame of any link type: `summarize` must return (never panic) and
//! never claim more IP bytes than the wire carried; fragments are sliced once more.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netflow::model::{Timestamp, Unattributed};
use netflow::wire::{fragment_of, summarize, FragmentTable, LinkType};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    let link = LinkType::ALL[usize::from(selector) % LinkType::ALL.len()];
    let wire_len = frame.len() as u32 + u32::from(selector >> 3);
    match summarize(link, Timestamp(0), frame, wire_len) {
        Ok(s) => assert!(s.bytes <= wire_len),
        Err(skip) if skip.reason == Unattributed::Fragment => {
            if let Some(f) = fragment_of(link, frame) {
                FragmentTable::default().packet(f, Timestamp(0), skip.bytes);
            }
        }
        Err(_) => {}
    }
});
