//! Fuzzes the engine's decoder and validator with `.evts` images, and every engine with
//! the images they accept (see `evb_native::fuzzing`). Run: `nox -s robustness`, or
//! `cargo +nightly fuzz run evts` in implementations/native.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    evb_native::fuzzing::check_input(data);
});
