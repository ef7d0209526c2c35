"""Per-iteration instruction counts of the constructs the executors changed (python guard_and_call.py VARIANT N):
an inline loop with a local, with an attribute, a closure called per event, and a closure whose
body runs under `with guard():` on a shared nullcontext (sequential's no_guard)."""

import sys
from contextlib import nullcontext

_NO = nullcontext()


def no_guard(*_ids):
    return _NO


MASK = (1 << 64) - 1


class Total:
    g = 0


def run(variant, n):
    vals = list(range(n))
    total = Total()
    if variant == "inline":
        g = 0
        for i in range(n):
            g = (g + vals[i]) & MASK
        total.g = g
        return
    if variant == "inline-attr":
        for i in range(n):
            total.g = (total.g + vals[i]) & MASK
        return
    guard = no_guard
    if variant == "closure-attr":

        def handle(i):
            total.g = (total.g + vals[i]) & MASK
            return 0

    else:  # closure-guard

        def handle(i):
            with guard():
                total.g = (total.g + vals[i]) & MASK
            return 0

    for i in range(n):
        wait = handle(i)  # as the executors do: the handler says how long to wait
        if wait:
            pass


run(sys.argv[1], int(sys.argv[2]))
