//! The C ABI as C sees it, through scenario `synthetic`'s exports: handles, misuse, the
//! engine borrowing the caller's records, a pool serving several prepares, cancellation,
//! sessions, file validation, the allocator's counters.

use std::ffi::CStr;
use std::sync::atomic::AtomicU64;

use evb_engine::abi::*;
use evb_engine::jitter::JitterSummary;
use evb_engine::mix;
use evb_synthetic::*;

fn last_error() -> String {
    unsafe { CStr::from_ptr(evb_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

fn new_engine(model: u32, workers: u32) -> u64 {
    let mut engine = 0u64;
    assert_eq!(
        unsafe { evb_engine_new(model, workers, &mut engine) },
        EVB_OK
    );
    engine
}

fn new_stream(records: &[u8], n_keys: u32) -> u64 {
    let mut stream = 0u64;
    let code = unsafe { evb_stream_new(records.as_ptr(), records.len(), n_keys, &mut stream) };
    assert_eq!(code, EVB_OK, "{}", last_error());
    stream
}

fn encode(events: &[Event]) -> Vec<u8> {
    events.iter().flat_map(|e| e.encode()).collect()
}

/// The SPEC's digest of a stream of `update` events only, computed here from its definition.
fn updates_digest(events: &[Event], n_keys: usize) -> u64 {
    let (mut s, mut c) = (vec![0u64; n_keys], vec![0u64; n_keys]);
    for e in events {
        let k = e.key as usize;
        s[k] = mix(s[k] ^ e.value);
        c[k] += 1;
    }
    let mut d = mix(events.len() as u64);
    for k in 0..n_keys {
        d = mix(mix(d ^ s[k]) ^ c[k]);
    }
    d
}

#[test]
fn the_library_says_what_it_handles() {
    let (mut name, mut version, mut size, mut abi) = (std::ptr::null(), 0u32, 0u32, 0u32);
    let code = unsafe { evb_scenario_info(&mut name, &mut version, &mut size, &mut abi) };
    assert_eq!(code, EVB_OK);
    assert_eq!(unsafe { CStr::from_ptr(name) }.to_str(), Ok("synthetic"));
    assert_eq!((version, size, abi), (1, 32, EVB_ABI_VERSION));
    let code =
        unsafe { evb_scenario_info(std::ptr::null_mut(), &mut version, &mut size, &mut abi) };
    assert_eq!(code, EVB_ERR_ARGUMENT);
}

#[test]
fn handles_are_checked() {
    let engine = new_engine(EVB_MODEL_POOL, 2);
    assert_eq!(evb_engine_free(engine), EVB_OK);
    assert_eq!(evb_engine_free(engine), EVB_ERR_HANDLE);
    assert!(last_error().contains("freed"));
    let stream = new_stream(&[], 1);
    assert_eq!(evb_engine_prepare(engine, stream), EVB_ERR_HANDLE);
    assert_eq!(
        unsafe { evb_engine_run(engine, std::ptr::null_mut(), 0, std::ptr::null_mut(), 0, 0) },
        EVB_ERR_HANDLE
    );
    let mut digest = 0u64;
    assert_eq!(
        unsafe { evb_engine_digest(engine, &mut digest) },
        EVB_ERR_HANDLE
    );
    let live = new_engine(EVB_MODEL_SEQUENTIAL, 0);
    assert_eq!(evb_engine_prepare(live, stream + 1000), EVB_ERR_HANDLE);
    assert!(last_error().contains("no live stream"));
    assert_eq!(evb_stream_free(stream), EVB_OK);
    assert_eq!(evb_stream_free(stream), EVB_ERR_HANDLE);
    assert_eq!(evb_engine_free(live), EVB_OK);
    let mut out = 0u64;
    assert_eq!(unsafe { evb_engine_new(7, 2, &mut out) }, EVB_ERR_ARGUMENT);
    assert_eq!(
        unsafe { evb_engine_new(EVB_MODEL_POOL, 0, &mut out) },
        EVB_ERR_ARGUMENT
    );
    let too_many = EVB_MAX_WORKERS + 1;
    assert_eq!(
        unsafe { evb_engine_new(EVB_MODEL_POOL, too_many, &mut out) },
        EVB_ERR_ARGUMENT
    );
    assert_eq!(
        unsafe { evb_engine_new(EVB_MODEL_POOL, 2, std::ptr::null_mut()) },
        EVB_ERR_ARGUMENT
    );
}

#[test]
fn invalid_streams_and_pointers_are_errors() {
    let record = Event {
        seq: 1,
        ..Default::default()
    }
    .encode();
    let mut stream = 0u64;
    let code = unsafe { evb_stream_new(record.as_ptr(), 32, 1, &mut stream) };
    assert_eq!(code, EVB_ERR_INVALID_STREAM);
    assert_eq!(
        last_error(),
        "record 0: seq is 1, must equal the record index 0"
    );
    assert_eq!(
        unsafe { evb_stream_new(std::ptr::null(), 32, 1, &mut stream) },
        EVB_ERR_ARGUMENT
    );
    assert_eq!(
        unsafe { evb_stream_new(record.as_ptr(), 32, 0, &mut stream) },
        EVB_ERR_INVALID_STREAM
    );
    assert_eq!(last_error(), "header: n_keys 0 is out of range 1..16777216");
    let engine = new_engine(EVB_MODEL_SEQUENTIAL, 0);
    let mut done = [0u64; 1];
    let mut digest = 0u64;
    // Nothing prepared yet: run and digest refuse.
    assert_eq!(
        unsafe { evb_engine_run(engine, done.as_mut_ptr(), 1, std::ptr::null_mut(), 0, 0) },
        EVB_ERR_ARGUMENT
    );
    assert!(last_error().contains("evb_engine_prepare first"));
    assert_eq!(
        unsafe { evb_engine_digest(engine, &mut digest) },
        EVB_ERR_ARGUMENT
    );
    let empty = new_stream(&[], 1);
    assert_eq!(evb_engine_prepare(engine, empty), EVB_OK);
    assert_eq!(
        unsafe { evb_engine_digest(engine, &mut digest) },
        EVB_ERR_ARGUMENT
    );
    assert!(last_error().contains("not been handled"));
    let misaligned = (done.as_mut_ptr() as *mut u8).wrapping_add(1) as *mut u64;
    assert_eq!(
        unsafe { evb_engine_run(engine, misaligned, 1, std::ptr::null_mut(), 0, 0) },
        EVB_ERR_ARGUMENT
    );
    assert_eq!(
        unsafe { evb_engine_run(engine, std::ptr::null_mut(), 1, std::ptr::null_mut(), 0, 0) },
        EVB_ERR_ARGUMENT
    );
    assert_eq!(
        unsafe { evb_engine_run(engine, done.as_mut_ptr(), 1, std::ptr::null_mut(), 0, 0) },
        EVB_OK
    );
    assert_eq!(
        unsafe { evb_engine_run(engine, done.as_mut_ptr(), 1, std::ptr::null_mut(), 0, 0) },
        EVB_ERR_ARGUMENT
    );
    assert!(last_error().contains("handled already"));
    assert_eq!(
        unsafe { evb_engine_digest(engine, std::ptr::null_mut()) },
        EVB_ERR_ARGUMENT
    );
    assert_eq!(unsafe { evb_engine_digest(engine, &mut digest) }, EVB_OK);
    assert_eq!(digest, 0x238275bc38fcbe91);
    assert_eq!(evb_engine_free(engine), EVB_OK);
    assert_eq!(evb_stream_free(empty), EVB_OK);
}

#[test]
fn one_pool_serves_prepare_after_prepare_and_the_stream_outlives_its_handle() {
    let events: Vec<Event> = (0..64u64)
        .map(|i| Event {
            seq: i,
            value: i * 7,
            key: (i % 4) as u32,
            ..Default::default()
        })
        .collect();
    let records = encode(&events);
    let expected = updates_digest(&events, 4);
    for model in [EVB_MODEL_POOL, EVB_MODEL_SEQUENTIAL] {
        let engine = new_engine(model, 2);
        let stream = new_stream(&records, 4);
        for _ in 0..3 {
            let mut done = vec![0u64; 64];
            let mut digest = 0u64;
            assert_eq!(evb_engine_prepare(engine, stream), EVB_OK);
            assert_eq!(
                unsafe {
                    evb_engine_run(engine, done.as_mut_ptr(), 64, std::ptr::null_mut(), 0, 0)
                },
                EVB_OK
            );
            assert_eq!(unsafe { evb_engine_digest(engine, &mut digest) }, EVB_OK);
            assert_eq!(digest, expected);
            assert!(done.iter().all(|&d| d > 0));
        }
        // The handle freed, the engine still has the stream prepared: a run still works.
        assert_eq!(evb_engine_prepare(engine, stream), EVB_OK);
        assert_eq!(evb_stream_free(stream), EVB_OK);
        let mut done = vec![0u64; 64];
        assert_eq!(
            unsafe { evb_engine_run(engine, done.as_mut_ptr(), 64, std::ptr::null_mut(), 0, 0) },
            EVB_OK
        );
        // Released, the engine holds no run: nothing to digest or run until the next prepare.
        assert_eq!(evb_engine_release(engine), EVB_OK);
        assert_eq!(evb_engine_release(engine), EVB_OK);
        let mut digest = 0u64;
        assert_eq!(
            unsafe { evb_engine_digest(engine, &mut digest) },
            EVB_ERR_ARGUMENT
        );
        assert!(last_error().contains("evb_engine_prepare first"));
        assert_eq!(
            unsafe { evb_engine_run(engine, done.as_mut_ptr(), 64, std::ptr::null_mut(), 0, 0) },
            EVB_ERR_ARGUMENT
        );
        assert_eq!(evb_engine_free(engine), EVB_OK);
        assert_eq!(evb_engine_release(engine), EVB_ERR_HANDLE);
    }
}

#[test]
fn the_floor_paces_and_writes_done_ns_and_has_no_digest() {
    let events: Vec<Event> = (0..20u64)
        .map(|i| Event {
            seq: i,
            arrival_ns: i * 50_000,
            kind: COMPUTE,
            work: 1000,
            ..Default::default()
        })
        .collect();
    let records = encode(&events);
    let engine = new_engine(EVB_MODEL_FLOOR, 9);
    let stream = new_stream(&records, 1);
    let mut done = vec![0u64; 20];
    let t0 = evb_engine::run::now_ns();
    assert_eq!(evb_engine_prepare(engine, stream), EVB_OK);
    assert_eq!(
        unsafe { evb_engine_run(engine, done.as_mut_ptr(), 20, std::ptr::null_mut(), t0, 1) },
        EVB_OK
    );
    let mut digest = 0u64;
    assert_eq!(
        unsafe { evb_engine_digest(engine, &mut digest) },
        EVB_ERR_ARGUMENT
    );
    assert!(last_error().contains("no digest"));
    for (e, d) in events.iter().zip(&done) {
        assert!(*d >= t0 + e.arrival_ns);
    }
    let mut summary = JitterSummary::default();
    assert_eq!(
        unsafe { evb_jitter_probe(engine, 1_000_000, &mut summary) },
        EVB_OK
    );
    assert!(summary.reads > 0 && summary.duration_ns >= 1_000_000);
    assert_eq!(
        unsafe { evb_jitter_probe(engine, 0, &mut summary) },
        EVB_ERR_ARGUMENT
    );
    assert_eq!(
        unsafe { evb_jitter_probe(engine, 1, std::ptr::null_mut()) },
        EVB_ERR_ARGUMENT
    );
    assert_eq!(evb_engine_free(engine), EVB_OK);
    assert_eq!(evb_stream_free(stream), EVB_OK);
}

#[test]
fn session_misuse_is_an_error() {
    static DONE: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
    let done = DONE.as_ptr() as *mut u64;
    let mut session = 0u64;
    assert_eq!(
        unsafe { evb_session_open(2, 2, 16, done, 4, &mut session) },
        EVB_OK
    );
    let mut digest = 0u64;
    assert_eq!(unsafe { evb_session_close(session, &mut digest) }, EVB_OK);
    assert_eq!(digest, updates_digest(&[], 2));
    assert_eq!(
        unsafe { evb_session_close(session, &mut digest) },
        EVB_ERR_ARGUMENT
    );
    let record = Event::default().encode();
    assert_eq!(
        unsafe { evb_session_submit(session, record.as_ptr(), 32) },
        EVB_ERR_ARGUMENT
    );
    assert_eq!(evb_session_free(session), EVB_OK);
    assert_eq!(evb_session_free(session), EVB_ERR_HANDLE);
    assert_eq!(
        unsafe { evb_session_submit(session, record.as_ptr(), 32) },
        EVB_ERR_HANDLE
    );
}

fn block_records(n: u64) -> Vec<u8> {
    let events: Vec<Event> = (0..n)
        .map(|i| Event {
            seq: i,
            key: (i % 4) as u32,
            kind: BLOCK,
            work: 1_000,
            ..Default::default()
        })
        .collect();
    encode(&events)
}

#[test]
fn a_run_is_cancelled_from_another_thread() {
    let engine = new_engine(EVB_MODEL_POOL, 2);
    let records = block_records(10_000); // 10 s of 1 ms waits on two workers
    let stream = new_stream(&records, 4);
    let mut done = vec![0u64; 10_000];
    assert_eq!(evb_engine_prepare(engine, stream), EVB_OK);
    let start = std::time::Instant::now();
    let code = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert_eq!(evb_engine_cancel(engine), EVB_OK);
        });
        unsafe {
            evb_engine_run(
                engine,
                done.as_mut_ptr(),
                done.len(),
                std::ptr::null_mut(),
                0,
                0,
            )
        }
    });
    assert_eq!(code, EVB_ERR_CANCELLED);
    assert_eq!(last_error(), "the run was cancelled");
    let mut digest = 0u64;
    assert_eq!(
        unsafe { evb_engine_digest(engine, &mut digest) },
        EVB_ERR_ARGUMENT
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(evb_engine_free(engine), EVB_OK);
    assert_eq!(evb_engine_cancel(engine), EVB_ERR_HANDLE);
    assert_eq!(evb_stream_free(stream), EVB_OK);
}

#[test]
fn freeing_a_busy_session_waits_before_its_buffer_goes() {
    // done_ns on the heap, dropped as soon as free returns: under valgrind, any worker
    // write after that would be an invalid write.
    let done: Box<[u64]> = vec![0u64; 4_000].into_boxed_slice();
    let done = Box::into_raw(done);
    let mut session = 0u64;
    assert_eq!(
        unsafe { evb_session_open(4, 2, 16, done as *mut u64, 4_000, &mut session) },
        EVB_OK
    );
    let records = block_records(4_000);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            // Returns an error once the session is freed under it, or OK if it got in first.
            let code = unsafe { evb_session_submit(session, records.as_ptr(), records.len()) };
            assert!(
                [EVB_OK, EVB_ERR_HANDLE, EVB_ERR_CANCELLED].contains(&code),
                "{code}"
            );
        });
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert_eq!(evb_session_free(session), EVB_OK);
        // SAFETY: made by Box::into_raw above; free has returned, so no worker holds it.
        drop(unsafe { Box::from_raw(done) });
    });
}

fn v1_header(n_keys: u32, n_events: u64) -> Vec<u8> {
    let mut header = b"EVTSTRM1".to_vec();
    header.extend(1u32.to_le_bytes());
    header.extend(n_keys.to_le_bytes());
    header.extend(n_events.to_le_bytes());
    header.extend([0u8; 8]);
    header
}

fn v2_header(n_keys: u32, n_events: u64, record_size: u32, version: u32, name: &[u8]) -> Vec<u8> {
    let mut header = b"EVTSTRM1".to_vec();
    header.extend(2u32.to_le_bytes());
    header.extend(n_keys.to_le_bytes());
    header.extend(n_events.to_le_bytes());
    header.extend(record_size.to_le_bytes());
    header.extend(version.to_le_bytes());
    let mut raw_name = name.to_vec();
    raw_name.resize(24, 0);
    header.extend(raw_name);
    header.extend([0u8; 8]);
    header
}

fn validate(file: &[u8]) -> Result<(u32, u64), String> {
    let (mut n_keys, mut n_events) = (0u32, 0u64);
    match unsafe { evb_validate_file(file.as_ptr(), file.len(), &mut n_keys, &mut n_events) } {
        EVB_OK => Ok((n_keys, n_events)),
        EVB_ERR_INVALID_STREAM => Err(last_error()),
        code => panic!("code {code}: {}", last_error()),
    }
}

#[test]
fn files_of_both_versions_are_validated() {
    assert_eq!(validate(&v1_header(3, 0)), Ok((3, 0)));
    let mut file = v1_header(2, 1);
    assert_eq!(
        validate(&file),
        Err("size: file is 32 bytes; a header of 1 events needs exactly 64".into())
    );
    file.extend(Event::default().encode());
    assert_eq!(validate(&file), Ok((2, 1)));
    file[0] = b'X';
    assert_eq!(
        validate(&file),
        Err("header: magic is b'XVTSTRM1', must be b'EVTSTRM1'".into())
    );
    assert!(validate(&file[..5])
        .unwrap_err()
        .contains("shorter than the 32-byte header"));
    let mut v3 = v1_header(3, 0);
    v3[8] = 3;
    assert_eq!(
        validate(&v3),
        Err("header: version is 3, must be 1 or 2".into())
    );
    let mut file = v2_header(2, 1, 32, 1, b"synthetic");
    file.extend(Event::default().encode());
    assert_eq!(validate(&file), Ok((2, 1)));
    let wrong = |header: Vec<u8>| validate(&header).unwrap_err();
    assert_eq!(
        wrong(v2_header(2, 0, 40, 1, b"synthetic")),
        "record_size: 40 bytes, but a record of synthetic is 32"
    );
    assert!(wrong(v2_header(2, 0, 32, 2, b"synthetic"))
        .starts_with("scenario_version: synthetic version 2"));
    assert!(wrong(v2_header(2, 0, 40, 1, b"orderbook"))
        .starts_with("scenario: the file is scenario orderbook"));
    assert!(wrong(v2_header(2, 0, 32, 1, b"Synthetic"))
        .starts_with("header: scenario name b'Synthetic"));
    assert!(wrong(v2_header(2, 0, 32, 1, b"")).starts_with("header: scenario name"));
    assert!(wrong(v2_header(0, 0, 32, 1, b"synthetic")).starts_with("header: n_keys 0"));
    let (mut a, mut d, mut b) = (0u64, 0u64, 0u64);
    assert_eq!(
        unsafe { evb_alloc_counters(&mut a, &mut d, &mut b) },
        EVB_OK
    );
    assert!(a > 0 && b > 0);
}

/// ABI 4: every model writes each event's start of handling, between its due time and its
/// completion, and the pool writes every slot; NULL records none; a misaligned one is refused.
#[test]
fn every_model_writes_starts_between_arrival_and_done() {
    let events: Vec<Event> = (0..64u64)
        .map(|i| Event {
            seq: i,
            arrival_ns: i * 20_000,
            key: (i % 5) as u32,
            kind: if i % 7 == 0 { BLOCK } else { COMPUTE },
            work: if i % 7 == 0 { 30 } else { 200 },
            ..Default::default()
        })
        .collect();
    let records = encode(&events);
    for (model, workers) in [
        (EVB_MODEL_SEQUENTIAL, 0),
        (EVB_MODEL_POOL, 1),
        (EVB_MODEL_POOL, 3),
        (EVB_MODEL_FLOOR, 0),
    ] {
        let engine = new_engine(model, workers);
        let stream = new_stream(&records, 5);
        for open_loop in [0, 1] {
            let (mut done, mut start) = (vec![0u64; 64], vec![0u64; 64]);
            assert_eq!(evb_engine_prepare(engine, stream), EVB_OK);
            let t0 = evb_engine::run::now_ns();
            let code = unsafe {
                evb_engine_run(
                    engine,
                    done.as_mut_ptr(),
                    64,
                    start.as_mut_ptr(),
                    t0,
                    open_loop,
                )
            };
            assert_eq!(code, EVB_OK, "{}", last_error());
            for (i, e) in events.iter().enumerate() {
                let due = if open_loop != 0 {
                    t0 + e.arrival_ns
                } else {
                    t0
                };
                let what = format!("model {model}, {workers} workers, open {open_loop}, event {i}");
                assert!(start[i] >= due, "{what}: start {} before {due}", start[i]);
                assert!(start[i] <= done[i], "{what}: start after done");
            }
            if model != EVB_MODEL_FLOOR && open_loop == 0 {
                // A block event waits 30 µs in its handler: its service shows it.
                assert!(
                    done[0] - start[0] >= 30_000,
                    "model {model}: {}",
                    done[0] - start[0]
                );
            }
        }
        let mut done = vec![0u64; 64];
        let mut start = vec![0u64; 65];
        let misaligned = (start.as_mut_ptr() as *mut u8).wrapping_add(1) as *mut u64;
        assert_eq!(evb_engine_prepare(engine, stream), EVB_OK);
        assert_eq!(
            unsafe { evb_engine_run(engine, done.as_mut_ptr(), 64, misaligned, 0, 0) },
            EVB_ERR_ARGUMENT
        );
        assert!(last_error().contains("start_ns is not 8-byte aligned"));
        assert_eq!(evb_engine_free(engine), EVB_OK);
        assert_eq!(evb_stream_free(stream), EVB_OK);
    }
}
