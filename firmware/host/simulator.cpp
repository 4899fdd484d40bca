#include "simulator.h"

#include <algorithm>
#include <cmath>

#include "checksum.h"
#include "physics.h"

namespace carbon {
namespace {

double clamp(double value, double low, double high) { return std::min(high, std::max(low, value)); }

void put_sensirion_word(std::vector<std::uint8_t>& frame, std::int16_t value) {
    const std::uint8_t word[2] = {static_cast<std::uint8_t>(static_cast<std::uint16_t>(value) >> 8),
                                  static_cast<std::uint8_t>(value & 0xFF)};
    frame.insert(frame.end(), word, word + 2);
    frame.push_back(crc8_sensirion(word, 2));
}

}  // namespace

void Simulator::step(double hour, double dt_s) {
    std::normal_distribution<double> noise(0.0, 1.0);
    // Tea-factory boilers: fired in the day and the evening, banked overnight (as the fleet simulator).
    const double day = std::exp(-std::pow((hour - 13.0) / 5.0, 2));
    const double load = 0.15 + 0.85 * day;
    co2_ppm_ = clamp(60000 + 55000 * load + 2500 * noise(rng_), 55000, 125000);
    temp_c_ = clamp(150 + 65 * load + 3 * noise(rng_), 140, 230);
    velocity_m_s_ = clamp(2 + 2.8 * load + 0.15 * noise(rng_), 1.5, 5.5);
    watts_ = clamp(120 * (0.5 + day) + 10 * noise(rng_), 0, 3000);
    pulses_ += watts_ * dt_s / 3.6e6 / config_.kwh_per_pulse;  // kWh this step, in pulses
}

void Simulator::maybe_corrupt(std::vector<std::uint8_t>& frame) {
    if (corrupt_every_ && ++frames_ % corrupt_every_ == 0) frame[frame.size() / 2] ^= 0x10;  // a flipped bit on the wire
}

std::vector<std::uint8_t> Simulator::co2_frame() {
    // The module sees the gas dried by the sampling line: more CO2 per volume than the wet flue gas.
    const double dry_ppm = co2_ppm_ / (1 - config_.flue_moisture_fraction);
    const auto counts = static_cast<std::uint32_t>(std::lround(dry_ppm / config_.co2_ppm_per_count));
    std::vector<std::uint8_t> frame = {config_.co2_modbus_address, 0x03,
                                       static_cast<std::uint8_t>(2 * config_.co2_registers)};
    for (int i = 2 * config_.co2_registers - 1; i >= 0; --i) frame.push_back(static_cast<std::uint8_t>(counts >> (8 * i)));
    const std::uint16_t crc = crc16_modbus(frame.data(), frame.size());
    frame.push_back(static_cast<std::uint8_t>(crc & 0xFF));
    frame.push_back(static_cast<std::uint8_t>(crc >> 8));
    maybe_corrupt(frame);
    return frame;
}

std::uint32_t Simulator::thermocouple_word() {
    const auto raw = static_cast<std::int32_t>(std::lround(temp_c_ / 0.25)) & 0x3FFF;
    const std::uint32_t internal = static_cast<std::uint32_t>(std::lround(25.0 / 0.0625)) & 0xFFF;  // the cold junction
    return static_cast<std::uint32_t>(raw) << 18 | internal << 4;
}

std::vector<std::uint8_t> Simulator::pressure_frame() {
    // The Pitot tube's dp for this velocity: the inverse of pitot_velocity_m_s.
    const double rho = gas_density_kg_m3(config_.flue_gas_molar_mass, temp_c_, config_.pressure_pa);
    const double dp = rho / 2 * std::pow(velocity_m_s_ / config_.pitot_coefficient, 2);
    constexpr int kScale = 60;  // SDP810-500Pa: 60 counts per Pa
    std::vector<std::uint8_t> frame;
    put_sensirion_word(frame, static_cast<std::int16_t>(std::lround(dp * kScale)));
    put_sensirion_word(frame, static_cast<std::int16_t>(std::lround(30.0 * 200)));  // the sensor's own temperature
    put_sensirion_word(frame, kScale);
    maybe_corrupt(frame);
    return frame;
}

std::vector<std::uint8_t> Simulator::power_frame() {
    std::vector<std::uint8_t> frame(23, 0);
    frame[0] = 0x55;
    const auto put24 = [&frame](std::size_t at, std::uint32_t value) {
        for (int i = 0; i < 3; ++i) frame[at + i] = static_cast<std::uint8_t>(value >> (8 * i));
    };
    put24(1, static_cast<std::uint32_t>(watts_ / 230 * 30000));  // raw current RMS (uncalibrated counts)
    put24(4, 230 * 20000);                                         // raw voltage RMS
    put24(10, static_cast<std::uint32_t>(watts_ * 100) & 0xFFFFFF);
    put24(13, static_cast<std::uint32_t>(static_cast<std::uint64_t>(pulses_) & 0xFFFFFF));
    frame[22] = bl0942_checksum(frame.data(), 22);
    maybe_corrupt(frame);
    return frame;
}

}  // namespace carbon
