"""The data contracts of ARCHITECTURE.md as code: topics, identifiers and table schemas.

Every stage writes exactly these schemas, so a reader (an asset, the app, an auditor's SQL)
can rely on column names and types without looking at the code that wrote them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date

import pyarrow as pa

from carbon_lake.reasons import check_code, code_for_field

TOPIC_PREFIX = "carbon/v1"
TOPIC_FILTER = f"{TOPIC_PREFIX}/#"
STREAMS = ("telemetry", "status", "batch")
SCHEMA_TELEMETRY = "carbon.telemetry/1"
# A message larger than this is quarantined unparsed: a gateway batch of 100 readings is ~15 kB,
# so 1 MiB leaves room for any honest device while no single message can tie up the parser.
MAX_PAYLOAD_BYTES = 1_048_576
FILE_TOPIC_PREFIX = "ingest"
# The org of a file ingested without --org: its records' tags.org say whose they are.
DEFAULT_ORG = "default"

# Identifiers end up in file names, SQL and dashboards: keep them to a safe alphabet.
IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def _compact(value: object) -> str:
    try:
        return json.dumps(value, separators=(", ", ": "), default=str)
    except (TypeError, ValueError):
        return type(value).__name__


class ContractError(ValueError):
    """Input that breaks a contract; the message names the field, the value and what was expected.

    ``code`` is the stable reason code quarantine counts by (:mod:`carbon_lake.reasons`); by
    default it follows from the field's path."""

    def __init__(self, field: str, value: object, expected: str, code: str | None = None) -> None:
        shown = value if isinstance(value, (str, int, float, bool, type(None))) else _compact(value)
        if isinstance(shown, str) and len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{field}: expected {expected}, got {shown!r}")
        self.field = field
        self.value = value
        self.expected = expected
        self.code = check_code(code) if code else code_for_field(field)


def check_identifier(field: str, value: object) -> str:
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise ContractError(field, value, "an identifier of letters, digits and . _ : - (1-128 chars)")
    return value


@dataclass(frozen=True)
class Topic:
    """Where a message came from: ``carbon/v1/{org}/{site}/{device_id}/{stream}``.

    Files and HTTP uploads land under ``ingest/{org}/{name}``; their site and device come
    from the payload instead (``site`` is then required in the payload's tags).
    """

    org: str
    site: str | None
    device_id: str | None
    stream: str

    @classmethod
    def parse(cls, topic: str) -> "Topic":
        parts = topic.split("/")
        if parts[0] == FILE_TOPIC_PREFIX and len(parts) == 3:
            return cls(org=check_identifier("topic.org", parts[1]), site=None, device_id=None, stream="telemetry")
        if len(parts) != 6 or "/".join(parts[:2]) != TOPIC_PREFIX:
            raise ContractError("topic", topic, f"{TOPIC_PREFIX}/{{org}}/{{site}}/{{device_id}}/{{stream}}")
        _, _, org, site, device_id, stream = parts
        if stream not in STREAMS:
            raise ContractError("topic.stream", stream, " or ".join(STREAMS))
        return cls(
            org=check_identifier("topic.org", org),
            site=check_identifier("topic.site", site),
            device_id=check_identifier("topic.device_id", device_id),
            stream=stream,
        )


def telemetry_topic(org: str, site: str, device_id: str, stream: str = "telemetry") -> str:
    return f"{TOPIC_PREFIX}/{org}/{site}/{device_id}/{stream}"


def file_topic(org: str, name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:120] or "upload"
    return f"{FILE_TOPIC_PREFIX}/{org}/{safe}"


UTC_US = pa.timestamp("us", tz="UTC")

# Daily partitions on the reading's event date (UTC) start here: base years of GHG inventories
# go back to about 2015. A reading dated before it, or after tomorrow, is quarantined at bronze.
FIRST_EVENT_DATE = date(2015, 1, 1)

# The tag a device puts on a reading taken before its clock was ever synchronized (`clock`):
# its ts is an uptime, not a time, so bronze quarantines the reading rather than misdate it.
UNSYNCED_CLOCK = "unsynced"

# landing/: what arrived, byte for byte, and when.
LANDING_SCHEMA = pa.schema(
    [
        pa.field("topic", pa.string(), nullable=False),
        pa.field("payload", pa.binary(), nullable=False),
        pa.field("received_at", UTC_US, nullable=False),
    ]
)

# bronze/readings: one row per reading and metric, still in the unit it was sent in.
BRONZE_SCHEMA = pa.schema(
    [
        ("landing_file", pa.string()),
        ("landing_offset", pa.int64()),
        ("received_at", UTC_US),
        ("org", pa.string()),
        ("site", pa.string()),
        ("device_id", pa.string()),
        ("source_id", pa.string()),
        ("event_id", pa.string()),
        ("ts", UTC_US),
        ("vertical", pa.string()),
        ("region", pa.string()),
        ("metric", pa.string()),
        ("value", pa.float64()),
        ("unit", pa.string()),
        ("tags", pa.string()),
    ]
)

# bronze/readings as stored: one Delta partition per event date, so a range of days reads only its files.
BRONZE_TABLE_SCHEMA = pa.schema(list(BRONZE_SCHEMA) + [("event_date", pa.date32())])

# silver/readings: bronze plus the activity and the quantity in its canonical unit, stored in
# one Delta partition per event date (the Dagster partition).
SILVER_SCHEMA = pa.schema(
    list(BRONZE_SCHEMA)
    + [
        ("activity", pa.string()),
        ("quantity", pa.float64()),
        ("canonical_unit", pa.string()),
        ("event_date", pa.date32()),
    ]
)

# bronze/device_status: one row per status message a device sent (carbon_lake/device_status.py),
# the known fields typed and the whole JSON in payload; partitioned by the day it was received.
DEVICE_STATUS_SCHEMA = pa.schema(
    [("landing_file", pa.string()), ("landing_offset", pa.int64()), ("received_at", UTC_US), ("org", pa.string()),
     ("site", pa.string()), ("device_id", pa.string()), ("ts", UTC_US), ("clock_synced", pa.bool_()),
     ("fw_version", pa.string()), ("kind", pa.string()), ("boot", pa.int64()), ("uptime_s", pa.float64()),
     ("buffer_depth", pa.int64()), ("buffer_capacity", pa.int64()), ("dropped", pa.int64()), ("rssi_dbm", pa.int64()),
     ("reconnects", pa.int64()), ("offline_s", pa.float64()), ("last_outage_s", pa.float64()), ("readings", pa.int64()),
     ("sensor_errors", pa.int64()), ("last_sensor_error", pa.string()), ("payload", pa.string()),
     ("event_date", pa.date32())]
)

# quarantine/: what was rejected, why, and the bytes it came from.
QUARANTINE_SCHEMA = pa.schema(
    [
        ("stage", pa.string()),
        ("landing_file", pa.string()),
        ("landing_offset", pa.int64()),
        ("topic", pa.string()),
        ("source_id", pa.string()),
        ("event_id", pa.string()),
        ("metric", pa.string()),
        ("reason", pa.string()),  # the detail, with the value: what an engineer fixing the message reads
        ("raw", pa.binary()),
        ("quarantined_at", UTC_US),
        ("event_date", pa.date32()),  # the partition that rejected it; null for unparseable messages
        ("reason_code", pa.string()),  # the stable kind (carbon_lake/reasons.py): what counts group by
    ]
)

# emissions: one row per emission line, stored as a Delta table partitioned by event date and
# published in warehouse.duckdb as the view every SQL client relies on (lineage extras at the end).
_TEXT = pa.string()
EMISSIONS_SCHEMA = pa.schema(
    [("source_id", _TEXT), ("event_id", _TEXT), ("ts", UTC_US), ("org", _TEXT), ("site", _TEXT),
     ("scope", pa.int8()), ("category", _TEXT), ("activity", _TEXT), ("quantity", pa.float64()), ("unit", _TEXT),
     ("factor_id", _TEXT), ("factor_release", _TEXT), ("factor_value", pa.float64()), ("co2e_kg", pa.float64()),
     ("co2_kg", pa.float64()), ("ch4_kg", pa.float64()), ("n2o_kg", pa.float64()), ("biogenic_co2_kg", pa.float64()),
     ("landing_file", _TEXT), ("landing_offset", pa.int64()), ("factor_rule", _TEXT), ("vertical", _TEXT),
     ("region", _TEXT), ("metric", _TEXT), ("method", _TEXT), ("gwp_basis", _TEXT),
     # the site-data version (instruments) a market row was priced with; null on rows it cannot affect
     ("site_data_version", _TEXT), ("factor_region", _TEXT), ("factor_fallback", _TEXT), ("event_date", pa.date32())]
)
EMISSIONS_COLUMNS = EMISSIONS_SCHEMA.names
