//! eventbench's native contenders: the SPEC's event engine, with a C ABI for cffi.
//!
//! * `spec`: records, validation, `mix`, digest — the SPEC, in safe Rust.
//! * `engine`: the handlers, `native-sequential` and the `native` pool — safe Rust.
//! * `session`: the streaming session (open / submit / close) — safe Rust.
//! * `alloc`: the counting global allocator.
//! * `signals`: a native thread that turns Ctrl-C and SIGTERM into a cancelled run.
//! * `jitter`: the jitter probe, a thread that only reads the clock (the machine's floor).
//! * `fault`: the test-only fault switch (feature `fault-injection`, off in normal builds).
//! * `fuzzing`: the checks of the fuzz target, shared with the corpus replay test.
//! * `ffi`: the thin `extern "C"` layer; the only place with raw pointers from outside.

pub mod alloc;
pub mod engine;
pub mod fault;
pub mod ffi;
pub mod fuzzing;
pub mod jitter;
pub mod session;
pub mod signals;
pub mod spec;
