//! Replays the fuzz inputs through the fuzz target's checks: the seeds
//! (`fuzz/seeds/orderbook/`: the contract's vector file, slices of every built-in workload,
//! and one file breaking each rule) and the corpus `cargo fuzz` kept
//! (`fuzz/corpus/orderbook/`, minimized). In every `cargo test`, and under valgrind.

use std::path::Path;

#[test]
fn every_seed_and_corpus_input_passes_the_fuzz_checks() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut inputs = Vec::new();
    for folder in [fuzz.join("seeds/orderbook"), fuzz.join("corpus/orderbook")] {
        let entries =
            std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
        let found: Vec<_> = entries.map(|entry| entry.unwrap().path()).collect();
        assert!(found.len() >= 10, "{} lost its inputs", folder.display());
        inputs.extend(found);
    }
    inputs.sort();
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        evb_engine::fuzzing::check_input::<evb_orderbook::Orderbook>(
            &data,
            evb_orderbook::too_slow_to_fuzz,
        );
    }
}
