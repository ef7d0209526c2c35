/*
 * eventbench's memray capture reader: the C ABI (implemented in src/ffi.rs).
 *
 * Reads a memray capture (header version EVB_MEMRAY_HEADER_VERSION, the ALL_ALLOCATIONS
 * format, uncompressed) in one pass and counts its allocations by native stack, as
 * harness/allocations.py's classification needs them; see src/capture.rs for the rules.
 *
 * The reads return EVB_MEMRAY_OK or an error code; after a failure,
 * evb_memray_last_error() gives the reason (valid until the next failing call on the same
 * thread). EVB_MEMRAY_UNSUPPORTED means a capture this reader does not decode (another
 * version or format): memray's own reader may read it. Nothing unwinds across this
 * boundary. A tally is owned by the caller: every successful read is matched by one
 * evb_memray_tally_free; what the accessors return lives as long as the tally.
 *
 * The part between the cdef markers is what Python's cffi reads: declarations
 * only, no preprocessor lines.
 */
#ifndef EVB_MEMRAY_H
#define EVB_MEMRAY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cdef-begin */
#define EVB_MEMRAY_OK 0
#define EVB_MEMRAY_UNSUPPORTED 1
#define EVB_MEMRAY_CORRUPT 2
#define EVB_MEMRAY_IO 3
#define EVB_MEMRAY_ARGUMENT 4
#define EVB_MEMRAY_PANIC 5

#define EVB_MEMRAY_HEADER_VERSION 13

typedef struct evb_memray_tally evb_memray_tally;

typedef struct {
    uint64_t stack;       /* memray's native stack id; 0: no native stack */
    uint64_t allocations; /* allocation calls with this stack (frees and munmap are not allocations) */
    uint64_t live;        /* of those, blocks not freed by the end of the capture */
} evb_memray_stack;

const char *evb_memray_last_error(void);

/* Reads the capture at path, or len bytes at data; *out_tally is set on success, NULL otherwise. */
int32_t evb_memray_tally_file(const char *path, evb_memray_tally **out_tally);
int32_t evb_memray_tally_buffer(const uint8_t *data, size_t len, evb_memray_tally **out_tally);

/* ALLOCATION records read, deallocations included. */
uint64_t evb_memray_tally_records(const evb_memray_tally *tally);
/* One entry per stack that allocated, in order of first allocation. */
const evb_memray_stack *evb_memray_tally_stacks(const evb_memray_tally *tally, size_t *n_stacks);
/* A small capture memray's own reader symbolises: one malloc per nonzero stack above, in order. */
const uint8_t *evb_memray_tally_skeleton(const evb_memray_tally *tally, size_t *len);
void evb_memray_tally_free(evb_memray_tally *tally);
/* cdef-end */

#ifdef __cplusplus
}
#endif

#endif /* EVB_MEMRAY_H */
