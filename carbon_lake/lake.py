"""Delta tables of the lake (bronze, silver, quarantine): read, append, overwrite, version.

Thin on purpose: one place that knows table paths and what an absent table reads as.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from carbon_lake.days import Days


def table_exists(path: Path) -> bool:
    return DeltaTable.is_deltatable(str(path))


def read_table(path: Path, schema: pa.Schema) -> pl.DataFrame:
    """The table's current version, or an empty frame of ``schema`` when it was never written."""
    if not table_exists(path):
        return pl.from_arrow(schema.empty_table())
    return pl.read_delta(str(path))


def write_table(path: Path, frame: pl.DataFrame, schema: pa.Schema, mode: str) -> int:
    """Append or overwrite with exactly ``schema``; returns the new table version."""
    table = frame.select([f.name for f in schema]).to_arrow().cast(schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_deltalake(str(path), table, mode=mode, schema_mode="overwrite" if mode == "overwrite" else None)
    return DeltaTable(str(path)).version()


def replace_days(path: Path, frame: pl.DataFrame, schema: pa.Schema, days: Days) -> int:
    """Replace exactly ``days`` of a table partitioned by ``event_date`` with ``frame``'s rows
    (Delta's replaceWhere: one atomic commit; other days are not touched)."""
    table = frame.select([f.name for f in schema]).to_arrow().cast(schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not table_exists(path):
        write_deltalake(str(path), table, mode="append", partition_by=["event_date"])
    else:
        write_deltalake(str(path), table, mode="overwrite", predicate=days.predicate())
    return DeltaTable(str(path)).version()


def scan_table(path: Path, schema: pa.Schema) -> pl.LazyFrame:
    """A lazy scan, so that filters on partitions and statistics skip files instead of reading them."""
    if not table_exists(path):
        return pl.from_arrow(schema.empty_table()).lazy()
    return pl.scan_delta(str(path))


def table_version(path: Path) -> int | None:
    return DeltaTable(str(path)).version() if table_exists(path) else None
