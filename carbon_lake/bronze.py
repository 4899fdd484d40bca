"""Bronze: landing files parsed into one row per reading and metric, rejects set aside.

Parsing is per message (the payload parser), so a file of a million good messages and one bad
one yields a million rows and one quarantine row.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from carbon_lake.contracts import BRONZE_SCHEMA
from carbon_lake.landing import read_landing_file
from carbon_lake.payload import parse_message
from carbon_lake.quarantine import quarantine_frame

BRONZE_TYPES = pl.from_arrow(BRONZE_SCHEMA.empty_table()).schema


def parse_landing_file(home: Path, relative: str) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """``(bronze rows, quarantine rows, status messages)`` for one landing file."""
    table = read_landing_file(home, relative)
    rows: list[dict] = []
    rejected: list[dict] = []
    statuses = 0
    topics = table.column("topic").to_pylist()
    payloads = table.column("payload").to_pylist()
    received = table.column("received_at").to_pylist()
    for offset, (topic, payload, received_at) in enumerate(zip(topics, payloads, received, strict=True)):
        parsed = parse_message(topic, payload)
        statuses += parsed.status is not None
        lineage = {"landing_file": relative, "landing_offset": offset}
        rows.extend({**row, **lineage, "received_at": received_at} for row in parsed.rows)
        rejected.extend(
            {**lineage, "topic": topic, "source_id": r.source_id, "event_id": r.event_id, "reason": r.reason,
             "raw": payload}
            for r in parsed.rejections
        )
    bronze = pl.DataFrame(rows, schema=BRONZE_TYPES) if rows else pl.DataFrame(schema=BRONZE_TYPES)
    quarantine = quarantine_frame("bronze", pl.DataFrame(rejected, schema={
        "landing_file": pl.Utf8, "landing_offset": pl.Int64, "topic": pl.Utf8, "source_id": pl.Utf8,
        "event_id": pl.Utf8, "reason": pl.Utf8, "raw": pl.Binary}))
    return bronze, quarantine, statuses


def parse_landing_files(home: Path, files: list[str]) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """:func:`parse_landing_file` over many files, concatenated."""
    parts = [parse_landing_file(home, f) for f in files]
    if not parts:
        return pl.DataFrame(schema=BRONZE_TYPES), quarantine_frame("bronze", pl.DataFrame(schema={"reason": pl.Utf8})), 0
    return (pl.concat([p[0] for p in parts]), pl.concat([p[1] for p in parts]), sum(p[2] for p in parts))
