//! Scheduling: the heap key that merges all event sources in time order,
//! arrival streams with a day/night profile, and the event loop both
//! generators share.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io;

use crate::clock::{HOUR, MIN};
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

/// The three streams every generator draws its traffic from.
pub(crate) struct Feeds {
    arrivals: Stream,
    refusals: Stream,
    noise: Stream,
}

impl Feeds {
    /// `messages` arrivals and a tenth as many refused connections, kept a
    /// few minutes clear of both ends of `[start, end)` so their sessions
    /// fit in the log; `noise` noise sessions over `[start + 1, noise_end)`.
    ///
    /// Forks `root` once per stream, in that order: the generators' output
    /// depends on the order of forks.
    pub fn new(root: &mut Rng, start: i64, end: i64, messages: u64, noise: (u64, i64)) -> Self {
        let margin = (5 * MIN).min((end - start) / 10);
        let (from, to) = (start + margin / 2, end - margin);
        Feeds {
            arrivals: Stream::new(messages, from, to, root.fork()),
            refusals: Stream::new(messages / 10, from, to, root.fork()),
            noise: Stream::new(noise.0, start + 1, noise.1, root.fork()),
        }
    }

    fn next(&mut self, e: &Event<impl Eq>) -> Option<i64> {
        match e {
            Event::Arrival => self.arrivals.next(),
            Event::Refusal => self.refusals.next(),
            Event::Noise => self.noise.next(),
            Event::Msg(_) | Event::Own(_) => None,
        }
    }
}

/// What the shared event loop schedules: the next item of each feed, a
/// queued message's next event, or an item only one generator has (`X`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Event<X> {
    /// A new message is planned.
    Arrival,
    /// A connection is refused before it queues anything.
    Refusal,
    /// A noise session (scanners, bots) starts.
    Noise,
    /// The message in this slot of the [`Queue`] has its next event due.
    Msg(u32),
    /// Generator-specific.
    Own(X),
}

/// A message the [`Queue`] can hold: it knows when its first event is due.
pub(crate) trait Queued {
    /// Time of the first event; `None` when there is nothing to schedule.
    fn first_event(&self) -> Option<i64>;
}

/// The agenda (heap of timed events, ties in insertion order), the feeds
/// that keep it supplied, and the slab of messages still in flight,
/// addressed by slot.
pub(crate) struct Queue<X, M> {
    heap: BinaryHeap<Key<Event<X>>>,
    seq: u64,
    feeds: Feeds,
    slab: Vec<Option<M>>,
    free: Vec<u32>,
}

impl<X: Eq, M: Queued> Queue<X, M> {
    pub fn new(feeds: Feeds) -> Self {
        Queue {
            heap: BinaryHeap::new(),
            seq: 0,
            feeds,
            slab: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Schedules `e` at `t`, after anything already scheduled at `t`.
    pub fn push(&mut self, t: i64, e: Event<X>) {
        self.seq += 1;
        self.heap.push(Key {
            t,
            seq: self.seq,
            item: e,
        });
    }

    /// Schedules a generator-specific item.
    pub fn own(&mut self, t: i64, x: X) {
        self.push(t, Event::Own(x));
    }

    /// Parks `m` in a free slot and schedules its first event; a message
    /// without events is dropped.
    pub fn insert(&mut self, m: M) -> Option<u32> {
        let t = m.first_event()?;
        let slot = match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = Some(m);
                s
            }
            None => {
                self.slab.push(Some(m));
                (self.slab.len() - 1) as u32
            }
        };
        self.push(t, Event::Msg(slot));
        Some(slot)
    }

    /// The message parked in `slot`, if it is still there.
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut M> {
        self.slab[slot as usize].as_mut()
    }

    /// After one event of the message in `slot`: schedules its next event
    /// at `next`, or, when there is none and `release` is set, frees the
    /// slot and hands the message back to be finished. Otherwise the message
    /// stays parked until the end of the log.
    pub fn settle(&mut self, slot: u32, next: Option<i64>, release: bool) -> Option<M> {
        if let Some(t) = next {
            self.push(t, Event::Msg(slot));
            None
        } else if release {
            self.free.push(slot);
            self.slab[slot as usize].take()
        } else {
            None
        }
    }

    /// Takes out every message still parked, in slot order.
    pub fn drain(&mut self) -> Vec<M> {
        self.slab.iter_mut().filter_map(Option::take).collect()
    }
}

/// One generator's side of the shared event loop [`run`].
pub(crate) trait Driver {
    /// Generator-specific event items.
    type Own: Copy + Eq;
    /// The generator's in-flight message.
    type Msg: Queued;
    /// The agenda and message slab.
    fn queue(&mut self) -> &mut Queue<Self::Own, Self::Msg>;
    /// Plans a message arriving at `t`.
    fn arrival(&mut self, t: i64) -> Self::Msg;
    /// Plans a connection refused at `t`.
    fn refusal(&mut self, t: i64) -> Self::Msg;
    /// Starts a noise session at `t`.
    fn noise(&mut self, t: i64) -> io::Result<()>;
    /// Runs the next event of the message in `slot`, due at `t`.
    fn step(&mut self, slot: u32, t: i64) -> io::Result<()>;
    /// Handles a generator-specific item due at `t`.
    fn own(&mut self, x: Self::Own, t: i64) -> io::Result<()>;
}

/// Runs events in time order until the agenda is empty or reaches `end`.
///
/// Whatever the driver scheduled beforehand goes first among equal times;
/// then the first arrival, refusal and noise are scheduled, in that order,
/// and each feed schedules its next item right after handling one.
pub(crate) fn run<D: Driver>(d: &mut D, end: i64) -> io::Result<()> {
    for e in [Event::Arrival, Event::Refusal, Event::Noise] {
        feed(d, e);
    }
    while let Some(k) = d.queue().heap.pop() {
        if k.t >= end {
            break;
        }
        match k.item {
            Event::Arrival => {
                let m = d.arrival(k.t);
                d.queue().insert(m);
            }
            Event::Refusal => {
                let m = d.refusal(k.t);
                d.queue().insert(m);
            }
            Event::Noise => d.noise(k.t)?,
            Event::Msg(slot) => d.step(slot, k.t)?,
            Event::Own(x) => d.own(x, k.t)?,
        }
        feed(d, k.item);
    }
    Ok(())
}

/// Schedules the next item of the feed behind `e`, if `e` is a feed's.
fn feed<D: Driver>(d: &mut D, e: Event<D::Own>) {
    let q = d.queue();
    if let Some(t) = q.feeds.next(&e) {
        q.push(t, e);
    }
}
