//! The library's C ABI, as eventbench's cffi wrapper calls it: what it says it handles, runs of
//! a built-in workload's stream on engines that serve several prepares, and misuse (handles,
//! invalid records and files, pointers, sessions), each an error code with its message.

use std::ffi::CStr;
use std::path::Path;

use evb_engine::abi::*;
use evb_ratelimit::*;

fn last_error() -> String {
    unsafe { CStr::from_ptr(evb_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

fn new_engine(model: u32, workers: u32) -> u64 {
    let mut engine = 0u64;
    let code = unsafe { evb_engine_new(model, workers, &mut engine) };
    assert_eq!(code, EVB_OK, "{}", last_error());
    engine
}

fn new_stream(records: &[u8], n_keys: u32) -> u64 {
    let mut stream = 0u64;
    let code = unsafe { evb_stream_new(records.as_ptr(), records.len(), n_keys, &mut stream) };
    assert_eq!(code, EVB_OK, "{}", last_error());
    stream
}

/// The smoke workload's first 300 requests (a version-2 file) and its reference digest.
fn smoke() -> (Vec<u8>, u64) {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/streams");
    let file = std::fs::read(folder.join("ratelimit-smoke-300.evts")).unwrap();
    let listed = std::fs::read_to_string(folder.join("digests.txt")).unwrap();
    let digest = listed
        .lines()
        .find_map(|l| l.strip_prefix("ratelimit-smoke-300.evts "))
        .unwrap();
    (file, u64::from_str_radix(digest, 16).unwrap())
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
fn the_library_says_it_handles_ratelimit_version_1_of_32_bytes() {
    let (mut name, mut version, mut size, mut abi) = (std::ptr::null(), 0u32, 0u32, 0u32);
    let code = unsafe { evb_scenario_info(&mut name, &mut version, &mut size, &mut abi) };
    assert_eq!(code, EVB_OK);
    assert_eq!(unsafe { CStr::from_ptr(name) }.to_str(), Ok("ratelimit"));
    assert_eq!((version, size, abi), (1, 32, EVB_ABI_VERSION));
    let code = unsafe { evb_scenario_info(&mut name, std::ptr::null_mut(), &mut size, &mut abi) };
    assert_eq!(code, EVB_ERR_ARGUMENT);
}

#[test]
fn engines_serve_prepare_after_prepare_and_give_the_references_digest() {
    let (file, expected) = smoke();
    assert_eq!(validate(&file), Ok((16, 300)));
    let records = &file[64..];
    for (model, workers) in [
        (EVB_MODEL_SEQUENTIAL, 0),
        (EVB_MODEL_POOL, 1),
        (EVB_MODEL_POOL, 4),
    ] {
        let engine = new_engine(model, workers);
        let stream = new_stream(records, 16);
        for open_loop in [0, 1, 0] {
            let (mut done, mut start) = (vec![0u64; 300], vec![0u64; 300]);
            let mut digest = 0u64;
            assert_eq!(evb_engine_prepare(engine, stream), EVB_OK);
            let t0 = evb_engine::run::now_ns();
            let code = unsafe {
                evb_engine_run(
                    engine,
                    done.as_mut_ptr(),
                    300,
                    start.as_mut_ptr(),
                    t0,
                    open_loop,
                )
            };
            assert_eq!(code, EVB_OK, "{}", last_error());
            assert_eq!(unsafe { evb_engine_digest(engine, &mut digest) }, EVB_OK);
            assert_eq!(digest, expected, "model {model}, {workers} workers");
            assert!(done.iter().all(|&d| d >= t0));
            // ABI 4: every start written, after t0, before its completion.
            assert!(start.iter().zip(&done).all(|(&s, &d)| t0 <= s && s <= d));
        }
        assert_eq!(evb_engine_free(engine), EVB_OK);
        assert_eq!(evb_stream_free(stream), EVB_OK);
    }
}

#[test]
fn misuse_is_an_error_with_its_message() {
    let engine = new_engine(EVB_MODEL_POOL, 2);
    assert_eq!(evb_engine_free(engine), EVB_OK);
    assert_eq!(evb_engine_free(engine), EVB_ERR_HANDLE);
    assert!(last_error().contains("freed"));
    let stream = new_stream(&[], 1);
    assert_eq!(evb_engine_prepare(engine, stream), EVB_ERR_HANDLE);
    let live = new_engine(EVB_MODEL_SEQUENTIAL, 0);
    assert_eq!(evb_engine_prepare(live, stream + 1000), EVB_ERR_HANDLE);
    assert!(last_error().contains("no live stream"));
    let mut done = [0u64; 1];
    assert_eq!(
        unsafe { evb_engine_run(live, done.as_mut_ptr(), 1, std::ptr::null_mut(), 0, 0) },
        EVB_ERR_ARGUMENT
    );
    assert!(last_error().contains("evb_engine_prepare first"));
    assert_eq!(evb_engine_prepare(live, stream), EVB_OK);
    assert_eq!(
        unsafe { evb_engine_run(live, std::ptr::null_mut(), 1, std::ptr::null_mut(), 0, 0) },
        EVB_ERR_ARGUMENT
    );
    assert_eq!(
        unsafe { evb_engine_digest(live, std::ptr::null_mut()) },
        EVB_ERR_ARGUMENT
    );
    assert_eq!(evb_engine_free(live), EVB_OK);
    assert_eq!(evb_stream_free(stream), EVB_OK);
    assert_eq!(evb_stream_free(stream), EVB_ERR_HANDLE);
    let mut out = 0u64;
    assert_eq!(
        unsafe { evb_engine_new(EVB_MODEL_POOL, 0, &mut out) },
        EVB_ERR_ARGUMENT
    );
}

#[test]
fn invalid_records_are_refused_with_record_pys_messages() {
    let record = |cost, endpoint, plan| {
        Request {
            cost,
            endpoint,
            plan,
            ..Default::default()
        }
        .encode()
    };
    let mut stream = 0u64;
    for (bytes, message) in [
        (record(0, 0, 0), "record 0: cost must be >= 1 token"),
        (record(1, 16, 0), "record 0: endpoint 16 must be < 16"),
        (
            record(1, 0, 4),
            "record 0: plan 4 is not one of 0 free, 1 basic, 2 pro, 3 enterprise",
        ),
    ] {
        let code = unsafe { evb_stream_new(bytes.as_ptr(), 32, 1, &mut stream) };
        assert_eq!(code, EVB_ERR_INVALID_STREAM);
        assert_eq!(last_error(), message);
    }
    let good = record(1, 0, 0);
    assert_eq!(
        unsafe { evb_stream_new(good.as_ptr(), 31, 1, &mut stream) },
        EVB_ERR_INVALID_STREAM
    );
    assert_eq!(
        last_error(),
        "size: 31 bytes is not a whole number of 32-byte records"
    );
    assert_eq!(
        unsafe { evb_stream_new(std::ptr::null(), 32, 1, &mut stream) },
        EVB_ERR_ARGUMENT
    );
}

#[test]
fn only_ratelimit_files_are_its_files() {
    let (file, _) = smoke();
    let refused = |change: &dyn Fn(&mut Vec<u8>)| {
        let mut copy = file.clone();
        change(&mut copy);
        validate(&copy).unwrap_err()
    };
    assert_eq!(
        refused(&|f| f[32..41].copy_from_slice(b"synthetic")),
        "scenario: the file is scenario synthetic; this library handles ratelimit"
    );
    assert!(refused(&|f| f[28] = 2).starts_with("scenario_version: ratelimit version 2"));
    assert_eq!(
        refused(&|f| f[64 + 5 * 32 + 30] = 7),
        "record 5: plan 7 is not one of 0 free, 1 basic, 2 pro, 3 enterprise"
    );
    let version_1 = refused(&|f| {
        f[8] = 1;
        f.truncate(32);
        f[16..32].fill(0);
    });
    assert_eq!(
        version_1,
        "scenario: a version-1 file is scenario synthetic; this library handles ratelimit"
    );
}

#[test]
fn a_session_is_fed_and_closed_once() {
    let (file, expected) = smoke();
    let done: &'static mut [u64] = Box::leak(vec![0u64; 300].into_boxed_slice());
    let mut session = 0u64;
    let code = unsafe { evb_session_open(16, 2, 8, done.as_mut_ptr(), 300, &mut session) };
    assert_eq!(code, EVB_OK);
    for piece in file[64..].chunks(32 * 7) {
        let code = unsafe { evb_session_submit(session, piece.as_ptr(), piece.len()) };
        assert_eq!(code, EVB_OK, "{}", last_error());
    }
    let extra = Request::default().encode();
    assert_eq!(
        unsafe { evb_session_submit(session, extra.as_ptr(), 32) },
        EVB_ERR_INVALID_STREAM,
        "record 300 must have seq 300"
    );
    let mut digest = 0u64;
    assert_eq!(unsafe { evb_session_close(session, &mut digest) }, EVB_OK);
    assert_eq!(digest, expected);
    assert_eq!(
        unsafe { evb_session_close(session, &mut digest) },
        EVB_ERR_ARGUMENT
    );
    assert_eq!(evb_session_free(session), EVB_OK);
    assert_eq!(evb_session_free(session), EVB_ERR_HANDLE);
    // SAFETY: made by Box::leak above; the session and its workers are gone.
    drop(unsafe { Box::from_raw(done as *mut [u64]) });
}
