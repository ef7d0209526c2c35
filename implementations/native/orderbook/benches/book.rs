//! `native-sequential` against `native` pools on order-book streams, and the three ledgers
//! against each other: closed loop, the timed window only (`run`, as the harness measures
//! it: preparing the state is setup), contenders interleaved trial by trial so that a noisy
//! neighbour slows all of them alike. Per contender: ns/event (median, min-max over trials),
//! the ratio of `native-sequential`'s time to the contender's in the same trial, CPU time
//! per event of all the process's threads and of the calling thread alone (getrusage: what
//! a loaded machine's other work does not add to; a pool's calling thread only waits for it),
//! and allocations per event in the window by the crate's counting allocator (the most of
//! any trial).
//!
//! cargo bench -p evb-orderbook --bench book -- book.evts book-contention.evts ...
//! (files from `eventbench export --scenario orderbook --workload W -o W.evts`);
//! EVB_BENCH_TRIALS (default 15), EVB_BENCH_WORKERS (default "1,2"),
//! EVB_BENCH_LEDGERS=1 adds the padded-atomic and striped-lock ledgers.
//!
//! Instructions per event of `native-sequential` (the window alone, as callgrind counts it):
//! EVB_BENCH_TRIALS=1 EVB_BENCH_WORKERS= valgrind --tool=callgrind
//!   --zero-before=evb_bench_window_begin --dump-before=evb_bench_window_end target/release/deps/book-* FILE
//! then the last dump's total over the file's events.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use evb_engine::alloc::counters;
use evb_engine::file::parse_header;
use evb_engine::pool::Pool;
use evb_engine::run::{now_ns, Control, PoolRun, SequentialRun};
use evb_engine::{Scenario, Stream};
use evb_orderbook::{AtomicLedger, AtomicPaddedLedger, Ledger, OrderbookOn, StripedLedger};

/// Where the timed window begins and ends, for callgrind's `--zero-before` and `--dump-before`.
#[no_mangle]
#[inline(never)]
pub extern "C" fn evb_bench_window_begin() {
    std::hint::black_box(());
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn evb_bench_window_end() {
    std::hint::black_box(());
}

/// One contender: runs the stream once (prepared outside the window), returns what the
/// window took and the digest.
type Contender = Box<dyn FnMut(&[AtomicU64]) -> (Window, u64)>;

/// What one run's window took: wall seconds, CPU seconds of every thread and of the calling
/// thread (which, for a pool, only waits), allocations.
#[derive(Clone, Copy)]
struct Window {
    wall: f64,
    cpu: f64,
    caller_cpu: f64,
    allocations: u64,
}

/// User and system CPU time in seconds of every thread of the process (`RUSAGE_SELF`) or of
/// the calling thread (`RUSAGE_THREAD`).
fn cpu_seconds(who: libc::c_int) -> f64 {
    // SAFETY: getrusage writes one rusage through a valid pointer.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Runs `window` between the markers and measures it.
fn measured(window: impl FnOnce()) -> Window {
    let (allocations, _, _) = counters();
    let (cpu, caller_cpu) = (
        cpu_seconds(libc::RUSAGE_SELF),
        cpu_seconds(libc::RUSAGE_THREAD),
    );
    let start = Instant::now();
    evb_bench_window_begin();
    window();
    evb_bench_window_end();
    let wall = start.elapsed().as_secs_f64();
    Window {
        wall,
        cpu: cpu_seconds(libc::RUSAGE_SELF) - cpu,
        caller_cpu: cpu_seconds(libc::RUSAGE_THREAD) - caller_cpu,
        allocations: counters().0 - allocations,
    }
}

fn sequential<L: Ledger>(stream: &Arc<Stream<OrderbookOn<L>>>) -> Contender {
    let stream = Arc::clone(stream);
    Box::new(move |done| {
        let mut run = SequentialRun::prepare(Arc::clone(&stream));
        let window = measured(|| {
            run.run(done, now_ns(), false, &Control::default())
                .expect("a valid stream runs")
        });
        (window, run.digest().expect("handled"))
    })
}

fn pooled<L: Ledger>(stream: &Arc<Stream<OrderbookOn<L>>>, workers: usize) -> Contender {
    let stream = Arc::clone(stream);
    let mut pool = Pool::<OrderbookOn<L>>::start(workers).expect("valid pool arguments");
    Box::new(move |done| {
        let mut run = PoolRun::prepare(Arc::clone(&stream), workers);
        let window = measured(|| {
            run.run(&mut pool, done, now_ns(), false, &Control::default())
                .expect("a valid stream runs")
        });
        (window, run.digest().expect("handled"))
    })
}

fn contenders_of<L: Ledger>(
    records: &[u8],
    n_keys: u32,
    label: &str,
    workers: &[usize],
    out: &mut Vec<(String, Contender)>,
) {
    let stream =
        Arc::new(Stream::<OrderbookOn<L>>::new(records.to_vec(), n_keys).expect("a valid stream"));
    out.push((format!("native-sequential{label}"), sequential(&stream)));
    for &w in workers {
        out.push((format!("native-{w}{label}"), pooled(&stream, w)));
    }
}

fn quantiles(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[0], xs[xs.len() / 2], xs[xs.len() - 1])
}

fn main() {
    let files: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let trials: usize = std::env::var("EVB_BENCH_TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(15);
    let workers: Vec<usize> = std::env::var("EVB_BENCH_WORKERS")
        .unwrap_or_else(|_| "1,2".into())
        .split(',')
        .filter(|w| !w.trim().is_empty()) // "": native-sequential alone (for callgrind)
        .map(|w| w.trim().parse().expect("EVB_BENCH_WORKERS: numbers"))
        .collect();
    let ledgers = std::env::var("EVB_BENCH_LEDGERS").is_ok_and(|v| v == "1");
    if files.is_empty() {
        eprintln!("usage: cargo bench -p evb-orderbook --bench book -- FILE.evts ...");
        std::process::exit(2);
    }
    for path in files {
        let file = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let (n_keys, n_events, header_size) =
            parse_header::<OrderbookOn<AtomicLedger>>(&file).expect("an order-book .evts file");
        let records = &file[header_size..];
        let mut contenders = Vec::new();
        contenders_of::<AtomicLedger>(records, n_keys, "", &workers, &mut contenders);
        if ledgers {
            contenders_of::<AtomicPaddedLedger>(
                records,
                n_keys,
                " padded",
                &workers,
                &mut contenders,
            );
            contenders_of::<StripedLedger>(records, n_keys, " striped", &workers, &mut contenders);
        }
        let done: Vec<AtomicU64> = (0..n_events).map(|_| AtomicU64::new(0)).collect();
        let n = contenders.len();
        let mut seconds = vec![Vec::new(); n];
        let mut cpu = vec![Vec::new(); n];
        let mut caller_cpu = vec![Vec::new(); n];
        let mut allocated = vec![0u64; n];
        let mut digests = vec![None; n];
        // One warm-up round (page faults of `done`, the pools' first runs), then the trials,
        // each in a rotated order so that no contender always runs first or last.
        for trial in 0..=trials {
            for j in 0..n {
                let i = (j + trial) % n;
                let (window, digest) = (contenders[i].1)(&done);
                if trial > 0 {
                    seconds[i].push(window.wall);
                    cpu[i].push(window.cpu);
                    caller_cpu[i].push(window.caller_cpu);
                    allocated[i] = allocated[i].max(window.allocations);
                }
                assert_eq!(
                    *digests[i].get_or_insert(digest),
                    digest,
                    "{}",
                    contenders[i].0
                );
            }
        }
        let digest = digests[0].expect("ran");
        assert!(
            digests.iter().all(|d| *d == Some(digest)),
            "every contender gives the same digest"
        );
        println!(
            "{path}: {n_events} events, {n_keys} keys, digest {digest:016x}, {trials} trials \
             ({}, version {})",
            OrderbookOn::<AtomicLedger>::NAME,
            OrderbookOn::<AtomicLedger>::VERSION,
        );
        println!(
            "  {:<26} {:>24} {:>26} {:>20} {:>10} {:>12}",
            "contender",
            "ns/event med (min-max)",
            "x sequential med (min-max)",
            "CPU ns/event med",
            "of caller",
            "allocs/event"
        );
        let per_event = |s: f64| s * 1e9 / n_events.max(1) as f64;
        for i in 0..n {
            let (lo, med, hi) = quantiles(seconds[i].iter().map(|&s| per_event(s)).collect());
            let ratios: Vec<f64> = seconds[0]
                .iter()
                .zip(&seconds[i])
                .map(|(seq, s)| seq / s)
                .collect();
            let (rlo, rmed, rhi) = quantiles(ratios);
            let (clo, cmed, chi) = quantiles(cpu[i].iter().map(|&s| per_event(s)).collect());
            let (_, caller, _) = quantiles(caller_cpu[i].iter().map(|&s| per_event(s)).collect());
            println!(
                "  {:<26} {:>8.1} ({:>6.1}-{:>6.1}) {:>10.2} ({:.2}-{:.2}) {:>6.1} ({:.0}-{:.0}) {:>10.1} {:>12.5}",
                contenders[i].0,
                med,
                lo,
                hi,
                rmed,
                rlo,
                rhi,
                cmed,
                clo,
                chi,
                caller,
                allocated[i] as f64 / n_events.max(1) as f64
            );
        }
    }
}
