//! The C ABI as C sees it, through scenario `orderbook`'s exports: what the library says it
//! handles, handles and misuse, validation with the Python harness's messages, files of the
//! wrong version or scenario refused, a pool serving several prepares, cancellation, sessions.

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use evb_engine::abi::*;
use evb_orderbook::*;

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

fn seeds() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/orderbook")
}

fn seed(name: &str) -> Vec<u8> {
    let path = seeds().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The contract's eight-event file (§3; its SHA-256 is 4fbc8fe7...1928), records only.
fn vector_records() -> Vec<u8> {
    seed("vector.evts")[64..].to_vec()
}

const VECTOR_DIGEST: u64 = 0x5a57408dd2666bdc;
const EMPTY_DIGEST: u64 = 0x00fbfde4bfe8fd68;

fn validate(file: &[u8]) -> Result<(u32, u64), String> {
    let (mut n_keys, mut n_events) = (0u32, 0u64);
    match unsafe { evb_validate_file(file.as_ptr(), file.len(), &mut n_keys, &mut n_events) } {
        EVB_OK => Ok((n_keys, n_events)),
        EVB_ERR_INVALID_STREAM => Err(last_error()),
        code => panic!("code {code}: {}", last_error()),
    }
}

#[test]
fn the_library_says_what_it_handles() {
    let (mut name, mut version, mut size, mut abi) = (std::ptr::null(), 0u32, 0u32, 0u32);
    let code = unsafe { evb_scenario_info(&mut name, &mut version, &mut size, &mut abi) };
    assert_eq!(code, EVB_OK);
    assert_eq!(unsafe { CStr::from_ptr(name) }.to_str(), Ok("orderbook"));
    assert_eq!((version, size, abi), (1, 40, EVB_ABI_VERSION));
    let code =
        unsafe { evb_scenario_info(std::ptr::null_mut(), &mut version, &mut size, &mut abi) };
    assert_eq!(code, EVB_ERR_ARGUMENT);
    assert_eq!(last_error(), "out_name is NULL");
}

/// Every seed breaking a rule, with the message the Python harness gives for it
/// (`scenarios.read_evts`: `where: rule`), which the library must give byte for byte.
#[rustfmt::skip] // one rule a line
const PYTHON_MESSAGES: &[(&str, &str)] = &[
    ("bad-arrival.evts", "record 2: arrival_ns 5 is before the previous record's 10 (arrival_ns must be non-decreasing)"),
    ("bad-cancel-account.evts", "record 2: a cancel's account must be 0, got 9"),
    ("bad-cancel-price.evts", "record 2: a cancel's price must be 0, got 5"),
    ("bad-cancel-qty.evts", "record 2: a cancel's qty must be 0, got 4"),
    ("bad-cancel-side.evts", "record 2: a cancel's side must be 0, got 1"),
    ("bad-cancel-target.evts", "record 2: a cancel's target 2 must be < its seq 2"),
    ("bad-first-cancel.evts", "record 0: a cancel's target 0 must be < its seq 0"),
    ("bad-header-cut.evts", "header: file is 40 bytes, shorter than the 64-byte version-2 header"),
    ("bad-key.evts", "record 2: key 3 must be < n_keys 2"),
    ("bad-keys0.evts", "header: n_keys 0 is out of range 1..16777216"),
    ("bad-kind.evts", "record 2: kind 3 is not one of 0 limit, 1 market, 2 cancel"),
    ("bad-limit-price.evts", "record 2: a limit order's price must be >= 1"),
    ("bad-limit-qty.evts", "record 2: a limit order's qty must be >= 1"),
    ("bad-limit-target.evts", "record 2: a limit order's target must be 0, got 1"),
    ("bad-magic.evts", "header: magic is b'EVTSTRM2', must be b'EVTSTRM1'"),
    ("bad-market-price.evts", "record 2: a market order's price must be 0, got 7"),
    ("bad-market-qty.evts", "record 2: a market order's qty must be >= 1"),
    ("bad-market-target.evts", "record 2: a market order's target must be 0, got 1"),
    ("bad-name.evts", "header: scenario name b'Orderbook\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00' must be 1-24 of a-z, 0-9 and '-', then NUL bytes only"),
    ("bad-record-size.evts", "record_size: 32 bytes, but a record of orderbook is 40"),
    ("bad-reserved.evts", "header: reserved field is 1, must be 0"),
    ("bad-scenario-version.evts", "scenario_version: orderbook version 2 is not the one this eventbench knows (1)"),
    ("bad-seq.evts", "record 2: seq is 5, must equal the record index 2"),
    ("bad-side.evts", "record 2: side 2 is not one of 0 buy, 1 sell"),
    ("bad-size.evts", "size: file is 134 bytes; a header of 2 events needs exactly 144"),
    ("bad-two-rules.evts", "record 2: a cancel's side must be 0, got 1"),
];

#[test]
fn every_broken_rule_is_refused_with_the_python_harness_message() {
    let bad: Vec<_> = std::fs::read_dir(seeds())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("bad-"))
        .collect();
    assert_eq!(
        bad.len(),
        PYTHON_MESSAGES.len(),
        "a message for every bad seed"
    );
    for (name, message) in PYTHON_MESSAGES {
        assert_eq!(validate(&seed(name)), Err(message.to_string()), "{name}");
    }
    // The same rules through evb_stream_new, on the records alone.
    let file = seed("bad-market-target.evts");
    let mut stream = 0u64;
    let code = unsafe { evb_stream_new(file[64..].as_ptr(), file.len() - 64, 2, &mut stream) };
    assert_eq!(code, EVB_ERR_INVALID_STREAM);
    assert_eq!(
        last_error(),
        "record 2: a market order's target must be 0, got 1"
    );
}

#[test]
fn the_contract_file_validates_and_other_scenarios_files_are_refused() {
    assert_eq!(validate(&seed("vector.evts")), Ok((2, 8)));
    assert_eq!(validate(&seed("empty.evts")), Ok((1, 0)));
    assert_eq!(validate(&seed("book-smoke-100.evts")), Ok((4, 100)));
    assert_eq!(
        validate(&seed("v1-synthetic.evts")),
        Err(
            "scenario: a version-1 file is scenario synthetic; this library handles orderbook"
                .into()
        )
    );
    assert_eq!(
        validate(&seed("other-scenario.evts")),
        Err("scenario: the file is scenario synthetic; this library handles orderbook".into())
    );
    let mut file = seed("vector.evts");
    file.pop();
    assert_eq!(
        validate(&file),
        Err("size: file is 383 bytes; a header of 8 events needs exactly 384".into())
    );
    let (mut n_keys, mut n_events) = (0u32, 0u64);
    let file = seed("vector.evts");
    let code = unsafe {
        evb_validate_file(
            file.as_ptr(),
            file.len(),
            std::ptr::null_mut(),
            &mut n_events,
        )
    };
    assert_eq!(code, EVB_ERR_ARGUMENT);
    let code = unsafe { evb_validate_file(std::ptr::null(), 64, &mut n_keys, &mut n_events) };
    assert_eq!(code, EVB_ERR_ARGUMENT);
}

#[test]
fn handles_are_checked() {
    let engine = new_engine(EVB_MODEL_POOL, 2);
    assert_eq!(evb_engine_free(engine), EVB_OK);
    assert_eq!(evb_engine_free(engine), EVB_ERR_HANDLE);
    assert!(last_error().contains("freed"));
    let stream = new_stream(&vector_records(), 2);
    assert_eq!(evb_engine_prepare(engine, stream), EVB_ERR_HANDLE);
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
    assert_eq!(
        unsafe { evb_engine_new(EVB_MODEL_POOL, 2, std::ptr::null_mut()) },
        EVB_ERR_ARGUMENT
    );
}

#[test]
fn runs_refuse_misuse_and_a_pool_serves_prepare_after_prepare() {
    let records = vector_records();
    for model in [EVB_MODEL_POOL, EVB_MODEL_SEQUENTIAL] {
        let engine = new_engine(model, 2);
        let mut done = vec![0u64; 8];
        let mut digest = 0u64;
        assert_eq!(
            unsafe { evb_engine_run(engine, done.as_mut_ptr(), 8, std::ptr::null_mut(), 0, 0) },
            EVB_ERR_ARGUMENT
        );
        assert!(last_error().contains("evb_engine_prepare first"));
        let stream = new_stream(&records, 2);
        for _ in 0..3 {
            assert_eq!(evb_engine_prepare(engine, stream), EVB_OK);
            assert_eq!(
                unsafe { evb_engine_digest(engine, &mut digest) },
                EVB_ERR_ARGUMENT
            );
            assert!(last_error().contains("not been handled"));
            assert_eq!(
                unsafe { evb_engine_run(engine, done.as_mut_ptr(), 7, std::ptr::null_mut(), 0, 0) },
                EVB_ERR_ARGUMENT,
                "done_ns too short"
            );
            assert_eq!(
                unsafe { evb_engine_run(engine, done.as_mut_ptr(), 8, std::ptr::null_mut(), 0, 0) },
                EVB_OK
            );
            assert_eq!(
                unsafe { evb_engine_run(engine, done.as_mut_ptr(), 8, std::ptr::null_mut(), 0, 0) },
                EVB_ERR_ARGUMENT
            );
            assert!(last_error().contains("handled already"));
            assert_eq!(unsafe { evb_engine_digest(engine, &mut digest) }, EVB_OK);
            assert_eq!(digest, VECTOR_DIGEST);
            assert!(done.iter().all(|&d| d > 0));
        }
        // The handle freed, the prepared run keeps its records: it still runs.
        assert_eq!(evb_engine_prepare(engine, stream), EVB_OK);
        assert_eq!(evb_stream_free(stream), EVB_OK);
        assert_eq!(
            unsafe { evb_engine_run(engine, done.as_mut_ptr(), 8, std::ptr::null_mut(), 0, 0) },
            EVB_OK
        );
        assert_eq!(unsafe { evb_engine_digest(engine, &mut digest) }, EVB_OK);
        assert_eq!(digest, VECTOR_DIGEST);
        assert_eq!(evb_engine_free(engine), EVB_OK);
    }
    let engine = new_engine(EVB_MODEL_FLOOR, 2);
    let stream = new_stream(&records, 2);
    let mut done = vec![0u64; 8];
    assert_eq!(evb_engine_prepare(engine, stream), EVB_OK);
    assert_eq!(
        unsafe { evb_engine_run(engine, done.as_mut_ptr(), 8, std::ptr::null_mut(), 0, 0) },
        EVB_OK
    );
    let mut digest = 0u64;
    assert_eq!(
        unsafe { evb_engine_digest(engine, &mut digest) },
        EVB_ERR_ARGUMENT
    );
    assert!(last_error().contains("no digest"));
    assert_eq!(evb_engine_free(engine), EVB_OK);
    assert_eq!(evb_stream_free(stream), EVB_OK);
}

#[test]
fn a_paced_run_is_cancelled_from_another_thread() {
    // One limit order due in an hour, open loop: cancelling wakes the pacing wait.
    let late = Event {
        kind: LIMIT,
        price: 1,
        qty: 1,
        ..Default::default()
    }
    .encode(3_600_000_000_000);
    for model in [EVB_MODEL_POOL, EVB_MODEL_SEQUENTIAL] {
        let engine = new_engine(model, 2);
        let stream = new_stream(&late, 1);
        let mut done = [0u64; 1];
        assert_eq!(evb_engine_prepare(engine, stream), EVB_OK);
        let start = std::time::Instant::now();
        let t0 = evb_engine::run::now_ns();
        let code = std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                assert_eq!(evb_engine_cancel(engine), EVB_OK);
            });
            unsafe { evb_engine_run(engine, done.as_mut_ptr(), 1, std::ptr::null_mut(), t0, 1) }
        });
        assert_eq!(code, EVB_ERR_CANCELLED);
        assert_eq!(last_error(), "the run was cancelled");
        assert!(start.elapsed() < std::time::Duration::from_secs(30));
        assert_eq!(evb_engine_free(engine), EVB_OK);
        assert_eq!(evb_engine_cancel(engine), EVB_ERR_HANDLE);
        assert_eq!(evb_stream_free(stream), EVB_OK);
    }
}

#[test]
fn sessions_handle_the_vector_and_refuse_misuse() {
    static DONE: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
    let done = DONE.as_ptr() as *mut u64;
    let records = vector_records();
    let mut session = 0u64;
    assert_eq!(
        unsafe { evb_session_open(2, 2, 2, done, 8, &mut session) },
        EVB_OK
    );
    assert_eq!(
        unsafe { evb_session_submit(session, records.as_ptr(), 3 * RECORD_SIZE) },
        EVB_OK
    );
    // A batch that does not continue the stream is refused, naming its record.
    assert_eq!(
        unsafe { evb_session_submit(session, records.as_ptr(), RECORD_SIZE) },
        EVB_ERR_INVALID_STREAM
    );
    assert_eq!(
        last_error(),
        "record 3: seq is 0, must equal the record index 3"
    );
    let rest = &records[3 * RECORD_SIZE..];
    assert_eq!(
        unsafe { evb_session_submit(session, rest.as_ptr(), rest.len()) },
        EVB_OK
    );
    let mut digest = 0u64;
    assert_eq!(
        unsafe { evb_session_close(session, std::ptr::null_mut()) },
        EVB_ERR_ARGUMENT
    );
    assert_eq!(unsafe { evb_session_close(session, &mut digest) }, EVB_OK);
    assert_eq!(digest, VECTOR_DIGEST);
    assert_eq!(
        unsafe { evb_session_close(session, &mut digest) },
        EVB_ERR_ARGUMENT
    );
    assert_eq!(
        unsafe { evb_session_submit(session, records.as_ptr(), RECORD_SIZE) },
        EVB_ERR_ARGUMENT
    );
    assert_eq!(evb_session_free(session), EVB_OK);
    assert_eq!(evb_session_free(session), EVB_ERR_HANDLE);
    // An empty session's digest is the empty stream's.
    assert_eq!(
        unsafe { evb_session_open(1, 3, 16, done, 8, &mut session) },
        EVB_OK
    );
    assert_eq!(unsafe { evb_session_close(session, &mut digest) }, EVB_OK);
    assert_eq!(digest, EMPTY_DIGEST);
    assert_eq!(evb_session_free(session), EVB_OK);
}

#[test]
fn the_allocation_counters_count() {
    let (mut a, mut d, mut b) = (0u64, 0u64, 0u64);
    let _held = vec![0u8; 1000];
    assert_eq!(
        unsafe { evb_alloc_counters(&mut a, &mut d, &mut b) },
        EVB_OK
    );
    assert!(a > 0 && b >= 1000);
    assert_eq!(
        unsafe { evb_alloc_counters(std::ptr::null_mut(), &mut d, &mut b) },
        EVB_ERR_ARGUMENT
    );
}
