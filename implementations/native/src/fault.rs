//! The test-only fault switch: with the `fault-injection` feature, the handler of one
//! chosen event panics, so tests can prove that a failing worker ends its run cleanly
//! (a clear error naming the event, every thread joined, nothing hung).
//!
//! Normal builds compile none of it: there `Fault` is an empty type whose `check`
//! does nothing, and `EVENTBENCH_FAULT_AT` is never read.

/// `EVENTBENCH_FAULT_AT=<contender>:<seq>`, the same switch the Python contenders read.
pub const ENV: &str = "EVENTBENCH_FAULT_AT";

#[derive(Clone, Copy, Debug, Default)]
pub struct Fault {
    #[cfg(feature = "fault-injection")]
    seq: Option<u64>,
}

impl Fault {
    /// The fault armed for `contender` (`native`, `native-sequential`); read once per run.
    pub fn armed(contender: &str) -> Fault {
        #[cfg(feature = "fault-injection")]
        {
            let seq = std::env::var(ENV).ok().and_then(|value| {
                let (name, seq) = value.split_once(':')?;
                if name == contender {
                    seq.trim().parse().ok()
                } else {
                    None
                }
            });
            Fault { seq }
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            let _ = contender;
            Fault {}
        }
    }

    /// Panics when `seq` is the armed event (never, in a normal build).
    #[inline(always)]
    pub fn check(&self, seq: u64) {
        #[cfg(feature = "fault-injection")]
        if self.seq == Some(seq) {
            panic!("fault injected at event {seq} by the test-only switch {ENV}");
        }
        #[cfg(not(feature = "fault-injection"))]
        let _ = seq;
    }

    /// Whether this library was built with the switch (`evb_fault_injection_built`).
    pub const BUILT: bool = cfg!(feature = "fault-injection");
}

#[cfg(all(test, feature = "fault-injection"))]
mod tests {
    use super::*;
    use crate::engine::{run_pool, run_sequential, Control, EngineError, Stream};
    use crate::spec::Event;
    use std::sync::atomic::AtomicU64;

    fn stream_bytes(n: u64) -> Vec<u8> {
        (0..n)
            .flat_map(|i| {
                Event {
                    seq: i,
                    key: (i % 5) as u32,
                    kind: 1,
                    work: 10,
                    ..Default::default()
                }
                .encode()
            })
            .collect()
    }

    #[test]
    fn an_armed_fault_fails_the_run_naming_its_event() {
        let bytes = stream_bytes(5_000);
        let stream = Stream::new(&bytes, 5).unwrap();
        let done: Vec<AtomicU64> = (0..5_000).map(|_| AtomicU64::new(0)).collect();
        let armed = Fault { seq: Some(4_321) };
        let control = Control::with_fault(armed);
        let expected =
            "handling event 4321 failed: the handler panicked: fault injected at event 4321";
        for workers in [1, 3] {
            match run_pool(&stream, &done, 0, false, workers, 64, &control) {
                Err(EngineError::Handler(message)) => assert!(message.starts_with(expected)),
                other => panic!("expected the injected failure, got {other:?}"),
            }
        }
        match run_sequential(&stream, &done, 0, false, &control) {
            Err(EngineError::Handler(message)) => assert!(message.starts_with(expected)),
            other => panic!("expected the injected failure, got {other:?}"),
        }
        let unarmed = Control::default();
        assert!(run_pool(&stream, &done, 0, false, 3, 64, &unarmed).is_ok());
    }
}
