//! The streaming session: a running pool that a producer feeds batch by batch,
//! the way an application would (`open`, `submit` as often as needed, `close`).
//!
//! Events are handled as they are submitted (the producer is the clock); each
//! batch is validated as a continuation of the stream before any of it is routed.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::engine::{
    check_pool, join_workers, keys_owned, merge, worker_loop, zeroed_state, Control, EngineError,
    Parts, Router, Shared,
};
use crate::spec::{check_n_keys, digest, validate_records, Event, RECORD_SIZE};

pub struct Session {
    n_keys: u32,
    submitted: u64,
    last_arrival: Option<u64>,
    shared: Arc<Shared<'static>>,
    router: Option<Router>,
    workers: Vec<JoinHandle<Parts>>,
}

impl Session {
    /// Starts `workers` threads that write completion times into `done`, which must
    /// outlive the session (the FFI layer's caller guarantees it). `control` can cancel
    /// the session from another thread, even while a `submit` holds it.
    pub fn open(
        n_keys: u32,
        workers: usize,
        batch_events: usize,
        done: &'static [AtomicU64],
        control: Control,
    ) -> Result<Session, EngineError> {
        check_n_keys(n_keys as u64).map_err(EngineError::Invalid)?;
        check_pool(workers, batch_events)?;
        let shared = Arc::new(Shared::new(done, control));
        let (router, inboxes, recycle) = Router::new(workers, batch_events);
        let threads = inboxes
            .into_iter()
            .enumerate()
            .map(|(w, inbox)| {
                let (recycle, shared) = (recycle.clone(), Arc::clone(&shared));
                let owned = keys_owned(n_keys as usize, workers, w);
                std::thread::Builder::new()
                    .name(format!("evb-session-{w}"))
                    .spawn(move || {
                        let mut part = (zeroed_state(owned), zeroed_state(owned));
                        worker_loop(inbox, recycle, &mut part, workers, &shared);
                        part
                    })
                    .map_err(|e| {
                        EngineError::Resource(format!("could not start a worker thread: {e}"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Session {
            n_keys,
            submitted: 0,
            last_arrival: None,
            shared,
            router: Some(router),
            workers: threads,
        })
    }

    /// Validates `records` as the stream's next events, then routes all of them.
    pub fn submit(&mut self, records: &[u8]) -> Result<(), EngineError> {
        let router = self
            .router
            .as_mut()
            .ok_or_else(|| EngineError::Argument("the session is closed".into()))?;
        validate_records(records, self.n_keys, self.submitted, self.last_arrival)
            .map_err(EngineError::Invalid)?;
        let count = (records.len() / RECORD_SIZE) as u64;
        if self.submitted + count > self.shared.done.len() as u64 {
            return Err(EngineError::Argument(format!(
                "done_ns has room for {} events; this batch would make {}",
                self.shared.done.len(),
                self.submitted + count
            )));
        }
        for record in records.chunks_exact(RECORD_SIZE) {
            let e = Event::decode(record);
            if router.push(e, &self.shared).is_err() {
                break;
            }
            self.last_arrival = Some(e.arrival_ns);
        }
        self.submitted += count;
        let _ = router.flush(&self.shared);
        match self.shared.error() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Waits for every submitted event, stops the workers, returns the digest.
    pub fn close(&mut self) -> Result<u64, EngineError> {
        if self.router.take().is_none() {
            return Err(EngineError::Argument(
                "the session is closed already".into(),
            ));
        }
        let parts = join_workers(self.workers.drain(..).map(|h| h.join()), &self.shared);
        if let Some(error) = self.shared.error() {
            return Err(error);
        }
        let (states, counts) = merge(self.n_keys as usize, &parts);
        Ok(digest(
            self.shared.g.load(Relaxed),
            &states,
            &counts,
            self.submitted,
        ))
    }

    /// Stops routing and joins every worker: after this, nothing writes into `done`.
    /// Events still queued are dropped unhandled, so this returns promptly.
    /// Idempotent; `Drop` and `free` do it always (after `close`, nothing is left to drop).
    pub fn shutdown(&mut self) {
        self.shared.control.cancel();
        self.router.take();
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Drop for Session {
    /// A session dropped without `close` still stops and joins its threads.
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Statics, not leaked boxes: valgrind's leak check stays clean.
    static DONE_4: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
    static DONE_1: [AtomicU64; 1] = [const { AtomicU64::new(0) }; 1];

    fn event(seq: u64, key: u32, kind: u8, value: u64, work: u16, arrival_ns: u64) -> Vec<u8> {
        Event {
            seq,
            arrival_ns,
            value,
            key,
            kind,
            flags: 0,
            work,
        }
        .encode()
        .to_vec()
    }

    #[test]
    fn batches_continue_the_stream() {
        let done = &DONE_4;
        let mut session = Session::open(2, 2, 2, done, Control::default()).unwrap();
        session
            .submit(&[event(0, 0, 0, 1, 0, 0), event(1, 1, 1, 2, 3, 0)].concat())
            .unwrap();
        session.submit(&[]).unwrap();
        session
            .submit(
                &[
                    event(2, 0, 3, 3, 0, 1000),
                    event(3, 1, 2, u64::MAX, 5, 2000),
                ]
                .concat(),
            )
            .unwrap();
        assert_eq!(session.close(), Ok(0x57a50588ef34124e));
        assert!(done.iter().all(|d| d.load(Relaxed) > 0));
    }

    #[test]
    fn misuse_is_an_error() {
        let mut session = Session::open(2, 1, 8, &DONE_1, Control::default()).unwrap();
        let err = session.submit(&event(5, 0, 0, 1, 0, 0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "record 0: seq is 5, must equal the record index 0"
        );
        assert!(session
            .submit(&[event(0, 0, 0, 1, 0, 0), event(1, 0, 0, 1, 0, 0)].concat())
            .is_err());
        session.submit(&event(0, 0, 0, 1, 0, 9)).unwrap();
        let err = session.submit(&event(1, 0, 0, 1, 0, 3)).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("record 1: arrival_ns 3 is before"));
        assert!(session.close().is_ok());
        assert!(session.close().is_err());
        assert!(session.submit(&event(1, 0, 0, 1, 0, 9)).is_err());
    }
}
