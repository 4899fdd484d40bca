"""The first factor release loads, cites every factor, and refuses a broken copy; units convert."""

import math
import shutil

import polars as pl
import pytest

from carbon_lake.contracts import ContractError
from carbon_lake.factors import list_releases, load_release
from carbon_lake.settings import Settings
from carbon_lake.units import Units

FACTORS_DIR = Settings().factors_dir


def test_release_cites_a_source_for_every_factor():
    release = load_release(FACTORS_DIR)
    assert release.version == list_releases(FACTORS_DIR)[-1]
    factors = release.factors
    assert factors.filter(pl.col("source_document").str.len_chars() < 20).is_empty()
    # The simulator's regions and activities are covered, most specific first.
    for activity, region in [("electricity", "KE"), ("electricity", "GB"), ("electricity", "US-NYUP"),
                             ("diesel", "GLOBAL"), ("firewood", "GLOBAL"), ("water", "GB")]:
        assert factors.filter((pl.col("activity") == activity) & (pl.col("region") == region)).height == 1


def _broken_copy(tmp_path, edit):
    target = tmp_path / "emission_factors"
    shutil.copytree(FACTORS_DIR, target)
    path = target / "releases/2025.1.0/factors.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(edit(lines)))
    return target


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda lines: lines + [lines[1]], "line 35: factor_id: expected an id not used before"),
        (lambda lines: [lines[0], lines[1].replace(",kWh,", ",furlong,", 1)] + lines[2:], "line 2: unit"),
        (lambda lines: [lines[0], lines[1].replace("Ember (via Green Web Foundation co2.js)", "", 1)] + lines[2:],
         "line 2: source_authority: expected a non-empty value"),
    ],
)
def test_a_broken_release_is_refused_naming_the_row(tmp_path, edit, message):
    with pytest.raises(ContractError, match=message.replace("(", r"\(")):
        load_release(_broken_copy(tmp_path, edit))


@pytest.mark.parametrize(
    "unit, canonical, expected",
    [("MWh", "kWh", 1000.0), ("Wh", "kWh", 0.001), ("GJ", "kWh", 277.7777777777778), ("litres", "L", 1.0),
     ("US_gallon", "L", 3.785411784), ("m3", "L", 1000.0), ("t", "kg", 1000.0), ("lb", "kg", 0.45359237),
     ("MMBtu", "kWh", 293.0710701722222)],
)
def test_units_convert_through_pint(unit, canonical, expected):
    assert math.isclose(Units(FACTORS_DIR).factor(unit, canonical), expected, rel_tol=1e-12)


def test_temperature_conversion_keeps_its_offset():
    assert Units(FACTORS_DIR).affine("degF", "degC") == pytest.approx((5 / 9, -160 / 9))


@pytest.mark.parametrize("unit, canonical", [("furlong", "kWh"), ("kg", "kWh"), ("", "L")])
def test_unknown_or_wrong_kind_units_are_errors(unit, canonical):
    with pytest.raises(ContractError, match="unit: expected"):
        Units(FACTORS_DIR).affine(unit, canonical)
