//! The engine's runs on scenario `orderbook`: the contract's vectors (docs/scenarios/orderbook.md
//! §3) on every engine and every ledger, pools that serve run after run, open and closed loop,
//! the streaming session; random order flows against a model written from the contract's
//! words; streams changed after validation.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use evb_engine::fuzzing::{on_every_engine, slots, streamed};
use evb_engine::pool::Pool;
use evb_engine::run::{now_ns, run_on_pool, run_sequential, Control, EngineError};
use evb_engine::{mix, Scenario, Stream};
use evb_orderbook::{
    AtomicLedger, AtomicPaddedLedger, Event, Ledger, Orderbook, OrderbookOn, StripedLedger, CANCEL,
    LIMIT, MARKET, RECORD_SIZE,
};

/// `(seq, arrival_ns, key, kind, side, account, price, qty, target)`, as §3 writes them.
type Row = (u64, u64, u32, u8, u8, u16, u32, u32, u64);

fn event(row: Row) -> (u64, Event) {
    let (seq, arrival_ns, key, kind, side, account, price, qty, target) = row;
    let e = Event {
        seq,
        key,
        kind,
        side,
        account,
        price,
        qty,
        target,
    };
    (arrival_ns, e)
}

fn records(rows: &[Row]) -> Vec<u8> {
    rows.iter()
        .flat_map(|&row| {
            let (arrival, e) = event(row);
            e.encode(arrival)
        })
        .collect()
}

/// §3's eight records, on `n_keys = 2`.
const VECTOR: [Row; 8] = [
    (0, 0, 0, 0, 1, 1, 101, 5, 0),
    (1, 0, 0, 0, 1, 2, 100, 3, 0),
    (2, 1000, 0, 0, 0, 3, 101, 6, 0),
    (3, 1000, 1, 0, 0, 3, 50, 4, 0),
    (4, 2000, 0, 2, 0, 0, 0, 0, 3),
    (5, 2000, 1, 1, 1, 4, 0, 10, 0),
    (6, 3000, 0, 2, 0, 0, 0, 0, 0),
    (7, 3000, 0, 0, 0, 5, 99, 1, 0),
];
const VECTOR_DIGEST: u64 = 0x5a57408dd2666bdc;
const FIRST_THREE_DIGEST: u64 = 0x7d9b099192e351e7;
const EMPTY_DIGEST: u64 = 0x00fbfde4bfe8fd68;

fn new_stream<S: Scenario>(bytes: Vec<u8>, n_keys: u32) -> Arc<Stream<S>> {
    Arc::new(Stream::new(bytes, n_keys).unwrap())
}

#[test]
fn the_contract_vectors_on_every_engine() {
    on_every_engine::<Orderbook>(&records(&VECTOR), 2, VECTOR_DIGEST);
    on_every_engine::<Orderbook>(&records(&VECTOR[..3]), 2, FIRST_THREE_DIGEST);
    on_every_engine::<Orderbook>(&[], 1, EMPTY_DIGEST);
}

#[test]
fn the_contract_vectors_on_every_ledger() {
    fn check<L: Ledger>() {
        let vectors = [
            (&VECTOR[..], 2, VECTOR_DIGEST),
            (&VECTOR[..3], 2, FIRST_THREE_DIGEST),
            (&[][..], 1, EMPTY_DIGEST),
        ];
        for (rows, n_keys, expected) in vectors {
            let stream = new_stream::<OrderbookOn<L>>(records(rows), n_keys);
            let done = slots(rows.len());
            let control = Control::default();
            assert_eq!(
                run_sequential(&stream, &done, 0, false, &control),
                Ok(expected)
            );
            let mut pool = Pool::start(2).unwrap();
            assert_eq!(
                run_on_pool(&mut pool, &stream, &done, 0, false, &control),
                Ok(expected)
            );
        }
    }
    check::<AtomicLedger>();
    check::<AtomicPaddedLedger>();
    check::<StripedLedger>();
}

/// The first events of every built-in workload (the fuzz seeds), with the digests the Python
/// reference gives them (scenarios/orderbook/semantics.py, handled in order).
#[rustfmt::skip]
const PYTHON_DIGESTS: &[(&str, u64)] = &[
    ("book-100.evts", 0xae1ffb7144936301), // accounts up to 4662
    ("book-24.evts", 0xb3a182d5c80554c9),
    ("book-5.evts", 0xa2b7c786ea58fb1a),
    ("book-contention-100.evts", 0x77f9630178e4c378), // accounts 0-3
    ("book-contention-24.evts", 0xab8385275e5094d3),
    ("book-contention-5.evts", 0x0adcd222c351f50e),
    ("book-paced-100.evts", 0xb8310746a5745ecb),
    ("book-paced-24.evts", 0xc7d6fb6c09e76d93),
    ("book-paced-5.evts", 0x5251bb2aefd5499c),
    ("book-smoke-100.evts", 0x4c9e529c87f09847),
    ("book-smoke-24.evts", 0xcf5619c0aee115c0),
    ("book-smoke-5.evts", 0x95c0baae25f157e9),
];

#[test]
fn slices_of_the_workloads_give_the_python_reference_digests() {
    fn check<L: Ledger>(records: &[u8], n_keys: u32, expected: u64, name: &str) {
        let stream = new_stream::<OrderbookOn<L>>(records.to_vec(), n_keys);
        let done = slots(records.len() / RECORD_SIZE);
        let control = Control::default();
        let sequential = run_sequential(&stream, &done, 0, false, &control);
        assert_eq!(sequential, Ok(expected), "{name}, sequential");
        for workers in [2, 3] {
            let mut pool = Pool::start(workers).unwrap();
            let digest = run_on_pool(&mut pool, &stream, &done, 0, false, &control);
            assert_eq!(digest, Ok(expected), "{name}, {workers} workers");
        }
    }
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/orderbook");
    for (name, expected) in PYTHON_DIGESTS {
        let file = std::fs::read(seeds.join(name)).unwrap();
        let n_keys = u32::from_le_bytes(file[12..16].try_into().unwrap());
        let records = &file[64..];
        check::<AtomicLedger>(records, n_keys, *expected, name);
        check::<AtomicPaddedLedger>(records, n_keys, *expected, name);
        check::<StripedLedger>(records, n_keys, *expected, name);
    }
}

#[test]
fn open_loop_never_handles_early() {
    let rows: Vec<Row> = (0..60u64)
        .map(|i| {
            (
                i,
                i * 20_000,
                (i % 3) as u32,
                0,
                (i % 2) as u8,
                1,
                100,
                1,
                0,
            )
        })
        .collect();
    let bytes = records(&rows);
    let stream = new_stream::<Orderbook>(bytes, 3);
    let done = slots(rows.len());
    let t0 = now_ns();
    let mut pool = Pool::start(2).unwrap();
    run_on_pool(&mut pool, &stream, &done, t0, true, &Control::default()).unwrap();
    for row in &rows {
        assert!(done[row.0 as usize].load(Relaxed) >= t0 + row.1);
    }
}

// ---------------------------------------------------------------- a model from the contract

/// Price -> resting `(id, account, remaining)`, oldest first.
type ModelSide = BTreeMap<u32, VecDeque<(u64, u16, u32)>>;

/// §2 written as plainly as possible: a side is a map from price to a queue of
/// `(id, account, remaining)`, and where each resting order is, by id, is in a map of its own.
#[derive(Default, Clone)]
struct ModelBook {
    sides: [ModelSide; 2],
    counters: [u64; 5],                  // events, fills, volume, h, cancelled
    resting: HashMap<u64, (usize, u32)>, // id -> (side, price)
}

fn model_digest(rows: &[Row], n_keys: usize) -> u64 {
    let mut books = vec![ModelBook::default(); n_keys];
    let mut pos = vec![0u64; 65_536];
    let mut cash = vec![0u64; 65_536];
    for &(seq, _, key, kind, side, account, price, qty, target) in rows {
        let book = &mut books[key as usize];
        book.counters[0] += 1;
        if kind == CANCEL {
            if let Some((s, p)) = book.resting.remove(&target) {
                let level = book.sides[s].get_mut(&p).unwrap();
                level.retain(|o| o.0 != target);
                if level.is_empty() {
                    book.sides[s].remove(&p);
                }
                book.counters[4] += 1;
            }
            continue;
        }
        let mut q = qty;
        let opposite = 1 - side as usize;
        while q > 0 {
            let best = if side == 0 {
                book.sides[opposite].keys().next().copied()
            } else {
                book.sides[opposite].keys().next_back().copied()
            };
            let Some(p) = best else { break };
            if kind == LIMIT && (if side == 0 { p > price } else { p < price }) {
                break;
            }
            let level = book.sides[opposite].get_mut(&p).unwrap();
            let maker = level.front_mut().unwrap();
            let f = q.min(maker.2);
            book.counters[1] += 1;
            book.counters[2] = book.counters[2].wrapping_add(f as u64);
            book.counters[3] =
                mix(mix(book.counters[3] ^ maker.0) ^ (((p as u64) << 32) | f as u64));
            let (buyer, seller) = if side == 0 {
                (account, maker.1)
            } else {
                (maker.1, account)
            };
            let (b, s) = (buyer as usize, seller as usize);
            pos[b] = pos[b].wrapping_add(f as u64);
            pos[s] = pos[s].wrapping_sub(f as u64);
            cash[b] = cash[b].wrapping_sub(p as u64 * f as u64);
            cash[s] = cash[s].wrapping_add(p as u64 * f as u64);
            maker.2 -= f;
            q -= f;
            if maker.2 == 0 {
                let id = maker.0;
                level.pop_front();
                book.resting.remove(&id);
                if level.is_empty() {
                    book.sides[opposite].remove(&p);
                }
            }
        }
        if q > 0 && kind == LIMIT {
            book.sides[side as usize]
                .entry(price)
                .or_default()
                .push_back((seq, account, q));
            book.resting.insert(seq, (side as usize, price));
        }
    }
    let mut d = mix(rows.len() as u64);
    for book in &books {
        for x in book.counters {
            d = mix(d ^ x);
        }
        let bids = book.sides[0].iter().rev();
        let asks = book.sides[1].iter();
        for (levels, marker) in [(bids.collect::<Vec<_>>(), 1), (asks.collect(), 2)] {
            for (&p, queue) in levels {
                for &(id, _, remaining) in queue {
                    d = mix(d ^ id);
                    d = mix(d ^ (((p as u64) << 32) | remaining as u64));
                }
            }
            d = mix(d ^ marker);
        }
    }
    for a in 0..65_536 {
        if pos[a] != 0 || cash[a] != 0 {
            d = mix(mix(mix(d ^ a as u64) ^ pos[a]) ^ cash[a]);
        }
    }
    d
}

#[test]
fn the_model_gives_the_contract_vectors() {
    assert_eq!(model_digest(&VECTOR, 2), VECTOR_DIGEST);
    assert_eq!(model_digest(&VECTOR[..3], 2), FIRST_THREE_DIGEST);
    assert_eq!(model_digest(&[], 1), EMPTY_DIGEST);
}

/// A random order flow: prices near a mid that walks, many crossing orders, five accounts
/// (so the same account is often both sides of a fill), cancels of recent orders of any
/// instrument (so some target another instrument's order), and extreme prices and
/// quantities (so sums wrap).
fn random_flow(seed: u64, n: u64, n_keys: u32) -> Vec<Row> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(1);
        mix(state)
    };
    let mut mid = 1_000i64;
    (0..n)
        .map(|seq| {
            let r = next();
            let key = (r % n_keys as u64) as u32;
            mid = (mid + (r >> 8) as i64 % 3 - 1).max(10);
            let roll = (r >> 16) % 100;
            if seq > 0 && roll < 35 {
                let reach = 1 + (r >> 24) % 20;
                return (seq, seq, key, CANCEL, 0, 0, 0, 0, seq.saturating_sub(reach));
            }
            let side = ((r >> 32) & 1) as u8;
            // Few accounts, at the edges of the ledger's blocks of 64 and of its range.
            let account = [0, 1, 63, 64, 65_535][((r >> 33) % 5) as usize];
            let qty = if (r >> 40) % 50 == 0 {
                u32::MAX - (r >> 44) as u32 % 3
            } else {
                1 + ((r >> 40) % 30) as u32
            };
            if roll < 40 {
                return (seq, seq, key, MARKET, side, account, 0, qty, 0);
            }
            let offset = ((r >> 48) % 9) as i64 - 4;
            let price = if (r >> 56) % 64 == 0 {
                u32::MAX - (r >> 60) as u32
            } else {
                (mid + offset) as u32
            };
            (seq, seq, key, LIMIT, side, account, price, qty, 0)
        })
        .collect()
}

#[test]
fn random_flows_match_the_model_on_every_engine() {
    for (seed, n, n_keys) in [(1, 3_000, 1), (2, 3_000, 3), (3, 5_000, 7), (4, 400, 50)] {
        let rows = random_flow(seed, n, n_keys);
        let expected = model_digest(&rows, n_keys as usize);
        let bytes = records(&rows);
        let stream = new_stream::<Orderbook>(bytes.clone(), n_keys);
        let done = slots(rows.len());
        let control = Control::default();
        let sequential = run_sequential(&stream, &done, 0, false, &control);
        assert_eq!(sequential, Ok(expected), "seed {seed}");
        for workers in [2, 3] {
            let mut pool = Pool::start(workers).unwrap();
            for _ in 0..2 {
                let digest = run_on_pool(&mut pool, &stream, &done, 0, false, &control);
                assert_eq!(digest, Ok(expected), "seed {seed}, {workers} workers");
            }
        }
        assert_eq!(streamed::<Orderbook>(&bytes, n_keys, 2, 7), expected);
        let striped = new_stream::<OrderbookOn<StripedLedger>>(bytes, n_keys);
        let mut pool = Pool::start(3).unwrap();
        let digest = run_on_pool(&mut pool, &striped, &done, 0, false, &control);
        assert_eq!(digest, Ok(expected), "seed {seed}, striped ledger");
    }
}

#[test]
fn deep_books_and_many_levels_grow_every_structure() {
    // 20,000 limits that never cross on one instrument: bids at distinct low prices and asks
    // at distinct high prices, in shuffled order so levels go in the middle of their sides;
    // then a market order of each side sweeps part of them, and every other order is cancelled.
    let mut rows: Vec<Row> = Vec::new();
    for i in 0..20_000u64 {
        let scattered = mix(i) % 1_000_000;
        let (side, price) = if i % 2 == 0 {
            (0, 1 + scattered as u32)
        } else {
            (1, 2_000_000 + scattered as u32)
        };
        rows.push((
            i,
            0,
            0,
            LIMIT,
            side,
            (i % 7) as u16,
            price,
            1 + (i % 5) as u32,
            0,
        ));
    }
    let n = rows.len() as u64;
    rows.push((n, 0, 0, MARKET, 0, 9, 0, 15_000, 0));
    rows.push((n + 1, 0, 0, MARKET, 1, 9, 0, 15_000, 0));
    for (j, target) in (0..n).step_by(2).enumerate() {
        rows.push((n + 2 + j as u64, 0, 0, CANCEL, 0, 0, 0, 0, target));
    }
    let expected = model_digest(&rows, 1);
    let bytes = records(&rows);
    let stream = new_stream::<Orderbook>(bytes, 1);
    let done = slots(rows.len());
    let control = Control::default();
    assert_eq!(
        run_sequential(&stream, &done, 0, false, &control),
        Ok(expected)
    );
    let mut pool = Pool::start(2).unwrap();
    assert_eq!(
        run_on_pool(&mut pool, &stream, &done, 0, false, &control),
        Ok(expected)
    );
}

#[test]
fn a_record_changed_after_validation_is_a_failure_not_undefined_behaviour() {
    let mut bytes = records(&VECTOR);
    let ptr = bytes.as_mut_ptr();
    // SAFETY: `bytes` outlives the stream; it changes only through `ptr`, between runs.
    let stream = Arc::new(unsafe { Stream::<Orderbook>::from_raw(ptr, bytes.len(), 2) }.unwrap());
    unsafe { *ptr.add(RECORD_SIZE + 16) = 200 }; // record 1's key: past the books
    for workers in [1, 2] {
        let mut pool = Pool::start(workers).unwrap();
        let run = run_on_pool(&mut pool, &stream, &slots(8), 0, false, &Control::default());
        assert!(
            matches!(&run, Err(EngineError::Handler(m)) if m.starts_with("handling event 1 failed: the handler panicked")),
            "{run:?}"
        );
    }
    let run = run_sequential(&stream, &slots(8), 0, false, &Control::default());
    assert!(matches!(run, Err(EngineError::Handler(_))), "{run:?}");
    // Any other field changed to anything: wrong figures at worst, never a crash or a hang.
    unsafe { *ptr.add(RECORD_SIZE + 16) = 0 };
    let mut pool = Pool::start(2).unwrap();
    for at in [20, 21, 22, 24, 28, 32, 39] {
        for value in [0u8, 1, 2, 3, 0xff] {
            for record in 0..8 {
                let byte = unsafe { ptr.add(record * RECORD_SIZE + at) };
                let kept = unsafe { *byte };
                unsafe { *byte = value };
                let run = run_sequential(&stream, &slots(8), 0, false, &Control::default());
                assert!(
                    run.is_ok(),
                    "byte {at} of record {record} = {value}: {run:?}"
                );
                let run = run_on_pool(&mut pool, &stream, &slots(8), 0, false, &Control::default());
                assert!(
                    run.is_ok(),
                    "byte {at} of record {record} = {value}: {run:?}"
                );
                unsafe { *byte = kept };
            }
        }
    }
    // Duplicate ids: every record a limit with seq 0 (a changed buffer), then cancels of it.
    for record in 0..8 {
        unsafe { std::ptr::write_bytes(ptr.add(record * RECORD_SIZE), 0, 8) };
    }
    let run = run_sequential(&stream, &slots(8), 0, false, &Control::default());
    assert!(run.is_ok(), "{run:?}");
    drop(stream);
}

#[test]
fn cancelling_is_sticky_and_a_cancelled_pool_serves_the_next_run() {
    let control = Control::default();
    control.cancel();
    let stream = new_stream::<Orderbook>(records(&VECTOR), 2);
    let done = slots(8);
    let mut pool = Pool::start(2).unwrap();
    let run = run_on_pool(&mut pool, &stream, &done, 0, false, &control);
    assert_eq!(run, Err(EngineError::Cancelled));
    let run = run_sequential(&stream, &done, 0, false, &control);
    assert_eq!(run, Err(EngineError::Cancelled));
    let next = run_on_pool(&mut pool, &stream, &done, 0, false, &Control::default());
    assert_eq!(next, Ok(VECTOR_DIGEST));
}

#[cfg(feature = "fault-injection")]
#[test]
fn an_armed_fault_fails_the_run_naming_its_event() {
    use evb_engine::fault::Fault;
    std::env::set_var(evb_engine::fault::ENV, "native:4321");
    let armed = Fault::armed("native");
    std::env::remove_var(evb_engine::fault::ENV);
    let rows = random_flow(9, 5_000, 5);
    let stream = new_stream::<Orderbook>(records(&rows), 5);
    let done = slots(5_000);
    let control = Control::with_fault(armed);
    let expected = "handling event 4321 failed: the handler panicked: fault injected at event 4321";
    for workers in [1, 3] {
        let mut pool = Pool::start(workers).unwrap();
        match run_on_pool(&mut pool, &stream, &done, 0, false, &control) {
            Err(EngineError::Handler(message)) => assert!(message.starts_with(expected)),
            other => panic!("expected the injected failure, got {other:?}"),
        }
        let unarmed = run_on_pool(&mut pool, &stream, &done, 0, false, &Control::default());
        assert_eq!(
            unarmed,
            Ok(model_digest(&rows, 5)),
            "the pool serves the next run"
        );
    }
    match run_sequential(&stream, &done, 0, false, &control) {
        Err(EngineError::Handler(message)) => assert!(message.starts_with(expected)),
        other => panic!("expected the injected failure, got {other:?}"),
    }
}
