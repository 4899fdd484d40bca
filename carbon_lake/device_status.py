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
from carbon_lake.payload import parse_message, parse_timestamp

STATUS_TYPES = frame_types(DEVICE_STATUS_SCHEMA)
# The fields carbon-lake's firmware sends, typed; other devices may send fewer or more (the full
# JSON stays in ``payload``). A field of another type is null here, never coerced.
FIELDS = {name: STATUS_TYPES[name] for name in (
    "clock_synced", "fw_version", "kind", "boot", "uptime_s", "buffer_depth", "buffer_capacity", "dropped",
    "rssi_dbm", "reconnects", "offline_s", "last_outage_s", "readings", "sensor_errors", "last_sensor_error")}


def _typed(value: Any, dtype: pl.DataType) -> Any:
    is_bool = isinstance(value, bool)
    if dtype == pl.Boolean:
        return value if is_bool else None
    if dtype == pl.Int64:
        return value if isinstance(value, int) and not is_bool and -2**63 <= value < 2**63 else None
    if dtype == pl.Float64:
        return float(value) if isinstance(value, (int, float)) and not is_bool and abs(value) < 1e308 else None
    return value if isinstance(value, str) else None


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
    rows = []
    for offset, topic, payload, received_at in zip(offsets.tolist(), chosen.column("topic").to_pylist(),
                                                   chosen.column("payload").to_pylist(),
                                                   chosen.column("received_at").to_pylist(), strict=True):
        status = parse_message(topic, payload).status
        if status is None:
            continue
        where = Topic.parse(topic)
        rows.append({"landing_file": relative, "landing_offset": offset, "received_at": received_at,
                     "org": where.org, "site": where.site, "device_id": where.device_id, "ts": _ts(status.get("ts")),
                     **{name: _typed(status.get(name), dtype) for name, dtype in FIELDS.items()},
                     "payload": payload.decode("utf-8"),
                     "event_date": received_at.astimezone(timezone.utc).date()})
    return pl.DataFrame(rows, schema=STATUS_TYPES) if rows else pl.DataFrame(schema=STATUS_TYPES)


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
