"""Build a factor release folder from the cited reference table, once.

    python emission_factors/build_releases.py 2026.1.0

A release is published data: this script writes ``releases/<version>/factors.csv`` and
``release.json`` (with the file's sha256, which loading checks) and refuses to touch a release
that already exists, because a correction is a new release, never an edit. Every value is
copied from ``reference/emission_factors_reference.csv`` (see ``reference/SOURCES.md`` for
where each was read) or derived from one by the arithmetic written in its ``notes``.

The GWP table (``gwp.csv``) is rebuilt from the same reference rows with ``gwp`` as argument.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "reference" / "emission_factors_reference.csv"

COLUMNS = [
    "factor_id", "activity", "variant", "region", "unit",
    "co2_kg_per_unit", "ch4_kg_per_unit", "n2o_kg_per_unit", "biogenic_co2_kg_per_unit",
    "published_co2e_kg_per_unit", "published_gwp_basis", "valid_from", "valid_to", "uncertainty_pct_95",
    "source_authority", "source_document", "source_year", "license", "notes", "derived_from",
]
GWP_COLUMNS = ["gwp_id", "gas", "basis", "gwp100", "kind", "source_authority", "source_document", "source_year",
               "license", "notes"]
GREENHOUSE_GASES = {"CO2", "CH4", "N2O", "CH4_fossil", "CH4_non_fossil"}

IPCC_WOOD_NCV_TJ_PER_KG = 15.6e-6  # IPCC 2006 Vol. 2 Ch. 1 Table 1.2, 'Wood/Wood Waste': 15.6 TJ/Gg


def _proxy_note(whose: str, why: str = "") -> str:
    """Why a national combustion factor may stand in for the world, and what overrides it."""
    return (f"GLOBAL proxy: the {whose} factor applied where no national factor is in the release{why}. Combustion "
            "factors follow the fuel's carbon content rather than the country, which makes this a "
            "reasonable default; a national factor, when added, takes precedence by region. ")


GLOBAL_PROXY_NOTE = _proxy_note("UK")
# No DESNZ (or IPCC) propane factor is in the reference, so the EPA's is the only propane factor to stand in;
# without it a propane reading outside the US would be quarantined, and pricing it as LPG would be a silent swap.
PROPANE_PROXY_NOTE = _proxy_note("US EPA", " (the reference has no UK DESNZ or IPCC propane factor; propane is not "
                                 "priced as LPG)")


@dataclass(frozen=True)
class Pick:
    """One reference row taken into a release, under the project's activity and region names."""

    reference_id: str
    activity: str
    variant: str = ""
    region: str | None = None      # None: the reference row's own region
    factor_id: str | None = None   # None: the reference id
    note: str = ""


def _electricity(prefix: str) -> list[Pick]:
    ember = [Pick(f"ember2024-electricity-{c}-kwh", "electricity")
             for c in ("au", "br", "cn", "de", "fr", "in", "jp", "ke", "za", "eu", "global")]
    egrid = [Pick(f"{prefix}-egrid-{r}-kwh", "electricity")
             for r in ("us", "camx", "erct", "frcc", "nwpp", "nyup", "rfce", "rfcw", "srso", "srvc")]
    return [*ember, *egrid, Pick("desnz2024-electricity-uk-kwh", "electricity"),
            Pick("desnz2024-electricity-uk-td-kwh", "electricity_td_losses")]


def _proxy(reference_id: str, activity: str, global_reference_id: str | None = None,
           note: str = GLOBAL_PROXY_NOTE) -> list[Pick]:
    """The national factor, and a GLOBAL proxy: the mineral fuel where the UK's has a biofuel blend that
    fuel sold elsewhere may not have (a blend's biogenic share would understate fossil CO2)."""
    proxy = global_reference_id or reference_id
    return [Pick(reference_id, activity),
            Pick(proxy, activity, region="GLOBAL", factor_id=f"{proxy}-global", note=note)]


COMMON = [
    *_proxy("desnz2024-fuel-diesel_avg_biofuel-litre", "diesel", "desnz2024-fuel-diesel_mineral-litre"),
    *_proxy("desnz2024-mobile-petrol_avg_biofuel-litre", "petrol", "desnz2024-mobile-petrol_mineral-litre"),
    *_proxy("desnz2024-fuel-natural_gas-m3", "natural_gas"),
    *_proxy("desnz2024-fuel-natural_gas-kwh_gcv", "natural_gas"),
    *_proxy("desnz2024-fuel-lpg-litre", "lpg"),
    *_proxy("desnz2024-fuel-fuel_oil-litre", "fuel_oil"),
    *_proxy("desnz2024-fuel-coal_industrial-tonne", "coal"),
    *_proxy("desnz2024-bio-wood_chips-tonne", "wood_chips"),
    Pick("desnz2024-bio-wood_logs-tonne", "firewood"),
    Pick("desnz2024-water-supply-m3", "water"),
    *[Pick(f"desnz2024-vehicle-{v}-km", "vehicle_distance", variant=v) for v in (
        "car_average_diesel", "car_average_petrol", "car_average_unknown_fuel", "car_small_diesel",
        "car_small_petrol", "car_medium_diesel", "car_medium_petrol", "car_large_diesel", "car_large_petrol",
        "van_average_diesel", "van_average_petrol", "van_class1_diesel", "van_class2_diesel", "van_class3_diesel",
        "hgv_all", "hgv_all_artics", "hgv_all_rigids", "hgv_rigid_3_5_7_5t", "hgv_rigid_7_5_17t",
        "hgv_rigid_over_17t")],
]
IPCC_FIREWOOD_PER_KG = "ipcc2006-t2_3-firewood-tj"
EPA2025 = [*_electricity("epa2025"), *COMMON,
           Pick("epa2025-t1-diesel_distillate_no2-us_gallon", "diesel"),
           Pick("epa2025-t1-natural_gas-scf", "natural_gas"),
           Pick("epa2025-t1-natural_gas-mmbtu", "natural_gas"),
           Pick("epa2025-t1-lpg-us_gallon", "lpg"),
           Pick("epa2025-t1-heavy_fuel_oil_no6-us_gallon", "fuel_oil"),
           Pick("epa2025-t1-coal_mixed_industrial-short_ton", "coal"),
           Pick("epa2025-t1-firewood-short_ton", "firewood"),
           *[Pick(f"epa2025-{t}-{v}-mile", "vehicle_distance", variant=v) for t, v in (
               ("table10", "car_passenger"), ("table10", "light_duty_truck"), ("table10", "motorcycle"),
               ("table8", "hgv_medium_heavy_duty_truck"))]]

RELEASES = {
    "2025.1.0": {
        "gwp_basis": "AR4",
        "description": (
            "US factors from the EPA GHG Emission Factors Hub 2021 (eGRID2019 grid rates, vehicle-mile "
            "factors; AR4, as that Hub lists), CO2e of per-gas factors under AR4. Elsewhere: UK DESNZ 2024, "
            "Ember 2024 national grid intensities, IPCC 2006 defaults."),
        "picks": [*_electricity("epa2021"), *COMMON,
                  *[Pick(f"epa2021-{t}-{v}-mile", "vehicle_distance", variant=v) for t, v in (
                      ("table10", "car_passenger"), ("table10", "light_duty_truck"),
                      ("table8", "hgv_medium_heavy_duty_truck"))]],
    },
    "2026.1.0": {
        "gwp_basis": "AR5",
        "description": (
            "US factors from the EPA GHG Emission Factors Hub 2025 (eGRID2023 grid rates, stationary fuels, "
            "vehicle-mile factors; AR5), CO2e of per-gas factors under AR5. Elsewhere as 2025.1.0: UK DESNZ "
            "2024, Ember 2024, IPCC 2006. Supersedes 2025.1.0: the US grid moves to eGRID2023 and the GWP "
            "basis to AR5."),
        "picks": EPA2025,
    },
    "2026.2.0": {
        "gwp_basis": "AR5",
        "description": (
            "As 2026.1.0 (US: EPA GHG Emission Factors Hub 2025, AR5; elsewhere UK DESNZ 2024, Ember 2024, "
            "IPCC 2006), plus propane as a fuel of its own: EPA Hub 2025 Table 1 row 'Propane' for the US, and "
            "the same factor as a noted GLOBAL proxy, the reference having no other propane factor. Supersedes "
            "2026.1.0, under which a propane reading was priced as LPG (an alias in activities.csv); no other "
            "factor changes."),
        "picks": [*EPA2025, *_proxy("epa2025-t1-propane-us_gallon", "propane", note=PROPANE_PROXY_NOTE)],
    },
}
SUPERSEDES = {"2026.1.0": "2025.1.0", "2026.2.0": "2026.1.0"}


def _reference() -> dict[str, dict[str, str]]:
    with open(REFERENCE, newline="") as handle:
        return {row["factor_id"]: row for row in csv.DictReader(handle)}


def _row(pick: Pick, ref: dict[str, str]) -> dict[str, str]:
    return {
        "factor_id": pick.factor_id or ref["factor_id"], "activity": pick.activity, "variant": pick.variant,
        "region": pick.region or ref["region"], "unit": ref["unit"],
        "co2_kg_per_unit": ref["co2_kg_per_unit"], "ch4_kg_per_unit": ref["ch4_kg_per_unit"],
        "n2o_kg_per_unit": ref["n2o_kg_per_unit"], "biogenic_co2_kg_per_unit": ref["biogenic_co2_kg_per_unit"],
        "published_co2e_kg_per_unit": ref["co2e_kg_per_unit"], "published_gwp_basis": ref["gwp_basis"],
        "valid_from": "", "valid_to": "", "uncertainty_pct_95": "",
        "source_authority": ref["source_authority"], "source_document": ref["source_document"],
        "source_year": ref["source_year"], "license": ref["license"], "notes": pick.note + ref["notes"],
        "derived_from": ref["factor_id"] if pick.factor_id else "",
    }


def _ipcc_firewood_per_kg(ref: dict[str, str]) -> dict[str, str]:
    """IPCC Table 2.3 wood (kg per TJ NCV) x the IPCC default NCV: per kg of wood."""
    per_kg = {c: f"{float(ref[c]) * IPCC_WOOD_NCV_TJ_PER_KG:.10g}" if ref[c] else ""
              for c in ("co2_kg_per_unit", "ch4_kg_per_unit", "n2o_kg_per_unit", "biogenic_co2_kg_per_unit",
                        "co2e_kg_per_unit")}
    row = _row(Pick(ref["factor_id"], "firewood", region="GLOBAL", factor_id="ipcc2006-t2_3-firewood-kg"), ref)
    row.update({k: per_kg[k] for k in ("co2_kg_per_unit", "ch4_kg_per_unit", "n2o_kg_per_unit",
                                       "biogenic_co2_kg_per_unit")},
               unit="kg", published_co2e_kg_per_unit=per_kg["co2e_kg_per_unit"],
               notes=f"Derived per kg from {ref['factor_id']} (per TJ NCV) x the IPCC default NCV 15.6 TJ/Gg "
                     f"(Vol. 2 Ch. 1 Table 1.2, 'Wood/Wood Waste') = 15.6e-6 TJ/kg. " + ref["notes"])
    return row


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_release(version: str) -> Path:
    spec = RELEASES[version]
    folder = HERE / "releases" / version
    if folder.exists():
        raise SystemExit(f"release {version} exists: a published release is never rewritten; add a new version")
    reference = _reference()
    rows = [_row(pick, reference[pick.reference_id]) for pick in spec["picks"]]
    rows.append(_ipcc_firewood_per_kg(reference[IPCC_FIREWOOD_PER_KG]))
    folder.mkdir(parents=True)
    with open(folder / "factors.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    meta = {"version": version, "published": date.today().isoformat(), "gwp_basis": spec["gwp_basis"], "description": spec["description"],
            "supersedes": SUPERSEDES.get(version), "factors_sha256": sha256_of(folder / "factors.csv")}
    (folder / "release.json").write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def build_gwp_table() -> Path:
    rows = []
    for ref in _reference().values():
        if not ref["activity"].startswith("gwp:"):
            continue
        gas = ref["activity"].removeprefix("gwp:")
        rows.append({"gwp_id": ref["factor_id"], "gas": gas, "basis": ref["gwp_basis"],
                     "gwp100": ref["co2e_kg_per_unit"], "kind": "ghg" if gas in GREENHOUSE_GASES else "refrigerant",
                     **{k: ref[k] for k in ("source_authority", "source_document", "source_year", "license", "notes")}})
    rows.sort(key=lambda r: (r["basis"], r["gas"]))
    path = HERE / "gwp.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, GWP_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


if __name__ == "__main__":
    for name in sys.argv[1:] or ["--help"]:
        if name == "gwp":
            print(build_gwp_table())
        elif name in RELEASES:
            print(build_release(name))
        else:
            raise SystemExit(f"usage: build_releases.py gwp|{'|'.join(RELEASES)} ...")
