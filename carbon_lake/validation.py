"""The contracts of silver and emissions as pandera schemas: types, nulls and value rules.

The stages already quarantine what breaks a rule, so these are a second line: they check what
was actually written, and a failure (a bug, a hand-edited table) blocks the layers below.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from carbon_lake.contracts import EMISSIONS_COLUMNS, SILVER_SCHEMA
from carbon_lake.lake import frame_types

_SILVER_TYPES = frame_types(SILVER_SCHEMA)


def _finite(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(pl.col(data.key).is_finite())


def _on_its_day(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(pl.col("ts").dt.convert_time_zone("UTC").dt.date() == pl.col("event_date"))


def _market_names_site_data(data: pa.PolarsData) -> pl.LazyFrame:
    """A market row without its site-data version could not be traced to the contracts that priced it."""
    return data.lazyframe.select(pl.col("method").ne_missing("market") | pl.col("site_data_version").is_not_null())


FINITE = pa.Check(_finite, name="expected a finite number")
REQUIRED = {"source_id", "event_id", "ts", "metric", "value", "activity", "quantity", "canonical_unit",
            "event_date", "landing_file", "landing_offset"}

SILVER_CONTRACT = pa.DataFrameSchema(
    {name: pa.Column(dtype, nullable=name not in REQUIRED, checks=[FINITE] if name in ("value", "quantity") else [])
     for name, dtype in _SILVER_TYPES.items()},
    checks=[pa.Check(_on_its_day, name="expected event_date to be the UTC date of ts")],
    strict=True, name="silver_readings",
)

EMISSIONS_CONTRACT = pa.DataFrameSchema(
    {
        **{name: pa.Column(nullable=True) for name in EMISSIONS_COLUMNS},
        "scope": pa.Column(pl.Int8, pa.Check.isin([1, 2, 3]), nullable=False),
        "factor_id": pa.Column(str, nullable=False),
        "factor_release": pa.Column(str, nullable=False),
        "factor_rule": pa.Column(str, nullable=False),
        "landing_file": pa.Column(str, nullable=False),
        "quantity": pa.Column(float, [FINITE, pa.Check.ge(0)], nullable=False),
        "co2e_kg": pa.Column(float, [FINITE, pa.Check.ge(0)], nullable=False),
        "method": pa.Column(str, pa.Check.isin(["location", "market"]), nullable=True),
        "event_date": pa.Column(pl.Date, nullable=False),
    },
    checks=[pa.Check(_market_names_site_data, name="expected site_data_version on every market row")],
    strict=True, name="emissions",
)


def violations(schema: pa.DataFrameSchema, frame: pl.DataFrame) -> pl.DataFrame:
    """``(column, check, failures, example)`` per broken rule; empty when ``frame`` conforms."""
    columns = {"column": pl.Utf8, "check": pl.Utf8, "failures": pl.UInt32, "example": pl.Utf8}
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases.with_columns(pl.col("failure_case").cast(pl.Utf8),
                                                  pl.col("column").cast(pl.Utf8).fill_null("(table)"))
        return (cases.group_by("column", "check", maintain_order=True)
                .agg(pl.len().cast(pl.UInt32).alias("failures"), pl.col("failure_case").first().alias("example"))
                .select(list(columns)))
    return pl.DataFrame(schema=columns)


def combine_violations(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """:func:`violations` of several slices of one write, as if it had been checked whole."""
    return (pl.concat(parts).group_by("column", "check", maintain_order=True)
            .agg(pl.col("failures").sum(), pl.col("example").first()))
