"""Ctrl-C and SIGTERM while the main thread is inside a native call.

Python runs signal handlers on the main thread, between bytecodes: never while
that thread sits in a foreign call that releases the GIL, such as a whole native
run, which would then ignore Ctrl-C until it ended (minutes, for a long open-loop
run). Python's C-level handler does write each signal's number to the wakeup fd
(``signal.set_wakeup_fd``) at once, whatever the main thread is doing.
:class:`WakeupPipe` points that fd at this process's signal pipe for the length of
a run; the engine's watcher thread (``evb_engine_watch_signals``, native,
asleep in ``poll``, so it adds nothing to a timed run) reads the other end and
cancels the run. The run returns within milliseconds, and the main thread then
raises the interrupt as usual.

A wakeup fd set before (asyncio's, say) gets every byte passed on, and is
restored on close. Off the main thread there is nothing to do: signals never
interrupt it.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from collections.abc import Callable


@functools.cache
def signal_pipe(watcher: str) -> tuple[int, int]:
    """``(read_fd, write_fd)``: one pipe per ``watcher`` (a loaded library) for the life of the
    process, since that library's watcher thread reads it for good. Two libraries (a test
    loads a second build) must not read one pipe: a byte goes to one reader only."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)  # the C handler must never block on a full pipe
    return read_fd, write_fd


class WakeupPipe:
    """While open, Python's signal wakeup fd writes into ``signal_pipe(watcher)``, whose read end
    ``watch(read_fd, previous_fd)`` hands to that watcher; ``unwatch()`` stops watching."""

    def __init__(self, watcher: str, watch: Callable[[int, int], None], unwatch: Callable[[], None]) -> None:
        self._unwatch = unwatch
        self._open = False
        if threading.current_thread() is not threading.main_thread():
            return
        read_fd, write_fd = signal_pipe(watcher)
        self._previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        self._open = True
        # Nested in another session of the same library: the pipe is already the wakeup fd, and
        # passing bytes on to it would feed them back to the watcher for ever.
        forward = -1 if self._previous == write_fd else self._previous
        try:
            watch(read_fd, forward)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Gives the wakeup fd back and stops watching. Idempotent."""
        if not self._open:
            return
        self._open = False
        signal.set_wakeup_fd(self._previous)
        self._unwatch()
