"""Delta tables of the lake (bronze, silver, emissions, quarantine): read, append, replace days, version.

Thin on purpose: one place that knows how a table is written and what an absent table reads as.
Writes go through Polars (``sink_delta``): it streams record batches into delta-rs, which is
about twice as fast as handing delta-rs one Arrow table, and a lazy frame is never collected whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from carbon_lake.days import Days, DaySet

PARTITION = "event_date"


def table_exists(path: Path) -> bool:
    return DeltaTable.is_deltatable(str(path))


def frame_types(schema: pa.Schema) -> pl.Schema:
    """The Polars types of an Arrow schema, for building or casting frames to it."""
    return pl.from_arrow(schema.empty_table()).schema


def _shaped(frame: pl.DataFrame | pl.LazyFrame, schema: pa.Schema) -> pl.LazyFrame:
    """``frame`` with exactly ``schema``'s columns, in its order and types."""
    return frame.lazy().select([pl.col(name).cast(dtype) for name, dtype in frame_types(schema).items()])


def read_table(path: Path, schema: pa.Schema) -> pl.DataFrame:
    """The table's current version, or an empty frame of ``schema`` when it was never written."""
    return scan_table(path, schema).collect()


def scan_table(path: Path, schema: pa.Schema) -> pl.LazyFrame:
    """A lazy scan, so that filters on partitions and statistics skip files instead of reading them."""
    if not table_exists(path):
        return pl.LazyFrame(schema=frame_types(schema))
    scan = pl.scan_delta(str(path))
    present = set(scan.collect_schema().names())
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in frame_types(schema).items() if name not in present]
    return scan.with_columns(missing) if missing else scan  # a table from before a column was added


def write_table(path: Path, frame: pl.DataFrame | pl.LazyFrame, schema: pa.Schema, mode: str,
                partition_by: str | None = None) -> int:
    """Append or overwrite with exactly ``schema``; returns the new table version.

    An append merges a column the schema gained into the table (its older rows read it as null),
    so a lake written by an earlier version takes new lineage columns without a rebuild."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, object] = {"schema_mode": "overwrite" if mode == "overwrite" else "merge"}
    if partition_by and not table_exists(path):
        options["partition_by"] = [partition_by]
    _shaped(frame, schema).sink_delta(str(path), mode=mode, delta_write_options=options)
    return DeltaTable(str(path)).version()


def replace_days(path: Path, frame: pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame], schema: pa.Schema,
                 days: Days | DaySet) -> int:
    """Replace exactly ``days`` of a table partitioned by ``event_date`` with ``frame``'s rows
    (Delta's replaceWhere: one atomic commit, however scattered the days; other days are not touched).

    ``frame`` may be an iterable of frames, computed one by one while delta-rs writes them: a
    day too big to compute at once is still replaced in one commit, holding one piece at a time.
    An exception while computing a piece aborts the write (nothing is committed) and is re-raised."""
    days = DaySet.of(days)
    if isinstance(frame, pl.DataFrame | pl.LazyFrame):
        if not table_exists(path):
            return write_table(path, frame, schema, "append", partition_by=PARTITION)
        if isinstance(frame, pl.DataFrame) and frame.is_empty() and not set(days.dates()) & set(rows_by_day(path)):
            return DeltaTable(str(path)).version()  # nothing to remove, nothing to add: no empty commit
        _shaped(frame, schema).sink_delta(str(path), mode="overwrite",
                                          delta_write_options={"predicate": days.predicate(), "schema_mode": "merge"})
        return DeltaTable(str(path)).version()
    path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, object] = ({"mode": "overwrite", "predicate": days.predicate(), "schema_mode": "merge"}
                                  if table_exists(path) else {"mode": "append", "partition_by": [PARTITION]})
    failed: list[BaseException] = []
    stream = pa.RecordBatchReader.from_batches(_arrow_schema(schema), _record_batches(frame, schema, failed))
    try:
        write_deltalake(str(path), stream, **options)
    except Exception:
        if failed:  # delta-rs reports a failing stream as its own error: give the caller the real one
            raise failed[0] from None
        raise
    return DeltaTable(str(path)).version()


def _arrow_schema(schema: pa.Schema) -> pa.Schema:
    """The Arrow schema Polars hands over for frames shaped to ``schema`` (its string and list types)."""
    return _shaped(pl.DataFrame(schema=frame_types(schema)), schema).collect().to_arrow().schema


def _record_batches(frames: Iterable[pl.DataFrame], schema: pa.Schema,
                    failed: list[BaseException]) -> Iterator[pa.RecordBatch]:
    target = _arrow_schema(schema)
    try:
        for frame in frames:
            yield from _shaped(frame, schema).collect().to_arrow().cast(target).to_batches()
    except BaseException as exc:
        failed.append(exc)
        raise


def rows_by_day(path: Path) -> dict[date, int]:
    """Rows per ``event_date`` partition, from the Delta log's file statistics (no data read)."""
    if not table_exists(path):
        return {}
    files = pl.DataFrame(DeltaTable(str(path)).get_add_actions(flatten=True)).select(
        pl.col(f"partition.{PARTITION}").alias("day"), "num_records")
    counts = files.group_by("day").agg(pl.col("num_records").sum())
    return {day: int(rows) for day, rows in counts.iter_rows()}


def data_files(path: Path) -> list[str]:
    """The Parquet files of the table's current version (never a directory glob: files that a
    later version removed stay on disk until a vacuum, and must not be read)."""
    return DeltaTable(str(path)).file_uris() if table_exists(path) else []


def table_version(path: Path) -> int | None:
    return DeltaTable(str(path)).version() if table_exists(path) else None
