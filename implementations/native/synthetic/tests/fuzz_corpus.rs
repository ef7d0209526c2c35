//! Replays the fuzz inputs through the fuzz target's checks: the seeds (`fuzz/seeds/evts/`:
//! a stream of every built-in workload, and one breaking each SPEC rule) and the corpus
//! `cargo fuzz` kept (`fuzz/corpus/evts/`, minimized). In every `cargo test`, and under
//! valgrind in `nox -s memcheck`.

use std::path::Path;

#[test]
fn every_seed_and_corpus_input_passes_the_fuzz_checks() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut inputs = Vec::new();
    for folder in [fuzz.join("seeds/evts"), fuzz.join("corpus/evts")] {
        let entries =
            std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
        let found: Vec<_> = entries.map(|entry| entry.unwrap().path()).collect();
        assert!(found.len() >= 10, "{} lost its inputs", folder.display());
        inputs.extend(found);
    }
    inputs.sort();
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        evb_engine::fuzzing::check_input::<evb_synthetic::Synthetic>(
            &data,
            evb_synthetic::too_slow_to_fuzz,
        );
    }
}
