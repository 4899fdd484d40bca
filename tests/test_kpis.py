"""Golden tests for the per-vertical KPIs and the composite score, with the arithmetic written out."""

from datetime import UTC, date, datetime

import pint
import polars as pl
import pytest

from carbon_lake.contracts import ContractError
from carbon_lake.kpis import (
    DEFAULT_WEIGHTS,
    KM_PER_MILE,
    KPI_SCHEMA,
    parse_weights,
    sustainability_score,
    vertical_kpis,
)

JAN, FEB = date(2026, 1, 1), date(2026, 2, 1)
UNITS = {"electricity": "kWh", "pue": "dimensionless", "water": "m**3", "gpu": "hour", "distance": "km",
         "production": "kg", "api_requests": "dimensionless"}


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def silver(*rows: tuple) -> pl.DataFrame:
    """Rows of (source_id, event_id, ts, org, site, vertical, activity, quantity)."""
    columns = ["source_id", "event_id", "ts", "org", "site", "vertical", "activity", "quantity"]
    frame = pl.DataFrame([dict(zip(columns, (*row[:2], ts(row[2]), *row[3:]))) for row in rows],
                         schema={**dict.fromkeys(columns, pl.String), "ts": pl.Datetime("us", "UTC"),
                                 "quantity": pl.Float64})
    return frame.with_columns(canonical_unit=pl.col("activity").replace_strict(UNITS, default="?"))


def emissions(*rows: tuple) -> pl.DataFrame:
    """Rows of (source_id, event_id, ts, org, site, vertical, scope, method, activity, co2e_kg)."""
    columns = ["source_id", "event_id", "ts", "org", "site", "vertical", "scope", "method", "activity", "co2e_kg"]
    return pl.DataFrame([dict(zip(columns, (*row[:2], ts(row[2]), *row[3:]))) for row in rows],
                        schema={**dict.fromkeys(columns, pl.String), "ts": pl.Datetime("us", "UTC"),
                                "scope": pl.Int8, "co2e_kg": pl.Float64})


def kpi_values(frame: pl.DataFrame, kpi: str) -> dict[tuple, float]:
    rows = frame.filter(pl.col("kpi") == kpi).iter_rows(named=True)
    return {(r["org"], r["site"], r["month"]): r["value"] for r in rows}


DC = ("acme", "dc1", "ai_data_center")
DC_SILVER = silver(
    ("dev-1", "e1", "2026-01-05T10:00:00", *DC, "electricity", 1000.0),
    ("dev-1", "e1", "2026-01-05T10:00:00", *DC, "pue", 1.2),
    ("dev-1", "e1", "2026-01-05T10:00:00", *DC, "water", 2.0),
    ("dev-1", "e1", "2026-01-05T10:00:00", *DC, "gpu", 100.0),
    ("dev-1", "e2", "2026-01-31T23:30:00", *DC, "electricity", 500.0),
    ("dev-1", "e2", "2026-01-31T23:30:00", *DC, "pue", 1.1),
    ("dev-1", "e2", "2026-01-31T23:30:00", *DC, "water", 0.5),
    ("dev-1", "e2", "2026-01-31T23:30:00", *DC, "gpu", 50.0),
    # Same event_id on another meter: only a join on (source_id, event_id) pairs 300 kWh with PUE 1.5.
    ("dev-2", "e1", "2026-01-10T00:00:00", *DC, "electricity", 300.0),
    ("dev-2", "e1", "2026-01-10T00:00:00", *DC, "pue", 1.5),
    # Next UTC month.
    ("dev-1", "e3", "2026-02-01T00:00:00", *DC, "electricity", 200.0),
    ("dev-1", "e3", "2026-02-01T00:00:00", *DC, "pue", 1.3),
    # Another org and site.
    ("dev-9", "e1", "2026-01-05T10:00:00", "beta", "dc2", "ai_data_center", "electricity", 400.0),
    ("dev-9", "e1", "2026-01-05T10:00:00", "beta", "dc2", "ai_data_center", "pue", 1.4),
)
DC_EMISSIONS = emissions(
    ("dev-1", "e1", "2026-01-05T10:00:00", *DC, 2, "location", "electricity", 300.0),
    ("dev-1", "e1", "2026-01-05T10:00:00", *DC, 2, "market", "electricity", 100.0),
    ("dev-1", "e2", "2026-01-31T23:30:00", *DC, 2, "location", "electricity", 150.0),
    ("dev-1", "e2", "2026-01-31T23:30:00", *DC, 2, "market", "electricity", 50.0),
    ("gen-1", "e1", "2026-01-07T00:00:00", *DC, 1, None, "diesel", 10.0),  # scope 1: not in per-GPU-hour
)


def test_data_center_kpis():
    kpis = vertical_kpis(DC_SILVER, DC_EMISSIONS)

    jan_facility = 1000 + 500 + 300
    jan_it = 1000 / 1.2 + 500 / 1.1 + 300 / 1.5
    # The meter's kWh is facility energy, so PUE = facility / IT = sum(pue_i * IT_i) / sum(IT_i).
    it = {"e1": 1000 / 1.2, "e2": 500 / 1.1, "dev-2": 300 / 1.5}
    it_weighted = (1.2 * it["e1"] + 1.1 * it["e2"] + 1.5 * it["dev-2"]) / sum(it.values())
    assert it_weighted == pytest.approx(jan_facility / jan_it)
    assert kpi_values(kpis, "pue") == {
        ("acme", "dc1", JAN): pytest.approx((1000 + 500 + 300) / (1000 / 1.2 + 500 / 1.1 + 300 / 1.5)),
        ("acme", "dc1", FEB): pytest.approx(1.3),
        ("beta", "dc2", JAN): pytest.approx(1.4),
    }
    row = kpis.filter(kpi="pue", site="dc1", month=JAN).row(0, named=True)
    assert row["numerator"] == pytest.approx(jan_facility)
    assert row["denominator"] == pytest.approx(jan_it)
    assert row["value"] == pytest.approx(jan_facility / jan_it)
    assert row["vertical"] == "ai_data_center"

    assert kpi_values(kpis, "wue") == {("acme", "dc1", JAN): pytest.approx((2.0 + 0.5) * 1000 / jan_it)}
    # Location and market rows of the same readings are kept apart, never summed together.
    assert kpi_values(kpis, "kg_co2e_per_gpu_hour_location") == {("acme", "dc1", JAN): pytest.approx(450 / 150)}
    assert kpi_values(kpis, "kg_co2e_per_gpu_hour_market") == {("acme", "dc1", JAN): pytest.approx(150 / 150)}
    units = dict(kpis.select("kpi", "unit").unique().iter_rows())
    assert units["wue"] == "L/kWh" and units["kg_co2e_per_gpu_hour_market"] == "kg CO2e/GPU-hour"


FLEET = ("acme", "fleet", "logistics")


def test_fleet_kpis():
    s = silver(
        ("truck-1", "e1", "2026-01-02T08:00:00", *FLEET, "distance", 100.0),
        ("truck-1", "e2", "2026-01-03T08:00:00", *FLEET, "distance", 50.0),
        ("truck-1", "e3", "2026-02-03T08:00:00", *FLEET, "distance", 10.0),
    )
    e = emissions(
        ("truck-1", "e1", "2026-01-02T08:00:00", *FLEET, 1, None, "diesel", 20.0),
        ("truck-1", "e2", "2026-01-03T08:00:00", *FLEET, 1, None, "diesel", 10.0),
        ("truck-1", "e2", "2026-01-03T08:00:00", *FLEET, 3, None, "diesel_wtt", 5.0),  # not scope 1
        ("truck-1", "e3", "2026-02-03T08:00:00", *FLEET, 1, None, "diesel", 3.0),
    )
    kpis = vertical_kpis(s, e)
    assert kpi_values(kpis, "g_co2e_per_km") == {
        ("acme", "fleet", JAN): pytest.approx(1000 * (20 + 10) / (100 + 50)),
        ("acme", "fleet", FEB): pytest.approx(1000 * 3 / 10),
    }
    assert kpi_values(kpis, "g_co2e_per_mile") == {
        ("acme", "fleet", JAN): pytest.approx(1000 * 30 / (150 / 1.609344)),
        ("acme", "fleet", FEB): pytest.approx(1000 * 3 / (10 / 1.609344)),
    }
    assert KM_PER_MILE == pint.UnitRegistry().Quantity(1, "mile").to("km").magnitude


def test_factory_kpi_is_all_scope_location_based():
    tea = ("acme", "tea", "manufacturing")
    s = silver(("line-1", "e1", "2026-01-02T08:00:00", *tea, "production", 1000.0),
               ("line-9", "e1", "2026-01-02T08:00:00", "beta", "tea2", "manufacturing", "production", 100.0))
    e = emissions(
        ("boiler", "e1", "2026-01-02T08:00:00", *tea, 1, None, "wood", 50.0),
        ("meter", "e1", "2026-01-02T08:00:00", *tea, 2, "location", "electricity", 200.0),
        ("meter", "e1", "2026-01-02T08:00:00", *tea, 2, "market", "electricity", 80.0),
        ("truck", "e1", "2026-01-02T08:00:00", *tea, 3, None, "freight", 20.0),
        ("meter", "e1", "2026-01-02T08:00:00", "beta", "tea2", "manufacturing", 2, "location", "electricity", 30.0),
    )
    kpis = vertical_kpis(s, e)
    assert kpi_values(kpis, "kg_co2e_per_production_unit") == {
        ("acme", "tea", JAN): pytest.approx((50 + 200 + 20) / 1000),
        ("beta", "tea2", JAN): pytest.approx(30 / 100),
    }
    assert kpis.filter(kpi="kg_co2e_per_production_unit")["unit"].unique().to_list() == ["kg CO2e/kg product"]


def test_saas_kpi_in_mg_per_request():
    api = ("acme", "api", "saas")
    s = silver(("gw", "e1", "2026-01-02T08:00:00", *api, "api_requests", 1_000_000.0),
               ("gw", "e2", "2026-01-09T08:00:00", *api, "api_requests", 500_000.0))
    e = emissions(
        ("gw", "e1", "2026-01-02T08:00:00", *api, 2, "location", "electricity", 3.0),
        ("gw", "e1", "2026-01-02T08:00:00", *api, 2, "market", "electricity", 1.0),
        ("cloud", "e1", "2026-01-02T08:00:00", *api, 3, None, "cloud_compute", 0.6),
    )
    row = vertical_kpis(s, e).filter(kpi="mg_co2e_per_api_request").row(0, named=True)
    assert row["value"] == pytest.approx(1e6 * (3.0 + 0.6) / 1_500_000)
    assert (row["numerator"], row["denominator"]) == (pytest.approx(3.6e6), pytest.approx(1.5e6))


def test_no_row_without_a_positive_denominator():
    parked = ("acme", "parked", "logistics")
    s = silver(
        ("truck-2", "e1", "2026-01-02T08:00:00", *parked, "distance", 0.0),  # zero km
        ("dc", "e1", "2026-01-02T08:00:00", *DC, "electricity", 100.0),  # no PUE reading, no GPU-hours
        ("dc", "e1", "2026-01-02T08:00:00", *DC, "water", 1.0),
        ("tea", "e1", "2026-01-02T08:00:00", "acme", "tea", "manufacturing", "production", 0.0),
    )
    e = emissions(
        ("truck-2", "e1", "2026-01-02T08:00:00", *parked, 1, None, "diesel", 1.0),
        ("dc", "e1", "2026-01-02T08:00:00", *DC, 2, "location", "electricity", 5.0),
        ("tea", "e1", "2026-01-02T08:00:00", "acme", "tea", "manufacturing", 1, None, "wood", 2.0),
        ("api", "e1", "2026-01-02T08:00:00", "acme", "api", "saas", 3, None, "cloud", 2.0),  # no requests
    )
    kpis = vertical_kpis(s, e)
    assert kpis.is_empty()
    assert kpis.schema == pl.Schema(KPI_SCHEMA)


def kpi_table(*rows: tuple) -> pl.DataFrame:
    """Rows of (month, org, site, kpi, numerator, denominator), the shape vertical_kpis returns."""
    return pl.DataFrame(
        [{"org": org, "site": site, "month": month, "vertical": "-", "kpi": kpi, "value": num / den, "unit": "-",
          "numerator": num, "denominator": den} for month, org, site, kpi, num, den in rows],
        schema=KPI_SCHEMA,
    )


SCORE_KPIS = kpi_table(
    (JAN, "acme", "dc1", "pue", 1200.0, 1000.0),
    (JAN, "beta", "dc2", "pue", 550.0, 500.0),
    (JAN, "acme", "fleet", "g_co2e_per_mile", 500.0, 100.0),
    (JAN, "acme", "fleet", "g_co2e_per_km", 500.0, 160.9344),  # not a score input
    (JAN, "acme", "tea", "kg_co2e_per_production_unit", 270.0, 1000.0),
    (JAN, "acme", "api", "mg_co2e_per_api_request", 3.6e6, 1.5e6),
    (FEB, "acme", "dc1", "pue", 1300.0, 1000.0),
    (FEB, "acme", "fleet", "g_co2e_per_mile", 40.0, 10.0),
)


def test_score_with_all_verticals_recomputes_from_summed_parts():
    jan = sustainability_score(SCORE_KPIS, DEFAULT_WEIGHTS).filter(month=JAN).row(0, named=True)
    pue_norm = (1200 + 550) / (1000 + 500)  # 1.1667, not the mean of ratios (1.2 + 1.1) / 2
    data_center = 1 / (pue_norm - 1)  # = 6
    logistics = 1 / (500 / 100)  # 5 g CO2e/mile
    manufacturing = 1000 / 270  # kg product per kg CO2e
    carbon_req = 3.6e6 / 1.5e6  # 2.4 mg CO2e/request
    saas = 1e6 / carbon_req  # 416,666.7 requests per kg CO2e
    assert jan["data_center_term"] == pytest.approx(6.0)
    assert (jan["logistics_term"], jan["manufacturing_term"], jan["saas_term"]) == (
        pytest.approx(logistics), pytest.approx(manufacturing), pytest.approx(saas))
    assert jan["score"] == pytest.approx(0.25 * data_center + 0.25 * logistics + 0.25 * manufacturing + 0.25 * saas)
    assert jan["weights_used"] == "data_center=0.25,logistics=0.25,manufacturing=0.25,saas=0.25"
    assert jan["notes"] is None


def test_score_renormalizes_weights_when_verticals_are_absent():
    weights = {"data_center": 0.4, "logistics": 0.2, "manufacturing": 0.3, "saas": 0.1}
    scores = sustainability_score(SCORE_KPIS, weights)
    assert scores["month"].to_list() == [JAN, FEB]
    feb = scores.filter(month=FEB).row(0, named=True)
    # Only data_center and logistics have February data: 0.4 and 0.2 become 2/3 and 1/3.
    assert feb["score"] == pytest.approx(0.4 / 0.6 * 1 / (1.3 - 1) + 0.2 / 0.6 * 1 / (40 / 10))
    assert feb["weights_used"] == "data_center=0.666667,logistics=0.333333"
    assert feb["manufacturing_term"] is None and feb["saas_term"] is None
    assert feb["notes"] == "manufacturing: no data; saas: no data"


def test_score_drops_the_data_center_term_when_pue_is_not_above_one():
    kpis = kpi_table((JAN, "acme", "dc1", "pue", 900.0, 1000.0), (JAN, "acme", "fleet", "g_co2e_per_mile", 40.0, 10.0),
                     (FEB, "acme", "dc1", "pue", 1000.0, 1000.0))
    scores = sustainability_score(kpis, DEFAULT_WEIGHTS)
    jan, feb = scores.filter(month=JAN).row(0, named=True), scores.filter(month=FEB).row(0, named=True)
    assert jan["data_center_term"] is None
    assert jan["score"] == pytest.approx(1 / (40 / 10))
    assert jan["weights_used"] == "logistics=1.0"
    assert "data_center: PUE_norm 0.9 <= 1" in jan["notes"]
    # PUE exactly 1 would divide by zero: no term is left, so no score.
    assert feb["score"] is None and feb["weights_used"] is None
    assert "data_center: PUE_norm 1.0 <= 1" in feb["notes"]


def test_zero_weight_term_is_shown_but_not_scored():
    scores = sustainability_score(SCORE_KPIS, {"logistics": 1.0, "saas": 0.0}).filter(month=JAN).row(0, named=True)
    assert scores["score"] == pytest.approx(1 / 5)
    assert scores["weights_used"] == "logistics=1.0"
    assert scores["data_center_term"] == pytest.approx(6.0)


def test_score_from_vertical_kpis_end_to_end():
    scores = sustainability_score(vertical_kpis(DC_SILVER, DC_EMISSIONS), DEFAULT_WEIGHTS)
    jan = scores.filter(month=JAN).row(0, named=True)
    facility = 1000 + 500 + 300 + 400  # both orgs: the enterprise
    it = 1000 / 1.2 + 500 / 1.1 + 300 / 1.5 + 400 / 1.4
    assert jan["data_center_term"] == pytest.approx(1 / (facility / it - 1))
    assert jan["score"] == pytest.approx(jan["data_center_term"])
    assert scores.columns == ["month", "score", "data_center_term", "logistics_term", "manufacturing_term",
                              "saas_term", "weights_used", "notes"]


def test_parse_weights():
    assert parse_weights("data_center=0.4, logistics=0.2,manufacturing=0.3,saas=0.1") == {
        "data_center": 0.4, "logistics": 0.2, "manufacturing": 0.3, "saas": 0.1}
    assert parse_weights("saas=2") == {"saas": 2.0}


@pytest.mark.parametrize(("text", "field", "value"), [
    ("datacenter=0.5,saas=0.5", "score weight key", "datacenter"),
    ("data_center=lots", "score weight data_center", "lots"),
    ("logistics=-0.1,saas=1", "score weight logistics", -0.1),
    ("saas=nan", "score weight saas", float("nan")),
    ("data_center=0,saas=0", "score weights", {"data_center": 0.0, "saas": 0.0}),
    ("saas=1,saas=2", "score weight key", "saas"),
    ("saas", "score weights", "saas"),
])
def test_parse_weights_errors_name_the_key_or_value(text, field, value):
    with pytest.raises(ContractError) as caught:
        parse_weights(text)
    assert caught.value.field == field
    assert repr(caught.value.value) == repr(value)  # repr, so that NaN compares equal
    assert field in str(caught.value)


def test_score_rejects_bad_weights():
    with pytest.raises(ContractError, match="score weight saas: expected a finite number >= 0, got -1"):
        sustainability_score(SCORE_KPIS, {"saas": -1})
    with pytest.raises(ContractError, match="score weights"):
        sustainability_score(SCORE_KPIS, {"saas": 0.0})
