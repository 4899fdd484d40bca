"""The payload parser: one landed message in, metric rows and reasons for rejection out.

A message is either a single reading or a gateway batch (``"readings": [...]``). Each metric is
either ``"diesel_litres": 12.5`` (unit in the name, resolved later against the vocabulary) or
``"diesel": {"value": 12.5, "unit": "L"}``. A bad reading inside a batch rejects that reading
only: the good ones of the same message still flow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from carbon_lake.contracts import (DEFAULT_ORG, MAX_PAYLOAD_BYTES, SCHEMA_TELEMETRY, ContractError, Topic,
                                   check_identifier)


@dataclass(frozen=True)
class Rejection:
    """A reading (or a whole message, when ``event_id`` is None) that could not be parsed."""

    reason: str
    code: str
    source_id: str | None = None
    event_id: str | None = None


@dataclass
class ParsedMessage:
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    status: dict[str, Any] | None = None


def parse_timestamp(field_name: str, value: object) -> datetime:
    """An ISO 8601 timestamp with an explicit offset, returned in UTC."""
    expected = "an ISO 8601 timestamp with a timezone, e.g. 2026-11-23T10:00:05Z"
    if not isinstance(value, str):
        raise ContractError(field_name, value, expected)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ContractError(field_name, value, expected) from None
    if parsed.tzinfo is None:
        raise ContractError(field_name, value, expected)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:30:00+01:00: before year 1 in UTC
        raise ContractError(field_name, value, "a time within years 1-9999 in UTC") from None


def _number(field_name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ContractError(field_name, value, "a number")
    try:
        return float(value)
    except OverflowError:
        raise ContractError(field_name, str(value)[:40], "a number within float range") from None


def parse_metrics(field_name: str, metrics: object) -> list[tuple[str, float, str | None]]:
    """``(metric, value, explicit unit or None)`` for each entry of a ``metrics`` object."""
    if not isinstance(metrics, dict) or not metrics:
        raise ContractError(field_name, metrics, "a non-empty object of metric: number")
    parsed = []
    for name, raw in metrics.items():
        where = f"{field_name}.{name}"
        if not isinstance(name, str) or not name.replace("_", "").isalnum() or not name.islower():
            raise ContractError(where, name, "a lower-case metric name like diesel_litres")
        if isinstance(raw, dict):
            unit = raw.get("unit")
            if not isinstance(unit, str) or not unit.strip():
                raise ContractError(f"{where}.unit", unit, "a unit string such as 'MWh'")
            parsed.append((name, _number(f"{where}.value", raw.get("value")), unit.strip()))
        else:
            parsed.append((name, _number(where, raw), None))
    return parsed


def _tags(field_name: str, tags: object) -> dict[str, Any]:
    if tags is None:
        return {}
    if not isinstance(tags, dict) or not all(isinstance(v, (str, int, float)) for v in tags.values()):
        raise ContractError(field_name, tags, "an object of tag: string")
    return tags


def _placed(where: Topic, tags: dict[str, Any], dot: str) -> dict[str, str | None]:
    """``org``, ``site`` and ``region`` of one reading, its own tags over its message's.

    The topic's org is the authority: the broker's ACL (MQTT) or the token (HTTP) vouched for
    it, and ``carbon-lake ingest --org`` declared it. A payload whose ``tags.org`` names another
    org is quarantined, never re-filed under the org it claims; only a file ingested without
    ``--org`` (topic org :data:`DEFAULT_ORG`) takes its org from the payload. The site comes
    from the topic for devices and from ``tags.site`` for files.
    """
    org, claimed = where.org, tags.get("org")
    if claimed is not None:
        claimed = check_identifier(f"{dot}tags.org", claimed)
        if where.site is None and where.org == DEFAULT_ORG:
            org = claimed
        elif claimed != org:
            given = "the file was ingested for (--org)" if where.site is None else "the topic names"
            raise ContractError(f"{dot}tags.org", claimed, f"the organisation {given}, {org!r}", code="org_mismatch")
    site = where.site or check_identifier(f"{dot}tags.site", tags.get("site"))
    region = tags.get("region")
    return {"org": org, "site": site,
            "region": None if region is None else check_identifier(f"{dot}tags.region", region)}


def _event_id(field_name: str, value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return check_identifier(field_name, value)


def decode(payload: bytes) -> dict[str, Any]:
    """UTF-8 JSON object, or a ContractError naming what is wrong with the bytes."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError("payload", f"{len(payload)} bytes", f"at most {MAX_PAYLOAD_BYTES} bytes (left unparsed)",
                            code="payload_too_large")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError("payload", f"byte 0x{payload[exc.start]:02x} at offset {exc.start}", "UTF-8 text",
                            code="payload_not_utf8") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractError("payload", text[max(0, exc.pos - 20):exc.pos + 20], f"JSON ({exc.msg} at char {exc.pos})") from None
    except RecursionError:
        raise ContractError("payload", text[:40], "JSON nested less deeply") from None
    except ValueError as exc:  # Python's limit on integer digits (a denial-of-service guard)
        raise ContractError("payload", text[:40], f"JSON numbers Python can read ({exc})") from None
    if not isinstance(document, dict):
        raise ContractError("payload", document, "a JSON object", code="payload_not_object")
    return document


def parse_message(topic: str, payload: bytes) -> ParsedMessage:
    """Parse one landed message; never raises for bad input, rejections carry the reason."""
    out = ParsedMessage()
    try:
        where = Topic.parse(topic)
        document = decode(payload)
        if where.stream == "status":
            out.status = document
            return out
        schema = document.get("schema", SCHEMA_TELEMETRY)
        if schema != SCHEMA_TELEMETRY:
            raise ContractError("schema", schema, repr(SCHEMA_TELEMETRY))
        source_id = check_identifier("source_id", document.get("source_id"))
        tags = _tags("tags", document.get("tags"))
        vertical = document.get("vertical")
        if vertical is not None and not isinstance(vertical, str):
            raise ContractError("vertical", vertical, "a string")
        if "readings" in document:
            readings = document["readings"]
            if not isinstance(readings, list) or not readings:
                raise ContractError("readings", readings, "a non-empty list of readings")
            items = [(f"readings[{i}]", r) for i, r in enumerate(readings)]
        else:
            items = [("", document)]
    except ContractError as exc:
        out.rejections.append(Rejection(reason=str(exc), code=exc.code))
        return out

    base = {"device_id": where.device_id or source_id, "source_id": source_id, "vertical": vertical}
    for prefix, reading in items:
        dot = f"{prefix}." if prefix else ""
        event_id = None
        try:
            if not isinstance(reading, dict):
                raise ContractError(prefix, reading, "a reading object")
            event_id = _event_id(f"{dot}event_id", reading.get("event_id"))
            ts = parse_timestamp(f"{dot}ts", reading.get("ts"))
            metrics = parse_metrics(f"{dot}metrics", reading.get("metrics"))
            reading_tags = {**tags, **_tags(f"{dot}tags", reading.get("tags"))} if prefix else tags
            placed = _placed(where, reading_tags, dot)
        except ContractError as exc:
            out.rejections.append(Rejection(reason=str(exc), code=exc.code, source_id=source_id, event_id=event_id))
            continue
        tags_json = json.dumps(reading_tags, sort_keys=True) if reading_tags else None
        for metric, value, unit in metrics:
            out.rows.append({**base, **placed, "event_id": event_id, "ts": ts, "metric": metric,
                             "value": value, "unit": unit, "tags": tags_json})
    return out

