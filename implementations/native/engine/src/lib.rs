//! eventbench's native engine, generic over a scenario (`Scenario`), with the C ABI that every
//! scenario library exports (`export_c_abi!`). A scenario crate is its handler and one line.
//!
//! * `scenario`: what a scenario declares: record, rules, per-key and shared state, handler, digest.
//! * `stream`: records validated once (the harness's columns, then the scenario's rules).
//! * `run`: pacing, cancellation, `native-sequential`, the floor, and the `native` pool's runs.
//! * `pool`: worker threads that live as long as their engine: each reads a prepared stream for
//!   its own keys, or takes a streaming session's batches.
//! * `partition`: which worker owns which key (dealt by the stream's key counts where known).
//! * `session`: the streaming session (open / submit / close) on a pool of its own.
//! * `file`: the event file's header (SPEC §2 version 1, §7 version 2).
//! * `alloc`: the counting global allocator.
//! * `signals`: a native thread that turns Ctrl-C and SIGTERM into a cancelled run.
//! * `jitter`: the jitter probe, a thread that only reads the clock (the machine's floor).
//! * `fault`: the test-only fault switch (feature `fault-injection`, off in normal builds).
//! * `fuzzing`: the checks of every scenario's fuzz target, shared with the corpus replay tests.
//! * `ffi`: the thin `extern "C"` layer; the only place with raw pointers from outside.
//! * `abi`: the constants of `include/eventbench.h`, read from it at build time.

pub mod abi;
pub mod alloc;
pub mod fault;
pub mod ffi;
pub mod file;
pub mod fuzzing;
pub mod jitter;
pub mod partition;
pub mod pool;
pub mod run;
pub mod scenario;
pub mod session;
pub mod signals;
pub mod stream;

pub use run::{Control, EngineError};
pub use scenario::{mix, Invalid, Scenario};
pub use stream::Stream;
