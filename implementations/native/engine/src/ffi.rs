//! The C ABI (`include/eventbench.h`), once for every scenario: `Abi<S>` implements each
//! export over the safe engine, and `export_c_abi!(S)` declares the `extern "C"` symbols of
//! a scenario library, each a one-line call into it.
//!
//! Conventions, after getsentry/symbolic's cabi: every export returns a stable numeric code
//! (`EVB_OK` or an `EVB_ERR_*`), with the message of the last failure on this thread from
//! `evb_last_error_message`; nothing unwinds across `extern "C"` (every export runs inside
//! `catch_unwind`). Streams, engines and sessions are opaque integer handles looked up in a
//! registry, so a stale, unknown or twice-freed handle is an error (`EVB_ERR_HANDLE`), never
//! undefined behaviour.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::abi::*;
use crate::fault::Fault;
use crate::pool::{check_workers, Pool};
use crate::run::{panic_message, Control, EngineError, FloorRun, PoolRun, SequentialRun, Starts};
use crate::scenario::Scenario;
use crate::session::Session;
use crate::stream::Stream;

pub struct Failure(i32, String);

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

impl From<crate::scenario::Invalid> for Failure {
    fn from(e: crate::scenario::Invalid) -> Failure {
        Failure::from(EngineError::Invalid(e))
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

/// The message of the last failed call on this thread ("" if none); valid until the next call.
pub fn last_error_message() -> *const c_char {
    LAST_ERROR.with(|cell| cell.borrow().as_ptr())
}

/// Runs one export's body: catches panics, records the message, returns the code.
pub fn guarded(body: impl FnOnce() -> Result<(), Failure>) -> i32 {
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
                panic_message(&panic)
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

/// Live handles of one kind. A `BTreeMap` because its `new` is `const`: registries are statics.
pub struct Registry<T> {
    next: u64,
    live: BTreeMap<u64, Arc<T>>,
}

impl<T> Registry<T> {
    const fn new() -> Registry<T> {
        Registry {
            next: 1,
            live: BTreeMap::new(),
        }
    }
}

fn locked<T>(cell: &Mutex<T>) -> MutexGuard<'_, T> {
    cell.lock().unwrap_or_else(|p| p.into_inner())
}

fn insert<T>(registry: &Mutex<Registry<T>>, value: T) -> u64 {
    let mut reg = locked(registry);
    let handle = reg.next;
    reg.next += 1;
    reg.live.insert(handle, Arc::new(value));
    handle
}

fn lookup<T>(registry: &Mutex<Registry<T>>, handle: u64, what: &str) -> Result<Arc<T>, Failure> {
    locked(registry).live.get(&handle).cloned().ok_or_else(|| {
        Failure(
            EVB_ERR_HANDLE,
            format!("no live {what} with handle {handle} (never made, or freed)"),
        )
    })
}

fn remove<T>(registry: &Mutex<Registry<T>>, handle: u64, what: &str) -> Result<Arc<T>, Failure> {
    locked(registry).live.remove(&handle).ok_or_else(|| {
        Failure(
            EVB_ERR_HANDLE,
            format!("no live {what} with handle {handle} (never made, or freed already)"),
        )
    })
}

/// An engine: its model, its pool (started with it), and the run prepared on it.
pub struct Engine<S: Scenario> {
    model: u32,
    control: Control,
    /// Locked by a run; `cancel` needs no lock.
    state: Mutex<EngineState<S>>,
}

struct EngineState<S: Scenario> {
    pool: Option<Pool<S>>,
    prepared: Option<Prepared<S>>,
}

enum Prepared<S: Scenario> {
    Sequential(SequentialRun<S>),
    Pool(PoolRun<S>),
    Floor(FloorRun<S>),
}

impl<S: Scenario> EngineState<S> {
    fn run(
        &mut self,
        done: &[AtomicU64],
        start: Starts<'_>,
        t0_ns: u64,
        open_loop: bool,
        control: &Control,
    ) -> Result<(), Failure> {
        let prepared = self.prepared.as_mut().ok_or_else(nothing_prepared)?;
        Ok(match (prepared, &mut self.pool) {
            (Prepared::Sequential(run), _) => {
                run.run_with_starts(done, start, t0_ns, open_loop, control)
            }
            (Prepared::Floor(run), _) => {
                run.run_with_starts(done, start, t0_ns, open_loop, control)
            }
            (Prepared::Pool(run), Some(pool)) => {
                run.run_with_starts(pool, done, start, t0_ns, open_loop, control)
            }
            (Prepared::Pool(_), None) => unreachable!("a pool run is prepared on a pool engine"),
        }?)
    }

    fn digest(&self) -> Result<u64, Failure> {
        Ok(match self.prepared.as_ref().ok_or_else(nothing_prepared)? {
            Prepared::Sequential(run) => run.digest(),
            Prepared::Pool(run) => run.digest(),
            Prepared::Floor(_) => Err(EngineError::Argument(
                "a floor handles nothing: it has no digest".into(),
            )),
        }?)
    }
}

fn nothing_prepared() -> Failure {
    argument("nothing is prepared on this engine: call evb_engine_prepare first")
}

/// A session, with its cancel flag outside the lock: `free` stops an in-flight `submit`.
pub struct SessionEntry<S: Scenario> {
    control: Control,
    session: Mutex<Session<S>>,
}

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
    slots_arg(ptr, len, "done_ns")
}

/// A caller's array of `len` `uint64_t` slots, named `name` in errors, as atomics.
///
/// # Safety
/// As `done_arg`.
unsafe fn slots_arg<'a>(ptr: *mut u64, len: usize, name: &str) -> Result<&'a [AtomicU64], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(argument(format!("{name} is NULL with length {len}")));
    }
    if (ptr as usize) % std::mem::align_of::<AtomicU64>() != 0 {
        return Err(argument(format!("{name} is not 8-byte aligned")));
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

// ---------------------------------------------------------------- the exports, once

/// Every export of one scenario library, over its registries. The library holds one in a
/// static (`export_c_abi!`).
pub struct Abi<S: Scenario> {
    streams: Mutex<Registry<Stream<S>>>,
    engines: Mutex<Registry<Engine<S>>>,
    sessions: Mutex<Registry<SessionEntry<S>>>,
}

impl<S: Scenario> Default for Abi<S> {
    fn default() -> Self {
        Self::new()
    }
}

/// The scenario's name as C reads it: NUL-terminated, for the life of the library.
fn c_name<S: Scenario>() -> Result<*const c_char, Failure> {
    static NAMES: Mutex<BTreeMap<&'static str, CString>> = Mutex::new(BTreeMap::new());
    let mut names = locked(&NAMES);
    let name = names
        .entry(S::NAME)
        .or_insert_with(|| CString::new(S::NAME).unwrap_or_default());
    Ok(name.as_ptr()) // a CString's buffer stays put when the map moves it
}

impl<S: Scenario> Abi<S> {
    pub const fn new() -> Abi<S> {
        Abi {
            streams: Mutex::new(Registry::new()),
            engines: Mutex::new(Registry::new()),
            sessions: Mutex::new(Registry::new()),
        }
    }

    /// # Safety
    /// Each pointer must be NULL or writable.
    pub unsafe fn scenario_info(
        &self,
        out_name: *mut *const c_char,
        out_version: *mut u32,
        out_record_size: *mut u32,
        out_abi_version: *mut u32,
    ) -> i32 {
        guarded(|| {
            write_out(out_name, c_name::<S>()?, "out_name")?;
            write_out(out_version, S::VERSION, "out_version")?;
            write_out(out_record_size, S::RECORD_SIZE as u32, "out_record_size")?;
            write_out(out_abi_version, EVB_ABI_VERSION, "out_abi_version")
        })
    }

    /// # Safety
    /// `records` must hold `records_len` readable bytes that stay valid and unchanged until
    /// the stream is freed and no engine has it prepared; `out_stream` NULL or writable.
    pub unsafe fn stream_new(
        &self,
        records: *const u8,
        records_len: usize,
        n_keys: u32,
        out_stream: *mut u64,
    ) -> i32 {
        guarded(|| {
            if out_stream.is_null() {
                return Err(argument("out_stream is NULL"));
            }
            let records = bytes_arg(records, records_len, "records")?;
            let stream = Stream::<S>::from_raw(records.as_ptr(), records.len(), n_keys)?;
            write_out(out_stream, insert(&self.streams, stream), "out_stream")
        })
    }

    pub fn stream_free(&self, stream: u64) -> i32 {
        guarded(|| remove(&self.streams, stream, "stream").map(drop))
    }

    /// # Safety
    /// `out_engine` must be NULL or writable.
    pub unsafe fn engine_new(&self, model: u32, workers: u32, out_engine: *mut u64) -> i32 {
        guarded(|| {
            let contender = match model {
                EVB_MODEL_SEQUENTIAL => "native-sequential",
                EVB_MODEL_FLOOR => "floor-native",
                EVB_MODEL_POOL => "native",
                _ => return Err(argument(format!("model must be {EVB_MODEL_SEQUENTIAL} (sequential), {EVB_MODEL_POOL} (pool) or {EVB_MODEL_FLOOR} (floor), got {model}"))),
            };
            let workers = if model == EVB_MODEL_POOL { workers } else { 1 };
            check_workers(workers as usize)?;
            if out_engine.is_null() {
                return Err(argument("out_engine is NULL"));
            }
            let pool = if model == EVB_MODEL_POOL {
                Some(Pool::start(workers as usize)?)
            } else {
                None
            };
            let engine = Engine {
                model,
                control: Control::with_fault(Fault::armed(contender)),
                state: Mutex::new(EngineState {
                    pool,
                    prepared: None,
                }),
            };
            write_out(out_engine, insert(&self.engines, engine), "out_engine")
        })
    }

    pub fn engine_prepare(&self, engine: u64, stream: u64) -> i32 {
        guarded(|| {
            let engine = lookup(&self.engines, engine, "engine")?;
            let stream = lookup(&self.streams, stream, "stream")?;
            let mut state = locked(&engine.state);
            state.prepared = None; // the earlier run's state goes first: one at a time in memory
            let prepared = match (engine.model, &state.pool) {
                (EVB_MODEL_SEQUENTIAL, _) => Prepared::Sequential(SequentialRun::prepare(stream)),
                (EVB_MODEL_FLOOR, _) => Prepared::Floor(FloorRun::prepare(stream)),
                (_, pool) => {
                    let workers = pool.as_ref().map_or(1, Pool::workers);
                    Prepared::Pool(PoolRun::prepare(stream, workers))
                }
            };
            state.prepared = Some(prepared);
            Ok(())
        })
    }

    /// Drops the prepared run: its state and the engine's hold on its stream.
    pub fn engine_release(&self, engine: u64) -> i32 {
        guarded(|| {
            let engine = lookup(&self.engines, engine, "engine")?;
            locked(&engine.state).prepared = None;
            Ok(())
        })
    }

    /// # Safety
    /// `done_ns` must hold `done_len` writable, 8-byte-aligned `uint64_t`; so must `start_ns`,
    /// unless it is NULL (no starts recorded).
    pub unsafe fn engine_run(
        &self,
        engine: u64,
        done_ns: *mut u64,
        done_len: usize,
        start_ns: *mut u64,
        t0_ns: u64,
        open_loop: i32,
    ) -> i32 {
        guarded(|| {
            let engine = lookup(&self.engines, engine, "engine")?;
            let done = done_arg(done_ns, done_len)?;
            let start = match start_ns.is_null() {
                true => None,
                false => Some(slots_arg(start_ns, done_len, "start_ns")?),
            };
            let mut state = locked(&engine.state);
            state.run(
                done,
                Starts::new(start),
                t0_ns,
                open_loop != 0,
                &engine.control,
            )
        })
    }

    /// # Safety
    /// `out_digest` must be NULL or writable.
    pub unsafe fn engine_digest(&self, engine: u64, out_digest: *mut u64) -> i32 {
        guarded(|| {
            let engine = lookup(&self.engines, engine, "engine")?;
            let digest = locked(&engine.state).digest()?;
            write_out(out_digest, digest, "out_digest")
        })
    }

    pub fn engine_cancel(&self, engine: u64) -> i32 {
        guarded(|| {
            lookup(&self.engines, engine, "engine")?.control.cancel();
            Ok(())
        })
    }

    pub fn engine_watch_signals(&self, engine: u64, wakeup_fd: i32, forward_fd: i32) -> i32 {
        guarded(|| {
            let engine = lookup(&self.engines, engine, "engine")?;
            if wakeup_fd < 0 {
                crate::signals::unwatch(&engine.control);
                return Ok(());
            }
            crate::signals::watch(wakeup_fd, forward_fd, engine.control.clone())
                .map_err(|e| Failure::from(EngineError::Resource(e)))
        })
    }

    /// The pool's workers are joined when the last holder lets go: here, or when a run in
    /// progress on another thread returns.
    pub fn engine_free(&self, engine: u64) -> i32 {
        guarded(|| {
            let engine = remove(&self.engines, engine, "engine")?;
            crate::signals::unwatch(&engine.control);
            Ok(())
        })
    }

    /// # Safety
    /// `done_ns` must hold `done_len` writable, 8-byte-aligned `uint64_t` that stay valid
    /// until `session_free` returns; `out_session` must be NULL or writable.
    pub unsafe fn session_open(
        &self,
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
            let session = Session::<S>::open(
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
            write_out(out_session, insert(&self.sessions, entry), "out_session")
        })
    }

    /// # Safety
    /// `records` must hold `records_len` readable bytes for the duration of the call.
    pub unsafe fn session_submit(
        &self,
        session: u64,
        records: *const u8,
        records_len: usize,
    ) -> i32 {
        guarded(|| {
            let session = lookup(&self.sessions, session, "session")?;
            let records = bytes_arg(records, records_len, "records")?;
            let result = locked(&session.session).submit(records);
            Ok(result?)
        })
    }

    /// # Safety
    /// `out_digest` must be NULL or writable.
    pub unsafe fn session_close(&self, session: u64, out_digest: *mut u64) -> i32 {
        guarded(|| {
            let session = lookup(&self.sessions, session, "session")?;
            if out_digest.is_null() {
                return Err(argument("out_digest is NULL"));
            }
            let digest = locked(&session.session).close()?;
            write_out(out_digest, digest, "out_digest")
        })
    }

    /// Frees a session, stopping its workers if it was not closed; events still queued are
    /// dropped unhandled. When this returns, no worker writes into `done_ns` any more, even
    /// if another thread was submitting (that submit returns `EVB_ERR_CANCELLED`).
    pub fn session_free(&self, session: u64) -> i32 {
        guarded(|| {
            let entry = remove(&self.sessions, session, "session")?;
            entry.control.cancel(); // an in-flight submit stops routing and lets go of the lock
            locked(&entry.session).shutdown(); // then the run is ended: no worker holds done_ns
            Ok(())
        })
    }

    /// # Safety
    /// `out_summary` must be NULL or writable.
    pub unsafe fn jitter_probe(
        &self,
        engine: u64,
        duration_ns: u64,
        out_summary: *mut crate::jitter::JitterSummary,
    ) -> i32 {
        guarded(|| {
            let engine = lookup(&self.engines, engine, "engine")?;
            if out_summary.is_null() {
                return Err(argument("out_summary is NULL"));
            }
            let summary = crate::jitter::probe(duration_ns, &engine.control)?;
            write_out(out_summary, summary, "out_summary")
        })
    }

    /// # Safety
    /// `data` must hold `len` readable bytes; the out pointers must be NULL or writable.
    pub unsafe fn validate_file(
        &self,
        data: *const u8,
        len: usize,
        out_n_keys: *mut u32,
        out_n_events: *mut u64,
    ) -> i32 {
        guarded(|| {
            let file = bytes_arg(data, len, "data")?;
            let (n_keys, n_events) = crate::file::validate_file::<S>(file)?;
            write_out(out_n_keys, n_keys, "out_n_keys")?;
            write_out(out_n_events, n_events, "out_n_events")
        })
    }

    /// # Safety
    /// Each pointer must be NULL or writable.
    pub unsafe fn alloc_counters(
        &self,
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
}

/// Declares a scenario library's C ABI (`include/eventbench.h`): `export_c_abi!(MyScenario);`
/// in the scenario crate (a `cdylib`), and Python's one cffi wrapper loads it.
#[macro_export]
macro_rules! export_c_abi {
    ($scenario:ty) => {
        static EVB_ABI: $crate::ffi::Abi<$scenario> = $crate::ffi::Abi::new();

        #[no_mangle]
        pub extern "C" fn evb_last_error_message() -> *const ::std::ffi::c_char {
            $crate::ffi::last_error_message()
        }

        /// # Safety
        /// See `include/eventbench.h`.
        #[no_mangle]
        pub unsafe extern "C" fn evb_scenario_info(
            out_name: *mut *const ::std::ffi::c_char,
            out_version: *mut u32,
            out_record_size: *mut u32,
            out_abi_version: *mut u32,
        ) -> i32 {
            EVB_ABI.scenario_info(out_name, out_version, out_record_size, out_abi_version)
        }

        /// # Safety
        /// See `include/eventbench.h`.
        #[no_mangle]
        pub unsafe extern "C" fn evb_stream_new(
            records: *const u8,
            records_len: usize,
            n_keys: u32,
            out_stream: *mut u64,
        ) -> i32 {
            EVB_ABI.stream_new(records, records_len, n_keys, out_stream)
        }

        #[no_mangle]
        pub extern "C" fn evb_stream_free(stream: u64) -> i32 {
            EVB_ABI.stream_free(stream)
        }

        /// # Safety
        /// See `include/eventbench.h`.
        #[no_mangle]
        pub unsafe extern "C" fn evb_engine_new(
            model: u32,
            workers: u32,
            out_engine: *mut u64,
        ) -> i32 {
            EVB_ABI.engine_new(model, workers, out_engine)
        }

        #[no_mangle]
        pub extern "C" fn evb_engine_prepare(engine: u64, stream: u64) -> i32 {
            EVB_ABI.engine_prepare(engine, stream)
        }

        #[no_mangle]
        pub extern "C" fn evb_engine_release(engine: u64) -> i32 {
            EVB_ABI.engine_release(engine)
        }

        /// # Safety
        /// See `include/eventbench.h`.
        #[no_mangle]
        pub unsafe extern "C" fn evb_engine_run(
            engine: u64,
            done_ns: *mut u64,
            done_len: usize,
            start_ns: *mut u64,
            t0_ns: u64,
            open_loop: i32,
        ) -> i32 {
            EVB_ABI.engine_run(engine, done_ns, done_len, start_ns, t0_ns, open_loop)
        }

        /// # Safety
        /// See `include/eventbench.h`.
        #[no_mangle]
        pub unsafe extern "C" fn evb_engine_digest(engine: u64, out_digest: *mut u64) -> i32 {
            EVB_ABI.engine_digest(engine, out_digest)
        }

        #[no_mangle]
        pub extern "C" fn evb_engine_cancel(engine: u64) -> i32 {
            EVB_ABI.engine_cancel(engine)
        }

        #[no_mangle]
        pub extern "C" fn evb_engine_watch_signals(
            engine: u64,
            wakeup_fd: i32,
            forward_fd: i32,
        ) -> i32 {
            EVB_ABI.engine_watch_signals(engine, wakeup_fd, forward_fd)
        }

        #[no_mangle]
        pub extern "C" fn evb_engine_free(engine: u64) -> i32 {
            EVB_ABI.engine_free(engine)
        }

        /// # Safety
        /// See `include/eventbench.h`.
        #[no_mangle]
        pub unsafe extern "C" fn evb_session_open(
            n_keys: u32,
            workers: u32,
            batch_events: u32,
            done_ns: *mut u64,
            done_len: usize,
            out_session: *mut u64,
        ) -> i32 {
            EVB_ABI.session_open(
                n_keys,
                workers,
                batch_events,
                done_ns,
                done_len,
                out_session,
            )
        }

        /// # Safety
        /// See `include/eventbench.h`.
        #[no_mangle]
        pub unsafe extern "C" fn evb_session_submit(
            session: u64,
            records: *const u8,
            records_len: usize,
        ) -> i32 {
            EVB_ABI.session_submit(session, records, records_len)
        }

        /// # Safety
        /// See `include/eventbench.h`.
        #[no_mangle]
        pub unsafe extern "C" fn evb_session_close(session: u64, out_digest: *mut u64) -> i32 {
            EVB_ABI.session_close(session, out_digest)
        }

        #[no_mangle]
        pub extern "C" fn evb_session_free(session: u64) -> i32 {
            EVB_ABI.session_free(session)
        }

        /// # Safety
        /// See `include/eventbench.h`.
        #[no_mangle]
        pub unsafe extern "C" fn evb_jitter_probe(
            engine: u64,
            duration_ns: u64,
            out_summary: *mut $crate::jitter::JitterSummary,
        ) -> i32 {
            EVB_ABI.jitter_probe(engine, duration_ns, out_summary)
        }

        /// # Safety
        /// See `include/eventbench.h`.
        #[no_mangle]
        pub unsafe extern "C" fn evb_validate_file(
            data: *const u8,
            len: usize,
            out_n_keys: *mut u32,
            out_n_events: *mut u64,
        ) -> i32 {
            EVB_ABI.validate_file(data, len, out_n_keys, out_n_events)
        }

        /// # Safety
        /// See `include/eventbench.h`.
        #[no_mangle]
        pub unsafe extern "C" fn evb_alloc_counters(
            out_allocations: *mut u64,
            out_deallocations: *mut u64,
            out_bytes: *mut u64,
        ) -> i32 {
            EVB_ABI.alloc_counters(out_allocations, out_deallocations, out_bytes)
        }
    };
}
