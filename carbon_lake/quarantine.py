"""Quarantine: rejected rows with the stage, the reason and the raw bytes they came from.

Nothing is dropped silently: every rejection anywhere in the flow becomes a row here, and the
raw bytes (read back from the landing file the row came from) let an engineer replay it once
the cause is fixed.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from carbon_lake.contracts import QUARANTINE_SCHEMA
from carbon_lake.lake import frame_types
from carbon_lake.landing import read_landing_file

STAGES = ("bronze", "silver", "emissions")
_TYPES = frame_types(QUARANTINE_SCHEMA)


def with_raw(home: Path, rows: pl.DataFrame) -> pl.DataFrame:
    """Attach each rejected row's topic and raw message bytes, found by its landing lineage."""
    if rows.is_empty():
        return rows.with_columns(pl.lit(None, dtype=pl.Utf8).alias("topic"), pl.lit(None, dtype=pl.Binary).alias("raw"))
    raw = []
    for relative in rows["landing_file"].unique().to_list():
        landed = pl.from_arrow(read_landing_file(home, relative).select(["topic", "payload"]))
        raw.append(landed.rename({"payload": "raw"}).with_row_index("landing_offset").select(
            pl.lit(relative).alias("landing_file"), pl.col("landing_offset").cast(pl.Int64), "topic", "raw"))
    return rows.join(pl.concat(raw), on=["landing_file", "landing_offset"], how="left")


def quarantine_frame(stage: str, rows: pl.DataFrame) -> pl.DataFrame:
    """Shape rejected ``rows`` (``reason``, lineage and ``raw``) into the quarantine schema."""
    if stage not in STAGES:
        raise ValueError(f"stage: expected one of {STAGES}, got {stage!r}")
    fixed = {"stage": pl.lit(stage), "quarantined_at": pl.lit(datetime.now(timezone.utc))}
    return rows.select(
        [
            (fixed[name] if name in fixed else pl.col(name) if name in rows.columns else pl.lit(None))
            .cast(dtype).alias(name)
            for name, dtype in _TYPES.items()
        ]
    )


def reasons(frame: pl.DataFrame) -> dict[str, int]:
    """Rejected rows per reason code (:mod:`carbon_lake.reasons`), for run metadata: the detail
    text holds values, so counting by it would give one group per row."""
    if frame.is_empty():
        return {}
    counts = frame.group_by("reason_code").len().sort("len", "reason_code", descending=[True, False])
    return {r: n for r, n in counts.iter_rows()}
