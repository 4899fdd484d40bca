// Chimney physics: the same formula and constants as the pipeline (carbon_lake/chimney.py).
//
// kg/s of CO2 = (ppm x 1e-6) x (velocity x cross-section) x rho_CO2, rho_CO2 = P x M / (R x T).
// Both sides are checked against one file of test vectors (firmware/test/vectors/), so that a
// node's own kg/s and the pipeline's recomputation agree to 1e-9 relative.
#pragma once

namespace carbon {

constexpr double kGasConstant = 8.314462618;     // J/(mol K), CODATA 2018 (exact)
constexpr double kMolarMassCo2 = 0.0440095;      // kg/mol, IUPAC standard atomic weights
constexpr double kKelvinOffset = 273.15;
constexpr double kPi = 3.14159265358979323846;

enum class Shape { circle, rectangle };

// The chimney's inner cross-section at the sensor port, in m^2 (from the site survey, in config).
double cross_section_m2(Shape shape, double diameter_m, double width_m, double depth_m);

// Density of an ideal gas of molar mass `molar_mass` at the flue's temperature and pressure.
double gas_density_kg_m3(double molar_mass_kg_mol, double temp_c, double pressure_pa);

double co2_mass_flow_kg_s(double co2_ppm, double velocity_m_s, double area_m2, double temp_c, double pressure_pa);

// Gas velocity from a Pitot tube's differential pressure: v = Cp x sqrt(2 dp / rho_flue_gas).
// Cp is the probe's coefficient (about 0.84 for an S-type probe, EPA Method 2); rho is the flue
// gas density at the measured temperature, from the flue gas's molar mass (dry air: 0.02897).
double pitot_velocity_m_s(double dp_pa, double temp_c, double pressure_pa, double flue_gas_molar_mass,
                          double probe_coefficient);

}  // namespace carbon
