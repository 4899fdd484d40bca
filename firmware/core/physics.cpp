#include "physics.h"

#include <cmath>

namespace carbon {

double cross_section_m2(Shape shape, double diameter_m, double width_m, double depth_m) {
    if (shape == Shape::circle) return kPi * (diameter_m / 2) * (diameter_m / 2);
    return width_m * depth_m;
}

double gas_density_kg_m3(double molar_mass_kg_mol, double temp_c, double pressure_pa) {
    return pressure_pa * molar_mass_kg_mol / (kGasConstant * (temp_c + kKelvinOffset));
}

double co2_mass_flow_kg_s(double co2_ppm, double velocity_m_s, double area_m2, double temp_c, double pressure_pa) {
    return co2_ppm * 1e-6 * velocity_m_s * area_m2 * gas_density_kg_m3(kMolarMassCo2, temp_c, pressure_pa);
}

double pitot_velocity_m_s(double dp_pa, double temp_c, double pressure_pa, double flue_gas_molar_mass,
                          double probe_coefficient) {
    // A small negative dp is sensor noise around zero flow, not reverse flow through a chimney.
    const double dp = dp_pa > 0 ? dp_pa : 0.0;
    return probe_coefficient * std::sqrt(2 * dp / gas_density_kg_m3(flue_gas_molar_mass, temp_c, pressure_pa));
}

}  // namespace carbon
