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
    /// The fault armed for `contender` (`native`, `native-sequential`); read once per engine.
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
