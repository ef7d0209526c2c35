"""cffi's build script (API mode): compiles handlers.c into eventbench_c_example._handlers.

Run by setuptools at install time (``cffi_modules`` in setup.py); API mode means the C
compiler checks the declarations below against handlers.h, and calls release the GIL.
"""

from cffi import FFI

ffibuilder = FFI()
ffibuilder.cdef(
    """
    typedef struct { uint64_t seq, arrival_ns, value; uint32_t key; uint8_t kind, flags; uint16_t work; } evbc_record;
    #define EVBC_OK ...
    #define EVBC_NO_MEMORY ...
    #define EVBC_BAD_RECORD ...
    #define EVBC_CANCELLED ...
    #define EVBC_HANDLED_ALREADY ...
    typedef struct evbc_state evbc_state;
    evbc_state *evbc_state_new(uint32_t n_keys);
    void evbc_state_free(evbc_state *state);
    int evbc_handle(evbc_state *state, const evbc_record *records, uint64_t n, uint64_t t0_ns, int open_loop,
                    const int *cancel, uint64_t *done_ns, uint64_t *start_ns);
    uint64_t evbc_digest(const evbc_state *state);
    """
)
ffibuilder.set_source(
    "eventbench_c_example._handlers",
    '#include "handlers.h"',
    sources=["eventbench_c_example/handlers.c"],  # relative to the project's root, where setuptools runs this
    include_dirs=["eventbench_c_example"],
    # No -Werror here: a newer compiler's new warning must not break pip install. The test suite
    # compiles handlers.c with -Werror (tests/test_plugins.py).
    extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
