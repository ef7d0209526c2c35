"""memray's capture files read at native speed: the capture reader (``harness/memray_reader/``) via cffi.

The allocation pass needs every allocation of its window counted by native stack, and
still-alive blocks by stack too (``harness/allocations.py``). memray's own reader builds
a Python object per record (about 2.4 µs a record here); none of its aggregating readers
counts allocation *calls* by native stack. The reader here decodes memray's stream in
one native loop and returns one count per distinct native stack (tens of them), plus a
*skeleton* capture: the few records memray's reader needs to symbolise those stacks
(src/capture.rs says how it is built), so the symbols still come from memray itself.

It reads one format, the one memray 1.20 writes (header version ``EVB_MEMRAY_HEADER_VERSION``,
every allocation, uncompressed: ``FileDestination(compress_on_exit=False)``).
:class:`ReaderUnavailable` says why it cannot be used (another memray, or the library not
built) and the caller falls back to memray's reader; :class:`CorruptCapture` says which byte
of which capture breaks which rule.

The library is built by setuptools-rust into this package (``_evb_memray*.so``), and
cffi's ABI mode reads the declarations of the checked-in header.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any


class ReaderUnavailable(Exception):
    """The native reader cannot read this capture here: memray's own reader can (the message says why)."""


class CorruptCapture(Exception):
    """The capture breaks memray's format; the message names the file, the byte and the rule."""


@dataclass(frozen=True)
class StackCount:
    stack: int  # memray's native stack id; 0: no native stack
    allocations: int  # allocation calls with this stack
    live: int  # of those, blocks not freed by the end of the capture


@dataclass(frozen=True)
class CaptureTally:
    records: int  # ALLOCATION records read, deallocations included
    stacks: tuple[StackCount, ...]  # in order of first allocation
    skeleton: bytes  # a capture with one malloc per nonzero stack of ``stacks``, in order, for memray to symbolise


def _header_declarations() -> str:
    header = resources.files("harness").joinpath("memray_reader/include/evb_memray.h").read_text()
    return header.split("/* cdef-begin */")[1].split("/* cdef-end */")[0]


@functools.lru_cache(maxsize=1)
def load() -> tuple[Any, Any]:
    """``(ffi, lib)``; raises :class:`ReaderUnavailable` saying why the library cannot be used."""
    import cffi

    here = Path(__file__).resolve().parent
    built = sorted(here.glob("_evb_memray*.so")) + sorted(here.glob("_evb_memray*.dylib"))
    if not built:
        raise ReaderUnavailable(f"the capture reader was not built into {here} (reinstall with cargo on PATH)")
    ffi = cffi.FFI()
    ffi.cdef(_header_declarations())
    try:
        return ffi, ffi.dlopen(str(built[0]))
    except OSError as e:
        raise ReaderUnavailable(f"cannot load {built[0]}: {e}") from None


def read(capture: Path) -> CaptureTally:
    """Counts the allocations of the capture at ``capture`` by native stack."""
    ffi, lib = load()
    out = ffi.new("evb_memray_tally **")
    code = lib.evb_memray_tally_file(os.fsencode(capture), out)
    if code != lib.EVB_MEMRAY_OK:
        message = ffi.string(lib.evb_memray_last_error()).decode("utf-8", "replace")
        if code == lib.EVB_MEMRAY_UNSUPPORTED:
            raise ReaderUnavailable(message)
        if code == lib.EVB_MEMRAY_CORRUPT:
            raise CorruptCapture(f"{capture}: {message}")
        raise OSError(message) if code == lib.EVB_MEMRAY_IO else RuntimeError(f"capture reader: {message}")
    tally = out[0]
    try:
        n = ffi.new("size_t *")
        rows = lib.evb_memray_tally_stacks(tally, n)
        stacks = tuple(StackCount(rows[i].stack, rows[i].allocations, rows[i].live) for i in range(n[0]))
        skeleton = bytes(ffi.buffer(lib.evb_memray_tally_skeleton(tally, n), n[0]))
        return CaptureTally(lib.evb_memray_tally_records(tally), stacks, skeleton)
    finally:
        lib.evb_memray_tally_free(tally)
