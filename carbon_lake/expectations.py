"""The great-expectations suite for the gold tables: what a report built on them may assume.

``scope_totals`` rows: a scope of 1-3, no null keys, one row per (org, site, month, scope),
non-negative totals. And the totals reconcile with the emission line items to the gram, for
both scope 2 methods (one row of sums, computed by DuckDB from the warehouse).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from carbon_lake import warehouse
from carbon_lake.rules import in_inventory_sql

GRAM = 0.001  # kg
KEYS = ["org", "site", "month", "scope"]
RECONCILE_SQL = (
    "SELECT (SELECT coalesce(sum(co2e_kg), 0) FROM scope_totals)"
    f" - (SELECT coalesce(sum(co2e_kg), 0) FROM emissions WHERE {in_inventory_sql('location')})"
    " AS location_difference_kg,"
    " (SELECT coalesce(sum(co2e_kg_market), 0) FROM scope_totals)"
    f" - (SELECT coalesce(sum(co2e_kg), 0) FROM emissions WHERE {in_inventory_sql('market')})"
    " AS market_difference_kg"
)


@dataclass(frozen=True)
class Outcome:
    table: str
    expectation: str
    column: str
    success: bool
    unexpected: int
    examples: str


def _suites() -> dict[str, list]:
    e = _import_gx().expectations
    totals = [e.ExpectColumnValuesToBeInSet(column="scope", value_set=[1, 2, 3]),
              *[e.ExpectColumnValuesToNotBeNull(column=key) for key in KEYS],
              e.ExpectCompoundColumnsToBeUnique(column_list=KEYS),
              *[e.ExpectColumnValuesToBeBetween(column=c, min_value=0) for c in ("co2e_kg", "co2e_kg_market")]]
    reconcile = [e.ExpectColumnValuesToBeBetween(column=c, min_value=-GRAM, max_value=GRAM)
                 for c in ("location_difference_kg", "market_difference_kg")]
    return {"scope_totals": totals, "reconciliation": reconcile}


def _import_gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no phoning home from an auditor's machine
    import great_expectations as gx

    return gx


def preload() -> threading.Thread:
    """Start importing great_expectations in the background and return the thread.

    The import takes about 4 s, far longer than the suite itself (0.3-0.4 s on gold), and a run
    only needs it at its last step. Started when a run starts, it overlaps with the stages, whose
    work is in Polars, DuckDB and delta-rs with the GIL released. :func:`validate_gold` imports as
    usual: Python's import lock makes it wait for a preload still in progress.
    """
    thread = threading.Thread(target=_import_gx, name="preload-great-expectations", daemon=True)
    thread.start()
    return thread


def validate_gold(path: Path) -> list[Outcome]:
    """Run the suite against the warehouse at ``path``; one outcome per expectation."""
    gx = _import_gx()

    frames = {"scope_totals": warehouse.query(path, "SELECT * FROM scope_totals"),
              "reconciliation": warehouse.query(path, RECONCILE_SQL)}
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    source = context.data_sources.add_pandas("gold")
    outcomes = []
    for table, expectations in _suites().items():
        batch = (source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("all")
                 .get_batch(batch_parameters={"dataframe": frames[table].to_pandas()}))
        suite = gx.ExpectationSuite(name=f"gold.{table}", expectations=expectations)
        for result in batch.validate(suite).results:
            config = result.expectation_config
            kwargs = config.kwargs
            column = kwargs.get("column") or ",".join(kwargs.get("column_list", []))
            outcomes.append(Outcome(table, config.type, column, bool(result.success),
                                    int(result.result.get("unexpected_count") or 0),
                                    str(result.result.get("partial_unexpected_list", [])[:3])))
    return outcomes


def outcomes_frame(outcomes: list[Outcome]) -> pl.DataFrame:
    return pl.DataFrame([vars(o) for o in outcomes], schema={"table": pl.Utf8, "expectation": pl.Utf8,
                                                              "column": pl.Utf8, "success": pl.Boolean,
                                                              "unexpected": pl.Int64, "examples": pl.Utf8})
