"""A workload whose every thread's answer is known, for tests/test_diagnosis.py (run as a script).

Each thread spends (nearly) all its time in one way: two handlers taking turns at a lock
(one holds it, the other waits: lock), a consumer waiting on an empty queue (queue), a pacer
asleep (sleeping), and two spinners in pure Python (handling, and the GIL: each waits while
the other holds it). It prints ``ready`` once every thread runs, then runs for the seconds given.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time

stop = threading.Event()
lock = threading.Lock()
work: queue.Queue[int] = queue.Queue()


def locker() -> None:  # holds the lock asleep, so the other locker waits on it, not on the GIL
    while not stop.is_set():
        with lock:
            time.sleep(0.02)


def consumer() -> None:
    while not stop.is_set():
        with contextlib.suppress(queue.Empty):
            work.get(timeout=0.05)


def pacer() -> None:
    while not stop.is_set():
        time.sleep(0.01)


def spinner() -> None:
    x = 0
    while not stop.is_set():
        for i in range(10_000):
            x += i


def main() -> None:
    roles = [("locker-1", locker), ("locker-2", locker), ("consumer", consumer), ("pacer", pacer),
             ("spinner-1", spinner), ("spinner-2", spinner)]  # fmt: skip
    threads = [threading.Thread(target=f, name=n) for n, f in roles]
    for t in threads:
        t.start()
    print("ready", flush=True)
    time.sleep(float(sys.argv[1]))
    stop.set()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
