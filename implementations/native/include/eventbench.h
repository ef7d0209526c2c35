/*
 * eventbench's native engine: the C ABI (implemented in src/ffi.rs).
 *
 * Every function returns EVB_OK (0) or an EVB_ERR_* code; after a failure,
 * evb_last_error_message() gives the reason (valid until the next call on the
 * same thread). Nothing unwinds across this boundary. Engines and sessions are
 * opaque handles: every *_new / *_open has a *_free, and a stale handle is an
 * error (EVB_ERR_HANDLE), not undefined behaviour.
 *
 * Records are SPEC §1's 32-byte little-endian records; they must not change while a
 * call reads them. done_ns holds CLOCK_MONOTONIC nanoseconds, one slot per event,
 * indexed by seq.
 *
 * An engine's run has three phases (docs/measurement-window.md): evb_engine_prepare is
 * setup (validation, the engine's own decoded copy of the records, per-key state,
 * channels), evb_engine_run the timed window (handling only, once per prepare), and
 * evb_engine_digest the digest of the final state, after the window.
 *
 * The part between the cdef markers is what Python's cffi reads: declarations
 * only, no preprocessor lines.
 */
#ifndef EVENTBENCH_H
#define EVENTBENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cdef-begin */
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

typedef uint64_t evb_engine;
typedef uint64_t evb_session;

const char *evb_last_error_message(void);

/* model EVB_MODEL_SEQUENTIAL (workers ignored), EVB_MODEL_POOL (1..1024 workers) or
 * EVB_MODEL_FLOOR (workers ignored: paces the stream as EVB_MODEL_SEQUENTIAL does and writes
 * done_ns, handling nothing; it has no digest); batch_events: events per channel message,
 * 1..1048576. */
int32_t evb_engine_new(uint32_t model, uint32_t workers, uint32_t batch_events, evb_engine *out_engine);
/* Setup: validates the records (nothing is prepared if any is invalid), copies them decoded
 * and makes the state; the caller's buffer is not read afterwards. Replaces an earlier one. */
int32_t evb_engine_prepare(evb_engine engine, const uint8_t *records, size_t records_len, uint32_t n_keys);
/* Handles the prepared stream once, pacing each event to t0_ns + arrival_ns when open_loop
 * is non-zero; a second run needs a new prepare (EVB_ERR_ARGUMENT). */
int32_t evb_engine_run(evb_engine engine, uint64_t *done_ns, size_t done_len, uint64_t t0_ns, int32_t open_loop);
/* The digest of the state a completed run left (EVB_ERR_ARGUMENT before one). */
int32_t evb_engine_digest(evb_engine engine, uint64_t *out_digest);
/* Asks the run in progress on this engine (or its next run) to stop; safe from any thread.
 * That run returns EVB_ERR_CANCELLED within about 10 ms plus one event's handling, its
 * workers joined. A cancelled engine stays cancelled: free it. */
int32_t evb_engine_cancel(evb_engine engine);
/* Cancels this engine's runs on SIGINT or SIGTERM: the process's one watcher thread reads
 * wakeup_fd (the read end of Python's signal wakeup pipe, which receives each signal's number;
 * the same fd on every call) and passes every byte on to forward_fd (-1: nowhere).
 * wakeup_fd -1 stops watching this engine; evb_engine_free does too. */
int32_t evb_engine_watch_signals(evb_engine engine, int32_t wakeup_fd, int32_t forward_fd);
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

/* A whole .evts image (SPEC §2): header, size and every record. */
int32_t evb_validate_file(const uint8_t *data, size_t len, uint32_t *out_n_keys, uint64_t *out_n_events);

/* The counting allocator's totals since the library was loaded. */
int32_t evb_alloc_counters(uint64_t *out_allocations, uint64_t *out_deallocations, uint64_t *out_bytes);
/* cdef-end */

#ifdef __cplusplus
}
#endif

#endif /* EVENTBENCH_H */
