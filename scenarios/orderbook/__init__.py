"""``orderbook`` version 1: a limit order book per instrument, positions shared (docs/scenarios/orderbook.md)."""

from importlib import resources
from typing import Any

from protocol.scenario import DefaultWorkloads, Scenario
from scenarios.orderbook import generate, layout
from scenarios.orderbook.semantics import OrderbookPython


def _params(tables: dict[str, dict[str, Any]], source: str) -> generate.OrderbookParams:
    return generate.params_from_table(tables.get("orderbook", {}), source)


SCENARIO = Scenario(
    name=layout.NAME,
    version=layout.VERSION,
    description="limit order books per instrument (price-time priority), positions and cash shared by all",
    record_dtype=layout.RECORD_DTYPE,
    field_rules=layout.field_rules,
    tables=("orderbook",),
    params_from_tables=_params,
    fill_fields=generate.fill_orderbook_fields,
    python=OrderbookPython(),
    workloads=resources.files("scenarios.orderbook").joinpath("workloads"),
    defaults=DefaultWorkloads(compare="book", sweep="book-paced", soak="book-contention"),
    native_library=("implementations", "_evb_orderbook"),  # implementations/native/orderbook
)
