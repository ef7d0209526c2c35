/*
 * eventbench's native engine: the C ABI every scenario library exports (implemented once,
 * generic over the scenario, in engine/src/ffi.rs; a scenario crate exports it with one
 * `evb_engine::export_c_abi!` line).
 *
 * Every function returns EVB_OK (0) or an EVB_ERR_* code; after a failure,
 * evb_last_error_message() gives the reason (valid until the next call on the
 * same thread). Nothing unwinds across this boundary. Streams, engines and sessions are
 * opaque handles: every *_new / *_open has a *_free, and a stale handle is an
 * error (EVB_ERR_HANDLE), not undefined behaviour.
 *
 * This header is the one source of the constants: the engine crate's build script reads
 * them from here, and Python's cffi reads the part between the cdef markers
 * (declarations only, no preprocessor lines but integer #defines).
 *
 * A run has three phases (docs/measurement-window.md): evb_engine_prepare is setup (the
 * per-key state of one run of a stream), evb_engine_run the timed window (handling only,
 * once per prepare), and evb_engine_digest the digest of the final state, after the window;
 * evb_engine_release then lets go of the run's state and stream. prepare, digest and release
 * wait for a run in progress on another thread. A pool's worker threads start in
 * evb_engine_new and serve every run until evb_engine_free; records are validated once, in
 * evb_stream_new. done_ns holds CLOCK_MONOTONIC nanoseconds, one slot per event, indexed by seq;
 * start_ns (ABI 4) likewise, when each event's handling began.
 */
#ifndef EVENTBENCH_H
#define EVENTBENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cdef-begin */
#define EVB_ABI_VERSION 4

#define EVB_OK 0
#define EVB_ERR_ARGUMENT 1
#define EVB_ERR_INVALID_STREAM 2
#define EVB_ERR_HANDLE 3
#define EVB_ERR_HANDLER 4
#define EVB_ERR_PANIC 5
#define EVB_ERR_RESOURCE 6
#define EVB_ERR_CANCELLED 7

#define EVB_MODEL_SEQUENTIAL 0
#define EVB_MODEL_POOL 1
#define EVB_MODEL_FLOOR 2

#define EVB_MAX_WORKERS 1024
#define EVB_MAX_BATCH_EVENTS 1048576
#define EVB_MAX_KEYS 16777216

typedef uint64_t evb_stream;
typedef uint64_t evb_engine;
typedef uint64_t evb_session;

const char *evb_last_error_message(void);

/* What this library handles: the scenario's name (NUL-terminated, static), its version,
 * its record size in bytes, and EVB_ABI_VERSION as built. */
int32_t evb_scenario_info(const char **out_name, uint32_t *out_version, uint32_t *out_record_size,
                          uint32_t *out_abi_version);

/* Validates records (the scenario's records, no file header) once: nothing is made if any
 * is invalid. The stream BORROWS the caller's buffer, which must stay valid and unchanged
 * until evb_stream_free returns and no engine has it prepared; it copies nothing. */
int32_t evb_stream_new(const uint8_t *records, size_t records_len, uint32_t n_keys, evb_stream *out_stream);
int32_t evb_stream_free(evb_stream stream);

/* model EVB_MODEL_SEQUENTIAL (workers ignored), EVB_MODEL_POOL (1..EVB_MAX_WORKERS workers,
 * started now, each waiting for runs until evb_engine_free; in a run each reads the whole
 * stream and handles its own keys' events, the keys dealt out by their counts in the stream) or EVB_MODEL_FLOOR (workers
 * ignored: paces the stream as EVB_MODEL_SEQUENTIAL does and writes done_ns, handling
 * nothing; it has no digest). */
int32_t evb_engine_new(uint32_t model, uint32_t workers, evb_engine *out_engine);
/* Setup: fresh per-key and shared state for one run of the stream (replacing an earlier
 * prepare); the engine holds the stream until its next prepare, its release or its free. */
int32_t evb_engine_prepare(evb_engine engine, evb_stream stream);
/* Drops the prepared run (its state, and the engine's hold on its stream), keeping the
 * engine's workers for the next prepare; a no-op when nothing is prepared. */
int32_t evb_engine_release(evb_engine engine);
/* Handles the prepared stream once, pacing each event to t0_ns + arrival_ns when open_loop
 * is non-zero; a second run needs a new prepare (EVB_ERR_ARGUMENT). Writes each event's
 * completion into done_ns and, unless start_ns is NULL, the start of its handling into start_ns
 * (done_len slots too): the clock read that ended its pacing wait or, when it was due already,
 * that of the previous completion on the same thread, so recording costs a store, not a clock
 * read (what lies between, the loop's own step, counts as service). EVB_MODEL_FLOOR writes
 * starts the same way. Added in ABI 4. */
int32_t evb_engine_run(evb_engine engine, uint64_t *done_ns, size_t done_len, uint64_t *start_ns, uint64_t t0_ns,
                       int32_t open_loop);
/* The digest of the state a completed run left (EVB_ERR_ARGUMENT before one). */
int32_t evb_engine_digest(evb_engine engine, uint64_t *out_digest);
/* Asks the run in progress on this engine (or its next run) to stop; safe from any thread.
 * That run returns EVB_ERR_CANCELLED within about 10 ms plus one event's handling, its
 * workers idle again. A cancelled engine stays cancelled: free it. */
int32_t evb_engine_cancel(evb_engine engine);
/* Cancels this engine's runs on SIGINT or SIGTERM: the process's one watcher thread reads
 * wakeup_fd (the read end of Python's signal wakeup pipe, which receives each signal's number;
 * the same fd on every call) and passes every byte on to forward_fd (-1: nowhere).
 * wakeup_fd -1 stops watching this engine; evb_engine_free does too. */
int32_t evb_engine_watch_signals(evb_engine engine, int32_t wakeup_fd, int32_t forward_fd);
/* Stops and joins the pool's workers. A run in progress on another thread keeps the engine, and
 * the stream it has prepared, until that run returns: only then may the stream's buffer go. */
int32_t evb_engine_free(evb_engine engine);

/* Streaming: done_ns must stay valid until evb_session_free returns. Each submit
 * validates its records as the stream's next ones, then routes them; events are
 * handled as they are submitted. */
int32_t evb_session_open(uint32_t n_keys, uint32_t workers, uint32_t batch_events, uint64_t *done_ns,
                         size_t done_len, evb_session *out_session);
int32_t evb_session_submit(evb_session session, const uint8_t *records, size_t records_len);
int32_t evb_session_close(evb_session session, uint64_t *out_digest);
/* Returns once every worker has stopped: nothing writes into done_ns afterwards. */
int32_t evb_session_free(evb_session session);

/* The jitter probe: a thread of the library reads CLOCK_MONOTONIC in a tight loop for
 * duration_ns (1 ns .. 1 hour) and summarises the gaps between consecutive reads (percentiles
 * from an HdrHistogram, 3 significant digits; counts exact). The engine's cancel, and its
 * signal watcher, stop it (EVB_ERR_CANCELLED). */
typedef struct {
    uint64_t reads;
    uint64_t duration_ns;
    uint64_t p50_ns;
    uint64_t p90_ns;
    uint64_t p99_ns;
    uint64_t p999_ns;
    uint64_t max_ns;
    uint64_t over_10us;
    uint64_t over_100us;
    uint64_t over_1ms;
} evb_jitter_summary;
int32_t evb_jitter_probe(evb_engine engine, uint64_t duration_ns, evb_jitter_summary *out_summary);

/* A whole event file image of this scenario (SPEC §2 version 1 for synthetic, §7 version 2
 * for every scenario): header, size and every record. */
int32_t evb_validate_file(const uint8_t *data, size_t len, uint32_t *out_n_keys, uint64_t *out_n_events);

/* The counting allocator's totals since the library was loaded. */
int32_t evb_alloc_counters(uint64_t *out_allocations, uint64_t *out_deallocations, uint64_t *out_bytes);
/* cdef-end */

#ifdef __cplusplus
}
#endif

#endif /* EVENTBENCH_H */
