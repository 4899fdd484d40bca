"""Per-vertical carbon KPIs and the composite sustainability score, as pure polars functions.

Why these definitions:

* **PUE** (The Green Grid, ISO/IEC 30134-2) = total facility energy / IT equipment energy. The
  meter reports the facility's grid electricity (``energy_kwh``) and a PUE per reading, so the IT
  energy of a reading is ``IT_i = kWh_i / pue_i`` and the site-month PUE is
  ``sum(kWh_i) / sum(IT_i)`` = facility kWh / IT kWh, the IT-energy-weighted mean
  ``sum(pue_i * IT_i) / sum(IT_i)``: an average of ratios would let a quiet hour count as much as
  a busy one. (``sum(pue_i * kWh_i) / sum(kWh_i)`` would be right only if the meter's kWh were IT
  energy; it is facility energy, so that form overstates PUE.) Only readings carrying both a kWh
  and a positive PUE (joined on ``source_id``, ``event_id``) enter PUE and WUE.
* **WUE** (The Green Grid, ISO/IEC 30134-9) = site water in litres / IT kWh. Silver keeps water in
  m**3, so litres = m**3 x 1000.
* **Carbon per GPU-hour**, location- and market-based separately (GHG Protocol Scope 2 Guidance
  reports both; summing both rows of a reading would double count it).
* **Fleet intensity** (GLEC Framework / ISO 14083 style): scope-1 (fuel burnt) grams CO2e per
  vehicle km, and per international mile (1 mi = 1.609344 km exactly).
* **Product carbon intensity**: all-scope, location-based kg CO2e per kg of product.
* **SaaS intensity**: location-based mg CO2e per API request.

Every KPI row carries ``numerator`` and ``denominator`` in the KPI's own units with
``value == numerator / denominator``, so an auditor can recompute it and, more importantly, so
aggregates over sites or months are recomputed from summed parts rather than averaged ratios.
Rows exist only where both sides exist and the denominator is > 0: nothing is invented.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from carbon_lake.score_weights import DEFAULT_WEIGHTS, TERMS, check_weights, parse_weights  # noqa: F401 (re-exported)

# International mile (1959 agreement): exactly 1.609344 km; pint's "mile" is the same constant.
KM_PER_MILE = 1.609344
LITRES_PER_M3 = 1000.0

KEYS = ["org", "site", "vertical", "month"]
KPI_SCHEMA = {
    "org": pl.String, "site": pl.String, "month": pl.Date, "vertical": pl.String, "kpi": pl.String,
    "value": pl.Float64, "unit": pl.String, "numerator": pl.Float64, "denominator": pl.Float64,
}

# Score term -> the KPI it is computed from.
TERM_KPIS = dict(zip(TERMS, ["pue", "g_co2e_per_mile", "kg_co2e_per_production_unit", "mg_co2e_per_api_request"],
                     strict=True))

LOCATION = pl.col("method").is_null() | (pl.col("method") == "location")
MARKET = pl.col("method").is_null() | (pl.col("method") == "market")


def _with_month(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``month``: the first day of the UTC calendar month of ``ts``."""
    return frame.with_columns(month=pl.col("ts").dt.convert_time_zone("UTC").dt.month_start().dt.date())


def _summed(frame: pl.DataFrame, condition: pl.Expr, value: pl.Expr, name: str) -> pl.DataFrame:
    """``value`` summed per (org, site, vertical, month) over the rows matching ``condition``."""
    return (
        _with_month(frame.filter(condition))
        .group_by(KEYS)
        .agg(value.cast(pl.Float64).sum().alias(name))
    )


def _quantity(silver: pl.DataFrame, vertical: str, activity: str, scale: float = 1.0) -> pl.DataFrame:
    """Summed silver quantity of one activity in one vertical, times ``scale``."""
    condition = (pl.col("vertical") == vertical) & (pl.col("activity") == activity)
    return _summed(silver, condition, pl.col("quantity") * scale, "quantity")


def _co2e(emissions: pl.DataFrame, vertical: str, condition: pl.Expr, scale: float = 1.0) -> pl.DataFrame:
    """Summed ``co2e_kg`` times ``scale`` of one vertical's emission rows matching ``condition``."""
    return _summed(emissions, (pl.col("vertical") == vertical) & condition, pl.col("co2e_kg") * scale, "quantity")


def _kpi(numerator: pl.DataFrame, denominator: pl.DataFrame, kpi: str, unit: str) -> pl.DataFrame:
    """The one ratio helper: join the summed sides, keep denominators > 0, value = numerator / denominator."""
    return (
        numerator.rename({"quantity": "numerator"})
        .join(denominator.rename({"quantity": "denominator"}), on=KEYS, how="inner")
        .filter(pl.col("denominator") > 0)
        .with_columns(
            kpi=pl.lit(kpi), unit=pl.lit(unit), value=pl.col("numerator") / pl.col("denominator"),
        )
        .select([pl.col(name).cast(dtype) for name, dtype in KPI_SCHEMA.items()])
    )


def _data_center_energy(silver: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Facility kWh and IT kWh (= kWh_i / pue_i) per site-month, from readings carrying both."""
    reading = ["source_id", "event_id"]
    site = pl.col("vertical") == "ai_data_center"
    kwh = silver.filter(site & (pl.col("activity") == "electricity"))
    pue = silver.filter(site & (pl.col("activity") == "pue") & (pl.col("quantity") > 0))
    joined = kwh.select(*reading, "org", "site", "vertical", "ts", "quantity").join(
        pue.select(*reading, pue=pl.col("quantity")), on=reading, how="inner"
    )
    facility = _summed(joined, pl.lit(True), pl.col("quantity"), "quantity")
    it = _summed(joined, pl.lit(True), pl.col("quantity") / pl.col("pue"), "quantity")
    return facility, it


def vertical_kpis(silver: pl.DataFrame, emissions: pl.DataFrame) -> pl.DataFrame:
    """One row per (org, site, month, kpi) with value, unit, numerator and denominator (see module doc)."""
    facility_kwh, it_kwh = _data_center_energy(silver)
    distance = _quantity(silver, "logistics", "distance")
    fleet_g = _co2e(emissions, "logistics", pl.col("scope") == 1, scale=1000.0)
    gpu_hours = _quantity(silver, "ai_data_center", "gpu")
    scope2 = pl.col("scope") == 2
    parts = [
        _kpi(facility_kwh, it_kwh, "pue", "facility kWh/IT kWh"),
        _kpi(_quantity(silver, "ai_data_center", "water", LITRES_PER_M3), it_kwh, "wue", "L/kWh"),
        _kpi(_co2e(emissions, "ai_data_center", scope2 & LOCATION), gpu_hours,
             "kg_co2e_per_gpu_hour_location", "kg CO2e/GPU-hour"),
        _kpi(_co2e(emissions, "ai_data_center", scope2 & MARKET), gpu_hours,
             "kg_co2e_per_gpu_hour_market", "kg CO2e/GPU-hour"),
        _kpi(fleet_g, distance, "g_co2e_per_km", "g CO2e/km"),
        _kpi(fleet_g, distance.with_columns(pl.col("quantity") / KM_PER_MILE), "g_co2e_per_mile", "g CO2e/mile"),
        _kpi(_co2e(emissions, "manufacturing", LOCATION), _quantity(silver, "manufacturing", "production"),
             "kg_co2e_per_production_unit", "kg CO2e/kg product"),
        _kpi(_co2e(emissions, "saas", LOCATION, scale=1e6), _quantity(silver, "saas", "api_requests"),
             "mg_co2e_per_api_request", "mg CO2e/request"),
    ]
    return pl.concat(parts).sort("org", "site", "month", "kpi")


def sustainability_score(kpis: pl.DataFrame, weights: Mapping[str, float]) -> pl.DataFrame:
    """The enterprise's monthly composite score (all orgs together).

    ``S = w1/(PUE_norm - 1) + w2/Carbon_mile + w3 * Production/(Energy x Factor_grid)
    + w4 * Requests/(Carbon_req x 1e6)``, each term written as ``1 / divisor``:

    * data_center: PUE_norm = sum(facility kWh) / sum(IT kWh) of the month's ``pue`` rows
      (dimensionless); divisor = PUE_norm - 1. Undefined (left out) when PUE_norm <= 1.
    * logistics: Carbon_mile = sum(g CO2e) / sum(miles) of ``g_co2e_per_mile``; term in mile/g CO2e.
    * manufacturing: the seed's Production/(Energy x Factor_grid), whose denominator is the
      electricity CO2e, generalized to all scopes: sum(kg product) / sum(location kg CO2e) of
      ``kg_co2e_per_production_unit``; term in kg product/kg CO2e.
    * saas: Carbon_req = sum(mg CO2e) / sum(requests) (mg CO2e/request); term = 1e6 / Carbon_req,
      requests per kg CO2e, the density the term is named for. Read literally, the seed's
      Requests/(Carbon_req x 1e6) is requests^2 per kg: it grows with the square of traffic and
      would let any busy API outweigh the other three terms, so it is not used as written.

    A term is left out of a month when its vertical has no rows or its divisor is <= 0 (a
    zero-carbon month would divide by zero); the weights of the terms that remain (and weigh > 0)
    are renormalized to sum to 1 and listed in ``weights_used``; ``notes`` says what was left out
    and why. A month with no usable term gets a null score.
    Columns: month, score, data_center_term, logistics_term, manufacturing_term, saas_term,
    weights_used, notes.
    """
    checked = check_weights(weights)
    terms = pl.DataFrame({
        "term": list(TERM_KPIS), "kpi": list(TERM_KPIS.values()), "order": range(len(TERM_KPIS)),
        "weight": [checked.get(term, 0.0) for term in TERM_KPIS],
    })
    totals = (
        kpis.filter(pl.col("kpi").is_in(list(TERM_KPIS.values())))
        .group_by("month", "kpi")
        .agg(pl.col("numerator").sum(), pl.col("denominator").sum())
    )
    ratio = pl.col("numerator") / pl.col("denominator")
    divisor = (
        pl.when(pl.col("term") == "data_center").then(ratio - 1)
        .when(pl.col("term") == "saas").then(ratio / 1e6)
        .otherwise(ratio)
    )
    used_weight = pl.col("weight").filter("used").sum().over("month")
    long = (
        totals.select("month").unique()
        .join(terms, how="cross")
        .join(totals, on=["month", "kpi"], how="left")
        .with_columns(divisor=divisor)
        .with_columns(value=pl.when(pl.col("divisor") > 0).then(1 / pl.col("divisor")))
        .with_columns(
            used=pl.col("value").is_not_null() & (pl.col("weight") > 0),
            note=pl.when(pl.col("numerator").is_null()).then(pl.format("{}: no data", "term"))
            .when(pl.col("value").is_null() & (pl.col("term") == "data_center"))
            .then(pl.format("data_center: PUE_norm {} <= 1, term undefined", ratio.round(6)))
            .when(pl.col("value").is_null()).then(pl.format("{}: divisor {} <= 0, term undefined", "term", "divisor")),
        )
        .with_columns(share=pl.when("used").then(pl.col("weight") / used_weight))
    )
    summary = long.sort("month", "order").group_by("month", maintain_order=True).agg(
        score=pl.when(pl.col("used").any()).then((pl.col("value") * pl.col("share")).filter("used").sum()),
        weights_used=pl.format("{}={}", "term", pl.col("share").round(6)).filter("used").str.join(","),
        notes=pl.col("note").drop_nulls().str.join("; "),
    )
    wide = long.pivot(on="term", index="month", values="value", on_columns=list(TERM_KPIS))
    return (
        summary.join(wide, on="month", how="left")
        .select(
            "month", "score", *[pl.col(term).alias(f"{term}_term") for term in TERM_KPIS],
            pl.when(pl.col("weights_used") != "").then("weights_used").alias("weights_used"),
            pl.when(pl.col("notes") != "").then("notes").alias("notes"),
        )
        .sort("month")
    )
