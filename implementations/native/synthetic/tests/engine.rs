//! The engine's runs on scenario `synthetic`: SPEC §3's vector on every engine, pools that
//! serve run after run, pacing, misuse, failures and cancellation.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use evb_engine::fuzzing::{on_every_engine, slots};
use evb_engine::pool::Pool;
use evb_engine::run::{now_ns, run_on_pool, run_sequential, Control, EngineError, PoolRun};
use evb_engine::Stream;
use evb_synthetic::{Event, Synthetic, BLOCK};

fn records(events: &[Event]) -> Vec<u8> {
    events.iter().flat_map(|e| e.encode()).collect()
}

fn stream(events: &[Event], n_keys: u32) -> Arc<Stream<Synthetic>> {
    Arc::new(Stream::new(records(events), n_keys).unwrap())
}

/// SPEC §3's test vector: four events, two keys.
fn vector() -> Vec<Event> {
    let e = |seq, arrival_ns, value, key, kind, work| Event {
        seq,
        arrival_ns,
        value,
        key,
        kind,
        flags: 0,
        work,
    };
    vec![
        e(0, 0, 1, 0, 0, 0),
        e(1, 0, 2, 1, 1, 3),
        e(2, 1000, 3, 0, 3, 0),
        e(3, 2000, u64::MAX, 1, 2, 5),
    ]
}

const VECTOR_DIGEST: u64 = 0x57a50588ef34124e;
const EMPTY_DIGEST: u64 = 0x238275bc38fcbe91;

#[test]
fn the_spec_vector_on_every_engine_and_every_run_of_a_pool() {
    on_every_engine::<Synthetic>(&records(&vector()), 2, VECTOR_DIGEST);
}

#[test]
fn an_empty_stream() {
    let stream = stream(&[], 1);
    let mut pool = Pool::start(3).unwrap();
    let run = run_on_pool(&mut pool, &stream, &[], 0, false, &Control::default());
    assert_eq!(run, Ok(EMPTY_DIGEST));
    let run = run_sequential(&stream, &[], 0, false, &Control::default());
    assert_eq!(run, Ok(EMPTY_DIGEST));
}

#[test]
fn open_loop_never_handles_early() {
    let events: Vec<Event> = (0..50)
        .map(|i| Event {
            seq: i,
            arrival_ns: i * 20_000,
            value: i,
            key: (i % 3) as u32,
            ..Default::default()
        })
        .collect();
    let stream = stream(&events, 3);
    let done = slots(50);
    let t0 = now_ns();
    let mut pool = Pool::start(2).unwrap();
    run_on_pool(&mut pool, &stream, &done, t0, true, &Control::default()).unwrap();
    for e in &events {
        assert!(done[e.seq as usize].load(Relaxed) >= t0 + e.arrival_ns);
    }
}

#[test]
fn bad_arguments_are_errors() {
    let stream = stream(&vector(), 2);
    let mut pool = Pool::start(2).unwrap();
    let short = run_on_pool(&mut pool, &stream, &slots(3), 0, false, &Control::default());
    assert!(matches!(short, Err(EngineError::Argument(_))));
    assert!(matches!(
        Pool::<Synthetic>::start(0),
        Err(EngineError::Argument(_))
    ));
    assert!(matches!(
        Pool::<Synthetic>::start_batched(2, 0),
        Err(EngineError::Argument(_))
    ));
    assert!(matches!(
        Pool::<Synthetic>::start(1025),
        Err(EngineError::Argument(_))
    ));
    // A run prepared for another pool size is refused, not mis-routed.
    let mut run = PoolRun::prepare(Arc::clone(&stream), 3);
    let refused = run.run(&mut pool, &slots(4), 0, false, &Control::default());
    assert!(matches!(refused, Err(EngineError::Argument(_))));
    let bytes = records(&vector());
    assert!(Stream::<Synthetic>::new(bytes.clone(), 1).is_err());
    assert!(Stream::<Synthetic>::new(bytes[..31].to_vec(), 2).is_err());
    // The pool is unharmed by all that.
    let digest = run_on_pool(&mut pool, &stream, &slots(4), 0, false, &Control::default());
    assert_eq!(digest, Ok(VECTOR_DIGEST));
}

#[test]
fn a_prepared_run_runs_once() {
    let stream = stream(&vector(), 2);
    let mut pool = Pool::start(2).unwrap();
    let mut run = PoolRun::prepare(Arc::clone(&stream), 2);
    assert!(matches!(run.digest(), Err(EngineError::Argument(_))));
    run.run(&mut pool, &slots(4), 0, false, &Control::default())
        .unwrap();
    let again = run.run(&mut pool, &slots(4), 0, false, &Control::default());
    assert!(matches!(again, Err(EngineError::Argument(m)) if m.contains("handled already")));
    assert_eq!(run.digest(), Ok(VECTOR_DIGEST));
}

fn block_events(n: u64, keys: u32) -> Vec<Event> {
    (0..n)
        .map(|i| Event {
            seq: i,
            key: (i % keys as u64) as u32,
            kind: BLOCK,
            work: 2_000, // 2 ms each: uncancelled, the run would take n * 2 ms / workers
            ..Default::default()
        })
        .collect()
}

/// Cancels from another thread after `after`; returns the run's result and how long it took.
fn cancelled_run(
    run: impl FnOnce(&Control) -> Result<u64, EngineError> + Send,
    after: Duration,
) -> (Result<u64, EngineError>, Duration) {
    let control = Control::default();
    std::thread::scope(|scope| {
        let canceller = control.clone();
        scope.spawn(move || {
            std::thread::sleep(after);
            canceller.cancel();
        });
        let start = std::time::Instant::now();
        let result = run(&control);
        (result, start.elapsed())
    })
}

#[test]
fn a_cancelled_run_stops_and_its_pool_serves_the_next() {
    // 4,000 events of 2 ms: 4 s on two workers; cancelled after 50 ms it must end long before.
    let stream = stream(&block_events(4_000, 8), 8);
    let done = slots(4_000);
    let mut pool = Pool::start(2).unwrap();
    let on_pool = |c: &Control| run_on_pool(&mut pool, &stream, &done, now_ns(), false, c);
    let (result, took) = cancelled_run(on_pool, Duration::from_millis(50));
    assert_eq!(result, Err(EngineError::Cancelled));
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let vector = self::stream(&vector(), 2);
    let next = run_on_pool(&mut pool, &vector, &slots(4), 0, false, &Control::default());
    assert_eq!(next, Ok(VECTOR_DIGEST), "the pool serves the next run");
    let sequential = |c: &Control| run_sequential(&stream, &done, now_ns(), false, c);
    let (result, took) = cancelled_run(sequential, Duration::from_millis(50));
    assert_eq!(result, Err(EngineError::Cancelled));
    assert!(took < Duration::from_secs(3), "took {took:?}");
    // Open loop: every worker is asleep until an arrival an hour away; cancelling wakes them.
    let far = self::stream(
        &[Event {
            arrival_ns: 3_600_000_000_000,
            ..Default::default()
        }],
        1,
    );
    let paced = |c: &Control| run_on_pool(&mut pool, &far, &done, now_ns(), true, c);
    let (result, took) = cancelled_run(paced, Duration::from_millis(50));
    assert_eq!(result, Err(EngineError::Cancelled));
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn cancelling_is_sticky() {
    let control = Control::default();
    control.cancel();
    let stream = stream(&vector(), 2);
    let done = slots(4);
    let mut pool = Pool::start(2).unwrap();
    let run = run_on_pool(&mut pool, &stream, &done, 0, false, &control);
    assert_eq!(run, Err(EngineError::Cancelled));
    let run = run_sequential(&stream, &done, 0, false, &control);
    assert_eq!(run, Err(EngineError::Cancelled));
}

#[test]
fn a_record_changed_after_validation_is_a_failure_not_undefined_behaviour() {
    // The stream borrows its records; a key changed after validation indexes past the state.
    let mut bytes = records(&vector());
    let ptr = bytes.as_mut_ptr();
    // SAFETY: `bytes` outlives the stream; it changes only through `ptr`, between runs.
    let stream = Arc::new(unsafe { Stream::<Synthetic>::from_raw(ptr, bytes.len(), 2) }.unwrap());
    unsafe { *ptr.add(32 + 24) = 200 }; // record 1's key
    for workers in [1, 2] {
        let mut pool = Pool::start(workers).unwrap();
        let run = run_on_pool(&mut pool, &stream, &slots(4), 0, false, &Control::default());
        assert!(
            matches!(&run, Err(EngineError::Handler(m)) if m.starts_with("handling event 1 failed: the handler panicked")),
            "{run:?}"
        );
    }
    let run = run_sequential(&stream, &slots(4), 0, false, &Control::default());
    assert!(matches!(run, Err(EngineError::Handler(_))), "{run:?}");
    drop(stream);
}

#[cfg(feature = "fault-injection")]
#[test]
fn an_armed_fault_fails_the_run_naming_its_event() {
    use evb_engine::fault::Fault;
    std::env::set_var(evb_engine::fault::ENV, "native:4321");
    let armed = Fault::armed("native");
    std::env::remove_var(evb_engine::fault::ENV);
    let events: Vec<Event> = (0..5_000)
        .map(|i| Event {
            seq: i,
            key: (i % 5) as u32,
            kind: 1,
            work: 10,
            ..Default::default()
        })
        .collect();
    let stream = stream(&events, 5);
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
        assert!(
            unarmed.is_ok(),
            "the pool serves the next run after a failure"
        );
    }
    match run_sequential(&stream, &done, 0, false, &control) {
        Err(EngineError::Handler(message)) => assert!(message.starts_with(expected)),
        other => panic!("expected the injected failure, got {other:?}"),
    }
}
