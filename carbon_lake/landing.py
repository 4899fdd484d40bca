"""The one durable writer: raw messages to immutable Parquet files under ``landing/``.

A file is written under a temporary name, fsynced, renamed into place and its directory
fsynced, so that a landing file is either complete or absent: a reader (or a crash at any
instant) never sees half a file. Callers acknowledge messages only after :meth:`write` returns.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from carbon_lake.contracts import LANDING_SCHEMA

LANDING_GLOB = "date=*/*.parquet"


class LandingRecord(NamedTuple):
    """One raw message as received; a tuple because the landing service makes one per message."""

    topic: str
    payload: bytes
    received_at: datetime


def _table(records: Sequence[LandingRecord]) -> pa.Table:
    return pa.table(
        {
            "topic": pa.array([r.topic for r in records], pa.string()),
            "payload": pa.array([r.payload for r in records], pa.binary()),
            "received_at": pa.array([r.received_at for r in records], LANDING_SCHEMA.field("received_at").type),
        },
        schema=LANDING_SCHEMA,
    )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LandingWriter:
    """Writes batches of records as landing files; names never collide across processes."""

    def __init__(self, landing_dir: Path, writer_id: str | None = None) -> None:
        self.landing_dir = Path(landing_dir)
        raw_id = writer_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.writer_id = re.sub(r"[^A-Za-z0-9.-]", "-", raw_id)[:64]
        self.sequence = 0

    def warm_up(self) -> None:
        """Build a table once: pyarrow imports pandas and numpy on first use (about a second),
        which a service should pay at start rather than stall its first flush on."""
        _table(records_now([("", b"")]))

    def write(self, records: Sequence[LandingRecord]) -> Path:
        """Durably write ``records`` as one file and return its path; raises OSError on failure."""
        if not records:
            raise ValueError("records: expected at least one record, got none")
        now = datetime.now(timezone.utc)
        folder = self.landing_dir / f"date={now:%Y-%m-%d}"
        if not folder.exists():
            folder.mkdir(parents=True, exist_ok=True)
            _fsync_dir(folder.parent)
        self.sequence += 1
        name = f"{now:%Y%m%dT%H%M%S%fZ}-{self.writer_id}-{self.sequence:08d}.parquet"
        table = _table(records)
        final = folder / name
        temporary = folder / f".{name}.tmp"
        try:
            with open(temporary, "wb") as handle:
                pq.write_table(table, handle, compression="zstd")
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(temporary, final)
            _fsync_dir(folder)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return final


def list_landing_files(home: Path) -> list[str]:
    """Complete landing files, as paths relative to the lake root (the lineage key), oldest first."""
    landing = Path(home) / "landing"
    return sorted(str(p.relative_to(home)) for p in landing.glob(LANDING_GLOB))


def newest_landing_time(home: Path) -> datetime | None:
    """When the newest landing file was written, from its name (``YYYYmmddTHHMMSSffffffZ-...``)."""
    files = list_landing_files(home)
    if not files:
        return None
    stamp = Path(files[-1]).name.split("-", 1)[0]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=timezone.utc)


def read_landing_file(home: Path, relative: str) -> pa.Table:
    return pq.read_table(Path(home) / relative, schema=LANDING_SCHEMA)


def records_now(items: Iterable[tuple[str, bytes]]) -> list[LandingRecord]:
    """Records for ``(topic, payload)`` pairs received now (files and HTTP uploads)."""
    now = datetime.now(timezone.utc)
    return [LandingRecord(topic, payload, now) for topic, payload in items]
