"""A flame graph (SVG) from collapsed stacks (``frame;frame;... COUNT``, root first).

The diagnosis pass's stacks are py-spy's after classification, with the bucket inserted as a
frame (``[gil]``, ``[lock]`` ...) under each thread, so the graph shows the attribution as its
second level. A static SVG: each frame a rectangle as wide as its share of the samples, with
its name and ``(N samples, P %)`` as a tooltip (``<title>``), which GitHub shows in a pull
request. Drawn here, in some sixty lines, rather than by inferno (the renderer py-spy embeds,
a Rust crate the project would build) for want of time; docs/diagnosis.md names it as the
next step (zoom and search, which a static SVG lacks). py-spy's own ``--format flamegraph``
cannot take classified stacks.
"""

from __future__ import annotations

import html
import zlib
from collections.abc import Iterable

WIDTH = 1200
ROW = 16
MIN_WIDTH = 0.5  # pixels: narrower frames are left out (their samples still count above them)
BUCKET_COLOURS = {"[handling]": "#e8743b", "[gil]": "#c0392b", "[lock]": "#8e44ad", "[queue]": "#2e86c1",
                  "[sleeping]": "#7f8c8d", "[other]": "#b7950b"}  # fmt: skip


class _Node:
    __slots__ = ("children", "count")

    def __init__(self) -> None:
        self.count = 0
        self.children: dict[str, _Node] = {}


def _colour(name: str) -> str:
    """The bucket's colour, else a warm colour fixed by the name (the same frame, the same colour)."""
    if name in BUCKET_COLOURS:
        return BUCKET_COLOURS[name]
    h = zlib.crc32(name.encode())
    return f"rgb({205 + h % 50},{(h >> 8) % 150 + 60},{(h >> 16) % 55})"


def render(lines: Iterable[str], title: str) -> str:
    """The SVG of the collapsed stacks ``lines``."""
    root = _Node()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        node = root
        node.count += n
        for frame in stack.split(";"):
            node = node.children.setdefault(frame, _Node())
            node.count += n
    depth = _depth(root)
    height = (depth + 3) * ROW
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="monospace" '
        f'font-size="11">',
        '<rect width="100%" height="100%" fill="#fdfdf6"/>',
        f'<text x="{WIDTH / 2}" y="{ROW}" text-anchor="middle" font-size="14">{html.escape(title)}</text>',
    ]
    total = root.count or 1
    scale = (WIDTH - 20) / total

    def draw(node: _Node, name: str, x: float, level: int) -> None:
        w = node.count * scale
        if w < MIN_WIDTH:
            return
        y = height - (level + 1) * ROW - ROW
        tip = html.escape(f"{name} ({node.count} samples, {100 * node.count / total:.2f} %)")
        out.append(f'<g><title>{tip}</title><rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{ROW - 1}" '
                   f'fill="{_colour(name)}" rx="2"/>')  # fmt: skip
        chars = int(w / 7)
        if chars >= 3:
            label = name if len(name) <= chars else name[: chars - 2] + ".."
            out.append(f'<text x="{x + 3:.1f}" y="{y + ROW - 4}">{html.escape(label)}</text>')
        out.append("</g>")
        child_x = x
        for child_name, child in sorted(node.children.items()):
            draw(child, child_name, child_x, level + 1)
            child_x += child.count * scale

    draw(root, "all", 10.0, 0)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _depth(node: _Node) -> int:
    return 1 + max((_depth(c) for c in node.children.values()), default=0)
