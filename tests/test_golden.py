"""Golden numbers: one hand-worked case per activity family and scope method, arithmetic in sight.

Each expected value is written out from the published factor (quoted with its id) and the
reading, the way an auditor would check it on paper; the engine under test is the real one
(``apply_factors``) over the shipped releases.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone

import polars as pl
import pytest

from carbon_lake.chimney import chimney_flows, self_check
from carbon_lake.emissions import apply_factors, scope_totals
from carbon_lake.factors import load_release
from carbon_lake.settings import Settings
from carbon_lake.site_data import load_site_data
from carbon_lake.silver import to_silver

FACTORS_DIR = Settings().factors_dir
MARCH = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
THERM_KWH = 105_505_585.257_348 / 3.6e6  # EC therm (pint's "therm") = 105.505585 MJ; 1 kWh = 3.6 MJ
US_GALLON_L = 3.785411784
IMPERIAL_GALLON_L = 4.54609
MILE_KM = 1.609344
NEWEST = "2026.2.0"  # the default release: what priced() uses without release=, and what _release_copy edits


def silver(*readings: dict, factors_dir=FACTORS_DIR) -> pl.DataFrame:
    """Silver rows for ``readings`` (dicts: metric, value, unit, region, ...), through the real silver step."""
    rows, messages = [], {}
    for i, r in enumerate(readings):
        key = (r.get("source_id", f"dev-{i}"), r.get("event_id", str(i)))
        messages.setdefault(key, len(messages))  # metrics of one reading arrive in one message
        rows.append({
            "landing_file": "landing/date=2026-03-01/golden.parquet", "landing_offset": messages[key],
            "received_at": r.get("ts", MARCH), "org": r.get("org", "acme"), "site": r.get("site", "plant"),
            "device_id": "d", "source_id": key[0], "event_id": key[1],
            "ts": r.get("ts", MARCH), "vertical": r.get("vertical", "manufacturing"), "region": r["region"],
            "metric": r["metric"], "value": float(r["value"]), "unit": r.get("unit"),
            "tags": json.dumps(r.get("tags", {})),
        })
    frame, rejected, _ = to_silver(pl.DataFrame(rows), factors_dir)
    assert rejected.is_empty(), rejected["reason"].to_list()
    return frame


def priced(*readings: dict, release: str | None = None, factors_dir=FACTORS_DIR):
    return apply_factors(silver(*readings, factors_dir=factors_dir), load_release(factors_dir, release), factors_dir)


def one(emissions: pl.DataFrame, **where) -> dict:
    rows = emissions.filter(**where)
    assert rows.height == 1, rows
    return rows.row(0, named=True)


def test_grid_electricity_location_and_market_without_an_instrument():
    out = priced({"metric": "electricity_kwh", "value": 1000, "region": "KE"}).emissions
    location, market = one(out, method="location"), one(out, method="market")
    # ember2024-electricity-ke-kwh: 84.83 g/kWh (Ember 2024, Kenya)
    assert location["co2e_kg"] == pytest.approx(1000 * 0.08483)
    assert location["factor_id"] == "ember2024-electricity-ke-kwh" and location["scope"] == 2
    # No instrument for acme/plant, no residual mix in the release: market falls back to the grid average.
    assert market["co2e_kg"] == pytest.approx(1000 * 0.08483)
    assert "grid average" in market["factor_rule"]
    assert out.filter(scope=3).is_empty(), "Kenya has no T&D losses factor: no scope 3 line, no invented zero"


def test_grid_electricity_us_subregion_co2e_is_recomputed_from_the_gases():
    row = one(priced({"metric": "electricity_kwh", "value": 1000, "region": "US-NYUP"}).emissions, method="location")
    # epa2025-egrid-nyup-kwh (eGRID2023 NYUP): CO2 0.1093112252, CH4 0.00000498951607, N2O 4.5359237e-7 kg/kWh
    per_kwh = 0.1093112252 + 28 * 0.00000498951607 + 265 * 4.5359237e-7  # AR5 GWPs (gwp.csv)
    assert row["factor_id"] == "epa2025-egrid-nyup-kwh" and row["factor_rule"] == "electricity factor for US-NYUP matched"
    assert row["co2e_kg"] == pytest.approx(1000 * per_kwh, rel=1e-12)
    assert row["ch4_kg"] == pytest.approx(1000 * 0.00000498951607) and row["gwp_basis"] == "AR5"


def test_market_based_scope_2_with_a_ppa_and_td_losses_in_scope_3():
    out = priced({"metric": "energy_kwh", "value": 1000, "region": "GB", "org": "nimbus-ai", "site": "lon-dc1",
                  "vertical": "ai_data_center"}).emissions
    # desnz2024-electricity-uk-kwh: 0.20705 kg/kWh. Site data 2026.1.0, instruments.csv: a PPA covers 60% of lon-dc1
    # at 0 kg/kWh.
    assert one(out, method="location")["co2e_kg"] == pytest.approx(1000 * 0.20705)
    covered = one(out, method="market", factor_id="nimbus-ai-lon-dc1-ppa-2025")
    rest = one(out, method="market", factor_id="desnz2024-electricity-uk-kwh")
    assert (covered["quantity"], covered["co2e_kg"]) == (pytest.approx(600), 0.0)
    assert (rest["quantity"], rest["co2e_kg"]) == (pytest.approx(400), pytest.approx(400 * 0.20705))
    assert covered["site_data_version"] == rest["site_data_version"] == "2026.1.0", "the share priced both parts"
    assert one(out, method="location")["site_data_version"] is None
    # desnz2024-electricity-uk-td-kwh: 0.0183 kg/kWh, scope 3 category 3
    td = one(out, scope=3)
    assert td["co2e_kg"] == pytest.approx(1000 * 0.0183) and td["category"] == "cat3_td_losses" and td["method"] is None
    totals = scope_totals(out).filter(scope=2).row(0, named=True)
    assert totals["co2e_kg"] == pytest.approx(207.05)
    assert totals["co2e_kg_market"] == pytest.approx(82.82)


def test_stationary_combustion_by_volume_energy_and_mass():
    out = priced(
        {"metric": "natural_gas_m3", "value": 100, "region": "GB"},
        {"metric": "natural_gas", "value": 10, "unit": "therm", "region": "GB"},
        {"metric": "natural_gas", "value": 1, "unit": "MMBtu", "region": "US"},
        {"metric": "diesel", "value": 10, "unit": "US_gallon", "region": "US"},
        {"metric": "coal", "value": 1, "unit": "t", "region": "GB"},
        {"metric": "lpg", "value": 100, "unit": "imperial_gallon", "region": "GB"},
        {"metric": "fuel_oil_litres", "value": 100, "region": "KE"},
    ).emissions
    by_factor = {r["factor_id"]: r for r in out.iter_rows(named=True)}
    assert len(by_factor) == 7
    assert all(r["scope"] == 1 and r["category"] == "stationary_combustion" for r in by_factor.values())
    # desnz2024-fuel-natural_gas-m3: 2.04542 kg/m3
    assert by_factor["desnz2024-fuel-natural_gas-m3"]["co2e_kg"] == pytest.approx(100 * 2.04542)
    # desnz2024-fuel-natural_gas-kwh_gcv: 0.1829 kg/kWh (gross CV); 10 therm = 293.07 kWh
    assert by_factor["desnz2024-fuel-natural_gas-kwh_gcv"]["co2e_kg"] == pytest.approx(10 * THERM_KWH * 0.1829)
    # epa2025-t1-natural_gas-mmbtu: CO2 53.06, CH4 0.001, N2O 0.0001 kg/MMBtu
    assert by_factor["epa2025-t1-natural_gas-mmbtu"]["co2e_kg"] == pytest.approx(53.06 + 28 * 0.001 + 265 * 0.0001)
    # epa2025-t1-diesel_distillate_no2-us_gallon: CO2 10.21, CH4 0.00041, N2O 0.00008 kg/gal
    diesel = by_factor["epa2025-t1-diesel_distillate_no2-us_gallon"]
    assert diesel["quantity"] == pytest.approx(10 * US_GALLON_L)
    assert diesel["co2e_kg"] == pytest.approx(10 * (10.21 + 28 * 0.00041 + 265 * 0.00008))
    # desnz2024-fuel-coal_industrial-tonne: 2399.43994 kg/t
    assert by_factor["desnz2024-fuel-coal_industrial-tonne"]["co2e_kg"] == pytest.approx(2399.43994)
    # desnz2024-fuel-lpg-litre: 1.55713 kg/L; 100 imperial gallons = 454.609 L
    assert by_factor["desnz2024-fuel-lpg-litre"]["co2e_kg"] == pytest.approx(100 * IMPERIAL_GALLON_L * 1.55713)
    # Kenya has no fuel oil factor: the GLOBAL proxy desnz2024-fuel-fuel_oil-litre-global, 3.17493 kg/L
    oil = by_factor["desnz2024-fuel-fuel_oil-litre-global"]
    assert oil["co2e_kg"] == pytest.approx(317.493) and oil["factor_rule"] == "no fuel_oil factor for KE, fell back to GLOBAL"


def test_biomass_counts_ch4_and_n2o_in_scope_1_and_reports_biogenic_co2_outside_the_scopes():
    row = one(priced({"metric": "firewood_kg", "value": 1000, "region": "KE"}).emissions)
    # ipcc2006-t2_3-firewood-kg: IPCC 2006 Table 2.3 wood, per TJ NCV (CO2 112000, CH4 30, N2O 4) x 15.6e-6 TJ/kg
    ch4, n2o, biogenic = 1000 * 30 * 15.6e-6, 1000 * 4 * 15.6e-6, 1000 * 112_000 * 15.6e-6  # 0.468, 0.0624, 1747.2 kg
    assert (row["ch4_kg"], row["n2o_kg"]) == (pytest.approx(ch4), pytest.approx(n2o))
    assert row["co2e_kg"] == pytest.approx(28 * ch4 + 265 * n2o)  # 29.64 kg: no CO2 in scope 1
    assert row["biogenic_co2_kg"] == pytest.approx(biogenic) and row["co2_kg"] is None  # no fossil CO2 given
    totals = scope_totals(pl.DataFrame([row]))
    assert totals["co2e_kg"][0] == pytest.approx(29.64) and totals["biogenic_co2_kg"][0] == pytest.approx(1747.2)


def test_mobile_combustion_fuel_based_and_distance_based_only_when_no_fuel_is_metered():
    out = priced(
        {"metric": "diesel_litres", "value": 100, "region": "KE", "vertical": "logistics", "event_id": "fuelled",
         "source_id": "truck-1"},
        {"metric": "distance_km", "value": 300, "region": "KE", "vertical": "logistics", "event_id": "fuelled",
         "source_id": "truck-1"},
        {"metric": "distance_km", "value": 100, "region": "GB", "vertical": "logistics", "event_id": "van",
         "tags": {"vehicle_class": "van_average_diesel"}},
        {"metric": "distance", "value": 100, "unit": "mi", "region": "US", "vertical": "logistics", "event_id": "car",
         "tags": {"vehicle_class": "car_passenger"}},
    ).emissions
    # The truck meters diesel: desnz2024-fuel-diesel_mineral-litre-global, 2.66155 kg/L; its distance emits nothing.
    fuelled = one(out, event_id="fuelled")
    assert fuelled["activity"] == "diesel" and fuelled["category"] == "mobile_combustion"
    assert fuelled["co2e_kg"] == pytest.approx(100 * 2.66155)
    # desnz2024-vehicle-van_average_diesel-km: 0.25023 kg per vehicle-km
    assert one(out, event_id="van")["co2e_kg"] == pytest.approx(100 * 0.25023)
    # epa2025-table10-car_passenger-mile: CO2 0.297, CH4 0.0000059, N2O 0.0000053 kg per vehicle-mile
    car = one(out, event_id="car")
    assert car["quantity"] == pytest.approx(100 * MILE_KM)
    assert car["co2e_kg"] == pytest.approx(100 * (0.297 + 28 * 0.0000059 + 265 * 0.0000053))


def test_fugitive_refrigerant_is_kg_times_the_releases_gwp():
    leak = {"metric": "refrigerant_kg", "value": 2, "region": "KE", "tags": {"refrigerant": "R-410A"}}
    now = one(priced(leak).emissions)
    before = one(priced(leak, release="2025.1.0").emissions)
    assert (now["scope"], now["category"]) == (1, "fugitive_emissions")
    assert (now["factor_id"], now["co2e_kg"]) == ("gwp-ar5-r410a", 2 * 1924)  # AR5 (EPA Hub 2025 Table 12)
    assert (before["factor_id"], before["co2e_kg"]) == ("gwp-ar4-r410a", 2 * 2088)  # AR4 in release 2025.1.0


def test_a_refrigerant_tagged_by_its_ashrae_number_is_priced_as_the_gas_and_says_which():
    leaks = [{"metric": "refrigerant_kg", "value": 2, "region": "KE", "event_id": tag, "tags": {"refrigerant": tag}}
             for tag in ("R-134a", "R-32", "R-125", "HFC-134a")]
    out = {r["event_id"]: r for r in priced(*leaks).emissions.iter_rows(named=True)}
    # gwp.csv notes: "HFC-134a is the refrigerant R-134a." (AR5 1300), "HFC-32 is the refrigerant R-32." (677),
    # "HFC-125 is 50% of R-410A by mass." (3170): refrigerant_aliases.csv cites exactly these.
    assert {tag: (r["factor_id"], r["co2e_kg"]) for tag, r in out.items()} == {
        "R-134a": ("gwp-ar5-hfc134a-as-r134a", 2 * 1300), "R-32": ("gwp-ar5-hfc32-as-r32", 2 * 677),
        "R-125": ("gwp-ar5-hfc125-as-r125", 2 * 3170), "HFC-134a": ("gwp-ar5-hfc134a", 2 * 1300)}
    # Not coerced silently: the row keeps the tag as given, its factor names the gas that priced it.
    assert out["R-134a"]["factor_rule"] == "no refrigerant factor (refrigerant=R-134a) for KE, fell back to GLOBAL"
    alias = one(load_release(FACTORS_DIR).factors, factor_id="gwp-ar5-hfc134a-as-r134a")
    assert (alias["variant"], alias["derived_from"]) == ("R-134a", "gwp-ar5-hfc134a")
    assert "R-134a is HFC-134a" in alias["co2e_rule"] and "HFC-134a is the refrigerant R-134a." in alias["notes"]


def test_a_refrigerant_spelling_or_gas_the_table_does_not_know_goes_to_quarantine():
    leaks = [{"metric": "refrigerant_kg", "value": 2, "region": "KE", "event_id": tag, "tags": {"refrigerant": tag}}
             for tag in ("r134a", "R-404A")]
    result = priced(*leaks)
    assert result.emissions.is_empty(), "matching is exact on a cited designation: no guessing at spellings"
    reasons = dict(zip(result.unmatched["event_id"], result.unmatched["reason"]))
    assert reasons["r134a"].startswith("no emission factor for refrigerant (r134a) in kg for region KE")
    assert reasons["R-404A"].startswith("no emission factor for refrigerant (R-404A) in kg for region KE")
    # AR4 (release 2025.1.0) has no HFC-125 in gwp.csv, so neither HFC-125 nor its alias R-125 is priced there.
    old = priced({"metric": "refrigerant_kg", "value": 2, "region": "KE", "tags": {"refrigerant": "R-125"}},
                 release="2025.1.0")
    assert old.emissions.is_empty() and old.unmatched["reason"][0].endswith("in release 2025.1.0")


def test_propane_is_its_own_fuel_with_the_epa_propane_factor_and_a_noted_global_proxy():
    out = priced(
        {"metric": "propane", "value": 10, "unit": "US_gallon", "region": "US", "event_id": "us"},
        {"metric": "propane_litres", "value": 100, "region": "KE", "event_id": "ke"},
        {"metric": "lpg", "value": 10, "unit": "US_gallon", "region": "US", "event_id": "lpg"},
    ).emissions
    # epa2025-t1-propane-us_gallon (EPA Hub 2025 Table 1, row 'Propane'): CO2 5.72, CH4 0.00027, N2O 0.00005 kg/gal
    per_gallon = 5.72 + 28 * 0.00027 + 265 * 0.00005  # 5.74081 kg CO2e (AR5)
    us = one(out, event_id="us")
    assert (us["activity"], us["scope"], us["category"]) == ("propane", 1, "stationary_combustion")
    assert us["factor_id"] == "epa2025-t1-propane-us_gallon" and us["factor_rule"] == "propane factor for US matched"
    assert us["co2e_kg"] == pytest.approx(10 * per_gallon) and us["co2_kg"] == pytest.approx(10 * 5.72)
    # Kenya has no propane factor: the same EPA factor as the GLOBAL proxy, per litre = per gallon / 3.785411784
    ke = one(out, event_id="ke")
    assert ke["factor_id"] == "epa2025-t1-propane-us_gallon-global"
    assert ke["co2e_kg"] == pytest.approx(100 * per_gallon / US_GALLON_L)
    assert ke["factor_rule"] == "no propane factor for KE, fell back to GLOBAL"
    # LPG keeps its own factor (EPA Table 1 'Liquefied Petroleum Gases (LPG)': CO2 5.68, CH4 0.00028, N2O 0.00006)
    assert one(out, event_id="lpg")["co2e_kg"] == pytest.approx(10 * (5.68 + 28 * 0.00028 + 265 * 0.00006))


def test_releases_before_2026_2_0_have_no_propane_factor_rather_than_pricing_it_as_lpg():
    old = priced({"metric": "propane_litres", "value": 100, "region": "US"}, release="2026.1.0")
    assert old.emissions.is_empty()
    assert old.unmatched["reason"][0].startswith("no emission factor for propane in L for region US")


def test_scope_3_water_and_transport():
    out = priced(
        {"metric": "water_m3", "value": 10, "region": "GB"},
        {"metric": "upstream_freight_km", "value": 500, "region": "GB", "tags": {"vehicle_class": "hgv_all"}},
        {"metric": "downstream_freight", "value": 100, "unit": "mi", "region": "GB", "tags": {"vehicle_class": "hgv_all"}},
    ).emissions
    # desnz2024-water-supply-m3: 0.15311 kg/m3
    assert one(out, activity="water")["co2e_kg"] == pytest.approx(10 * 0.15311)
    # desnz2024-vehicle-hgv_all-km: 0.87296 kg per vehicle-km, category 4 inbound and category 9 outbound
    upstream, downstream = one(out, activity="upstream_freight"), one(out, activity="downstream_freight")
    assert (upstream["scope"], upstream["category"], upstream["co2e_kg"]) == (
        3, "cat4_upstream_transportation", pytest.approx(500 * 0.87296))
    assert (downstream["category"], downstream["co2e_kg"]) == (
        "cat9_downstream_transportation", pytest.approx(100 * MILE_KM * 0.87296))


def test_a_reading_no_factor_covers_goes_to_quarantine_never_to_zero():
    result = priced({"metric": "water_m3", "value": 10, "region": "KE"},
                    {"metric": "distance_km", "value": 5, "region": "GB", "vertical": "logistics"})
    assert result.emissions.is_empty()
    reasons = sorted(result.unmatched["reason"].to_list())
    assert reasons[0].startswith("no emission factor for water in m**3 for region KE or its fallbacks")
    assert reasons[0].endswith(f"in release {NEWEST}")  # the reason names the release that was searched
    assert reasons[1] == "tags.vehicle_class: expected the tag that chooses a vehicle_distance factor, got none"
    coverage = result.coverage.filter(pl.col("factor_activity") == "water").row(0, named=True)
    assert (coverage["lines"], coverage["covered"], coverage["uncovered"]) == (1, 0, 1)


def _release_copy(tmp_path, gwp_basis: str | None = None, extra_rows: list[str] = ()) -> object:
    """emission_factors/ copied, the newest release given another GWP basis or extra (re-sealed) rows."""
    import hashlib

    target = tmp_path / "emission_factors"
    shutil.copytree(FACTORS_DIR, target)
    folder = target / "releases" / NEWEST
    if extra_rows:
        with open(folder / "factors.csv", "a") as handle:
            handle.writelines(row + "\n" for row in extra_rows)
    meta = json.loads((folder / "release.json").read_text())
    meta["factors_sha256"] = hashlib.sha256((folder / "factors.csv").read_bytes()).hexdigest()
    meta["gwp_basis"] = gwp_basis or meta["gwp_basis"]
    (folder / "release.json").write_text(json.dumps(meta))
    return target


def test_gwp_basis_ar5_to_ar6_moves_ch4_and_n2o_heavy_totals_and_nothing_else(tmp_path):
    ar6 = _release_copy(tmp_path, gwp_basis="AR6")
    readings = [
        {"metric": "firewood_kg", "value": 1000, "region": "KE"},             # CH4/N2O only (biomass)
        {"metric": "natural_gas", "value": 1, "unit": "MMBtu", "region": "US"},  # CO2-heavy, gases known
        {"metric": "electricity_kwh", "value": 1000, "region": "KE"},         # Ember: CO2e as published
        {"metric": "diesel_litres", "value": 100, "region": "GB"},            # DESNZ: CO2e as published
    ]
    key = ["source_id", "metric", "method"]
    before = priced(*readings).emissions.sort(key)
    after = apply_factors(silver(*readings, factors_dir=ar6), load_release(ar6), ar6).emissions.sort(key)
    for gas in ("quantity", "co2_kg", "ch4_kg", "n2o_kg", "biogenic_co2_kg"):
        assert before[gas].to_list() == after[gas].to_list(), f"{gas} does not depend on the GWP basis"
    # AR5 -> AR6 (gwp.csv): CH4 28 -> 27.9, N2O 265 -> 273. Only the gases' CO2e moves.
    moved = (after["co2e_kg"] - before["co2e_kg"]).to_list()
    expected = ((27.9 - 28) * before["ch4_kg"].fill_null(0) + (273 - 265) * before["n2o_kg"].fill_null(0)).to_list()
    assert moved == pytest.approx(expected, abs=1e-12)
    firewood = after.filter(pl.col("metric") == "firewood_kg").row(0, named=True)
    assert firewood["co2e_kg"] == pytest.approx(27.9 * 0.468 + 273 * 0.0624)  # 30.0924, from 29.64
    published = after.filter(pl.col("metric").is_in(["electricity_kwh", "diesel_litres"]))
    assert (published["co2e_kg"] == before.filter(pl.col("metric").is_in(["electricity_kwh", "diesel_litres"]))[
        "co2e_kg"]).all(), "a factor published only as CO2e keeps its published value"
    # DESNZ states AR5; Ember states no basis, which is said ("unknown"), not left blank
    assert dict(published.select("metric", "gwp_basis").unique().iter_rows()) == {
        "electricity_kwh": "unknown", "diesel_litres": "AR5"} and firewood["gwp_basis"] == "AR6"


def test_the_most_specific_region_valid_on_the_readings_date_wins(tmp_path):
    template = ",electricity,,{region},kWh,,,,,{kg},,{start},{end},,Test,test document,2026,CC0,,"
    copy = _release_copy(tmp_path, extra_rows=[
        "nz-2025" + template.format(region="NZ", kg=0.5, start="2025-01-01", end="2026-01-01"),
        "nz-2026" + template.format(region="NZ", kg=0.3, start="2026-01-01", end=""),
        "nz-plant" + template.format(region="site:acme/plant", kg=0.1, start="2026-01-01", end=""),
    ])
    cases = {"2024-plant": ("plant", datetime(2024, 6, 1, tzinfo=timezone.utc)),
             "2025-plant": ("plant", datetime(2025, 6, 1, tzinfo=timezone.utc)),
             "2026-plant": ("plant", MARCH), "2026-other": ("other", MARCH)}
    readings = [{"metric": "electricity_kwh", "value": 100, "region": "NZ", "site": site, "ts": ts, "event_id": eid}
                for eid, (site, ts) in cases.items()]
    out = apply_factors(silver(*readings, factors_dir=copy), load_release(copy), copy).emissions.filter(method="location")
    chosen = {r["event_id"]: (r["factor_id"], r["co2e_kg"], r["factor_rule"]) for r in out.iter_rows(named=True)}
    assert chosen == {
        # Before any NZ window: nothing for the site or NZ, so the world average (Ember 2024, 0.47294 kg/kWh).
        "2024-plant": ("ember2024-electricity-global-kwh", pytest.approx(100 * 0.47294),
                       "no electricity factor for NZ, fell back to GLOBAL"),
        # The site's own factor is not valid yet in 2025: the NZ factor of 2025.
        "2025-plant": ("nz-2025", pytest.approx(50.0), "electricity factor for NZ matched"),
        # From 2026 the site's own factor beats the country's.
        "2026-plant": ("nz-plant", pytest.approx(10.0), "electricity factor for site:acme/plant matched"),
        "2026-other": ("nz-2026", pytest.approx(30.0), "electricity factor for NZ matched"),
    }


def test_chimney_self_check_flags_a_device_that_disagrees_with_the_physics():
    base = {"region": "KE", "org": "ktda", "site": "kangaita", "source_id": "boiler-1"}
    frame = silver(*[{**base, "event_id": e, "metric": m, "value": v} for e in ("ok", "off") for m, v in
                     [("co2_ppm", 80_000), ("flue_temp_c", 180.0), ("flue_velocity_m_s", 3.0)]])
    flows = chimney_flows(frame, load_site_data(FACTORS_DIR).chimneys)
    physics = flows["co2_kg_s"][0]
    # 80,000 ppm x (3 m/s x pi x 0.3^2 m2) x 101325 Pa x 0.0440095 kg/mol / (8.314462618 x 453.15 K)
    assert physics == pytest.approx(0.08 * 3.0 * 3.141592653589793 * 0.09 * 101325 * 0.0440095 / (8.314462618 * 453.15))
    reported = silver(*[{**base, "event_id": e, "metric": "co2_mass_flow_kg_s", "value": v}
                        for e, v in [("ok", physics * 1.001), ("off", physics * 1.05)]])
    checked = self_check(chimney_flows(pl.concat([frame, reported]), load_site_data(FACTORS_DIR).chimneys), 0.01)
    assert (checked["readings_compared"], checked["disagreeing"]) == (2, 1)
    assert checked["worst_rel_diff"] == pytest.approx(0.05)
