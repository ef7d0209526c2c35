"""The published site: built, served over HTTP and looked at in headless Chromium.

    python -m asvtrack.site publish                      asv publish, then vendor the page's scripts
    python -m asvtrack.site serve [--port 8080]          the site in .asv/html, on loopback
    python -m asvtrack.site check HTML_DIR --out DIR [--machines A,B] [--regressions NAME,...]
    python -m asvtrack.site pages --out DIR              two machines merged into one site, checked

``check`` opens the benchmark grid, the list view, every benchmark's graph, a
two-parameter graph with its first parameter as the x axis, and the regressions page, saves
a screenshot of each under ``--out``, and fails unless: every benchmark has a plotted graph
(the screenshot of its plot area has coloured series pixels, not just axes), every expected
machine is offered on the graph pages, the graphs of widely spread figures open on a log
axis, the list view shades no change against its figure's direction, and the regressions
page lists every expected benchmark (or, when none is expected, says that there are none).
``check.json`` beside the screenshots says what was seen.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import io
import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import asvcli, patches, vendor, versions

MIN_MACHINES = 2  # the site must show results from two machines merged

# Without the network flags Chromium keeps trying to reach Google's hosts, which a closed
# network refuses; --no-sandbox because CI containers run as root.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MIN_SERIES_PIXELS = 40  # a plotted line or a few markers; axes and labels are grey, not coloured
TIMEOUT_MS = 30_000


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def served(directory: Path, port: int = 0) -> Iterator[str]:
    """``directory`` over HTTP on 127.0.0.1 (any free port by default) while the block runs; yields its URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def chromium() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    raise SystemExit("site: no Chromium found (Debian: apt-get install chromium; or set CHROMIUM)")


def series_pixels(png: bytes) -> int:
    """Pixels of a plot screenshot that belong to a data series: clearly coloured, not grey or white."""
    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    return int(((rgb.max(axis=2) - rgb.min(axis=2)) > 60).sum())


@dataclass
class Seen:
    """What ``check`` saw; ``problems`` empty means the site works."""

    machines: list[str]
    graphs: dict[str, dict[str, object]] = field(default_factory=dict)  # benchmark -> series pixels, screenshot
    regressions: list[str] = field(default_factory=list)  # rows of the rendered regressions page
    regressions_text: str = ""  # what the regressions page says (its "none" sentence when it has no rows)
    changes: list[dict[str, str]] = field(default_factory=list)  # the list view's shaded changes
    parameter_axis: dict[str, object] = field(default_factory=dict)  # a graph with a parameter as x axis
    page_errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def with_data(html_dir: Path) -> list[str]:
    """The benchmarks that have a graph: asv writes one JSON per benchmark and parameter set under graphs/."""
    return sorted({p.stem for p in (html_dir / "graphs").rglob("*.json")} - {"summary"})


def check(html_dir: Path, out: Path, machines: list[str], regressions: list[str], every_benchmark: bool = True) -> Seen:
    """Looks at the site; with ``every_benchmark``, a benchmark that has no results is a problem."""
    from playwright.sync_api import sync_playwright

    index = json.loads((html_dir / "index.json").read_text())
    benchmarks = with_data(html_dir)
    out.mkdir(parents=True, exist_ok=True)
    seen = Seen(machines=sorted(index["params"]["machine"]))
    problems = seen.problems
    problems += [f"machine {m} is not in the site" for m in machines if m not in seen.machines]
    if every_benchmark:
        problems += [f"{name} has no results to draw" for name in sorted(set(index["benchmarks"]) - set(benchmarks))]
    with served(html_dir) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # asv's own scripts throw a harmless error on hidden thumbnails: page errors are recorded only
        page.on("pageerror", lambda e: seen.page_errors.append(str(e)))
        no_data = [f"/graphs/summary/{name}.json" for name in set(index["benchmarks"]) - set(benchmarks)]

        def on_response(response: Any) -> None:  # a thumbnail of a benchmark without results is a known 404
            if response.status >= 400 and not any(missing in response.url for missing in no_data):
                problems.append(f"{response.url}: HTTP {response.status}")

        page.on("response", on_response)
        page.on("requestfailed", lambda r: problems.append(f"{r.url}: {r.failure}"))
        page.goto(url + "index.html#/")
        page.wait_for_function(
            f"document.querySelectorAll('.benchmark-plot canvas').length >= {len(benchmarks)}", timeout=TIMEOUT_MS
        )
        page.screenshot(path=str(out / "grid.png"), full_page=True)
        known = patches.figures(html_dir)  # by the rules (verdict's direction, the spread), not by the page
        seen.changes = _list_view(page, url, out, known["higher_is_better"], problems)  # type: ignore[arg-type]
        log_axis = known["log_axis"]
        for name in benchmarks:
            seen.graphs[name] = _graph(page, url, name, out, machines, problems, name in log_axis)  # type: ignore[operator]
        two_parameters = [n for n in benchmarks if len(index["benchmarks"][n]["param_names"]) == 2]
        if two_parameters:  # the most widely spread one: bars of 737 and of 0.003 side by side
            widest = max(two_parameters, key=lambda n: patches.spread(html_dir, n))
            seen.parameter_axis = _parameter_axis(page, url, widest, index, out, problems)
        seen.regressions, seen.regressions_text = _regressions(page, url, out, regressions, problems)
        browser.close()
    (out / "check.json").write_text(json.dumps(asdict(seen), indent=1) + "\n")
    return seen


def _graph(page, url: str, name: str, out: Path, machines: list[str], problems: list[str], log: bool):  # type: ignore[no-untyped-def]  # fmt: skip
    coloured = _plot(page, url + "index.html#" + name, out / f"graph-{name}.png")
    offered = page.locator("#graphdisplay-state-params").inner_text()
    log_axis = "active" in (page.locator("#log-scale").get_attribute("class") or "")
    if coloured < MIN_SERIES_PIXELS:
        problems.append(f"{name}: the graph shows no series ({coloured} coloured pixels)")
    if log_axis != log:
        scale = {True: "log", False: "linear"}
        problems.append(f"{name}: the graph opens on a {scale[log_axis]} axis, not a {scale[log]} one")
    problems.extend(f"{name}: machine {m} is not offered" for m in machines if m not in offered)
    return {"series_pixels": coloured, "log_axis": log_axis, "screenshot": f"graph-{name}.png"}


def _plot(page, address: str, screenshot: Path) -> int:  # type: ignore[no-untyped-def]
    """Opens a graph, saves its screenshot; returns its series pixels (legend hidden: only data counts)."""
    page.goto(address)
    page.wait_for_selector("#main-graph canvas.flot-base", timeout=TIMEOUT_MS)
    page.wait_for_timeout(300)  # flot draws the series just after the axes
    graph = page.locator("#main-graph")
    graph.screenshot(path=str(screenshot))
    page.evaluate("document.querySelectorAll('#main-graph .legend').forEach(e => e.style.display = 'none')")
    return series_pixels(graph.screenshot())


def _parameter_axis(page, url: str, name: str, index: dict[str, Any], out: Path, problems: list[str]):  # type: ignore[no-untyped-def]  # fmt: skip
    """A benchmark's graph with its first parameter as the x axis: bars, not an empty plot."""
    axis = index["benchmarks"][name]["param_names"][0]
    coloured = _plot(page, f"{url}index.html#{name}?x-axis={axis}", out / "parameter-axis.png")
    if coloured < MIN_SERIES_PIXELS:
        problems.append(f"{name} with {axis} as the x axis: the graph shows no series ({coloured} coloured pixels)")
    return {"benchmark": name, "x_axis": axis, "series_pixels": coloured, "screenshot": "parameter-axis.png"}


# A shaded change: asv's classes, positive-change (red) for worse and negative-change (green) for better.
SHADE = {"positive-change": "worse", "negative-change": "better"}


def _list_view(page, url: str, out: Path, higher_better: list[str], problems: list[str]) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]  # fmt: skip
    """The list view's shaded changes; one shaded against its figure's direction is a problem."""
    page.goto(url + "index.html#summarylist")
    page.wait_for_selector("#summarylist-body table tbody tr", timeout=TIMEOUT_MS)
    page.wait_for_timeout(300)
    rows = page.evaluate(
        """() => Array.from(document.querySelectorAll('#summarylist-body table tbody tr')).map(tr => {
            const change = tr.querySelector('td.change');
            return {name: tr.querySelector('td').innerText.trim(),
                    change: change ? change.innerText.trim() : '',
                    shade: change ? (change.className.match(/(positive|negative)-change/) || [''])[0] : ''};
        })"""
    )
    shaded = []
    for row in rows:
        if not row["shade"]:
            continue
        went_up = not row["change"].startswith("\u2212")  # asv writes a drop with a minus sign (U+2212)
        expected = "better" if went_up == (row["name"].split(" (")[0] in higher_better) else "worse"
        entry = {"name": row["name"], "change": row["change"], "shaded": SHADE[row["shade"]], "expected": expected}
        shaded.append(entry)
        if entry["shaded"] != expected:
            problems.append(f"list view: {row['name']} {row['change']} is shaded {entry['shaded']}, but is {expected}")
    # the screenshot shows the first shaded change of a higher-is-better figure, if there is one
    page.evaluate(
        """() => { const cell = Array.from(document.querySelectorAll('#summarylist-body td.change'))
            .find(td => td.title === 'higher is better' && /(positive|negative)-change/.test(td.className));
            if (cell) cell.scrollIntoView({block: 'center'}); }"""
    )
    page.screenshot(path=str(out / "list.png"))
    return shaded


def _regressions(page, url: str, out: Path, expected: list[str], problems: list[str]) -> tuple[list[str], str]:  # type: ignore[no-untyped-def]  # fmt: skip
    page.goto(url + "index.html#/regressions")
    page.wait_for_selector("#regressions-display .regression-div, #regressions-display table", timeout=TIMEOUT_MS)
    page.wait_for_timeout(300)
    page.screenshot(path=str(out / "regressions.png"), full_page=True)
    listed = page.locator("#regressions-display table:not(.ignored) tbody tr td:first-child a").all_inner_texts()
    text = page.locator("#regressions-display .regression-div").first.inner_text().strip()
    problems.extend(
        f"the regressions page does not list {name}" for name in expected if not any(name in row for row in listed)
    )
    if not listed and patches.NO_REGRESSIONS not in text:
        problems.append("the regressions page lists nothing and does not say that there are no regressions")
    return listed, text


def publish(config: Path | None = None, root: Path = asvcli.ROOT) -> Path:
    """The stored results onto explicit versions (:func:`versions.adopt`), ``asv publish``, then the
    page's libraries vendored and asv's page mended (:mod:`patches`); returns the site's directory."""
    settings = json.loads(config.read_text()) if config else None
    results = Path(settings["results_dir"]) if settings else asvcli.results_dir(root)
    for note in versions.adopt(results):
        print(f"versions: {note}")
    asvcli.asv("publish", *(["--config", str(config)] if config else []), cwd=root)
    html = Path(settings["html_dir"]) if settings else asvcli.html_dir(root)
    for note in vendor.vendor(html, asvcli.ROOT / ".asv" / "vendor-cache"):
        print(f"vendored: {note}")
    for note in patches.apply(html):
        print(f"mended: {note}")
    return html


def pages(out: Path) -> int:
    """This checkout's stored results plus a second machine's, published together and checked.

    The second machine is this host under a second asv machine name, measuring HEAD with
    ``asv run --quick``: what a second CI runner adds to the store (a third is added the same
    way when nothing is stored yet, so that two machines always meet). Everything happens in a
    scratch copy of the results, so the repository's own store is left as it was.
    """
    scratch = Path(tempfile.mkdtemp(prefix="eventbench-pages-"))
    config = _scratch_config(scratch)
    stored = asvcli.results_dir()
    if stored.is_dir():
        shutil.copytree(stored, scratch / "results")
    machines = _machines(scratch / "results")
    for suffix in ("-second", "-third")[: max(1, MIN_MACHINES - len(machines))]:
        name = asvcli.default_machine() + suffix
        asvcli.asv("machine", "--yes", "--machine", name, "--config", str(config))
        asvcli.asv("run", "--quick", "--machine", name, "--config", str(config), "HEAD^!", check=False)
    machines = _machines(scratch / "results")
    if len(machines) < MIN_MACHINES:
        print(f"site: only {machines} have results; the merge cannot be shown", file=sys.stderr)
        return 1
    html = publish(config)
    # after publish's adopt: a stored result the suite no longer shows is history lost, not a detail
    orphaned = versions.orphans(versions.stored(scratch / "results"), versions.suite_versions(scratch / "results"))
    seen = check(html, out, machines, [])
    seen.problems[:0] = orphaned
    return _verdict(seen, out)


def _scratch_config(scratch: Path) -> Path:
    """asv.conf.json with results and site in ``scratch``; everything else stays this checkout's."""
    settings = asvcli.config()
    settings.update({"repo": str(asvcli.ROOT), "benchmark_dir": str(asvcli.ROOT / "benchmarks"),
                     "env_dir": str(asvcli.ROOT / ".asv" / "env"), "results_dir": str(scratch / "results"),
                     "html_dir": str(scratch / "html")})  # fmt: skip
    for key in ("build_command", "install_command"):  # asv runs from the config's folder: keep this checkout's
        settings[key] = [str(c).replace("{conf_dir}", str(asvcli.ROOT)) for c in settings[key]]  # type: ignore[attr-defined]
    # asv reads the build requirements it installs into a new environment from the config's folder
    shutil.copy2(asvcli.ROOT / "pyproject.toml", scratch / "pyproject.toml")
    config = scratch / "asv.conf.json"
    config.write_text(json.dumps(settings, indent=1))
    return config


def _machines(results: Path) -> list[str]:
    return sorted(p.parent.name for p in results.glob("*/machine.json"))


def _verdict(seen: Seen, out: Path) -> int:
    for problem in seen.problems:
        print(f"site: {problem}", file=sys.stderr)
    print(f"site: {len(seen.graphs)} graphs, machines {seen.machines}, screenshots in {out}")
    return 1 if seen.problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="site", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the published site on loopback until Ctrl-C")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--dir", type=Path, default=None)
    look = commands.add_parser("check", help="look at a published site in headless Chromium")
    look.add_argument("html_dir", type=Path)
    look.add_argument("--out", type=Path, required=True)
    look.add_argument("--machines", default="", help="machine names the site must offer (comma-separated)")
    look.add_argument("--regressions", default="", help="benchmarks the regressions page must list")
    commands.add_parser("publish", help="asv publish into .asv/html, with the page's scripts vendored")
    merged = commands.add_parser("pages", help="a second machine merged with the stored results, checked")
    merged.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "publish":
        print(f"site: published to {publish()}")
        return 0
    if args.command == "pages":
        return pages(args.out)
    if args.command == "serve":
        with served(args.dir or asvcli.html_dir(), args.port) as url:
            print(f"serving {args.dir or asvcli.html_dir()} at {url} (Ctrl-C stops)", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
        return 0
    return _verdict(check(args.html_dir, args.out, _names(args.machines), _names(args.regressions)), args.out)


def _names(text: str) -> list[str]:
    return [n for n in text.split(",") if n]


if __name__ == "__main__":
    sys.exit(main())
