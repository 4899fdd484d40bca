"""Factor releases load sealed and cited, a broken or edited copy is refused naming the row; units convert."""

import hashlib
import json
import math
import shutil

import polars as pl
import pytest

from carbon_lake.contracts import ContractError
from carbon_lake.factors import list_releases, load_release
from carbon_lake.settings import Settings
from carbon_lake.units import Units

FACTORS_DIR = Settings().factors_dir
NEWEST = "2026.1.0"


def test_releases_cite_a_source_for_every_factor_and_cover_the_seeds_activities():
    assert list_releases(FACTORS_DIR) == ["2025.1.0", NEWEST]
    release = load_release(FACTORS_DIR)
    assert release.version == NEWEST and release.gwp_basis == "AR5"
    factors = release.factors
    assert factors.filter(pl.col("source_document").str.len_chars() < 20).is_empty()
    assert factors.filter(pl.col("co2e_kg_per_unit").is_null()).is_empty()
    covered = set(factors.select("activity", "region").iter_rows())
    for slot in [("electricity", c) for c in ("KE", "GB", "US", "US-NYUP", "DE", "FR", "IN", "CN", "BR", "ZA", "JP",
                                              "AU", "GLOBAL")] + [
            (a, "GLOBAL") for a in ("diesel", "petrol", "natural_gas", "lpg", "fuel_oil", "coal", "firewood",
                                    "wood_chips", "refrigerant")] + [
            ("water", "GB"), ("vehicle_distance", "GB"), ("vehicle_distance", "US"), ("electricity_td_losses", "GB")]:
        assert slot in covered, slot


def _copy(tmp_path, edit, reseal: bool = True):
    """A copy of emission_factors/ with the newest release's CSV edited, re-sealed unless asked not to."""
    target = tmp_path / "emission_factors"
    shutil.copytree(FACTORS_DIR, target)
    folder = target / "releases" / NEWEST
    path = folder / "factors.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(edit(lines)))
    if reseal:
        meta = json.loads((folder / "release.json").read_text())
        meta["factors_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        (folder / "release.json").write_text(json.dumps(meta))
    return target


def test_an_edited_release_is_refused_by_its_seal(tmp_path):
    edited = _copy(tmp_path, lambda lines: [line.replace("0.08483", "0.08", 1) for line in lines], reseal=False)
    with pytest.raises(ContractError, match=f"release {NEWEST} factors.csv sha256: expected .* never edited"):
        load_release(edited, NEWEST)


def _with_window(line: str, start: str, end: str) -> str:
    """The CSV line with valid_from/valid_to set (columns 12 and 13; no quoted commas before them)."""
    cells = line.split(",")
    cells[11], cells[12] = start, end
    return ",".join(cells)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda lines: lines + [lines[1]], "line 75: factor_id: expected an id not used before"),
        (lambda lines: [lines[0], lines[1].replace(",kWh,", ",furlong,", 1)] + lines[2:], "line 2: unit"),
        (lambda lines: [lines[0], lines[1].replace(",kWh,", ",kWh_NCV,", 1)] + lines[2:], "line 2: unit"),
        (lambda lines: [lines[0], lines[1].replace("Ember (via Green Web Foundation co2.js)", "", 1)] + lines[2:],
         "line 2: source_authority: expected a non-empty value"),
        (lambda lines: [lines[0], lines[1].replace(",0.55376,", ",,", 1)] + lines[2:],
         "line 2: published_co2e_kg_per_unit: expected a published CO2e, or CO2"),
        (lambda lines: [lines[0], lines[1].replace(",0.55376,", ",-0.55376,", 1)] + lines[2:],
         "line 2: published_co2e_kg_per_unit: expected a non-negative number"),
        (lambda lines: [lines[0], _with_window(lines[1], "2026-01-01", "2025-01-01")] + lines[2:],
         "line 2: valid_to: expected a date after valid_from 2026-01-01"),
        # The same slot (AU grid) twice with overlapping windows: which applies would be arbitrary.
        (lambda lines: [lines[0], _with_window(lines[1], "2024-01-01", "2025-07-01"),
                        _with_window(lines[1].replace("ember2024-electricity-au-kwh", "au-later"), "2025-01-01", "")]
         + lines[2:], "line 3: valid_from/valid_to: expected a window not overlapping line 2"),
    ],
)
def test_a_broken_release_is_refused_naming_the_row(tmp_path, edit, message):
    with pytest.raises(ContractError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_release(_copy(tmp_path, edit), NEWEST)


def test_back_to_back_windows_are_not_an_overlap(tmp_path):
    copy = _copy(tmp_path, lambda lines: [lines[0], _with_window(lines[1], "2024-01-01", "2025-01-01"),
                                          _with_window(lines[1].replace("ember2024-electricity-au-kwh", "au-2025"),
                                                       "2025-01-01", "")] + lines[2:])
    au = load_release(copy, NEWEST).factors.filter(pl.col("region") == "AU")
    assert au["factor_id"].to_list() == ["ember2024-electricity-au-kwh", "au-2025"]


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
