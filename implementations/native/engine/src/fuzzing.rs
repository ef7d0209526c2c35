//! What every scenario's fuzz target checks of one input, kept here so that the corpus
//! replay tests (`cargo test` in each scenario crate) run the very same checks, under
//! valgrind too; and `on_every_engine`, every scenario crate's test of its contract's vectors.
//!
//! The input is an event file image. The engine's validator must accept or refuse it
//! without panicking; an image it accepts must be handled alike by every engine: the
//! calling thread, pools of several sizes (one pool serving two runs), and the streaming
//! session fed in pieces.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crate::file::parse_header;
use crate::partition::MAX_BALANCED_KEYS;
use crate::pool::Pool;
use crate::run::{now_ns, run_on_pool, run_sequential, Control};
use crate::scenario::Scenario;
use crate::session::Session;
use crate::stream::{validate, Stream};

/// Validates `data`; handles it every way unless `too_slow` says handling would take long
/// (the fuzzer's time goes to finding bugs, not to waiting). Panics on any disagreement.
pub fn check_input<S: Scenario>(data: &[u8], too_slow: impl Fn(&[S::Event]) -> bool) {
    let Some((n_keys, records)) = handled::<S>(data, &too_slow) else {
        return;
    };
    let n_events = records.len() / S::RECORD_SIZE;
    let stream = Arc::new(Stream::<S>::new(records.to_vec(), n_keys).expect("validated above"));
    let done = slots(n_events);
    let control = Control::default();
    let expected = run_sequential(&stream, &done, 0, false, &control).expect("a valid stream runs");
    for workers in [1, 2, 5] {
        let mut pool = Pool::<S>::start(workers).expect("valid arguments");
        for trial in 0..2 {
            let digest = run_on_pool(&mut pool, &stream, &done, 0, false, &control);
            assert_eq!(
                digest,
                Ok(expected),
                "pool of {workers} workers, run {trial}"
            );
        }
    }
    assert_eq!(
        streamed::<S>(records, n_keys, 2, 4),
        expected,
        "streaming session"
    );
}

/// `(n_keys, records)` of an input that [`check_input`] handles: its header and records are
/// valid, and `too_slow` does not hold of its events. `None` for one it only validates.
fn handled<S: Scenario>(
    data: &[u8],
    too_slow: impl Fn(&[S::Event]) -> bool,
) -> Option<(u32, &[u8])> {
    let (n_keys, _, header_size) = parse_header::<S>(data).ok()?;
    let records = &data[header_size..];
    validate::<S>(records, n_keys, 0, None).ok()?;
    let events: Vec<S::Event> = records
        .chunks_exact(S::RECORD_SIZE)
        .map(S::decode)
        .collect();
    (!too_slow(&events)).then_some((n_keys, records))
}

/// `records` on every engine, in closed and open loop: the calling thread, pools of 1 to 5
/// workers serving three runs each, and streaming sessions of several sizes and batches, every
/// one giving `expected` and writing every `done_ns` at or after its start. Panics otherwise.
pub fn on_every_engine<S: Scenario>(records: &[u8], n_keys: u32, expected: u64) {
    let n = records.len() / S::RECORD_SIZE;
    let stream = Arc::new(Stream::<S>::new(records.to_vec(), n_keys).expect("a valid stream"));
    let control = Control::default();
    for open_loop in [false, true] {
        let done = slots(n);
        let t0 = now_ns();
        let sequential = run_sequential(&stream, &done, t0, open_loop, &control);
        assert_eq!(
            sequential,
            Ok(expected),
            "sequential, open loop {open_loop}"
        );
        assert!(done.iter().all(|d| d.load(Relaxed) >= t0));
        for workers in 1..=5 {
            let mut pool = Pool::<S>::start(workers).expect("valid arguments");
            for run in 0..3 {
                let done = slots(n);
                let t0 = now_ns();
                let digest = run_on_pool(&mut pool, &stream, &done, t0, open_loop, &control);
                let what = format!("{workers} workers, run {run}, open loop {open_loop}");
                assert_eq!(digest, Ok(expected), "{what}");
                assert!(done.iter().all(|d| d.load(Relaxed) >= t0), "{what}");
            }
        }
    }
    for (workers, batch) in [(1, 1), (2, 3), (3, 64), (5, 2)] {
        assert_eq!(
            streamed::<S>(records, n_keys, workers, batch),
            expected,
            "session of {workers} workers, batches of {batch}"
        );
    }
}

pub fn slots(n: usize) -> Vec<AtomicU64> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

/// The digest of a streaming session of `workers` (batches of `batch` events) fed the records
/// in three uneven pieces.
pub fn streamed<S: Scenario>(records: &[u8], n_keys: u32, workers: usize, batch: usize) -> u64 {
    let n = records.len() / S::RECORD_SIZE;
    // The session's workers write into `done` until it is dropped, so it must outlive
    // the session: leaked here and reclaimed after the session is gone.
    let done: &'static [AtomicU64] = Box::leak(slots(n).into_boxed_slice());
    let digest = {
        let mut session = Session::<S>::open(n_keys, workers, batch, done, Control::default())
            .expect("valid arguments");
        let cut = |f: usize| (n * f / 3) * S::RECORD_SIZE;
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

/// Set (to anything) by `nox -s memcheck`: the corpus replay runs under valgrind, where
/// [`replay_corpus`] replays one input of many keys, not all of them.
pub const UNDER_VALGRIND: &str = "EVB_UNDER_VALGRIND";

/// Replays fuzz target `target`'s seeds and kept corpus (`fuzz/seeds/<target>/`,
/// `fuzz/corpus/<target>/`) through [`check_input`]: each scenario crate's corpus test.
///
/// Under valgrind ([`UNDER_VALGRIND`] set), of the handled inputs with more keys than a pool
/// deals by weight (`MAX_BALANCED_KEYS`: these take `Partition::modulo`), only the one with
/// the fewest keys is replayed (the first by name on ties), every other input is. Such an input
/// costs in proportion to its keys, not its events: every run zeroes and digests every key's
/// state, 8 runs an input. The fuzzer keeps finding near-copies of a seed with only `n_keys`
/// raised (11,600,384 keys: about 170 s each under valgrind); one of them runs the same code.
pub fn replay_corpus<S: Scenario>(
    fuzz: &std::path::Path,
    target: &str,
    too_slow: impl Fn(&[S::Event]) -> bool,
) {
    let mut inputs = Vec::new();
    for folder in [
        fuzz.join("seeds").join(target),
        fuzz.join("corpus").join(target),
    ] {
        let entries =
            std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
        let found: Vec<_> = entries.map(|entry| entry.unwrap().path()).collect();
        assert!(found.len() >= 10, "{} lost its inputs", folder.display());
        inputs.extend(found);
    }
    inputs.sort();
    let mut inputs: Vec<_> = inputs
        .into_iter()
        .map(|path| {
            let data = std::fs::read(&path).unwrap();
            (path, data)
        })
        .collect();
    if std::env::var_os(UNDER_VALGRIND).is_some() {
        let many_keys = |data: &[u8]| {
            handled::<S>(data, &too_slow)
                .map(|(n_keys, _)| n_keys)
                .filter(|&n_keys| n_keys as usize > MAX_BALANCED_KEYS)
        };
        let kept = inputs
            .iter()
            .filter_map(|(path, data)| Some((many_keys(data)?, path.clone())))
            .min();
        let before = inputs.len();
        inputs.retain(|(path, data)| {
            many_keys(data).is_none() || kept.as_ref().is_some_and(|(_, k)| k == path)
        });
        if let Some((n_keys, path)) = kept {
            eprintln!(
                "{UNDER_VALGRIND}: of the inputs of more than {MAX_BALANCED_KEYS} keys, {} ({n_keys} keys) \
                 is replayed, {} others are not",
                path.display(),
                before - inputs.len()
            );
        }
    }
    for (_, data) in &inputs {
        check_input::<S>(data, &too_slow);
    }
}
