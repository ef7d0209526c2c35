"""The diagnosis pass: what each handling thread's time is made of, from a sampling profiler.

**Method.** One extra run per contender, outside the timed trials (as the allocation pass is),
on the same stream in the same mode: py-spy samples this process and its children
(``record --native --idle --threads --subprocesses --format speedscope``) from the moment the
window opens (``run_once``'s ``around_window``) to the moment it closes, and every sample
of every handling thread is put in one bucket (:data:`BUCKETS`) by the rules of
:data:`RULES` for the running CPython. ``--idle`` keeps the samples of threads that are not
running, which are the point; ``--native`` keeps the C frames that say *what* a thread waits
in (the GIL's condition variable, a lock's semaphore, ``clock_nanosleep``).

**Why a sampler, and why apart.** A waiting thread shows no CPU time; only its stack says
whether it waits for the GIL, a lock, a queue or a clock. py-spy reads stacks from outside
(no profile function, no change to the code), but with ``--native`` it stops the process for
each sample (some 100 µs here), so the pass's own run is slower than a timed one and is never
one of them: its figures are shares of samples, never latencies.

**Rate.** :data:`RATE_HZ` (200 a second): a share ``p`` over ``n`` samples has a standard
error of ``sqrt(p(1-p)/n)``, about 3.5 points for ``p`` = 0.5 over one second of window
(200 samples); a higher rate stops the process more often (at 200 Hz a 100 µs stop is 2 % of
the time), which changes what it measures. The table gives each thread's sample count, so a
reader can judge the error; a window shorter than a few tenths of a second gives too few.

**Which threads.** The handling threads: the threaded contender's ``eventbench-worker-N``,
the worker processes of the processes contender (their main thread, recognised by the
``_worker_main`` frame), and, for the contenders that handle on the thread that calls
``run`` (sequential, asyncio, native-sequential), that thread. The native engine's Rust threads
(``evb-worker-N``) have no Python thread state and are invisible to py-spy: ``perf`` records
them in runs of their own (:class:`PerfSession`; py-spy's ptrace stops would show in perf as time
off the CPU), weighing on-CPU samples and switch-outs by time. Where perf is missing or refused,
a note says which and why, and the rest stands. The thread that calls ``run`` is shown too where
it is not a handler (it dispatches and paces).

**What py-spy cannot tell.** Running from runnable: both give the same stack, so
``handling`` holds the time a handler wanted a CPU and did not get one. The per-thread
schedstat shares of the result documents (runqueue time) tell those apart.

**Where it cannot run** (py-spy missing, or refused by ptrace), :class:`Diagnosis` carries
``unavailable`` with the reason, and the table says it; the rest of ``compare`` is unchanged.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import flamegraph
from harness.document import Attribution
from harness.runner import checked_run
from protocol.contender import Contender
from protocol.events import EventStream

RATE_HZ = 200
ATTACH_TIMEOUT_S = 10.0
# The window the pass samples at least, over repeated runs of a short stream: 0.5 s is some 100
# samples a thread at RATE_HZ (a share's standard error 5 points at most); MAX_RUNS bounds the
# cost of a stream whose window is a few milliseconds (the native engine's).
MIN_WINDOW_S = 0.5
# A workload's stream is made longer for the pass (the same workload, more events) rather than run
# again and again where its window is short: each run costs py-spy's attach (half a second or more,
# reading every library's symbols). Bounded so that a worker process's shared segments still fit
# a 64 MiB /dev/shm (implementations/processes.py).
MAX_LONGER_EVENTS = 1_000_000
STEADY_SAMPLES = 3
MAX_RUNS = 10  # py-spy reads every loaded library's symbols before its first sample
BUCKETS = ("handling", "gil", "lock", "queue", "sleeping", "other")
BUCKET_MEANING = {
    "handling": "running or runnable (py-spy cannot tell them apart)",
    "gil": "waiting for the GIL",
    "lock": "waiting for a lock (threading.Lock, RLock, a C lock)",
    "queue": "waiting on a queue, condition, event or pipe for work",
    "sleeping": "sleeping: pacing (time.sleep) and I/O waits (select, poll, read)",
    "other": "waiting in a place no rule names (a hidden PyMutex wait such as Thread.join, say)",
}
METHOD = f"py-spy record --native --idle --threads --subprocesses at {RATE_HZ} Hz, untimed runs"
# The threads a contender starts to handle on carry the project's prefix: threaded's
# eventbench-worker-N, the C example's eventbench-c-example. Other threads of this process
# (a progress spinner's, say) are not handlers.
WORKER_THREAD = re.compile(r"^eventbench-")
WORKER_PROCESS_FRAME = "_worker_main"


# ---------------------------------------------------------------- the rules, per CPython version


@dataclass(frozen=True)
class Rules:
    """How a py-spy sample's innermost frames say what the thread is doing, on one CPython.

    py-spy merges native and Python stacks and drops libpython's own frames except those whose
    name starts with time, sys, gc, os, unicode, thread, stringio, sre, PyGilState, PyThread or
    lock (py-spy src/native_stack_trace.rs): ``take_gil`` never shows. What shows is where each
    wait ends in libc, and the frame that called it (the *caller*: the innermost frame that is
    not libc's), which is what these rules read. Checked against perf's full stacks on 3.13
    (/work/notes/issue19-research.md): libpython 3.13 calls ``pthread_cond_*`` only from
    ``take_gil`` and ``drop_gil``; its locks, Queue and Condition wait on POSIX semaphores
    reached from ``PyThread_acquire_lock_timed``. ``tests/test_diagnosis.py`` runs a workload
    whose every thread's answer is known, so a rule a new CPython breaks fails there.
    """

    checked_on: str  # the CPython the rules were checked on
    gil_waits: tuple[str, ...] = ("pthread_cond_timedwait", "pthread_cond_wait", "pthread_cond_clockwait")
    lock_callers: tuple[str, ...] = ("PyThread_acquire_lock_timed", "PyThread_acquire_lock_timed_with_retries",
                                     "lock_PyThread_acquire_lock", "rlock_acquire")  # fmt: skip
    # The C side of a queue's get (SimpleQueue's); a Python frame of a queue's wait, anywhere above a lock
    # wait, as file:function (:func:`_python_key`): Queue.get, Condition.wait, Event.wait, Barrier.wait,
    # multiprocessing's queues, conditions and Connection's receiving and polling methods.
    queue_callers: tuple[str, ...] = ("_queue_SimpleQueue_get_impl",)
    queue_frames: tuple[str, ...] = ("queue.py:get", "queues.py:get", "threading.py:wait", "synchronize.py:wait",
                                     "connection.py:recv", "connection.py:_recv", "connection.py:poll",
                                     "connection.py:_poll", "connection.py:_recv_bytes")  # fmt: skip
    sleeps: tuple[str, ...] = ("clock_nanosleep", "nanosleep", "__clock_nanosleep")
    sleep_callers: tuple[str, ...] = ("time_sleep", "pysleep")
    io_waits: tuple[str, ...] = ("epoll_wait", "poll", "__poll", "ppoll", "select", "__select", "pselect",
                                 "read", "__libc_read", "recv", "__libc_recv", "recvfrom", "accept")  # fmt: skip


# 3.10 to 3.13 share the rules (threading locks on POSIX semaphores, the GIL on a condition
# variable), each checked on the version named by tests/test_diagnosis.py's known workload, which
# CI runs on every one (noxfile.py's VERSION_CHECKS). 3.14 turns threading.Lock into a PyMutex: not
# checked here, so it is not listed, and a run on it says the rules are unchecked (:func:`rules_for`).
RULES: dict[tuple[int, int], Rules] = {
    (3, 10): Rules(checked_on="3.10.13"),
    (3, 11): Rules(checked_on="3.11.7"),
    (3, 12): Rules(checked_on="3.12.1"),
    (3, 13): Rules(checked_on="3.13.0"),
}


def rules_for(version: tuple[int, int] = sys.version_info[:2]) -> tuple[Rules, str | None]:
    """The rules for ``version``, and a note where they were not checked on it (the newest then)."""
    if version in RULES:
        return RULES[version], None
    newest = max(RULES)
    return RULES[newest], (
        f"the classification rules were checked on CPython {RULES[newest].checked_on}, not on "
        f"{version[0]}.{version[1]}: its waits may land in 'other' or 'handling'"
    )


def _name(frame: str) -> str:
    """A frame's function: ``name (file:line)`` or ``name (library)`` without the place."""
    return frame.rsplit(" (", 1)[0] if frame.endswith(")") else frame


def _python_key(frame: str) -> str:
    """A Python frame as ``file:function``, the same on every CPython: ``Condition.wait
    (threading.py:359)`` and 3.10's ``wait (threading.py:324)`` (py-spy names a frame by its
    code's qualified name, which 3.10's code objects lack) are both ``threading.py:wait``."""
    name, _, place = frame[:-1].partition(" (")  # a name has no " (", a path may
    return f"{place.rpartition(':')[0].rpartition('/')[2]}:{name.rpartition('.')[2]}"


def _is_libc(frame: str) -> bool:
    return "(libc.so" in frame or "(ld-linux" in frame or "(libpthread" in frame


def _is_python(frame: str) -> bool:
    return frame.endswith(")") and ".py:" in frame


def classify(frames: list[str], rules: Rules) -> str:
    """The bucket of one sample; ``frames`` root first, without py-spy's process and thread frames."""
    libc = 0  # the libc frames at the leaf: where the thread is, inside libc
    while libc < len(frames) and _is_libc(frames[-1 - libc]):
        libc += 1
    tail = [_name(f) for f in frames[len(frames) - libc :]]
    inner = frames[: len(frames) - libc]
    caller = _name(inner[-1]) if inner else ""
    caller_is_python_side = not inner or _is_python(inner[-1]) or "libpython" in inner[-1] or ".c:" in inner[-1]
    in_queue = any(_python_key(f) in rules.queue_frames for f in inner if _is_python(f))
    if not tail:
        return "handling"  # on a CPU (or runnable) in Python or a library's code
    if any(t in rules.sleeps for t in tail):
        return "sleeping"
    if tail[0] in rules.gil_waits:
        # libpython waits on a condition variable only for the GIL; another library's own
        # condition variable (a native pool's join, say) is that library's wait.
        return "gil" if caller_is_python_side else "queue"
    if any(t in rules.io_waits for t in tail):
        return "queue" if in_queue else "sleeping"
    if caller in rules.sleep_callers:
        return "sleeping"
    if caller in rules.queue_callers:
        return "queue"
    if caller in rules.lock_callers:
        return "queue" if in_queue else "lock"
    if all(t.startswith("0x") for t in tail):
        # Unnamed libc frames straight under a Python frame or a hidden libpython wait (PyMutex,
        # _PyEvent_WaitTimed: Thread.join); or libc code a handler called (memcpy): no rule can
        # tell, so it is neither handling nor a named wait.
        return "other"
    return "handling"  # named libc code that is not a wait (__tls_get_addr, memmove ...)


# ---------------------------------------------------------------- py-spy's output


@dataclass(frozen=True)
class Sample:
    process: int | None  # the innermost process frame's pid (--subprocesses)
    tid: int
    thread: str
    frames: list[str]
    count: int


# A process frame's command line may hold ``;`` (the forkserver's ``-c "...; main(...)"``): it ends
# at the first ``";`` that a process or thread frame follows.
_PROCESS = re.compile(r'process (\d+):".*?";(?=process \d+:"|thread \()')
_THREAD = re.compile(r"^thread \((\d+)\): ?(.*)$")


def parse_raw(text: str) -> Iterator[Sample]:
    """py-spy's ``--format raw`` lines: ``frame;frame;... COUNT``, root first, with a
    ``process PID:"cmdline"`` frame per ancestor (``--subprocesses``) and a ``thread (TID): NAME``
    frame (``--threads``) before the stack."""
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        process = None
        while m := _PROCESS.match(stack):
            process = int(m.group(1))
            stack = stack[m.end() :]
        frames = stack.split(";")
        t = _THREAD.match(frames[0])
        if t is None:
            continue  # not a thread's sample (py-spy always writes one with --threads)
        yield Sample(process, int(t.group(1)), t.group(2), frames[1:], int(count))


_PROFILE = re.compile(r'^(?:Process (\d+) )?Thread (\d+)(?: "(.*)")?')
OUTSIDE_WINDOW = "sampled"  # the sampler's own generator: on the calling thread's stack only outside the window


def _frame_text(frame: dict[str, Any]) -> str:
    """A speedscope frame as py-spy's raw format writes it: ``name (file:line)``, ``name (library)``."""
    place = Path(str(frame.get("file") or "")).name
    line = frame.get("line") or 0
    return f"{frame['name']} ({place}:{line})" if line else f"{frame['name']} ({place})"


def parse_speedscope(document: dict[str, Any], caller_tid: int) -> Iterator[Sample]:
    """py-spy's ``--format speedscope``: a profile per thread, its samples in time order, every
    live thread sampled at each tick. The ticks at which the calling thread (``caller_tid``) is
    inside the sampler's own code (waiting for py-spy's first samples, or stopping it) are outside
    the window, and dropped for every thread. Threads are aligned by their first tick: the
    handling threads and processes exist before the window opens (``open`` makes them)."""
    names = [_frame_text(f) for f in document["shared"]["frames"]]
    profiles = []
    for profile in document["profiles"]:
        m = _PROFILE.match(str(profile.get("name", "")))
        if m is None or profile.get("type") != "sampled":
            continue
        process = int(m.group(1)) if m.group(1) else None
        profiles.append((process, int(m.group(2)), m.group(3) or "", profile["samples"]))
    caller = next((p for p in profiles if p[1] == caller_tid), None)
    outside: set[int] = set()
    if caller is not None:
        mark = f"{OUTSIDE_WINDOW} ({Path(__file__).name}:"
        outside = {i for i, stack in enumerate(caller[3]) if any(names[f].startswith(mark) for f in stack)}
    # py-spy writes the process and thread as frames too (root first): the profile's name says them
    own = {i for i, n in enumerate(names) if n.startswith(("process ", "thread ("))}
    for process, tid, thread, stacks in profiles:
        for i, stack in enumerate(stacks):
            if i not in outside:
                yield Sample(process, tid, thread, [names[f] for f in stack if f not in own], 1)


# ---------------------------------------------------------------- attribution


@dataclass(frozen=True)
class ThreadShares:
    """One thread's samples, by bucket."""

    label: str  # eventbench-worker-0, worker processes, main (dispatches) ...
    role: str  # "handler" or "dispatcher"
    samples: int  # in ``unit``
    buckets: dict[str, int]
    unit: str = "samples"  # perf's threads: "us", the time each bucket holds

    def share(self, bucket: str) -> float:
        return self.buckets.get(bucket, 0) / self.samples if self.samples else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"thread": self.label, "role": self.role, "samples": self.samples, "unit": self.unit,
                "shares": {b: self.share(b) for b in BUCKETS}}  # fmt: skip


@dataclass(frozen=True)
class Diagnosis:
    """The pass's result for one contender: per thread, and the handlers together."""

    contender: str
    method: str
    threads: tuple[ThreadShares, ...]
    window_s: float
    rate_hz: int
    notes: tuple[str, ...] = ()  # rules unchecked on this Python, threads the sampler cannot see ...
    unavailable: str | None = None  # why the sampler could not run here; then no threads
    folded: tuple[str, ...] = field(default=(), compare=False)  # classified collapsed stacks, for the flame graph
    graph_method: str | None = None  # where the flame graph's stacks come from, when not ``method``

    @property
    def handlers(self) -> ThreadShares | None:
        """Every handling thread's samples together (what the headline shares are of)."""
        mine = [t for t in self.threads if t.role == "handler"]
        if not mine:
            return None
        total: Counter[str] = Counter()
        for t in mine:
            total.update(t.buckets)
        return ThreadShares("all handlers", "handler", sum(t.samples for t in mine), dict(total), mine[0].unit)

    def shares(self) -> dict[str, float] | None:
        """The handlers' shares by bucket, as result documents carry them."""
        h = self.handlers
        return {b: h.share(b) for b in BUCKETS} if h and h.samples else None

    def as_dict(self) -> dict[str, Any]:
        h = self.handlers
        return {
            "contender": self.contender,
            "method": self.method,
            "rate_hz": self.rate_hz,
            "window_s": self.window_s,
            "unavailable": self.unavailable,
            "notes": list(self.notes),
            "handlers": h.as_dict() if h else None,
            "threads": [t.as_dict() for t in self.threads],
        }


def attribute(
    samples: Iterable[Sample], rules: Rules, *, dispatcher_tid: int, own_pid: int, native_pool: bool
) -> tuple[list[ThreadShares], list[str]]:
    """Each handling thread's (and the dispatching thread's) samples by bucket, and the classified
    collapsed stacks (``thread;[bucket];frames... count``) of the same samples.

    The handlers are the pool's threads (``eventbench-*``) or worker processes (a child
    with a ``_worker_main`` frame); where there are none, the thread that called ``run``, unless
    the pool is native (``native_pool``: threads py-spy cannot see), where that thread dispatches."""
    by_thread: dict[str, tuple[str, str, Counter[str]]] = {}  # by label: repeated runs' pools add up
    folded: Counter[str] = Counter()
    samples = list(samples)
    worker_pids = {s.process for s in samples
                   if s.process != own_pid and any(WORKER_PROCESS_FRAME in f for f in s.frames)}  # fmt: skip
    pooled = native_pool or bool(worker_pids) or any(WORKER_THREAD.match(s.thread) for s in samples)
    for s in samples:
        in_child = s.process is not None and s.process != own_pid
        if in_child and s.process in worker_pids:
            label, role = "worker processes", "handler"
        elif in_child:
            continue  # a forkserver, multiprocessing's resource tracker: idle helpers, not handlers
        elif WORKER_THREAD.match(s.thread):
            label, role = s.thread, "handler"
        elif s.tid == dispatcher_tid:
            label, role = ("main (dispatches)", "dispatcher") if pooled else ("main (handles)", "handler")
        else:
            continue
        bucket = classify(s.frames, rules)
        key = label  # worker processes together: each run has new ones
        if key not in by_thread:
            by_thread[key] = (label, role, Counter())
        by_thread[key][2][bucket] += s.count
        folded[";".join([label, f"[{bucket}]", *s.frames])] += s.count
    threads = [ThreadShares(label, role, sum(c.values()), dict(c)) for label, role, c in by_thread.values()]
    threads.sort(key=lambda t: (t.role != "handler", t.label))
    return threads, [f"{stack} {n}" for stack, n in folded.items()]


# ---------------------------------------------------------------- the sampler


class SamplerUnavailable(RuntimeError):
    """py-spy cannot run here (missing, or not allowed to attach); the message says which."""


class NoSamples(SamplerUnavailable):
    """py-spy ran but wrote no sample (a window shorter than its first samples)."""


def py_spy() -> str:
    """py-spy's path: beside this interpreter (where its wheel puts it, in a virtual environment
    run without activating it), else on PATH."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("py-spy", path=search)
    if found is None:
        raise SamplerUnavailable("py-spy is not installed (pip install py-spy) nor on PATH")
    return found


def _voluntary_switches() -> int:
    with open("/proc/thread-self/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    return 0


def _await_first_sample(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Spins until py-spy samples steadily, so that the window is sampled from its start and
    (nearly) no sample falls before it. A spinning thread is switched out voluntarily only when
    something stops it: py-spy's ptrace stop of every thread, once a sample. Its first samples
    come slowly (it reads each library's symbols as it meets them), so this waits for
    :data:`STEADY_SAMPLES` of them: those few samples of the idle pool are the only ones outside the window."""
    before = _voluntary_switches()
    deadline = time.monotonic() + timeout_s
    while _voluntary_switches() < before + STEADY_SAMPLES:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
            raise SamplerUnavailable(f"py-spy could not attach: {err.splitlines()[-1] if err else 'it exited'}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise SamplerUnavailable(f"py-spy took no sample within {timeout_s:.0f} s")


@contextmanager
def sampled(output: Path, rate_hz: int = RATE_HZ) -> Iterator[None]:
    """py-spy recording this process and its children while the block runs; the stacks, in time
    order per thread, in ``output`` (speedscope's JSON: :func:`parse_speedscope`). Its samples while
    this generator runs (before and after the block) are recognised by this function's frame."""
    command = [py_spy(), "record", "--pid", str(os.getpid()), "--native", "--idle", "--threads", "--subprocesses",
               "--format", "speedscope", "--rate", str(rate_hz), "--output", str(output)]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _await_first_sample(process, ATTACH_TIMEOUT_S)
        yield
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        _, err = process.communicate()
    if not output.is_file():  # py-spy writes nothing when it took no sample of a Python thread
        why = err.decode(errors="replace").strip()[-300:] or "the window was shorter than its first samples"
        raise NoSamples(f"py-spy wrote no samples ({why})")


def diagnose(
    contender: Contender,
    stream: EventStream,
    workers: int,
    mode: str,
    *,
    window_s: float | None = None,
    longer: Callable[[int], EventStream] | None = None,
) -> Diagnosis:
    """Untimed runs of ``contender`` sampled from their window's start to its end, until
    :data:`MIN_WINDOW_S` is covered. ``window_s``: the timed runs' window, where known; where it
    is short and ``longer`` can make the same workload with more events, the pass runs that."""
    info = contender.info
    rules, unchecked = rules_for()
    notes = [unchecked] if unchecked else []
    if window_s and longer and 0 < window_s < MIN_WINDOW_S and stream.n_events < MAX_LONGER_EVENTS:
        # twice what the timed window says: a second run (another attach) costs more than a longer one
        n = min(MAX_LONGER_EVENTS, math.ceil(stream.n_events * 2 * MIN_WINDOW_S / window_s))
        notes.append(f"sampled on the same workload at {n} events: the timed runs' window "
                     f"({window_s * 1e3:.0f} ms) is too short to sample")  # fmt: skip
        stream = longer(n)
    try:
        py_spy()
    except SamplerUnavailable as e:
        return Diagnosis(info.name, METHOD, (), 0.0, RATE_HZ, tuple(notes), str(e))
    dispatcher = threading.get_native_id()
    window: list[float] = []
    found: list[Sample] = []
    skipped: list[str] = []  # runs that gave no sample, and why
    with tempfile.TemporaryDirectory(prefix="eventbench-diagnose-") as tmp:
        raw = Path(tmp) / "samples.json"

        @contextmanager
        def observed() -> Iterator[None]:
            with sampled(raw):
                start = time.monotonic()
                yield
                window.append(time.monotonic() - start)

        # A short window gives too few samples (and py-spy's first ones come late): the run is
        # repeated, each run sampled over its own window only, until MIN_WINDOW_S is covered.
        for _ in range(MAX_RUNS):
            try:
                checked_run(contender, stream, workers=workers, mode=mode, around_window=observed)
                found += parse_speedscope(json.loads(raw.read_text()), dispatcher)
            except NoSamples as e:  # a window shorter than py-spy's first samples: the next run may give some
                skipped.append(str(e))
            except SamplerUnavailable as e:  # it cannot attach here: no run will do better
                return Diagnosis(info.name, METHOD, (), sum(window), RATE_HZ, tuple(notes), str(e))
            raw.unlink(missing_ok=True)
            if sum(window) >= MIN_WINDOW_S:
                break
    native_pool = info.language == "rust" and info.parallel  # native-sequential handles on the calling thread
    if not found:
        why = f"py-spy took no sample in {len(window)} runs of {sum(window):.3f} s of window in all"
        if not native_pool:
            return Diagnosis(info.name, METHOD, (), sum(window), RATE_HZ, tuple(notes), why)
        notes.append(f"{why}: the dispatching thread has no shares")  # perf's pass, below, has the handlers'
    elif skipped:
        notes.append(f"{len(skipped)} of {len(window)} runs gave no sample: {skipped[0]}")
    if len(window) > 1:
        notes.append(f"{len(window)} runs sampled (each window {sum(window) / len(window) * 1e3:.0f} ms), "
                     f"to cover {MIN_WINDOW_S} s")  # fmt: skip
    graph: str | None = None
    threads, folded = attribute(found, rules, dispatcher_tid=dispatcher, own_pid=os.getpid(), native_pool=native_pool)
    if native_pool:
        native, native_folded, native_notes = _perf_pass(contender, stream, workers, mode)
        notes += native_notes
        threads = native + threads
        folded = native_folded or folded  # one unit per graph: perf's time where it ran
        graph = PERF_METHOD if native_folded else None
        if not threads:
            return Diagnosis(info.name, METHOD, (), sum(window), RATE_HZ, tuple(notes), "neither py-spy nor perf "
                             "sampled a thread of the run")  # fmt: skip
    most = max((t.samples for t in threads if t.unit == "samples"), default=0)
    if found and most < RATE_HZ * sum(window) / 2:  # each sample stops the process while it unwinds
        notes.append(f"py-spy kept up with {most / sum(window):.0f} samples a second of the {RATE_HZ} asked")
    if not any(t.role == "handler" for t in threads) and info.language != "rust":
        notes.append("no handling thread was sampled (the window was shorter than py-spy's first samples?)")
    return Diagnosis(info.name, METHOD, tuple(threads), sum(window), RATE_HZ, tuple(notes), None, tuple(folded), graph)


# ---------------------------------------------------------------- perf, for threads py-spy cannot see

PERF_PERIOD_NS = 1_000_000  # a cpu-clock sample each millisecond a thread is on a CPU
PERF_THREAD = re.compile(r"^evb-worker-\d+$")  # the native engine's pool (implementations/native/engine/src/pool.rs)
# The innermost frame that says what an off-CPU thread waits in, by bucket, checked in this order
# (a stack names its wait once: std's futex Mutex, crossbeam's channel parking, a sleep).
NATIVE_WAITS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gil", ("take_gil",)),
    ("lock", ("lock_contended", "__lll_lock_wait", "pthread_mutex_lock", "PyThread_acquire_lock", "sem_wait",
              "__new_sem_wait")),
    ("sleeping", ("clock_nanosleep", "nanosleep", "thread::sleep", "epoll_wait", "do_sys_poll", "do_select",
                  "ksys_read")),
    ("queue", ("crossbeam_channel", "mpmc", "Receiver", "recv", "thread::park", "Parker", "Condvar",
               "pthread_cond_", "JoinInner")),
)  # fmt: skip


class PerfUnavailable(RuntimeError):
    """perf cannot run here (missing, or refused); the message says which and why."""


def classify_native(frames_leaf_first: list[str], off_cpu: bool, state: str) -> str:
    """A perf sample's bucket: a cpu-clock sample, or a switch-out (``off_cpu``) in ``state``
    (``R``: preempted, so runnable, which py-spy's ``handling`` holds too)."""
    if not off_cpu or state.startswith("R"):
        return "handling"
    for bucket, marks in NATIVE_WAITS:
        if any(m in f for f in frames_leaf_first for m in marks):
            return bucket
    return "other"


def _fifo_open(path: Path, flags: int, process: subprocess.Popen[bytes], timeout_s: float) -> int:
    """Opens one end of perf's control fifo without blocking on a perf that has exited."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return os.open(path, flags | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            if process.poll() is not None or time.monotonic() > deadline:
                raise PerfUnavailable(_perf_error(process)) from None
            time.sleep(0.01)


def _perf_error(process: subprocess.Popen[bytes]) -> str:
    if process.poll() is None:
        process.kill()
    err = process.communicate()[1].decode(errors="replace").strip() if process.stderr else ""
    lines = [line for line in err.splitlines() if line.strip()]
    return f"perf record failed: {lines[0] if lines else 'no reason given'}"


def _perf_command(events: list[str], ctl: Path, ack: Path, output: Path) -> list[str]:
    perf = shutil.which("perf")
    if perf is None:
        raise PerfUnavailable("perf is not installed here (Debian: linux-perf)")
    # Started disabled (-D -1), enabled through its control fifo when the window opens, so that
    # perf's own start (a second or more) is outside the window.
    events_args = [a for e in events for a in ("-e", e)]
    return [perf, "record", "-D", "-1", "--control", f"fifo:{ctl},{ack}", "-k", "monotonic", *events_args,
            "--call-graph", "dwarf,8192", "-p", str(os.getpid()), "-o", str(output), "--quiet"]  # fmt: skip


def _control(fd_ctl: int, fd_ack: int, word: str, process: subprocess.Popen[bytes]) -> None:
    import select

    os.write(fd_ctl, f"{word}\n".encode())
    ready, _, _ = select.select([fd_ack], [], [], ATTACH_TIMEOUT_S)
    if not ready or not os.read(fd_ack, 64).startswith(b"ack"):
        raise PerfUnavailable(_perf_error(process))


class PerfSession:
    """perf recording every thread of this process, with DWARF call graphs, enabled only inside
    each window (:meth:`window`): started once for all of a contender's repeated runs, since its
    start takes a second or more. Timestamps on the monotonic clock (``-k monotonic``), the
    harness's own, so that a window's end is known in perf's time."""

    def __init__(self, output: Path, events: list[str]) -> None:
        ctl, ack = output.with_suffix(".ctl"), output.with_suffix(".ack")
        for fifo in (ctl, ack):
            os.mkfifo(fifo)
        command = _perf_command(events, ctl, ack, output)
        self.output = output
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)  # fmt: skip
        self.fd_ack = _fifo_open(ack, os.O_RDONLY, self.process, ATTACH_TIMEOUT_S)
        self.fd_ctl = _fifo_open(ctl, os.O_WRONLY, self.process, ATTACH_TIMEOUT_S)
        self.windows: list[tuple[float, float]] = []  # each window's start and end, monotonic seconds

    @contextmanager
    def window(self) -> Iterator[None]:
        _control(self.fd_ctl, self.fd_ack, "enable", self.process)
        start = time.monotonic()
        yield
        end = time.monotonic()
        _control(self.fd_ctl, self.fd_ack, "disable", self.process)
        self.windows.append((start, end))

    def close(self) -> None:
        os.close(self.fd_ctl)
        os.close(self.fd_ack)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        self.process.communicate()


_PERF_HEADER = re.compile(
    r"^(?P<comm>.+?)\s+(?P<tid>\d+)\s+(?P<time>\d+\.\d+):\s+(?:\d+\s+)?(?P<event>[\w:-]+(?:/[^/]*/)?):(?P<rest>.*)$"
)


def perf_samples(data: Path) -> list[tuple[str, int, float, str, str, list[str]]]:
    """``(comm, tid, time_s, event, trace, frames leaf first)`` of every sample in ``data``."""
    perf = shutil.which("perf") or "perf"
    done = subprocess.run([perf, "script", "-i", str(data), "-F", "comm,tid,time,event,trace,ip,sym,dso",
                           "--no-inline"], capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise PerfUnavailable(f"perf script failed: {done.stderr.strip()[-200:]}")
    out: list[tuple[str, int, float, str, str, list[str]]] = []
    for line in done.stdout.splitlines():
        if not line.strip():
            continue
        if line[0].isspace():
            if out:
                parts = line.split(None, 1)
                out[-1][5].append(parts[1] if len(parts) > 1 else parts[0])
            continue
        m = _PERF_HEADER.match(line)
        if m:
            out.append((m["comm"].strip(), int(m["tid"]), float(m["time"]), m["event"], m["rest"], []))
    return out


def perf_attribute(
    samples: list[tuple[str, int, float, str, str, list[str]]], windows: list[tuple[float, float]]
) -> tuple[list[ThreadShares], list[str]]:
    """The pool's threads' time by bucket, in microseconds: each cpu-clock sample weighs its
    period; each switch-out weighs the time to the thread's next event (its next sample or
    switch-out: the thread was off the CPU until shortly before it), which is the off-CPU
    time up to one short run after waking."""
    by_tid: dict[int, list[tuple[str, int, float, str, str, list[str]]]] = {}
    for s in samples:
        if PERF_THREAD.match(s[0]):
            by_tid.setdefault(s[1], []).append(s)
    per_label: dict[str, Counter[str]] = {}
    folded: Counter[str] = Counter()
    for events in by_tid.values():
        events.sort(key=lambda e: e[2])
        for i, (comm, _tid, t, event, trace, frames) in enumerate(events):
            off_cpu = event.startswith("sched:sched_switch")
            if off_cpu:
                # off the CPU until its next event, or the end of the window it is in
                end = next((e for s, e in windows if s <= t <= e), t)
                nxt = events[i + 1][2] if i + 1 < len(events) else end
                weight = max(0, round((min(nxt, end) - t) * 1e6))
                state = m.group(1) if (m := re.search(r"prev_state=(\S+)", trace)) else "S"
            else:
                weight, state = PERF_PERIOD_NS // 1000, "R"
            bucket = classify_native(frames, off_cpu, state)
            per_label.setdefault(comm, Counter())[bucket] += weight
            names = [f.rsplit(" (", 1)[0] for f in reversed(frames)]  # root first, without the library
            folded[";".join([comm, f"[{bucket}]", *names])] += weight
    threads = [ThreadShares(label, "handler", sum(c.values()), dict(c)) for label, c in sorted(per_label.items())]
    return threads, [f"{stack} {n}" for stack, n in folded.items() if n > 0]


PERF_EVENTS = [f"cpu-clock/period={PERF_PERIOD_NS}/", "sched:sched_switch"]
PERF_METHOD = "perf record -e cpu-clock (every 1 ms on a CPU) -e sched:sched_switch --call-graph dwarf, widths in µs"


def _perf_pass(
    contender: Contender, stream: EventStream, workers: int, mode: str
) -> tuple[list[ThreadShares], list[str], list[str]]:
    """The native engine's threads (invisible to py-spy) from perf, over repeated runs as for py-spy;
    with the scheduler's switch-outs where perf may record them, else on-CPU samples only."""
    notes = [
        "the engine's Rust threads (evb-worker-N) have no Python thread state: perf, not py-spy, attributes "
        "their time (in µs: cpu-clock samples, and switch-outs weighted by their off-CPU time)"
    ]
    with tempfile.TemporaryDirectory(prefix="eventbench-perf-") as tmp:
        try:
            try:
                session = PerfSession(Path(tmp) / "perf.data", PERF_EVENTS)
            except PerfUnavailable as e:  # the scheduler's events refused? on-CPU samples alone
                notes.append(f"no off-CPU stacks: sched:sched_switch refused ({e}); on-CPU samples only")
                session = PerfSession(Path(tmp) / "perf-cpu.data", PERF_EVENTS[:1])
            try:
                for _ in range(MAX_RUNS):
                    checked_run(contender, stream, workers=workers, mode=mode, around_window=session.window)
                    if sum(e - s for s, e in session.windows) >= MIN_WINDOW_S:
                        break
            finally:
                session.close()
            samples = perf_samples(session.output)
        except PerfUnavailable as e:
            return [], [], [notes[0].split(":")[0] + f": not measured, {e}"]
    threads, folded = perf_attribute(samples, session.windows)
    if not threads:
        notes.append("perf recorded no sample of the engine's threads")
    return [replace(t, unit="us") for t in threads], folded, notes


# ---------------------------------------------------------------- what it gives


def failed(contender: Contender, why: str) -> Diagnosis:
    """The diagnosis of a contender whose sampled run failed or was wrong: no shares, and why."""
    return Diagnosis(contender.info.name, METHOD, (), 0.0, RATE_HZ, (), why)


def attribution(d: Diagnosis) -> Attribution:
    """What a result document keeps of the pass: the handlers' shares."""
    h = d.handlers
    return Attribution(_method(d), h.samples if h else 0, d.shares() or {}, d.unavailable, d.notes)


def _method(d: Diagnosis) -> str:
    """How the handlers' shares were measured: perf's (in µs, not samples) where their threads were
    the native engine's, else the sampler's."""
    h = d.handlers
    return PERF_METHOD if h is not None and h.unit == "us" else d.method


def table(d: Diagnosis) -> str:
    """The contender's table: a row per thread and one for every handler together, shares in %."""
    head = f"{d.contender}: where the handling threads' time goes ({_method(d)}; window {d.window_s:.2f} s)"
    lines = [textwrap.fill(head, 99, subsequent_indent="  ")]
    if d.unavailable:
        lines.append(f"  not measured: {d.unavailable}")
    else:
        lines.append(f"  {'thread':<28}{'samples':>10}" + "".join(f"{b:>10}" for b in BUCKETS))
        handlers = d.handlers
        rows = list(d.threads) + ([handlers] if handlers and len(d.threads) > 1 else [])
        for t in rows:
            # perf's threads are weighed in time (µs), py-spy's in samples
            amount = f"{t.samples / 1000:.1f} ms" if t.unit == "us" else str(t.samples)
            lines.append(f"  {t.label:<28}{amount:>10}" + "".join(f"{100 * t.share(b):>9.1f}%" for b in BUCKETS))
    lines += [textwrap.fill(f"  note: {n}", 99, subsequent_indent="    ") for n in d.notes]
    return "\n".join(lines)


def write(diagnoses: list[Diagnosis], directory: Path, title: str) -> list[Path]:
    """Each contender's flame graph (SVG) and classified stacks, and ``summary.json`` of them all."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for d in diagnoses:
        if d.folded:
            (directory / f"{d.contender}.folded").write_text("\n".join(d.folded) + "\n")
            svg = directory / f"{d.contender}.svg"
            svg.write_text(flamegraph.render(d.folded, f"{d.contender} · {title} · {d.graph_method or d.method}"))
            written.append(svg)
    summary = directory / "summary.json"
    summary.write_text(json.dumps({"title": title, "buckets": BUCKET_MEANING,
                                   "contenders": [d.as_dict() for d in diagnoses]}, indent=2) + "\n")  # fmt: skip
    return [*written, summary]
