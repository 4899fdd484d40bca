"""Asset check results built the same way for every layer."""

from __future__ import annotations

import dagster as dg
import pandera.polars as pa
import polars as pl

from assets.metadata import markdown_table
from carbon_lake.validation import violations


def contract_check(name: str, schema: pa.DataFrameSchema, frame: pl.DataFrame) -> dg.AssetCheckResult:
    """A pandera contract over the rows a run wrote: passed, or which rules broke and how often."""
    broken = violations(schema, frame)
    metadata: dict[str, dg.MetadataValue] = {"rows_checked": dg.MetadataValue.int(frame.height),
                                             "rules_broken": dg.MetadataValue.int(broken.height)}
    if not broken.is_empty():
        metadata["violations"] = dg.MetadataValue.md(markdown_table(broken))
    return dg.AssetCheckResult(check_name=name, passed=broken.is_empty(), metadata=metadata)
