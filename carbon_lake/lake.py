"""Delta tables of the lake (bronze, silver, quarantine): read, append, overwrite, version.

Thin on purpose: one place that knows table paths and what an absent table reads as.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake


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


def table_version(path: Path) -> int | None:
    return DeltaTable(str(path)).version() if table_exists(path) else None
