"""``synthetic`` version 1: SPEC §1–3's records and handlers."""

from importlib import resources

from protocol.scenario import DefaultWorkloads, Scenario
from scenarios.synthetic import generate, layout
from scenarios.synthetic.semantics import SyntheticPython

SCENARIO = Scenario(
    name=layout.NAME,
    version=layout.VERSION,
    description="SPEC §3's handlers: update, compute, block (a wait for I/O) and aggregate (a shared sum)",
    record_dtype=layout.RECORD_DTYPE,
    field_rules=layout.field_rules,
    tables=generate.TABLES,
    params_from_tables=generate.params_from_tables,
    fill_fields=generate.fill_fields,
    python=SyntheticPython(),
    workloads=resources.files("scenarios.synthetic").joinpath("workloads"),
    defaults=DefaultWorkloads(compare="mixed", sweep="paced", soak="contention"),
    native_library=("implementations", "_evb_synthetic"),  # implementations/native/synthetic
)
