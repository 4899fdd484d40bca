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

    # WUE over the readings that carry water as well: dev-2 e1 has kWh and PUE but no water.
    wue = (2.0 + 0.5) * 1000 / (1000 / 1.2 + 500 / 1.1)
    assert kpi_values(kpis, "wue") == {("acme", "dc1", JAN): pytest.approx(wue)}
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


def test_wue_divides_the_water_of_the_readings_that_also_give_the_it_energy():
    s = silver(
        # One rack reading carrying all three: 1000 kWh at PUE 1.25 is 800 IT kWh, 2 m**3 is 2000 L.
        ("rack-1", "e1", "2026-01-05T10:00:00", *DC, "electricity", 1000.0),
        ("rack-1", "e1", "2026-01-05T10:00:00", *DC, "pue", 1.25),
        ("rack-1", "e1", "2026-01-05T10:00:00", *DC, "water", 2.0),
        # kWh and PUE but no water (its water value was rejected): in PUE, not in WUE.
        ("rack-2", "e1", "2026-01-05T10:00:00", *DC, "electricity", 600.0),
        ("rack-2", "e1", "2026-01-05T10:00:00", *DC, "pue", 1.2),
        # Water with no IT energy to divide it by: a mains meter, a reading without PUE, a PUE of 0.
        ("mains", "e1", "2026-01-05T10:00:00", *DC, "water", 3.0),
        ("rack-3", "e1", "2026-01-05T10:00:00", *DC, "electricity", 500.0),
        ("rack-3", "e1", "2026-01-05T10:00:00", *DC, "water", 1.0),
        ("rack-4", "e1", "2026-01-05T10:00:00", *DC, "electricity", 300.0),
        ("rack-4", "e1", "2026-01-05T10:00:00", *DC, "pue", 0.0),
        ("rack-4", "e1", "2026-01-05T10:00:00", *DC, "water", 1.0),
    )
    kpis = vertical_kpis(s, emissions())
    wue = kpis.filter(kpi="wue").row(0, named=True)
    assert (wue["numerator"], wue["denominator"], wue["value"]) == (
        pytest.approx(2000.0), pytest.approx(1000 / 1.25), pytest.approx(2000 / 800))
    pue = kpis.filter(kpi="pue").row(0, named=True)
    assert (pue["numerator"], pue["denominator"]) == (pytest.approx(1000 + 600), pytest.approx(800 + 600 / 1.2))


def test_carbon_per_gpu_hour_counts_the_same_readings_on_both_sides():
    s = silver(
        ("rack-1", "e1", "2026-01-05T10:00:00", *DC, "electricity", 1000.0),
        ("rack-1", "e1", "2026-01-05T10:00:00", *DC, "gpu", 100.0),
        ("rack-2", "e1", "2026-01-05T10:00:00", *DC, "gpu", 50.0),  # its kWh was rejected: no scope 2 line
        ("office", "e1", "2026-01-05T10:00:00", *DC, "electricity", 200.0),  # no GPU-hours
        ("rack-1", "e2", "2026-02-01T00:00:00", *DC, "gpu", 10.0),
    )
    e = emissions(
        ("rack-1", "e1", "2026-01-05T10:00:00", *DC, 2, "location", "electricity", 300.0),
        ("rack-1", "e1", "2026-01-05T10:00:00", *DC, 2, "market", "electricity", 120.0),
        ("office", "e1", "2026-01-05T10:00:00", *DC, 2, "location", "electricity", 60.0),
        ("office", "e1", "2026-01-05T10:00:00", *DC, 2, "market", "electricity", 20.0),
        # Same reading split by the market instrument: both market rows are the reading's market CO2e.
        ("rack-3", "e1", "2026-01-31T23:00:00", *DC, 2, "market", "electricity", 5.0),
        ("rack-3", "e1", "2026-01-31T23:00:00", *DC, 2, "market", "electricity", 15.0),
        ("rack-3", "e1", "2026-01-31T23:00:00", *DC, 2, "location", "electricity", 40.0),
    )
    s = pl.concat([s, silver(("rack-3", "e1", "2026-01-31T23:00:00", *DC, "gpu", 10.0))])
    kpis = vertical_kpis(s, e)
    location = kpis.filter(kpi="kg_co2e_per_gpu_hour_location").row(0, named=True)
    market = kpis.filter(kpi="kg_co2e_per_gpu_hour_market").row(0, named=True)
    assert (location["numerator"], location["denominator"]) == (pytest.approx(300 + 40), pytest.approx(100 + 10))
    assert (market["numerator"], market["denominator"]) == (pytest.approx(120 + 5 + 15), pytest.approx(100 + 10))
    assert location["value"] == pytest.approx(340 / 110) and market["value"] == pytest.approx(140 / 110)
    assert kpis.filter(pl.col("kpi").str.starts_with("kg_co2e_per_gpu_hour"), month=FEB).is_empty()


def test_fleet_intensity_counts_the_same_readings_on_both_sides():
    s = silver(
        ("truck-1", "e1", "2026-01-02T08:00:00", *FLEET, "distance", 100.0),  # fuel-metered
        ("truck-1", "e2", "2026-01-02T20:00:00", *FLEET, "distance", 0.0),  # idling: its fuel counts
        ("van-2", "e1", "2026-01-02T08:00:00", *FLEET, "distance", 50.0),  # priced by its vehicle class
        ("van-3", "e1", "2026-01-02T08:00:00", *FLEET, "distance", 40.0),  # no fuel, no class: no CO2e
    )
    e = emissions(
        ("truck-1", "e1", "2026-01-02T08:00:00", *FLEET, 1, None, "diesel", 20.0),
        ("truck-1", "e1", "2026-01-02T08:00:00", *FLEET, 3, None, "diesel_wtt", 5.0),  # not scope 1
        ("truck-1", "e2", "2026-01-02T20:00:00", *FLEET, 1, None, "diesel", 0.5),
        ("van-2", "e1", "2026-01-02T08:00:00", *FLEET, 1, None, "distance", 6.0),
        ("genset", "e1", "2026-01-02T08:00:00", *FLEET, 1, None, "diesel", 4.0),  # depot generator: no km
    )
    kpis = vertical_kpis(s, e)
    km = kpis.filter(kpi="g_co2e_per_km").row(0, named=True)
    assert (km["numerator"], km["denominator"]) == (pytest.approx(1000 * (20 + 0.5 + 6)), pytest.approx(100 + 50))
    mile = kpis.filter(kpi="g_co2e_per_mile").row(0, named=True)
    assert (mile["numerator"], mile["denominator"]) == (pytest.approx(26500), pytest.approx(150 / KM_PER_MILE))
    assert km["value"] == pytest.approx(26500 / 150) and mile["value"] == pytest.approx(26500 / 150 * KM_PER_MILE)


def kpi_table(*rows: tuple) -> pl.DataFrame:
    """Rows of (month, org, site, kpi, numerator, denominator), the shape vertical_kpis returns."""
    return pl.DataFrame(
        [{"org": org, "site": site, "month": month, "vertical": "-", "kpi": kpi, "value": num / den, "unit": "-",
          "numerator": num, "denominator": den} for month, org, site, kpi, num, den in rows],
        schema=KPI_SCHEMA,
    )


SCORE_KPIS = kpi_table(
    (JAN, "acme", "dc1", "pue", 1200.0, 1000.0),  # 1.2
    (JAN, "beta", "dc2", "pue", 550.0, 500.0),  # 1.1, the best PUE
    (JAN, "acme", "fleet", "g_co2e_per_mile", 500.0, 100.0),  # 5.0
    (JAN, "beta", "fleet2", "g_co2e_per_mile", 60.0, 10.0),  # 6.0, the worst g/mile
    (JAN, "acme", "fleet", "g_co2e_per_km", 500.0, 160.9344),  # not a score input
    (JAN, "acme", "tea", "kg_co2e_per_production_unit", 270.0, 1000.0),  # 0.27
    (JAN, "beta", "tea2", "kg_co2e_per_production_unit", 40.0, 100.0),  # 0.4
    (JAN, "acme", "api", "mg_co2e_per_api_request", 3.6e6, 1.5e6),  # the only SaaS site-month
    (FEB, "acme", "dc1", "pue", 1300.0, 1000.0),  # 1.3, the worst PUE
    (FEB, "acme", "fleet", "g_co2e_per_mile", 40.0, 10.0),  # 4.0, the best g/mile
)
# Lower is better for every KPI: term = 100 x (worst - value) / (worst - best), over every site-month.
JAN_DC = 100 * (1.3 - 1750 / 1500) / (1.3 - 1.1)  # enterprise PUE 1.1667 from summed parts: 66.67
JAN_LOGISTICS = 100 * (6.0 - 560 / 110) / (6.0 - 4.0)  # 5.0909 g/mile: 45.45
JAN_MANUFACTURING = 100 * (0.4 - 310 / 1100) / (0.4 - 0.27)  # 0.2818 kg/kg: 90.91


def test_score_terms_are_0_to_100_against_the_best_and_worst_site_month():
    jan = sustainability_score(SCORE_KPIS, DEFAULT_WEIGHTS).filter(month=JAN).row(0, named=True)
    assert (jan["data_center_term"], jan["logistics_term"], jan["manufacturing_term"]) == (
        pytest.approx(JAN_DC), pytest.approx(JAN_LOGISTICS), pytest.approx(JAN_MANUFACTURING))
    assert (jan["data_center_value"], jan["data_center_best"], jan["data_center_worst"]) == (
        pytest.approx(1750 / 1500), pytest.approx(1.1), pytest.approx(1.3))
    assert (jan["logistics_value"], jan["logistics_best"], jan["logistics_worst"]) == (
        pytest.approx(560 / 110), pytest.approx(4.0), pytest.approx(6.0))
    assert (jan["manufacturing_best"], jan["manufacturing_worst"]) == (pytest.approx(0.27), pytest.approx(0.4))
    # One SaaS site-month: best == worst, so there is nothing to rank against and no term.
    assert jan["saas_term"] is None and jan["saas_value"] == pytest.approx(2.4)
    assert jan["score"] == pytest.approx((JAN_DC + JAN_LOGISTICS + JAN_MANUFACTURING) / 3)
    assert jan["weights_used"] == "data_center=0.333333,logistics=0.333333,manufacturing=0.333333"
    assert jan["notes"] == ("saas: peer set has no spread (best = worst = 2.4 mg CO2e/request over 1 site-month),"
                            " left out")


def test_weights_move_the_score_as_weighted_mean_of_the_terms():
    scores = sustainability_score(SCORE_KPIS, {"data_center": 1, "logistics": 0, "manufacturing": 0, "saas": 0})
    for row in scores.iter_rows(named=True):
        assert row["score"] == pytest.approx(row["data_center_term"])
        assert row["weights_used"] == "data_center=1.0"
    equal = sustainability_score(SCORE_KPIS, {"data_center": 1, "logistics": 1}).filter(month=JAN)["score"].item()
    heavier = sustainability_score(SCORE_KPIS, {"data_center": 2, "logistics": 1}).filter(month=JAN)["score"].item()
    assert equal == pytest.approx((JAN_DC + JAN_LOGISTICS) / 2)
    assert heavier == pytest.approx((2 * JAN_DC + JAN_LOGISTICS) / 3)
    # Doubling the weight of the higher term raises the score by exactly (a - b) / 6.
    assert heavier - equal == pytest.approx((JAN_DC - JAN_LOGISTICS) / 6) and heavier > equal


def test_saas_term_is_on_the_same_scale_as_the_others():
    # mg CO2e per request is ~1e-3 while PUE is ~1.2: raw, or as requests per kg (~1e9), SaaS would swamp.
    kpis = kpi_table(
        (JAN, "acme", "dc1", "pue", 1500.0, 1000.0), (FEB, "acme", "dc1", "pue", 1100.0, 1000.0),
        (JAN, "acme", "fleet", "g_co2e_per_mile", 900.0, 1.0), (FEB, "acme", "fleet", "g_co2e_per_mile", 600.0, 1.0),
        (JAN, "acme", "tea", "kg_co2e_per_production_unit", 3.0, 1.0),
        (FEB, "acme", "tea", "kg_co2e_per_production_unit", 1.0, 1.0),
        (JAN, "acme", "api", "mg_co2e_per_api_request", 1e3, 1e6),
        (FEB, "acme", "api", "mg_co2e_per_api_request", 2e3, 1e6),
    )
    jan, feb = sustainability_score(kpis, DEFAULT_WEIGHTS).sort("month").iter_rows(named=True)
    assert [jan[f"{t}_term"] for t in ("data_center", "logistics", "manufacturing", "saas")] == [0, 0, 0, 100]
    assert [feb[f"{t}_term"] for t in ("data_center", "logistics", "manufacturing", "saas")] == [100, 100, 100, 0]
    assert (jan["score"], feb["score"]) == (pytest.approx(25.0), pytest.approx(75.0))


def test_score_renormalizes_weights_when_verticals_are_absent():
    weights = {"data_center": 0.4, "logistics": 0.2, "manufacturing": 0.3, "saas": 0.1}
    scores = sustainability_score(SCORE_KPIS, weights)
    assert scores["month"].to_list() == [JAN, FEB]
    feb = scores.filter(month=FEB).row(0, named=True)
    # February's PUE 1.3 is the worst (0) and its 4.0 g/mile the best (100); 0.4 and 0.2 become 2/3 and 1/3.
    assert (feb["data_center_term"], feb["logistics_term"]) == (pytest.approx(0.0), pytest.approx(100.0))
    assert feb["score"] == pytest.approx(0.4 / 0.6 * 0 + 0.2 / 0.6 * 100)
    assert feb["weights_used"] == "data_center=0.666667,logistics=0.333333"
    assert feb["manufacturing_term"] is None and feb["manufacturing_value"] is None
    assert feb["manufacturing_best"] == pytest.approx(0.27)  # the reference is the whole peer set
    assert feb["notes"] == "manufacturing: no data; saas: no data"


def test_single_peer_terms_are_left_out_and_a_month_with_none_has_no_score():
    kpis = kpi_table((JAN, "acme", "dc1", "pue", 1200.0, 1000.0),
                     (JAN, "acme", "fleet", "g_co2e_per_mile", 40.0, 10.0),
                     (FEB, "acme", "fleet", "g_co2e_per_mile", 50.0, 10.0))
    jan, feb = sustainability_score(kpis, DEFAULT_WEIGHTS).sort("month").iter_rows(named=True)
    assert jan["data_center_term"] is None and jan["data_center_value"] == pytest.approx(1.2)
    assert jan["data_center_best"] == jan["data_center_worst"] == pytest.approx(1.2)
    assert jan["score"] == pytest.approx(jan["logistics_term"]) == pytest.approx(100.0)
    assert jan["weights_used"] == "logistics=1.0"
    assert jan["notes"] == ("data_center: peer set has no spread (best = worst = 1.2 facility kWh/IT kWh over 1"
                            " site-month), left out; manufacturing: no data; saas: no data")
    assert feb["score"] == pytest.approx(0.0)
    alone = sustainability_score(kpi_table((JAN, "acme", "dc1", "pue", 1200.0, 1000.0)), DEFAULT_WEIGHTS)
    alone = alone.row(0, named=True)
    assert alone["score"] is None and alone["weights_used"] is None
    assert alone["notes"].startswith("data_center: peer set has no spread")


def test_rounding_noise_is_not_a_spread():
    kpis = kpi_table((JAN, "acme", "dc1", "pue", 1.2, 1.0), (FEB, "acme", "dc1", "pue", 1.2 + 1e-15, 1.0))
    assert sustainability_score(kpis, DEFAULT_WEIGHTS)["data_center_term"].null_count() == 2


def test_pue_of_exactly_one_is_the_best_not_a_division_by_zero():
    kpis = kpi_table((JAN, "acme", "dc1", "pue", 1000.0, 1000.0), (FEB, "acme", "dc1", "pue", 1250.0, 1000.0))
    jan, feb = sustainability_score(kpis, {"data_center": 1.0}).sort("month").iter_rows(named=True)
    assert (jan["data_center_term"], jan["score"], jan["notes"]) == (100.0, 100.0, "logistics: no data; "
                                                                     "manufacturing: no data; saas: no data")
    assert (feb["data_center_term"], feb["score"]) == (0.0, 0.0)


def test_zero_weight_term_is_shown_but_not_scored():
    scores = sustainability_score(SCORE_KPIS, {"logistics": 1.0, "saas": 0.0}).filter(month=JAN).row(0, named=True)
    assert scores["score"] == pytest.approx(JAN_LOGISTICS)
    assert scores["weights_used"] == "logistics=1.0"
    assert scores["data_center_term"] == pytest.approx(JAN_DC)


def test_score_from_vertical_kpis_end_to_end():
    scores = sustainability_score(vertical_kpis(DC_SILVER, DC_EMISSIONS), DEFAULT_WEIGHTS)
    jan = scores.filter(month=JAN).row(0, named=True)
    # Peers: acme/dc1 January, acme/dc1 February (1.3, the worst) and beta/dc2 January (1.4, the worst).
    dc1_jan = (1000 + 500 + 300) / (1000 / 1.2 + 500 / 1.1 + 300 / 1.5)
    facility, it = 1000 + 500 + 300 + 400, 1000 / 1.2 + 500 / 1.1 + 300 / 1.5 + 400 / 1.4  # both orgs
    assert (jan["data_center_best"], jan["data_center_worst"]) == (pytest.approx(dc1_jan), pytest.approx(1.4))
    assert jan["data_center_term"] == pytest.approx(100 * (1.4 - facility / it) / (1.4 - dc1_jan))
    assert jan["score"] == pytest.approx(jan["data_center_term"])
    terms = ["data_center", "logistics", "manufacturing", "saas"]
    assert scores.columns == ["month", "score", *[f"{t}_term" for t in terms], *[f"{t}_value" for t in terms],
                              *[f"{t}_best" for t in terms], *[f"{t}_worst" for t in terms], "weights_used", "notes"]


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
