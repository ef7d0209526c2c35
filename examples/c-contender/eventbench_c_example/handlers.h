/* The SPEC's handlers in C, one loop over the events in seq order: eventbench's worked
 * example of a contender in a second native language, loaded through cffi. */
#ifndef EVBC_HANDLERS_H
#define EVBC_HANDLERS_H

#include <stdint.h>

/* One event record, exactly as SPEC §2 lays it out (little-endian, 32 bytes). */
typedef struct {
    uint64_t seq;
    uint64_t arrival_ns;
    uint64_t value;
    uint32_t key;
    uint8_t kind;
    uint8_t flags;
    uint16_t work;
} evbc_record;

#define EVBC_OK 0
#define EVBC_NO_MEMORY 1
#define EVBC_BAD_RECORD 2
#define EVBC_CANCELLED 3
#define EVBC_HANDLED_ALREADY 4

/* The per-key state of one run, made before the clock starts (evbc_state_new) and freed
 * with evbc_state_free. */
typedef struct evbc_state evbc_state;

/* Zeroed state for n_keys keys; NULL when out of memory. */
evbc_state *evbc_state_new(uint32_t n_keys);
void evbc_state_free(evbc_state *state);

/* The timed window: handles records[0..n) into state and writes done_ns[i] (CLOCK_MONOTONIC)
 * for each, and start_ns[i], when its handling began (after its pacing wait), nothing more. Open loop: event i is not handled before t0_ns + arrival_ns. The
 * caller may set *cancel from another thread at any time (the loop reads it atomically); the
 * loop then stops within one event or 10 ms of waiting. A state handles one run.
 * Returns EVBC_OK, or a code above (then done_ns is partial). */
int evbc_handle(evbc_state *state, const evbc_record *records, uint64_t n, uint64_t t0_ns, int open_loop,
                const int *cancel, uint64_t *done_ns, uint64_t *start_ns);

/* After a run that returned EVBC_OK: the digest of the final state (SPEC §3). */
uint64_t evbc_digest(const evbc_state *state);

#endif
