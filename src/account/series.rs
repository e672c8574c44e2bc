use crate::model::{Direction, Timestamp};

/// Bytes per whole second of the capture, per direction, for peak rates.
///
/// Holds only the seconds from the process's first traffic to its last, so a process
/// that lived for a second of a long capture costs one bucket. Bounded by the capture
/// duration: seconds past the end (late timestamps) fold into the last bucket.
#[derive(Clone, Debug)]
pub struct Series {
    /// The capture second of `buckets[0]`.
    first: usize,
    buckets: Vec<[u64; 2]>,
    max_buckets: usize,
}

impl Series {
    pub fn new(max_buckets: usize) -> Self {
        Series {
            first: 0,
            buckets: Vec::new(),
            max_buckets: max_buckets.max(1),
        }
    }

    pub fn add(&mut self, start: Timestamp, at: Timestamp, dir: Direction, bytes: u64) {
        let second = at.whole_secs_since(start) as usize;
        let mut both = [0, 0];
        both[dir_index(dir)] = bytes;
        self.add_at(second, both);
    }

    /// Adds `other`'s seconds to this one's (a row of several processes, `--by`).
    pub fn merge(&mut self, other: &Series) {
        let (first, buckets) = other.held_from();
        for (i, &b) in buckets.iter().enumerate() {
            self.add_at(first + i, b);
        }
    }

    /// Adds `[in, out]` bytes to capture second `second`.
    fn add_at(&mut self, second: usize, bytes: [u64; 2]) {
        let second = second.min(self.max_buckets - 1);
        if self.buckets.is_empty() {
            self.first = second;
        }
        if second < self.first {
            // Out of order by a second (two capture threads): grow at the front.
            let missing = self.first - second;
            self.buckets
                .splice(0..0, std::iter::repeat_n([0, 0], missing));
            self.first = second;
        }
        let i = second - self.first;
        if i >= self.buckets.len() {
            if i >= self.buckets.capacity() {
                // Doubling, but never past the capture's last second: a 300 s capture
                // holds at most 300 buckets per process, not 512.
                let room = self.max_buckets - self.first;
                let want = (2 * self.buckets.capacity()).max(i + 1).min(room);
                self.buckets.reserve_exact(want - self.buckets.len());
            }
            // Grows at most once per second of capture, never per packet.
            self.buckets.resize(i + 1, [0, 0]);
        }
        self.buckets[i][0] += bytes[0];
        self.buckets[i][1] += bytes[1];
    }

    /// The busiest single second in this direction.
    pub fn peak(&self, dir: Direction) -> u64 {
        let i = dir_index(dir);
        self.buckets.iter().map(|b| b[i]).max().unwrap_or(0)
    }

    /// The capture second of the first bucket held, and the buckets held from there.
    pub fn held_from(&self) -> (usize, &[[u64; 2]]) {
        (self.first, &self.buckets)
    }
}

fn dir_index(dir: Direction) -> usize {
    match dir {
        Direction::In => 0,
        Direction::Out => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Timestamp {
        Timestamp(1_000_000_000 + n * 1_000)
    }

    impl Series {
        /// Bytes per second, `[in, out]`, from the capture's first second to the
        /// process's last.
        fn buckets(&self) -> Vec<[u64; 2]> {
            let (quiet, held) = self.held_from();
            let mut all = vec![[0, 0]; quiet];
            all.extend_from_slice(held);
            all
        }

        /// Seconds held in memory.
        fn held(&self) -> usize {
            self.buckets.len()
        }
    }

    #[test]
    fn peak_rate_is_the_busiest_whole_second() {
        let start = ms(0);
        let mut s = Series::new(10);
        for at in [100, 900, 1_100] {
            s.add(start, ms(at), Direction::Out, 1_500);
        }
        assert_eq!(s.peak(Direction::Out), 3_000);
        assert_eq!(s.peak(Direction::In), 0);
    }

    #[test]
    fn timestamps_past_the_end_fold_into_the_last_second() {
        let start = ms(0);
        let mut s = Series::new(2);
        s.add(start, ms(500), Direction::In, 10);
        s.add(start, ms(9_000), Direction::In, 20);
        assert_eq!(s.buckets(), [[10, 0], [20, 0]]);
    }

    #[test]
    fn storage_never_outgrows_the_capture() {
        let start = ms(0);
        let mut s = Series::new(300);
        for second in 0..300 {
            s.add(start, ms(second * 1_000), Direction::In, 1);
            assert!(s.buckets.capacity() <= 300, "second {second}");
        }
        assert_eq!(s.held(), 300);
    }

    #[test]
    fn timestamps_before_the_start_count_in_the_first_second() {
        let mut s = Series::new(5);
        s.add(ms(1_000), ms(0), Direction::In, 7);
        assert_eq!(s.buckets(), [[7, 0]]);
    }

    #[test]
    fn a_late_short_process_holds_only_its_own_seconds() {
        let start = ms(0);
        let mut s = Series::new(600);
        s.add(start, ms(540_200), Direction::Out, 5);
        s.add(start, ms(541_100), Direction::In, 6);
        assert_eq!(s.held(), 2);
        let all = s.buckets();
        assert_eq!(all.len(), 542);
        assert_eq!(all[540], [0, 5]);
        assert_eq!(all[541], [6, 0]);
        // A packet a second older (from another capture thread) grows the front.
        s.add(start, ms(539_900), Direction::In, 7);
        assert_eq!(s.buckets()[539], [7, 0]);
        assert_eq!(s.held(), 3);
    }
}
