"""File ingestion: CSV, JSONL and JSON files through the same durable writer as MQTT.

Files carry no topic, so their records land under ``ingest/{org}/{file name}`` with the
payload as given; the site comes from each record's ``tags.site`` and, for a file ingested
without ``--org``, the org from its ``tags.org`` (see ``payload._placed`` for which wins). A CSV row becomes a
payload whose non-envelope columns are metrics; a cell that is not a number is kept as text,
so that the parser rejects it with the field named instead of it being coerced or dropped.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterator

from carbon_lake.contracts import SCHEMA_TELEMETRY, file_topic

ENVELOPE_COLUMNS = {"source_id", "event_id", "ts", "vertical", "org", "site", "region"}


def _csv_payloads(path: Path) -> Iterator[bytes]:
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            metrics = {}
            for name, cell in row.items():
                if name in ENVELOPE_COLUMNS or name is None or cell in (None, ""):
                    continue
                try:
                    metrics[name] = float(cell)
                except ValueError:
                    metrics[name] = cell
            tags = {k: row[k] for k in ("org", "site", "region") if row.get(k)}
            document = {"schema": SCHEMA_TELEMETRY, "source_id": row.get("source_id"), "event_id": row.get("event_id"),
                        "ts": row.get("ts"), "vertical": row.get("vertical") or None, "metrics": metrics, "tags": tags}
            yield json.dumps(document).encode()


def _json_payloads(path: Path) -> Iterator[bytes]:
    raw = path.read_bytes()
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        yield raw  # landed as is: the parser quarantines it with the reason
        return
    for item in document if isinstance(document, list) else [document]:
        yield json.dumps(item).encode()


def _jsonl_payloads(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                yield line.rstrip(b"\r\n")


READERS = {".csv": _csv_payloads, ".json": _json_payloads, ".jsonl": _jsonl_payloads, ".ndjson": _jsonl_payloads}


def file_records(path: Path, org: str) -> Iterator[tuple[str, bytes]]:
    """``(topic, payload)`` for each record of a CSV, JSON or JSONL file."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"file: expected one of {', '.join(sorted(READERS))}, got {path.name!r}")
    topic = file_topic(org, path.name)
    for payload in reader(path):
        yield topic, payload
