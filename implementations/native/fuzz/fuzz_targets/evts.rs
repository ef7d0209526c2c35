//! Fuzzes the engine's decoder and validator with `.evts` images of scenario `synthetic`, and
//! every engine with the images they accept (see `evb_engine::fuzzing`). Run: `nox -s
//! robustness`, or `cargo +nightly fuzz run evts` in implementations/native.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    evb_engine::fuzzing::check_input::<evb_synthetic::Synthetic>(
        data,
        evb_synthetic::too_slow_to_fuzz,
    );
});
