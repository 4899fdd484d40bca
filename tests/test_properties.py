"""Properties that must hold for any input: unit conversion is consistent, totals are additive."""

from datetime import datetime, timezone

import polars as pl
from hypothesis import given, settings as hsettings, strategies as st

from carbon_lake.emissions import apply_factors
from carbon_lake.factors import load_release
from carbon_lake.settings import Settings
from carbon_lake.units import Units

FACTORS_DIR = Settings().factors_dir
UNITS = Units(FACTORS_DIR)
KINDS = {
    "kWh": ["Wh", "kWh", "MWh", "GJ", "MJ", "therm", "MMBtu"],
    "L": ["L", "litres", "m3", "US_gallon", "imperial_gallon"],
    "kg": ["kg", "t", "lb", "short_ton"],
    "km": ["km", "mi"],
    "hour": ["h", "hours", "minute", "day"],
    "GB": ["GB", "MB", "TB", "gigabyte"],
    "ppm": ["ppm", "percent"],
}
unit_pairs = st.sampled_from(sorted(KINDS)).flatmap(
    lambda canonical: st.tuples(st.just(canonical), st.sampled_from(KINDS[canonical]), st.sampled_from(KINDS[canonical])))
values = st.floats(min_value=0, max_value=1e9, allow_nan=False)


@given(unit_pairs, values)
def test_any_route_to_the_canonical_unit_gives_the_same_value(pair, value):
    canonical, first, second = pair
    direct = value * UNITS.factor(first, canonical)
    via_second = value * UNITS.factor(first, second) * UNITS.factor(second, canonical)
    assert abs(direct - via_second) <= 1e-9 * max(1.0, abs(direct))


READINGS = st.lists(
    st.tuples(st.sampled_from([("electricity", "KE", "kWh"), ("electricity", "US-CAMX", "kWh"), ("diesel", "GB", "L"),
                               ("firewood", "KE", "kg"), ("water", "GB", "m**3")]),
              st.floats(min_value=0, max_value=1e6, allow_nan=False), st.booleans()),
    min_size=1, max_size=40,
)


def silver_frame(rows) -> pl.DataFrame:
    ts = datetime(2026, 11, 23, tzinfo=timezone.utc)
    return pl.DataFrame([
        {"source_id": "s", "event_id": str(i), "ts": ts, "org": "o", "site": "x", "vertical": "manufacturing",
         "region": region, "activity": activity, "quantity": quantity, "canonical_unit": unit, "metric": activity,
         "tags": "{}", "landing_file": "f", "landing_offset": i}
        for i, ((activity, region, unit), quantity, _) in enumerate(rows)
    ])


@hsettings(max_examples=30, deadline=None)
@given(READINGS)
def test_totals_are_additive_over_any_split(rows):
    release = load_release(FACTORS_DIR)
    frame = silver_frame(rows)
    side = pl.Series([left for _, _, left in rows])
    whole, left, right = (apply_factors(part, release, FACTORS_DIR).emissions
                          for part in (frame, frame.filter(side), frame.filter(~side)))
    for method in ("location", "market"):
        inventory = pl.col("method").is_null() | (pl.col("method") == method)
        total = whole.filter(inventory)["co2e_kg"].sum()
        parts = left.filter(inventory)["co2e_kg"].sum() + right.filter(inventory)["co2e_kg"].sum()
        assert abs(total - parts) <= 1e-9 * max(1.0, total)
