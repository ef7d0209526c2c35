//! Which worker of a pool owns each key, and at which slot of its `Keys`.
//!
//! A key belongs to exactly one worker, so its events are handled in `seq` order without a
//! lock. Which worker is free to choose, and it decides how evenly a pool shares the work: on
//! a skewed stream, `key % workers` can give one worker far more events than the others (the
//! order book's `book` gives one of two workers 56.8 % of its events), and the pool's time is
//! that worker's. A prepared stream's key counts are known before its run, so its keys are
//! dealt by weight instead (`balanced`). A streaming session's are not: it deals by `modulo`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Streams with more keys than this are dealt by `modulo`: the counts and tables would cost
/// memory in proportion to the keys, and many keys spread their events evenly enough anyway.
pub const MAX_BALANCED_KEYS: usize = 1 << 20;

pub enum Partition {
    /// Key `k` is worker `k % workers`'s, at slot `k / workers`.
    Modulo { workers: u32 },
    /// Key `k` is worker `owner[k]`'s, at slot `slot[k]`; worker `w` holds `owned[w]` keys.
    Table {
        owner: Vec<u16>,
        slot: Vec<u32>,
        owned: Vec<usize>,
    },
}

impl Partition {
    pub fn modulo(workers: usize) -> Partition {
        Partition::Modulo {
            workers: workers as u32,
        }
    }

    /// Deals the keys with events heaviest first, each to the worker with the fewest events so
    /// far (the longest-processing-time rule: the busiest worker ends within 4/3 of the best
    /// possible split), then the keys without events round the workers, so that every worker's
    /// state has about as many slots. `counts[k]`: key `k`'s events.
    pub fn balanced(counts: &[u64], workers: usize) -> Partition {
        assert!(
            (1..=u16::MAX as usize + 1).contains(&workers),
            "workers out of range"
        );
        let mut heavy: Vec<u32> = (0..counts.len() as u32)
            .filter(|&k| counts[k as usize] > 0)
            .collect();
        heavy.sort_by_key(|&k| (Reverse(counts[k as usize]), k)); // by key on ties: deterministic
        let mut owner = vec![0u16; counts.len()];
        let mut slot = vec![0u32; counts.len()];
        let mut owned = vec![0usize; workers];
        let mut loads: BinaryHeap<Reverse<(u64, usize)>> =
            (0..workers).map(|w| Reverse((0, w))).collect();
        let mut give = |k: u32, w: usize| {
            owner[k as usize] = w as u16;
            slot[k as usize] = owned[w] as u32;
            owned[w] += 1;
        };
        for &k in &heavy {
            let Reverse((load, w)) = loads.pop().expect("at least one worker");
            give(k, w);
            loads.push(Reverse((load + counts[k as usize], w)));
        }
        let idle = (0..counts.len() as u32).filter(|&k| counts[k as usize] == 0);
        for (i, k) in idle.enumerate() {
            give(k, i % workers);
        }
        Partition::Table { owner, slot, owned }
    }

    /// The worker of `key`. A key past the stream's (a buffer changed after validation) still
    /// has one, and a slot past that worker's state (`slot`), so that the handler's bounds
    /// check fails with the event named, as it does under `modulo`.
    #[inline(always)]
    pub fn owner(&self, key: u32) -> usize {
        match self {
            Partition::Modulo { workers } => (key % workers) as usize,
            Partition::Table { owner, .. } => match owner.get(key as usize) {
                Some(&w) => w as usize,
                None => 0,
            },
        }
    }

    #[inline(always)]
    pub fn slot(&self, key: u32) -> usize {
        match self {
            Partition::Modulo { workers } => (key / workers) as usize,
            Partition::Table { slot, .. } => match slot.get(key as usize) {
                Some(&s) => s as usize,
                None => usize::MAX,
            },
        }
    }

    /// How many of `n_keys` keys worker `w` owns: the size of its `Keys`.
    pub fn owned(&self, n_keys: usize, w: usize) -> usize {
        match self {
            Partition::Modulo { workers } => {
                let workers = *workers as usize;
                (n_keys + workers - 1 - w) / workers
            }
            Partition::Table { owned, .. } => owned[w],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key has one owner and a slot of its own, and each worker's slots are `0..owned`.
    fn check_exact(p: &Partition, n_keys: usize, workers: usize) {
        let mut seen = vec![Vec::new(); workers];
        for k in 0..n_keys as u32 {
            seen[p.owner(k)].push(p.slot(k));
        }
        for (w, mut slots) in seen.into_iter().enumerate() {
            slots.sort_unstable();
            assert_eq!(slots, (0..p.owned(n_keys, w)).collect::<Vec<_>>());
        }
    }

    #[test]
    fn both_deals_are_exact() {
        for n in 1..40 {
            for w in 1..7 {
                check_exact(&Partition::modulo(w), n, w);
                let counts: Vec<u64> = (0..n as u64).map(|k| (k * 7919) % 13).collect();
                check_exact(&Partition::balanced(&counts, w), n, w);
            }
        }
    }

    #[test]
    fn a_skewed_stream_is_shared_evenly() {
        // Zipf-like: key k has 1000 / (k + 1) events; modulo gives worker 0 the heavy keys.
        let counts: Vec<u64> = (0..400u64).map(|k| 1000 / (k + 1)).collect();
        let total: u64 = counts.iter().sum();
        let heaviest = |p: &Partition| {
            let mut loads = [0u64; 2];
            for (k, &c) in counts.iter().enumerate() {
                loads[p.owner(k as u32)] += c;
            }
            *loads.iter().max().unwrap() as f64 / total as f64
        };
        assert!(heaviest(&Partition::modulo(2)) > 0.55);
        assert!(heaviest(&Partition::balanced(&counts, 2)) < 0.501);
    }
}
