"""Device status messages (``.../status``): what each device says about its own health.

A node reports its firmware version, uptime, offline buffer, the readings it had to drop when
that buffer was full, RSSI and its outages (firmware/README.md, "Status stream"). Bronze keeps
each status message as a row of ``bronze/device_status`` (the known fields typed, the whole JSON
kept beside them), published in the warehouse as the view ``device_status``, so that an engineer
can ask in SQL when a device was offline, and the bronze asset's check can say when one dropped
readings: the firmware counts every drop, and this is where the count becomes visible.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from carbon_lake.contracts import DEVICE_STATUS_SCHEMA, ContractError, Topic
from carbon_lake.lake import frame_types
from carbon_lake.payload import decode, parse_timestamp

STATUS_TYPES = frame_types(DEVICE_STATUS_SCHEMA)


# A field of another type than expected is null, never coerced (the full JSON stays in ``payload``).
def _bool(value: Any) -> bool | None:
    return value if type(value) is bool else None


def _int(value: Any) -> int | None:
    return value if type(value) is int and -2**63 <= value < 2**63 else None


def _float(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) and abs(value) < 1e308 else None  # finite; bool excluded


def _str(value: Any) -> str | None:
    return value if type(value) is str else None


def _reader(dtype: pl.DataType):
    for kind, reader in ((pl.Boolean, _bool), (pl.Int64, _int), (pl.Float64, _float)):
        if dtype == kind:
            return reader
    return _str


# The fields carbon-lake's firmware sends, each with its reader; other devices may send fewer
# or more.
FIELDS = {name: _reader(STATUS_TYPES[name]) for name in (
    "clock_synced", "fw_version", "kind", "boot", "uptime_s", "buffer_depth", "buffer_capacity", "dropped",
    "rssi_dbm", "reconnects", "offline_s", "last_outage_s", "readings", "sensor_errors", "last_sensor_error")}


def _ts(value: Any) -> datetime | None:
    try:
        return parse_timestamp("ts", value)
    except ContractError:
        return None


def status_rows(relative: str, table: pa.Table) -> pl.DataFrame:
    """One row per status message of a landing file. A status that is not a JSON object is not
    here: the payload parser rejected it, so it is in quarantine with its reason."""
    offsets = np.flatnonzero(pc.ends_with(table.column("topic"), "/status").to_numpy(zero_copy_only=False))
    chosen = table.take(pa.array(offsets, pa.int64()))
    places: dict[str, Topic | None] = {}  # a device sends many statuses on one topic: parse it once
    rows = []
    for offset, topic, payload, received_at in zip(offsets.tolist(), chosen.column("topic").to_pylist(),
                                                   chosen.column("payload").to_pylist(),
                                                   chosen.column("received_at").to_pylist(), strict=True):
        if topic not in places:
            places[topic] = _status_topic(topic)
        where = places[topic]
        try:  # the same test of a status as parse_message's, without the rest of its work
            status = decode(payload) if where is not None else None
        except ContractError:
            status = None
        if status is None:
            continue
        rows.append({"landing_file": relative, "landing_offset": offset, "received_at": received_at,
                     "org": where.org, "site": where.site, "device_id": where.device_id, "ts": _ts(status.get("ts")),
                     **{name: read(status.get(name)) for name, read in FIELDS.items()},
                     "payload": payload.decode("utf-8"),
                     "event_date": received_at.astimezone(timezone.utc).date()})
    return pl.DataFrame(rows, schema=STATUS_TYPES) if rows else pl.DataFrame(schema=STATUS_TYPES)


def _status_topic(topic: str) -> Topic | None:
    try:
        where = Topic.parse(topic)
    except ContractError:
        return None
    return where if where.stream == "status" else None


def new_drops(statuses: pl.LazyFrame, days: int = 7) -> pl.DataFrame:
    """Devices whose dropped-readings counter rose within the last ``days`` days (by receipt).

    The counter is cumulative on the device (kept in its flash), so a rise between two statuses
    is readings lost for good; a counter that has stayed where it was is old news, not a new loss.
    """
    since = datetime.now(timezone.utc) - timedelta(days=days)
    per_device = (
        statuses.filter(pl.col("dropped").is_not_null())
        .sort("received_at")
        .group_by("org", "site", "device_id")
        .agg(pl.col("dropped").filter(pl.col("received_at") < since).last().alias("before"),
             pl.col("dropped").filter(pl.col("received_at") >= since).last().alias("dropped"),
             pl.col("buffer_depth").last(), pl.col("buffer_capacity").last(),
             pl.col("received_at").last().alias("last_status"))
        .collect()
    )
    # With no status before the window, the drops it shows happened before the first one seen.
    new = pl.col("dropped") - pl.col("before").fill_null(0)
    return (per_device.filter(new > 0).with_columns(new.alias("new_drops"))
            .select("org", "site", "device_id", "new_drops", "dropped", "buffer_depth", "buffer_capacity",
                    "last_status")
            .sort("new_drops", descending=True))
