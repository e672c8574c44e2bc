/// Microseconds since the Unix epoch, as stamped on packets by the kernel.
///
/// The core never reads a clock: timestamps come from pcap headers and from the
/// pipeline, so tests can state time exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn from_micros(us: u64) -> Self {
        Timestamp(us)
    }

    pub fn from_timeval(sec: i64, usec: i64) -> Self {
        let us = (sec.max(0) as u64) * 1_000_000 + usec.clamp(0, 999_999) as u64;
        Timestamp(us)
    }

    pub fn micros(self) -> u64 {
        self.0
    }

    /// `self` moved `d` later (a replay's window end).
    pub fn plus(self, d: std::time::Duration) -> Self {
        Timestamp(self.0.saturating_add(d.as_micros() as u64))
    }

    /// The time from `earlier` to `self`; zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> std::time::Duration {
        std::time::Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// Whole seconds from `start` to `self`; 0 when `self` is earlier.
    pub fn whole_secs_since(self, start: Timestamp) -> u64 {
        self.0.saturating_sub(start.0) / 1_000_000
    }
}
