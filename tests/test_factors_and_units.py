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
NEWEST = "2026.2.0"


def test_releases_cite_a_source_for_every_factor_and_cover_the_seeds_activities():
    assert list_releases(FACTORS_DIR) == ["2025.1.0", "2026.1.0", NEWEST]
    release = load_release(FACTORS_DIR)
    assert release.version == NEWEST and release.gwp_basis == "AR5"
    factors = release.factors
    assert factors.filter(pl.col("source_document").str.len_chars() < 20).is_empty()
    assert factors.filter(pl.col("co2e_kg_per_unit").is_null()).is_empty()
    covered = set(factors.select("activity", "region").iter_rows())
    for slot in [("electricity", c) for c in ("KE", "GB", "US", "US-NYUP", "DE", "FR", "IN", "CN", "BR", "ZA", "JP",
                                              "AU", "GLOBAL")] + [
            (a, "GLOBAL") for a in ("diesel", "petrol", "natural_gas", "lpg", "propane", "fuel_oil", "coal",
                                    "firewood", "wood_chips", "refrigerant")] + [
            ("propane", "US"), ("water", "GB"), ("vehicle_distance", "GB"), ("vehicle_distance", "US"), ("electricity_td_losses", "GB")]:
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
        # 2026.2.0 has 75 rows after its header, so the repeated row is line 77.
        (lambda lines: lines + [lines[1]], "line 77: factor_id: expected an id not used before"),
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


def _aliases_copy(tmp_path, rows: list[str]):
    """A copy of emission_factors/ whose refrigerant_aliases.csv has ``rows`` appended."""
    target = tmp_path / "emission_factors"
    shutil.copytree(FACTORS_DIR, target)
    with open(target / "refrigerant_aliases.csv", "a") as handle:
        handle.writelines(row + "\n" for row in rows)
    return target


def test_refrigerant_aliases_cite_the_gwp_rows_that_state_them():
    from carbon_lake.factors import load_gwp
    from carbon_lake.refrigerants import load_aliases

    aliases = load_aliases(FACTORS_DIR, load_gwp(FACTORS_DIR))
    assert dict(zip(aliases["alias"], aliases["gas"])) == {"R-134a": "HFC-134a", "R-32": "HFC-32", "R-125": "HFC-125"}
    gwp_notes = pl.read_csv(FACTORS_DIR / "gwp.csv").select("gwp_id", "gas", "notes")
    for row in aliases.iter_rows(named=True):
        cited = gwp_notes.filter(pl.col("gwp_id").is_in(row["cited_rows"].split()))
        assert cited.height == len(row["cited_rows"].split()) and set(cited["gas"]) == {row["gas"]}
        assert all(row["citation"] in notes and row["alias"] in row["citation"] for notes in cited["notes"])


@pytest.mark.parametrize(
    "row, message",
    [
        # An alias no source here states (R-999 is made up): no gwp.csv row says it, so it is refused.
        ("R-999,SF6,SF6 is the refrigerant R-999.,gwp-ar5-sf6", "line 5: citation: expected the words of gwp.csv"),
        ("R-134a,HFC-32,HFC-32 is the refrigerant R-32.,gwp-ar5-hfc32", "line 5: alias: expected an alias not listed"),
        ("HFC-32,HFC-134a,HFC-134a is the refrigerant R-134a.,gwp-ar5-hfc134a",
         "line 5: alias: expected a name that is not itself a gas in gwp.csv"),
        ("R-999,XFC-9,XFC-9 is R-999.,gwp-ar5-xfc9", "line 5: gas: expected a refrigerant in gwp.csv"),
        ("R-999,HFC-32,HFC-32 is the refrigerant R-32.,gwp-ar5-hfc125", "line 5: cited_rows: expected rows of gwp.csv for HFC-32"),
    ],
)
def test_a_bad_refrigerant_alias_is_refused_naming_the_line(tmp_path, row, message):
    with pytest.raises(ContractError, match=message):
        load_release(_aliases_copy(tmp_path, [row]), NEWEST)


def test_release_2026_2_0_only_adds_propane_to_2026_1_0():
    from carbon_lake.restatement import factor_changes

    old, new = load_release(FACTORS_DIR, "2026.1.0"), load_release(FACTORS_DIR, NEWEST)
    assert new.supersedes == "2026.1.0" and new.gwp_basis == old.gwp_basis == "AR5"
    changes = factor_changes(old, new, FACTORS_DIR)
    # epa2025-t1-propane-us_gallon: 5.72 + 28 x 0.00027 + 265 x 0.00005 = 5.74081 kg CO2e per US gallon, per litre
    assert changes.select("status", "activity", "region", "unit", NEWEST).rows() == [
        ("added", "propane", "GLOBAL", "L", "epa2025-t1-propane-us_gallon-global"),
        ("added", "propane", "US", "L", "epa2025-t1-propane-us_gallon")]
    assert changes[f"kg_{NEWEST}"].to_list() == pytest.approx([5.74081 / 3.785411784] * 2, rel=1e-12)
    proxy = new.factors.filter(pl.col("factor_id") == "epa2025-t1-propane-us_gallon-global").row(0, named=True)
    assert proxy["notes"].startswith("GLOBAL proxy: the US EPA factor") and proxy["derived_from"] == "epa2025-t1-propane-us_gallon"
