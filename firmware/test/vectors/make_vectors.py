"""Writes chimney_mass_flow.csv: the shared test vectors of the chimney physics.

The expected kg/s are computed here in 50-digit decimal arithmetic, apart from both the
firmware (C++ doubles) and the pipeline (Polars), so that each is checked against the formula
itself rather than against the other. The constants are the ones both sides use (CODATA 2018 R,
IUPAC molar mass of CO2). Run it only to add a case: ``python3 make_vectors.py``.
"""

import csv
from decimal import Decimal, getcontext
from pathlib import Path

getcontext().prec = 50
PI = Decimal("3.14159265358979323846264338327950288419716939937510")
R = Decimal("8.314462618")
M_CO2 = Decimal("0.0440095")
KELVIN = Decimal("273.15")

# case, co2_ppm, velocity_m_s, shape, diameter_m, width_m, depth_m, temp_c, pressure_pa
CASES = [
    ("pure CO2 through 1 m2 at 1 m/s, 0 degC, 1 atm (ideal-gas CO2 density)", "1000000", "1", "rectangle", "", "1", "1", "0", "101325"),
    ("Kangaita boiler, typical daytime reading", "81250", "3.1", "circle", "0.6", "", "", "182.4", "101325"),
    ("Gitugi rectangular flue at full firing", "115000", "5.5", "rectangle", "", "0.6", "0.4", "230", "101325"),
    ("highland factory at about 2000 m (80 kPa)", "60000", "2", "circle", "0.5", "", "", "150", "80000"),
    ("ambient air in a cold chimney", "420", "0.5", "circle", "0.3", "", "", "20", "101325"),
    ("frozen stack, -40 degC", "1000", "1.25", "circle", "1", "", "", "-40", "101325"),
    ("near-still flue", "95000", "0.001", "circle", "0.6", "", "", "175.5", "101325"),
    ("large boiler stack, 20 % CO2, hot", "200000", "8", "circle", "2.5", "", "", "300", "101000"),
]


def area(shape: str, diameter: str, width: str, depth: str) -> Decimal:
    if shape == "circle":
        return PI * (Decimal(diameter) / 2) ** 2
    return Decimal(width) * Decimal(depth)


def kg_s(ppm: str, velocity: str, a: Decimal, temp_c: str, pressure: str) -> Decimal:
    density = Decimal(pressure) * M_CO2 / (R * (Decimal(temp_c) + KELVIN))
    return Decimal(ppm) * Decimal("1e-6") * Decimal(velocity) * a * density


def main() -> None:
    with open(Path(__file__).with_name("chimney_mass_flow.csv"), "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["case", "co2_ppm", "velocity_m_s", "shape", "diameter_m", "width_m", "depth_m", "temp_c",
                         "pressure_pa", "expected_kg_s"])
        for case, ppm, velocity, shape, diameter, width, depth, temp, pressure in CASES:
            expected = kg_s(ppm, velocity, area(shape, diameter, width, depth), temp, pressure)
            writer.writerow([case, ppm, velocity, shape, diameter, width, depth, temp, pressure, f"{expected:.20e}"])


if __name__ == "__main__":
    main()
