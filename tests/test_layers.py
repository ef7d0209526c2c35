"""The packages are layers (docs/layout.md): each imports only the ones below it.

protocol (the contract: the standard library and numpy only) <- scenarios <- implementations
<- harness. Every import counts, a deferred one inside a function too: a layer that reaches up,
however late, is a cycle waiting to happen.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("protocol", "scenarios", "implementations", "harness")
PROTOCOL_MAY_IMPORT = {"numpy", "__future__"}  # and the standard library


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _upward() -> list[str]:
    wrong = []
    for rank, layer in enumerate(LAYERS):
        above = set(LAYERS[rank + 1 :])
        for path in sorted((ROOT / layer).rglob("*.py")):
            for line, module in _imports(path):
                top = module.partition(".")[0]
                if top in above:
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return wrong


def test_no_layer_imports_one_above_it() -> None:
    assert _upward() == []


def test_the_protocol_imports_the_standard_library_and_numpy_only() -> None:
    import sys

    outside = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / "protocol").rglob("*.py"))
        for line, module in _imports(path)
        if (top := module.partition(".")[0]) not in sys.stdlib_module_names
        and top not in PROTOCOL_MAY_IMPORT
        and top != "protocol"
    ]
    assert outside == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    reaching = tmp_path / "reaching.py"
    reaching.write_text("def late():\n    from harness import runner\n")
    assert _imports(reaching) == [(2, "harness")]
