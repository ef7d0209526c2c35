//! The `native` pool: worker threads that start with their engine and serve every run until
//! it is freed.
//!
//! Each key belongs to one worker (`partition.rs`), so each worker owns its keys' state and
//! per-key order holds without a lock. A run hands each worker its keys' state (`begin`), gives it
//! events, and takes the state back (`end`); no thread is started or joined inside a run.
//!
//! Events reach workers in one of two ways:
//! - **A prepared stream** (`scan`): every worker reads the whole stream in place and handles
//!   its own keys' events, pacing them itself in open loop. Nothing is copied or handed over,
//!   and no thread waits on another until the end. A router thread in front of the workers
//!   would be one more thread than there are workers: on a machine with as many cores as
//!   workers it takes a worker's core whenever it runs, and each hand-over wakes a sleeping
//!   thread, which a virtual machine makes slow.
//! - **A streaming session** (`push`, `flush`), whose records arrive in pieces from the caller:
//!   batches by key through one bounded channel per worker. Batch buffers come back through a
//!   recycle channel, so a warm pool allocates nothing per event.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};
use crossbeam_utils::CachePadded;

use crate::abi::{EVB_MAX_BATCH_EVENTS, EVB_MAX_WORKERS};
use crate::partition::Partition;
use crate::run::{
    handler_failure, now_ns, wait_io, wait_until, Control, EngineError, PreciseSleep,
};
use crate::scenario::{u32_at, u64_at, Scenario};
use crate::stream::Stream;

/// Batches a channel holds per worker before a session's `push` waits (back-pressure).
pub const CHANNEL_DEPTH: usize = 4;

/// The caller's `done_ns`, one slot per event: workers write distinct slots concurrently;
/// and, where the caller records them, its `start_ns` (null: none), as many slots.
#[derive(Clone, Copy)]
pub struct Done {
    ptr: *const AtomicU64,
    start: *const AtomicU64,
    len: usize,
}

// SAFETY: only atomics are written through it, and whoever makes a `Done` keeps the slots
// alive until every worker that holds it has acknowledged the end of its run.
unsafe impl Send for Done {}
unsafe impl Sync for Done {}

impl Done {
    pub fn new(slots: &[AtomicU64]) -> Done {
        Done::with_starts(slots, None)
    }

    /// `start`, where given, has at least as many slots as `slots` (the caller checked).
    pub fn with_starts(slots: &[AtomicU64], start: Option<&[AtomicU64]>) -> Done {
        debug_assert!(start.map_or(true, |s| s.len() >= slots.len()));
        Done {
            ptr: slots.as_ptr(),
            start: start.map_or(std::ptr::null(), <[AtomicU64]>::as_ptr),
            len: slots.len(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Records that event `seq` finished now; a `seq` out of range panics (the handler's
    /// failure, reported with its event), it never writes outside the slots.
    /// Returns the time written: the next event's start on this worker when nothing is
    /// waited for in between (`run::Starts`).
    #[inline(always)]
    pub fn finish(&self, seq: u64) -> u64 {
        let i = seq as usize;
        assert!(i < self.len, "seq {seq} has no done_ns slot");
        let now = now_ns();
        // SAFETY: in bounds (checked), and the slots outlive the run (`Done`'s contract).
        unsafe { (*self.ptr.add(i)).store(now, Relaxed) };
        now
    }

    /// Records that event `seq`'s handling began at `now`, where starts are recorded; a `seq`
    /// out of range panics, as in `finish`.
    #[inline(always)]
    pub fn begin(&self, seq: u64, now: u64) {
        if self.start.is_null() {
            return;
        }
        let i = seq as usize;
        assert!(i < self.len, "seq {seq} has no start_ns slot");
        // SAFETY: in bounds (checked: `start` has `len` slots), and they outlive the run.
        unsafe { (*self.start.add(i)).store(now, Relaxed) };
    }
}

/// What the workers of one run share: where completion times go, the scenario's shared
/// state, and how the run stops.
pub struct RunShared<S: Scenario> {
    pub done: Done,
    pub shared: S::Shared,
    /// Which worker owns which key, and at which slot.
    pub partition: Partition,
    /// Set by the first failure; padded so that workers reading it per event do not share a
    /// cache line with state they write.
    failed: CachePadded<AtomicBool>,
    failure: Mutex<Option<String>>,
    pub control: Control,
}

impl<S: Scenario> RunShared<S> {
    pub fn new(
        done: Done,
        shared: S::Shared,
        partition: Partition,
        control: Control,
    ) -> RunShared<S> {
        RunShared {
            done,
            shared,
            partition,
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

enum Message<S: Scenario> {
    /// A run starts: the worker's keys' state, and what the run shares.
    Begin(S::Keys, Arc<RunShared<S>>),
    Batch(Vec<S::Event>),
    /// Handle this worker's events of a whole prepared stream, read in place.
    Scan(Scan<S>),
    /// The run's events were all given: give the keys' state back.
    End,
}

/// A prepared stream for every worker to read: when it started (`t0_ns`) and whether to pace
/// its events (open loop).
pub struct Scan<S: Scenario> {
    pub stream: Arc<Stream<S>>,
    pub t0_ns: u64,
    pub open_loop: bool,
}

/// Routing stopped: a worker failed (its error is in `RunShared`), or the run was cancelled.
#[derive(Debug)]
pub struct Stopped;

pub fn check_workers(workers: usize) -> Result<(), EngineError> {
    if !(1..=EVB_MAX_WORKERS as usize).contains(&workers) {
        return Err(EngineError::Argument(format!(
            "workers must be in 1..{EVB_MAX_WORKERS}, got {workers}"
        )));
    }
    Ok(())
}

pub fn check_pool(workers: usize, batch_events: usize) -> Result<(), EngineError> {
    check_workers(workers)?;
    if !(1..=EVB_MAX_BATCH_EVENTS as usize).contains(&batch_events) {
        return Err(EngineError::Argument(format!(
            "batch_events must be in 1..{EVB_MAX_BATCH_EVENTS}, got {batch_events}"
        )));
    }
    Ok(())
}

pub struct Pool<S: Scenario> {
    inboxes: Vec<Sender<Message<S>>>,
    threads: Vec<JoinHandle<()>>,
    acks: Receiver<(usize, Option<S::Keys>)>,
    recycle: Receiver<Vec<S::Event>>,
    filling: Vec<Vec<S::Event>>,
    batch_events: usize,
    in_run: bool,
}

impl<S: Scenario> Pool<S> {
    /// Starts `workers` threads for runs of prepared streams (`scan`): no batch buffers.
    pub fn start(workers: usize) -> Result<Pool<S>, EngineError> {
        check_workers(workers)?;
        Pool::launch(workers, 0)
    }

    /// Starts `workers` threads, and makes the channels and `workers * (CHANNEL_DEPTH + 2)`
    /// buffers of `batch_events` events for `push` (one being filled and one being handled per
    /// worker, plus full channels): enough that routing never allocates. A streaming session's.
    pub fn start_batched(workers: usize, batch_events: usize) -> Result<Pool<S>, EngineError> {
        check_pool(workers, batch_events)?;
        Pool::launch(workers, batch_events)
    }

    fn launch(workers: usize, batch_events: usize) -> Result<Pool<S>, EngineError> {
        let spare = match batch_events {
            0 => 0,
            _ => workers * (CHANNEL_DEPTH + 1),
        };
        let (recycle_tx, recycle) = bounded(workers * (CHANNEL_DEPTH + 2));
        for _ in 0..spare {
            recycle_tx
                .send(Vec::with_capacity(batch_events))
                .expect("the recycle channel has room");
        }
        let (acks_tx, acks) = bounded(workers);
        let mut pool = Pool {
            inboxes: Vec::with_capacity(workers),
            threads: Vec::with_capacity(workers),
            acks,
            recycle,
            filling: (0..workers)
                .map(|_| Vec::with_capacity(batch_events))
                .collect(),
            batch_events,
            in_run: false,
        };
        for w in 0..workers {
            let (inbox_tx, inbox) = bounded(CHANNEL_DEPTH);
            let (recycle_tx, acks_tx) = (recycle_tx.clone(), acks_tx.clone());
            let thread = std::thread::Builder::new()
                .name(format!("evb-worker-{w}"))
                .spawn(move || serve::<S>(w, inbox, recycle_tx, acks_tx))
                .map_err(|e| {
                    EngineError::Resource(format!("could not start a worker thread: {e}"))
                })?; // `pool` drops here: the workers started so far are stopped and joined
            pool.inboxes.push(inbox_tx);
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    pub fn workers(&self) -> usize {
        self.inboxes.len()
    }

    /// Starts a run: each worker takes its keys' state (`parts[w]`) and the run's shared part.
    /// Until `end`, the workers hold the run: `end` (or dropping the pool) must come before
    /// the run's `done_ns` goes.
    pub fn begin(&mut self, parts: Vec<S::Keys>, run: &Arc<RunShared<S>>) {
        debug_assert_eq!(parts.len(), self.workers());
        if self.in_run {
            self.end();
        }
        for (inbox, keys) in self.inboxes.iter().zip(parts) {
            inbox
                .send(Message::Begin(keys, Arc::clone(run)))
                .expect("a worker lives as long as its pool");
        }
        self.in_run = true;
    }

    pub fn in_run(&self) -> bool {
        self.in_run
    }

    /// Gives every worker the whole stream, to handle its own keys' events (after `begin`).
    pub fn scan(&mut self, stream: &Arc<Stream<S>>, t0_ns: u64, open_loop: bool) {
        debug_assert!(self.in_run);
        for inbox in &self.inboxes {
            let scan = Scan {
                stream: Arc::clone(stream),
                t0_ns,
                open_loop,
            };
            inbox
                .send(Message::Scan(scan))
                .expect("a worker lives as long as its pool");
        }
    }

    /// Routes one event (a pool from `start_batched`; `start`'s has no buffers to route into).
    #[inline]
    pub fn push(&mut self, e: S::Event, run: &RunShared<S>) -> Result<(), Stopped> {
        assert!(
            self.batch_events > 0,
            "this pool was started for scans only"
        );
        let w = run.partition.owner(S::key(&e));
        self.filling[w].push(e);
        if self.filling[w].len() >= self.batch_events {
            self.send(w, run)?;
        }
        Ok(())
    }

    /// Sends every partly filled batch (before pacing waits, and at the end).
    pub fn flush(&mut self, run: &RunShared<S>) -> Result<(), Stopped> {
        for w in 0..self.inboxes.len() {
            if !self.filling[w].is_empty() {
                self.send(w, run)?;
            }
        }
        Ok(())
    }

    fn send(&mut self, w: usize, run: &RunShared<S>) -> Result<(), Stopped> {
        if run.stopped() {
            return Err(Stopped);
        }
        let fresh = self.recycle.recv().map_err(|_| Stopped)?;
        let full = std::mem::replace(&mut self.filling[w], fresh);
        self.inboxes[w]
            .send(Message::Batch(full))
            .map_err(|_| Stopped)
    }

    /// Ends the run: every worker finishes (or, stopped, drains) what it holds and gives its
    /// keys' state back, in worker order (`None` for a worker that had none). When this
    /// returns, no worker holds the run.
    pub fn end(&mut self) -> Vec<Option<S::Keys>> {
        self.in_run = false;
        for filling in &mut self.filling {
            filling.clear(); // left over only when the run stopped early
        }
        for inbox in &self.inboxes {
            inbox
                .send(Message::End)
                .expect("a worker lives as long as its pool");
        }
        let mut parts: Vec<Option<S::Keys>> = (0..self.workers()).map(|_| None).collect();
        for _ in 0..self.workers() {
            let (w, keys) = self
                .acks
                .recv()
                .expect("a worker lives as long as its pool");
            parts[w] = keys;
        }
        parts
    }
}

impl<S: Scenario> Drop for Pool<S> {
    /// Ends a run in progress, then closes every inbox and joins the workers.
    fn drop(&mut self) {
        if self.in_run {
            self.end();
        }
        self.inboxes.clear();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// A worker: handles the batches of one run after another until its pool closes its inbox.
/// Nothing here can unwind: a handler's panic is caught per batch and recorded with its event,
/// so every run's `End` is acknowledged.
fn serve<S: Scenario>(
    w: usize,
    inbox: Receiver<Message<S>>,
    recycle: Sender<Vec<S::Event>>,
    acks: Sender<(usize, Option<S::Keys>)>,
) {
    let mut current: Option<(S::Keys, Arc<RunShared<S>>)> = None;
    while let Ok(message) = inbox.recv() {
        match message {
            Message::Begin(keys, run) => current = Some((keys, run)),
            Message::Scan(scan) => {
                if let Some((keys, run)) = &mut current {
                    handle_scan::<S>(&scan, keys, w, run);
                }
            }
            Message::Batch(mut batch) => {
                if let Some((keys, run)) = &mut current {
                    handle_batch::<S>(&batch, keys, run);
                }
                batch.clear();
                let _ = recycle.send(batch); // the pool may be gone already: nothing to return to
            }
            Message::End => {
                // The run's `Arc` goes before the state does, so the run's owner holds the last one.
                let keys = current.take().map(|(keys, _run)| keys);
                let _ = acks.send((w, keys));
            }
        }
    }
}

/// One batch. After a failure or a cancellation the rest is drained unhandled (checked per
/// event: a batch of events that wait for I/O could otherwise hold a cancelled run for long).
#[inline]
fn handle_batch<S: Scenario>(batch: &[S::Event], keys: &mut S::Keys, run: &RunShared<S>) {
    let mut current = None;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut now = now_ns(); // taken from the channel: the batch's first event starts
        for e in batch {
            if run.stopped() {
                break;
            }
            let seq = S::seq(e);
            current = Some(seq);
            now = handle_one::<S>(e, seq, now, keys, run.partition.slot(S::key(e)), run);
        }
    }));
    if let Err(panic) = outcome {
        run.fail(handler_failure(current, &panic));
    }
}

/// Worker `w`'s events of a whole stream, in order: the others' are skipped by their key alone.
/// In open loop each waits for its intended arrival here. Stops as `handle_batch` does.
fn handle_scan<S: Scenario>(scan: &Scan<S>, keys: &mut S::Keys, w: usize, run: &RunShared<S>) {
    let partition = &run.partition;
    if partition.owned(scan.stream.n_keys(), w) == 0 {
        return; // more workers than keys: nothing here is this worker's
    }
    let _precise = scan.open_loop.then(PreciseSleep::new);
    let mut current = None;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let records = scan.stream.records().chunks_exact(S::RECORD_SIZE);
        // The start of this worker's next event when it is due already: the clock read of its
        // previous completion (`run::Starts`; the records skipped since count as service).
        let mut now = now_ns();
        for (seq, record) in (0u64..).zip(records) {
            let key = u32_at(record, S::KEY_AT);
            if partition.owner(key) != w {
                // A stop is seen within SCAN_STOP_CHECK records even by a worker whose own
                // events are rare or over: a cancel then ends the run promptly.
                if seq % SCAN_STOP_CHECK == 0 && run.stopped() {
                    break;
                }
                continue;
            }
            if scan.open_loop {
                let due = scan.t0_ns.saturating_add(u64_at(record, S::ARRIVAL_AT));
                if now < due {
                    now = wait_until(due, || run.stopped());
                }
            }
            if run.stopped() {
                break;
            }
            current = Some(seq); // a validated stream's record i is event i
            now = handle_one::<S>(&S::decode(record), seq, now, keys, partition.slot(key), run);
        }
    }));
    if let Err(panic) = outcome {
        run.fail(handler_failure(current, &panic));
    }
}

/// How many records a scanning worker skips between two looks at the stop flag.
const SCAN_STOP_CHECK: u64 = 4096;

/// One event on a worker: the fault switch, its start (`now`), the handler, its I/O wait, its
/// completion time, which it returns.
#[inline(always)]
fn handle_one<S: Scenario>(
    e: &S::Event,
    seq: u64,
    now: u64,
    keys: &mut S::Keys,
    slot: usize,
    run: &RunShared<S>,
) -> u64 {
    run.control.fault.check(seq);
    run.done.begin(seq, now);
    let io_us = S::handle(e, keys, slot, &run.shared);
    if io_us != 0 {
        wait_io(io_us);
    }
    run.done.finish(seq)
}
