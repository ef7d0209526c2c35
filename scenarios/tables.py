"""Reading a workload's TOML tables: one checker for the harness's keys and every scenario's."""

from __future__ import annotations

from typing import Any

from protocol.errors import InvalidInput


def typed(table: dict[str, Any], allowed: dict[str, Any], where: str, source: str) -> dict[str, Any]:
    """``table`` itself, once every key is one of ``allowed`` with a value of its type (bool is not a
    number here); else :class:`InvalidInput` naming ``where + key`` and the rule."""
    for key, value in table.items():
        if key not in allowed:
            names = ", ".join(sorted(allowed))
            raise InvalidInput(source, f"{where}{key}", f"unknown key (expected one of: {names})")
        want = allowed[key]
        if isinstance(value, bool) or not isinstance(value, want):
            kinds = want.__name__ if isinstance(want, type) else " or ".join(t.__name__ for t in want)
            raise InvalidInput(source, f"{where}{key}", f"must be {kinds}, got {type(value).__name__} {value!r}")
    return table


def int_pair(value: list[Any], where: str, source: str) -> tuple[int, int]:
    """``[low, high]`` as a pair of integers; else :class:`InvalidInput` naming ``where``."""
    if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise InvalidInput(source, where, f"must be [low, high] integers, got {value!r}")
    return (value[0], value[1])
