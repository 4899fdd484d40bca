"""Per-vertical carbon KPIs and the composite sustainability score, as pure polars functions.

Why these definitions:

* **PUE** (The Green Grid, ISO/IEC 30134-2) = total facility energy / IT equipment energy. The
  meter reports the facility's grid electricity (``energy_kwh``) and a PUE per reading, so the IT
  energy of a reading is ``IT_i = kWh_i / pue_i`` and the site-month PUE is
  ``sum(kWh_i) / sum(IT_i)`` = facility kWh / IT kWh, the IT-energy-weighted mean
  ``sum(pue_i * IT_i) / sum(IT_i)``: an average of ratios would let a quiet hour count as much as
  a busy one. (``sum(pue_i * kWh_i) / sum(kWh_i)`` would be right only if the meter's kWh were IT
  energy; it is facility energy, so that form overstates PUE.) Only readings carrying both a kWh
  and a positive PUE (joined on ``source_id``, ``event_id``) enter PUE.
* **WUE** (The Green Grid, ISO/IEC 30134-9) = site water in litres / IT kWh. IT kWh is known only
  for readings that carry a kWh and a positive PUE, so the water is taken from those same readings
  (the rack reading reports ``energy_kwh``, ``pue`` and ``water_litres`` together) and the IT kWh
  only from the ones among them that report water: water without an IT energy (a mains meter, a
  reading without PUE) would overstate WUE, IT energy without its water would understate it.
  Silver keeps water in m**3, so litres = m**3 x 1000.
* **Carbon per GPU-hour**, location- and market-based separately (GHG Protocol Scope 2 Guidance
  reports both; summing both rows of a reading would double count it): scope 2 CO2e of the
  readings that report GPU-hours / GPU-hours of the readings that have that scope 2 CO2e. A rack
  reading carries its kWh and its GPU-hours; a GPU-hour whose kWh was rejected, or a kWh with no
  GPU-hours (an office meter), would otherwise sit on one side only.
* **Fleet intensity** (GLEC Framework / ISO 14083 style): scope-1 (fuel burnt) grams CO2e per
  vehicle km, and per international mile (1 mi = 1.609344 km exactly), over the readings that
  report a distance and have scope-1 CO2e: a fuel-metered truck's reading (its fuel priced) and a
  distance-only vehicle's (its km priced by vehicle class) both count, each with its own km; a
  depot generator's diesel (no km) or an unpriced vehicle's km (no CO2e) would count on one side
  only. An idling reading (0 km, fuel burnt) does count: idling is part of the fuel per km driven.
* **Product carbon intensity**: all-scope, location-based kg CO2e per kg of product, and **SaaS
  intensity**: location-based mg CO2e per API request, are site-month totals on both sides, not
  matched per reading: the boiler, the grid meter and the trucks do not count tea, and the gateway
  does not meter carbon, so the intensity attributes all of a site's emissions of the month to
  its output of the same site and month (a site-month with only one side has no row).

Every KPI row carries ``numerator`` and ``denominator`` in the KPI's own units with
``value == numerator / denominator``, so an auditor can recompute it and, more importantly, so
aggregates over sites or months are recomputed from summed parts rather than averaged ratios.
Rows exist only where both sides exist and the denominator is > 0: nothing is invented.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from carbon_lake.rules import LOCATION, MARKET
from carbon_lake.score_weights import DEFAULT_WEIGHTS, TERMS, check_weights, parse_weights  # noqa: F401 (re-exported)

Frame = pl.DataFrame | pl.LazyFrame

# International mile (1959 agreement): exactly 1.609344 km; pint's "mile" is the same constant.
KM_PER_MILE = 1.609344
LITRES_PER_M3 = 1000.0

READING = ["source_id", "event_id"]
KEYS = ["org", "site", "vertical", "month"]
KPI_SCHEMA = {
    "org": pl.String, "site": pl.String, "month": pl.Date, "vertical": pl.String, "kpi": pl.String,
    "value": pl.Float64, "unit": pl.String, "numerator": pl.Float64, "denominator": pl.Float64,
}

# Score term -> the KPI it is computed from; lower is better for all four.
TERM_KPIS = dict(zip(TERMS, ["pue", "g_co2e_per_mile", "kg_co2e_per_production_unit", "mg_co2e_per_api_request"],
                     strict=True))
TERM_UNITS = dict(zip(TERMS, ["facility kWh/IT kWh", "g CO2e/mile", "kg CO2e/kg product", "mg CO2e/request"],
                      strict=True))
# A best-to-worst spread within this fraction of the values is float rounding, not a spread.
NO_SPREAD_RTOL = 1e-9



def _with_month(frame: Frame) -> Frame:
    """Add ``month``: the first day of the UTC calendar month of ``ts``."""
    return frame.with_columns(month=pl.col("ts").dt.convert_time_zone("UTC").dt.month_start().dt.date())


def _sides(frame: Frame, numerator: str, denominator: str) -> Frame:
    """Columns ``numerator`` and ``denominator`` summed per site-month, as ``numerator`` and ``denominator``."""
    return _with_month(frame).group_by(KEYS).agg(
        numerator=pl.col(numerator).sum(), denominator=pl.col(denominator).sum())


def _per_reading(frame: Frame, condition: pl.Expr, value: pl.Expr, name: str) -> Frame:
    """``value`` summed per reading, so that a reading with several rows (a market line split in two)
    is one row to join against its other side; a reading's rows share org, site, vertical and ts."""
    return (
        frame.filter(condition)
        .group_by(*READING, "org", "site", "vertical", "ts")
        .agg(value.cast(pl.Float64).sum().alias(name))
    )


def _silver(frame: Frame, vertical: str, activity: str, name: str, scale: float = 1.0) -> Frame:
    """One vertical's silver quantity of one activity per reading, times ``scale``."""
    condition = (pl.col("vertical") == vertical) & (pl.col("activity") == activity)
    return _per_reading(frame, condition, pl.col("quantity") * scale, name)


def _co2e(emissions: Frame, vertical: str, condition: pl.Expr, name: str, scale: float = 1.0) -> Frame:
    """One vertical's ``co2e_kg`` times ``scale`` per reading, over the emission rows matching ``condition``."""
    return _per_reading(emissions, (pl.col("vertical") == vertical) & condition, pl.col("co2e_kg") * scale, name)


def _matched(numerator: Frame, denominator: Frame) -> Frame:
    """Both sides summed per site-month over the readings present on both sides (joined on ``READING``)."""
    joined = numerator.join(denominator.select(*READING, "denominator"), on=READING, how="inner")
    return _sides(joined, "numerator", "denominator")


def _site_month(numerator: Frame, denominator: Frame) -> Frame:
    """Both sides summed per site-month over all their readings, for the site-months having both."""
    sums = [_with_month(side).group_by(KEYS).agg(pl.col(name).sum())
            for side, name in ((numerator, "numerator"), (denominator, "denominator"))]
    return sums[0].join(sums[1], on=KEYS, how="inner")


def _kpi(parts: Frame, kpi: str, unit: str, denominator_scale: float = 1.0) -> Frame:
    """KPI rows from summed parts: denominators > 0 only, value = numerator / denominator."""
    return (
        parts.with_columns(pl.col("denominator") * denominator_scale)
        .filter(pl.col("denominator") > 0)
        .with_columns(kpi=pl.lit(kpi), unit=pl.lit(unit), value=pl.col("numerator") / pl.col("denominator"))
        .select([pl.col(name).cast(dtype) for name, dtype in KPI_SCHEMA.items()])
    )


def _data_center_readings(silver: Frame) -> Frame:
    """Per reading carrying a kWh and a positive PUE: facility kWh, IT kWh and water litres (null if none)."""
    kwh = _silver(silver, "ai_data_center", "electricity", "facility_kwh")
    pue = silver.filter((pl.col("vertical") == "ai_data_center") & (pl.col("activity") == "pue")
                        & (pl.col("quantity") > 0)).select(*READING, pue=pl.col("quantity"))
    water = _silver(silver, "ai_data_center", "water", "water_litres", LITRES_PER_M3).select(*READING, "water_litres")
    return (
        kwh.join(pue, on=READING, how="inner")
        .join(water, on=READING, how="left")
        .with_columns(it_kwh=pl.col("facility_kwh") / pl.col("pue"))
    )


def vertical_kpis(silver: Frame, emissions: Frame) -> Frame:
    """One row per (org, site, month, kpi) with value, unit, numerator and denominator (see module doc)."""
    dc = _data_center_readings(silver)
    gpu_hours = _silver(silver, "ai_data_center", "gpu", "denominator")
    scope2 = pl.col("scope") == 2
    fleet_g = _co2e(emissions, "logistics", pl.col("scope") == 1, "numerator", scale=1000.0)
    fleet = _matched(fleet_g, _silver(silver, "logistics", "distance", "denominator"))
    parts = [
        _kpi(_sides(dc, "facility_kwh", "it_kwh"), "pue", "facility kWh/IT kWh"),
        _kpi(_sides(dc.filter(pl.col("water_litres").is_not_null()), "water_litres", "it_kwh"), "wue", "L/kWh"),
        _kpi(_matched(_co2e(emissions, "ai_data_center", scope2 & LOCATION, "numerator"), gpu_hours),
             "kg_co2e_per_gpu_hour_location", "kg CO2e/GPU-hour"),
        _kpi(_matched(_co2e(emissions, "ai_data_center", scope2 & MARKET, "numerator"), gpu_hours),
             "kg_co2e_per_gpu_hour_market", "kg CO2e/GPU-hour"),
        _kpi(fleet, "g_co2e_per_km", "g CO2e/km"),
        _kpi(fleet, "g_co2e_per_mile", "g CO2e/mile", denominator_scale=1 / KM_PER_MILE),
        _kpi(_site_month(_co2e(emissions, "manufacturing", LOCATION, "numerator"),
                         _silver(silver, "manufacturing", "production", "denominator")),
             "kg_co2e_per_production_unit", "kg CO2e/kg product"),
        _kpi(_site_month(_co2e(emissions, "saas", LOCATION, "numerator", scale=1e6),
                         _silver(silver, "saas", "api_requests", "denominator")),
             "mg_co2e_per_api_request", "mg CO2e/request"),
    ]
    return pl.concat(parts).sort("org", "site", "month", "kpi")


def term_references(kpis: pl.DataFrame) -> pl.DataFrame:
    """Per score term: best (lowest) and worst (highest) value over every site-month row of its KPI.

    The peer set is the whole ``vertical_kpis`` table (every org, site and month the warehouse
    holds), so a term says where the enterprise's month sits between the best and the worst site-month
    observed, not against a published benchmark (none is cited in the reference data)."""
    terms = pl.DataFrame({"term": list(TERM_KPIS), "kpi": list(TERM_KPIS.values())})
    peers = (
        kpis.filter(pl.col("kpi").is_in(list(TERM_KPIS.values())) & pl.col("value").is_finite())
        .group_by("kpi")
        .agg(best=pl.col("value").min(), worst=pl.col("value").max(), peers=pl.len().cast(pl.Int64))
    )
    return terms.join(peers, on="kpi", how="left").select("term", "kpi", "best", "worst", "peers")


def normalized(value: pl.Expr, best: pl.Expr, worst: pl.Expr) -> pl.Expr:
    """0-100, 100 at the best (lowest) value and 0 at the worst, clipped; null without a spread.

    Dimensionless and bounded, so weights compare like with like and a PUE of exactly 1 is just
    the best possible value rather than a division by zero."""
    spread = worst - best
    has_spread = spread > NO_SPREAD_RTOL * pl.max_horizontal(best.abs(), worst.abs())
    return pl.when(has_spread).then((100 * (worst - value) / spread).clip(0.0, 100.0))


def sustainability_score(kpis: pl.DataFrame, weights: Mapping[str, float]) -> pl.DataFrame:
    """The enterprise's monthly composite score (all orgs together), 0 (worst) to 100 (best).

    Each term is one KPI of the month, recomputed from the month's summed numerators and
    denominators over all sites (PUE_norm = facility kWh / IT kWh, g CO2e / mile, kg CO2e / kg
    product, mg CO2e / request), placed on 0-100 by ``normalized`` against the best and worst
    site-month of that KPI (``term_references``): the raw KPIs are in different units (and the
    design document's 1/(PUE - 1) is unbounded near PUE 1), so summing them would let the largest
    number, not the weights, decide the score. score = sum(w_i x term_i) / sum(w_i) over the
    terms present and weighing > 0; ``weights_used`` lists those shares.

    A term is left out, with a line in ``notes``, when its KPI has no row that month or its peer
    set has no spread (one site-month, or all equal): a rank against nothing would be invented.
    A month with no term left has a null score.
    Columns: month, score, ``<term>_term`` (0-100), ``<term>_value`` (the month's KPI),
    ``<term>_best`` and ``<term>_worst`` (the references), weights_used, notes.
    """
    checked = check_weights(weights)
    terms = term_references(kpis).with_columns(
        order=pl.int_range(pl.len()),
        weight=pl.col("term").replace_strict(checked, default=0.0, return_dtype=pl.Float64),
        unit=pl.col("term").replace_strict(TERM_UNITS),
    )
    totals = (
        kpis.filter(pl.col("kpi").is_in(list(TERM_KPIS.values())))
        .group_by("month", "kpi")
        .agg(value=pl.col("numerator").sum() / pl.col("denominator").sum())
    )
    used_weight = pl.col("weight").filter("used").sum().over("month")
    long = (
        totals.select("month").unique()
        .join(terms, how="cross")
        .join(totals, on=["month", "kpi"], how="left")
        .with_columns(score_term=normalized(pl.col("value"), pl.col("best"), pl.col("worst")))
        .with_columns(
            used=pl.col("score_term").is_not_null() & (pl.col("weight") > 0),
            note=pl.when(pl.col("value").is_null()).then(pl.format("{}: no data", "term"))
            .when(pl.col("score_term").is_null())
            .then(pl.format("{}: peer set has no spread (best = worst = {} {} over {} site-month{}), left out",
                            "term", pl.col("best").round_sig_figs(6), "unit", "peers",
                            pl.when(pl.col("peers") == 1).then(pl.lit("")).otherwise(pl.lit("s")))),
        )
        .with_columns(share=pl.when("used").then(pl.col("weight") / used_weight))
    )
    summary = long.sort("month", "order").group_by("month", maintain_order=True).agg(
        score=pl.when(pl.col("used").any()).then((pl.col("score_term") * pl.col("share")).filter("used").sum()),
        weights_used=pl.format("{}={}", "term", pl.col("share").round(6)).filter("used").str.join(","),
        notes=pl.col("note").drop_nulls().str.join("; "),
    )
    wide = summary
    for column, suffix in (("score_term", "term"), ("value", "value"), ("best", "best"), ("worst", "worst")):
        pivoted = long.pivot(on="term", index="month", values=column, on_columns=list(TERM_KPIS))
        wide = wide.join(pivoted.rename({term: f"{term}_{suffix}" for term in TERM_KPIS}), on="month", how="left")
    return (
        wide.select(
            "month", "score",
            *[f"{term}_{suffix}" for suffix in ("term", "value", "best", "worst") for term in TERM_KPIS],
            pl.when(pl.col("weights_used") != "").then("weights_used").alias("weights_used"),
            pl.when(pl.col("notes") != "").then("notes").alias("notes"),
        )
        .sort("month")
    )
