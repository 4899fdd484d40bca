// The chimney physics against the shared vectors that tests/test_firmware.py also checks the
// pipeline against: the node and the pipeline agree with the formula, so with each other.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "physics.h"

using namespace carbon;

namespace {

// One CSV line with double-quoted fields (the vectors' case names hold commas).
std::vector<std::string> csv_fields(const std::string& line) {
    std::vector<std::string> fields(1);
    bool quoted = false;
    for (const char ch : line) {
        if (ch == '"') quoted = !quoted;
        else if (ch == ',' && !quoted) fields.emplace_back();
        else fields.back() += ch;
    }
    return fields;
}

double number(const std::string& text) { return text.empty() ? 0.0 : std::stod(text); }

}  // namespace

TEST_CASE("CO2 mass flow matches the shared test vectors to 1e-9 relative") {
    std::ifstream file(CARBON_VECTORS);
    REQUIRE_MESSAGE(file.good(), "cannot read ", CARBON_VECTORS);
    std::string line;
    std::getline(file, line);
    REQUIRE(line.rfind("case,co2_ppm,velocity_m_s,shape,diameter_m,width_m,depth_m,temp_c,pressure_pa,expected_kg_s", 0) == 0);
    int cases = 0;
    while (std::getline(file, line)) {
        if (line.empty()) continue;
        const auto f = csv_fields(line);
        REQUIRE(f.size() == 10);
        const Shape shape = f[3] == "circle" ? Shape::circle : Shape::rectangle;
        const double area = cross_section_m2(shape, number(f[4]), number(f[5]), number(f[6]));
        const double got = co2_mass_flow_kg_s(number(f[1]), number(f[2]), area, number(f[7]), number(f[8]));
        const double expected = std::stod(f[9]);
        CHECK_MESSAGE(std::fabs(got - expected) <= 1e-9 * std::fabs(expected), f[0], ": got ", got, ", expected ", expected);
        ++cases;
    }
    CHECK(cases >= 8);
}

TEST_CASE("Pitot velocity inverts the dynamic pressure and ignores negative noise") {
    const double rho = gas_density_kg_m3(0.02897, 180, 101325);
    const double v = 4.2, cp = 0.84;
    const double dp = rho / 2 * (v / cp) * (v / cp);
    CHECK(pitot_velocity_m_s(dp, 180, 101325, 0.02897, cp) == doctest::Approx(v).epsilon(1e-12));
    CHECK(pitot_velocity_m_s(-0.3, 180, 101325, 0.02897, cp) == 0.0);
    // Dry air at 20 degC and 1 atm: 1.204 kg/m3 (ideal gas).
    CHECK(gas_density_kg_m3(0.02897, 20, 101325) == doctest::Approx(1.2043).epsilon(1e-4));
}
