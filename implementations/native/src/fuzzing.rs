//! What the fuzz target (`fuzz/fuzz_targets/evts.rs`) checks of one input, kept here so
//! that the corpus replay test (`tests/fuzz_corpus.rs`) runs the very same checks under
//! `cargo test` and valgrind.
//!
//! The input is a `.evts` image. The engine's own validator must accept or refuse it
//! without panicking; an image it accepts must be handled alike by every engine: the
//! calling thread, the pool at several sizes, and the streaming session fed in pieces.

use std::sync::atomic::AtomicU64;

use crate::engine::{run_pool, run_sequential, Control, Stream};
use crate::session::Session;
use crate::spec::{
    parse_header, validate_records, Event, BLOCK, COMPUTE, HEADER_SIZE, RECORD_SIZE,
};

/// Inputs that would take long to handle (many `block` microseconds, many `compute`
/// rounds) are only validated: the fuzzer's time goes to finding bugs, not to waiting, and
/// the corpus replay stays short under valgrind (each input is handled five times there).
const MAX_BLOCK_US: u64 = 200;
const MAX_COMPUTE_ROUNDS: u64 = 20_000;

/// Validates `data`; handles it every way if valid and cheap. Panics on any disagreement.
pub fn check_input(data: &[u8]) {
    let Ok((n_keys, _)) = parse_header(data) else {
        return;
    };
    let records = &data[HEADER_SIZE..];
    if validate_records(records, n_keys, 0, None).is_err() {
        return;
    }
    let events: Vec<Event> = records
        .chunks_exact(RECORD_SIZE)
        .map(Event::decode)
        .collect();
    let block_us: u64 = events
        .iter()
        .filter(|e| e.kind == BLOCK)
        .map(|e| e.work as u64)
        .sum();
    let rounds: u64 = events
        .iter()
        .filter(|e| e.kind == COMPUTE)
        .map(|e| e.work as u64)
        .sum();
    if block_us > MAX_BLOCK_US || rounds > MAX_COMPUTE_ROUNDS {
        return;
    }
    let stream = Stream::new(records, n_keys).expect("validated above");
    let done = slots(events.len());
    let control = Control::default();
    let expected = run_sequential(&stream, &done, 0, false, &control).expect("a valid stream runs");
    for (workers, batch) in [(1, 1), (2, 3), (5, 1024)] {
        let digest = run_pool(&stream, &done, 0, false, workers, batch, &control);
        assert_eq!(
            digest,
            Ok(expected),
            "pool of {workers} workers, batches of {batch}"
        );
    }
    assert_eq!(streamed(records, n_keys), expected, "streaming session");
}

fn slots(n: usize) -> Vec<AtomicU64> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

/// The digest of a streaming session fed the records in three uneven pieces.
fn streamed(records: &[u8], n_keys: u32) -> u64 {
    let n = records.len() / RECORD_SIZE;
    // The session's workers write into `done` until it is dropped, so it must outlive
    // the session: leaked here and reclaimed after the session is gone.
    let done: &'static [AtomicU64] = Box::leak(slots(n).into_boxed_slice());
    let digest = {
        let mut session =
            Session::open(n_keys, 2, 4, done, Control::default()).expect("valid arguments");
        let cut = |f: usize| (n * f / 3) * RECORD_SIZE;
        for piece in [
            &records[..cut(1)],
            &records[cut(1)..cut(2)],
            &records[cut(2)..],
        ] {
            session
                .submit(piece)
                .expect("pieces of a valid stream are valid");
        }
        session.close().expect("a valid stream closes")
    };
    // SAFETY: made by Box::leak above; the session, and every worker, is gone.
    drop(unsafe { Box::from_raw(done as *const [AtomicU64] as *mut [AtomicU64]) });
    digest
}
