//! Runs: pacing, cancellation, and the three ways to handle a prepared stream —
//! `native-sequential` (the calling thread), the floor (pacing alone), and the `native`
//! pool (`pool.rs`) — each with the phases of docs/measurement-window.md: `prepare` (setup:
//! fresh state), `run` (the timed window, once), `digest` (after it).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::fault::Fault;
use crate::partition::Partition;
use crate::pool::{Done, Pool, RunShared};
use crate::scenario::{digest, Invalid, Scenario};
use crate::stream::Stream;

/// Below this much time to go, pacing spins instead of sleeping. With the thread's timer
/// slack at 1 ns (`PreciseSleep`) a sleep overshoots by a few µs, not Linux's default 50 µs.
const SPIN_BELOW_NS: u64 = 20_000;
/// The longest a paced wait sleeps before it looks at the stop flag again.
const LONGEST_SLEEP_NS: u64 = 10_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// The stream breaks a SPEC rule; nothing was handled.
    Invalid(Invalid),
    /// The caller passed something unusable (sizes, counts).
    Argument(String),
    /// A handler panicked; the run stopped, every thread was joined.
    Handler(String),
    /// The system refused a resource (a thread, say).
    Resource(String),
    /// The caller cancelled the run (`evb_engine_cancel`); what was left was not handled.
    Cancelled,
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Invalid(e) => write!(f, "{e}"),
            EngineError::Argument(m) | EngineError::Handler(m) | EngineError::Resource(m) => {
                f.write_str(m)
            }
            EngineError::Cancelled => f.write_str("the run was cancelled"),
        }
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock behind Python's `time.monotonic_ns()`.
#[inline]
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `prctl` is variadic and the kernel reads all four of its arguments: pass every one,
/// or it reads whatever the registers held (valgrind's memcheck flags exactly that).
///
/// # Safety
/// `option` must be one of the timer-slack options, which read or set an integer.
unsafe fn prctl(option: libc::c_int, value: libc::c_ulong) -> libc::c_int {
    libc::prctl(
        option,
        value,
        0 as libc::c_ulong,
        0 as libc::c_ulong,
        0 as libc::c_ulong,
    )
}

/// While alive, the calling thread's sleeps wake on time: its timer slack is 1 ns
/// (Linux's default of 50 µs would add that much to every paced event's latency).
/// The previous slack is restored on drop, so the caller's thread is left as it was.
pub struct PreciseSleep {
    previous_ns: Option<libc::c_ulong>,
}

impl PreciseSleep {
    pub fn new() -> PreciseSleep {
        // SAFETY: PR_GET_TIMERSLACK/PR_SET_TIMERSLACK read or set a per-thread integer; no pointers.
        let previous = unsafe { prctl(libc::PR_GET_TIMERSLACK, 0) };
        if previous < 0 || unsafe { prctl(libc::PR_SET_TIMERSLACK, 1) } != 0 {
            return PreciseSleep { previous_ns: None }; // not Linux, or refused: sleeps are merely coarser
        }
        PreciseSleep {
            previous_ns: Some(previous as libc::c_ulong),
        }
    }
}

impl Default for PreciseSleep {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for PreciseSleep {
    fn drop(&mut self) {
        if let Some(previous) = self.previous_ns {
            // SAFETY: as above.
            unsafe { prctl(libc::PR_SET_TIMERSLACK, previous) };
        }
    }
}

/// Waits until the monotonic clock reaches `deadline_ns`: sleeps while far, spins when near.
/// Returns early, within `LONGEST_SLEEP_NS`, once `stopped` says so. Returns the clock read
/// that ended the wait: an event's start of handling, with no second read.
#[inline]
pub fn wait_until(deadline_ns: u64, stopped: impl Fn() -> bool) -> u64 {
    loop {
        let now = now_ns();
        if now >= deadline_ns || stopped() {
            return now;
        }
        let remaining = deadline_ns - now;
        if remaining > SPIN_BELOW_NS {
            let sleep = (remaining - SPIN_BELOW_NS).min(LONGEST_SLEEP_NS);
            std::thread::sleep(Duration::from_nanos(sleep));
        } else {
            std::thread::yield_now(); // spin, but let a worker on this core run first
        }
    }
}

/// What reaches into a run from outside: the caller's cancel flag and the fault switch.
///
/// The flag is cache-padded because every worker reads it once per event, right beside
/// `G`, which every worker writes. Cancelling is sticky: a cancelled engine stays so.
#[derive(Clone, Debug, Default)]
pub struct Control {
    cancel: Arc<CachePadded<AtomicBool>>,
    pub fault: Fault,
}

impl Control {
    pub fn with_fault(fault: Fault) -> Control {
        Control {
            fault,
            ..Control::default()
        }
    }

    /// Asks the run (in progress, or the next one) to stop; safe from any thread.
    pub fn cancel(&self) {
        self.cancel.store(true, Relaxed);
    }

    #[inline(always)]
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Relaxed)
    }

    /// Whether `other` cancels the same runs (a clone of this control).
    pub fn same(&self, other: &Control) -> bool {
        Arc::ptr_eq(&self.cancel, &other.cancel)
    }
}

/// The run's message for a handler that panicked while handling event `seq`.
pub fn handler_failure(seq: Option<u64>, panic: &Box<dyn std::any::Any + Send>) -> String {
    let event = seq.map_or_else(|| "an event".to_string(), |s| format!("event {s}"));
    format!(
        "handling {event} failed: the handler panicked: {}",
        panic_message(panic)
    )
}

pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// An event's wait for I/O: the scenario's handler says how long, the engine sleeps
/// (the thread blocks, as a handler waiting on a socket would).
#[inline(never)]
pub fn wait_io(micros: u64) {
    std::thread::sleep(Duration::from_micros(micros));
}

fn check_done(n_events: usize, done: &[AtomicU64]) -> Result<(), EngineError> {
    if done.len() < n_events {
        return Err(EngineError::Argument(format!(
            "done_ns has room for {} events, the stream has {n_events}",
            done.len(),
        )));
    }
    Ok(())
}

fn check_start(n_events: usize, start: Option<&[AtomicU64]>) -> Result<(), EngineError> {
    match start {
        Some(start) if start.len() < n_events => Err(EngineError::Argument(format!(
            "start_ns has room for {} events, the stream has {n_events}",
            start.len(),
        ))),
        _ => Ok(()),
    }
}

/// Where a run writes each event's start of handling, if anywhere. An event's start is a
/// clock read the loop has made anyway: the one that ended its pacing wait, or, when it was
/// due already, the one that stamped the previous completion on the same thread (what lies
/// between — the loop's own step, a pool worker's skipping of other workers' records — is
/// thus counted as service). So recording starts costs one store per event, never a clock
/// read: at tens of ns an event, a second `clock_gettime` would show in every figure.
#[derive(Clone, Copy)]
pub struct Starts<'a>(Option<&'a [AtomicU64]>);

impl<'a> Starts<'a> {
    pub const NONE: Starts<'static> = Starts(None);

    pub fn new(slots: Option<&'a [AtomicU64]>) -> Starts<'a> {
        Starts(slots)
    }

    #[inline(always)]
    fn store(&self, i: usize, now: u64) {
        if let Some(slots) = self.0 {
            slots[i].store(now, Relaxed); // in bounds: `check_start` saw room for every event
        }
    }

    fn slots(&self) -> Option<&'a [AtomicU64]> {
        self.0
    }
}

/// A prepared run refuses a second one: its state is the first run's.
fn handled_already() -> EngineError {
    EngineError::Argument("this prepared stream was handled already: prepare it again".into())
}

/// The digest needs a run that handled every event.
fn not_handled() -> EngineError {
    EngineError::Argument("no digest: the prepared stream has not been handled to the end".into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Prepared,
    Running,
    Handled,
}

impl Phase {
    fn start(&mut self) -> Result<(), EngineError> {
        if *self != Phase::Prepared {
            return Err(handled_already());
        }
        *self = Phase::Running;
        Ok(())
    }
}

/// `native-sequential`: every event on the calling thread, in `seq` order.
pub struct SequentialRun<S: Scenario> {
    stream: Arc<Stream<S>>,
    keys: S::Keys,
    shared: S::Shared,
    phase: Phase,
}

impl<S: Scenario> SequentialRun<S> {
    /// Setup: every key's state, zeroed (the stream was validated when it was made).
    pub fn prepare(stream: Arc<Stream<S>>) -> SequentialRun<S> {
        SequentialRun {
            keys: S::new_keys(stream.n_keys()),
            shared: S::new_shared(),
            stream,
            phase: Phase::Prepared,
        }
    }

    /// The timed window: handles every event, writes its completion time, nothing more.
    pub fn run(
        &mut self,
        done: &[AtomicU64],
        t0_ns: u64,
        open_loop: bool,
        control: &Control,
    ) -> Result<(), EngineError> {
        self.run_with_starts(done, Starts::NONE, t0_ns, open_loop, control)
    }

    /// [`Self::run`], also writing each event's start of handling into `start` (see [`Starts`]).
    pub fn run_with_starts(
        &mut self,
        done: &[AtomicU64],
        start: Starts<'_>,
        t0_ns: u64,
        open_loop: bool,
        control: &Control,
    ) -> Result<(), EngineError> {
        check_done(self.stream.len(), done)?;
        check_start(self.stream.len(), start.slots())?;
        self.phase.start()?;
        let _precise = open_loop.then(PreciseSleep::new);
        let (records, keys, shared) = (self.stream.records(), &mut self.keys, &self.shared);
        let mut current = 0usize; // the event being handled, for a failure's message
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let slots = (done, start);
            match open_loop {
                true => handle_all::<S, true>(
                    records,
                    slots,
                    keys,
                    shared,
                    t0_ns,
                    control,
                    &mut current,
                ),
                false => handle_all::<S, false>(
                    records,
                    slots,
                    keys,
                    shared,
                    t0_ns,
                    control,
                    &mut current,
                ),
            }
        }));
        match outcome {
            Ok(result) => result?,
            Err(panic) => {
                let seq = Some(current as u64);
                return Err(EngineError::Handler(handler_failure(seq, &panic)));
            }
        }
        self.phase = Phase::Handled;
        Ok(())
    }

    /// After the window: the digest of the final state.
    pub fn digest(&self) -> Result<u64, EngineError> {
        if self.phase != Phase::Handled {
            return Err(not_handled());
        }
        let parts = std::slice::from_ref(&self.keys);
        Ok(digest::<S, _>(
            self.stream.len() as u64,
            self.stream.n_keys(),
            parts,
            &Partition::modulo(1),
            &self.shared,
        ))
    }
}

/// `native-sequential`'s loop, one copy for each loop (`OPEN`): event `i` is record `i` and
/// done slot `i` (the zip bounds every write by `done`, whatever a record's `seq` says), so
/// nothing per event is checked that a hand-written loop would not check, but the cancel flag.
#[inline(always)]
fn handle_all<S: Scenario, const OPEN: bool>(
    records: &[u8],
    (done, start): (&[AtomicU64], Starts<'_>),
    keys: &mut S::Keys,
    shared: &S::Shared,
    t0_ns: u64,
    control: &Control,
    current: &mut usize,
) -> Result<(), EngineError> {
    let (cancel, fault) = (&*control.cancel, control.fault); // hoisted: read once per event, no more
    let events = records.chunks_exact(S::RECORD_SIZE);
    let mut now = now_ns(); // the first event's start, when it is due already (`Starts`)
    for (i, (record, slot)) in events.zip(done).enumerate() {
        if OPEN {
            let due = t0_ns.saturating_add(crate::scenario::u64_at(record, S::ARRIVAL_AT));
            if now < due {
                now = wait_until(due, || control.cancelled());
            }
        }
        if cancel.load(Relaxed) {
            return Err(EngineError::Cancelled);
        }
        *current = i;
        fault.check(i as u64);
        start.store(i, now);
        let e = S::decode(record);
        let io_us = S::handle(&e, keys, S::key(&e) as usize, shared);
        if io_us != 0 {
            wait_io(io_us);
        }
        now = now_ns();
        slot.store(now, Relaxed);
    }
    Ok(())
}

/// `floor-native`: paces the stream exactly as `native-sequential` does (the same
/// `wait_until`, sleep then spin, with the same timer slack) and writes each `done_ns`,
/// handling nothing. Its latencies are what waiting alone costs the engine.
pub struct FloorRun<S: Scenario> {
    stream: Arc<Stream<S>>,
    phase: Phase,
}

impl<S: Scenario> FloorRun<S> {
    pub fn prepare(stream: Arc<Stream<S>>) -> FloorRun<S> {
        FloorRun {
            stream,
            phase: Phase::Prepared,
        }
    }

    pub fn run(
        &mut self,
        done: &[AtomicU64],
        t0_ns: u64,
        open_loop: bool,
        control: &Control,
    ) -> Result<(), EngineError> {
        self.run_with_starts(done, Starts::NONE, t0_ns, open_loop, control)
    }

    /// [`Self::run`], with starts taken as `native-sequential` takes them ([`Starts`]).
    pub fn run_with_starts(
        &mut self,
        done: &[AtomicU64],
        start: Starts<'_>,
        t0_ns: u64,
        open_loop: bool,
        control: &Control,
    ) -> Result<(), EngineError> {
        check_done(self.stream.len(), done)?;
        check_start(self.stream.len(), start.slots())?;
        self.phase.start()?;
        let _precise = open_loop.then(PreciseSleep::new);
        let mut now = now_ns();
        for (i, (arrival, slot)) in self.stream.arrivals().zip(done).enumerate() {
            let due = t0_ns.saturating_add(arrival);
            if open_loop && now < due {
                now = wait_until(due, || control.cancelled());
            }
            if control.cancelled() {
                return Err(EngineError::Cancelled);
            }
            start.store(i, now);
            now = now_ns();
            slot.store(now, Relaxed);
        }
        self.phase = Phase::Handled;
        Ok(())
    }
}

/// `native`: one run on a pool; every worker reads the stream and handles its own keys' events
/// (`Pool::scan`), and the calling thread waits for them.
pub struct PoolRun<S: Scenario> {
    stream: Arc<Stream<S>>,
    /// Every worker's keys' state: made by `prepare`, lent to the workers by `run`.
    parts: Vec<Option<S::Keys>>,
    /// The shared state and the keys' partition, until the run moves them into what its
    /// workers share.
    shared: Option<(S::Shared, Partition)>,
    /// After the run: what its workers shared (the shared state, for the digest).
    finished: Option<Arc<RunShared<S>>>,
    phase: Phase,
}

impl<S: Scenario> PoolRun<S> {
    /// Setup: how the keys are shared out (`Stream::partition`), and every worker's share of
    /// the state, for a pool of `workers`.
    pub fn prepare(stream: Arc<Stream<S>>, workers: usize) -> PoolRun<S> {
        let (n_keys, partition) = (stream.n_keys(), stream.partition(workers));
        PoolRun {
            parts: (0..workers)
                .map(|w| Some(S::new_keys(partition.owned(n_keys, w))))
                .collect(),
            shared: Some((S::new_shared(), partition)),
            finished: None,
            stream,
            phase: Phase::Prepared,
        }
    }

    /// The timed window: gives the workers the stream and waits for the last of them.
    pub fn run(
        &mut self,
        pool: &mut Pool<S>,
        done: &[AtomicU64],
        t0_ns: u64,
        open_loop: bool,
        control: &Control,
    ) -> Result<(), EngineError> {
        self.run_with_starts(pool, done, Starts::NONE, t0_ns, open_loop, control)
    }

    /// [`Self::run`], each worker also writing its events' starts ([`Starts`]).
    pub fn run_with_starts(
        &mut self,
        pool: &mut Pool<S>,
        done: &[AtomicU64],
        start: Starts<'_>,
        t0_ns: u64,
        open_loop: bool,
        control: &Control,
    ) -> Result<(), EngineError> {
        if pool.workers() != self.parts.len() {
            return Err(EngineError::Argument(format!(
                "prepared for {} workers, the pool has {}",
                self.parts.len(),
                pool.workers()
            )));
        }
        check_done(self.stream.len(), done)?;
        check_start(self.stream.len(), start.slots())?;
        self.phase.start()?;
        let (shared, partition) = self.shared.take().ok_or_else(handled_already)?;
        let done = Done::with_starts(done, start.slots());
        let run = Arc::new(RunShared::new(done, shared, partition, control.clone()));
        let parts = self
            .parts
            .iter_mut()
            .map(|p| p.take().expect("prepared"))
            .collect();
        pool.begin(parts, &run);
        let running = EndOnDrop(pool);
        running.0.scan(&self.stream, t0_ns, open_loop);
        // Every worker has finished and let go of `done` once `end` returns.
        let returned = running.0.end();
        let lost = returned.iter().any(Option::is_none);
        self.parts = returned;
        if lost {
            run.fail("a worker lost its keys' state".into());
        }
        let error = run.error();
        self.finished = Some(run);
        if let Some(error) = error {
            return Err(error);
        }
        self.phase = Phase::Handled;
        Ok(())
    }

    /// After the window: the digest of the final state.
    pub fn digest(&self) -> Result<u64, EngineError> {
        let (Phase::Handled, Some(run)) = (self.phase, &self.finished) else {
            return Err(not_handled());
        };
        let parts: Vec<&S::Keys> = self.parts.iter().flatten().collect();
        let (n_events, n_keys) = (self.stream.len() as u64, self.stream.n_keys());
        Ok(digest::<S, _>(
            n_events,
            n_keys,
            &parts,
            &run.partition,
            &run.shared,
        ))
    }
}

/// Ends the pool's run if the caller unwinds, before its `done_ns` can go.
struct EndOnDrop<'p, S: Scenario>(&'p mut Pool<S>);

impl<S: Scenario> Drop for EndOnDrop<'_, S> {
    fn drop(&mut self) {
        if self.0.in_run() {
            self.0.end();
        }
    }
}

/// Prepare, run and digest in one call (tests, fuzzing, benches: no window to keep apart).
pub fn run_sequential<S: Scenario>(
    stream: &Arc<Stream<S>>,
    done: &[AtomicU64],
    t0_ns: u64,
    open_loop: bool,
    control: &Control,
) -> Result<u64, EngineError> {
    let mut run = SequentialRun::prepare(Arc::clone(stream));
    run.run(done, t0_ns, open_loop, control)?;
    run.digest()
}

/// Prepare, run and digest one run on `pool` (tests, fuzzing, benches).
pub fn run_on_pool<S: Scenario>(
    pool: &mut Pool<S>,
    stream: &Arc<Stream<S>>,
    done: &[AtomicU64],
    t0_ns: u64,
    open_loop: bool,
    control: &Control,
) -> Result<u64, EngineError> {
    let mut run = PoolRun::prepare(Arc::clone(stream), pool.workers());
    run.run(pool, done, t0_ns, open_loop, control)?;
    run.digest()
}

/// A stream's validation failure as the engine reports it.
impl From<Invalid> for EngineError {
    fn from(e: Invalid) -> EngineError {
        EngineError::Invalid(e)
    }
}
