//! Per-packet notes for annotated pcapng files: which process sent or received each
//! packet, from the attribution at the end of the capture.
//!
//! Owns the comment text. Pure: frames and the engine's final word on each flow
//! ([`Finished`]) come in as data; the engine itself knows nothing of pcapng.

use crate::account::Holder;
use crate::attrib::{orient, Orientation};
use crate::engine::Finished;
use crate::model::{Direction, FlowKey, Timestamp};
use crate::wire::{summarize, LinkType};

/// Notes frames with what the finished capture attributed their flows to.
#[derive(Clone, Copy, Debug)]
pub struct Annotator<'a> {
    finished: &'a Finished,
}

impl<'a> Annotator<'a> {
    pub fn new(finished: &'a Finished) -> Self {
        Annotator { finished }
    }

    /// A one-line note for a captured frame, e.g. `pid 4242 curl out (exact)`, or for
    /// loopback `pid 10 client out (exact); pid 20 server in (exact)`.
    pub fn comment(&self, link: LinkType, ts: Timestamp, frame: &[u8], wire_len: u32) -> String {
        let summary = match summarize(link, ts, frame, wire_len) {
            Ok(s) => s,
            Err(skip) => return format!("unattributed: {}", skip.reason.name()),
        };
        let sides = match orient(&summary, &self.finished.local_addrs) {
            Orientation::One(key, dir) => vec![(key, dir)],
            Orientation::Both { sender, receiver } => {
                vec![(sender, Direction::Out), (receiver, Direction::In)]
            }
            Orientation::NotLocal => return "unattributed: not_local".into(),
        };
        let notes: Vec<String> = sides
            .into_iter()
            .map(|(key, dir)| self.note(key, dir))
            .collect();
        notes.join("; ")
    }

    fn note(&self, key: FlowKey, dir: Direction) -> String {
        let ledger = &self.finished.ledger;
        let dir = match dir {
            Direction::In => "in",
            Direction::Out => "out",
        };
        match self.finished.flow_index.get(&key) {
            Some(&flow) => {
                let f = &ledger.flows()[flow as usize];
                let (pid, name) = match &ledger.processes()[f.owner as usize].holder {
                    Holder::Process(info) => (info.key.pid, info.name.as_str()),
                    // As the report shows a row of processes added up: pid 0, their name.
                    Holder::Folded(folded) => (0, folded.name()),
                };
                format!("pid {pid} {name} {dir} ({})", f.quality.name())
            }
            None => format!("unattributed {dir}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use etherparse::PacketBuilder;

    use super::*;
    use crate::account::Ledger;
    use crate::attrib::LocalAddrs;
    use crate::model::{MatchQuality, ProcessInfo, Proto};

    #[test]
    fn frames_are_annotated_with_their_process_or_a_reason() {
        let mut ledger = Ledger::new(Timestamp(0), 2);
        let owner = ledger.owner(&Arc::new(ProcessInfo::sample(4242, 1, "curl")));
        let key = FlowKey::new(
            Proto::Tcp,
            "198.18.0.1:40000".parse().unwrap(),
            "198.18.0.2:443".parse().unwrap(),
        );
        let flow = ledger.open_flow(owner, MatchQuality::Exact, key);
        let finished = Finished {
            ledger,
            flow_index: [(key, flow)].into_iter().collect(),
            local_addrs: LocalAddrs::new(["198.18.0.1".parse().unwrap()]),
            both_ends: Default::default(),
            scans: 1,
            flows: Default::default(),
            unreadable_processes: 0,
            skipped: Default::default(),
        };
        let a = Annotator::new(&finished);
        let frame = |src: [u8; 4], dst: [u8; 4], sport, dport| {
            let mut f = Vec::new();
            PacketBuilder::ethernet2([2; 6], [4; 6])
                .ipv4(src, dst, 64)
                .tcp(sport, dport, 1, 1000)
                .write(&mut f, &[])
                .unwrap();
            f
        };
        let out = frame([198, 18, 0, 1], [198, 18, 0, 2], 40000, 443);
        let note = |f: &[u8]| a.comment(LinkType::Ethernet, Timestamp(0), f, f.len() as u32);
        assert_eq!(note(&out), "pid 4242 curl out (exact)");
        let back = frame([198, 18, 0, 2], [198, 18, 0, 1], 443, 40000);
        assert_eq!(note(&back), "pid 4242 curl in (exact)");
        let other = frame([198, 18, 0, 1], [198, 18, 0, 2], 40001, 443);
        assert_eq!(note(&other), "unattributed out");
        let far = frame([198, 18, 0, 7], [198, 18, 0, 8], 1, 2);
        assert_eq!(note(&far), "unattributed: not_local");
        assert_eq!(note(&[0u8; 3]), "unattributed: malformed");
    }
}
