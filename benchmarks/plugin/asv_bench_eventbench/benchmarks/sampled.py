"""``sample_*`` benchmarks: a figure measured several times, stored by asv as samples.

asv keeps samples (and computes a median with a confidence interval, and runs its
Mann-Whitney test in ``asv compare``) only for results shaped like a timing:
``{"samples": [...], "number": 1}``. A ``track_*`` benchmark returns one number, so a
noisy figure such as an open-loop p99 would carry no interval and any change would
look significant. A ``sample_*`` function returns a list of values, one per
independent measurement, in the unit named by its ``unit`` attribute.
"""

from __future__ import annotations

import math
import re
from typing import Any

from asv_runner.benchmarks._base import Benchmark, _get_first_attr

MIN_SAMPLES = 2  # a median and an interval need more than one value


class SampledBenchmark(Benchmark):
    """A benchmark whose function returns several measurements of one figure."""

    name_regex = re.compile("^(Sample[A-Z_].+)|(sample_.+)$")

    def __init__(self, name: str, func: Any, attr_sources: list[Any]) -> None:
        Benchmark.__init__(self, name, func, attr_sources)
        self.type = "sampled"
        self.unit = _get_first_attr(attr_sources, "unit", "unit")

    def run(self, *param: Any) -> dict[str, Any]:
        values = self.func(*param)
        samples = [float(v) for v in values]
        if len(samples) < MIN_SAMPLES or not all(math.isfinite(v) for v in samples):
            raise ValueError(f"{self.name}: needs at least {MIN_SAMPLES} finite samples, got {samples!r}")
        return {"samples": samples, "number": 1}


export_as_benchmark = [SampledBenchmark]
