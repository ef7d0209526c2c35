//! The jitter probe: what the platform alone does to any latency figure.
//!
//! One thread does nothing but read `CLOCK_MONOTONIC` in a tight loop for a given time and
//! records the gap between consecutive reads, as `cyclictest` measures wake-up latency: a gap
//! far above the clock's own cost is time the thread was not running (preempted, an interrupt,
//! a page fault, the hypervisor). The thread is the library's, so no interpreter stands
//! between two reads.

use hdrhistogram::Histogram;

use crate::run::{now_ns, Control, EngineError};

/// The longest probe: an hour (a typo, not a measurement, beyond that).
pub const MAX_DURATION_NS: u64 = 3_600_000_000_000;
/// Gaps are kept from 1 ns up to this (a minute) at 3 significant digits; a longer gap is
/// recorded as this.
const HIGHEST_GAP_NS: u64 = 60_000_000_000;
/// Reads between two looks at the cancel flag (about 25 µs of reading).
const READS_PER_CANCEL_CHECK: u64 = 1024;

/// What one probe saw. Percentiles are HdrHistogram's (within 0.1 %); counts are exact.
/// `repr(C)`: it is the C ABI's `evb_jitter_summary`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterSummary {
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

/// Reads the clock on a thread of its own for `duration_ns`; `control` cancels it.
pub fn probe(duration_ns: u64, control: &Control) -> Result<JitterSummary, EngineError> {
    if !(1..=MAX_DURATION_NS).contains(&duration_ns) {
        return Err(EngineError::Argument(format!(
            "duration_ns must be in 1..{MAX_DURATION_NS}, got {duration_ns}"
        )));
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, HIGHEST_GAP_NS, 3)
        .map_err(|e| EngineError::Resource(format!("no histogram: {e}")))?;
    let summary = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("evb-jitter".into())
            .spawn_scoped(scope, || read_clock(duration_ns, control, &mut histogram))
            .map_err(|e| EngineError::Resource(format!("could not start the probe's thread: {e}")))?
            .join()
            .map_err(|p| {
                EngineError::Handler(format!(
                    "the probe panicked: {}",
                    crate::run::panic_message(&p)
                ))
            })
    })??;
    Ok(JitterSummary {
        p50_ns: histogram.value_at_quantile(0.50),
        p90_ns: histogram.value_at_quantile(0.90),
        p99_ns: histogram.value_at_quantile(0.99),
        p999_ns: histogram.value_at_quantile(0.999),
        ..summary
    })
}

/// The probe's loop: read, record the gap, until the deadline. Nothing else happens in it.
fn read_clock(
    duration_ns: u64,
    control: &Control,
    histogram: &mut Histogram<u64>,
) -> Result<JitterSummary, EngineError> {
    let mut summary = JitterSummary::default();
    let start = now_ns();
    let deadline = start.saturating_add(duration_ns);
    let mut previous = start;
    loop {
        let now = now_ns();
        let gap = now - previous; // CLOCK_MONOTONIC never goes back
        previous = now;
        summary.reads += 1;
        histogram.saturating_record(gap.max(1));
        summary.max_ns = summary.max_ns.max(gap);
        if gap > 10_000 {
            summary.over_10us += 1;
            summary.over_100us += u64::from(gap > 100_000);
            summary.over_1ms += u64::from(gap > 1_000_000);
        }
        if now >= deadline {
            break;
        }
        if summary.reads % READS_PER_CANCEL_CHECK == 0 && control.cancelled() {
            return Err(EngineError::Cancelled);
        }
    }
    summary.duration_ns = previous - start;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_probe_is_internally_consistent() {
        let s = probe(20_000_000, &Control::default()).unwrap();
        assert!(s.reads > 1);
        assert!(s.duration_ns >= 20_000_000);
        assert!(s.p50_ns <= s.p90_ns && s.p90_ns <= s.p99_ns && s.p99_ns <= s.p999_ns);
        // HdrHistogram's quantiles are bucket bounds: within 0.1 % of a recorded value.
        assert!(s.p999_ns <= s.max_ns + s.max_ns / 1000 + 1);
        assert!(s.over_1ms <= s.over_100us && s.over_100us <= s.over_10us);
        assert!(s.over_10us <= s.reads);
        // The gaps add up to the duration: the largest is at most all of it.
        assert!(s.max_ns <= s.duration_ns);
    }

    #[test]
    fn bad_durations_and_cancelling() {
        assert!(matches!(
            probe(0, &Control::default()),
            Err(EngineError::Argument(_))
        ));
        assert!(matches!(
            probe(MAX_DURATION_NS + 1, &Control::default()),
            Err(EngineError::Argument(_))
        ));
        let control = Control::default();
        control.cancel();
        let start = std::time::Instant::now();
        assert_eq!(probe(60_000_000_000, &control), Err(EngineError::Cancelled));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
