use crate::model::{Direction, Timestamp};

/// Bytes per whole second of the capture, per direction, for peak rates.
///
/// Sized from the capture duration: seconds past the end (late timestamps) fold
/// into the last bucket, so memory is bounded by the duration, not by the traffic.
#[derive(Clone, Debug)]
pub struct Series {
    buckets: Vec<[u64; 2]>,
    max_buckets: usize,
}

impl Series {
    pub fn new(max_buckets: usize) -> Self {
        Series {
            buckets: Vec::new(),
            max_buckets: max_buckets.max(1),
        }
    }

    pub fn add(&mut self, start: Timestamp, at: Timestamp, dir: Direction, bytes: u64) {
        let second = (at.whole_secs_since(start) as usize).min(self.max_buckets - 1);
        if second >= self.buckets.len() {
            // Grows at most once per second of capture, never per packet.
            self.buckets.resize(second + 1, [0, 0]);
        }
        self.buckets[second][dir_index(dir)] += bytes;
    }

    /// The busiest single second in this direction.
    pub fn peak(&self, dir: Direction) -> u64 {
        let i = dir_index(dir);
        self.buckets.iter().map(|b| b[i]).max().unwrap_or(0)
    }

    /// Bytes per second, `[in, out]`, from the capture's first second.
    pub fn buckets(&self) -> &[[u64; 2]] {
        &self.buckets
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
        assert_eq!(s.buckets(), &[[10, 0], [20, 0]]);
    }

    #[test]
    fn timestamps_before_the_start_count_in_the_first_second() {
        let mut s = Series::new(5);
        s.add(ms(1_000), ms(0), Direction::In, 7);
        assert_eq!(s.buckets(), &[[7, 0]]);
    }
}
