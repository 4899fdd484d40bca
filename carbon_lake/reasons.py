"""Stable codes for why a row was quarantined.

A quarantine reason is text with the value inside ("metrics.diesel.unit: expected a unit ...,
got 'furlongs'"), which is what an engineer fixing one message needs, but counting by it gives
about one group per row. So every rejection also carries a code from this closed list, the
same in bronze, silver and emissions quarantine: Dagster metadata, the app and any SQL client
count by ``reason_code`` and read ``reason`` for the detail. Codes are never renamed; a new
kind of rejection gets a new code here (tests/test_reason_codes.py holds every rejection the
flow can make to this list).
"""

from __future__ import annotations

import re

CODES: dict[str, str] = {
    # bronze: the message and its envelope
    "topic_invalid": "the topic is not carbon/v1/{org}/{site}/{device_id}/{stream} or has a bad segment",
    "payload_too_large": "the message is larger than the parser accepts; left unparsed",
    "payload_not_utf8": "the message bytes are not UTF-8 text",
    "payload_not_json": "the message is not JSON",
    "payload_not_object": "the message is JSON but not an object",
    "schema_unknown": "the payload names a schema this version does not read",
    "source_id_invalid": "source_id is missing or not an identifier",
    "event_id_invalid": "event_id is missing or not an identifier",
    "org_invalid": "the organisation (topic or tags.org) is not an identifier",
    "org_mismatch": "the payload's tags.org disagrees with the organisation it was uploaded for",
    "site_invalid": "the site (tags.site for files) is missing or not an identifier",
    "region_invalid": "tags.region is not an identifier",
    "tags_invalid": "tags is not an object of strings and numbers",
    "vertical_invalid": "vertical is not a string",
    "readings_invalid": "a batch's readings is not a non-empty list",
    "reading_invalid": "a batch entry is not a reading object",
    "ts_invalid": "ts is missing or not an ISO 8601 time with an offset",
    "metrics_invalid": "metrics is missing or not a non-empty object",
    "metric_invalid": "a metric name or value is malformed",
    "unit_invalid": "an explicit unit is missing or not a string",
    "value_invalid": "a metric value is not a number",
    "field_invalid": "another field breaks the payload contract (the reason names it)",
    "ts_out_of_range": "the reading's time is before the first partition day or after tomorrow",
    "clock_unsynced": "the device's clock was never synchronized, so ts is an uptime",
    # silver: the reading against the vocabulary and units
    "reading_conflict": "a (source_id, event_id) already landed with different content; the first copy is kept",
    "metric_unknown": "the metric names no activity in activities.csv",
    "unit_unknown": "the unit is not one the units library knows",
    "unit_mismatch": "the explicit unit disagrees with the unit the metric's name gives",
    "unit_incompatible": "the unit cannot be converted to the activity's canonical unit",
    "value_not_finite": "the value is NaN or infinite",
    "quantity_negative": "a negative quantity for an activity that cannot be negative",
    "region_unknown": "tags.region is no ISO 3166-1 code, no region a release names and no listed alias",
    # emissions: pricing
    "variant_missing": "the tag that chooses the factor (vehicle class, refrigerant) is missing",
    "factor_missing": "no factor in the release covers the activity, variant, region chain, unit and day",
}

_INDEX = re.compile(r"\[\d+\]")
_FIELD_CODES = {"topic": "topic_invalid", "payload": "payload_not_json", "schema": "schema_unknown",
                "source_id": "source_id_invalid", "event_id": "event_id_invalid", "vertical": "vertical_invalid",
                "readings": "readings_invalid", "ts": "ts_invalid", "tags": "tags_invalid"}
_TAG_CODES = {"site": "site_invalid", "region": "region_invalid", "org": "org_invalid"}


def code_for_field(field: str) -> str:
    """The code of a contract error on ``field`` (``readings[3].metrics.diesel.unit`` -> ``unit_invalid``).

    The field path is what every parser error names, so the code follows from its shape: batch
    indices and metric names are values, not kinds, and are dropped."""
    parts = _INDEX.sub("", field).split(".")
    if parts[0] == "readings" and len(parts) > 1:
        parts = parts[1:]
    elif parts[0] == "readings" and _INDEX.search(field):
        return "reading_invalid"
    head = parts[0]
    if head == "topic":
        return "org_invalid" if parts[-1] == "org" else "topic_invalid"
    if head == "metrics":
        if len(parts) == 1:
            return "metrics_invalid"
        return {"unit": "unit_invalid", "value": "value_invalid"}.get(parts[-1] if len(parts) > 2 else "",
                                                                      "metric_invalid")
    if head == "tags" and len(parts) > 1:
        return _TAG_CODES.get(parts[1], "tags_invalid")
    return _FIELD_CODES.get(head, "field_invalid")


def check_code(code: str) -> str:
    """``code`` when it is on the list; a typo in a code is a bug, not a new kind of rejection."""
    if code not in CODES:
        raise ValueError(f"reason_code: expected one of {', '.join(CODES)}, got {code!r}")
    return code
