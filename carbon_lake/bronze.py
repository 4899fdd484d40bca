"""Bronze: landing files parsed into one row per reading and metric, rejects set aside.

Parsing is per message (the payload parser), so a file of a million good messages and one bad
one yields a million rows and one quarantine row. The clean messages in the common shapes are
decoded in bulk (:mod:`carbon_lake.payload_bulk`), every other message by
:func:`~carbon_lake.payload.parse_message`; the result is the same as parsing all of them one
by one, only faster (tests/test_bronze_bulk.py holds the two paths to that).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from carbon_lake.contracts import BRONZE_SCHEMA
from carbon_lake.device_status import status_rows
from carbon_lake.lake import frame_types
from carbon_lake.landing import read_landing_file
from carbon_lake.payload import parse_message
from carbon_lake.payload_bulk import BulkDecoded, BulkDecoder
from carbon_lake.quarantine import quarantine_frame

log = logging.getLogger("carbon_lake.bronze")

BRONZE_TYPES = frame_types(BRONZE_SCHEMA)
_REJECTED_TYPES = {"landing_file": pl.Utf8, "landing_offset": pl.Int64, "topic": pl.Utf8, "source_id": pl.Utf8,
                   "event_id": pl.Utf8, "reason": pl.Utf8, "reason_code": pl.Utf8, "raw": pl.Binary}


def parse_landing_file(home: Path, relative: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``(bronze rows, quarantine rows, device status rows)`` for one landing file."""
    with BulkDecoder() as decoder:
        return _parse_landing_file(home, relative, decoder)


def _parse_landing_file(home: Path, relative: str, decoder: BulkDecoder) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    table = read_landing_file(home, relative)
    try:
        clean = decoder.decode(table)
    except duckdb.Error as exc:  # a bug in the bulk path must cost speed, never rows
        log.warning("event=bulk_decode_failed landing_file=%s error=%r", relative, str(exc)[:200])
        clean = BulkDecoded(rows=pl.DataFrame(), handled=np.zeros(0, dtype=np.int64), statuses=0)
    rest = np.setdiff1d(np.arange(table.num_rows, dtype=np.int64), clean.handled, assume_unique=True)
    bronze, rejected = _parse_messages(relative, table, rest)
    if not clean.rows.is_empty():
        received = pl.from_arrow(table.column("received_at")).gather(clean.rows["landing_offset"])
        bulk = clean.rows.with_columns(pl.lit(relative).alias("landing_file"), received.alias("received_at"))
        bulk = bulk.select(pl.col(n).cast(t) for n, t in BRONZE_TYPES.items())
        # each message's rows come from one path, in order: a stable sort interleaves the two
        bronze = pl.concat([bulk, bronze]).sort("landing_offset", maintain_order=True) if len(bronze) else bulk
    return bronze, quarantine_frame("bronze", rejected), status_rows(relative, table)


def _parse_per_message(home: Path, relative: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """:func:`parse_landing_file` with every message through parse_message: the reference the
    bulk path is tested against."""
    table = read_landing_file(home, relative)
    bronze, rejected = _parse_messages(relative, table, np.arange(table.num_rows, dtype=np.int64))
    return bronze, quarantine_frame("bronze", rejected), status_rows(relative, table)


def _parse_messages(relative: str, table: pa.Table, offsets: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(bronze rows, rejected rows)`` of the messages at ``offsets``, one by one."""
    rows: list[dict] = []
    rejected: list[dict] = []
    chosen = table.take(pa.array(offsets, pa.int64()))
    topics = chosen.column("topic").to_pylist()
    payloads = chosen.column("payload").to_pylist()
    received = chosen.column("received_at").to_pylist()
    for offset, topic, payload, received_at in zip(offsets.tolist(), topics, payloads, received, strict=True):
        parsed = parse_message(topic, payload)
        lineage = {"landing_file": relative, "landing_offset": offset}
        rows.extend({**row, **lineage, "received_at": received_at} for row in parsed.rows)
        rejected.extend(
            {**lineage, "topic": topic, "source_id": r.source_id, "event_id": r.event_id, "reason": r.reason,
             "reason_code": r.code, "raw": payload}
            for r in parsed.rejections
        )
    bronze = pl.DataFrame(rows, schema=BRONZE_TYPES) if rows else pl.DataFrame(schema=BRONZE_TYPES)
    return bronze, pl.DataFrame(rejected, schema=_REJECTED_TYPES)


def parse_each(home: Path, files: list[str],
               workers: int = 1) -> Iterator[tuple[str, pl.DataFrame, pl.DataFrame, pl.DataFrame]]:
    """``(file, bronze rows, quarantine rows, device status rows)`` for each of ``files`` in order,
    so that a caller can write as it goes.

    ``workers`` files are decoded at once, each thread with its own bulk decoder: DuckDB and
    Polars release the GIL, and one decoder is single-threaded (a second DuckDB thread on one
    file was slower, measured), so threads over files are what uses the cores. At most
    ``workers + 1`` files are held, so memory stays bounded by the slice, not the backlog."""
    local = threading.local()
    decoders: list[BulkDecoder] = []

    def parse(relative: str) -> tuple[str, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        if not hasattr(local, "decoder"):
            local.decoder = BulkDecoder()
            decoders.append(local.decoder)
        return relative, *_parse_landing_file(home, relative, local.decoder)

    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            waiting: deque[Future] = deque()
            for relative in files:
                waiting.append(pool.submit(parse, relative))
                if len(waiting) > workers:
                    yield waiting.popleft().result()
            while waiting:
                yield waiting.popleft().result()
    finally:
        for decoder in decoders:
            decoder.__exit__()
