//! The floor: how fast can one thread possibly handle these bytes?
//!
//! `floor` is the minimal loop a hand-written program would be: decode each record,
//! apply the handler, read the clock once, store it. `native-sequential` is the
//! engine's single-threaded path: its timed run only, as the harness measures it (validating
//! and making the state are its setup, outside the window, here as in every run).
//! Their ratio is the engine's overhead over the hardware's floor.
//!
//! The stream: `EVB_BENCH_EVENTS=/path/to/file.evts` (for instance
//! `eventbench export --workload cpu-bound --n-events 1000000 -o cpu.evts`),
//! else a CPU-bound stream made here with the same shape.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use evb_engine::file::parse_header;
use evb_engine::pool::Pool;
use evb_engine::run::{now_ns, Control, PoolRun, SequentialRun};
use evb_engine::{mix, Stream};
use evb_synthetic::{Event, Synthetic, RECORD_SIZE};

fn stream_bytes() -> (Vec<u8>, u32) {
    if let Ok(path) = std::env::var("EVB_BENCH_EVENTS") {
        let file = std::fs::read(&path).expect("EVB_BENCH_EVENTS names a readable file");
        let (n_keys, _, header_size) =
            parse_header::<Synthetic>(&file).expect("a valid .evts file");
        return (file[header_size..].to_vec(), n_keys);
    }
    let n_keys = 1024u32;
    let records = (0..1_000_000u64)
        .flat_map(|i| {
            let r = mix(i);
            Event {
                seq: i,
                value: mix(r),
                key: (r % n_keys as u64) as u32,
                kind: 1,
                work: (20 + r % 81) as u16,
                ..Default::default()
            }
            .encode()
        })
        .collect();
    (records, n_keys)
}

/// The floor loop: nothing but the SPEC's handling and one clock read per event.
fn floor(records: &[u8], states: &mut [u64], counts: &mut [u64], done: &mut [u64]) -> u64 {
    let mut g = 0u64;
    for (i, r) in records.chunks_exact(RECORD_SIZE).enumerate() {
        let value = u64::from_le_bytes(r[16..24].try_into().unwrap());
        let key = u32::from_le_bytes(r[24..28].try_into().unwrap()) as usize;
        let work = u16::from_le_bytes(r[30..32].try_into().unwrap());
        let mut v = value;
        match r[28] {
            1 => (0..work).for_each(|_| v = mix(v)),
            3 => g = g.wrapping_add(value),
            _ => {}
        }
        states[key] = mix(states[key] ^ v);
        counts[key] += 1;
        done[i] = now_ns();
    }
    g
}

fn bench(c: &mut Criterion) {
    let (records, n_keys) = stream_bytes();
    let n = records.len() / RECORD_SIZE;
    let stream =
        Arc::new(Stream::<Synthetic>::new(records.clone(), n_keys).expect("valid records"));
    let mut group = c.benchmark_group("closed-loop");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(n as u64));
    group.bench_function("floor", |b| {
        b.iter_batched_ref(
            || {
                (
                    vec![0u64; n_keys as usize],
                    vec![0u64; n_keys as usize],
                    vec![0u64; n],
                )
            },
            |(s, c, d)| floor(&records, s, c, d),
            BatchSize::LargeInput,
        )
    });
    let done: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
    group.bench_function("native-sequential", |b| {
        b.iter_batched_ref(
            || SequentialRun::prepare(Arc::clone(&stream)),
            |run| run.run(&done, now_ns(), false, &Control::default()),
            BatchSize::LargeInput,
        )
    });
    for workers in [1, 2] {
        let mut pool = Pool::start(workers).expect("valid pool arguments");
        group.bench_function(format!("native-{workers}-workers"), |b| {
            b.iter_batched_ref(
                || PoolRun::prepare(Arc::clone(&stream), workers),
                |run| run.run(&mut pool, &done, now_ns(), false, &Control::default()),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
    done.iter().for_each(|d| d.store(0, Relaxed));
}

criterion_group!(benches, bench);
criterion_main!(benches);
