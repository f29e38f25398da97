//! Scheduling: the heap key that merges all event sources in time order,
//! and arrival streams with a day/night profile.

use std::cmp::Ordering;

use crate::clock::HOUR;
use crate::rng::Rng;

/// A heap entry: earliest time first, ties in insertion order.
#[derive(PartialEq, Eq, Debug)]
pub(crate) struct Key<I> {
    pub t: i64,
    pub seq: u64,
    pub item: I,
}

impl<I: Eq> Ord for Key<I> {
    fn cmp(&self, o: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap, we want the earliest first.
        (o.t, o.seq).cmp(&(self.t, self.seq))
    }
}

impl<I: Eq> PartialOrd for Key<I> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// Arrival times of `n` events spread over `[from, to)` with a day/night profile.
pub(crate) struct Stream {
    n: u64,
    i: u64,
    from: i64,
    to: i64,
    cum: Vec<f64>,
    rng: Rng,
    last: i64,
}

const HOURLY: [f64; 24] = [
    0.25, 0.2, 0.15, 0.15, 0.2, 0.3, 0.5, 0.8, 1.0, 1.0, 1.0, 1.0, 0.9, 1.0, 1.0, 1.0, 0.9, 0.8,
    0.6, 0.5, 0.45, 0.4, 0.35, 0.3,
];

impl Stream {
    pub fn new(n: u64, from: i64, to: i64, rng: Rng) -> Self {
        let mut cum = vec![0.0];
        let mut t = from;
        let mut acc = 0.0;
        while t < to {
            let next = ((t.div_euclid(HOUR)) + 1) * HOUR;
            let seg = next.min(to) - t;
            let h = t.div_euclid(HOUR).rem_euclid(24) as usize;
            acc += HOURLY[h] * seg as f64;
            cum.push(acc);
            t = next.min(to);
        }
        Stream {
            n,
            i: 0,
            from,
            to,
            cum,
            rng,
            last: i64::MIN,
        }
    }

    pub fn next(&mut self) -> Option<i64> {
        if self.i >= self.n || self.to <= self.from {
            return None;
        }
        let u = (self.i as f64 + self.rng.unit()) / self.n as f64;
        self.i += 1;
        let total = *self.cum.last().unwrap_or(&1.0);
        let x = u * total;
        let k = self.cum.partition_point(|&c| c <= x).max(1) - 1;
        let seg_start = if k == 0 {
            self.from
        } else {
            (self.from.div_euclid(HOUR) + k as i64) * HOUR
        };
        let seg_end = ((self.from.div_euclid(HOUR) + k as i64 + 1) * HOUR).min(self.to);
        let frac = (x - self.cum[k]) / (self.cum[k + 1] - self.cum[k]).max(1e-9);
        let t = seg_start + (frac * (seg_end - seg_start) as f64) as i64;
        let t = t.max(self.last + 1);
        self.last = t;
        Some(t)
    }
}
