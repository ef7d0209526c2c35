"""asv's published page, made to read every figure the right way round.

asv 0.6.6's page takes lower as better everywhere and knows nothing of a figure's spread.
Read as published, eventbench's site misled in four places; each is mended here by a small
edit of asv's own script, anchored on asv's exact text (an anchor that is not there exactly
once fails the publish, so an asv upgrade cannot drop a mend unnoticed):

* **direction**: the list view (``summarylist.js``) shades a change of more than 5 % red when
  the value went up and green when it went down, whatever the unit, so a 19 % drop in
  throughput read as an improvement. The shading now follows each figure's direction, by the
  rule ``regress`` judges with (:func:`verdict.higher_is_better`).
* **spread**: a graph's y axis is linear unless its reader asks for a log one, so 737 and 0.003
  allocations per event share an axis on which the small ones are a flat line at zero. A graph
  whose values span more than :data:`LOG_AXIS_SPREAD` times opens on a log axis (the project's
  plots use the same rule); the log button still switches it off.
* **a parameter as the x axis**: with a parameter of names (``contender``) as the x axis asv
  puts flot in its categories mode, which leaves the x values strings; the orderBars plugin,
  which sets the bars of several series side by side, computes its offsets from them as NaN,
  so any plot of two series or more (two machines, two workloads) was empty. The names are
  given positions 0, 1, 2... and shown as the axis's ticks.
* **no regressions**: the regressions page drew a table's headers over no rows. It now says
  that there are none, and by which rules.

The figures the mends need (which benchmarks are higher-is-better, which open on a log axis)
are written by Python into ``eventbench-figures.js``, loaded by the page before asv's scripts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .verdict import higher_is_better

LOG_AXIS_SPREAD = 20  # as harness/plots.py's LOG_THROUGHPUT_SPREAD: values further apart get a log axis
FIGURES_SCRIPT = "eventbench-figures.js"
NO_REGRESSIONS = (
    "No regressions: in no figure's history, on any machine, did asv find a step for the worse beyond "
    "its threshold (asv.conf.json's regressions_thresholds; throughput and generation speed, "
    "higher-is-better, are graphed but not judged here)."
)


class PatchError(RuntimeError):
    pass


@dataclass(frozen=True)
class Patch:
    file: str  # in the published site
    anchor: str  # asv 0.6.6's text, which must occur exactly once
    replacement: str


PATCHES = (
    Patch(
        "index.html",
        '    <link href="asv.css" rel="stylesheet" type="text/css"/>\n',
        f'    <script src="{FIGURES_SCRIPT}"></script>\n    <link href="asv.css" rel="stylesheet" type="text/css"/>\n',
    ),
    Patch(
        "summarylist.js",
        """                if (change > 5) {
                    change_td.addClass('positive-change');
                }
                else if (change < -5) {
                    change_td.addClass('negative-change');
                }""",
        """                /* eventbench: red when worse, green when better, in the figure's own direction */
                var higher_better = EVENTBENCH.higher_is_better.indexOf(row.name) !== -1;
                var worse_by = higher_better ? -change : change;
                if (higher_better) {
                    change_td.attr('title', 'higher is better');
                }
                if (worse_by > 5) {
                    change_td.addClass('positive-change');
                }
                else if (worse_by < -5) {
                    change_td.addClass('negative-change');
                }""",
    ),
    Patch(
        "graphdisplay.js",
        """        if (params['y-axis-scale']) {
            if (params['y-axis-scale'][0] === 'log') {
                $('#log-scale').addClass('active');
                log_scale = true;
            } else if (params['y-axis-scale'][0] === 'zoom') {
                $('#zoom-y-axis').addClass('active');
                zoom_y_axis = true;
            }
            delete params['y-axis-scale'];
        }""",
        """        /* eventbench: a figure whose values span orders of magnitude opens on a log axis */
        var y_scale = params['y-axis-scale'] && params['y-axis-scale'].length ? params['y-axis-scale'][0] :
            (EVENTBENCH.log_axis.indexOf(benchmark) !== -1 ? 'log' : 'linear');
        log_scale = y_scale === 'log';
        zoom_y_axis = y_scale === 'zoom';
        $('#log-scale').toggleClass('active', log_scale);
        $('#zoom-y-axis').toggleClass('active', zoom_y_axis);
        delete params['y-axis-scale'];""",
    ),
    Patch(
        "graphdisplay.js",
        """            update_state_url({'y-axis-scale': log_scale ? ['log']: []});""",
        """            /* eventbench: switched off stays off, on a graph that opens on a log axis */
            update_state_url({'y-axis-scale': log_scale ? ['log']: ['linear']});""",
    ),
    Patch(
        "graphdisplay.js",
        """                options.xaxis.mode = 'categories';
                options.xaxis.tickLength = 0;
                options.series = {
                    bars: {
                        show: true,
                        barWidth: 0.6 / graphs.length,
                        align: "center"
                    }
                };

                // deep copy graphs and html-escape x-labels
                graphs = $.extend(true, [], orig_graphs);
                $.each(graphs, function(i, graph) {
                    $.each(graph.data, function(j, point) {
                        point[0] = $("<span>").text('' + point[0]).html();
                    });
                });""",
        """                /* eventbench: each value at a position 0, 1, 2... and named by its tick. In flot's
                   categories mode the x values stay strings, from which the orderBars plugin computes
                   NaN offsets as soon as two series share the plot, and nothing is drawn. */
                options.xaxis.tickLength = 0;
                options.series = {
                    bars: {
                        show: true,
                        barWidth: 0.6 / graphs.length,
                        align: "center"
                    }
                };

                var positions = {};
                var ticks = [];
                graphs = $.extend(true, [], orig_graphs);
                $.each(graphs, function(i, graph) {
                    $.each(graph.data, function(j, point) {
                        var label = '' + point[0];
                        if (!positions.hasOwnProperty(label)) {
                            positions[label] = ticks.length;
                            ticks.push([ticks.length, $("<span>").text(label).html()]);
                        }
                        point[0] = positions[label];
                    });
                });
                options.xaxis.ticks = ticks;
                options.xaxis.min = -0.5;
                options.xaxis.max = ticks.length - 0.5;""",
    ),
    Patch(
        "regressions.js",
        """            branch_div.append(display_table);""",
        """            if (display_table.find('tbody tr').length === 0) {  /* eventbench: say so */
                branch_div.append($('<p class="eventbench-no-regressions"/>').text(EVENTBENCH.no_regressions));
            }
            else {
                branch_div.append(display_table);
            }""",
    ),
)


def figures(html_dir: Path) -> dict[str, object]:
    """What the mends need to know of each benchmark, from the published ``index.json`` and graphs."""
    index = json.loads((html_dir / "index.json").read_text())
    benchmarks: dict[str, dict[str, object]] = index["benchmarks"]
    return {
        "higher_is_better": sorted(n for n, b in benchmarks.items() if higher_is_better(str(b.get("unit", "")))),
        "log_axis": sorted(n for n in benchmarks if spread(html_dir, n) > LOG_AXIS_SPREAD),
        "no_regressions": NO_REGRESSIONS,
    }


def spread(html_dir: Path, benchmark: str) -> float:
    """Largest over smallest positive value in every published graph of ``benchmark`` (1 with fewer than two)."""
    values = [
        v
        for path in (html_dir / "graphs").rglob(f"{benchmark}.json")
        if "summary" not in path.parts
        for _revision, value in json.loads(path.read_text())
        for v in (value if isinstance(value, list) else [value])
        if isinstance(v, (int, float)) and math.isfinite(v) and v > 0
    ]
    return max(values) / min(values) if values else 1.0


def apply(html_dir: Path) -> list[str]:
    """Writes ``eventbench-figures.js`` and makes every edit in :data:`PATCHES`; returns what it did."""
    known = figures(html_dir)
    (html_dir / FIGURES_SCRIPT).write_text(f"var EVENTBENCH = {json.dumps(known, indent=1)};\n")
    pages = {patch.file: (html_dir / patch.file).read_text() for patch in PATCHES}
    for patch in PATCHES:  # every anchor checked before anything is written: all mends or none
        if pages[patch.file].count(patch.anchor) != 1:
            raise PatchError(f"{html_dir / patch.file}: asv's text for a mend is not there exactly once (patches.py)")
        pages[patch.file] = pages[patch.file].replace(patch.anchor, patch.replacement)
    for name, text in pages.items():
        (html_dir / name).write_text(text)
    return [
        f"{len(PATCHES)} edits of asv's page; higher-is-better: {', '.join(known['higher_is_better']) or 'none'}; "  # type: ignore[arg-type]
        f"log axis: {', '.join(known['log_axis']) or 'none'}"  # type: ignore[arg-type]
    ]
