//! Allocations per event in the timed window (a run, not its preparation), by the crate's
//! counting allocator, on an order flow shaped like the built-in workloads: at most 0.01
//! (issue 18's goal), so 300 in 30,000 events. Its own test binary with one test: the
//! counters are process-wide, so no other test may allocate meanwhile.

use std::sync::Arc;

use evb_engine::alloc::counters;
use evb_engine::fuzzing::slots;
use evb_engine::pool::Pool;
use evb_engine::run::{Control, PoolRun, SequentialRun};
use evb_engine::{mix, Stream};
use evb_orderbook::{Event, Orderbook, CANCEL, LIMIT, MARKET};

/// A realistic flow (docs/scenarios/orderbook.md §4): skewed instruments, prices a random
/// walk per instrument with limits within a few ticks of the mid, some crossing, half the
/// events cancels of recent orders of the same instrument, few market orders.
fn realistic(n: u64, n_keys: u32) -> Vec<u8> {
    let mut mids = vec![10_000i64; n_keys as usize];
    let mut recent: Vec<Vec<u64>> = vec![Vec::new(); n_keys as usize];
    let mut out = Vec::with_capacity(n as usize * 40);
    for seq in 0..n {
        let r = mix(seq ^ 0x5eed);
        // Skewed: the square of a uniform number favours low keys.
        let u = (r % 1_000) as f64 / 1_000.0;
        let key = ((u * u) * n_keys as f64) as u32;
        let k = key as usize;
        let roll = (r >> 10) % 100;
        let e = if roll < 50 && !recent[k].is_empty() {
            let list = &recent[k];
            let target = list[list.len() - 1 - ((r >> 20) as usize % list.len().min(16))];
            Event {
                seq,
                key,
                kind: CANCEL,
                target,
                ..Default::default()
            }
        } else {
            mids[k] = (mids[k] + ((r >> 20) % 3) as i64 - 1).max(100);
            let side = ((r >> 24) & 1) as u8;
            let account = ((r >> 32) % 5_000) as u16;
            let qty = 1 + ((r >> 40) % 100) as u32;
            if roll >= 96 {
                Event {
                    seq,
                    key,
                    kind: MARKET,
                    side,
                    account,
                    qty,
                    ..Default::default()
                }
            } else {
                let away = 1 + ((r >> 48) % 10) as i64;
                let crossing = (r >> 56) % 10 == 0;
                let toward = if crossing { -1 } else { 1 };
                let offset = toward * if side == 0 { -away } else { away };
                recent[k].push(seq);
                Event {
                    seq,
                    key,
                    kind: LIMIT,
                    side,
                    account,
                    price: (mids[k] + offset) as u32,
                    qty,
                    ..Default::default()
                }
            }
        };
        out.extend(e.encode(seq * 100));
    }
    out
}

#[test]
fn a_run_allocates_at_most_one_hundredth_of_an_allocation_per_event() {
    let n = 30_000u64;
    for n_keys in [4, 400] {
        let stream = Arc::new(Stream::<Orderbook>::new(realistic(n, n_keys), n_keys).unwrap());
        let done = slots(n as usize);
        let control = Control::default();
        let mut figures = Vec::new();
        for trial in 0..2 {
            let mut run = SequentialRun::prepare(Arc::clone(&stream));
            let before = counters().0;
            run.run(&done, 0, false, &control).unwrap();
            figures.push(("sequential", trial, counters().0 - before));
        }
        for workers in [1, 2, 3] {
            let mut pool = Pool::<Orderbook>::start(workers).unwrap();
            for trial in 0..2 {
                let mut run = PoolRun::prepare(Arc::clone(&stream), workers);
                let before = counters().0;
                run.run(&mut pool, &done, 0, false, &control).unwrap();
                figures.push(("pool", trial, counters().0 - before));
            }
        }
        eprintln!("{n_keys} keys: {figures:?}");
        for (engine, trial, allocations) in figures {
            let per_event = allocations as f64 / n as f64;
            assert!(
                per_event <= 0.01,
                "{engine}, run {trial}, {n_keys} keys: {allocations} allocations in {n} events"
            );
        }
    }
}
