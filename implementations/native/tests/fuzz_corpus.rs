//! Replays the fuzz inputs through the fuzz target's checks: the seeds (`fuzz/seeds/evts/`:
//! a stream of every built-in workload, and one breaking each SPEC rule) and the corpus
//! `cargo fuzz` kept (`fuzz/corpus/evts/`, minimized). In every `cargo test`, and under
//! valgrind in `nox -s memcheck`.

use std::path::Path;

#[test]
fn every_corpus_input_passes_the_fuzz_checks() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/evts");
    let mut inputs: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| panic!("{}: {e}", corpus.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= 10,
        "the corpus lost its seeds: {}",
        corpus.display()
    );
    for path in &inputs {
        evb_native::fuzzing::check_input(&std::fs::read(path).unwrap());
    }
}
