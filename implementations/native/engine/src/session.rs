//! The streaming session: a pool that a producer feeds batch by batch, the way an
//! application would (`open`, `submit` as often as needed, `close`).
//!
//! Events are handled as they are submitted (the producer is the clock); each batch is
//! validated as a continuation of the stream before any of it is routed. A session is one
//! run on a pool of its own: it begins at `open` and ends at `close`.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::partition::Partition;
use crate::pool::{Done, Pool, RunShared};
use crate::run::{Control, EngineError};
use crate::scenario::{digest, u64_at, Scenario};
use crate::stream::{check_n_keys, validate};

pub struct Session<S: Scenario> {
    n_keys: u32,
    submitted: u64,
    last_arrival: Option<u64>,
    run: Arc<RunShared<S>>,
    /// Its one run lasts from `open` to `close` (or `shutdown`).
    pool: Pool<S>,
}

impl<S: Scenario> Session<S> {
    /// Starts `workers` threads that write completion times into `done`, which must outlive
    /// the session (the FFI layer's caller guarantees it). `control` can cancel the session
    /// from another thread, even while a `submit` holds it.
    pub fn open(
        n_keys: u32,
        workers: usize,
        batch_events: usize,
        done: &'static [AtomicU64],
        control: Control,
    ) -> Result<Session<S>, EngineError> {
        check_n_keys(n_keys as u64)?;
        let mut pool = Pool::<S>::start_batched(workers, batch_events)?;
        // The keys' counts are not known ahead: key % workers.
        let partition = Partition::modulo(workers);
        let parts = (0..workers)
            .map(|w| S::new_keys(partition.owned(n_keys as usize, w)))
            .collect();
        let run = Arc::new(RunShared::new(
            Done::new(done),
            S::new_shared(),
            partition,
            control,
        ));
        pool.begin(parts, &run);
        Ok(Session {
            n_keys,
            submitted: 0,
            last_arrival: None,
            run,
            pool,
        })
    }

    /// Validates `records` as the stream's next events, then routes all of them.
    pub fn submit(&mut self, records: &[u8]) -> Result<(), EngineError> {
        if !self.pool.in_run() {
            return Err(EngineError::Argument("the session is closed".into()));
        }
        validate::<S>(records, self.n_keys, self.submitted, self.last_arrival)?;
        let count = (records.len() / S::RECORD_SIZE) as u64;
        if self.submitted + count > self.run.done.len() as u64 {
            return Err(EngineError::Argument(format!(
                "done_ns has room for {} events; this batch would make {}",
                self.run.done.len(),
                self.submitted + count
            )));
        }
        for record in records.chunks_exact(S::RECORD_SIZE) {
            if self.pool.push(S::decode(record), &self.run).is_err() {
                break;
            }
            self.last_arrival = Some(u64_at(record, S::ARRIVAL_AT));
        }
        self.submitted += count;
        let _ = self.pool.flush(&self.run);
        match self.run.error() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Waits for every submitted event, stops the workers, returns the digest.
    pub fn close(&mut self) -> Result<u64, EngineError> {
        if !self.pool.in_run() {
            return Err(EngineError::Argument(
                "the session is closed already".into(),
            ));
        }
        let parts = self.pool.end();
        if let Some(error) = self.run.error() {
            return Err(error);
        }
        if parts.iter().any(Option::is_none) {
            return Err(EngineError::Handler("a worker lost its keys' state".into()));
        }
        let parts: Vec<S::Keys> = parts.into_iter().flatten().collect();
        let (n_events, n_keys) = (self.submitted, self.n_keys as usize);
        let (partition, shared) = (&self.run.partition, &self.run.shared);
        Ok(digest::<S, _>(n_events, n_keys, &parts, partition, shared))
    }

    /// Stops routing and ends the run: after this, nothing writes into `done`. Events still
    /// queued are drained unhandled, so this returns promptly. Idempotent; `Drop` and
    /// `free` do it always (after `close`, nothing is left to stop).
    pub fn shutdown(&mut self) {
        self.run.control.cancel();
        if self.pool.in_run() {
            self.pool.end();
        }
    }
}

impl<S: Scenario> Drop for Session<S> {
    /// A session dropped without `close` still stops its workers (the pool then joins them).
    fn drop(&mut self) {
        self.shutdown();
    }
}
