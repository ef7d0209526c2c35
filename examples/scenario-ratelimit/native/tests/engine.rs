//! The rate limiter on every engine: the contract's vectors, step by step and by digest; rows
//! built for the rules' edges; and the first 300 requests of each built-in workload, with the
//! digests of the package's independent reference (tests/ratelimit_reference.py). Each through
//! `native-sequential`, pools of several sizes that serve run after run, and the streaming session.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use evb_engine::file::parse_header;
use evb_engine::fuzzing::{check_input, on_every_engine, slots};
use evb_engine::pool::Pool;
use evb_engine::run::{run_on_pool, run_sequential, Control, EngineError};
use evb_engine::session::Session;
use evb_engine::{Scenario, Stream};
use evb_ratelimit::{Ratelimit, Request};

const M: u64 = u64::MAX;

/// `(seq, arrival_ns, t_us, key, cost, endpoint, plan, upstream_us)`, as the Python tests write them.
type Row = (u64, u64, u64, u32, u8, u8, u8, u8);

fn records(rows: &[Row]) -> Vec<u8> {
    rows.iter()
        .flat_map(
            |&(seq, arrival_ns, t_us, key, cost, endpoint, plan, upstream_us)| {
                let request = Request {
                    seq,
                    arrival_ns,
                    t_us,
                    key,
                    cost,
                    endpoint,
                    plan,
                    upstream_us,
                };
                request.encode()
            },
        )
        .collect()
}

/// The contract's `VECTORS` (tests/test_ratelimit.py, every step of the contract), `n_keys = 2`.
const VECTORS: [Row; 7] = [
    (0, 0, 0, 0, 8, 0, 0, 10), // client 0, free: full at first; 12 left, waits 10 µs
    (1, 0, 0, 0, 8, 1, 0, 0),  // 4 left; answered from the cache
    (2, 0, 0, 0, 4, 1, 0, 3),  // exactly 4: let through, 0 left, waits 3 µs
    (3, 0, 100_000, 0, 1, 0, 0, 7), // 0.1 s refills 0.5 token: rejected, no wait
    (4, 0, 300_000, 0, 1, 0, 0, 7), // 0.2 s more refills 1: let through, 0.5 left, waits 7 µs
    (5, 0, 50, 1, 200, 2, 3, 0), // client 1, enterprise: 5,000 tokens, 4,800 left
    (6, 0, 0, 1, 1, 15, 1, 255), // now on basic: capped at 100 (clock went back), waits 255 µs
];
const VECTORS_DIGEST: u64 = 0xc0941b2e17a8914e;
const EMPTY_DIGEST: u64 = 0xfce5de842633680a; // no events, n_keys = 1

/// The edges generated traffic never reaches, `n_keys = 5` (client 4 sends nothing).
const EDGES: [Row; 12] = [
    (0, 0, M - 10, 2, 255, 3, 3, 0), // client 2, enterprise, first request near the clock's end
    (1, 5, 0, 0, 20, 0, 0, 9),       // client 0, free: exactly its 20 tokens
    (2, 5, M, 0, 21, 1, 0, 9), // 2^64 µs later: a refill past 2^64 µtokens, capped at 20: rejected
    (3, 9, M, 0, 20, 1, 3, 0), // now enterprise, no time passed: still 20 tokens, all spent
    (4, 9, 5, 0, 1, 2, 3, 4),  // the clock goes back: no refill, last_us stays: rejected
    (5, 9, 1000, 1, 1, 15, 1, 255), // client 1, basic, the last endpoint, the longest wait
    (6, 9, 1020, 1, 99, 15, 1, 1), // 20 µs refill 1,000 µtokens: 99.001 tokens, 99 spent
    (7, 9, 21000, 1, 1, 14, 1, 2), // 19,980 µs refill exactly the one token missing
    (8, 9, 21000, 1, 1, 14, 1, 2), // nothing left: rejected
    (9, 10, 0, 2, 1, 3, 0, 0), // client 2 now free: 4,745 tokens capped at 20, 1 spent
    (10, 10, 0, 3, 100, 4, 1, 0), // client 3, basic: all 100 tokens spent
    (11, 10, 1 << 63, 3, 1, 4, 1, 0), // 2^63 µs x 50 is 0 modulo 2^64: a wrapping refill would reject
];
const EDGES_DIGEST: u64 = 0x027e2fa115b727c2;

/// Every engine gives `expected` (`on_every_engine`: the calling thread, pools of 1-5 workers
/// serving three runs each, sessions), and the fuzz target's checks pass on the same stream.
fn every_engine_gives(bytes: &[u8], n_keys: u32, expected: u64) {
    on_every_engine::<Ratelimit>(bytes, n_keys, expected);
    let mut file = header(n_keys, (bytes.len() / Ratelimit::RECORD_SIZE) as u64);
    file.extend_from_slice(bytes);
    check_input::<Ratelimit>(&file, |_| false);
}

/// A version-2 file's header for scenario `ratelimit` version 1 (SPEC §7).
fn header(n_keys: u32, n_events: u64) -> Vec<u8> {
    let mut h = b"EVTSTRM1".to_vec();
    h.extend(2u32.to_le_bytes());
    h.extend(n_keys.to_le_bytes());
    h.extend(n_events.to_le_bytes());
    h.extend(32u32.to_le_bytes());
    h.extend(1u32.to_le_bytes());
    h.extend(*b"ratelimit\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    h.extend([0u8; 8]);
    h
}

#[test]
fn the_contracts_vectors_step_by_step() {
    let mut clients = Ratelimit::new_keys(2);
    let ledger = Ratelimit::new_shared();
    let waits: Vec<u64> = records(&VECTORS)
        .chunks(32)
        .map(|r| {
            let request = Ratelimit::decode(r);
            Ratelimit::handle(&request, &mut clients, request.key as usize, &ledger)
        })
        .collect();
    assert_eq!(waits, [10, 0, 3, 0, 7, 0, 255]);
    let field = |f: fn(&evb_ratelimit::Client) -> u64| clients.iter().map(f).collect::<Vec<_>>();
    assert_eq!(field(|c| c.allowed), [4, 2]);
    assert_eq!(field(|c| c.rejected), [1, 0]);
    assert_eq!(field(|c| c.last_us), [300_000, 50]);
    assert_eq!(field(|c| c.tokens), [500_000, 99_000_000]);
    let e = &ledger[0];
    let counts =
        [&e.allowed, &e.rejected, &e.spent, &e.calls, &e.waited_us].map(|x| x.load(Relaxed));
    assert_eq!(counts, [2, 1, 9, 2, 17]); // endpoint 0: allowed .. waited_us
}

#[test]
fn the_contracts_vectors_on_every_engine() {
    every_engine_gives(&records(&VECTORS), 2, VECTORS_DIGEST);
    every_engine_gives(&[], 1, EMPTY_DIGEST);
}

#[test]
fn the_rules_edges_on_every_engine() {
    every_engine_gives(&records(&EDGES), 5, EDGES_DIGEST);
}

#[test]
fn the_built_in_workloads_on_every_engine() {
    // Each `eventbench export --workload W --n-events 300`; digests.txt holds the reference's
    // digest of each, and the package's Python tests check both (test_ratelimit.py).
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/streams");
    let listed = std::fs::read_to_string(folder.join("digests.txt")).unwrap();
    let mut checked = 0;
    for line in listed
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, digest) = line.split_once(' ').unwrap();
        let file = std::fs::read(folder.join(name)).unwrap();
        let (n_keys, n_events, header_size) = parse_header::<Ratelimit>(&file).unwrap();
        assert_eq!(n_events, 300, "{name}");
        let expected = u64::from_str_radix(digest, 16).unwrap();
        every_engine_gives(&file[header_size..], n_keys, expected);
        checked += 1;
    }
    assert_eq!(checked, 3, "one stream per built-in workload");
}

#[test]
fn the_streaming_session_in_batches_of_one() {
    let bytes = records(&EDGES);
    // The session writes into `done` until it is dropped, so `done` outlives it.
    let done: &'static [AtomicU64] = Box::leak(slots(EDGES.len()).into());
    let digest = {
        let mut session = Session::<Ratelimit>::open(5, 3, 1, done, Control::default()).unwrap();
        for record in bytes.chunks(32) {
            session.submit(record).unwrap();
        }
        session.close()
    };
    assert_eq!(digest, Ok(EDGES_DIGEST));
    assert!(done.iter().all(|d| d.load(Relaxed) > 0));
    // SAFETY: made by Box::leak above; the session, and every worker, is gone.
    drop(unsafe { Box::from_raw(done as *const [AtomicU64] as *mut [AtomicU64]) });
}

#[test]
fn each_rule_is_refused_in_record_pys_words_and_order() {
    let invalid = |rows: &[Row], n_keys| match Stream::<Ratelimit>::new(records(rows), n_keys) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("{rows:?} was accepted"),
    };
    let good: Row = (0, 0, 0, 0, 1, 0, 0, 0);
    assert_eq!(
        invalid(&[good, (1, 0, 0, 0, 0, 0, 0, 0)], 1),
        "record 1: cost must be >= 1 token"
    );
    assert_eq!(
        invalid(&[(0, 0, 0, 0, 1, 16, 0, 0)], 1),
        "record 0: endpoint 16 must be < 16"
    );
    assert_eq!(
        invalid(&[(0, 0, 0, 0, 1, 0, 4, 0)], 1),
        "record 0: plan 4 is not one of 0 free, 1 basic, 2 pro, 3 enterprise"
    );
    // Several rules broken at once: the first in record.py's order.
    assert_eq!(
        invalid(&[(0, 0, 0, 0, 0, 255, 255, 0)], 1),
        "record 0: cost must be >= 1 token"
    );
    assert_eq!(
        invalid(&[(0, 0, 0, 0, 1, 255, 255, 0)], 1),
        "record 0: endpoint 255 must be < 16"
    );
    // The engine's own columns come first.
    assert_eq!(
        invalid(&[(0, 0, 0, 1, 0, 255, 255, 0)], 1),
        "record 0: key 1 must be < n_keys 1"
    );
}

#[test]
fn a_record_changed_after_validation_fails_the_run_and_names_its_event() {
    let mut bytes = records(&VECTORS);
    let ptr = bytes.as_mut_ptr();
    // SAFETY: `bytes` outlives the stream; it changes only through `ptr`, before the runs.
    let stream = Arc::new(unsafe { Stream::<Ratelimit>::from_raw(ptr, bytes.len(), 2) }.unwrap());
    unsafe { *ptr.add(3 * 32 + 30) = 9 }; // record 3's plan: past the plans' table
    for workers in [1, 3] {
        let mut pool = Pool::start(workers).unwrap();
        let run = run_on_pool(&mut pool, &stream, &slots(7), 0, false, &Control::default());
        assert!(
            matches!(&run, Err(EngineError::Handler(m)) if m.starts_with("handling event 3 failed: the handler panicked")),
            "{run:?}"
        );
    }
    let run = run_sequential(&stream, &slots(7), 0, false, &Control::default());
    assert!(matches!(run, Err(EngineError::Handler(_))), "{run:?}");
    drop(stream);
}
