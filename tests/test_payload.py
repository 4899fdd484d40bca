"""The payload parser: both message forms, both metric styles, and clear errors for bad input."""

import json

import pytest

from carbon_lake.contracts import ContractError, Topic
from carbon_lake.payload import parse_message

TOPIC = "carbon/v1/ktda/kangaita/boiler-1/telemetry"


def payload(**fields) -> bytes:
    document = {"schema": "carbon.telemetry/1", "source_id": "ktda-kangaita-boiler-1", "event_id": "000123",
                "ts": "2026-11-23T10:00:05Z", "vertical": "manufacturing",
                "metrics": {"co2_ppm": 81250, "flue_temp_c": 182.4}, "tags": {"site": "kangaita", "region": "KE"}}
    document.update(fields)
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


def test_single_reading_with_unit_suffix_metrics():
    parsed = parse_message(TOPIC, payload())
    assert parsed.rejections == []
    assert [(r["metric"], r["value"], r["unit"]) for r in parsed.rows] == [("co2_ppm", 81250.0, None), ("flue_temp_c", 182.4, None)]
    row = parsed.rows[0]
    assert (row["org"], row["site"], row["device_id"], row["region"]) == ("ktda", "kangaita", "boiler-1", "KE")
    assert row["ts"].isoformat() == "2026-11-23T10:00:05+00:00"


def test_object_form_metric_keeps_its_explicit_unit():
    parsed = parse_message(TOPIC, payload(metrics={"electricity": {"value": 1.2, "unit": "MWh"}}))
    assert [(r["metric"], r["value"], r["unit"]) for r in parsed.rows] == [("electricity", 1.2, "MWh")]


def test_timestamps_with_offsets_are_normalized_to_utc():
    parsed = parse_message(TOPIC, payload(ts="2026-11-23T13:00:05+03:00"))
    assert parsed.rows[0]["ts"].isoformat() == "2026-11-23T10:00:05+00:00"


def test_gateway_batch_rejects_only_its_bad_reading():
    readings = [
        {"event_id": "1", "ts": "2026-11-23T10:00:00Z", "metrics": {"energy_kwh": 5}},
        {"event_id": "2", "ts": "not a time", "metrics": {"energy_kwh": 6}},
        {"event_id": "3", "ts": "2026-11-23T10:00:10Z", "metrics": {"energy_kwh": {"value": 7, "unit": "kWh"}}},
    ]
    parsed = parse_message(TOPIC.replace("telemetry", "batch"), payload(readings=readings, metrics=None, event_id=None, ts=None))
    assert [r["event_id"] for r in parsed.rows] == ["1", "3"]
    assert len(parsed.rejections) == 1
    rejection = parsed.rejections[0]
    assert rejection.event_id == "2"
    assert rejection.reason.startswith("readings[1].ts: expected an ISO 8601 timestamp")
    assert "'not a time'" in rejection.reason


@pytest.mark.parametrize(
    "raw, field, value",
    [
        (b'{"source_id": "a", "event_', "payload", '{"source_id": "a", "event_'),
        (b"\xff\xfe\x00garbage", "payload", "byte 0xff at offset 0"),
        (payload(event_id=None), "event_id", "None"),
        (payload(source_id="../../etc/passwd"), "source_id", "../../etc/passwd"),
        (payload(ts="2026-11-23T10:00:05"), "ts", "2026-11-23T10:00:05"),
        (payload(metrics={"diesel_litres": "abc"}), "metrics.diesel_litres", "abc"),
        (payload(metrics={"diesel_litres": True}), "metrics.diesel_litres", "True"),
        (payload(metrics={"diesel": {"value": 3}}), "metrics.diesel.unit", "None"),
        (payload(metrics={}), "metrics", "{}"),
        (payload(schema="carbon.telemetry/9"), "schema", "carbon.telemetry/9"),
        (b"[1, 2]", "payload", "[1, 2]"),
    ],
)
def test_bad_input_is_rejected_naming_the_field_and_the_value(raw, field, value):
    parsed = parse_message(TOPIC, raw)
    assert parsed.rows == []
    [rejection] = parsed.rejections
    assert rejection.reason.startswith(f"{field}: expected ")
    assert value in rejection.reason


def test_huge_numbers_are_rejected_not_overflowed():
    parsed = parse_message(TOPIC, b'{"source_id": "a", "event_id": "1", "ts": "2026-11-23T10:00:05Z", "metrics": {"diesel_litres": 1' + b"0" * 400 + b"}}")
    assert parsed.rows == [] and "metrics.diesel_litres" in parsed.rejections[0].reason


def test_status_messages_are_kept_apart_from_readings():
    parsed = parse_message(TOPIC.replace("telemetry", "status"), b'{"firmware": "1.0.0", "uptime_s": 12}')
    assert parsed.rows == [] and parsed.rejections == [] and parsed.status == {"firmware": "1.0.0", "uptime_s": 12}


@pytest.mark.parametrize("topic", ["carbon/v1/ktda/kangaita/boiler-1", "carbon/v2/a/b/c/telemetry",
                                   "carbon/v1/a/b/c/other", "carbon/v1/a/../c/telemetry"])
def test_topics_outside_the_contract_are_refused(topic):
    with pytest.raises(ContractError):
        Topic.parse(topic)
    assert "topic" in parse_message(topic, payload()).rejections[0].reason


def test_file_uploads_take_the_site_from_the_payload():
    parsed = parse_message("ingest/ktda/energy.csv", payload())
    assert parsed.rows[0]["site"] == "kangaita" and parsed.rows[0]["device_id"] == "ktda-kangaita-boiler-1"
    missing = parse_message("ingest/ktda/energy.csv", payload(tags={"region": "KE"}))
    assert missing.rejections[0].reason.startswith("tags.site: expected")


@pytest.mark.parametrize("raw, field", [
    (b'{"source_id": "a", "event_id": "1", "ts": "2026-11-23T10:00:05Z", "metrics": {"x_kwh": 1' + b"0" * 5000 + b"}}",
     "payload"),
    (b'{"source_id": "a", "event_id": "1", "ts": "0001-01-01T00:30:00+01:00", "metrics": {"x_kwh": 1}}', "ts"),
])
def test_input_python_cannot_hold_is_rejected_with_a_reason_not_raised(raw, field):
    """One such message must not fail its whole landing file: it is quarantined like any other."""
    parsed = parse_message(TOPIC, raw)
    assert parsed.rows == [] and parsed.rejections[0].reason.startswith(f"{field}: expected ")
