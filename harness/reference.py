"""The reference digest of a stream, computed once and then reused: a content-addressed cache.

Every run is checked against the reference digest (``implementations.sequential.reference_digest``:
the scenario's Python semantics, one event at a time). On 16 M events that takes half a minute of
Python for a run whose engine takes a second, so :func:`reference_digest` — the one way every
command gets it — looks it up first, by what the digest is a function of:

* the **stream**: the SHA-256 of its ``.evts`` file bytes (header and records: ``sha256sum`` of
  an exported file gives the same), so ``n_keys``, the scenario's name and version and every
  record are in it, and a workload stream and its exported file share their entry;
* the **scenario's name and version** (in the header already; stated apart, and checked on read);
* the **reference's code**: the SHA-256 of the source of the scenario's Python semantics (every
  ``.py`` file of the package that defines them: the handler and whatever of its own it calls),
  of ``protocol/splitmix.py`` (the mixing function every built-in digest is made of) and of
  ``implementations/sequential.py`` (the loop that drives the reference). That is what changes
  when the reference does. A package version would not: a development checkout edits the
  semantics without bumping it, and the cache would then answer with a stale digest. A
  scenario whose source cannot be read (a module built at run time) is never cached.

Entries are small JSON files under the user's cache directory (:func:`cache_directory`),
written atomically (``protocol.storage``). An entry that cannot be read, does not parse or does
not match its key is ignored: the digest is computed again and the entry written anew. A cache
that cannot be written is skipped silently: the run goes on, uncached. ``--no-reference-cache``
(or ``EVENTBENCH_NO_REFERENCE_CACHE=1``) neither reads nor writes it; ``eventbench cache clear``
empties it; ``eventbench cache info`` shows where it is and what it holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from contextlib import suppress
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import implementations.sequential
import protocol.splitmix
from protocol.errors import InvalidInput
from protocol.events import EventStream
from protocol.scenario import Scenario
from protocol.splitmix import digest_hex
from protocol.storage import atomic_write_text

ENV_DIR = "EVENTBENCH_CACHE_DIR"  # where eventbench caches things (default: the XDG cache directory's eventbench/)
ENV_OFF = "EVENTBENCH_NO_REFERENCE_CACHE"  # any value but "" or "0": the cache is neither read nor written
FORMAT = 1  # an entry's layout; in the key, so that a new layout never reads an old one
ENTRY = re.compile(r"[0-9a-f]{64}\.json")
_LEFTOVER = re.compile(r"\.[0-9a-f]{64}\.json\..+\.tmp")
_DIGEST = re.compile(r"[0-9a-f]{16}")


def cache_root() -> Path:
    """``$EVENTBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/eventbench``, else ``~/.cache/eventbench``
    (the XDG base directory rule; a relative ``XDG_CACHE_HOME`` is ignored, as the rule says)."""
    explicit = os.environ.get(ENV_DIR)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "eventbench"


def cache_directory() -> Path:
    """Where the reference digests are kept."""
    return cache_root() / "reference-digests"


def bypassed_by_environment() -> bool:
    return os.environ.get(ENV_OFF, "") not in ("", "0")


@dataclass(frozen=True)
class Key:
    """What a reference digest is a function of (the module doc says why these)."""

    stream_sha256: str
    scenario: str
    scenario_version: int
    reference_code: str

    def file_name(self) -> str:
        fields = f"{FORMAT}\0{self.stream_sha256}\0{self.scenario}\0{self.scenario_version}\0{self.reference_code}"
        return hashlib.sha256(fields.encode()).hexdigest() + ".json"


def stream_sha256(stream: EventStream) -> str:
    """The SHA-256 of the stream's ``.evts`` file bytes (``EventStream.sha256``)."""
    return stream.sha256()


def reference_code(scenario: Scenario) -> str | None:
    """The SHA-256 of the reference's source for ``scenario``; None where it cannot be read."""
    return _code_of(type(scenario.python).__module__)


@cache  # once per process and module: the sources do not change under a running process
def _code_of(module_name: str) -> str | None:
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if module is None or not file or not file.endswith(".py"):
        return None
    path = Path(file)
    # The package's every module: the handler may call helpers of its own beside it. A module
    # outside any package is itself alone.
    own = sorted(path.parent.rglob("*.py")) if module.__package__ else [path]
    harness_side = [Path(m.__file__) for m in (protocol.splitmix, implementations.sequential) if m.__file__]
    h = hashlib.sha256()
    try:
        for source in [*own, *harness_side]:
            h.update(f"{source.name}\0{source.stat().st_size}\0".encode())
            h.update(source.read_bytes())
    except OSError:
        return None
    return h.hexdigest()


def key_of(stream: EventStream) -> Key | None:
    code = reference_code(stream.scenario)
    if code is None:
        return None
    return Key(stream_sha256(stream), stream.scenario.name, stream.scenario.version, code)


def computed(stream: EventStream) -> str:
    """The reference digest, computed (no cache)."""
    return digest_hex(implementations.sequential.reference_digest(stream))


def reference_digest(stream: EventStream, *, cached: bool = True) -> str:
    """The stream's reference digest: from the cache where it holds it, else computed and kept.

    ``cached=False`` (the commands' ``--no-reference-cache``), or ``EVENTBENCH_NO_REFERENCE_CACHE``
    set, computes it without reading or writing the cache."""
    if not cached or bypassed_by_environment():
        return computed(stream)
    key = key_of(stream)
    if key is None:
        return computed(stream)
    path = cache_directory() / key.file_name()
    found = _read(path, key)
    if found is not None:
        return found
    digest = computed(stream)
    _write(path, key, digest, stream)
    return digest


def _read(path: Path, key: Key) -> str | None:
    """The entry's digest, or None where there is none or it cannot be trusted (unreadable,
    not JSON, another layout, not this key's, not a digest): it is then computed again."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):  # absent, unreadable, or not JSON
        return None
    if not isinstance(entry, dict) or entry.get("format") != FORMAT:
        return None
    if any(entry.get(name) != value for name, value in asdict(key).items()):
        return None
    digest = entry.get("digest")
    return digest if isinstance(digest, str) and _DIGEST.fullmatch(digest) else None


def _write(path: Path, key: Key, digest: str, stream: EventStream) -> None:
    entry = {"format": FORMAT, **asdict(key), "digest": digest, "n_events": stream.n_events,
             "n_keys": stream.n_keys, "source": stream.source}  # fmt: skip
    with suppress(InvalidInput):  # a cache that cannot be written (read-only home, full disk): the run goes on
        atomic_write_text(path, json.dumps(entry, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------- eventbench cache info / clear


@dataclass(frozen=True)
class CacheInfo:
    directory: Path
    entries: int
    bytes: int
    bypassed: bool  # EVENTBENCH_NO_REFERENCE_CACHE is set


def info() -> CacheInfo:
    entries = _entries(cache_directory())
    size = 0
    for entry in entries:
        with suppress(OSError):  # removed meanwhile (another eventbench's clear)
            size += entry.stat().st_size
    return CacheInfo(cache_directory(), len(entries), size, bypassed_by_environment())


def clear() -> int:
    """Removes every entry (and any temporary a crashed write left); returns how many entries
    went. Only files the cache writes are removed, never the directory's other contents."""
    directory = cache_directory()
    removed = 0
    for entry in _entries(directory):
        try:
            entry.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as e:
            raise InvalidInput(str(entry), "cache", e.strerror or str(e)) from None
    for leftover in _leftovers(directory):
        leftover.unlink(missing_ok=True)
    return removed


def _entries(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.iterdir() if ENTRY.fullmatch(p.name))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise InvalidInput(str(directory), "cache", e.strerror or str(e)) from None


def _leftovers(directory: Path) -> list[Path]:
    """Temporaries of writes that never finished (``atomic_write_bytes`` names them ``.NAME.*.tmp``)."""
    try:
        return [p for p in directory.iterdir() if _LEFTOVER.fullmatch(p.name)]
    except OSError:
        return []
