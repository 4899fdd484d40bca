"""The bulk path of bronze gives exactly what parsing every message one by one gives.

Landing files mix clean messages with nasty ones (bad JSON and bytes, wrong types, odd
timestamps, repeated keys, huge numbers, status and file-topic messages); parse_landing_file must
return the same rows, rejections and status rows as the per-message reference, frame for frame.
JSON is written here as text, not with json.dumps, so that repeated keys, any number spelling and
any whitespace can occur.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from polars.testing import assert_frame_equal

from carbon_lake.bronze import _parse_per_message, parse_landing_file
from carbon_lake.contracts import MAX_PAYLOAD_BYTES
from carbon_lake.landing import LandingWriter, read_landing_file, records_now
from carbon_lake.payload_bulk import decode_clean

# ---------------------------------------------------------------------------------------------
# JSON as text: an object is a list of (key, value) pairs, so a key may repeat.


@dataclass(frozen=True)
class Raw:
    """JSON text written as is: a number in any spelling, a literal, or something broken."""

    text: str


def render(node: object, compact: bool) -> str:
    colon, comma = (":", ",") if compact else (": ", ", ")
    if isinstance(node, Raw):
        return node.text
    if isinstance(node, str):
        return json.dumps(node, ensure_ascii=False)
    if isinstance(node, list) and all(isinstance(p, tuple) for p in node) and node:
        return "{" + comma.join(json.dumps(k) + colon + render(v, compact) for k, v in node) + "}"
    if isinstance(node, list):
        return "[" + comma.join(render(v, compact) for v in node) + "]"
    if isinstance(node, dict):
        return "{}"
    raise TypeError(node)


def obj(*pairs: tuple[str, object] | None) -> list | dict:
    """An object from the pairs that are not None ({} when none are)."""
    kept = [p for p in pairs if p is not None]
    return kept or {}


# ---------------------------------------------------------------------------------------------
# Values. Each message draws how nasty it is (a share of its fields drawn from the nasty values),
# so that files hold clean messages, nearly clean ones and garbage.

identifiers = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,12}", fullmatch=True)
odd_strings = st.sampled_from(["", " ", "a b", "-dash", "x" * 130, "caf\u00e9", "\u2603", 'q"uote', "back\\slash",
                               "tab\t", "line\n", "ok\n", "nul\x00", "\ud800", "del\x7f", " L ", "kWh", "/", "<&>"])
strings = st.one_of(identifiers, odd_strings, st.text(max_size=4))
clean_numbers = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["0", "-0", "-0.0", "0.0", "1.50", "0.1", "2.675", "1e5", "1E+2", "-2.5e-3", "1e99", "1e-99",
                     "9007199254740993", "99999999999999999"]),
).map(Raw)
nasty_numbers = st.sampled_from(["123456789012345678", "18446744073709551616", "1" * 30, "1e308", "1e400", "-1e400",
                                 "1e-400", "NaN", "Infinity", "-Infinity", "01", "1.", ".5", "+1"]).map(Raw)
literals = st.sampled_from([Raw("true"), Raw("false"), Raw("null"), Raw("[]"), Raw("[1]"), {}, Raw('{"a":{}}')])
nasty_values = st.one_of(strings, nasty_numbers, literals, clean_numbers)


@st.composite
def either(draw, clean: st.SearchStrategy, nasty_percent: int, nasty: st.SearchStrategy = nasty_values) -> object:
    return draw(nasty if draw(st.integers(0, 99)) < nasty_percent else clean)


metric_names = st.sampled_from(["diesel_litres", "electricity", "co2_ppm", "flue_temp_c", "kwh2", "a", "x_9"])
odd_metric_names = st.sampled_from(["_", "9", "Diesel", "\u00e9", "x-y", "", "a b", "co2_ppm"])
clean_units = st.sampled_from(["L", "kWh", " MWh ", "m**3", "t CO2e", "%"])
odd_units = st.one_of(st.sampled_from(["", "  ", "\u00b5g", "\tL"]), nasty_values)


@st.composite
def metric_values(draw, nasty: int) -> object:
    if draw(st.integers(0, 3)) == 0:
        pairs = [("value", draw(either(clean_numbers, nasty))), ("unit", draw(either(clean_units, nasty, odd_units)))]
        if draw(st.integers(0, 99)) < nasty:
            pairs += draw(st.lists(st.tuples(st.sampled_from(["value", "unit", "note"]), nasty_values), max_size=1))
        return draw(st.permutations(pairs))
    return draw(either(clean_numbers, nasty))


@st.composite
def objects(draw, keys: st.SearchStrategy, odd_keys: st.SearchStrategy, values, nasty: int, min_size: int) -> object:
    """An object of distinct keys (now and then a repeated or odd one), or something else."""
    if draw(st.integers(0, 99)) < nasty // 4:
        return draw(nasty_values)
    names = draw(st.lists(either(keys, nasty, odd_keys), min_size=min_size, max_size=4,
                          unique=draw(st.integers(0, 99)) >= nasty * 3))  # else a key may repeat
    return [(name, draw(values)) for name in names] or {}


clean_tag_values = st.one_of(identifiers, st.from_regex(r"[ -~]{0,6}", fullmatch=True).filter(
    lambda s: '"' not in s and "\\" not in s), st.integers(-10**6, 10**6).map(lambda i: Raw(str(i))))
tag_keys = st.sampled_from(["site", "region", "appliance", "line", "a", "B", "k k", "!"])
odd_tag_keys = st.sampled_from(["\u00e9", 'x"y', "", "site"])


def tags(nasty: int) -> st.SearchStrategy:
    odd_values = st.one_of(nasty_values, st.floats(allow_nan=False, allow_infinity=False).map(lambda f: Raw(repr(f))),
                           st.sampled_from(["caf\u00e9", "\u2603"]))
    return objects(tag_keys, odd_tag_keys, either(clean_tag_values, nasty, odd_values), nasty, 0)


@st.composite
def timestamps(draw, nasty: int) -> object:
    """An ISO 8601 text with an offset; a nasty one may be out of range, naive, odd or not a text."""
    bad = draw(st.integers(0, 99)) < nasty
    if bad and draw(st.integers(0, 4)) == 0:
        return draw(nasty_values)
    year = draw(st.integers(2015, 2030) if not bad else st.sampled_from([1, 2, 1900, 2024, 9998, 9999]))
    month, day = draw(st.integers(1, 12)), draw(st.integers(1, 28 if not bad else 31))
    hour, minute, second = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    fraction = draw(st.sampled_from(["", "", ".000", ".1", ".12", ".123456"]))
    zone = draw(st.sampled_from(["Z", "Z", "+00:00", "-00:00", "+05:30", "-23:59"]))
    separator = "T"
    if bad:
        field = draw(st.sampled_from(["month", "day", "hour", "second", "fraction", "zone", "separator", "none"]))
        month = draw(st.sampled_from([0, 13])) if field == "month" else month
        day = draw(st.sampled_from([0, 29, 30, 32])) if field == "day" else day
        hour = 24 if field == "hour" else hour
        second = 60 if field == "second" else second
        fraction = draw(st.sampled_from([".1234567", "."])) if field == "fraction" else fraction
        zone = draw(st.sampled_from(["", "z", "+24:00", "+0530", "+05", "+05:60"])) if field == "zone" else zone
        separator = draw(st.sampled_from([" ", "t"])) if field == "separator" else separator
    return f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}{fraction}{zone}"


def event_ids(nasty: int) -> st.SearchStrategy:
    clean = st.one_of(identifiers, st.integers(0, 10**15).map(lambda i: Raw(str(i))))
    return either(clean, nasty, st.one_of(nasty_values, st.integers(-5, -1).map(lambda i: Raw(str(i)))))


def extras(nasty: int) -> st.SearchStrategy:
    """Fields parse_message does not read: scalars mostly, now and then a container."""
    values = either(st.one_of(identifiers, clean_numbers, st.sampled_from([Raw("true"), Raw("null")])), nasty)
    return st.lists(st.tuples(st.sampled_from(["note", "seq", "ts", "quality"]), values), max_size=1)


@st.composite
def readings(draw, batched: bool, nasty: int) -> object:
    pairs = [("event_id", draw(event_ids(nasty))), ("ts", draw(timestamps(nasty))),
             ("metrics", draw(objects(metric_names, odd_metric_names, metric_values(nasty), nasty, 1)))]
    if batched and draw(st.booleans()):
        pairs.append(("tags", draw(tags(nasty))))
    pairs += draw(extras(nasty))
    if draw(st.integers(0, 99)) < nasty // 3:
        pairs = [p for p in pairs if draw(st.booleans())]  # fields missing
    if draw(st.integers(0, 99)) < nasty // 3 and pairs:
        pairs.append(draw(st.sampled_from(pairs)))  # a repeated key
    return draw(st.permutations(pairs)) if draw(st.booleans()) else pairs or {}


@st.composite
def documents(draw) -> object:
    nasty = draw(st.sampled_from([0, 0, 0, 3, 10, 30]))
    batched = draw(st.booleans())
    header = [
        ("schema", draw(either(st.just("carbon.telemetry/1"), nasty,
                               st.sampled_from(["carbon.telemetry/2", Raw("null")])))) if draw(st.booleans()) else None,
        ("source_id", draw(either(identifiers, nasty))),
        ("vertical", draw(either(st.sampled_from(["manufacturing", "data_center", Raw("null")]), nasty)))
        if draw(st.booleans()) else None,
        ("tags", draw(tags(nasty))) if draw(st.integers(0, 3)) else None,
    ]
    if batched:
        body = [("readings", draw(either(st.lists(readings(True, nasty), min_size=1, max_size=4), nasty // 3,
                                         st.one_of(st.just([]), nasty_values))))]
    else:
        body = list(draw(readings(False, nasty)))
    pairs = [p for p in header if p is not None] + body + draw(extras(nasty))
    if draw(st.integers(0, 99)) < nasty // 3:
        pairs.append(draw(st.sampled_from(pairs)))
    return obj(*pairs)


TELEMETRY_TOPICS = ["carbon/v1/acme/plant-1/meter-1/telemetry", "carbon/v1/acme/plant-1/gw-7/batch",
                    "ingest/acme/upload.csv"]
OTHER_TOPICS = ["carbon/v1/acme/plant-1/meter-1/status", "ingest/acme", "carbon/v2/acme/plant-1/m/telemetry",
                "carbon/v1/acme/plant 1/m/telemetry", "carbon/v1/acme/plant-1/m/other", "ingest/-x/upload"]
NASTY_PAYLOADS = [b"", b"{", b"[]", b'"text"', b"null", b"\xef\xbb\xbf{}", b'{"a":1,}', b'{"a":[1,]}',
                  b'{"source_id":"s","x":nan}', b"{}" + b" " * 3, b"{} x", b"\xff\xfe{}", b'{"x":"\xc3"}',
                  b'{"x":' + b"[" * 3000 + b"]" * 3000 + b"}", b'{"x":"' + b"a" * MAX_PAYLOAD_BYTES + b'"}',
                  b'{"a":1}\n', b'{"a":"\\u00e9"}', b'{"a":1 /* c */}', b'{"n":' + b"1" * 4400 + b"}"]


@st.composite
def messages(draw) -> tuple[str, bytes]:
    topic = draw(st.one_of(st.sampled_from(TELEMETRY_TOPICS), st.sampled_from(TELEMETRY_TOPICS),
                           st.sampled_from(OTHER_TOPICS)))
    if draw(st.integers(0, 12)) == 0:
        return topic, draw(st.sampled_from(NASTY_PAYLOADS))
    text = render(draw(documents()), compact=draw(st.booleans()))
    payload = text.encode("utf-8", "surrogatepass")
    mutation = draw(st.integers(0, 30))
    if mutation == 0 and payload:
        payload = payload[: draw(st.integers(0, len(payload) - 1))]
    elif mutation == 1:
        payload = payload.replace(b"}", b",}", 1)
    elif mutation == 2:
        payload = payload.replace(b'"', b'"\xe9', 1)
    elif mutation == 3:
        payload = b" \n\t" + payload + b"\r\n"
    return topic, payload


# ---------------------------------------------------------------------------------------------


def land(home: Path, items: list[tuple[str, bytes]]) -> str:
    path = LandingWriter(home / "landing").write(records_now(items))
    return str(path.relative_to(home))


def outcome(parse, home: Path, relative: str) -> tuple:
    """What a parse gives, the time of quarantine left out; or the type of exception it raises
    (neither should raise: a message Python cannot hold is rejected with a reason)."""
    try:
        bronze, quarantine, statuses = parse(home, relative)
    except Exception as exc:  # noqa: BLE001 - the two paths must fail alike
        return (type(exc).__name__,)
    return bronze, quarantine.drop("quarantined_at"), statuses


def assert_same(home: Path, relative: str) -> None:
    decode_clean(read_landing_file(home, relative))  # raises on a bug that parse_landing_file would hide
    got, expected = outcome(parse_landing_file, home, relative), outcome(_parse_per_message, home, relative)
    assert len(got) == len(expected) and type(got[0]) is type(expected[0]), (got, expected)
    if len(got) == 1:
        assert got == expected
        return
    (bronze, quarantine, statuses), (bronze_ref, quarantine_ref, statuses_ref) = got, expected
    assert_frame_equal(bronze, bronze_ref, check_exact=True)
    # float equality ignores the sign of zero and calls NaN equal: compare the bits too
    assert np.array_equal(bronze["value"].to_numpy().view(np.int64), bronze_ref["value"].to_numpy().view(np.int64))
    assert_frame_equal(quarantine, quarantine_ref, check_exact=True)
    assert_frame_equal(statuses, statuses_ref, check_exact=True)


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(messages(), min_size=1, max_size=12))
def test_bulk_parse_equals_parsing_message_by_message(tmp_path_factory, items):
    home = tmp_path_factory.mktemp("lake")
    assert_same(home, land(home, items))


def clean_file_items() -> list[tuple[str, bytes]]:
    """Every common shape once, all clean: a single reading, a gateway batch with reading tags,
    metrics with units, integer event ids, offsets and fractions, a file upload, a status."""
    single = {"schema": "carbon.telemetry/1", "source_id": "ktda-kangaita-boiler-1", "event_id": "000123",
              "ts": "2026-11-23T10:00:05Z", "vertical": "manufacturing",
              "metrics": {"co2_ppm": 81250, "flue_temp_c": 182.4}, "tags": {"site": "kangaita", "region": "KE"}}
    batch = {"source_id": "gw-7", "ts": "2026-11-23T10:00:05.000Z", "vertical": None, "tags": {"region": "KE", "n": 3},
             "readings": [
                 {"event_id": 1, "ts": "2026-11-23T13:00:05.5+03:00",
                  "metrics": {"diesel": {"value": -0.0, "unit": " L "}}},
                 {"ts": "2024-02-29T23:59:59.123456-05:30", "event_id": "e-2", "tags": {"region": "GB", "line": "b"},
                  "metrics": {"electricity": {"unit": "kWh", "value": 1e-7}, "water_m3": 0.1}}]}
    upload = {"source_id": "truck-9", "event_id": 7, "ts": "2026-11-23T10:00:05+00:00", "metrics": {"distance_km": 12},
              "tags": {"site": "depot-1"}}
    return [
        ("carbon/v1/ktda/kangaita/boiler-1/telemetry", json.dumps(single).encode()),
        ("carbon/v1/acme/plant-1/gw-7/batch", json.dumps(batch, separators=(",", ":")).encode()),
        ("ingest/acme/upload.csv", json.dumps(upload).encode()),
        ("carbon/v1/acme/plant-1/gw-7/status", b'{"uptime_s": 12, "fw": "1.2.0"}'),
    ]


def test_clean_messages_in_the_common_shapes_take_the_bulk_path(tmp_path):
    items = clean_file_items()
    relative = land(tmp_path, items)
    decoded = decode_clean(read_landing_file(tmp_path, relative))
    assert decoded.handled.tolist() == list(range(len(items)))
    assert decoded.statuses == 1 and decoded.rows.height == 6
    assert_same(tmp_path, relative)


def test_a_doubtful_message_goes_whole_to_the_message_parser(tmp_path):
    items = clean_file_items()
    items[1] = (items[1][0], items[1][1].replace(b'"event_id":1', b'"event_id":1,"event_id":2'))
    relative = land(tmp_path, items)
    assert decode_clean(read_landing_file(tmp_path, relative)).handled.tolist() == [0, 2, 3]
    assert_same(tmp_path, relative)
    bronze, _, _ = parse_landing_file(tmp_path, relative)
    assert bronze.filter(pl.col("landing_offset") == 1)["event_id"].to_list() == ["2", "e-2", "e-2"]


def test_deep_nesting_in_a_field_it_ignores_is_left_to_the_message_parser(tmp_path):
    """json.loads gives up on deep nesting (a rejection) where DuckDB would not: the brace and
    bracket counts keep such a message off the bulk path."""
    topic, clean = clean_file_items()[0]
    items = [(topic, clean.replace(b'{"schema"', b'{"note": ' + b"[" * 5000 + b"]" * 5000 + b', "schema"')),
             (topic, clean.replace(b'{"schema"', b'{"note": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b', "schema"'))]
    relative = land(tmp_path, items)
    assert decode_clean(read_landing_file(tmp_path, relative)).handled.tolist() == []
    bronze, quarantine, _ = parse_landing_file(tmp_path, relative)
    assert bronze.is_empty() and quarantine["reason"].str.contains("nested less deeply").all()
    assert_same(tmp_path, relative)
