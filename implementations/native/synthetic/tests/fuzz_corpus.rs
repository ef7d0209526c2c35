//! Replays the fuzz inputs through the fuzz target's checks: the seeds (`fuzz/seeds/evts/`:
//! a stream of every built-in workload, and one breaking each SPEC rule) and the corpus
//! `cargo fuzz` kept (`fuzz/corpus/evts/`, minimized). In every `cargo test`, and under
//! valgrind in `nox -s memcheck` (there, one input of very many keys: see `replay_corpus`).

use std::path::Path;

#[test]
fn every_seed_and_corpus_input_passes_the_fuzz_checks() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    evb_engine::fuzzing::replay_corpus::<evb_synthetic::Synthetic>(
        &fuzz,
        "evts",
        evb_synthetic::too_slow_to_fuzz,
    );
}
