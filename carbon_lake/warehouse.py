"""``warehouse.duckdb``: the gold tables every SQL client may rely on.

Small tables (scope totals, KPIs, factors, quarantine) live in the file. The big one,
``emissions``, stays a Delta table in the lake and is published here as a view over the Parquet
files of its current version: a writer then never copies it, and SQL clients still just
``SELECT ... FROM emissions``.

DuckDB lets one process write a database file or many read it, never both at once. So a
writer never touches the live file: it copies it, replaces tables in the copy, and renames
the copy over the original. Readers (the Streamlit app, an auditor's ``duckdb -readonly``)
keep reading the version they opened and see the new one on their next connection.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import uuid
from datetime import date
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import duckdb
import polars as pl
import pyarrow as pa

TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class WarehouseMissing(FileNotFoundError):
    def __init__(self, path: Path) -> None:
        super().__init__(f"no warehouse at {path}: land some data and run `carbon-lake materialize` first")


@contextmanager
def _writer_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _rewrite(path: Path, names: Iterable[str]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to a copy of the warehouse that replaces the original atomically on success."""
    for name in names:
        if not TABLE_NAME.match(name):
            raise ValueError(f"table name: expected lower-case letters, digits and _, got {name!r}")
    with _writer_lock(path):
        staging = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            if path.exists():
                shutil.copyfile(path, staging)
            with duckdb.connect(str(staging)) as con:
                yield con
                con.execute("CHECKPOINT")
            with open(staging, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(staging, path)
        finally:
            staging.unlink(missing_ok=True)
            Path(f"{staging}.wal").unlink(missing_ok=True)


def replace_tables(path: Path, tables: Mapping[str, pl.DataFrame]) -> None:
    """Atomically create or replace ``tables`` in the warehouse at ``path``."""
    with _rewrite(path, tables) as con:
        for name, frame in tables.items():
            con.register("incoming", frame.to_arrow())
            con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM incoming')
            con.unregister("incoming")


def replace_range(path: Path, tables: Mapping[str, pl.DataFrame], column: str,
                  ranges: Iterable[tuple[date, date]]) -> None:
    """Atomically replace the rows whose date or timestamp ``column`` lies in any of the inclusive ``ranges``
    in each table with ``tables``' rows, creating a table on its first write; other rows stay."""
    ranges = list(ranges)
    if not TABLE_NAME.match(column):
        raise ValueError(f"column: expected lower-case letters, digits and _, got {column!r}")
    with _rewrite(path, tables) as con:
        for name, frame in tables.items():
            con.register("incoming", frame.to_arrow())
            con.execute(f'CREATE TABLE IF NOT EXISTS "{name}" AS SELECT * FROM incoming LIMIT 0')
            present = {row[0] for row in con.execute(f'DESCRIBE "{name}"').fetchall()}
            for added, kind in con.execute("SELECT column_name, column_type FROM (DESCRIBE incoming)").fetchall():
                if added not in present:  # a column the table gained since it was created: older rows read NULL
                    con.execute(f'ALTER TABLE "{name}" ADD COLUMN "{added}" {kind}')
            con.executemany(f'DELETE FROM "{name}" WHERE "{column}" BETWEEN ? AND ?', ranges)
            con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM incoming')
            con.unregister("incoming")


def replace_parquet_view(path: Path, name: str, files: list[str], schema: pa.Schema, partition: str) -> None:
    """Atomically point view ``name`` at exactly ``files`` (a Delta table's current version),
    with ``schema``'s columns; ``partition`` is read from the Hive-style file paths.

    Readers of the previous view keep reading its files: a Delta writer removes files from the
    log, not from the disk, until a vacuum."""
    with _rewrite(path, [name]) as con:
        con.register("typed", schema.empty_table())
        types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE typed)").fetchall())
        con.unregister("typed")
        columns = ", ".join(f'CAST("{c}" AS {types[c]}) AS "{c}"' for c in schema.names)
        if files:
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            # union_by_name: files written before a column was added read it as NULL
            source = (f"read_parquet([{listed}], hive_partitioning = true, union_by_name = true, "
                      f"hive_types = {{'{partition}': {types[partition]}}})")
        else:
            source = "(SELECT " + ", ".join(f'NULL AS "{c}"' for c in schema.names) + " WHERE false)"
        kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()
        if kind and kind[0] != "VIEW":
            con.execute(f'DROP TABLE "{name}"')
        con.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT {columns} FROM {source}')


def replace_view(path: Path, name: str, select: str) -> None:
    """Atomically define view ``name`` as ``select`` over the warehouse's other tables and views."""
    with _rewrite(path, [name]) as con:
        con.execute(f'CREATE OR REPLACE VIEW "{name}" AS {select}')


@contextmanager
def connect(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the warehouse, closed on exit."""
    if not Path(path).exists():
        raise WarehouseMissing(path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        yield con
    finally:
        con.close()


def query(path: Path, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
    """Run one read-only query against the warehouse and return the result as a frame."""
    with connect(path) as con:
        relation = con.sql(sql, params=params or None)
        return pl.DataFrame() if relation is None else pl.from_arrow(relation.to_arrow_table())


def has_table(path: Path, name: str) -> bool:
    """Whether the warehouse at ``path`` exists and holds a table or view ``name``."""
    if not Path(path).exists():
        return False
    with connect(path) as con:
        return con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()[0] > 0


def table_counts(path: Path) -> dict[str, int]:
    with connect(path) as con:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
