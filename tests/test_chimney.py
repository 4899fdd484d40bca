"""Chimney physics with the arithmetic written out: ppm x flow x density, integrated with gaps shown."""

import math
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from carbon_lake.chimney import chimney_flows, integrate_hourly
from carbon_lake.settings import Settings
from carbon_lake.site_data import load_site_data

T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=timezone.utc)
CHIMNEYS = load_site_data(Settings().factors_dir).chimneys  # the newest sealed site data


def silver_rows(source_id: str, seconds: list[int], ppm=81250.0, velocity=3.1, temp_c=182.4, site="kangaita"):
    rows = []
    for i, s in enumerate(seconds):
        for activity, quantity in (("co2", ppm), ("flue_velocity", velocity), ("flue_temp", temp_c)):
            rows.append({"org": "ktda", "site": site, "source_id": source_id, "event_id": str(i),
                         "ts": T0 + timedelta(seconds=s), "activity": activity, "quantity": quantity})
    return pl.DataFrame(rows)


def hand_worked_kg_s(ppm: float, velocity: float, diameter: float, temp_c: float, pressure: float = 101325.0) -> float:
    area = math.pi * (diameter / 2) ** 2                      # m2
    flow = velocity * area                                     # m3/s of flue gas
    density = pressure * 0.0440095 / (8.314462618 * (temp_c + 273.15))  # kg/m3 of CO2 (ideal gas)
    return ppm * 1e-6 * flow * density


def test_mass_flow_matches_the_hand_worked_number():
    # Kangaita's chimney is 0.6 m across: A = pi x 0.3^2 = 0.28274 m2, Q = 3.1 x A = 0.87650 m3/s,
    # rho = 101325 x 0.0440095 / (8.3144626 x 455.55 K) = 1.17732 kg/m3, so
    # 81250 ppm -> 0.08125 x 0.87650 x 1.17732 = 0.0838437 kg CO2/s.
    flows = chimney_flows(silver_rows("ktda-kangaita-boiler-1", [0]), CHIMNEYS)
    assert flows["co2_kg_s"][0] == pytest.approx(0.0838437, rel=1e-5)
    assert flows["co2_kg_s"][0] == pytest.approx(hand_worked_kg_s(81250, 3.1, 0.6, 182.4), rel=1e-12)


def test_rectangular_chimneys_use_width_times_depth():
    flows = chimney_flows(silver_rows("ktda-gitugi-boiler-1", [0], site="gitugi"), CHIMNEYS)
    density = 101325 * 0.0440095 / (8.314462618 * (182.4 + 273.15))
    assert flows["co2_kg_s"][0] == pytest.approx(0.08125 * 3.1 * (0.6 * 0.4) * density, rel=1e-12)


def test_integration_counts_gaps_instead_of_filling_them():
    # Readings every 5 s for a minute, then nothing for 5 minutes, then two more readings.
    seconds = list(range(0, 61, 5)) + [361, 366]
    flows = chimney_flows(silver_rows("ktda-kangaita-boiler-1", seconds), CHIMNEYS)
    [hour] = integrate_hourly(flows, max_gap_s=60).iter_rows(named=True)
    kg_s = hand_worked_kg_s(81250, 3.1, 0.6, 182.4)
    assert hour["measured_s"] == 60 + 5          # 12 intervals of 5 s, then the last 5 s interval
    assert hour["gap_s"] == 301                  # 60 s -> 361 s is a gap, not integrated
    assert hour["co2_kg"] == pytest.approx(kg_s * 65, rel=1e-12)
    assert hour["coverage"] == pytest.approx(65 / 366)


def test_sensors_without_geometry_or_a_metric_are_left_out():
    chimneys = CHIMNEYS
    unknown_site = silver_rows("acme-nowhere-boiler-1", [0, 5], site="nowhere")
    incomplete = silver_rows("ktda-kangaita-boiler-2", [0, 5]).filter(pl.col("activity") != "flue_temp")
    assert chimney_flows(pl.concat([unknown_site, incomplete]), chimneys).is_empty()
