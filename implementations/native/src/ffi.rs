//! The C ABI (`include/eventbench.h`): thin shims over the safe engine.
//!
//! Conventions, after getsentry/symbolic's cabi: every export returns a stable
//! numeric code (`EVB_OK` or an `EVB_ERR_*`), with the message of the last
//! failure on this thread from `evb_last_error_message`; nothing unwinds across
//! `extern "C"` (every export runs inside `catch_unwind`). Engines and sessions
//! are opaque integer handles looked up in a registry, so a stale, unknown or
//! twice-freed handle is an error (`EVB_ERR_HANDLE`), never undefined behaviour.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};

use crate::engine::{Control, DoneSlots, EngineError, FloorRun, PoolRun, SequentialRun, Stream};
use crate::fault::Fault;
use crate::session::Session;

pub const EVB_OK: i32 = 0;
pub const EVB_ERR_ARGUMENT: i32 = 1;
pub const EVB_ERR_INVALID_STREAM: i32 = 2;
pub const EVB_ERR_HANDLE: i32 = 3;
pub const EVB_ERR_HANDLER: i32 = 4;
pub const EVB_ERR_PANIC: i32 = 5;
pub const EVB_ERR_RESOURCE: i32 = 6;
pub const EVB_ERR_CANCELLED: i32 = 7;

pub const EVB_MODEL_SEQUENTIAL: u32 = 0;
pub const EVB_MODEL_POOL: u32 = 1;
pub const EVB_MODEL_FLOOR: u32 = 2;

struct Failure(i32, String);

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Failure {
        let code = match e {
            EngineError::Invalid(_) => EVB_ERR_INVALID_STREAM,
            EngineError::Argument(_) => EVB_ERR_ARGUMENT,
            EngineError::Handler(_) => EVB_ERR_HANDLER,
            EngineError::Resource(_) => EVB_ERR_RESOURCE,
            EngineError::Cancelled => EVB_ERR_CANCELLED,
        };
        Failure(code, e.to_string())
    }
}

fn argument(message: impl Into<String>) -> Failure {
    Failure(EVB_ERR_ARGUMENT, message.into())
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|cell| *cell.borrow_mut() = text);
}

/// Runs one export's body: catches panics, records the message, returns the code.
fn guarded(body: impl FnOnce() -> Result<(), Failure>) -> i32 {
    quiet_panics();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => EVB_OK,
        Ok(Err(Failure(code, message))) => {
            set_last_error(&message);
            code
        }
        Err(panic) => {
            set_last_error(&format!(
                "internal error (panic): {}",
                crate::engine::panic_message(&panic)
            ));
            EVB_ERR_PANIC
        }
    }
}

/// Every panic is caught and its message returned to the caller, so the default hook's
/// report on stderr (with a backtrace under RUST_BACKTRACE) would only say it twice.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

// ---------------------------------------------------------------- handles

struct Registry<T> {
    next: u64,
    live: HashMap<u64, Arc<T>>,
}

fn registry<T>(
    cell: &'static OnceLock<Mutex<Registry<T>>>,
) -> std::sync::MutexGuard<'static, Registry<T>> {
    cell.get_or_init(|| {
        Mutex::new(Registry {
            next: 1,
            live: HashMap::new(),
        })
    })
    .lock()
    .unwrap_or_else(|p| p.into_inner())
}

fn insert<T>(cell: &'static OnceLock<Mutex<Registry<T>>>, value: T) -> u64 {
    let mut reg = registry(cell);
    let handle = reg.next;
    reg.next += 1;
    reg.live.insert(handle, Arc::new(value));
    handle
}

fn lookup<T>(
    cell: &'static OnceLock<Mutex<Registry<T>>>,
    handle: u64,
    what: &str,
) -> Result<Arc<T>, Failure> {
    registry(cell).live.get(&handle).cloned().ok_or_else(|| {
        Failure(
            EVB_ERR_HANDLE,
            format!("no live {what} with handle {handle} (never made, or freed)"),
        )
    })
}

fn remove<T>(
    cell: &'static OnceLock<Mutex<Registry<T>>>,
    handle: u64,
    what: &str,
) -> Result<Arc<T>, Failure> {
    registry(cell).live.remove(&handle).ok_or_else(|| {
        Failure(
            EVB_ERR_HANDLE,
            format!("no live {what} with handle {handle} (never made, or freed already)"),
        )
    })
}

struct Engine {
    model: u32,
    workers: usize,
    batch_events: usize,
    control: Control,
    /// The stream `evb_engine_prepare` made ready; locked by a run (`cancel` needs no lock).
    prepared: Mutex<Option<Prepared>>,
}

enum Prepared {
    Sequential(SequentialRun),
    Pool(PoolRun),
    Floor(FloorRun),
}

impl Prepared {
    fn run(
        &mut self,
        done: DoneSlots<'_>,
        t0_ns: u64,
        open_loop: bool,
        control: &Control,
    ) -> Result<(), EngineError> {
        match self {
            Prepared::Sequential(run) => run.run(done, t0_ns, open_loop, control),
            Prepared::Pool(run) => run.run(done, t0_ns, open_loop, control),
            Prepared::Floor(run) => run.run(done, t0_ns, open_loop, control),
        }
    }

    fn digest(&self) -> Result<u64, EngineError> {
        match self {
            Prepared::Sequential(run) => run.digest(),
            Prepared::Pool(run) => run.digest(),
            Prepared::Floor(_) => Err(EngineError::Argument(
                "a floor handles nothing: it has no digest".into(),
            )),
        }
    }
}

impl Engine {
    fn prepared(&self) -> std::sync::MutexGuard<'_, Option<Prepared>> {
        self.prepared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn nothing_prepared() -> Failure {
    argument("nothing is prepared on this engine: call evb_engine_prepare first")
}

static ENGINES: OnceLock<Mutex<Registry<Engine>>> = OnceLock::new();
/// A session, with its cancel flag outside the lock: `free` stops an in-flight `submit`.
struct SessionEntry {
    control: Control,
    session: Mutex<Session>,
}

impl SessionEntry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }
}

static SESSIONS: OnceLock<Mutex<Registry<SessionEntry>>> = OnceLock::new();

// ---------------------------------------------------------------- buffers

/// A caller's byte buffer; NULL is allowed only for length 0.
///
/// # Safety
/// `ptr` must point to `len` readable bytes that stay unchanged for the call.
unsafe fn bytes_arg<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(argument(format!("{name} is NULL with length {len}")));
    }
    Ok(std::slice::from_raw_parts(ptr, len))
}

/// The caller's `done_ns` as atomics (workers write distinct slots concurrently).
///
/// # Safety
/// `ptr` must point to `len` writable `uint64_t` that outlive every use of the slice.
unsafe fn done_arg<'a>(ptr: *mut u64, len: usize) -> Result<&'a [AtomicU64], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(argument(format!("done_ns is NULL with length {len}")));
    }
    if (ptr as usize) % std::mem::align_of::<AtomicU64>() != 0 {
        return Err(argument("done_ns is not 8-byte aligned"));
    }
    // SAFETY: AtomicU64 has the size and (checked) alignment of u64.
    Ok(std::slice::from_raw_parts(ptr as *const AtomicU64, len))
}

/// # Safety
/// `out` must be NULL or point to a writable `T`.
unsafe fn write_out<T>(out: *mut T, value: T, name: &str) -> Result<(), Failure> {
    if out.is_null() {
        return Err(argument(format!("{name} is NULL")));
    }
    out.write(value);
    Ok(())
}

// ---------------------------------------------------------------- exports

/// The message of the last failed call on this thread ("" if none); valid until the next call.
#[no_mangle]
pub extern "C" fn evb_last_error_message() -> *const c_char {
    LAST_ERROR.with(|cell| cell.borrow().as_ptr())
}

/// # Safety
/// `out_engine` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn evb_engine_new(
    model: u32,
    workers: u32,
    batch_events: u32,
    out_engine: *mut u64,
) -> i32 {
    guarded(|| {
        if ![EVB_MODEL_SEQUENTIAL, EVB_MODEL_POOL, EVB_MODEL_FLOOR].contains(&model) {
            return Err(argument(format!("model must be {EVB_MODEL_SEQUENTIAL} (sequential), {EVB_MODEL_POOL} (pool) or {EVB_MODEL_FLOOR} (floor), got {model}")));
        }
        let workers = if model == EVB_MODEL_POOL {
            workers as usize
        } else {
            1
        };
        let batch_events = batch_events as usize;
        crate::engine::check_pool(workers, batch_events)?;
        if out_engine.is_null() {
            return Err(argument("out_engine is NULL"));
        }
        let contender = match model {
            EVB_MODEL_SEQUENTIAL => "native-sequential",
            EVB_MODEL_FLOOR => "floor-native",
            _ => "native",
        };
        let engine = Engine {
            model,
            workers,
            batch_events,
            control: Control::with_fault(Fault::armed(contender)),
            prepared: Mutex::new(None),
        };
        write_out(out_engine, insert(&ENGINES, engine), "out_engine")
    })
}

/// Setup, before the clock: validates the records (nothing is prepared if any is invalid),
/// decodes them into the engine's own copy and makes the per-key state and the pool's
/// channels. Replaces what was prepared before.
///
/// # Safety
/// `records` must hold `records_len` readable bytes for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn evb_engine_prepare(
    engine: u64,
    records: *const u8,
    records_len: usize,
    n_keys: u32,
) -> i32 {
    guarded(|| {
        let engine = lookup(&ENGINES, engine, "engine")?;
        let records = bytes_arg(records, records_len, "records")?;
        let stream = Stream::new(records, n_keys)?;
        let prepared = match engine.model {
            EVB_MODEL_SEQUENTIAL => Prepared::Sequential(SequentialRun::prepare(&stream)),
            EVB_MODEL_FLOOR => Prepared::Floor(FloorRun::prepare(&stream)),
            _ => Prepared::Pool(PoolRun::prepare(
                &stream,
                engine.workers,
                engine.batch_events,
            )?),
        };
        *engine.prepared() = Some(prepared);
        Ok(())
    })
}

/// The timed window: handles the prepared stream once, writing each event's completion time;
/// the caller should release its interpreter lock.
///
/// # Safety
/// `done_ns` must hold `done_len` writable, 8-byte-aligned `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn evb_engine_run(
    engine: u64,
    done_ns: *mut u64,
    done_len: usize,
    t0_ns: u64,
    open_loop: i32,
) -> i32 {
    guarded(|| {
        let engine = lookup(&ENGINES, engine, "engine")?;
        let done = done_arg(done_ns, done_len)?;
        let mut prepared = engine.prepared();
        let run = prepared.as_mut().ok_or_else(nothing_prepared)?;
        Ok(run.run(done, t0_ns, open_loop != 0, &engine.control)?)
    })
}

/// After the window: the digest of the state the run left (SPEC §3).
///
/// # Safety
/// `out_digest` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn evb_engine_digest(engine: u64, out_digest: *mut u64) -> i32 {
    guarded(|| {
        let engine = lookup(&ENGINES, engine, "engine")?;
        let prepared = engine.prepared();
        let digest = prepared.as_ref().ok_or_else(nothing_prepared)?.digest()?;
        write_out(out_digest, digest, "out_digest")
    })
}

/// Asks the engine's run in progress (or its next one) to stop; safe from any thread.
/// The run returns `EVB_ERR_CANCELLED` within about 10 ms plus one event's handling; the
/// engine stays cancelled: free it.
#[no_mangle]
pub extern "C" fn evb_engine_cancel(engine: u64) -> i32 {
    guarded(|| {
        lookup(&ENGINES, engine, "engine")?.control.cancel();
        Ok(())
    })
}

/// Cancels this engine's runs on SIGINT or SIGTERM: the process's one watcher thread reads
/// `wakeup_fd` (the read end of Python's signal wakeup pipe, the same fd on every call) and
/// passes every byte on to `forward_fd` (-1: nowhere). `wakeup_fd` -1 stops watching this
/// engine; freeing the engine does too.
#[no_mangle]
pub extern "C" fn evb_engine_watch_signals(engine: u64, wakeup_fd: i32, forward_fd: i32) -> i32 {
    guarded(|| {
        let engine = lookup(&ENGINES, engine, "engine")?;
        if wakeup_fd < 0 {
            crate::signals::unwatch(&engine.control);
            return Ok(());
        }
        crate::signals::watch(wakeup_fd, forward_fd, engine.control.clone())
            .map_err(|e| Failure::from(EngineError::Resource(e)))
    })
}

#[no_mangle]
pub extern "C" fn evb_engine_free(engine: u64) -> i32 {
    guarded(|| {
        let engine = remove(&ENGINES, engine, "engine")?;
        crate::signals::unwatch(&engine.control);
        Ok(())
    })
}

/// Starts a streaming session whose workers write into `done_ns` until it is freed.
///
/// # Safety
/// `done_ns` must hold `done_len` writable, 8-byte-aligned `uint64_t` that stay
/// valid until `evb_session_free` returns; `out_session` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn evb_session_open(
    n_keys: u32,
    workers: u32,
    batch_events: u32,
    done_ns: *mut u64,
    done_len: usize,
    out_session: *mut u64,
) -> i32 {
    guarded(|| {
        if out_session.is_null() {
            return Err(argument("out_session is NULL"));
        }
        let done: &'static [AtomicU64] = done_arg(done_ns, done_len)?;
        let control = Control::with_fault(Fault::armed("native"));
        let session = Session::open(
            n_keys,
            workers as usize,
            batch_events as usize,
            done,
            control.clone(),
        )?;
        let entry = SessionEntry {
            control,
            session: Mutex::new(session),
        };
        write_out(out_session, insert(&SESSIONS, entry), "out_session")
    })
}

/// Validates `records` as the stream's next events and routes them to the workers.
///
/// # Safety
/// `records` must hold `records_len` readable bytes for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn evb_session_submit(
    session: u64,
    records: *const u8,
    records_len: usize,
) -> i32 {
    guarded(|| {
        let session = lookup(&SESSIONS, session, "session")?;
        let records = bytes_arg(records, records_len, "records")?;
        let result = session.lock().submit(records);
        Ok(result?)
    })
}

/// Waits for every submitted event and stops the workers; writes the digest.
///
/// # Safety
/// `out_digest` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn evb_session_close(session: u64, out_digest: *mut u64) -> i32 {
    guarded(|| {
        let session = lookup(&SESSIONS, session, "session")?;
        if out_digest.is_null() {
            return Err(argument("out_digest is NULL"));
        }
        let digest = session.lock().close()?;
        write_out(out_digest, digest, "out_digest")
    })
}

/// Frees a session, stopping its workers if it was not closed; events still queued are
/// dropped unhandled. When this returns, no worker writes into `done_ns` any more, even
/// if another thread was submitting (that submit returns `EVB_ERR_CANCELLED`).
#[no_mangle]
pub extern "C" fn evb_session_free(session: u64) -> i32 {
    guarded(|| {
        let entry = remove(&SESSIONS, session, "session")?;
        entry.control.cancel(); // an in-flight submit stops routing and lets go of the lock
        entry.lock().shutdown(); // then every worker is joined
        Ok(())
    })
}

/// The jitter probe's figures (`include/eventbench.h`: `evb_jitter_summary`).
#[repr(C)]
pub struct JitterSummaryC {
    pub reads: u64,
    pub duration_ns: u64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub max_ns: u64,
    pub over_10us: u64,
    pub over_100us: u64,
    pub over_1ms: u64,
}

/// Reads the clock in a tight loop on a thread of its own for `duration_ns` and summarises the
/// gaps between reads; the engine's cancel (and its signal watcher) stops it.
///
/// # Safety
/// `out_summary` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn evb_jitter_probe(
    engine: u64,
    duration_ns: u64,
    out_summary: *mut JitterSummaryC,
) -> i32 {
    guarded(|| {
        let engine = lookup(&ENGINES, engine, "engine")?;
        if out_summary.is_null() {
            return Err(argument("out_summary is NULL"));
        }
        let s = crate::jitter::probe(duration_ns, &engine.control)?;
        let summary = JitterSummaryC {
            reads: s.reads,
            duration_ns: s.duration_ns,
            p50_ns: s.p50_ns,
            p90_ns: s.p90_ns,
            p99_ns: s.p99_ns,
            p999_ns: s.p999_ns,
            max_ns: s.max_ns,
            over_10us: s.over_10us,
            over_100us: s.over_100us,
            over_1ms: s.over_1ms,
        };
        write_out(out_summary, summary, "out_summary")
    })
}

/// Checks a whole `.evts` image (SPEC §2) without handling it; writes its header's counts.
///
/// # Safety
/// `data` must hold `len` readable bytes; the out pointers must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn evb_validate_file(
    data: *const u8,
    len: usize,
    out_n_keys: *mut u32,
    out_n_events: *mut u64,
) -> i32 {
    guarded(|| {
        let file = bytes_arg(data, len, "data")?;
        let invalid = |e| Failure::from(EngineError::Invalid(e));
        let (n_keys, n_events) = crate::spec::parse_header(file).map_err(invalid)?;
        crate::spec::validate_records(&file[crate::spec::HEADER_SIZE..], n_keys, 0, None)
            .map_err(invalid)?;
        write_out(out_n_keys, n_keys, "out_n_keys")?;
        write_out(out_n_events, n_events, "out_n_events")
    })
}

/// The counting allocator's totals since the library was loaded.
///
/// # Safety
/// Each pointer must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn evb_alloc_counters(
    out_allocations: *mut u64,
    out_deallocations: *mut u64,
    out_bytes: *mut u64,
) -> i32 {
    guarded(|| {
        let (allocations, deallocations, bytes) = crate::alloc::counters();
        write_out(out_allocations, allocations, "out_allocations")?;
        write_out(out_deallocations, deallocations, "out_deallocations")?;
        write_out(out_bytes, bytes, "out_bytes")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last_error() -> String {
        unsafe { CStr::from_ptr(evb_last_error_message()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn handles_are_checked() {
        let mut engine = 0u64;
        assert_eq!(
            unsafe { evb_engine_new(EVB_MODEL_POOL, 2, 64, &mut engine) },
            EVB_OK
        );
        assert_eq!(evb_engine_free(engine), EVB_OK);
        assert_eq!(evb_engine_free(engine), EVB_ERR_HANDLE);
        assert!(last_error().contains("freed"));
        assert_eq!(
            unsafe { evb_engine_prepare(engine, std::ptr::null(), 0, 1) },
            EVB_ERR_HANDLE
        );
        assert_eq!(
            unsafe { evb_engine_run(engine, std::ptr::null_mut(), 0, 0, 0) },
            EVB_ERR_HANDLE
        );
        let mut digest = 0u64;
        assert_eq!(
            unsafe { evb_engine_digest(engine, &mut digest) },
            EVB_ERR_HANDLE
        );
        assert_eq!(
            unsafe { evb_engine_new(7, 2, 64, &mut engine) },
            EVB_ERR_ARGUMENT
        );
        assert_eq!(
            unsafe { evb_engine_new(EVB_MODEL_POOL, 0, 64, &mut engine) },
            EVB_ERR_ARGUMENT
        );
        assert_eq!(
            unsafe { evb_engine_new(EVB_MODEL_POOL, 2, 64, std::ptr::null_mut()) },
            EVB_ERR_ARGUMENT
        );
    }

    #[test]
    fn invalid_streams_and_pointers_are_errors() {
        let mut engine = 0u64;
        assert_eq!(
            unsafe { evb_engine_new(EVB_MODEL_SEQUENTIAL, 0, 1, &mut engine) },
            EVB_OK
        );
        let record = crate::spec::Event {
            seq: 1,
            ..Default::default()
        }
        .encode();
        let prepare =
            |records: *const u8, len: usize| unsafe { evb_engine_prepare(engine, records, len, 1) };
        assert_eq!(prepare(record.as_ptr(), 32), EVB_ERR_INVALID_STREAM);
        assert_eq!(
            last_error(),
            "record 0: seq is 1, must equal the record index 0"
        );
        assert_eq!(prepare(std::ptr::null(), 32), EVB_ERR_ARGUMENT);
        let mut done = [0u64; 1];
        let mut digest = 0u64;
        // Nothing prepared yet (the invalid stream prepared nothing): run and digest refuse.
        assert_eq!(
            unsafe { evb_engine_run(engine, done.as_mut_ptr(), 1, 0, 0) },
            EVB_ERR_ARGUMENT
        );
        assert!(last_error().contains("evb_engine_prepare first"));
        assert_eq!(
            unsafe { evb_engine_digest(engine, &mut digest) },
            EVB_ERR_ARGUMENT
        );
        assert_eq!(prepare(std::ptr::null(), 0), EVB_OK);
        assert_eq!(
            unsafe { evb_engine_digest(engine, &mut digest) },
            EVB_ERR_ARGUMENT
        );
        assert!(last_error().contains("not been handled"));
        let misaligned = (done.as_mut_ptr() as *mut u8).wrapping_add(1) as *mut u64;
        assert_eq!(
            unsafe { evb_engine_run(engine, misaligned, 1, 0, 0) },
            EVB_ERR_ARGUMENT
        );
        assert_eq!(
            unsafe { evb_engine_run(engine, std::ptr::null_mut(), 1, 0, 0) },
            EVB_ERR_ARGUMENT
        );
        assert_eq!(
            unsafe { evb_engine_run(engine, done.as_mut_ptr(), 1, 0, 0) },
            EVB_OK
        );
        assert_eq!(
            unsafe { evb_engine_run(engine, done.as_mut_ptr(), 1, 0, 0) },
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
    }

    #[test]
    fn the_engine_keeps_its_own_copy_of_the_records() {
        // Prepared, then the caller's buffer overwritten: the run handles what was prepared.
        let events: Vec<crate::spec::Event> = (0..64u64)
            .map(|i| crate::spec::Event {
                seq: i,
                value: i * 7,
                key: (i % 4) as u32,
                ..Default::default()
            })
            .collect();
        let mut records: Vec<u8> = events.iter().flat_map(|e| e.encode()).collect();
        let mut engine = 0u64;
        let mut done = vec![0u64; 64];
        let mut digest = 0u64;
        unsafe {
            assert_eq!(evb_engine_new(EVB_MODEL_POOL, 2, 4, &mut engine), EVB_OK);
            assert_eq!(
                evb_engine_prepare(engine, records.as_ptr(), records.len(), 4),
                EVB_OK
            );
            records.fill(0xff);
            assert_eq!(evb_engine_run(engine, done.as_mut_ptr(), 64, 0, 0), EVB_OK);
            assert_eq!(evb_engine_digest(engine, &mut digest), EVB_OK);
        }
        let mut states = [0u64; 4];
        let mut counts = [0u64; 4];
        for e in &events {
            let k = e.key as usize;
            states[k] = crate::spec::mix(states[k] ^ e.value);
            counts[k] += 1;
        }
        assert_eq!(digest, crate::spec::digest(0, &states, &counts, 64));
        assert!(done.iter().all(|&d| d > 0));
        assert_eq!(evb_engine_free(engine), EVB_OK);
    }

    #[test]
    fn the_floor_paces_and_writes_done_ns_and_has_no_digest() {
        let events: Vec<crate::spec::Event> = (0..20u64)
            .map(|i| crate::spec::Event {
                seq: i,
                arrival_ns: i * 50_000,
                kind: crate::spec::COMPUTE,
                work: 1000,
                ..Default::default()
            })
            .collect();
        let records: Vec<u8> = events.iter().flat_map(|e| e.encode()).collect();
        let mut engine = 0u64;
        let mut done = vec![0u64; 20];
        let t0 = crate::engine::now_ns();
        unsafe {
            assert_eq!(evb_engine_new(EVB_MODEL_FLOOR, 9, 1, &mut engine), EVB_OK);
            assert_eq!(
                evb_engine_prepare(engine, records.as_ptr(), records.len(), 1),
                EVB_OK
            );
            assert_eq!(evb_engine_run(engine, done.as_mut_ptr(), 20, t0, 1), EVB_OK);
            let mut digest = 0u64;
            assert_eq!(evb_engine_digest(engine, &mut digest), EVB_ERR_ARGUMENT);
        }
        assert!(last_error().contains("no digest"));
        for (e, d) in events.iter().zip(&done) {
            assert!(*d >= t0 + e.arrival_ns);
        }
        let mut summary = std::mem::MaybeUninit::<JitterSummaryC>::uninit();
        assert_eq!(
            unsafe { evb_jitter_probe(engine, 1_000_000, summary.as_mut_ptr()) },
            EVB_OK
        );
        let summary = unsafe { summary.assume_init() };
        assert!(summary.reads > 0 && summary.duration_ns >= 1_000_000);
        let mut unused = std::mem::MaybeUninit::<JitterSummaryC>::uninit();
        assert_eq!(
            unsafe { evb_jitter_probe(engine, 0, unused.as_mut_ptr()) },
            EVB_ERR_ARGUMENT
        );
        assert_eq!(
            unsafe { evb_jitter_probe(engine, 1, std::ptr::null_mut()) },
            EVB_ERR_ARGUMENT
        );
        assert_eq!(evb_engine_free(engine), EVB_OK);
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
        assert_eq!(digest, crate::spec::digest(0, &[0, 0], &[0, 0], 0));
        assert_eq!(
            unsafe { evb_session_close(session, &mut digest) },
            EVB_ERR_ARGUMENT
        );
        let record = crate::spec::Event::default().encode();
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
        (0..n)
            .flat_map(|i| {
                crate::spec::Event {
                    seq: i,
                    key: (i % 4) as u32,
                    kind: crate::spec::BLOCK,
                    work: 1_000,
                    ..Default::default()
                }
                .encode()
            })
            .collect()
    }

    #[test]
    fn a_run_is_cancelled_from_another_thread() {
        let mut engine = 0u64;
        assert_eq!(
            unsafe { evb_engine_new(EVB_MODEL_POOL, 2, 64, &mut engine) },
            EVB_OK
        );
        let records = block_records(10_000); // 10 s of 1 ms waits on two workers
        let mut done = vec![0u64; 10_000];
        let prepared = unsafe { evb_engine_prepare(engine, records.as_ptr(), records.len(), 4) };
        assert_eq!(prepared, EVB_OK);
        let start = std::time::Instant::now();
        let code = std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                assert_eq!(evb_engine_cancel(engine), EVB_OK);
            });
            unsafe { evb_engine_run(engine, done.as_mut_ptr(), done.len(), 0, 0) }
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

    #[test]
    fn file_validation_and_counters() {
        let mut n_keys = 0u32;
        let mut n_events = 0u64;
        let mut header = b"EVTSTRM1".to_vec();
        header.extend(1u32.to_le_bytes());
        header.extend(3u32.to_le_bytes());
        header.extend([0u8; 16]);
        assert_eq!(
            unsafe { evb_validate_file(header.as_ptr(), header.len(), &mut n_keys, &mut n_events) },
            EVB_OK
        );
        assert_eq!((n_keys, n_events), (3, 0));
        header[8] = 2;
        assert_eq!(
            unsafe { evb_validate_file(header.as_ptr(), header.len(), &mut n_keys, &mut n_events) },
            EVB_ERR_INVALID_STREAM
        );
        assert_eq!(last_error(), "header: version is 2, must be 1");
        let (mut a, mut d, mut b) = (0u64, 0u64, 0u64);
        assert_eq!(
            unsafe { evb_alloc_counters(&mut a, &mut d, &mut b) },
            EVB_OK
        );
        assert!(a > 0 && b > 0);
    }
}
