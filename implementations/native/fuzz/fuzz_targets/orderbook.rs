//! Fuzzes scenario `orderbook`'s decoder and validator with `.evts` images, and every engine
//! (the calling thread, pools, the streaming session) with the images they accept, which
//! must all give the same digest (see `evb_engine::fuzzing`). Run:
//! `cargo +nightly fuzz run orderbook fuzz/corpus/orderbook fuzz/seeds/orderbook` in
//! implementations/native.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    evb_engine::fuzzing::check_input::<evb_orderbook::Orderbook>(
        data,
        evb_orderbook::too_slow_to_fuzz,
    );
});
