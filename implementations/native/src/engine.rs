//! The engine: the SPEC's handlers, on one thread or on a pool fed by channels.
//!
//! Everything here is safe Rust. The pool routes events by key (`key % workers`)
//! in batches through one bounded channel per worker; each worker owns its keys'
//! state, so per-key order holds and state needs no lock. `G` is an `AtomicU64`
//! updated with `fetch_add`: addition modulo 2^64 is commutative, so any
//! interleaving gives the same final `G` without a lock (SPEC §3 allows it).
//! Batch buffers are recycled through a return channel, so a warm pool allocates
//! nothing per event.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender};
use crossbeam_utils::CachePadded;

use crate::fault::Fault;
use crate::spec::{digest, mix, Event, Invalid, AGGREGATE, BLOCK, COMPUTE, RECORD_SIZE};

/// Batches a channel holds per worker before the router waits (back-pressure).
pub const CHANNEL_DEPTH: usize = 4;
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
/// Returns early, within `LONGEST_SLEEP_NS`, once `stopped` says so.
#[inline]
pub fn wait_until(deadline_ns: u64, stopped: impl Fn() -> bool) {
    loop {
        let now = now_ns();
        if now >= deadline_ns || stopped() {
            return;
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

/// One event's effect on its key's state (SPEC §3); `G` is shared by every worker.
#[inline(always)]
pub fn handle(e: &Event, state: &mut u64, count: &mut u64, g: &AtomicU64) {
    let mut v = e.value;
    match e.kind {
        COMPUTE => {
            for _ in 0..e.work {
                v = mix(v);
            }
        }
        BLOCK => std::thread::sleep(Duration::from_micros(e.work as u64)),
        AGGREGATE => {
            g.fetch_add(e.value, Relaxed);
        }
        _ => {}
    }
    *state = mix(*state ^ v);
    *count += 1;
}

/// Where completion times go: the harness's `done_ns`, one slot per event.
pub type DoneSlots<'a> = &'a [AtomicU64];

/// The records of a run, checked against SPEC §1–2 before anything is handled.
pub struct Stream<'a> {
    records: &'a [u8],
    n_keys: u32,
}

impl<'a> Stream<'a> {
    pub fn new(records: &'a [u8], n_keys: u32) -> Result<Stream<'a>, EngineError> {
        crate::spec::check_n_keys(n_keys as u64).map_err(EngineError::Invalid)?;
        crate::spec::validate_records(records, n_keys, 0, None).map_err(EngineError::Invalid)?;
        Ok(Stream { records, n_keys })
    }

    pub fn len(&self) -> usize {
        self.records.len() / RECORD_SIZE
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn events(&self) -> impl Iterator<Item = Event> + 'a {
        self.records.chunks_exact(RECORD_SIZE).map(Event::decode)
    }

    pub fn n_keys(&self) -> usize {
        self.n_keys as usize
    }
}

fn check_done(n_events: usize, done: DoneSlots<'_>) -> Result<(), EngineError> {
    if done.len() < n_events {
        return Err(EngineError::Argument(format!(
            "done_ns has room for {} events, the stream has {n_events}",
            done.len(),
        )));
    }
    Ok(())
}

/// Per-key state, zeroed and touched now: the pages are faulted in during setup, not by the
/// first events of the timed run (`vec!` alone maps zero pages that fault on first write).
pub fn zeroed_state(n: usize) -> Vec<u64> {
    let mut state = vec![0u64; n];
    // black_box: the compiler must not drop the fill as a store of zeros into zeroed memory.
    std::hint::black_box(&mut state[..]).fill(0);
    state
}

/// A prepared run refuses a second one: its state is the first run's.
fn handled_already() -> EngineError {
    EngineError::Argument("this prepared stream was handled already: prepare it again".into())
}

/// The digest needs a run that handled every event.
fn not_handled() -> EngineError {
    EngineError::Argument("no digest: the prepared stream has not been handled to the end".into())
}

/// A run's three phases, after SPEC's measurement window (docs/measurement-window.md):
/// `prepare` (setup: decoding, per-key state, channels), `run` (the timed handling, once),
/// `digest` (after the window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Prepared,
    Running,
    Handled,
}

/// `native-sequential`: every event on the calling thread, in `seq` order.
pub struct SequentialRun {
    events: Vec<Event>,
    states: Vec<u64>,
    counts: Vec<u64>,
    g: u64,
    phase: Phase,
}

impl SequentialRun {
    /// Setup: the records decoded and the per-key state made (validated by `Stream::new`).
    pub fn prepare(stream: &Stream<'_>) -> SequentialRun {
        SequentialRun {
            events: stream.events().collect(),
            states: zeroed_state(stream.n_keys()),
            counts: zeroed_state(stream.n_keys()),
            g: 0,
            phase: Phase::Prepared,
        }
    }

    /// The timed window: handles every event, writes its completion time, nothing more.
    pub fn run(
        &mut self,
        done: DoneSlots<'_>,
        t0_ns: u64,
        open_loop: bool,
        control: &Control,
    ) -> Result<(), EngineError> {
        if self.phase != Phase::Prepared {
            return Err(handled_already());
        }
        check_done(self.events.len(), done)?;
        self.phase = Phase::Running;
        let g = AtomicU64::new(0);
        let _precise = open_loop.then(PreciseSleep::new);
        let (cancel, fault) = (&*control.cancel, control.fault); // hoisted: read once per event, no more
        let (events, states, counts) = (&self.events, &mut self.states, &mut self.counts);
        let mut current = None;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            for e in events {
                if open_loop {
                    wait_until(t0_ns.saturating_add(e.arrival_ns), || control.cancelled());
                }
                if cancel.load(Relaxed) {
                    return Err(EngineError::Cancelled);
                }
                current = Some(e.seq);
                fault.check(e.seq);
                let k = e.key as usize;
                handle(e, &mut states[k], &mut counts[k], &g);
                done[e.seq as usize].store(now_ns(), Relaxed);
            }
            Ok(())
        }));
        match outcome {
            Ok(result) => result?,
            Err(panic) => return Err(EngineError::Handler(handler_failure(current, &panic))),
        }
        self.g = g.into_inner();
        self.phase = Phase::Handled;
        Ok(())
    }

    /// After the window: the digest of the final state (SPEC §3).
    pub fn digest(&self) -> Result<u64, EngineError> {
        if self.phase != Phase::Handled {
            return Err(not_handled());
        }
        Ok(digest(
            self.g,
            &self.states,
            &self.counts,
            self.events.len() as u64,
        ))
    }
}

/// Prepare, run and digest in one call (tests, fuzzing, benches: no window to keep apart).
pub fn run_sequential(
    stream: &Stream<'_>,
    done: DoneSlots<'_>,
    t0_ns: u64,
    open_loop: bool,
    control: &Control,
) -> Result<u64, EngineError> {
    let mut run = SequentialRun::prepare(stream);
    run.run(done, t0_ns, open_loop, control)?;
    run.digest()
}

/// `floor-native`: paces the stream exactly as `native-sequential` does (the same
/// `wait_until`, sleep then spin, with the same timer slack) and writes each `done_ns`,
/// handling nothing. Its latencies are what waiting alone costs the engine.
pub struct FloorRun {
    arrivals: Vec<u64>,
    phase: Phase,
}

impl FloorRun {
    pub fn prepare(stream: &Stream<'_>) -> FloorRun {
        FloorRun {
            arrivals: stream.events().map(|e| e.arrival_ns).collect(),
            phase: Phase::Prepared,
        }
    }

    pub fn run(
        &mut self,
        done: DoneSlots<'_>,
        t0_ns: u64,
        open_loop: bool,
        control: &Control,
    ) -> Result<(), EngineError> {
        if self.phase != Phase::Prepared {
            return Err(handled_already());
        }
        check_done(self.arrivals.len(), done)?;
        self.phase = Phase::Running;
        let _precise = open_loop.then(PreciseSleep::new);
        for (slot, &arrival) in done.iter().zip(&self.arrivals) {
            if open_loop {
                wait_until(t0_ns.saturating_add(arrival), || control.cancelled());
            }
            if control.cancelled() {
                return Err(EngineError::Cancelled);
            }
            slot.store(now_ns(), Relaxed);
        }
        self.phase = Phase::Handled;
        Ok(())
    }
}

/// What the workers of one pool share.
pub struct Shared<'a> {
    pub done: DoneSlots<'a>,
    pub g: AtomicU64,
    /// Set by the first failure; padded for the same reason as `Control`'s flag.
    failed: CachePadded<AtomicBool>,
    failure: Mutex<Option<String>>,
    pub control: Control,
}

impl<'a> Shared<'a> {
    pub fn new(done: DoneSlots<'a>, control: Control) -> Shared<'a> {
        Shared {
            done,
            g: AtomicU64::new(0),
            failed: CachePadded::new(AtomicBool::new(false)),
            failure: Mutex::new(None),
            control,
        }
    }

    pub fn fail(&self, message: String) {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        failure.get_or_insert(message);
        self.failed.store(true, Relaxed);
    }

    /// A worker failed or the caller cancelled: stop routing, stop handling.
    #[inline(always)]
    pub fn stopped(&self) -> bool {
        self.failed.load(Relaxed) || self.control.cancelled()
    }

    /// The run's error: the first failure, else the cancellation, else none.
    pub fn error(&self) -> Option<EngineError> {
        let failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        match failure.clone() {
            Some(message) => Some(EngineError::Handler(message)),
            None if self.control.cancelled() => Some(EngineError::Cancelled),
            None => None,
        }
    }
}

/// The keys worker `w` of `workers` owns: `w, w + workers, ...` below `n_keys`.
pub fn keys_owned(n_keys: usize, workers: usize, w: usize) -> usize {
    (n_keys + workers - 1 - w) / workers
}

/// A worker: handles batches until its channel closes, into its keys' `(s, c)`.
/// A panicking handler is caught here and recorded with its event; after a failure or a
/// cancellation the rest is drained unhandled (checked per event: a batch of `block`
/// events could otherwise hold a cancelled run for a minute).
pub fn worker_loop(
    inbox: Receiver<Vec<Event>>,
    recycle: Sender<Vec<Event>>,
    (states, counts): &mut Parts,
    workers: usize,
    shared: &Shared<'_>,
) {
    // Hoisted: the flags are read once per event, not looked up through `shared` each time.
    let (failed, cancel, fault) = (
        &*shared.failed,
        &*shared.control.cancel,
        shared.control.fault,
    );
    while let Ok(mut batch) = inbox.recv() {
        let mut current = None;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            for e in &batch {
                if failed.load(Relaxed) || cancel.load(Relaxed) {
                    break;
                }
                current = Some(e.seq);
                fault.check(e.seq);
                let local = e.key as usize / workers;
                handle(e, &mut states[local], &mut counts[local], &shared.g);
                shared.done[e.seq as usize].store(now_ns(), Relaxed);
            }
        }));
        if let Err(panic) = outcome {
            shared.fail(handler_failure(current, &panic));
        }
        batch.clear();
        let _ = recycle.send(batch); // the router may be gone already: nothing to return to
    }
}

/// One worker's keys' states and counts: key `k` at slot `k / workers` of worker `k % workers`.
pub type Parts = (Vec<u64>, Vec<u64>);

pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// The workers' results; a worker that died outside its handlers is recorded as a failure.
pub fn join_workers<T: Default>(
    results: impl Iterator<Item = std::thread::Result<T>>,
    shared: &Shared<'_>,
) -> Vec<T> {
    results
        .map(|joined| {
            joined.unwrap_or_else(|panic| {
                shared.fail(format!("a worker panicked: {}", panic_message(&panic)));
                T::default()
            })
        })
        .collect()
}

/// Sends events to their owners in batches, taking empty buffers from the recycle channel.
pub struct Router {
    outboxes: Vec<Sender<Vec<Event>>>,
    recycle: Receiver<Vec<Event>>,
    filling: Vec<Vec<Event>>,
    batch_events: usize,
}

/// A batch of events for one worker; its buffer goes back for reuse once handled.
pub type Batch = Vec<Event>;

/// The router stopped: a worker failed (its error is in `Shared`).
#[derive(Debug)]
pub struct Stopped;

impl Router {
    /// Channels and `workers * (CHANNEL_DEPTH + 2)` buffers: one being filled and one being
    /// handled per worker, plus full channels; enough that routing never allocates.
    pub fn new(
        workers: usize,
        batch_events: usize,
    ) -> (Router, Vec<Receiver<Batch>>, Sender<Batch>) {
        let (outboxes, inboxes): (Vec<_>, Vec<_>) =
            (0..workers).map(|_| bounded(CHANNEL_DEPTH)).unzip();
        let spare = workers * (CHANNEL_DEPTH + 1);
        let (recycle_tx, recycle_rx) = bounded(spare + workers);
        for _ in 0..spare {
            recycle_tx
                .send(Vec::with_capacity(batch_events))
                .expect("the recycle channel has room");
        }
        let filling = (0..workers)
            .map(|_| Vec::with_capacity(batch_events))
            .collect();
        (
            Router {
                outboxes,
                recycle: recycle_rx,
                filling,
                batch_events,
            },
            inboxes,
            recycle_tx,
        )
    }

    #[inline]
    pub fn push(&mut self, e: Event, shared: &Shared<'_>) -> Result<(), Stopped> {
        let w = e.key as usize % self.outboxes.len();
        self.filling[w].push(e);
        if self.filling[w].len() >= self.batch_events {
            self.send(w, shared)?;
        }
        Ok(())
    }

    fn send(&mut self, w: usize, shared: &Shared<'_>) -> Result<(), Stopped> {
        if shared.stopped() {
            return Err(Stopped);
        }
        let fresh = self.recycle.recv().map_err(|_| Stopped)?;
        let full = std::mem::replace(&mut self.filling[w], fresh);
        self.outboxes[w].send(full).map_err(|_| Stopped)
    }

    /// Sends every partly filled batch (before pacing waits, and at the end).
    pub fn flush(&mut self, shared: &Shared<'_>) -> Result<(), Stopped> {
        for w in 0..self.outboxes.len() {
            if !self.filling[w].is_empty() {
                self.send(w, shared)?;
            }
        }
        Ok(())
    }
}

/// Global `(s, c)` from the workers' own: key `k` lives at worker `k % W`, slot `k / W`.
pub fn merge(n_keys: usize, parts: &[Parts]) -> (Vec<u64>, Vec<u64>) {
    let workers = parts.len();
    let (mut states, mut counts) = (vec![0u64; n_keys], vec![0u64; n_keys]);
    for k in 0..n_keys {
        let (s, c) = &parts[k % workers];
        states[k] = s[k / workers];
        counts[k] = c[k / workers];
    }
    (states, counts)
}

pub fn check_pool(workers: usize, batch_events: usize) -> Result<(), EngineError> {
    if !(1..=1024).contains(&workers) {
        return Err(EngineError::Argument(format!(
            "workers must be in 1..1024, got {workers}"
        )));
    }
    if !(1..=1 << 20).contains(&batch_events) {
        return Err(EngineError::Argument(format!(
            "batch_events must be in 1..1048576, got {batch_events}"
        )));
    }
    Ok(())
}

/// `native`: a pool of `workers` threads; the calling thread paces and routes.
///
/// Prepared: the decoded events, every worker's share of the state, the channels and the
/// batch buffers. The worker threads start inside `run` (a scoped pool: they borrow the
/// state and `done_ns`) and are joined there, after the last event.
pub struct PoolRun {
    events: Vec<Event>,
    n_keys: usize,
    parts: Vec<Parts>,
    /// The router, the workers' inboxes and the recycle channel; the run consumes them.
    channels: Option<(Router, Vec<Receiver<Batch>>, Sender<Batch>)>,
    g: u64,
    phase: Phase,
}

impl PoolRun {
    pub fn prepare(
        stream: &Stream<'_>,
        workers: usize,
        batch_events: usize,
    ) -> Result<PoolRun, EngineError> {
        check_pool(workers, batch_events)?;
        let n_keys = stream.n_keys();
        let parts = (0..workers)
            .map(|w| {
                let owned = keys_owned(n_keys, workers, w);
                (zeroed_state(owned), zeroed_state(owned))
            })
            .collect();
        Ok(PoolRun {
            events: stream.events().collect(),
            n_keys,
            parts,
            channels: Some(Router::new(workers, batch_events)),
            g: 0,
            phase: Phase::Prepared,
        })
    }

    /// The timed window: starts the workers, routes every event, joins them.
    pub fn run(
        &mut self,
        done: DoneSlots<'_>,
        t0_ns: u64,
        open_loop: bool,
        control: &Control,
    ) -> Result<(), EngineError> {
        if self.phase != Phase::Prepared {
            return Err(handled_already());
        }
        check_done(self.events.len(), done)?;
        let (mut router, inboxes, recycle) = self.channels.take().ok_or_else(handled_already)?;
        self.phase = Phase::Running;
        let workers = self.parts.len();
        let shared = Shared::new(done, control.clone());
        let (events, parts) = (&self.events, &mut self.parts);
        std::thread::scope(|scope| {
            let handles: Vec<_> = inboxes
                .into_iter()
                .zip(parts.iter_mut())
                .map(|(inbox, part)| {
                    let (recycle, shared) = (recycle.clone(), &shared);
                    scope.spawn(move || worker_loop(inbox, recycle, part, workers, shared))
                })
                .collect();
            drop(recycle);
            let _ = route(events, &mut router, &shared, t0_ns, open_loop);
            drop(router); // closes the channels: workers finish what they hold and return
            join_workers(handles.into_iter().map(|h| h.join()), &shared);
        });
        if let Some(error) = shared.error() {
            return Err(error);
        }
        self.g = shared.g.load(Relaxed);
        self.phase = Phase::Handled;
        Ok(())
    }

    /// After the window: the digest of the final state (SPEC §3).
    pub fn digest(&self) -> Result<u64, EngineError> {
        if self.phase != Phase::Handled {
            return Err(not_handled());
        }
        let (states, counts) = merge(self.n_keys, &self.parts);
        Ok(digest(self.g, &states, &counts, self.events.len() as u64))
    }
}

/// Prepare, run and digest in one call (tests, fuzzing, benches: no window to keep apart).
pub fn run_pool(
    stream: &Stream<'_>,
    done: DoneSlots<'_>,
    t0_ns: u64,
    open_loop: bool,
    workers: usize,
    batch_events: usize,
    control: &Control,
) -> Result<u64, EngineError> {
    let mut run = PoolRun::prepare(stream, workers, batch_events)?;
    run.run(done, t0_ns, open_loop, control)?;
    run.digest()
}

/// Releases events to their owners at their intended arrival (open loop) or at once (closed).
/// While events are due, batches fill; before waiting for the next one, partial batches go out,
/// so an event never sits in a buffer while the router sleeps.
fn route(
    events: &[Event],
    router: &mut Router,
    shared: &Shared<'_>,
    t0_ns: u64,
    open_loop: bool,
) -> Result<(), Stopped> {
    let _precise = open_loop.then(PreciseSleep::new);
    for e in events {
        if open_loop {
            let due = t0_ns.saturating_add(e.arrival_ns);
            if now_ns() < due {
                router.flush(shared)?;
                wait_until(due, || shared.stopped());
            }
        }
        router.push(*e, shared)?;
    }
    router.flush(shared)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Event;

    fn records(events: &[Event]) -> Vec<u8> {
        events.iter().flat_map(|e| e.encode()).collect()
    }

    fn vector_stream() -> Vec<u8> {
        records(&[
            Event {
                seq: 0,
                arrival_ns: 0,
                value: 1,
                key: 0,
                kind: 0,
                flags: 0,
                work: 0,
            },
            Event {
                seq: 1,
                arrival_ns: 0,
                value: 2,
                key: 1,
                kind: 1,
                flags: 0,
                work: 3,
            },
            Event {
                seq: 2,
                arrival_ns: 1000,
                value: 3,
                key: 0,
                kind: 3,
                flags: 0,
                work: 0,
            },
            Event {
                seq: 3,
                arrival_ns: 2000,
                value: u64::MAX,
                key: 1,
                kind: 2,
                flags: 0,
                work: 5,
            },
        ])
    }

    fn slots(n: usize) -> Vec<AtomicU64> {
        (0..n).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn the_spec_vector_on_every_engine() {
        let bytes = vector_stream();
        let stream = Stream::new(&bytes, 2).unwrap();
        for open_loop in [false, true] {
            let done = slots(4);
            assert_eq!(
                run_sequential(&stream, &done, now_ns(), open_loop, &Control::default()),
                Ok(0x57a50588ef34124e)
            );
            for workers in 1..=5 {
                for batch in [1, 2, 4096] {
                    let done = slots(4);
                    let t0 = now_ns();
                    assert_eq!(
                        run_pool(
                            &stream,
                            &done,
                            t0,
                            open_loop,
                            workers,
                            batch,
                            &Control::default()
                        ),
                        Ok(0x57a50588ef34124e)
                    );
                    assert!(done.iter().all(|d| d.load(Relaxed) >= t0));
                }
            }
        }
    }

    #[test]
    fn an_empty_stream() {
        let stream = Stream::new(&[], 1).unwrap();
        assert_eq!(
            run_pool(&stream, &[], 0, false, 3, 16, &Control::default()),
            Ok(0x238275bc38fcbe91)
        );
        assert_eq!(
            run_sequential(&stream, &[], 0, false, &Control::default()),
            Ok(0x238275bc38fcbe91)
        );
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
        let bytes = records(&events);
        let stream = Stream::new(&bytes, 3).unwrap();
        let done = slots(50);
        let t0 = now_ns();
        run_pool(&stream, &done, t0, true, 2, 8, &Control::default()).unwrap();
        for e in &events {
            assert!(done[e.seq as usize].load(Relaxed) >= t0 + e.arrival_ns);
        }
    }

    #[test]
    fn bad_arguments_are_errors() {
        let bytes = vector_stream();
        let stream = Stream::new(&bytes, 2).unwrap();
        assert!(matches!(
            run_pool(&stream, &slots(3), 0, false, 2, 16, &Control::default()),
            Err(EngineError::Argument(_))
        ));
        assert!(matches!(
            run_pool(&stream, &slots(4), 0, false, 0, 16, &Control::default()),
            Err(EngineError::Argument(_))
        ));
        assert!(matches!(
            run_pool(&stream, &slots(4), 0, false, 2, 0, &Control::default()),
            Err(EngineError::Argument(_))
        ));
        assert!(matches!(
            Stream::new(&bytes, 1),
            Err(EngineError::Invalid(_))
        ));
        assert!(matches!(
            Stream::new(&bytes[..31], 2),
            Err(EngineError::Invalid(_))
        ));
    }

    #[test]
    fn a_panicking_handler_is_caught_and_reported() {
        // Key 5 for a worker that owns one key: the handler indexes past its state and panics.
        let done = slots(1);
        let shared = Shared::new(&done, Control::default());
        let (inbox_tx, inbox) = bounded(1);
        let (recycle, returned) = bounded(2);
        let bad = Event {
            key: 5,
            ..Default::default()
        };
        inbox_tx.send(vec![bad]).unwrap();
        drop(inbox_tx);
        let mut part = (vec![0u64], vec![0u64]);
        worker_loop(inbox, recycle, &mut part, 1, &shared);
        assert_eq!(part.0, vec![0]);
        assert!(
            returned.try_recv().is_ok(),
            "the batch's buffer is returned even after a panic"
        );
        match shared.error() {
            Some(EngineError::Handler(message)) => {
                assert!(message.starts_with("handling event 0 failed: the handler panicked"))
            }
            other => panic!("expected a handler failure, got {other:?}"),
        }
    }

    fn block_events(n: u64, keys: u32) -> Vec<u8> {
        let events: Vec<Event> = (0..n)
            .map(|i| Event {
                seq: i,
                key: (i % keys as u64) as u32,
                kind: BLOCK,
                work: 2_000, // 2 ms each: uncancelled, the run would take n * 2 ms / workers
                ..Default::default()
            })
            .collect();
        records(&events)
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
    fn a_cancelled_run_stops_and_joins_its_workers() {
        // 4,000 events of 2 ms: 4 s on two workers; cancelled after 50 ms it must end long before.
        let bytes = block_events(4_000, 8);
        let stream = Stream::new(&bytes, 8).unwrap();
        let done = slots(4_000);
        let pool = |c: &Control| run_pool(&stream, &done, now_ns(), false, 2, 1024, c);
        let (result, took) = cancelled_run(pool, Duration::from_millis(50));
        assert_eq!(result, Err(EngineError::Cancelled));
        assert!(took < Duration::from_secs(3), "took {took:?}");
        let sequential = |c: &Control| run_sequential(&stream, &done, now_ns(), false, c);
        let (result, took) = cancelled_run(sequential, Duration::from_millis(50));
        assert_eq!(result, Err(EngineError::Cancelled));
        assert!(took < Duration::from_secs(3), "took {took:?}");
        // Open loop: the router is asleep until an arrival an hour away; cancelling wakes it.
        let far = records(&[Event {
            arrival_ns: 3_600_000_000_000,
            ..Default::default()
        }]);
        let stream = Stream::new(&far, 1).unwrap();
        let paced = |c: &Control| run_pool(&stream, &done, now_ns(), true, 2, 16, c);
        let (result, took) = cancelled_run(paced, Duration::from_millis(50));
        assert_eq!(result, Err(EngineError::Cancelled));
        assert!(took < Duration::from_secs(3), "took {took:?}");
    }

    #[test]
    fn cancelling_is_sticky() {
        let control = Control::default();
        control.cancel();
        let bytes = vector_stream();
        let stream = Stream::new(&bytes, 2).unwrap();
        let done = slots(4);
        assert_eq!(
            run_pool(&stream, &done, 0, false, 2, 16, &control),
            Err(EngineError::Cancelled)
        );
        assert_eq!(
            run_sequential(&stream, &done, 0, false, &control),
            Err(EngineError::Cancelled)
        );
    }

    #[test]
    fn keys_are_split_exactly() {
        for n in 1..40 {
            for w in 1..7 {
                assert_eq!((0..w).map(|i| keys_owned(n, w, i)).sum::<usize>(), n);
            }
        }
    }
}
