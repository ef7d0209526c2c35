#define _POSIX_C_SOURCE 200809L
#include "handlers.h"

#include <stdlib.h>
#include <time.h>

_Static_assert(sizeof(evbc_record) == 32, "SPEC §2: a record is 32 bytes");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "SPEC §2 records are little-endian, read as they lie");

#define WAIT_SLICE_NS 10000000u /* a wait looks at *cancel this often */

struct evbc_state {
    uint32_t n_keys;
    uint64_t *s, *c; /* s[k], c[k] */
    uint64_t g;
    uint64_t n;  /* events handled by the completed run */
    int handled; /* a state handles one run */
};

static uint64_t mix(uint64_t x) {
    uint64_t z = x + 0x9E3779B97F4A7C15u;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The flag another thread sets: an atomic load (GCC and Clang builtin), so that reading it
 * while Python writes it is not a data race. */
static int cancelled(const int *cancel) { return __atomic_load_n(cancel, __ATOMIC_RELAXED); }

/* Sleeps until the clock reaches deadline_ns; -1 if *cancel was set meanwhile. On 0, *out_now
 * (unless NULL) is the clock read that ended the wait: the start of handling, read once. */
static int wait_until(uint64_t deadline_ns, const int *cancel, uint64_t *out_now) {
    for (;;) {
        uint64_t now = now_ns();
        if (now >= deadline_ns) {
            if (out_now != NULL) *out_now = now;
            return 0;
        }
        if (cancelled(cancel)) return -1;
        uint64_t left = deadline_ns - now;
        if (left > WAIT_SLICE_NS) left = WAIT_SLICE_NS;
        struct timespec pause = {(time_t)(left / 1000000000u), (long)(left % 1000000000u)};
        nanosleep(&pause, NULL);
    }
}

/* One event's effect on s[k], G and the work it does (SPEC §3); -1 if cancelled while waiting. */
static int handle_one(const evbc_record *r, uint64_t *s, uint64_t *g, const int *cancel) {
    uint64_t v = r->value;
    switch (r->kind) {
        case 1: /* compute */
            for (uint16_t i = 0; i < r->work; i++) v = mix(v);
            break;
        case 2: /* block: waits holding nothing */
            if (wait_until(now_ns() + (uint64_t)r->work * 1000u, cancel, NULL) != 0) return -1;
            break;
        case 3: /* aggregate */
            *g += r->value;
            break;
        default: /* update */
            break;
    }
    s[r->key] = mix(s[r->key] ^ v);
    return 0;
}

evbc_state *evbc_state_new(uint32_t n_keys) {
    evbc_state *state = calloc(1, sizeof *state);
    if (state == NULL) return NULL;
    state->n_keys = n_keys;
    state->s = calloc(n_keys ? n_keys : 1, sizeof *state->s);
    state->c = calloc(n_keys ? n_keys : 1, sizeof *state->c);
    if (state->s == NULL || state->c == NULL) {
        evbc_state_free(state);
        return NULL;
    }
    return state;
}

void evbc_state_free(evbc_state *state) {
    if (state == NULL) return;
    free(state->s);
    free(state->c);
    free(state);
}

int evbc_handle(evbc_state *state, const evbc_record *records, uint64_t n, uint64_t t0_ns, int open_loop,
                const int *cancel, uint64_t *done_ns, uint64_t *start_ns) {
    if (state->handled) return EVBC_HANDLED_ALREADY;
    state->handled = 1;
    uint64_t *s = state->s, *c = state->c, g = 0;
    int rc = EVBC_OK;
    /* The start of an event is the clock read that ended its pacing wait, or, when it was due
     * already, the previous event's completion: one store per event, no second clock read. */
    uint64_t now = now_ns();
    for (uint64_t i = 0; i < n && rc == EVBC_OK; i++) {
        const evbc_record *r = &records[i];
        uint64_t due = t0_ns + r->arrival_ns;
        if (r->key >= state->n_keys || r->kind > 3) {
            rc = EVBC_BAD_RECORD; /* the caller validated the stream; never trust it with memory */
        } else if (cancelled(cancel) || (open_loop && now < due && wait_until(due, cancel, &now) != 0)) {
            rc = EVBC_CANCELLED;
        } else {
            start_ns[i] = now;
            if (handle_one(r, s, &g, cancel) != 0) {
                rc = EVBC_CANCELLED;
            } else {
                c[r->key]++;
                done_ns[i] = now = now_ns();
            }
        }
    }
    state->g = g;
    state->n = n;
    return rc;
}

uint64_t evbc_digest(const evbc_state *state) {
    uint64_t d = mix(state->g ^ state->n);
    for (uint32_t k = 0; k < state->n_keys; k++) {
        d = mix(d ^ state->s[k]);
        d = mix(d ^ state->c[k]);
    }
    return d;
}
