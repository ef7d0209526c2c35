//! Replays the fuzz inputs through the fuzz target's checks: the seeds
//! (`fuzz/seeds/orderbook/`: the contract's vector file, slices of every built-in workload,
//! and one file breaking each rule) and the corpus `cargo fuzz` kept
//! (`fuzz/corpus/orderbook/`, minimized). In every `cargo test`, and under valgrind.

use std::path::Path;

#[test]
fn every_seed_and_corpus_input_passes_the_fuzz_checks() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    evb_engine::fuzzing::replay_corpus::<evb_orderbook::Orderbook>(
        &fuzz,
        "orderbook",
        evb_orderbook::too_slow_to_fuzz,
    );
}
