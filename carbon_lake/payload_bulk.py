"""The bulk payload decoder: a landing file's clean messages decoded at once, in DuckDB.

:func:`carbon_lake.payload.parse_message` is the contract; this module is only a faster way to
the same rows for the messages it can *prove* clean and in the common shapes (a single reading
or a gateway batch, metrics as numbers or ``{"value", "unit"}``, tags of strings or integers,
status messages, which are only counted). It never rejects anything: a message it has any doubt
about is left out of :attr:`BulkDecoded.handled`, and the caller gives it, whole, to
``parse_message``. Hence every rule below is narrower than the contract, never wider:

* Bytes: printable ASCII and JSON whitespace, no backslash, at most MAX_PAYLOAD_BYTES. Without
  escapes every JSON string is its own text, which is also what ``json.dumps`` writes for it.
* Where DuckDB's JSON reader (yyjson) is laxer than ``json.loads`` (trailing commas, ``nan`` and
  ``inf`` in any spelling) or ``json.loads`` fails where yyjson does not (integers past 4,300
  digits), the text is left out: see ``_DOUBTFUL_TEXT``. No run of 18 digits and no exponent of
  3 digits also keeps every number finite and exact: DuckDB's double is bit for bit Python's
  ``float()`` of it.
* Structure: no object repeats a key (``json.loads`` keeps the last value, DuckDB's structures
  the first), and the ``{`` and ``[`` in the text are exactly the objects and the one array the
  contract names. A container anywhere else would add one, so this also bounds the depth
  (``json.loads`` gives up on deep nesting) and makes sure that fields parse_message ignores
  are scalars.
* Timestamps: ``YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM|-HH:MM)``, each part range-checked, then
  converted with integer arithmetic: no calendar function that could raise, round or differ.

A JSON null is a NULL in DuckDB's structures, so every check is written to be false, not NULL,
when a value is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from carbon_lake.contracts import IDENTIFIER, MAX_PAYLOAD_BYTES, SCHEMA_TELEMETRY, ContractError, Topic

# Bytes a candidate payload may hold: tab, LF, CR and printable ASCII except the backslash.
_PLAIN_BYTES = np.zeros(256, dtype=bool)
_PLAIN_BYTES[[0x09, 0x0A, 0x0D]] = True
_PLAIN_BYTES[0x20:0x7F] = True
_PLAIN_BYTES[ord("\\")] = False

# Text where yyjson and json.loads could disagree (see the module docstring). It is searched in
# the whole payload, strings included: a false alarm only sends a message down the slow path.
_DOUBTFUL_TEXT = r",[ \t\n\r]*[\]}]|(?i:[\[:,][ \t\n\r]*-?(?:nan|inf))|[0-9]{18}|[eE][+-]?[0-9]{3}"

# A status message is only counted, never read: it needs to be a JSON object json.loads accepts,
# which a bound on its brackets (so on its depth) makes certain.
_STATUS_MAX_BRACKETS = 32

# One parse per message into the contract's structure: fields as JSON (their types are checked in
# SQL), tags as MAP(VARCHAR, JSON), which keeps their order and is NULL for a repeated key.
# Metrics are read as the lists json_keys and ``-> '$.*'`` give, in order, repeats included.
_STRUCTURE = """{"schema": "JSON", "source_id": "JSON", "vertical": "JSON", "tags": "MAP(VARCHAR, JSON)",
  "event_id": "JSON", "ts": "JSON", "metrics": "JSON",
  "readings": [{"event_id": "JSON", "ts": "JSON", "metrics": "JSON", "tags": "MAP(VARCHAR, JSON)"}]}"""

_MACROS = r"""
CREATE TEMP MACRO json_string(j) AS CASE WHEN json_type(j) = 'VARCHAR' THEN j ->> '$' END;
CREATE TEMP MACRO is_number(j) AS coalesce(json_type(j) IN ('UBIGINT', 'BIGINT', 'DOUBLE'), false);
CREATE TEMP MACRO is_identifier(s) AS coalesce(regexp_full_match(s, getvariable('identifier')), false);
CREATE TEMP MACRO occurrences(text, c) AS length(text) - length(replace(text, c, ''));
CREATE TEMP MACRO no_repeats(keys) AS len(keys) = list_unique(keys);

-- (a JSON null is a NULL in these structures, and list_bool_and skips NULLs: hence the coalesce)
CREATE TEMP MACRO tags_clean(m) AS m IS NOT NULL AND coalesce(list_bool_and(list_transform(map_values(m),
    lambda v: coalesce(json_type(v) IN ('VARCHAR', 'UBIGINT', 'BIGINT'), false))), true);
-- json.dumps(tags, sort_keys=True): keys and strings need no escaping (plain bytes, no quote or
-- backslash inside), so a value's JSON text is what json.dumps writes for it
CREATE TEMP MACRO tags_json(entries) AS CASE WHEN len(entries) > 0 THEN
    '{' || array_to_string(list_transform(list_sort(entries), lambda e: '"' || e.key || '": ' || e.value), ', ') || '}'
    END;
CREATE TEMP MACRO merged_tags(message, reading) AS tags_json(list_concat(map_entries(reading),
    list_filter(map_entries(message), lambda e: NOT list_contains(map_keys(reading), e.key))));

-- timestamps: a strict ISO 8601 shape, its parts at their fixed places, checked and converted to
-- UTC microseconds; days_from_civil is H. Hinnant's, for years > 0
CREATE TEMP MACRO ts_shaped(s) AS coalesce(
    regexp_full_match(s, '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)'), false);
CREATE TEMP MACRO digits(s, start, n) AS coalesce(TRY_CAST(substr(s, start, n) AS BIGINT), 0);
CREATE TEMP MACRO ts_parts(s) AS {
    'y': digits(s, 1, 4), 'mo': digits(s, 6, 2), 'd': digits(s, 9, 2),
    'h': digits(s, 12, 2), 'mi': digits(s, 15, 2), 's': digits(s, 18, 2),
    'frac': digits(rpad(substr(s, 21, len(s) - 20 - CASE WHEN right(s, 1) = 'Z' THEN 1 ELSE 6 END), 6, '0'), 1, 6),
    'sign': CASE WHEN right(s, 1) = 'Z' THEN 0 WHEN substr(s, -6, 1) = '-' THEN -1 ELSE 1 END,
    'oh': CASE WHEN right(s, 1) = 'Z' THEN 0 ELSE digits(s, -5, 2) END,
    'om': CASE WHEN right(s, 1) = 'Z' THEN 0 ELSE digits(s, -2, 2) END};
CREATE TEMP MACRO days_in_month(y, mo) AS
    [31, 28 + (y % 4 = 0 AND (y % 100 <> 0 OR y % 400 = 0))::INT, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo];
CREATE TEMP MACRO ts_valid(p) AS p.y BETWEEN 2 AND 9998 AND p.mo BETWEEN 1 AND 12
    AND p.d BETWEEN 1 AND days_in_month(p.y, p.mo) AND p.h <= 23 AND p.mi <= 59 AND p.s <= 59
    AND p.oh <= 23 AND p.om <= 59;
CREATE TEMP MACRO era_days(yy, mo, d) AS (yy // 400) * 146097 + (yy % 400) * 365 + (yy % 400) // 4
    - (yy % 400) // 100 + (153 * ((mo + 9) % 12) + 2) // 5 + d - 1 - 719468;
CREATE TEMP MACRO days_from_civil(y, mo, d) AS era_days(y - (mo <= 2)::INT, mo, d);
CREATE TEMP MACRO ts_micros(p) AS days_from_civil(p.y, p.mo, p.d) * 86400000000
    + ((p.h * 60 + p.mi) * 60 + p.s) * 1000000 + p.frac - p.sign * (p.oh * 60 + p.om) * 60000000;
"""

# Each level (message, reading, metric) says whether it is clean; a message is decoded here only
# if it, all its readings and metrics are, and its braces are exactly the objects accounted for
# (itself, its tags, each reading, their metrics and tags, each {"value", "unit"}). Lists are
# unnested with their subscripts, which give parse_message's order: reading, then metric.
_DECODE = r"""
CREATE TEMP TABLE messages AS
SELECT off, batch, readings, reading_keys, braces - 1 - has_tags::INT AS braces_left,
    org, coalesce(topic_site, json_string(tags['site'])) AS site,
    coalesce(topic_device, json_string(d.source_id)) AS device_id, json_string(d.source_id) AS source_id,
    json_string(d.vertical) AS vertical, json_string(tags['region']) AS region, tags,
    tags_json(map_entries(tags)) AS tags_text,
    coalesce(no_repeats(keys)
        AND (NOT list_contains(keys, 'schema') OR json_string(d.schema) = getvariable('schema'))
        AND is_identifier(json_string(d.source_id))
        AND (NOT has_tags OR tags_clean(d.tags))
        AND (topic_site IS NOT NULL OR is_identifier(json_string(tags['site'])))
        AND (tags['region'] IS NULL OR is_identifier(json_string(tags['region'])))
        AND NOT list_contains(map_keys(tags), 'org')  -- the payload's org is checked by parse_message
        AND (d.vertical IS NULL OR json_type(d.vertical) = 'VARCHAR')  -- (a JSON null is NULL here)
        AND len(readings) > 0 AND len(readings) = len(reading_keys)
        AND brackets = batch::INT, false) AS clean
FROM (
    SELECT *, coalesce(d.tags, MAP([]::VARCHAR[], []::JSON[])) AS tags,
        CASE WHEN batch THEN d.readings
             ELSE [{'event_id': d.event_id, 'ts': d.ts, 'metrics': d.metrics, 'tags': NULL}] END AS readings,
        CASE WHEN batch THEN json_keys(text, '$.readings[*]') ELSE [[]] END AS reading_keys
    FROM (
        SELECT *, list_contains(keys, 'readings') AS batch, list_contains(keys, 'tags') AS has_tags
        FROM (SELECT off, org, topic_site, topic_device, text, json_transform(text, getvariable('structure')) AS d,
                     json_keys(text) AS keys, occurrences(text, '{') AS braces, occurrences(text, '[') AS brackets
              FROM candidates WHERE NOT status AND json_valid(text) AND json_type(text) = 'OBJECT')
    )
);

CREATE TEMP TABLE readings AS
SELECT off, ri, event_id, metric_names, metric_values, own_tags, r.tags AS reading_tags,
    CASE WHEN own_tags THEN json_string(r.tags['region']) END AS own_region,
    CASE WHEN ts_ok THEN ts_micros(p) END AS ts,
    batch::INT + 1 + own_tags::INT AS braces,  -- the reading itself, its metrics, its tags
    coalesce(CASE WHEN len(rk) = list_contains(rk, 'event_id')::INT + list_contains(rk, 'ts')::INT
                  + list_contains(rk, 'metrics')::INT + own_tags::INT THEN true  -- (the usual keys, once each)
             ELSE no_repeats(rk) END
             AND is_identifier(event_id) AND ts_ok AND json_type(r.metrics) = 'OBJECT'
             AND len(metric_names) > 0 AND len(metric_names) = len(metric_values)
             AND (len(metric_names) = 1 OR no_repeats(metric_names))
             AND (NOT own_tags OR tags_clean(r.tags))
             -- a reading's own region wins over its message's; its own org or site, rare, go to parse_message
             AND (NOT own_tags OR r.tags['region'] IS NULL OR is_identifier(json_string(r.tags['region'])))
             AND (NOT own_tags OR NOT list_has_any(map_keys(r.tags), ['org', 'site'])), false) AS clean
FROM (
    SELECT *, list_contains(rk, 'tags') AS own_tags,
        CASE json_type(r.event_id) WHEN 'VARCHAR' THEN r.event_id ->> '$'
             WHEN 'UBIGINT' THEN TRY_CAST(r.event_id AS BIGINT)::VARCHAR
             WHEN 'BIGINT' THEN TRY_CAST(r.event_id AS BIGINT)::VARCHAR END AS event_id,
        ts_parts(ts_text) AS p, ts_shaped(ts_text) AND ts_valid(ts_parts(ts_text)) AS ts_ok,
        json_keys(r.metrics) AS metric_names, r.metrics -> '$.*' AS metric_values
    FROM (SELECT *, json_string(r.ts) AS ts_text
          FROM (SELECT off, batch, unnest(readings) AS r, unnest(reading_keys) AS rk,
                       generate_subscripts(readings, 1) AS ri
                FROM messages WHERE clean))
);

CREATE TEMP TABLE metrics AS
SELECT off, ri, mi, metric, braced, TRY_CAST(number AS DOUBLE) AS value, trim(json_string(unit_object.unit)) AS unit,
    coalesce(regexp_full_match(metric, '[a-z0-9_]*[a-z][a-z0-9_]*')
        AND CASE WHEN braced THEN is_number(number) AND trim(json_string(unit_object.unit)) <> ''
                                  AND no_repeats(json_keys(raw))
                 ELSE raw_type IN ('UBIGINT', 'BIGINT', 'DOUBLE') END, false) AS clean
FROM (
    SELECT *, CASE WHEN braced THEN unit_object.value ELSE raw END AS number
    FROM (
        SELECT *, CASE WHEN braced THEN json_transform(raw, '{"value": "JSON", "unit": "JSON"}') END AS unit_object
        FROM (SELECT *, json_type(raw) AS raw_type, json_type(raw) = 'OBJECT' AS braced
              FROM (SELECT off, ri, unnest(metric_names) AS metric, unnest(metric_values) AS raw,
                           generate_subscripts(metric_names, 1) AS mi
                    FROM readings WHERE clean))
    )
);

CREATE TEMP TABLE doubtful AS
SELECT off FROM messages WHERE NOT clean
UNION SELECT off FROM readings WHERE NOT clean
UNION SELECT off FROM metrics WHERE NOT clean
UNION SELECT off FROM messages
    LEFT JOIN (SELECT off, sum(braces) AS n FROM readings GROUP BY off) AS r USING (off)
    LEFT JOIN (SELECT off, count(*) FILTER (braced) AS n FROM metrics GROUP BY off) AS m USING (off)
    WHERE clean AND braces_left <> coalesce(r.n, 0) + coalesce(m.n, 0);
"""

# Rows come out in three narrow parts (message, reading, metric) that the caller joins: cheaper
# than copying every message's fields onto every metric here.
_MESSAGES_OUT = r"""
SELECT off AS landing_offset, org, site, device_id, source_id, vertical, region, tags_text
FROM messages WHERE clean AND off NOT IN (SELECT off FROM doubtful)
"""

# A reading's own tags merged over its message's, once per distinct pair: gateways repeat them.
_READINGS_OUT = r"""
WITH merged AS (
    SELECT off, reading_tags, merged_tags(messages.tags, reading_tags) AS own_tags_text
    FROM (SELECT DISTINCT off, reading_tags FROM readings WHERE own_tags) JOIN messages USING (off)
)
SELECT off AS landing_offset, ri, event_id, ts, own_tags, own_tags_text, own_region
FROM readings LEFT JOIN merged USING (off, reading_tags)
WHERE off NOT IN (SELECT off FROM doubtful)
ORDER BY off, ri
"""

_METRICS_OUT = r"""
SELECT off AS landing_offset, ri, metric, value, unit
FROM metrics WHERE off NOT IN (SELECT off FROM doubtful)
ORDER BY off, ri, mi
"""

_HANDLED = r"""
SELECT off, false AS status FROM messages WHERE off NOT IN (SELECT off FROM doubtful)
UNION ALL
SELECT off, true AS status FROM candidates
WHERE status AND json_valid(text) AND json_type(text) = 'OBJECT'
    AND occurrences(text, '{') + occurrences(text, '[') <= getvariable('max_brackets')
ORDER BY off
"""


# The keys of parse_message's rows.
_ROW_COLUMNS = ("org", "site", "device_id", "source_id", "vertical", "region", "event_id", "ts", "metric", "value",
                "unit", "tags")


@dataclass(frozen=True)
class BulkDecoded:
    """The messages the bulk path took: their rows (``landing_offset`` and the columns of
    parse_message's rows, in its order), their offsets, and how many were status messages."""

    rows: pl.DataFrame
    handled: np.ndarray
    statuses: int


def _topics(topics: pl.Series) -> pl.DataFrame:
    """Each distinct topic that :meth:`Topic.parse` accepts, parsed once."""
    rows = []
    for topic in topics.unique().to_list():
        try:
            where = Topic.parse(topic)
        except ContractError:
            continue  # the message goes to parse_message, which names the reason
        rows.append((topic, where.org, where.site, where.device_id, where.stream == "status"))
    return pl.DataFrame(rows, orient="row", schema={"topic": pl.Utf8, "org": pl.Utf8, "topic_site": pl.Utf8,
                                                    "topic_device": pl.Utf8, "status": pl.Boolean})


def _plain(payloads: pa.ChunkedArray) -> np.ndarray:
    """True where a payload is non-empty, within the size limit and only of ``_PLAIN_BYTES``."""
    array = pc.cast(payloads, pa.large_binary()).combine_chunks()
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset:array.offset + len(array) + 1]
    lengths = np.diff(offsets)
    plain = (lengths > 0) & (lengths <= MAX_PAYLOAD_BYTES)
    if plain.any():
        data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
        starts = offsets[:-1][lengths > 0] - offsets[0]  # the non-empty payloads tile ``data``
        plain[lengths > 0] &= ~np.logical_or.reduceat(~_PLAIN_BYTES[data], starts)
    return plain


def _candidates(landed: pa.Table) -> pl.DataFrame:
    """The messages worth a try: a valid topic, plain bytes and no doubtful text."""
    frame = pl.from_arrow(landed).with_row_index("off").with_columns(pl.col("off").cast(pl.Int64))
    return (
        frame.filter(pl.Series(_plain(landed.column("payload"))))
        .join(_topics(frame["topic"]), on="topic", how="inner")
        .select("off", pl.col("payload").cast(pl.Utf8).alias("text"), "org", "topic_site",
                "topic_device", "status")
        .filter(~pl.col("text").str.contains(_DOUBTFUL_TEXT))
    )


class BulkDecoder:
    """A DuckDB connection set up to decode landing tables, one after another.

    Reused across the files of a run: a fresh connection per file pays again for the memory
    DuckDB has just given back. One thread: a file is a few thousand messages, which DuckDB
    would not split anyway.
    """

    _TABLES = ("messages", "readings", "metrics", "doubtful")

    def __init__(self) -> None:
        self._con = duckdb.connect(config={"threads": 1})
        for name, value in (("identifier", IDENTIFIER.pattern.removeprefix("^").removesuffix("$")),
                            ("schema", SCHEMA_TELEMETRY), ("structure", _STRUCTURE),
                            ("max_brackets", _STATUS_MAX_BRACKETS)):
            self._con.execute(f"SET VARIABLE {name} = ?", [value])
        self._con.execute(_MACROS)

    def __enter__(self) -> "BulkDecoder":
        return self

    def __exit__(self, *exc: object) -> None:
        self._con.close()

    def decode(self, landed: pa.Table) -> BulkDecoded:
        """Decode the clean messages of one landing table (LANDING_SCHEMA); see the module
        docstring. Raises duckdb.Error only on a bug here: no input is meant to."""
        con = self._con
        con.register("candidates", _candidates(landed).to_arrow())
        try:
            con.execute(_DECODE)
            messages, readings, metrics, handled = (pl.from_arrow(con.sql(query).to_arrow_table())
                                                    for query in (_MESSAGES_OUT, _READINGS_OUT, _METRICS_OUT, _HANDLED))
        finally:
            con.execute("".join(f"DROP TABLE IF EXISTS {table};" for table in self._TABLES))
            con.unregister("candidates")
        rows = (
            metrics.join(readings, on=["landing_offset", "ri"], how="left", maintain_order="left")
            .join(messages, on="landing_offset", how="left", maintain_order="left")
            .with_columns(pl.when("own_tags").then("own_tags_text").otherwise("tags_text").alias("tags"),
                          pl.coalesce("own_region", "region").alias("region"),
                          pl.col("ts").cast(pl.Datetime("us", "UTC")))
            .select("landing_offset", *_ROW_COLUMNS)
        )
        return BulkDecoded(rows=rows, handled=handled["off"].to_numpy(), statuses=int(handled["status"].sum()))


def decode_clean(landed: pa.Table) -> BulkDecoded:
    """:meth:`BulkDecoder.decode` for one table."""
    with BulkDecoder() as decoder:
        return decoder.decode(landed)
