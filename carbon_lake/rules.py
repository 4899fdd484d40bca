"""The few rules every reader of the lake must apply the same way, written once.

An auditor's SQL, the app, the great-expectations suite and the engine must agree on what a
reading is, which rows make one scope 2 inventory and when a dated record applies; when each
wrote its own version they drifted (the uniqueness check keyed on the metric while the
architecture keyed on the reading). So each rule is stated here once, as a Polars expression
and, where SQL clients need it, as the same rule in SQL.

* **The reading key** is ``(source_id, event_id)``: a device's reading, whatever metrics it
  carries. A redelivered or re-uploaded reading changes nothing downstream. A silver row is one
  metric of a reading, so its key is the reading key plus ``metric``.
* **Scope 2 methods.** Every scope 2 reading has location-based and market-based rows (the GHG
  Protocol Scope 2 Guidance reports both); rows of other scopes have no method and count in both
  inventories. One inventory is the rows of its method plus the method-less ones: summing all
  rows would count scope 2 twice.
* **Validity windows** are half-open, ``valid_from <= day < valid_to``, with an open end where
  a bound is empty, so that a successor starting on the day its predecessor ends leaves neither
  a gap nor an overlap.
"""

from __future__ import annotations

from datetime import date

import polars as pl

READING_KEY = ["source_id", "event_id"]
ROW_KEY = [*READING_KEY, "metric"]
METHODS = ("location", "market")
FAR_PAST, FAR_FUTURE = date(1900, 1, 1), date(9999, 12, 31)


def in_inventory(method: str) -> pl.Expr:
    """Rows of the ``method`` (location or market) inventory: that method's scope 2 rows and every row without one."""
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    return pl.col("method").is_null() | (pl.col("method") == method)


def in_inventory_sql(method: str) -> str:
    """:func:`in_inventory` as a SQL condition, for the warehouse's clients."""
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    return f"(method IS NULL OR method = '{method}')"


# A SQL condition with the method as the parameter ``$method`` (the app's prepared queries).
IN_INVENTORY_SQL_PARAM = "(method IS NULL OR method = $method)"

LOCATION = in_inventory("location")
MARKET = in_inventory("market")


def valid_on(day: pl.Expr, valid_from: str = "valid_from", valid_to: str = "valid_to") -> pl.Expr:
    """True where ``day`` falls in the half-open window ``[valid_from, valid_to)``; an empty bound is open."""
    return ((pl.col(valid_from).is_null() | (day >= pl.col(valid_from)))
            & (pl.col(valid_to).is_null() | (day < pl.col(valid_to))))


def overlapping_windows(table: pl.DataFrame, on: list[str]) -> pl.DataFrame:
    """Pairs of rows with the same ``on`` values whose windows overlap (``line`` < ``line_other``).

    ``line`` is the file's line number (header = 1), so the error can name both rows."""
    windows = table.with_row_index("line", offset=2).with_columns(
        pl.col("valid_from").fill_null(FAR_PAST), pl.col("valid_to").fill_null(FAR_FUTURE))
    return (
        windows.join(windows, on=on, suffix="_other", nulls_equal=True)
        .filter((pl.col("line") < pl.col("line_other")) & (pl.col("valid_from") < pl.col("valid_to_other"))
                & (pl.col("valid_from_other") < pl.col("valid_to")))
    )
